// Process level: `kharness run` picks the machine as machine-choice.ts says and KHARNESS_MACHINE overrides it; a
// stand-in QEMU (KHARNESS_QEMU) answers --version and exits, so only qemu-argv.txt and the progress are read.
import t from "tap";
import { existsSync, promises as fs } from "node:fs";
import * as path from "node:path";
import { cacheRoot } from "../exec/cache.js";
import { resolveDefaultKernel } from "../kernel/default.js";
import { runCli, tempDir } from "../../test/support/cli-run.js";
import { readHostTsc } from "./host-tsc.js";

const kernel = (await resolveDefaultKernel(cacheRoot()).catch(() => undefined))?.path;
const needKernel = kernel ? false : "default kernel not installed (npm run setup)";
const hostTsc = await readHostTsc();

const QEMU = path.join(tempDir("kh-fakeqemu-"), "qemu-system-x86_64");
await fs.writeFile(QEMU, '#!/bin/sh\nif [ "$1" = --version ]; then echo "QEMU emulator version 7.2.0"; exit 0; fi\nexit 1\n', { mode: 0o755 });

/** `kharness run --kernel <Debian's> --tests net_abi` under TCG with the stand-in QEMU. */
function run(env: Record<string, string>) {
  const out = path.join(tempDir(), "run");
  return runCli(["run", "--kernel", kernel as string, "--accel", "tcg", "--tests", "net_abi", "--out", out], { env: { KHARNESS_QEMU: QEMU, ...env } });
}

t.test("KHARNESS_MACHINE with an unknown machine: exit 2 at validation, naming the choices", { skip: needKernel }, async (t) => {
  const r = await run({ KHARNESS_MACHINE: "q35" });
  t.equal(r.code, 2);
  t.match(r.stderr, /KHARNESS_MACHINE=q35: unknown machine/);
  t.match(r.stderr, /pc or microvm/);
  t.notMatch(r.stderr, /\] (kernel|payload|boot)\b/, "nothing built or booted");
  t.notOk(existsSync(r.outDir), "no run directory");
});

t.test("a kernel kharness did not build boots pc, and the progress says why", { skip: needKernel }, async (t) => {
  const r = await run({});
  t.match(r.stderr, /machine pc: the kernel was not built by kharness \(image\)/);
  const argv = await fs.readFile(path.join(r.outDir, "qemu-argv.txt"), "utf8");
  t.match(argv, /^\S+ -M pc /);
  t.notMatch(argv, /tsc_early_khz/);
});

t.test(
  "KHARNESS_MACHINE=microvm forces microvm with the host's TSC rate",
  { skip: needKernel || (hostTsc ? false : "this host's TSC rate is unknown") },
  async (t) => {
    const r = await run({ KHARNESS_MACHINE: "microvm" });
    t.match(r.stderr, /machine microvm: KHARNESS_MACHINE=microvm; tsc_early_khz=\d+/);
    const argv = await fs.readFile(path.join(r.outDir, "qemu-argv.txt"), "utf8");
    t.match(argv, /^\S+ -M microvm /);
    t.match(argv, new RegExp(`tsc_early_khz=${hostTsc?.khz}`));
    t.match(argv, /-device virtio-serial-device,id=vser0/);
    const replay = await fs.readFile(path.join(r.outDir, "replay.sh"), "utf8");
    t.match(replay, /-M microvm .*tsc_early_khz=/, "replay.sh boots the same machine");
  },
);
