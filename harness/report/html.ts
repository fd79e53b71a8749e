// Pure: renders report.html, one self-contained page (data, script, styles and the chart library inline) from a
// run's results and, when present, its comparison and history. Nothing from the run is written into the markup:
// it travels as JSON in a non-executed script block, and the page's own script puts it on screen as text.

import { FAILING_STATUSES, type KernelEvent, type RunResult, type Status, type TestResult } from "../types.js";
import { listReportedTests, nothingPassed, runFailed } from "../results/index.js";
import { HTML_CLIENT_SCRIPT } from "./html-client.js";
import { HTML_STYLE } from "./html-style.js";

/** comparison.json as the report reads it (written by `kharness compare --json` and `run --baseline`). */
export interface HtmlComparison {
  version: number;
  base?: { runId?: string; path?: string; kernelRelease?: string };
  new?: { runId?: string; path?: string; kernelRelease?: string };
  verdict?: string;
  summary?: Record<string, number>;
  tests?: { id: string; class: string; base?: { status?: string; reason?: string }; new?: { status?: string; reason?: string }; note?: string }[];
  newKernelReports?: { kind: string; title: string; testId?: string }[];
}

/** history.json as the report reads it: each test's recent results, oldest first, this run included. */
export interface HtmlHistory {
  version: number;
  db?: string;
  tests: Record<string, { recent: { runId: string; time: string; status: string; durationMs?: number }[]; flakeScore?: number }>;
}

/** Everything renderHtmlReport needs; the caller reads the files. */
export interface HtmlReportInput {
  /** results.json, parsed. */
  results: RunResult;
  comparison?: HtmlComparison;
  history?: HtmlHistory;
  /** Things the page should say about its own making (e.g. an unreadable comparison.json). */
  notes?: string[];
  /** The chart library (uPlot's IIFE build and its stylesheet), inlined as they are. */
  assets: { chartJs: string; chartCss: string };
  /** The CSP nonce of the page's own script and style elements (base64; a fresh random value per page). */
  nonce: string;
  /** At most this many log lines in the page (default HTML_LOG_LINES_MAX). */
  maxLogLines?: number;
}

/** The page's Content-Security-Policy: nothing may load, only the page's own inline script and style run. */
export function htmlReportCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "img-src data:",
    "connect-src 'none'",
    "font-src 'none'",
    "media-src 'none'",
    "object-src 'none'",
    "frame-src 'none'",
    "worker-src 'none'",
    "manifest-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}

/**
 * JSON that is safe inside a `<script type="application/json">` element: `<`, `>` and `&` become \u escapes, so
 * no `</script>`, `<!--` or `]]>` in the data can end or change the element; U+2028/2029 are escaped too.
 */
export function escapeJsonForScript(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Statuses in the order the page lists them: failures first, the worst first. */
export const HTML_STATUS_ORDER: readonly Status[] = ["CRASH", "FAIL", "TIMEOUT", "ERROR", "XPASS", "XFAIL", "SKIP", "PASS"];

/** One summary entry as the page's script reads it (short keys: a 10,000-test page carries 10,000 of them). */
interface PageEntry {
  id: string;
  name: string;
  st: Status;
  r?: string;
  d?: number;
  s?: number;
  log: string[];
  ev: PageEvent[];
}

interface PageEvent {
  k: KernelEvent["kind"];
  t: string;
  l: string[];
  a?: number;
  tid?: string;
}

const pageEvent = (e: KernelEvent): PageEvent => ({ k: e.kind, t: e.title, l: e.lines ?? [], a: e.atMs, tid: e.testId });

/** Every kernel report of the run, wherever it is attached (for the timeline's marks). */
function allEvents(run: RunResult): PageEvent[] {
  const out = (run.kernelEvents ?? []).map(pageEvent);
  const work: TestResult[] = [...(run.tests ?? [])];
  while (work.length > 0) {
    const t = work.pop()!;
    for (const e of t.kernelEvents ?? []) out.push(pageEvent(e));
    for (const c of t.children ?? []) work.push(c);
  }
  return out.sort((x, y) => (x.a ?? Infinity) - (y.a ?? Infinity));
}

/** At most this many log lines go into one page (a 10,000-test run with long logs would be hundreds of MB). */
export const HTML_LOG_LINES_MAX = 200_000;

/**
 * Keeps the page's log lines within max: failing tests keep theirs first, then the others in report order; a
 * log that does not fit is replaced by one line saying so (results.json keeps every line).
 */
function cutLogs(entries: PageEntry[], max: number): void {
  let left = max;
  const failingFirst = [...entries].sort((a, b) => Number(FAILING_STATUSES.has(b.st)) - Number(FAILING_STATUSES.has(a.st)));
  for (const e of failingFirst) {
    if (e.log.length <= left) left -= e.log.length;
    else if (e.log.length > 0) e.log = [`[report.html: ${e.log.length} log lines left out to keep the page small; results.json has them]`];
  }
}

function verdictOf(run: RunResult): { text: string; cls: "pass" | "fail" | "none" | "untested" } {
  if (run.couldNotTest) return { text: "COULD NOT TEST", cls: "untested" };
  if (runFailed(run)) return { text: "FAILED", cls: "fail" };
  if (nothingPassed(run)) return { text: "NOTHING PASSED", cls: "none" };
  return { text: "PASSED", cls: "pass" };
}

/** The data block of the page: what the script shows, shaped for it. */
export function htmlReportData(input: Pick<HtmlReportInput, "results" | "comparison" | "history" | "notes" | "maxLogLines">): unknown {
  const run = input.results;
  const verdict = verdictOf(run);
  const entries: PageEntry[] = listReportedTests(run.tests ?? []).map((t) => ({
    id: t.id,
    name: t.name,
    st: t.status,
    r: t.reason,
    d: t.durationMs,
    s: t.startMs,
    log: t.log ?? [],
    ev: (t.kernelEvents ?? []).map(pageEvent),
  }));
  cutLogs(entries, input.maxLogLines ?? HTML_LOG_LINES_MAX);
  return {
    run: {
      verdict: verdict.text,
      verdictClass: verdict.cls,
      couldNotTest: run.couldNotTest?.reason,
      runId: run.runId,
      startedAt: run.startedAt,
      durationMs: run.durationMs,
      summary: run.summary,
      kernel: run.kernel,
      boot: run.boot,
      payloadBuild: run.payloadBuild,
    },
    entries,
    programs: (run.tests ?? []).map((t) => ({ id: t.id, st: t.status, s: t.startMs, d: t.durationMs })),
    runEvents: (run.kernelEvents ?? []).map(pageEvent),
    events: allEvents(run),
    stages: run.stages ?? [],
    diagnostics: run.diagnostics ?? [],
    comparison: input.comparison,
    history: input.history,
    notes: input.notes ?? [],
  };
}

/** An inline asset must not be able to end its own element early. */
function checkInline(text: string, element: "script" | "style", what: string): string {
  if (new RegExp(`</${element}`, "i").test(text)) throw new Error(`${what} contains "</${element}" and cannot be inlined`);
  return text;
}

/** Renders report.html: static markup, the data as escaped JSON, then uPlot and the page's script. */
export function renderHtmlReport(input: HtmlReportInput): string {
  const { nonce } = input;
  if (!/^[A-Za-z0-9+/=_-]{16,}$/.test(nonce)) throw new Error(`renderHtmlReport: nonce ${JSON.stringify(nonce)} is not base64 of 16 or more characters`);
  const data = escapeJsonForScript(JSON.stringify(htmlReportData(input)));
  const css = checkInline(`${input.assets.chartCss}\n${HTML_STYLE}`, "style", "the stylesheet");
  const chart = checkInline(input.assets.chartJs, "script", "the chart library");
  const script = checkInline(HTML_CLIENT_SCRIPT, "script", "the page script");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${htmlReportCsp(nonce)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kharness report</title>
<style nonce="${nonce}">
${css}
</style>
</head>
<body>
<header>
<h1>kharness report <span id="run-id"></span></h1>
<div id="verdict" class="verdict"></div>
<div id="counts" class="counts"></div>
<dl id="meta" class="meta"></dl>
</header>
<noscript><p>This page shows its data with JavaScript; results.json beside it holds the same data.</p></noscript>
<main>
<section id="notes" hidden><h2>Notes</h2><ul id="notes-list"></ul></section>
<section id="failures"><h2>Failures <span id="failures-count" class="dim"></span></h2><div id="failures-list"></div></section>
<section id="comparison" hidden><h2>Comparison with the baseline</h2><div id="comparison-body"></div></section>
<section id="timeline"><h2>Timeline</h2><div id="timeline-body"></div></section>
<section id="flaky" hidden><h2>Flaky in history</h2><div id="flaky-body"></div></section>
<section id="tests">
<h2>Tests</h2>
<div class="filters">
<div id="status-filter" class="status-filter" role="group" aria-label="Show statuses"></div>
<input id="filter-text" type="search" placeholder="Filter by id, name or reason" aria-label="Filter by text" autocomplete="off">
<span id="shown" class="dim"></span>
</div>
<div id="rows" class="rows" tabindex="0"><div id="rows-spacer" class="rows-spacer"></div><div id="rows-window" class="rows-window"></div></div>
</section>
<section id="detail" hidden><h2>Test <span id="detail-id"></span></h2><div id="detail-body"></div></section>
<section id="diagnostics" hidden><h2>Parser diagnostics</h2><ul id="diagnostics-list"></ul></section>
</main>
<script type="application/json" id="kh-data">${data}</script>
<script nonce="${nonce}">
${chart}
</script>
<script nonce="${nonce}">
${script}
</script>
</body>
</html>
`;
}
