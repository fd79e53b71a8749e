// Payload, --kselftest TARGET...: build the kernel tree's own tools/testing/selftests/TARGET statically against the
// (patched) tree's uapi headers, cached by kernel build key, and describe it for the initramfs.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { InfraError, UsageError } from "../errors.js";
import { ccacheAvailable, type Exec } from "../exec/exec.js";
import { ensureCacheEntry, exists, sha256 } from "../exec/cache.js";
import {
  BUILD_RECIPE_VERSION,
  BuildLog,
  buildEnv,
  defaultJobs,
  kernelMakeArgv,
  prepareKernelSource,
  runMake,
  targetCc,
  type MakeSetup,
  type PreparedSource,
} from "../kernel/tree-build.js";
import type { GuestFiles, GuestProgram, KernelImage, ProgressSink } from "../types.js";
import type { ArchProfile } from "../qemu/profiles.js";
import { elfKind } from "./elf.js";

/** Re-exported for the tests that check what the kselftest build produced. */
export { elfKind };

/** What the kselftest build needs from its caller. */
export interface KselftestDeps {
  exec: Exec;
  cacheRoot: string;
  /** kselftest-build.log goes here. */
  runDir: string;
  signal?: AbortSignal;
  onProgress?: ProgressSink;
  /** make -j; default: every available CPU. */
  jobs?: number;
  /** The architecture the programs are built for. */
  profile: ArchProfile;
  /** --rootfs: the guest has a shell, so the target's scripts (TEST_PROGS) run too, chrooted in the image. */
  rootfs?: boolean;
}

/** The kselftest runner's default per-program timeout (tools/testing/selftests/kselftest/runner.sh). */
export const KSELFTEST_DEFAULT_TIMEOUT_SEC = 45;

/** `timeout=N` from a target's settings file; the kselftest default when absent or unreadable. */
export function parseSettingsTimeout(text: string | undefined): number {
  const m = text ? /^\s*timeout\s*=\s*(\d+)\s*$/m.exec(text) : null;
  const n = m?.[1] ? Number(m[1]) : NaN;
  return Number.isFinite(n) && n > 0 ? n : KSELFTEST_DEFAULT_TIMEOUT_SEC;
}

/** Runnable programs of kselftest-list.txt (`target:program` lines) for one target. */
export function parseKselftestList(text: string, target: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${target}:`))
    .map((l) => l.slice(target.length + 1));
}

/** Where a --rootfs run installs the kselftest install tree inside the root file system (the runner's BASE_DIR). */
export const KSELFTEST_ROOTFS_DIR = "/opt/kselftest";

/** Where the install tree travels in the initramfs; init moves what is under it into the root file system's `/`. */
export const ROOTFS_ADD_DIR = "/kharness/rootfs-add";

/** One entry of an install tree, relative to its top. */
export type TreeEntry =
  | { rel: string; kind: "file"; mode: number }
  | { rel: string; kind: "dir"; mode: number }
  | { rel: string; kind: "symlink"; target: string };

/** Every file, directory (empty ones too) and symbolic link under dir, parents before children, sorted. */
export async function walkTree(dir: string, rel = ""): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const ents = (await fs.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const ent of ents) {
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    const abs = path.join(dir, r);
    if (ent.isSymbolicLink()) out.push({ rel: r, kind: "symlink", target: await fs.readlink(abs) });
    else if (ent.isDirectory()) {
      out.push({ rel: r, kind: "dir", mode: (await fs.stat(abs)).mode & 0o7777 });
      out.push(...(await walkTree(dir, r)));
    } else if (ent.isFile()) out.push({ rel: r, kind: "file", mode: (await fs.stat(abs)).mode & 0o7777 });
  }
  return out;
}

/**
 * How tools/testing/selftests/kselftest/runner.sh (run_one) starts one test of the list, given the test's file
 * (TEST relative to its target's directory) as it lies in the install tree: from the test's own directory, as
 * `./BASENAME` when executable, else through the directory's executable `ksft_runner.sh`, else through the
 * interpreter of its `#!` line. Returns the command (path and arguments, relative to that directory).
 */
export function runnerCommand(test: string, info: { executable: boolean; ksftRunner: boolean; head: string }): { path: string; args: string[] } {
  const base = `./${path.posix.basename(test)}`;
  if (info.executable) return { path: base, args: [] };
  if (info.ksftRunner) return { path: "./ksft_runner.sh", args: [base] };
  if (info.head.startsWith("#!")) {
    // The runner splits the rest of the first line into words (`$interpreter ./$BASENAME_TEST`).
    const words = info.head.slice(2).split("\n")[0]?.trim().split(/\s+/).filter(Boolean) ?? [];
    if (words[0]) return { path: words[0], args: [...words.slice(1), base] };
  }
  // The runner reports such a test `not ok` without running it; init's exec fails the same way (an ERROR naming why).
  return { path: base, args: [] };
}

/**
 * --rootfs: the whole install tree (run_kselftest.sh, kselftest/, kselftest-list.txt, each target's directory with
 * its settings, empty directories and links) travels under ROOTFS_ADD_DIR and init moves it into the overlay at
 * KSELFTEST_ROOTFS_DIR; each test of the list runs as runner.sh would run it (see runnerCommand), with its target's
 * installed `settings` timeout, named kselftest.TARGET.TEST (the runner's "selftests: TARGET: TEST").
 */
export async function installTreeForRootfs(installDir: string, targets: readonly string[]): Promise<GuestFiles> {
  const tree = await walkTree(installDir);
  const guest = (rel: string) => `${ROOTFS_ADD_DIR}${KSELFTEST_ROOTFS_DIR}/${rel}`;
  const files: GuestFiles["files"] = [];
  const dirs: NonNullable<GuestFiles["dirs"]> = [{ guestPath: `${ROOTFS_ADD_DIR}${KSELFTEST_ROOTFS_DIR}`, mode: 0o755 }];
  const symlinks: NonNullable<GuestFiles["symlinks"]> = [];
  for (const e of tree) {
    if (e.kind === "file") files.push({ hostPath: path.join(installDir, e.rel), guestPath: guest(e.rel), mode: e.mode & 0o777 });
    else if (e.kind === "dir") dirs.push({ guestPath: guest(e.rel), mode: e.mode & 0o777 });
    else symlinks.push({ guestPath: guest(e.rel), target: e.target });
  }
  const list = await fs.readFile(path.join(installDir, "kselftest-list.txt"), "utf8").catch(() => "");
  const programs: GuestProgram[] = [];
  for (const t of targets) {
    const timeoutSec = parseSettingsTimeout(await fs.readFile(path.join(installDir, t, "settings"), "utf8").catch(() => undefined));
    for (const test of parseKselftestList(list, t)) {
      const host = path.join(installDir, t, test);
      const st = await fs.stat(host).catch(() => undefined);
      const dirRel = path.posix.dirname(`${t}/${test}`);
      const ksftRunner = await fs
        .stat(path.join(installDir, dirRel, "ksft_runner.sh"))
        .then((s) => s.isFile() && (s.mode & 0o111) !== 0)
        .catch(() => false);
      const head = st?.isFile() ? (await fs.readFile(host).catch(() => Buffer.alloc(0))).subarray(0, 256).toString("latin1") : "";
      const cmd = runnerCommand(test, { executable: !!st?.isFile() && (st.mode & 0o111) !== 0, ksftRunner, head });
      programs.push({
        name: `kselftest.${t}.${test}`,
        hostPath: host,
        guestPath: cmd.path,
        args: cmd.args,
        timeoutSec,
        cwd: `${KSELFTEST_ROOTFS_DIR}/${dirRel}`,
      });
    }
  }
  return { programs, files, dirs, symlinks };
}

async function listFiles(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const ent of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.isDirectory()) out.push(...(await listFiles(dir, r)));
    else if (ent.isFile()) out.push(r);
  }
  return out.sort();
}

const TARGET_NAME = /^[A-Za-z0-9_.+-]+(\/[A-Za-z0-9_.+-]+)*$/;

/**
 * Builds the tree's kselftests for the given targets (cached by the kernel's build key, the targets
 * and the recipe). Programs are named `kselftest.TARGET.PROG`, live under /kharness/kselftest/TARGET/
 * in the guest, run in that directory, with the target's `settings` timeout (default 45 s).
 */
export async function buildKselftests(kernel: KernelImage, targets: string[], deps: KselftestDeps): Promise<GuestFiles> {
  if (kernel.source !== "tree" || !kernel.build)
    throw new UsageError("--kselftest needs a kernel built from a tree: add --tree DIR", { fix: "e.g. kharness run --tree ~/src/linux --kselftest landlock" });
  const bad = targets.filter((t) => !TARGET_NAME.test(t));
  if (bad.length)
    throw new UsageError(`--kselftest ${bad.join(", ")}: not a selftest target name`, {
      fix: "use a directory name under tools/testing/selftests, e.g. --kselftest landlock",
    });
  const { exec, cacheRoot, signal, onProgress } = deps;
  const { record, patches } = kernel.build;
  if (!record || !patches)
    throw new InfraError("--kselftest: the kernel stage handed over no build record for this kernel", { fix: "report this as a kharness bug" });
  // With --rootfs the programs are linked against the image's libc (dynamically, as the kselftest Makefiles link
  // them): another build, so another entry.
  const key = sha256(`kharness-kselftest-recipe-${BUILD_RECIPE_VERSION}`, kernel.build.cacheKey, ...targets, ...(deps.rootfs ? ["linked-for-rootfs"] : []));
  const entry = path.join(cacheRoot, "kselftests", key);
  onProgress?.({ kind: "stage", stage: "build", detail: `kselftests ${targets.join(" ")}` });

  await fs.mkdir(deps.runDir, { recursive: true });
  const { hit } = await ensureCacheEntry(entry, async (tmp) => {
    const workDir = path.join(cacheRoot, "work", `ksft-${key.slice(0, 16)}-${process.pid}-${Date.now().toString(36)}`);
    await fs.mkdir(workDir, { recursive: true });
    const log = new BuildLog(path.join(deps.runDir, "kselftest-build.log"));
    let prepared: PreparedSource | undefined;
    try {
      prepared = await prepareKernelSource(exec, { record, patches }, workDir, { signal, log: (l) => log.write(l) });
      const src = prepared.srcDir;
      const missing: string[] = [];
      for (const t of targets) if (!(await exists(path.join(src, "tools/testing/selftests", t, "Makefile")))) missing.push(t);
      if (missing.length)
        throw new UsageError(`--kselftest ${missing.join(", ")}: no tools/testing/selftests/${missing[0]}/Makefile in ${record.tree.dir}`, {
          fix: "pick a directory that exists under tools/testing/selftests",
        });

      const ccache = await ccacheAvailable(exec);
      const setup: MakeSetup = {
        srcDir: src,
        buildDir: path.join(workDir, "build"),
        cc: ccache ? "ccache gcc" : "gcc",
        jobs: deps.jobs ?? defaultJobs(),
        env: buildEnv(path.join(cacheRoot, "work")),
        profile: deps.profile,
      };
      // uapi headers of this very tree (the series may add new ones): `headers` needs no .config.
      await runMake(exec, kernelMakeArgv(setup, ["headers"], true), { env: setup.env, log, what: "kernel headers (make headers)", signal, onProgress });
      const install = path.join(tmp, "install");
      const argv = [
        "make",
        "-C",
        path.join(src, "tools/testing/selftests"),
        `O=${setup.buildDir}`,
        `ARCH=${setup.profile.linuxArch}`,
        ...(setup.profile.toolchain.crossCompile ? [`CROSS_COMPILE=${setup.profile.toolchain.crossCompile}`] : []),
        `TARGETS=${targets.join(" ")}`,
        `KSFT_INSTALL_PATH=${install}`,
        `CC=${targetCc(setup)}`,
        // The initramfs guest has no libc: every program must be static (libcap.a comes from libcap-dev). A --rootfs
        // guest has Debian's (the host's suite), so the Makefiles' own linking stands.
        ...(deps.rootfs ? [] : ["LDFLAGS=-static"]),
        `-j${setup.jobs}`,
        "install",
      ];
      await runMake(exec, argv, { env: setup.env, log, what: `kselftest build (${targets.join(" ")})`, signal, onProgress });

      const list = await fs.readFile(path.join(install, "kselftest-list.txt"), "utf8").catch(() => "");
      const programs: (Omit<GuestProgram, "hostPath"> & { hostRel: string })[] = [];
      const skipped: string[] = [];
      for (const t of targets) {
        const settings = await fs.readFile(path.join(src, "tools/testing/selftests", t, "settings"), "utf8").catch(() => undefined);
        const timeoutSec = parseSettingsTimeout(settings);
        for (const prog of parseKselftestList(list, t)) {
          const hostRel = `install/${t}/${prog}`;
          const fh = await fs.open(path.join(tmp, hostRel), "r").catch(() => undefined);
          const head = Buffer.alloc(4096);
          if (fh) {
            await fh.read(head, 0, head.length, 0);
            await fh.close();
          }
          const kind = elfKind(head);
          if (kind === "dynamic" && !deps.rootfs)
            throw new InfraError(`kselftest ${t}/${prog} linked dynamically although LDFLAGS=-static was given`, {
              fix: `its Makefile overrides LDFLAGS; the guest has no libc, so it cannot run`,
            });
          if (kind === "not-elf") {
            skipped.push(`${t}/${prog}`);
            continue;
          }
          const dir = `/kharness/kselftest/${t}`;
          programs.push({ name: `kselftest.${t}.${prog}`, hostRel, guestPath: `${dir}/${prog}`, timeoutSec, args: [], cwd: dir });
        }
      }
      if (!programs.length && !skipped.length) throw new InfraError(`kselftest ${targets.join(", ")} built no runnable programs`, { fix: `see ${log.path}` });
      await fs.writeFile(path.join(tmp, "programs.json"), JSON.stringify({ programs, skipped }, null, 2) + "\n");
    } finally {
      await log.close();
      await prepared?.cleanup().catch(() => undefined);
      await fs.rm(workDir, { recursive: true, force: true });
    }
  });

  const saved = JSON.parse(await fs.readFile(path.join(entry, "programs.json"), "utf8")) as {
    programs: (Omit<GuestProgram, "hostPath"> & { hostRel: string })[];
    skipped: string[];
  };
  if (saved.skipped.length && !deps.rootfs)
    onProgress?.({
      kind: "info",
      message: `kselftest scripts need a shell, which the guest does not have (--rootfs debian gives it one); not run: ${saved.skipped.join(", ")}`,
    });
  // With a root file system: the install tree goes into the overlay and every test of the list (scripts too) runs
  // the way the kselftest runner runs it.
  if (deps.rootfs) {
    const installed = await installTreeForRootfs(path.join(entry, "install"), targets);
    if (!installed.programs.length)
      throw new InfraError(`kselftest ${targets.join(", ")}: kselftest-list.txt names no test`, { fix: `see ${path.join(entry, "install")}` });
    onProgress?.({
      kind: "info",
      message: `kselftests ${targets.join(" ")}: ${installed.programs.length} tests, installed into the root file system at ${KSELFTEST_ROOTFS_DIR}${hit ? " (cached build)" : ""}`,
    });
    return installed;
  }
  const programs = saved.programs.map(({ hostRel, ...p }) => ({ ...p, hostPath: path.join(entry, hostRel) }));
  const files: GuestFiles["files"] = [];
  for (const t of targets) {
    const dir = path.join(entry, "install", t);
    for (const rel of await listFiles(dir).catch(() => [] as string[])) {
      const st = await fs.stat(path.join(dir, rel));
      files.push({ hostPath: path.join(dir, rel), guestPath: `/kharness/kselftest/${t}/${rel}`, mode: st.mode & 0o777 });
    }
  }
  if (!programs.length)
    throw new UsageError(`--kselftest ${targets.join(", ")}: only scripts (${saved.skipped.join(", ")}), which need a shell`, {
      fix: "add --rootfs debian: the scripts then run in a Debian userland",
    });
  onProgress?.({ kind: "info", message: `kselftests ${targets.join(" ")}: ${programs.length} programs${hit ? " (cached)" : ""}` });
  return { programs, files };
}
