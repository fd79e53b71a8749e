// Records a finished run in the history and writes the run directory's history.json; reads what a run was
// built from (the kernel cache's build record, the run's kernel.config) to identify its kernel input.

import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { writeFileAtomic } from "../exec/cache.js";
import { runFailed } from "../results/index.js";
import { verdictEntries } from "../compare/classify.js";
import type { RunRequest, RunResult, TestResult } from "../types.js";
import {
  flakeOf,
  greenRuns,
  historyError,
  openHistory,
  ofPrograms,
  recentOfPrograms,
  recentResults,
  recordRun,
  runsRecordedSince,
  testTimeline,
  type ProgramsRecent,
  type RunRecord,
  type TimelineEntry,
} from "./db.js";

export const HISTORY_JSON_VERSION = 1;
/** Entries per test in history.json (docs/nightly.md). */
export const HISTORY_RECENT = 20;

/** The history database a command uses: --history DB, else $KHARNESS_CACHE/history.db. */
export function historyPath(cacheRoot: string, given?: string): string {
  return given ?? path.join(cacheRoot, "history.db");
}

/**
 * What makes two runs' results comparable: the same --tests globs, --program names and --kselftest targets
 * (order does not matter). Canonical JSON.
 */
export function selectionKey(req: Pick<RunRequest, "tests" | "programs" | "kselftests">): string {
  return JSON.stringify({
    tests: [...req.tests].sort(),
    programs: req.programs.map((p) => path.basename(p)).sort(),
    kselftests: [...req.kselftests].sort(),
  });
}

/** green: exit 0; could-not-test: exit 3; failed otherwise. */
export function runVerdict(run: RunResult): RunRecord["verdict"] {
  if (run.couldNotTest) return "could-not-test";
  return runFailed(run) ? "failed" : "green";
}

const sha = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");

/** The run's verdict entries (leaves, and parents with a failure of their own), flattened. */
function flatTests(tests: readonly TestResult[]): RunRecord["tests"] {
  return [...verdictEntries(tests).values()].map((t) => ({
    id: t.id,
    status: t.status,
    ...(t.reason !== undefined ? { reason: t.reason } : {}),
    ...(t.durationMs !== undefined ? { durationMs: t.durationMs } : {}),
  }));
}

/** What the kernel stage said about the kernel (the kernel-ready progress event). */
export interface KernelInput {
  cacheKey?: string;
  buildMs?: number;
}

/**
 * The run's kernel input: release, config hash (of the run's kernel.config), and for a tree build its cache key,
 * tree identity (git commit or content hash) and patch series hash (read from the build cache entry).
 * The build key is the tree build's cache key, or for a packaged/--kernel image a hash of its path, release and config.
 */
export async function kernelInputOf(run: RunResult, runDir: string, cacheRoot: string, k: KernelInput): Promise<Partial<RunRecord>> {
  const config = await fs.readFile(path.join(runDir, "kernel.config")).catch(() => undefined);
  const configHash = config ? sha(config).slice(0, 16) : undefined;
  const out: Partial<RunRecord> = { kernelRelease: run.kernel?.release, configHash, buildMs: k.buildMs };
  if (k.cacheKey) {
    out.buildKey = k.cacheKey;
    const entry = path.join(cacheRoot, "kernels", k.cacheKey);
    const rec = await fs
      .readFile(path.join(entry, "build.json"), "utf8")
      .then((t) => JSON.parse(t) as { tree?: { identity?: string } })
      .catch(() => undefined);
    out.treeCommit = rec?.tree?.identity;
    const names = (await fs.readdir(path.join(entry, "patches")).catch(() => [] as string[])).sort();
    if (names.length) {
      const h = createHash("sha256");
      for (const name of names)
        h.update(name)
          .update("\0")
          .update(await fs.readFile(path.join(entry, "patches", name)));
      out.patchHash = h.digest("hex").slice(0, 16);
    }
  } else if (run.kernel?.path) {
    out.buildKey = `${run.kernel.source ?? "image"}:${sha(`${run.kernel.path}\0${run.kernel.release ?? ""}\0${configHash ?? ""}`).slice(0, 16)}`;
  }
  return out;
}

/** The record of a finished run. */
export function makeRunRecord(
  run: RunResult,
  ctx: { runDir: string; selection: string; input: Partial<RunRecord>; repeatGroup?: string; repeatIndex?: number; host?: string },
): RunRecord {
  return {
    ...ctx.input,
    runId: run.runId ?? path.basename(ctx.runDir),
    time: run.startedAt ?? new Date().toISOString(),
    host: ctx.host ?? os.hostname(),
    accel: run.boot?.accel,
    durationMs: run.durationMs,
    bootMs: run.boot?.durations?.bootMs,
    verdict: runVerdict(run),
    runDir: ctx.runDir,
    selection: ctx.selection,
    repeatGroup: ctx.repeatGroup,
    repeatIndex: ctx.repeatIndex,
    tests: flatTests(run.tests),
  };
}

/** history.json: each test's recent results (oldest first, this run included) and its flake score for this kernel. */
export interface HistoryJson {
  version: number;
  db: string;
  tests: Record<string, { recent: { runId: string; time: string; status: string; durationMs?: number }[]; flakeScore?: number }>;
}

/**
 * The history opened, and the recent results of the run's programs read, while its guest runs (its test ids are
 * not known yet), so that recording the run after QEMU exits does not wait for them (issue 16: about 30 ms of a
 * warm run's time after QEMU).
 */
export interface HistoryPreload {
  file: string;
  db: ReturnType<typeof openHistory>;
  recent: ProgramsRecent;
}

/** Opens the history at `file` and reads the programs' recent results; throws HistoryError. The caller closes `db`. */
export async function preloadHistory(file: string, programs: readonly string[]): Promise<HistoryPreload> {
  await fs.mkdir(path.dirname(file), { recursive: true }).catch(() => undefined);
  const db = openHistory(file);
  try {
    return { file, db, recent: recentOfPrograms(db, programs, HISTORY_RECENT) };
  } catch (e) {
    db.close();
    throw historyError(file, e);
  }
}

/**
 * Each test's newest results, this run's included: recentResults' answer after recording, from what was read
 * before the run (valid while no other run was recorded since: the caller checks). A test of none of the programs
 * read is looked up now.
 */
function recentFromPreload(db: ReturnType<typeof openHistory>, pre: ProgramsRecent, rec: RunRecord, limit: number): Map<string, TimelineEntry[]> {
  const out = new Map<string, TimelineEntry[]>();
  for (const t of rec.tests) {
    if (!ofPrograms(t.id, pre.programs)) {
      out.set(t.id, testTimeline(db, t.id, limit));
      continue;
    }
    // A test the history did not know before this run has only this run's result.
    const before = (pre.byTest.get(t.id) ?? []).filter((e) => e.runId !== rec.runId);
    const mine: TimelineEntry = { runId: rec.runId, time: rec.time, status: t.status };
    if (t.reason !== undefined) mine.reason = t.reason;
    if (t.durationMs !== undefined) mine.durationMs = Math.round(t.durationMs);
    if (rec.buildKey !== undefined) mine.buildKey = rec.buildKey;
    if (rec.kernelRelease !== undefined) mine.kernelRelease = rec.kernelRelease;
    out.set(t.id, [...before.slice(-(limit - 1)), mine]);
  }
  return out;
}

/**
 * Records the run in the database at `file` (or the preloaded one) and returns history.json's content. Throws
 * HistoryError (naming the file and the fix) when the database cannot be opened or written.
 */
export async function recordAndDescribe(file: string, rec: RunRecord, preload?: HistoryPreload): Promise<HistoryJson> {
  if (!preload) await fs.mkdir(path.dirname(file), { recursive: true }).catch(() => undefined);
  const db = preload?.db ?? openHistory(file);
  try {
    recordRun(db, rec);
    const tests: HistoryJson["tests"] = {};
    const recents =
      preload && !runsRecordedSince(db, preload.recent.newestRun, rec.runId)
        ? recentFromPreload(db, preload.recent, rec, HISTORY_RECENT)
        : recentResults(
            db,
            rec.tests.map((t) => t.id),
            HISTORY_RECENT,
          );
    for (const t of rec.tests) {
      const recent = recents.get(t.id) ?? [];
      const same = recent.filter((e) => e.buildKey !== undefined && e.buildKey === rec.buildKey);
      const flake = rec.buildKey ? flakeOf(t.id, rec.buildKey, same) : undefined;
      tests[t.id] = {
        recent: recent.map((e) => ({ runId: e.runId, time: e.time, status: e.status, ...(e.durationMs !== undefined ? { durationMs: e.durationMs } : {}) })),
        ...(same.length > 1 ? { flakeScore: flake?.score ?? 0 } : {}),
      };
    }
    return { version: HISTORY_JSON_VERSION, db: file, tests };
  } catch (e) {
    throw historyError(file, e);
  } finally {
    db.close();
  }
}

/** Writes history.json into a run directory. */
export async function writeHistoryJson(runDir: string, h: HistoryJson): Promise<void> {
  await writeFileAtomic(path.join(runDir, "history.json"), `${JSON.stringify(h, null, 2)}\n`);
}

/**
 * --baseline last-green: the newest run in the history that was green (exit 0) with the same test selection,
 * other than this one, whose run directory still holds results.json. Undefined when there is none.
 */
export async function findLastGreen(file: string, selection: string, exceptRunId?: string): Promise<{ runId: string; runDir: string } | undefined> {
  const db = openHistory(file);
  try {
    for (const r of greenRuns(db, selection, exceptRunId)) {
      if (!r.runDir) continue;
      const ok = await fs.stat(path.join(r.runDir, "results.json")).then(
        (s) => s.isFile(),
        () => false,
      );
      if (ok) return { runId: r.runId, runDir: r.runDir };
    }
    return undefined;
  } finally {
    db.close();
  }
}
