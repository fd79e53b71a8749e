// The bisection's driver: test both ends (with the repeats), derive or check the signature, then test the
// revision the search asks for until it has its answer. Each test is one pipeline run in a step directory under
// the bisection's directory; bisect.json is rewritten after every step, so an interrupted bisection resumes.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { KharnessError, UsageError } from "../errors.js";
import { writeFileAtomic } from "../exec/cache.js";
import type { Exec } from "../exec/exec.js";
import type { PipelineOutcome } from "../pipeline.js";
import type { ProgressSink, RunRequest, RunResult, Status, TestResult } from "../types.js";
import { BISECT_SCHEMA_VERSION, type BisectDoc, type BisectResult, type RunRecord, type StepRecord } from "./bisect-doc.js";
import { BuildMemory, buildSetting, rememberableFailure, sourceId } from "./build-memory.js";
import { commitRevisions, patchRevisions, type Revision, type RevisionList, type TreeKernel } from "./revisions.js";
import { deriveSignature, judgeStep, nextStep, type Statuses, type Verdict } from "./search.js";

/** What the user asked for (cli-args.ts, or bisect.json's `request` on --resume). */
export interface BisectRequest {
  mode: "patches" | "commits";
  /** The run options of every step; its kernel is the tree (and, for patches, the whole series). */
  run: RunRequest;
  good?: string;
  bad?: string;
  /** --test ID...: the signature pinned by hand (empty = derived from the ends). */
  pinned: string[];
  repeat: number;
  /** --retry-untestable: build again the revisions whose build failed before (remembered failures are skipped otherwise). */
  retryUntestable?: boolean;
}

/** Progress of the bisection, for the terminal. */
export type BisectEvent =
  | { kind: "revisions"; mode: BisectRequest["mode"]; count: number; dir: string }
  | {
      kind: "step-start";
      step: number;
      role: StepRecord["role"];
      revision: Revision;
      /** Untested revisions that may still be the first bad one, and the estimated steps left after this one. */
      remaining: number;
      stepsLeft: number;
      reused: boolean;
    }
  | { kind: "repeat"; step: number; repeat: number; of: number }
  | { kind: "step-end"; record: StepRecord; revision: Revision }
  | { kind: "signature"; tests: string[]; pinned: boolean; flakyAtEnds: string[] };

export interface BisectDeps {
  exec: Exec;
  signal: AbortSignal;
  /** One pipeline run (runPipeline with the caller's deps), its progress to `onProgress`. */
  runStep(req: RunRequest, onProgress: ProgressSink): Promise<PipelineOutcome>;
  /** The step's own pipeline progress (build lines, tests), for a verbose terminal. */
  onStepProgress: ProgressSink;
  onEvent(e: BisectEvent): void;
  now?: () => Date;
  /**
   * The build cache's root and kharness's checkout: with both, builds are remembered across bisections by their
   * source (build-memory.ts): a commit built before from another good commit is found, a failed build is skipped.
   */
  memory?: { cacheRoot: string; repoRoot: string };
}

/** The bisection's end; `doc` is what bisect.json holds. Infrastructure failures are thrown (after bisect.json). */
export interface BisectOutcome {
  doc: BisectDoc;
  /** Set when a signal stopped it: the steps done so far are in bisect.json. */
  interrupted?: boolean;
}

/** A bisection that cannot go on for a reason in its inputs (the ends): exit 2, with bisect.json kept. */
export class BisectInputError extends UsageError {}

/** Every leaf test's status. */
function statusesOf(run: RunResult): Map<string, Status> {
  const out = new Map<string, Status>();
  const walk = (ts: TestResult[]) => {
    for (const t of ts) {
      if (t.children.length) walk(t.children);
      else out.set(t.id, t.status);
    }
  };
  walk(run.tests);
  return out;
}

function findTest(run: RunResult, id: string): TestResult | undefined {
  const walk = (ts: TestResult[]): TestResult | undefined => {
    for (const t of ts) {
      if (t.id === id) return t;
      const c = walk(t.children);
      if (c) return c;
    }
    return undefined;
  };
  return walk(run.tests);
}

const slug = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-|-$/g, "");

/**
 * Runs (or, with `resume`, continues) a bisection in `dir`. Never touches the user's tree: every step's kernel
 * comes from the kernel stage (its own worktree, copy or kept build; docs/cache.md).
 */
export async function runBisect(req: BisectRequest, dir: string, deps: BisectDeps, resume?: BisectDoc): Promise<BisectOutcome> {
  const now = deps.now ?? (() => new Date());
  const t0 = Date.now();
  const kernel = req.run.kernel as TreeKernel;
  await fs.mkdir(dir, { recursive: true });
  const list: RevisionList =
    req.mode === "patches"
      ? await patchRevisions(kernel, dir)
      : await commitRevisions(deps.exec, kernel, { good: req.good as string, bad: req.bad as string }, dir);
  const revs = list.revisions;
  const last = revs.length - 1;
  if (resume && JSON.stringify(resume.revisions.map((r) => r.id)) !== JSON.stringify(revs.map((r) => r.id)))
    throw new UsageError(`--resume ${dir}: the revisions changed since the bisection started (the series or the branch moved)`, {
      fix: "start a new bisection with its own --out",
      untestable: false,
    });
  const doc: BisectDoc = {
    schemaVersion: BISECT_SCHEMA_VERSION,
    mode: req.mode,
    state: "running",
    startedAt: resume?.startedAt ?? now().toISOString(),
    request: { mode: req.mode, good: req.good, bad: req.bad, pinned: req.pinned, repeat: req.repeat, run: req.run },
    revisions: revs,
    signature: null,
    steps: [],
    wallMs: resume?.wallMs ?? 0,
  };
  const priorMs = doc.wallMs;
  const save = async () => {
    doc.wallMs = priorMs + (Date.now() - t0);
    await writeFileAtomic(path.join(dir, "bisect.json"), `${JSON.stringify(doc, null, 2)}\n`);
  };
  const reusable = new Map<number, StepRecord>((resume?.steps ?? []).map((s) => [s.index, s]));
  deps.onEvent({ kind: "revisions", mode: req.mode, count: revs.length, dir });

  /** Statuses of each tested repeat of a step (in memory; bisect.json keeps the signature's and the ends'). */
  const statusesByIndex = new Map<number, Statuses[]>();
  const runsByIndex = new Map<number, RunResult[]>();
  /** The kernel key each tested revision ran (patch prefixes are remembered under the base's). */
  const kernelKeys = new Map<number, string>();
  for (const s of resume?.steps ?? []) {
    const key = s.runs.find((r) => r.cacheKey)?.cacheKey;
    if (key) kernelKeys.set(s.index, key);
  }
  const memory = deps.memory ? new BuildMemory(deps.memory.cacheRoot) : undefined;
  const setting = deps.memory ? await buildSetting(deps.exec, kernel, deps.memory.repoRoot) : undefined;
  /** Revision i's identity in the build memory, or undefined (no memory, or a source that cannot be named). */
  const memoryId = async (index: number): Promise<string | undefined> => {
    if (!memory || !setting) return undefined;
    const content = await list.contentOf(index, deps.signal, kernelKeys.get(0));
    return content ? sourceId(setting, content) : undefined;
  };

  /** Tests one revision with the repeats; undefined when interrupted. */
  const testRevision = async (index: number, role: StepRecord["role"], search: { remaining: number; stepsLeft: number }): Promise<StepRecord | undefined> => {
    const rev = revs[index] as Revision;
    const stepNo = doc.steps.length + 1;
    const prior = reusable.get(index);
    deps.onEvent({ kind: "step-start", step: stepNo, role, revision: rev, ...search, reused: prior !== undefined });
    if (prior) {
      const record = { ...prior, step: stepNo, role };
      statusesByIndex.set(
        index,
        prior.runs.filter((r) => r.statuses).map((r) => new Map(Object.entries(r.statuses ?? {})) as Statuses),
      );
      doc.steps.push(record);
      return record;
    }
    const stepDir = path.join(dir, "steps", `${String(stepNo).padStart(2, "0")}-${slug(rev.label)}`);
    // What an interrupted attempt at this step left (its steps/NN-* directory) is not a result: start it afresh.
    await fs.rm(stepDir, { recursive: true, force: true });
    let k = await list.kernelFor(index, deps.signal);
    const id = await memoryId(index);
    if (memory && id) {
      const failed = req.retryUntestable ? undefined : await memory.failure(id);
      if (failed) {
        // A build that failed before for a reason of its own fails again: skip it without building.
        // The error's first line and, for a build, the first compiler error under it.
        const what = failed.message
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => l && l !== "compiler errors:")
          .slice(0, 2)
          .join(": ");
        const reason = `remembered build failure (${failed.kind}, ${failed.at}): ${what}; log: ${failed.log ?? "not kept"}; --retry-untestable builds it again`;
        const record: StepRecord = {
          step: stepNo,
          index,
          revision: rev.id,
          label: rev.label,
          role,
          verdict: "skip",
          reason,
          failing: [],
          flaky: [],
          runs: [{ dir: "", outcome: "untestable", error: reason, remembered: true, wallMs: 0 }],
        };
        statusesByIndex.set(index, []);
        runsByIndex.set(index, []);
        doc.steps.push(record);
        await save();
        return record;
      }
      const key = list.reuse ? await memory.builtKey(id) : undefined;
      const reused = key && list.reuse ? await list.reuse(index, path.join(memory.cacheRoot, "kernels", key), deps.signal) : undefined;
      if (reused) k = reused;
    }
    const runs: RunRecord[] = [];
    const tested: Statuses[] = [];
    const results: RunResult[] = [];
    for (let i = 1; i <= req.repeat; i++) {
      if (req.repeat > 1) deps.onEvent({ kind: "repeat", step: stepNo, repeat: i, of: req.repeat });
      const outDir = req.repeat > 1 ? path.join(stepDir, `repeat-${i}`) : stepDir;
      let kernelReady: { cacheHit?: boolean; buildMs?: number; cacheKey?: string } = {};
      const started = Date.now();
      const outcome = await deps.runStep({ ...req.run, kernel: k, outDir, bisect: false, reports: {} }, (e) => {
        if (e.kind === "kernel-ready") kernelReady = { cacheHit: e.cacheHit, buildMs: e.buildMs, cacheKey: e.cacheKey };
        deps.onStepProgress(e);
      });
      if (deps.signal.aborted) return undefined;
      if (kernelReady.cacheKey) {
        kernelKeys.set(index, kernelReady.cacheKey);
        // The memory is a shortcut: a failure to write it costs a later build, never this bisection.
        if (memory && id && list.reuse) await memory.rememberBuilt(id, kernelReady.cacheKey).catch(() => undefined);
        if (memory && id && req.retryUntestable) await memory.forgetFailure(id).catch(() => undefined);
      }
      const rec: RunRecord = { dir: path.relative(dir, outDir), wallMs: Date.now() - started, ...kernelReady, outcome: "tested" };
      if (!outcome.ok) {
        // Only the kernel stage (apply, configure, build this revision) can make a revision untestable.
        const e = outcome.error;
        if (!(outcome.stage === "kernel" && e instanceof KharnessError && e.untestable)) {
          doc.state = "failed";
          await save();
          throw e;
        }
        runs.push({ ...rec, outcome: "untestable", error: e.message });
        const kind = rememberableFailure(e, deps.signal.aborted);
        if (memory && id && kind)
          await memory.rememberFailure(id, { kind, error: e as Error, revision: rev.label, buildLog: path.join(outDir, "build.log") }).catch(() => undefined);
        // The same kernel would fail the same way: no further repeats.
        break;
      }
      const run = outcome.run;
      rec.bootMs = run.boot?.durations.bootMs;
      rec.testMs = run.boot ? run.boot.durations.totalMs - (run.boot.durations.bootMs ?? 0) : undefined;
      if (run.couldNotTest) {
        runs.push({ ...rec, outcome: "untestable", error: run.couldNotTest.reason });
        continue;
      }
      const st = statusesOf(run);
      tested.push(st);
      results.push(run);
      runs.push(rec);
      // The ends keep every test's status (a resumed bisection derives the signature again); other steps the signature's.
      rec.statuses = Object.fromEntries([...st].filter(([id]) => role !== "probe" || doc.signature?.tests.includes(id)));
    }
    statusesByIndex.set(index, tested);
    runsByIndex.set(index, results);
    const record: StepRecord = {
      step: stepNo,
      index,
      revision: rev.id,
      label: rev.label,
      role,
      verdict: "skip",
      failing: [],
      flaky: [],
      runs,
    };
    if (!tested.length) record.reason = runs.find((r) => r.error)?.error ?? "could not be tested";
    else if (doc.signature) judgeInto(record, doc.signature.tests, tested, results);
    doc.steps.push(record);
    await save();
    return record;
  };

  const judgeInto = (record: StepRecord, signature: string[], tested: Statuses[], results: RunResult[]) => {
    const j = judgeStep(signature, tested);
    record.verdict = j.verdict;
    record.failing = j.failing;
    record.flaky = j.flaky;
    record.reason = j.reason;
    if (j.verdict === "bad" && results.length) {
      // The failures as the first repeat that failed them reported them: status, reason and the test's own log.
      record.failures = j.failing.map((id) => {
        const run = results.find((r) => {
          const s = findTest(r, id)?.status;
          return s !== undefined && !["PASS", "SKIP", "XFAIL", "XPASS"].includes(s);
        });
        const t = run ? findTest(run, id) : undefined;
        return { id, status: t?.status ?? "FAIL", reason: t?.reason, log: (t?.log ?? []).slice(-20) };
      });
    }
  };

  const stop = async (): Promise<BisectOutcome> => {
    doc.state = "interrupted";
    await save();
    return { doc, interrupted: true };
  };
  const endInput = async (message: string, fix: string): Promise<never> => {
    doc.state = "done";
    doc.result = { status: "bad-ends", message };
    await save();
    throw new BisectInputError(message, { fix, untestable: false });
  };

  // Both ends, always with the repeats.
  const goodStep = await testRevision(0, "good-end", { remaining: last - 1, stepsLeft: 0 });
  if (!goodStep) return stop();
  const badStep = await testRevision(last, "bad-end", { remaining: last - 1, stepsLeft: 0 });
  if (!badStep) return stop();
  const goodName = req.mode === "commits" ? `--good ${req.good}` : "the base";
  const badName = req.mode === "commits" ? `--bad ${req.bad}` : "the whole series";
  for (const [s, name] of [
    [goodStep, goodName],
    [badStep, badName],
  ] as const) {
    if (s.runs.every((r) => r.outcome === "untestable"))
      await endInput(`${name} could not be tested: ${s.reason}`, `see ${path.join(dir, s.runs[0]?.dir ?? "")}; both ends must build and boot`);
  }
  const goodRuns = statusesByIndex.get(0) ?? [];
  const badRuns = statusesByIndex.get(last) ?? [];
  const derived = deriveSignature(goodRuns, badRuns);
  if (req.pinned.length) {
    const known = new Set([...goodRuns, ...badRuns].flatMap((m) => [...m.keys()]));
    const unknown = req.pinned.filter((id) => !known.has(id));
    if (unknown.length) await endInput(`--test ${unknown.join(" ")}: no such test at either end`, "name test ids as results.json has them");
    doc.signature = { tests: [...req.pinned].sort(), pinned: true, flakyAtEnds: derived.flakyAtEnds };
  } else {
    if (!derived.tests.length)
      await endInput(
        `no test passes at ${goodName} and fails at ${badName}${derived.flakyAtEnds.length ? ` (flaky at the ends: ${derived.flakyAtEnds.join(", ")})` : ""}`,
        "check the ends (each has its run directory under steps/), or pin the tests with --test ID",
      );
    doc.signature = { tests: derived.tests, pinned: false, flakyAtEnds: derived.flakyAtEnds };
  }
  deps.onEvent({ kind: "signature", ...doc.signature });
  judgeInto(goodStep, doc.signature.tests, goodRuns, runsByIndex.get(0) ?? []);
  judgeInto(badStep, doc.signature.tests, badRuns, runsByIndex.get(last) ?? []);
  await save();
  if (goodStep.verdict !== "good")
    await endInput(
      `${goodName} already fails the signature (${goodStep.verdict}: ${[...goodStep.failing, ...goodStep.flaky].join(", ") || goodStep.reason})`,
      "pass an older good revision, or pin other tests with --test",
    );
  if (badStep.verdict !== "bad")
    await endInput(
      `${badName} does not fail the signature (${badStep.verdict}${badStep.reason ? `: ${badStep.reason}` : ""})`,
      "pass a newer bad revision, or pin the failing tests with --test",
    );

  const verdicts = new Map<number, Verdict>([
    [0, "good"],
    [last, "bad"],
  ]);
  for (;;) {
    const state = nextStep(last, verdicts);
    if (state.kind === "done") {
      doc.result = resultOf(state, doc, revs);
      doc.state = "done";
      await save();
      return { doc };
    }
    const rec = await testRevision(state.index, "probe", { remaining: state.remaining.length, stepsLeft: state.stepsLeft });
    if (!rec) return stop();
    verdicts.set(state.index, rec.verdict);
    deps.onEvent({ kind: "step-end", record: rec, revision: revs[state.index] as Revision });
  }
}

/** The answer from the finished search. */
function resultOf(state: Extract<ReturnType<typeof nextStep>, { kind: "done" }>, doc: BisectDoc, revs: Revision[]): BisectResult {
  const stepOf = (i: number) => [...doc.steps].reverse().find((s) => s.index === i);
  const badStep = stepOf(state.firstBad);
  const goodStep = stepOf(state.lastGood);
  const restsOnFlaky = Boolean(badStep?.flaky.length || goodStep?.flaky.length);
  const skipped = state.hidden.filter((h) => h.verdict === "skip").map((h) => revs[h.index] as Revision);
  const flaky = state.hidden.filter((h) => h.verdict === "flaky").map((h) => revs[h.index] as Revision);
  const flipped = badStep?.failures ?? [];
  if (state.candidates.length === 1) {
    const first = revs[state.firstBad] as Revision;
    return {
      status: "found",
      firstBad: first,
      candidates: [first],
      skipped: doc.steps.filter((s) => s.verdict === "skip").map((s) => revs[s.index] as Revision),
      flaky: doc.steps.filter((s) => s.verdict === "flaky").map((s) => revs[s.index] as Revision),
      restsOnFlaky,
      flipped,
      message: `first bad ${doc.mode === "commits" ? "commit" : "patch"}: ${first.label}${first.subject ? ` ${first.subject}` : ""}`,
    };
  }
  return {
    status: flaky.length ? "flaky" : "ambiguous",
    candidates: state.candidates.map((i) => revs[i] as Revision),
    skipped,
    flaky,
    restsOnFlaky,
    flipped,
    message: `the first bad ${doc.mode === "commits" ? "commit" : "patch"} is one of ${state.candidates.length}: ${state.candidates.map((i) => revs[i]?.label).join(", ")} (${[
      skipped.length ? `${skipped.length} could not be tested` : "",
      flaky.length ? `${flaky.length} flaky` : "",
    ]
      .filter(Boolean)
      .join(", ")})`,
  };
}
