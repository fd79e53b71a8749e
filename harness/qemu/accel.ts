// Chooses KVM or TCG: KVM only when /dev/kvm opens read-write and a probe guest actually runs under it
// (nested hosts can open /dev/kvm yet kill every guest); the verdict is cached per host kernel and QEMU.

import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { InfraError } from "../errors.js";
import type { Exec } from "../exec/exec.js";
import { sha256, writeFileAtomic } from "../exec/cache.js";
import { cachedVersionLine } from "../exec/tool-version.js";
import type { Accel } from "../types.js";
import type { ArchProfile } from "./profiles.js";

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
export const QEMU_INSTALL_FIX =
  "apt-get install qemu-system-x86 (Debian 12 has 7.2; or `npm run setup`), or point KHARNESS_QEMU at a qemu-system-x86_64 of version 6.0 or newer";

/**
 * The first line of `qemu --version`, or undefined when it does not run or fails. With a cache root, a binary that
 * has not changed on disk since it last answered is not started again (a run's preflight costs no process).
 */
export async function qemuVersionLine(exec: Exec, qemuBinary: string, cacheRoot?: string): Promise<string | undefined> {
  if (cacheRoot !== undefined) return cachedVersionLine(exec, qemuBinary, cacheRoot);
  try {
    const r = await exec.run([qemuBinary, "--version"]);
    return r.exitCode === 0 ? (r.stdout.split("\n")[0] ?? "").trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The qemu stage's preflight: the QEMU binary runs and is new enough, checked before any slow step of a run.
 * Throws an InfraError (exit 3) whose fix says how to install it; returns the version line.
 */
export async function checkQemu(exec: Exec, qemuBinary: string, cacheRoot?: string): Promise<string> {
  const line = await qemuVersionLine(exec, qemuBinary, cacheRoot);
  if (!line) throw new InfraError(`QEMU not found or not runnable: ${qemuBinary} --version failed`, { fix: QEMU_INSTALL_FIX, untestable: true });
  const tooOld = checkQemuVersion(line);
  if (tooOld) throw new InfraError(`${qemuBinary}: ${tooOld.split(":")[0]}`, { fix: QEMU_INSTALL_FIX, untestable: true });
  return line;
}

export interface AccelChoice {
  accel: "kvm" | "tcg";
  /** Why this accelerator: shown by `kharness doctor` and in progress output. */
  reason: string;
}

export interface AccelDeps {
  exec: Exec;
  /** The cache root; verdicts go to <cacheDir>/accel/. */
  cacheDir: string;
  /** The guest architecture: its QEMU binary and the probe guest's machine. */
  profile: ArchProfile;
  /** Replaces the profile's QEMU binary (tests). */
  qemuBinary?: string;
  /** The KVM device node (tests point it elsewhere). */
  kvmDevice?: string;
  /** The host kernel release the verdict is keyed by (default os.release()). */
  hostRelease?: string;
}

/** A cached probe verdict. */
export interface AccelVerdict {
  usable: boolean;
  reason: string;
  hostRelease: string;
  qemuVersion: string;
  probeMs: number;
  probedAt: string;
}

/** Exit code of the probe firmware: isa-debug-exit turns the written 0x31 into (0x31 << 1) | 1. */
export const PROBE_SUCCESS_EXIT = 99;
const PROBE_TIMEOUT_MS = 10_000;

/*
 * The probe firmware's bytes, assembled from vm/accel-probe.S (its header says how): it walks from the
 * reset vector through protected mode into long mode, the transitions every kernel boot makes, and then
 * writes to isa-debug-exit. Only the code and the reset jump are stored; the rest of the 64 KiB is hlt.
 */
const PROBE_CODE =
  "fa2e660f0116a8000f20c06683c8010f22c066ea1a000f00080066b810008ed88ec08ed0bf0010000031c0b9000c0000f3abc7050010000003200000" +
  "c7050020000003300000c7050030000083000000b8001000000f22d80f20e083c8200f22e0b9800000c00f320d000100000f300f20c00d00000080" +
  "0f22c0ea81000f001800b031e6f4f4ebfd0000000000000000ffff0000009acf00ffff00000092cf00ffff0000009aaf001f0088000f00";
const PROBE_RESET = "ea000000f0";

/** The 64 KiB probe firmware image (pure). */
export function accelProbeFirmware(): Buffer {
  const img = Buffer.alloc(0x10000, 0xf4);
  Buffer.from(PROBE_CODE, "hex").copy(img, 0);
  Buffer.from(PROBE_RESET, "hex").copy(img, 0xfff0);
  return img;
}

/** The probe's QEMU argv: the machine's firmware replaced by ours, no devices but the exit port. */
export function accelProbeArgv(qemuBinary: string, firmwarePath: string): string[] {
  return [
    qemuBinary,
    "-M",
    "pc",
    "-accel",
    "kvm",
    "-cpu",
    "host",
    "-m",
    "16",
    "-nodefaults",
    "-display",
    "none",
    "-no-reboot", // a triple fault in the probe ends QEMU (exit 0) instead of looping
    "-bios",
    firmwarePath,
    "-device",
    "isa-debug-exit,iobase=0xf4,iosize=0x04",
  ];
}

/** Reads a probe run: success only on the firmware's exit code; otherwise the most telling line of QEMU's output. */
export function judgeProbe(exitCode: number | undefined, timedOut: boolean, tail: readonly string[]): { usable: boolean; reason: string } {
  if (exitCode === PROBE_SUCCESS_EXIT && !timedOut) return { usable: true, reason: "a probe guest ran under KVM" };
  const telling =
    tail.find((l) => /KVM internal error/i.test(l)) ??
    tail.find((l) => /kvm/i.test(l) && /(fail|error|not|denied|permission)/i.test(l)) ??
    tail.find((l) => l.trim() !== "");
  if (timedOut) return { usable: false, reason: `the KVM probe guest did not finish within ${PROBE_TIMEOUT_MS / 1000} s${telling ? `: ${telling}` : ""}` };
  const what = exitCode === 0 ? "the probe guest reset (triple fault) under KVM" : `the KVM probe failed (QEMU exit ${exitCode ?? "?"})`;
  return { usable: false, reason: telling ? `${what}: ${telling.trim()}` : what };
}

/** Cache file of a verdict for one host kernel and QEMU version. */
export function accelCachePath(cacheDir: string, hostRelease: string, qemuVersion: string): string {
  return path.join(cacheDir, "accel", `kvm-${sha256(hostRelease, qemuVersion).slice(0, 16)}.json`);
}

async function openKvm(dev: string): Promise<string | undefined> {
  try {
    const fh = await fs.open(dev, "r+");
    await fh.close();
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    if (code === "ENOENT") return `${dev} does not exist (no KVM module, or not exposed to this container)`;
    if (code === "EACCES" || code === "EPERM") return `${dev} is not writable by this user (add yourself to the kvm group)`;
    return `${dev} cannot be opened: ${code}`;
  }
}

async function readVerdict(file: string): Promise<AccelVerdict | undefined> {
  try {
    const v = JSON.parse(await fs.readFile(file, "utf8")) as AccelVerdict;
    return typeof v.usable === "boolean" && typeof v.reason === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Runs the probe guest under KVM and returns its verdict (uncached). */
export async function probeKvm(exec: Exec, qemuBinary: string): Promise<{ usable: boolean; reason: string; probeMs: number }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "kharness-kvm-probe-"));
  try {
    const fw = path.join(dir, "probe.bin");
    await fs.writeFile(fw, accelProbeFirmware());
    const t0 = Date.now();
    const res = await exec.run(accelProbeArgv(qemuBinary, fw), { timeoutMs: PROBE_TIMEOUT_MS, tailLines: 40 });
    return { ...judgeProbe(res.exitCode, res.timedOut, res.tail), probeMs: Date.now() - t0 };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function verdictLocation(deps: AccelDeps, qemu: string): Promise<{ file: string; hostRelease: string; qemuVersion: string }> {
  const known = await cachedVersionLine(deps.exec, qemu, deps.cacheDir);
  if (known)
    return { file: accelCachePath(deps.cacheDir, deps.hostRelease ?? os.release(), known), hostRelease: deps.hostRelease ?? os.release(), qemuVersion: known };
  // Asked again only to say why it failed.
  const ver = await deps.exec.run([qemu, "--version"], { timeoutMs: 10_000 });
  const qemuVersion = ver.stdout.split("\n")[0]?.trim() ?? "";
  if (ver.exitCode !== 0 || !qemuVersion)
    throw new InfraError(`cannot run \`${qemu} --version\` (exit ${ver.exitCode ?? "?"})`, {
      tail: ver.tail,
      fix: "install QEMU: apt-get install qemu-system-x86",
    });
  const hostRelease = deps.hostRelease ?? os.release();
  return { file: accelCachePath(deps.cacheDir, hostRelease, qemuVersion), hostRelease, qemuVersion };
}

/**
 * Records that KVM failed a real boot on this host (e.g. "KVM internal error" after the probe passed), so
 * later `--accel auto` runs choose TCG without trying again.
 */
export async function markKvmUnusable(deps: AccelDeps, reason: string): Promise<void> {
  const { file, hostRelease, qemuVersion } = await verdictLocation(deps, deps.qemuBinary ?? deps.profile.qemuBinary);
  const verdict: AccelVerdict = { usable: false, reason, hostRelease, qemuVersion, probeMs: 0, probedAt: new Date().toISOString() };
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, `${JSON.stringify(verdict, null, 2)}\n`);
}

/**
 * Resolves --accel: tcg as asked; kvm only if usable (else an InfraError saying why, within seconds);
 * auto = kvm when usable, tcg otherwise.
 */
export async function resolveAccel(requested: Accel, deps: AccelDeps): Promise<AccelChoice> {
  if (requested === "tcg") return { accel: "tcg", reason: "--accel tcg" };
  const profile = deps.profile;
  const qemu = deps.qemuBinary ?? profile.qemuBinary;
  const dev = deps.kvmDevice ?? "/dev/kvm";
  const unusable = (why: string): AccelChoice => {
    if (requested === "kvm")
      throw new InfraError(`--accel kvm: KVM is unusable here: ${why}`, {
        fix: "use --accel tcg (or auto), or run on a host where KVM works (bare metal, or a VM with nested virtualization enabled)",
      });
    return { accel: "tcg", reason: `KVM unusable: ${why}` };
  };

  // Cheap and never cached: permissions and modules change between runs.
  const openErr = await openKvm(dev);
  if (openErr) return unusable(openErr);

  const { file, hostRelease, qemuVersion } = await verdictLocation(deps, qemu);

  let verdict = await readVerdict(file);
  const cached = verdict !== undefined;
  if (!verdict) {
    const probe = await probeKvm(deps.exec, qemu);
    verdict = { ...probe, hostRelease, qemuVersion, probedAt: new Date().toISOString() };
    await fs.mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, `${JSON.stringify(verdict, null, 2)}\n`);
  }
  const note = cached ? ` (cached verdict from ${verdict.probedAt}; delete ${file} to probe again)` : ` (probe took ${verdict.probeMs} ms)`;
  if (!verdict.usable) return unusable(verdict.reason + note);
  return { accel: "kvm", reason: verdict.reason + note };
}
