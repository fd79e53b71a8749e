// Test support for VM-level tests: builds a small initramfs (our init + one test program) and finds test kernels.
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Exec } from "../../harness/exec/exec.js";
import { createExec, runChecked } from "../../harness/exec/exec.js";
import { cacheRoot, exists } from "../../harness/exec/cache.js";
import { withParentDirs, writeCpio, type CpioEntry } from "../../harness/payload/cpio.js";
import { ensureUnpackedSource } from "../../harness/kernel/source-tree.js";
import { REPO_ROOT } from "../../harness/repo-root.js";
import type { GuestProgram, KernelImage, Payload } from "../../harness/types.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** One run of guest-prog.c (beside this file) in the manifest. */
export interface TestProgram {
  name: string;
  /** The program's behaviour: ok, skip, fail, segv, hang, spew, panic. */
  mode: string;
  timeoutSec?: number;
  cwd?: string;
  /** Guest path to run instead of the test program (e.g. a missing one). */
  guestPath?: string;
}

/** Builds init and the test program and writes an initramfs running them in order. */
export async function buildTestPayload(
  exec: Exec,
  dir: string,
  programs: TestProgram[],
  modules: { hostPath: string; guestPath: string }[] = [],
): Promise<Payload> {
  await runChecked(exec, ["make", "-s", "-C", path.join(REPO_ROOT, "vm"), `OUT=${path.join(dir, "vm")}`]);
  const prog = path.join(dir, "guest-prog");
  await runChecked(exec, ["gcc", "-static", "-O2", "-o", prog, path.join(HERE, "guest-prog.c")]);
  const guestPrograms: GuestProgram[] = programs.map((p) => ({
    name: p.name,
    hostPath: prog,
    guestPath: p.guestPath ?? "/kharness/bin/guest-prog",
    timeoutSec: p.timeoutSec ?? 30,
    args: [p.mode],
    cwd: p.cwd,
  }));
  const manifest = guestPrograms.map((p) => [p.name, p.guestPath, String(p.timeoutSec), p.cwd ?? "-", ...p.args].join("\t") + "\n").join("");
  const entries: CpioEntry[] = [
    { type: "file", path: "init", mode: 0o755, data: await fs.readFile(path.join(dir, "vm", "init")) },
    { type: "file", path: "kharness/manifest", data: Buffer.from(manifest) },
    { type: "file", path: "kharness/modules", data: Buffer.from(modules.map((m) => `${m.guestPath}\n`).join("")) },
    { type: "file", path: "kharness/bin/guest-prog", mode: 0o755, data: await fs.readFile(prog) },
  ];
  for (const m of modules) entries.push({ type: "file", path: m.guestPath, data: await fs.readFile(m.hostPath) });
  const initramfsPath = path.join(dir, "initramfs.cpio");
  await fs.writeFile(initramfsPath, Buffer.concat(writeCpio(withParentDirs(entries))));
  return { initramfsPath, programs: guestPrograms, modules: modules.map((m) => m.guestPath) };
}

/**
 * A Debian cloud kernel recorded in the cache by setup (default.json = 6.12, debian-6.1.json = 6.1), or
 * undefined when setup has not recorded it (or its image is gone): the VM tests then skip, saying so.
 * Only the cache's records count, so every machine runs the same kernels.
 */
export async function findTestKernel(record: "default" | "debian-6.1"): Promise<KernelImage | undefined> {
  let rec: { vmlinuz: string; release: string; modulesDir: string };
  try {
    rec = JSON.parse(await fs.readFile(path.join(cacheRoot(), "kernels", `${record}.json`), "utf8")) as typeof rec;
  } catch {
    return undefined;
  }
  return (await exists(rec.vmlinuz)) ? { path: rec.vmlinuz, release: rec.release, modulesDir: rec.modulesDir, source: "default" } : undefined;
}

/** Debian's linux-source-6.12 tarball (`npm run setup -- --tests` installs it); KHARNESS_LINUX_TARBALL names another. */
export const LINUX_TARBALL = process.env.KHARNESS_LINUX_TARBALL ?? "/usr/src/linux-source-6.12.tar.xz";

/**
 * The linux-source-6.12 tree the tree-level VM tests build (unpacked once into the cache, shared by every test
 * file); or, when the tarball is not installed, undefined after planning no test with the reason, so the file
 * reports a skip saying what to install rather than passing.
 */
export async function linuxSourceTree(t: { plan(n: number, comment?: string): void }): Promise<string | undefined> {
  if (!(await exists(LINUX_TARBALL))) {
    t.plan(0, `no ${LINUX_TARBALL} (npm run setup -- --tests installs linux-source-6.12)`);
    return undefined;
  }
  return ensureUnpackedSource(createExec(), LINUX_TARBALL, cacheRoot());
}
