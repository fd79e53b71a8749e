// Pure: which QEMU machine a boot uses: microvm (virtio-mmio, about a quarter faster to the first test under TCG) for
// kernels kharness built itself when the host's TSC rate is known, pc for everything else (vm/README.md).

import { UsageError } from "../errors.js";
import type { KernelImage } from "../types.js";
import type { HostTsc } from "./host-tsc.js";
import { defaultMachine, findMachine, type ArchProfile, type MachineProfile } from "./profiles.js";

/** The machines KHARNESS_MACHINE may name. */
export const MACHINE_OVERRIDES = ["pc", "microvm"] as const;
export type MachineOverride = (typeof MACHINE_OVERRIDES)[number];

/** The environment variable that forces a machine (a guest that misbehaves on microvm goes back to pc). */
export const MACHINE_ENV = "KHARNESS_MACHINE";

/** KHARNESS_MACHINE's value checked: undefined when unset or empty; a UsageError naming the choices otherwise. */
export function parseMachineOverride(value: string | undefined): MachineOverride | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if ((MACHINE_OVERRIDES as readonly string[]).includes(v)) return v as MachineOverride;
  throw new UsageError(`${MACHINE_ENV}=${v}: unknown machine`, {
    fix: `set ${MACHINE_ENV} to ${MACHINE_OVERRIDES.join(" or ")}, or unset it to let kharness choose`,
  });
}

/**
 * Options microvm needs built into the kernel: the virtio-mmio transport, the virtio console (our results and
 * control ports), and ACPI: QEMU (7.2) describes microvm's virtio-mmio devices in ACPI tables, and adds them to
 * the kernel command line (for VIRTIO_MMIO_CMDLINE_DEVICES) only when ACPI is off.
 */
const MICROVM_NEEDS: readonly (readonly string[])[] = [["VIRTIO_MMIO"], ["VIRTIO_CONSOLE"], ["ACPI"]];

/** Why a kernel .config cannot boot on microvm (undefined when it can): the first missing built-in option. */
export function microvmConfigProblem(config: string | undefined): string | undefined {
  if (config === undefined) return "its .config is unknown";
  const builtIn = (opt: string) => new RegExp(`^CONFIG_${opt}=y$`, "m").test(config);
  for (const anyOf of MICROVM_NEEDS) if (!anyOf.some(builtIn)) return `its .config does not build in ${anyOf.map((o) => `CONFIG_${o}`).join(" or ")}`;
  return undefined;
}

/** What the choice depends on, apart from the host's TSC rate. */
export interface MachineFacts {
  profile: ArchProfile;
  accel: "kvm" | "tcg";
  kernel: Pick<KernelImage, "source">;
  /** The kernel's .config text, when known (tree builds). */
  kernelConfig?: string;
  /** KHARNESS_MACHINE, parsed. */
  override?: MachineOverride;
}

/** The machine for a boot, the host's TSC rate when the machine needs it, and a one-line reason. */
export interface MachineChoice {
  machine: MachineProfile;
  hostTscKhz?: number;
  reason: string;
}

/**
 * Whether the host's TSC rate decides the choice (microvm is wanted): read it only then, so runs that boot pc
 * never read /proc/cpuinfo.
 */
export function wantsHostTsc(f: MachineFacts): boolean {
  if (f.override) return f.override === "microvm";
  return f.accel === "tcg" && f.kernel.source === "tree" && microvmConfigProblem(f.kernelConfig) === undefined;
}

/**
 * Chooses the machine. Without KHARNESS_MACHINE: microvm only under TCG (under KVM pc boots fast anyway and
 * microvm is untested there), only for a kernel kharness built from a tree whose .config builds in what microvm
 * needs (Debian's kernels have virtio-mmio as a module), and only with the host's TSC rate known (without
 * `tsc_early_khz` most microvm boots hang at TSC calibration); pc otherwise. KHARNESS_MACHINE=microvm still
 * needs the rate and a kernel that can use virtio-mmio, and says why not with a UsageError.
 */
export function chooseMachine(f: MachineFacts, hostTsc: HostTsc | undefined): MachineChoice {
  const pc = defaultMachine(f.profile);
  const microvm = findMachine(f.profile, "microvm");
  if (f.override === "pc") return { machine: pc, reason: `machine ${pc.name}: ${MACHINE_ENV}=pc` };
  if (f.override === "microvm") {
    if (!microvm) throw new UsageError(`${MACHINE_ENV}=microvm: ${f.profile.arch} has no microvm machine`, { fix: `unset ${MACHINE_ENV}` });
    // Only a tree build's .config is checked: another kernel may have virtio-mmio built in or as a module (then
    // the payload loads virtio_mmio), and the user who forces microvm on it has said so.
    const problem = f.kernel.source === "tree" ? microvmConfigProblem(f.kernelConfig) : undefined;
    if (problem)
      throw new UsageError(`${MACHINE_ENV}=microvm: this kernel cannot boot on microvm: ${problem}`, {
        fix: `unset ${MACHINE_ENV}, or add the option to a config fragment`,
      });
    if (!hostTsc)
      throw new UsageError(`${MACHINE_ENV}=microvm: the host's TSC rate is unknown, and microvm guests need it (tsc_early_khz)`, {
        fix: `unset ${MACHINE_ENV}`,
      });
    return { machine: microvm, hostTscKhz: hostTsc.khz, reason: `machine microvm: ${MACHINE_ENV}=microvm; tsc_early_khz=${hostTsc.khz} (${hostTsc.source})` };
  }
  if (!microvm) return { machine: pc, reason: `machine ${pc.name}: ${f.profile.arch} has no microvm machine` };
  if (f.accel !== "tcg") return { machine: pc, reason: `machine ${pc.name}: under KVM (microvm is chosen only under TCG, where it was measured)` };
  if (f.kernel.source !== "tree") return { machine: pc, reason: `machine ${pc.name}: the kernel was not built by kharness (${f.kernel.source})` };
  const problem = microvmConfigProblem(f.kernelConfig);
  if (problem) return { machine: pc, reason: `machine ${pc.name}: the kernel cannot use microvm: ${problem}` };
  if (!hostTsc) return { machine: pc, reason: `machine ${pc.name}: the host's TSC rate is unknown (microvm guests need it)` };
  return {
    machine: microvm,
    hostTscKhz: hostTsc.khz,
    reason: `machine microvm: a kernel built by kharness with virtio-mmio, under TCG; tsc_early_khz=${hostTsc.khz} (${hostTsc.source}); ${MACHINE_ENV}=pc boots pc`,
  };
}
