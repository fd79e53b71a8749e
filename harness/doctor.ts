// `kharness doctor`: checks each thing a run needs and prints the fix for what is missing.

import { promises as fs } from "node:fs";
import { InfraError } from "./errors.js";
import type { Exec } from "./exec/exec.js";
import { resolveDefaultKernel } from "./kernel/default.js";
import { resolveAccel } from "./qemu/accel.js";
import { X86_64 } from "./qemu/profiles.js";

/** Oldest QEMU we rely on (microvm with PCIe, virtio-serial over sockets). */
const MIN_QEMU: [number, number] = [6, 0];

/** A fix when `qemu-system-x86_64 --version`'s first line is older than MIN_QEMU, else undefined. */
export function checkQemuVersion(versionLine: string): string | undefined {
  const m = /version (\d+)\.(\d+)/.exec(versionLine);
  if (!m) return `cannot read the QEMU version from "${versionLine}"; need ${MIN_QEMU.join(".")} or newer`;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  if (maj > MIN_QEMU[0] || (maj === MIN_QEMU[0] && min >= MIN_QEMU[1])) return undefined;
  return `QEMU ${maj}.${min} is too old; need ${MIN_QEMU.join(".")} or newer: apt-get install qemu-system-x86 from Debian 12 or later`;
}

/** How to get a usable QEMU, for both doctor and run. */
export const QEMU_INSTALL_FIX = "apt-get install qemu-system-x86 (Debian 12 has 7.2; or `npm run setup`), or point KHARNESS_QEMU at a qemu-system-x86_64 of version 6.0 or newer";

/**
 * Checks that the QEMU binary runs and is new enough, before any slow step of a run. Throws an
 * InfraError (exit 3) whose fix says how to install it.
 */
export async function checkQemu(exec: Exec, qemuBinary: string): Promise<string> {
  const line = await firstLine(exec, [qemuBinary, "--version"]);
  if (!line) throw new InfraError(`QEMU not found or not runnable: ${qemuBinary} --version failed`, { fix: QEMU_INSTALL_FIX, untestable: true });
  const tooOld = checkQemuVersion(line);
  if (tooOld) throw new InfraError(`${qemuBinary}: ${tooOld.split(":")[0]}`, { fix: QEMU_INSTALL_FIX, untestable: true });
  return line;
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

async function firstLine(exec: Exec, argv: string[]): Promise<string | undefined> {
  try {
    const r = await exec.run(argv);
    return r.exitCode === 0 ? (r.stdout.split("\n")[0] ?? "").trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Runs every check, prints one line each; returns 0 when all pass, 3 otherwise. */
export async function runDoctor(exec: Exec, cacheRoot: string, out: NodeJS.WritableStream, opts: { qemuBinary?: string } = {}): Promise<number> {
  const checks: Check[] = [];
  const qemu = opts.qemuBinary ?? X86_64.qemuBinary;
  const qemuVer = await firstLine(exec, [qemu, "--version"]);
  if (!qemuVer) checks.push({ name: "qemu", ok: false, detail: `${qemu} not found`, fix: QEMU_INSTALL_FIX });
  else {
    const tooOld = checkQemuVersion(qemuVer);
    checks.push({ name: "qemu", ok: !tooOld, detail: `${qemuVer} (${qemu})`, fix: tooOld ? `${tooOld.split(":")[0]}: ${QEMU_INSTALL_FIX}` : undefined });
  }
  if (qemuVer && !checks[0]?.fix) {
    try {
      const a = await resolveAccel("auto", { exec, cacheDir: cacheRoot, qemuBinary: qemu });
      checks.push({ name: "accel", ok: true, detail: `${a.accel}: ${a.reason}` });
    } catch (e) {
      checks.push({ name: "accel", ok: false, detail: (e as Error).message, fix: "see --accel in `kharness run --help`" });
    }
  }
  const gcc = await firstLine(exec, ["gcc", "--version"]);
  checks.push({ name: "gcc", ok: Boolean(gcc), detail: gcc ?? "not found", fix: gcc ? undefined : "apt-get install gcc" });
  const libcA = await fs.access("/usr/lib/x86_64-linux-gnu/libc.a").then(() => true, () => false);
  checks.push({ name: "static libc", ok: libcA, detail: libcA ? "/usr/lib/x86_64-linux-gnu/libc.a" : "libc.a not found", fix: libcA ? undefined : "apt-get install libc6-dev" });
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
