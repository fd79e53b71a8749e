// `kharness doctor`: checks each thing a run needs and prints the fix for what is missing.

import { promises as fs } from "node:fs";
import { firstLineOf as firstLine, type Exec } from "./exec/exec.js";
import { resolveDefaultKernel } from "./kernel/default.js";
import { checkQemuVersion, QEMU_INSTALL_FIX, qemuVersionLine, resolveAccel } from "./qemu/accel.js";
import { X86_64 } from "./qemu/profiles.js";

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/** Runs every check, prints one line each; returns 0 when all pass, 3 otherwise. */
export async function runDoctor(exec: Exec, cacheRoot: string, out: NodeJS.WritableStream, opts: { qemuBinary?: string } = {}): Promise<number> {
  const checks: Check[] = [];
  // doctor checks what a run needs, so it picks the architecture as the pipeline does.
  const profile = X86_64;
  const qemu = opts.qemuBinary ?? profile.qemuBinary;
  const qemuVer = await qemuVersionLine(exec, qemu);
  if (!qemuVer) checks.push({ name: "qemu", ok: false, detail: `${qemu} not found`, fix: QEMU_INSTALL_FIX });
  else {
    const tooOld = checkQemuVersion(qemuVer);
    checks.push({ name: "qemu", ok: !tooOld, detail: `${qemuVer} (${qemu})`, fix: tooOld ? `${tooOld.split(":")[0]}: ${QEMU_INSTALL_FIX}` : undefined });
  }
  if (qemuVer && !checks[0]?.fix) {
    try {
      const a = await resolveAccel("auto", { exec, cacheDir: cacheRoot, qemuBinary: qemu, profile });
      checks.push({ name: "accel", ok: true, detail: `${a.accel}: ${a.reason}` });
    } catch (e) {
      checks.push({ name: "accel", ok: false, detail: (e as Error).message, fix: "see --accel in `kharness run --help`" });
    }
  }
  const gcc = await firstLine(exec, ["gcc", "--version"]);
  checks.push({ name: "gcc", ok: Boolean(gcc), detail: gcc ?? "not found", fix: gcc ? undefined : "apt-get install gcc" });
  const libc = profile.toolchain.staticLibc;
  const libcA = await fs.access(libc).then(
    () => true,
    () => false,
  );
  checks.push({ name: "static libc", ok: libcA, detail: libcA ? libc : `${libc} not found`, fix: libcA ? undefined : "apt-get install libc6-dev" });
  const make = await firstLine(exec, ["make", "--version"]);
  checks.push({ name: "make", ok: Boolean(make), detail: make ?? "not found", fix: make ? undefined : "apt-get install make" });
  const xz = await firstLine(exec, ["xz", "--version"]);
  checks.push({ name: "xz", ok: Boolean(xz), detail: xz ?? "not found", fix: xz ? undefined : "apt-get install xz-utils (kernel modules are .ko.xz)" });
  try {
    const k = await resolveDefaultKernel(cacheRoot);
    checks.push({ name: "default kernel", ok: true, detail: `${k.release} (${k.path})` });
  } catch (e) {
    checks.push({ name: "default kernel", ok: false, detail: (e as Error).message, fix: "npm run setup" });
  }
  for (const c of checks) {
    out.write(`${c.ok ? "ok  " : "FAIL"} ${c.name.padEnd(15)} ${c.detail}\n`);
    if (!c.ok && c.fix) out.write(`     fix: ${c.fix}\n`);
  }
  return checks.every((c) => c.ok) ? 0 : 3;
}
