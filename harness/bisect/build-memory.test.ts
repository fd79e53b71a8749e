// The build memory across bisections, against a fake pipeline that keeps kernel cache entries as the kernel stage
// does (kernels/<key>/ with build.json and patches/): a commit built before from another good commit is found by
// its git tree and costs no build; an entry that is gone is rebuilt; a failure of the input is remembered and
// skipped on a rerun (--retry-untestable builds it again); a failure of the machine is never remembered.
import t from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { InfraError, UsageError } from "../errors.js";
import { sha256 } from "../exec/cache.js";
import { createExec } from "../exec/exec.js";
import type { PipelineOutcome } from "../pipeline.js";
import type { ProgressSink, RunRequest, RunResult, Status } from "../types.js";
import { REPO_ROOT, tempDir } from "../../test/support/cli-run.js";
import { BuildMemory, rememberableFailure } from "./build-memory.js";
import { reuseEntry } from "./revisions.js";
import { runBisect, type BisectDeps, type BisectRequest } from "./run-bisect.js";

const BROKEN = path.join(REPO_ROOT, "patches", "landlock-socket-create-broken");

/** Named as the kernel stage's errors are (build-memory.ts goes by the name). */
class KernelBuildError extends InfraError {
  readonly exitCode: number | undefined;
  constructor(tail: string[], exitCode: number | null = 2) {
    super("kernel build (make -j2 bzImage) failed (exit 2)\ncompiler errors:\n  init/version.c:1:2: error: #error broken", { tail, untestable: true });
    this.exitCode = exitCode ?? undefined;
  }
}
class PatchApplyError extends UsageError {
  constructor() {
    super("patch 0002 does not apply", { untestable: true });
  }
}

t.test("which failures are remembered: the input's own, never the machine's", async (t) => {
  t.equal(rememberableFailure(new KernelBuildError(["x.c:1: error: boom"]), false), "KernelBuildError");
  t.equal(rememberableFailure(new PatchApplyError(), false), "PatchApplyError");
  t.equal(rememberableFailure(new KernelBuildError(["x.c:1: error: boom"]), true), undefined, "not when interrupted");
  t.equal(rememberableFailure(new KernelBuildError(["cc1: fatal error: x.o: No space left on device"]), false), undefined, "not a full disk");
  t.equal(rememberableFailure(new KernelBuildError(["gcc: fatal error: Killed signal terminated program cc1"]), false), undefined, "not a killed compiler");
  t.equal(rememberableFailure(new KernelBuildError([], 137), false), undefined, "not a make killed by a signal");
  t.equal(rememberableFailure(new KernelBuildError([], null), false), undefined, "not a make without an exit code");
  t.equal(rememberableFailure(new InfraError("qemu: could not start", { untestable: true }), false), undefined, "not another infrastructure error");
});

t.test("a remembered kernel key is forgotten when its cache entry is gone", async (t) => {
  const root = tempDir("kh-bm-");
  const m = new BuildMemory(root);
  const key = "a".repeat(64);
  await m.rememberBuilt("id1", key);
  t.equal(await m.builtKey("id1"), undefined, "no entry: not found");
  await m.rememberBuilt("id1", key);
  await fs.mkdir(path.join(root, "kernels", key), { recursive: true });
  await fs.writeFile(path.join(root, "kernels", key, ".complete"), "");
  t.equal(await m.builtKey("id1"), key);
  await fs.rm(path.join(root, "kernels", key), { recursive: true });
  t.equal(await m.builtKey("id1"), undefined);
  await t.rejects(fs.access(path.join(root, "bisect", "built", "id1.json")), "the stale index entry is removed");
});

/** A fake cache: each request's key is a hash of its base and patch texts; a request with no entry yet is a build. */
function fakeCache(root: string, judge: (req: RunRequest & { kernel: { kind: "tree" } }, hit: boolean) => Promise<PipelineOutcome>) {
  const built: string[] = [];
  const runStep = async (req: RunRequest, onProgress: ProgressSink): Promise<PipelineOutcome> => {
    if (req.kernel.kind !== "tree") throw new Error("tree kernels only");
    const k = req.kernel;
    const texts = await Promise.all(k.patches.map((p) => fs.readFile(p, "utf8")));
    const key = sha256(k.base ?? "working-tree", ...texts);
    const entry = path.join(root, "kernels", key);
    const hit = await fs.access(path.join(entry, ".complete")).then(
      () => true,
      () => false,
    );
    const outcome = hit ? undefined : await judge(req as RunRequest & { kernel: { kind: "tree" } }, false);
    if (outcome && !outcome.ok) return outcome;
    if (!hit) {
      built.push(key);
      await fs.mkdir(path.join(entry, "patches"), { recursive: true });
      for (const [i, text] of texts.entries()) await fs.writeFile(path.join(entry, "patches", `${String(i + 1).padStart(4, "0")}.patch`), text);
      const record = { tree: { kind: "git", commit: k.base }, usesWorkingTree: false, patches: texts.map((_, i) => ({ source: `p${i}` })) };
      await fs.writeFile(path.join(entry, "build.json"), JSON.stringify(record));
      await fs.writeFile(path.join(entry, ".complete"), "");
    }
    onProgress({ kind: "kernel-ready", source: "tree", cacheHit: hit, cacheKey: key, buildMs: hit ? 0 : 1000 });
    return outcome ?? (await judge(req as RunRequest & { kernel: { kind: "tree" } }, true));
  };
  return { built, runStep };
}

const leaf = (id: string, status: Status) => ({ id, name: id, status, log: [], kernelEvents: [], children: [] });
const tested = (statuses: Record<string, Status>): PipelineOutcome =>
  ({
    ok: true,
    runDir: "/x",
    boot: { end: "poweroff" },
    run: {
      schemaVersion: 1,
      tests: Object.entries(statuses).map(([id, s]) => leaf(id, s)),
      summary: {},
      diagnostics: [],
      kernelEvents: [],
      boot: { durations: { bootMs: 1000, totalMs: 1500 } },
    } as unknown as RunResult,
  }) as unknown as PipelineOutcome;

const runReq = (kernel: RunRequest["kernel"]): RunRequest => ({
  kernel,
  tests: [],
  programs: [],
  kselftests: [],
  append: [],
  timeoutSec: 45,
  bootTimeoutSec: 120,
  accel: "tcg",
  reports: {},
  bisect: false,
  failOnWarn: false,
  selftestDefines: [],
});

const depsFor = (runStep: BisectDeps["runStep"], cacheRoot: string): BisectDeps => ({
  exec: createExec(),
  signal: new AbortController().signal,
  runStep,
  onStepProgress: () => undefined,
  onEvent: () => undefined,
  memory: { cacheRoot, repoRoot: REPO_ROOT },
});

t.test("commits: a second bisection from another good commit builds nothing it built before", async (t) => {
  const repo = path.join(tempDir("kh-bm-"), "repo");
  await fs.mkdir(repo);
  const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x.invalid" };
  const git = (...a: string[]) => execFileSync("git", a, { cwd: repo, encoding: "utf8", env }).trim();
  git("init", "-q");
  const commits: string[] = [];
  for (let i = 0; i <= 6; i++) {
    // From commit 4 on, the source is bad.
    await fs.writeFile(path.join(repo, "state"), `${i >= 4 ? "bad" : "good"} ${i}\n`);
    git("add", "state");
    git("commit", "-qm", `commit ${i}`);
    commits.push(git("rev-parse", "HEAD"));
  }
  // The source a request builds: the base's state, or the last state the patch (a diff from the base) adds.
  const judge = async (req: RunRequest & { kernel: { kind: "tree" } }) => {
    const texts = await Promise.all(req.kernel.patches.map((p) => fs.readFile(p, "utf8")));
    const added = texts.flatMap((x) => [...x.matchAll(/^\+(good|bad) \d+$/gm)].map((m) => m[1]));
    const state = added.at(-1) ?? git("show", `${req.kernel.base}:state`).split(" ")[0];
    return tested({ "x.layers": state === "bad" ? "FAIL" : "PASS" });
  };
  const cacheRoot = tempDir("kh-bm-cache-");
  const cache = fakeCache(cacheRoot, judge);
  const kernel = { kind: "tree" as const, dir: repo, patches: [], configs: [], baseConfig: "tiny" as const, debug: false };
  const req = (good: number, bad: number): BisectRequest => ({
    mode: "commits",
    run: runReq(kernel),
    good: commits[good],
    bad: commits[bad],
    pinned: [],
    repeat: 1,
  });
  const first = await runBisect(req(0, 6), tempDir("kh-bm-b-"), depsFor(cache.runStep, cacheRoot));
  t.equal(first.doc.result?.firstBad?.id, commits[4]);
  const testedFirst = new Set(first.doc.steps.map((s) => s.revision));
  t.equal(cache.built.length, testedFirst.size, "every revision of the first bisection was built");

  // From the last good commit the first one found to the bad end: every step tests a commit tested before.
  const lastGood = Math.max(...first.doc.steps.filter((s) => s.verdict === "good").map((s) => s.index));
  const second = await runBisect(req(lastGood, 6), tempDir("kh-bm-b-"), depsFor(cache.runStep, cacheRoot));
  t.equal(second.doc.result?.firstBad?.id, commits[4], "the same answer");
  t.ok(
    second.doc.steps.every((s) => testedFirst.has(s.revision)),
    "the second bisection tested only commits the first one tested",
  );
  t.equal(cache.built.length, testedFirst.size, "and built nothing new");
  t.ok(
    second.doc.steps.every((s) => s.runs[0]?.cacheHit),
    "every step a cache hit",
  );

  // The memory is a shortcut, not a source of truth: with the entry gone, the commit is built again (from the new good commit).
  const bad = second.doc.steps.find((s) => s.role === "bad-end");
  await fs.rm(path.join(cacheRoot, "kernels", bad?.runs[0]?.cacheKey ?? "none"), { recursive: true });
  const third = await runBisect(req(lastGood, 6), tempDir("kh-bm-b-"), depsFor(cache.runStep, cacheRoot));
  t.equal(third.doc.result?.firstBad?.id, commits[4]);
  t.equal(cache.built.length, testedFirst.size + 1, "the bad end, whose entry was removed, was built again");
});

t.test("patches: a build failure is remembered and skipped on a rerun; --retry-untestable builds it again", async (t) => {
  const cacheRoot = tempDir("kh-bm-cache-");
  let broken: "build" | "disk" = "build";
  const asked: number[] = [];
  const cache = fakeCache(cacheRoot, async (req, hit) => {
    const k = req.kernel.patches.length;
    if (!hit) asked.push(k);
    if (k === 2) {
      await fs.mkdir(req.outDir ?? "/nonexistent", { recursive: true });
      await fs.writeFile(path.join(req.outDir ?? "/nonexistent", "build.log"), "make -j2 bzImage\ninit/version.c:1:2: error: #error broken\n");
      const tail = broken === "build" ? ["init/version.c:1:2: error: #error broken"] : ["cc1: fatal error: x.o: No space left on device"];
      return { ok: false, stage: "kernel", error: new KernelBuildError(tail) } as PipelineOutcome;
    }
    return tested({ "x.layers": k >= 3 ? "FAIL" : "SKIP" });
  });
  const req: BisectRequest = {
    mode: "patches",
    run: runReq({ kind: "tree", dir: "/nonexistent-tree", patches: [BROKEN], configs: [], baseConfig: "tiny", debug: false }),
    pinned: [],
    repeat: 1,
  };
  // A failure of the machine is not remembered: the rerun tries again.
  broken = "disk";
  await runBisect(req, tempDir("kh-bm-b-"), depsFor(cache.runStep, cacheRoot));
  t.same(asked, [0, 4, 2, 1, 3], "the first run builds every step");
  asked.length = 0;
  broken = "build";
  const first = await runBisect(req, tempDir("kh-bm-b-"), depsFor(cache.runStep, cacheRoot));
  t.same(asked, [2], "the rest were cache hits; the failing prefix was built again (a full disk is not its fault)");
  t.match(
    first.doc.steps.find((s) => s.index === 2),
    { verdict: "skip", runs: [{ outcome: "untestable", error: /#error broken/ }] },
  );

  asked.length = 0;
  const rerun = await runBisect(req, tempDir("kh-bm-b-"), depsFor(cache.runStep, cacheRoot));
  t.same(asked, [], "the rerun built nothing: the failure was remembered");
  const step = rerun.doc.steps.find((s) => s.index === 2);
  t.match(step, {
    verdict: "skip",
    reason: /^remembered build failure \(KernelBuildError, .*#error broken.*log: .*--retry-untestable/,
    runs: [{ remembered: true }],
  });
  t.same(
    rerun.doc.result?.candidates?.map((c) => c.index),
    [2, 3],
    "the same answer as the first run",
  );
  const log = /log: (\S+);/.exec(step?.reason ?? "")?.[1] ?? "";
  t.ok(log.startsWith(path.join(cacheRoot, "bisect", "failed")), "the log's tail is kept in the cache");

  const retry = await runBisect({ ...req, retryUntestable: true }, tempDir("kh-bm-b-"), depsFor(cache.runStep, cacheRoot));
  t.same(asked, [2], "--retry-untestable built it again");
  t.notOk(retry.doc.steps.find((s) => s.index === 2)?.runs[0]?.remembered);
});

t.test("reuseEntry: the request that built an entry, only for an entry built from a commit of this repository", async (t) => {
  const repo = path.join(tempDir("kh-bm-"), "repo");
  await fs.mkdir(repo);
  const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x.invalid", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x.invalid" };
  const git = (...a: string[]) => execFileSync("git", a, { cwd: repo, encoding: "utf8", env }).trim();
  git("init", "-q");
  git("commit", "-q", "--allow-empty", "-m", "base");
  const commit = git("rev-parse", "HEAD");
  const kernel = { kind: "tree" as const, dir: repo, patches: [], configs: [], baseConfig: "tiny" as const, debug: false };
  const entry = async (record: object, patches: string[]) => {
    const dir = tempDir("kh-bm-entry-");
    await fs.mkdir(path.join(dir, "patches"));
    for (const [i, p] of patches.entries()) await fs.writeFile(path.join(dir, "patches", `000${i + 1}.patch`), p);
    await fs.writeFile(path.join(dir, "build.json"), JSON.stringify(record));
    return dir;
  };
  const signal = new AbortController().signal;
  // Bytes a text round trip could change (no final newline, a CR): copied as they are.
  const text = "From: kharness <kharness@localhost>\nSubject: x\n\ndiff --git a/f b/f\n+\r\n+x";
  const ok = await entry({ tree: { kind: "git", commit }, usesWorkingTree: false, patches: [{ source: "p" }] }, [text]);
  const into = path.join(tempDir("kh-bm-"), "reuse");
  const k = await reuseEntry(createExec(), kernel, ok, into, signal);
  t.equal(k?.base, commit, "built from the entry's commit");
  t.equal(k?.patches.length, 1);
  t.equal(await fs.readFile(k?.patches[0] ?? "", "utf8"), text, "the entry's patch, byte for byte");

  const other = await entry({ tree: { kind: "git", commit: "0".repeat(40) }, usesWorkingTree: false, patches: [] }, []);
  t.equal(await reuseEntry(createExec(), kernel, other, into, signal), undefined, "a commit this repository does not have");
  const inPlace = await entry({ tree: { kind: "git", commit }, usesWorkingTree: true, patches: [] }, []);
  t.equal(await reuseEntry(createExec(), kernel, inPlace, into, signal), undefined, "a build of a working tree (it may hold uncommitted changes)");
  const plain = await entry({ tree: { kind: "plain" }, usesWorkingTree: false, patches: [] }, []);
  t.equal(await reuseEntry(createExec(), kernel, plain, into, signal), undefined, "a plain tree");
  const short = await entry({ tree: { kind: "git", commit }, usesWorkingTree: false, patches: [{ source: "p" }, { source: "q" }] }, [text]);
  t.equal(await reuseEntry(createExec(), kernel, short, into, signal), undefined, "an entry missing one of its patches");
});
