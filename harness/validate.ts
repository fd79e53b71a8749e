// The pipeline's first stage: checks a whole RunRequest before any slow step (kernel build, boot) and
// reports every problem at once. It writes nothing: a refused request leaves no run directory behind.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { RequestError, UsageError, type RequestProblem } from "./errors.js";
import { readExpectFile, type ExpectFile } from "./expect/expectations.js";
import type { Exec } from "./exec/exec.js";
import { resolveImageKernel } from "./kernel/default.js";
import {
  type BundledSelection,
  type CatalogEntry,
  checkUserPrograms,
  globsNeedingCases,
  listBundledCatalog,
  listBundledPrograms,
  selectBundled,
  type UserProgram,
} from "./payload/payload.js";
import { appendTooLongOnAnyMachine, MACHINE_ENV, parseMachineOverride } from "./qemu/boot.js";
import { checkUserImage } from "./rootfs/overlay.js";
import type { ArchProfile } from "./qemu/profiles.js";
import type { KernelImage, ProgressSink, RunRequest } from "./types.js";

export interface ValidateDeps {
  exec: Exec;
  cacheRoot: string;
  repoRoot: string;
  profile: ArchProfile;
  signal?: AbortSignal;
  onProgress?: ProgressSink;
}

/** What validation learned that later stages use as is. */
export interface ValidatedRun {
  /** Bundled programs to run, each with the case globs it gets. */
  bundled: BundledSelection[];
  /** The user's --program files, checked. */
  users: UserProgram[];
  /** The --kernel image, already inspected. */
  image?: KernelImage;
  /** The --expect file, read and checked. */
  expect?: ExpectFile;
}

/** Resolves every path of a request against cwd, so that later stages and messages agree on them. */
export function absoluteRequest(req: RunRequest, cwd: string): RunRequest {
  const abs = (p: string) => path.resolve(cwd, p);
  const k = req.kernel;
  const kernel: RunRequest["kernel"] =
    k.kind === "image"
      ? { ...k, path: abs(k.path) }
      : k.kind === "tree"
        ? { ...k, dir: abs(k.dir), patches: k.patches.map(abs), configs: k.configs.map((c) => (/^(#\s*)?CONFIG_/.test(c) ? c : abs(c))) }
        : k;
  const r = req.reports;
  const reports = { json: r.json && abs(r.json), junit: r.junit && abs(r.junit), tap: r.tap && abs(r.tap), kcidb: r.kcidb && abs(r.kcidb) };
  const baseline = req.baseline === undefined || req.baseline === "last-green" ? req.baseline : abs(req.baseline);
  return {
    ...req,
    kernel,
    programs: req.programs.map(abs),
    outDir: req.outDir === undefined ? undefined : abs(req.outDir),
    reports,
    ...(req.expect !== undefined ? { expect: abs(req.expect) } : {}),
    ...(baseline !== undefined ? { baseline } : {}),
    ...(req.rootfs !== undefined && req.rootfs !== "debian" ? { rootfs: abs(req.rootfs) } : {}),
  };
}

/** What an errno from creating an entry in dir means, in words. */
function explainCode(code: string, dir: string): string {
  switch (code) {
    case "ENOTDIR":
      return `${dir} is a regular file`;
    case "EACCES":
    case "EPERM":
      return `${dir} does not let you create files`;
    case "EROFS":
      return `${dir} is on a read-only filesystem`;
    case "ENOENT":
      // The directory exists (we checked), yet nothing can be created in it: /proc, /sys and the like.
      return `${dir} takes no new files (a special filesystem, like /proc or /sys)`;
    case "ENOSPC":
      return `no space left on the device of ${dir}`;
    default:
      return `creating a file in ${dir} failed`;
  }
}

/** The nearest existing ancestor of p (p itself when it exists), with what it is. */
async function nearestExisting(p: string): Promise<{ at: string; isDir: boolean }> {
  let cur = p;
  for (;;) {
    const st = await fs.stat(cur).catch((e: NodeJS.ErrnoException) => (e.code === "ENOTDIR" ? "notdir" : undefined));
    if (st === "notdir") {
      // A component above is a regular file: keep climbing to name it.
    } else if (st) return { at: cur, isDir: st.isDirectory() };
    const up = path.dirname(cur);
    if (up === cur) return { at: cur, isDir: true };
    cur = up;
  }
}

/**
 * Can a file or directory be created inside dir (which exists)? Creates and removes a probe, because
 * permissions alone do not tell: root may write anywhere by mode, yet /proc refuses new entries (and
 * Node's recursive mkdir spins forever on it).
 */
async function probeCreate(dir: string, kind: "file" | "dir"): Promise<string | undefined> {
  try {
    if (kind === "dir") {
      const made = await fs.mkdtemp(path.join(dir, ".kharness-probe-"));
      await fs.rmdir(made);
    } else {
      const probe = path.join(dir, `.kharness-probe-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
      const fh = await fs.open(probe, "wx");
      await fh.close();
      await fs.rm(probe, { force: true });
    }
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

/** Problems with a directory kharness will create (if needed) and write files into; undefined = fine. */
export async function outputDirProblem(
  label: string,
  dir: string,
  fix = `pass ${label} with a directory you can write to`,
): Promise<RequestProblem | undefined> {
  const near = await nearestExisting(dir);
  if (!near.isDir) return { message: `${label} ${dir}: cannot write there (ENOTDIR): ${explainCode("ENOTDIR", near.at)}`, fix };
  const code = await probeCreate(near.at, near.at === dir ? "file" : "dir");
  if (code) return { message: `${label} ${dir}: cannot write there (${code}): ${explainCode(code, near.at)}`, fix };
  return undefined;
}

const REPORT_NAMES: Record<string, string> = {
  "--json": "results.json",
  "--json-out": "results.json",
  "--junit": "junit.xml",
  "--tap": "results.tap",
  "--kcidb": "kcidb.json",
};

/** Problems with a report file kharness will write (by temp file and rename); undefined = fine. */
export async function outputFileProblem(label: string, file: string): Promise<RequestProblem | undefined> {
  const fix = `pass ${label} with a file path in a directory you can write to`;
  const st = await fs.stat(file).catch(() => undefined);
  if (st?.isDirectory())
    return { message: `${label} ${file}: is a directory`, fix: `name a file, e.g. ${label} ${path.join(file, REPORT_NAMES[label] ?? "report")}` };
  // The report replaces the file by a rename: a device or a FIFO would be replaced, not written.
  if (st && !st.isFile()) return { message: `${label} ${file}: exists and is not a regular file (reports replace their file whole)`, fix };
  const parent = path.dirname(file);
  const near = await nearestExisting(parent);
  if (!near.isDir) return { message: `${label} ${file}: cannot write there (ENOTDIR): ${explainCode("ENOTDIR", near.at)}`, fix };
  const code = await probeCreate(near.at, near.at === parent ? "file" : "dir");
  if (code) return { message: `${label} ${file}: cannot write there (${code}): ${explainCode(code, near.at)}`, fix };
  return undefined;
}

/** Problems with the report files of a run or parse: each must be writable, and no two may be the same file. */
export async function reportPathProblems(reports: Record<string, string | undefined>): Promise<RequestProblem[]> {
  const problems: RequestProblem[] = [];
  const seen = new Map<string, string>();
  for (const [label, file] of Object.entries(reports)) {
    if (file === undefined) continue;
    const other = seen.get(file);
    if (other) {
      problems.push({ message: `${other} and ${label} both name ${file}`, fix: "give each report its own file" });
      continue;
    }
    seen.set(file, label);
    const p = await outputFileProblem(label, file);
    if (p) problems.push(p);
  }
  return problems;
}

const KSELFTEST_TARGET = /^[A-Za-z0-9_.+-]+(\/[A-Za-z0-9_.+-]+)*$/;

/**
 * --kselftest targets must be target names, and exist in the tree that will be built. With --patches the
 * series may add the target, so the kselftest build checks that case once the patches are applied.
 */
async function kselftestProblems(req: RunRequest, exec: Exec): Promise<RequestProblem[]> {
  const k = req.kernel;
  if (k.kind !== "tree" || req.kselftests.length === 0) return [];
  const fix = "use a directory name under tools/testing/selftests, e.g. --kselftest landlock";
  const problems: RequestProblem[] = [];
  for (const t of req.kselftests) {
    if (!KSELFTEST_TARGET.test(t) || t.split("/").includes("..")) {
      problems.push({ message: `--kselftest ${t}: not a selftest target name`, fix });
      continue;
    }
    if (k.patches.length > 0) continue;
    const rel = `tools/testing/selftests/${t}/Makefile`;
    let present: boolean;
    if (k.base !== undefined) {
      const res = await exec.run(["git", "-C", k.dir, "cat-file", "-e", `${k.base}:${rel}`]).catch(() => undefined);
      present = res?.exitCode === 0;
    } else
      present = await fs.access(path.join(k.dir, rel)).then(
        () => true,
        () => false,
      );
    if (!present) problems.push({ message: `--kselftest ${t}: no ${rel} in ${k.dir}${k.base !== undefined ? ` at ${k.base}` : ""}`, fix });
  }
  return problems;
}

/** Problems with --kernel or --tree and its patches and config fragments. */
async function kernelProblems(req: RunRequest, repoRoot: string, profile: ArchProfile): Promise<{ problems: RequestProblem[]; image?: KernelImage }> {
  const k = req.kernel;
  if (k.kind === "image") {
    try {
      return { problems: [], image: await resolveImageKernel(k.path, profile) };
    } catch (e) {
      if (e instanceof UsageError) return { problems: [{ message: e.message, fix: e.fix }] };
      throw e;
    }
  }
  if (k.kind !== "tree") return { problems: [] };
  // The tree, its patches and its config fragments: their problems come with every other one, before a run
  // directory exists. (The kernel stage checks the tree again for callers that skip this pass.)
  const buildsInPlace = k.patches.length === 0 && k.base === undefined;
  // Loaded for a tree only: a run of a packaged kernel never needs the tree builder (issue 16: modules before QEMU).
  const [{ kernelTreeProblems, resolveFragments, resolvePatches }, { mergeFragments }] = await Promise.all([
    import("./kernel/tree-build.js"),
    import("./kconfig/merge.js"),
  ]);
  const [tree, patches, fragments] = await Promise.all([
    kernelTreeProblems(k.dir, { buildsInPlace, srcArch: profile.srcArch }),
    resolvePatches(k.patches),
    resolveFragments(k, repoRoot),
  ]);
  const merged = mergeFragments(fragments.fragments);
  const lines = [...tree, ...patches.problems, ...fragments.problems, ...merged.problems.map((p) => `${p.fragment}:${p.line}: ${p.message}: ${p.text.trim()}`)];
  return { problems: lines.map((message) => ({ message })) };
}

/** --tests and --program: which bundled programs and cases run, and the user's programs, checked. */
async function testProblems(req: RunRequest, deps: ValidateDeps): Promise<{ problems: RequestProblem[]; bundled: BundledSelection[]; users: UserProgram[] }> {
  const programs = await listBundledPrograms(deps.exec, deps.repoRoot, deps.cacheRoot);
  const users = await checkUserPrograms(req.programs, programs, deps.profile, { rootfs: req.rootfs !== undefined });
  const problems: RequestProblem[] = users.problems.map((message) => ({
    message,
    fix: "pass static x86-64 executables built with gcc -static, each with its own file name",
  }));
  // --program alone runs only the user's programs; --tests adds bundled ones explicitly.
  if (req.tests.length === 0 && req.programs.length > 0) return { problems, bundled: [], users: users.programs };
  let catalog: CatalogEntry[] = programs.map((program) => ({ program }));
  // Case lists come from the compiled binaries: only when some glob names cases rather than whole programs.
  if (globsNeedingCases(programs, req.tests).length > 0) {
    catalog = await listBundledCatalog(
      { exec: deps.exec, cacheRoot: deps.cacheRoot, repoRoot: deps.repoRoot, signal: deps.signal, onProgress: deps.onProgress },
      req.selftestDefines.map((d) => `-D${d}`),
    );
  }
  const sel = selectBundled(catalog, req.tests);
  const fix = "`kharness list` shows every program and case; globs follow fnmatch(3), e.g. 'net_tcp.tcp.ipv4*.bind_*'";
  problems.push(...sel.problems.map((message) => ({ message, fix })));
  return { problems, bundled: sel.selected, users: users.programs };
}

/**
 * Validates a request whose paths are absolute (absoluteRequest) and whose run directory is `runDir`.
 * Throws a RequestError listing every problem; returns what later stages need.
 */
export async function validateRunRequest(req: RunRequest, runDir: string, deps: ValidateDeps): Promise<ValidatedRun> {
  const problems: RequestProblem[] = [];
  // The machine is chosen later (qemu/machine-choice.ts): the --append must fit the one with the least room.
  const tooLong = appendTooLongOnAnyMachine(deps.profile, req.append);
  if (tooLong) problems.push({ message: tooLong, fix: "pass only the kernel arguments the test needs" });
  // KHARNESS_MACHINE is used after the kernel stage: a typo must not cost a build first.
  try {
    parseMachineOverride(process.env[MACHINE_ENV]);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    problems.push({ message: e.message, ...(e.fix ? { fix: e.fix } : {}) });
  }
  const [kernel, ksft, tests, reports, out] = await Promise.all([
    kernelProblems(req, deps.repoRoot, deps.profile),
    kselftestProblems(req, deps.exec),
    testProblems(req, deps),
    reportPathProblems({ "--json": req.reports.json, "--junit": req.reports.junit, "--tap": req.reports.tap, "--kcidb": req.reports.kcidb }),
    req.outDir
      ? outputDirProblem("--out", req.outDir)
      : outputDirProblem("the run directory", runDir, "run kharness from a directory you can write to, or pass --out DIR"),
  ]);
  problems.push(...kernel.problems, ...ksft, ...tests.problems, ...reports);
  if (out) problems.push(out);
  // --expect and --baseline (issue 13): their files are read now, so a typo costs no build or boot.
  const expect = req.expect !== undefined ? await readExpectFile(req.expect) : undefined;
  problems.push(...(expect?.problems ?? []).map((message) => ({ message, fix: "fix the entry; docs/expect.md gives the file's form" })));
  if (req.baseline !== undefined && req.baseline !== "last-green") {
    const { loadRunForCompare } = await import("./compare/load.js");
    const b = await loadRunForCompare(req.baseline, "--baseline").catch((e: unknown) => e);
    if (b instanceof UsageError) problems.push({ message: b.message, fix: b.fix });
  }
  // --rootfs IMAGE (issue 15): a user's image is checked now (format, intact qcow2, an ext4 file system), before any build.
  if (req.rootfs !== undefined && req.rootfs !== "debian") {
    const r = await checkUserImage(deps.exec, req.rootfs).catch((e: unknown) => e);
    if (r instanceof UsageError) problems.push({ message: r.message, fix: r.fix });
    else if (r instanceof Error) throw r;
  }
  if (problems.length) throw new RequestError(problems);
  return { bundled: tests.bundled, users: tests.users, image: kernel.image, ...(expect?.expect ? { expect: expect.expect } : {}) };
}
