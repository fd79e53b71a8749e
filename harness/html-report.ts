// Writes report.html into a run directory (and `kharness report RUN_DIR`): reads results.json and, when present,
// comparison.json and history.json, inlines uPlot from node_modules, renders with the pure renderHtmlReport.

import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { UsageError } from "./errors.js";
import { writeFileAtomic } from "./exec/cache.js";
import { REPO_ROOT } from "./repo-root.js";
import { renderHtmlReport, type HtmlComparison, type HtmlHistory } from "./report/index.js";
import type { RunResult } from "./types.js";

/** The chart library's files, inlined into every report.html (package.json pins uplot). */
export const UPLOT_FILES = { js: "node_modules/uplot/dist/uPlot.iife.min.js", css: "node_modules/uplot/dist/uPlot.min.css" } as const;

/** uPlot's script and stylesheet, from the checkout's node_modules (the sources and dist/ share it). */
export async function readChartAssets(repoRoot: string = REPO_ROOT): Promise<{ chartJs: string; chartCss: string }> {
  const read = (rel: string) =>
    fs.readFile(path.join(repoRoot, rel), "utf8").catch((e: NodeJS.ErrnoException) => {
      throw new Error(`report.html needs ${path.join(repoRoot, rel)} (${e.code ?? e.message}); run \`npm ci\` in ${repoRoot}`, { cause: e });
    });
  const [chartJs, chartCss] = await Promise.all([read(UPLOT_FILES.js), read(UPLOT_FILES.css)]);
  return { chartJs, chartCss };
}

/** An optional JSON file of the run directory: absent is fine, unreadable becomes a note on the page. */
async function readOptional<T>(file: string, check: (v: unknown) => v is T, notes: string[]): Promise<T | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    notes.push(`${path.basename(file)} could not be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return undefined;
  }
  try {
    const v: unknown = JSON.parse(text);
    if (check(v)) return v;
    notes.push(`${path.basename(file)} is not in the expected form (version 1), so it is not shown`);
  } catch (e) {
    notes.push(`${path.basename(file)} is not valid JSON (${(e as Error).message}), so it is not shown`);
  }
  return undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isComparison = (v: unknown): v is HtmlComparison => isObject(v) && v.version === 1 && (v.tests === undefined || Array.isArray(v.tests));
const isHistory = (v: unknown): v is HtmlHistory => isObject(v) && v.version === 1 && isObject(v.tests);

/**
 * (Re)writes RUN_DIR/report.html atomically from RUN_DIR/results.json, plus comparison.json and history.json when
 * they are there. Whoever writes one of those afterwards calls this again. `history`: the history.json just
 * written, as an object (not read back and parsed again: about 0.9 MB for the bundled suite).
 */
export async function writeHtmlReport(runDir: string, opts: { repoRoot?: string; history?: HtmlHistory } = {}): Promise<string> {
  const resultsFile = path.join(runDir, "results.json");
  let results: RunResult;
  try {
    results = JSON.parse(await fs.readFile(resultsFile, "utf8")) as RunResult;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`report: ${resultsFile}: ${code === "ENOENT" ? "no such file" : (code ?? `not valid JSON (${(e as Error).message})`)}`, {
      fix: "give a run directory that holds results.json (kharness-out/latest, or the --out of a run); `kharness parse RUN_DIR --json-out RUN_DIR/results.json` makes one from its logs",
      cause: e,
    });
  }
  if (!isObject(results) || !Array.isArray(results.tests) || !isObject(results.summary))
    throw new UsageError(`report: ${resultsFile}: not a kharness results.json (no tests or summary)`, { fix: "see docs/results-schema.md" });
  const notes: string[] = [];
  const [comparison, history, assets] = await Promise.all([
    readOptional(path.join(runDir, "comparison.json"), isComparison, notes),
    opts.history ?? readOptional(path.join(runDir, "history.json"), isHistory, notes),
    readChartAssets(opts.repoRoot),
  ]);
  const html = renderHtmlReport({ results, comparison, history, notes, assets, nonce: randomBytes(18).toString("base64") });
  const out = path.join(runDir, "report.html");
  await writeFileAtomic(out, html);
  return out;
}

/** `kharness report RUN_DIR`: regenerates report.html; returns its path. Bad input is a UsageError (exit 2). */
export async function runReportCommand(runDir: string): Promise<string> {
  const dir = path.resolve(runDir);
  const st = await fs.stat(dir).catch(() => undefined);
  if (!st?.isDirectory())
    throw new UsageError(`report ${runDir}: ${st ? "not a directory" : "no such directory"}`, { fix: "give a run directory, e.g. kharness-out/latest" });
  return writeHtmlReport(dir);
}
