// The machine for a run's boot: machine-choice.ts's decision over what this host and kernel say, reading the
// kernel's .config, KHARNESS_MACHINE and the host's TSC rate only when the decision can depend on them.

import { promises as fs } from "node:fs";
import type { KernelImage } from "../types.js";
import { readHostTsc } from "./host-tsc.js";
import { chooseMachine, MACHINE_ENV, parseMachineOverride, wantsHostTsc, type MachineChoice, type MachineFacts } from "./machine-choice.js";
import type { ArchProfile } from "./profiles.js";

export { MACHINE_ENV, parseMachineOverride, type MachineChoice } from "./machine-choice.js";

/**
 * Chooses the machine for booting `kernel` under `accel` (see chooseMachine). A bad KHARNESS_MACHINE, or
 * KHARNESS_MACHINE=microvm where it cannot work, throws a UsageError.
 */
export async function chooseBootMachine(
  profile: ArchProfile,
  kernel: Pick<KernelImage, "source" | "configPath">,
  accel: "kvm" | "tcg",
  env: NodeJS.ProcessEnv = process.env,
): Promise<MachineChoice> {
  const override = parseMachineOverride(env[MACHINE_ENV]);
  const facts: MachineFacts = { profile, accel, kernel, ...(override ? { override } : {}) };
  // Only a tree build's .config is read, and only when microvm is in question.
  if (kernel.source === "tree" && kernel.configPath && (override === "microvm" || (!override && accel === "tcg")))
    facts.kernelConfig = await fs.readFile(kernel.configPath, "utf8").catch(() => undefined);
  return chooseMachine(facts, wantsHostTsc(facts) ? await readHostTsc() : undefined);
}
