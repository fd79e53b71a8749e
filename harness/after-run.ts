// What follows a finished run when asked: record it in the history (history.json), and compare it with a
// baseline (comparison.json). Neither changes the run's own results; problems come back as warnings.

import * as path from "node:path";
import { compareRuns, type Comparison, type FlakeInfo } from "./compare/classify.js";
import { loadRunForCompare } from "./compare/load.js";
import { writeFileAtomic } from "./exec/cache.js";
import { writeHtmlReport } from "./html-report.js";
import { findFlakes, HistoryError, historyError, openHistory } from "./history/db.js";
import {
  findLastGreen,
  historyPath,
  kernelInputOf,
  makeRunRecord,
  preloadHistory,
  recordAndDescribe,
  selectionKey,
  writeHistoryJson,
  type HistoryJson,
  type HistoryPreload,
  type KernelInput,
} from "./history/record.js";
import { renderComparisonJson } from "./compare/render.js";
import type { RunRequest, RunResult } from "./types.js";

/** A problem after the run that does not change its results or exit code: one line, with the fix. */
export interface AfterRunWarning {
  message: string;
  fix: string;
}

const warn = (e: unknown): AfterRunWarning =>
  e instanceof HistoryError ? { message: e.message, fix: e.fix } : { message: (e as Error)?.message ?? String(e), fix: "see the message" };

/**
 * The history a run will be recorded in, opened and read while its guest runs (see preloadHistory); undefined when
 * the history is off or cannot be opened (recording then opens it again and says why).
 */
export async function preloadRunHistory(
  cacheRoot: string,
  history: { off: true } | { off: false; path?: string },
  programs: readonly string[],
): Promise<HistoryPreload | undefined> {
  if (history.off) return undefined;
  return preloadHistory(historyPath(cacheRoot, history.path), programs).catch(() => undefined);
}

/** Records a run (history.json in its directory, also returned); a HistoryError or write error becomes a warning. */
export async function recordInHistory(
  db: string,
  run: RunResult,
  ctx: {
    runDir: string;
    req: RunRequest;
    cacheRoot: string;
    kernel: KernelInput;
    repeatGroup?: string;
    repeatIndex?: number;
    /** The same database, opened and read during the boot (preloadRunHistory); closed here. */
    preload?: HistoryPreload;
  },
): Promise<{ warning?: AfterRunWarning; history?: HistoryJson }> {
  const preload = ctx.preload?.file === db ? ctx.preload : undefined;
  if (ctx.preload && !preload) ctx.preload.db.close();
  try {
    const input = await kernelInputOf(run, ctx.runDir, ctx.cacheRoot, ctx.kernel);
    const rec = makeRunRecord(run, {
      runDir: ctx.runDir,
      selection: selectionKey(ctx.req),
      input,
      ...(ctx.repeatGroup !== undefined ? { repeatGroup: ctx.repeatGroup, repeatIndex: ctx.repeatIndex } : {}),
    });
    const h = await recordAndDescribe(db, rec, preload);
    await writeHistoryJson(ctx.runDir, h);
    return { history: h };
  } catch (e) {
    return { warning: warn(e) };
  } finally {
    if (preload?.db.open) preload.db.close();
  }
}

/** The flake scores the history knows for some tests (empty when there is no usable history). */
export function flakyTests(db: string | undefined, tests?: readonly string[]): Map<string, FlakeInfo> {
  const out = new Map<string, FlakeInfo>();
  if (!db) return out;
  let h: ReturnType<typeof openHistory> | undefined;
  try {
    h = openHistory(db, { readonly: true });
    for (const f of findFlakes(h, tests ? { tests } : {})) {
      const prev = out.get(f.id);
      if (!prev || prev.score < f.score) out.set(f.id, { score: f.score, runs: f.runs, flips: f.flips });
    }
  } catch {
    // No history (yet) or an unreadable one: nothing is known to be flaky. Recording says why, once.
  } finally {
    h?.close();
  }
  return out;
}

/** Resolves --baseline: a run directory (or results.json) as given, or last-green from the history. */
export async function resolveBaseline(
  baseline: string,
  ctx: { db?: string; req: RunRequest; runId?: string },
): Promise<{ path?: string; warning?: AfterRunWarning }> {
  if (baseline !== "last-green") return { path: baseline };
  if (!ctx.db)
    return { warning: { message: "--baseline last-green: no history to find it in (--no-history)", fix: "drop --no-history, or pass --baseline RUN_DIR" } };
  try {
    const g = await findLastGreen(ctx.db, selectionKey(ctx.req), ctx.runId);
    if (!g)
      return {
        warning: {
          message: `--baseline last-green: no green run with the same test selection in ${ctx.db}; nothing compared`,
          fix: "this is expected on the first night; a green run becomes the baseline of the next",
        },
      };
    return { path: g.runDir };
  } catch (e) {
    return { warning: warn(historyError(ctx.db, e)) };
  }
}

/** Compares the run with its baseline and writes comparison.json into the run directory. */
export async function compareWithBaseline(baselinePath: string, runDir: string, db: string | undefined): Promise<Comparison> {
  const base = await loadRunForCompare(baselinePath, "--baseline");
  const next = await loadRunForCompare(runDir, "run");
  const c = compareRuns(base.run, next.run, { base: base.ref, new: next.ref }, { flaky: flakyTests(db) });
  await writeFileAtomic(path.join(runDir, "comparison.json"), renderComparisonJson(c));
  return c;
}

/** What the steps after a run produced: the comparison (when a baseline was compared) and warnings. */
export interface AfterRun {
  comparison?: Comparison;
  warnings: AfterRunWarning[];
}

/**
 * After a finished run: record it in the history (unless off) and write history.json, then compare it with its
 * --baseline and write comparison.json. Never throws: problems are warnings and the run's files stay as they are.
 */
export async function afterRunSteps(
  run: RunResult,
  ctx: {
    runDir: string;
    req: RunRequest;
    cacheRoot: string;
    history: { off: true } | { off: false; path?: string };
    kernel: KernelInput;
    repeatGroup?: string;
    repeatIndex?: number;
    /** The run's report.html is not written yet (the pipeline left it to this step): write it in any case. */
    htmlReport?: boolean;
    /** The history, opened and read during the boot (preloadRunHistory). */
    preload?: HistoryPreload;
  },
): Promise<AfterRun> {
  const warnings: AfterRunWarning[] = [];
  const db = ctx.history.off ? undefined : historyPath(ctx.cacheRoot, ctx.history.path);
  // last-green is looked up before this run is recorded, so a green run never becomes its own baseline.
  const baseline = ctx.req.baseline !== undefined ? await resolveBaseline(ctx.req.baseline, { db, req: ctx.req, runId: run.runId }) : undefined;
  if (baseline?.warning) warnings.push(baseline.warning);
  if (!db) ctx.preload?.db.close();
  const recorded = db ? await recordInHistory(db, run, ctx) : {};
  if (recorded.warning) warnings.push(recorded.warning);
  let comparison: Comparison | undefined;
  if (baseline?.path) {
    try {
      comparison = await compareWithBaseline(baseline.path, ctx.runDir, db);
    } catch (e) {
      warnings.push({
        message: `--baseline ${baseline.path}: ${(e as Error).message}`,
        fix: (e as { fix?: string }).fix ?? "pass a run directory that holds results.json",
      });
    }
  }
  // report.html shows the history strip and the comparison: written (again) now that they exist.
  if (db || comparison || ctx.htmlReport)
    await writeHtmlReport(ctx.runDir, recorded.history ? { history: recorded.history } : {}).catch((e: unknown) =>
      warnings.push({ message: `report.html in ${ctx.runDir}: ${(e as Error).message}`, fix: "`kharness report RUN_DIR` writes it again" }),
    );
  return { ...(comparison ? { comparison } : {}), warnings };
}
