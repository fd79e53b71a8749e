// The report.html renderer, pure: the CSP and nonces, no external reference, hostile names/logs/reports only
// inside the escaped JSON block (which parses back to the same text), and inline assets that cannot end early.
import t from "tap";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { escapeJsonForScript, htmlReportCsp, renderHtmlReport, type HtmlReportInput } from "./index.js";
import { parseLog } from "../results/index.js";
import type { RunResult } from "../types.js";

const testdata = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "results", "testdata");
const NONCE = "dGVzdC1ub25jZS0xMjM0NTY3OA==";
const ASSETS = { chartJs: "var uPlot = function () {};", chartCss: ".uplot { display: block; }" };

const HOSTILE = [
  "<script>window.__pwned=1</script>",
  '<img src="https://evil.example/x.png" onerror="window.__pwned=1">',
  "</textarea><!-- ]]> &amp; <style>",
  "</script><script src=//evil.example/x.js></script>",
];

/** A run whose names, reasons and log lines carry markup, plus a kernel panic report from a recorded log. */
function hostileRun(): RunResult {
  const ktap = [
    "KTAP version 1",
    "1..4",
    `# ${HOSTILE[0]}`,
    `not ok 1 ${HOSTILE[0]}`,
    `# ${HOSTILE[3]}`,
    `not ok 2 ${HOSTILE[1]}`,
    `ok 3 ${HOSTILE[2]} # SKIP ${HOSTILE[3]}`,
    "ok 4 plain",
  ].join("\n");
  const run = parseLog(`${ktap}\n`);
  const panic = parseLog(readFileSync(path.join(testdata, "panic-mid-test.log")));
  return {
    ...run,
    tests: [...run.tests, ...panic.tests],
    kernelEvents: [...run.kernelEvents, ...panic.kernelEvents],
    summary: {
      ...run.summary,
      ...Object.fromEntries(Object.entries(run.summary).map(([k, v]) => [k, v + (panic.summary as unknown as Record<string, number>)[k]!])),
    },
    runId: "<b>run</b>",
    kernel: { release: "6.12.0", source: "tree", patches: [`net: ${HOSTILE[0]}`, HOSTILE[1]!] },
  };
}

const input = (over: Partial<HtmlReportInput> = {}): HtmlReportInput => ({ results: hostileRun(), assets: ASSETS, nonce: NONCE, ...over });

/** The JSON data block's text, and the page with that block cut out (the markup the browser parses as HTML). */
function split(html: string): { json: string; markup: string } {
  const m = /<script type="application\/json" id="kh-data">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error("no data block");
  return { json: m[1]!, markup: html.slice(0, m.index) + html.slice(m.index + m[0].length) };
}

t.test("escapeJsonForScript: no <, >, & or line separators left, and it parses back to the same value", async (t) => {
  const value = { s: "</script><!--<script>&amp;]]>\u2028\u2029", list: HOSTILE };
  const out = escapeJsonForScript(JSON.stringify(value));
  t.notMatch(out, /[<>&\u2028\u2029]/, "no character that could end or change a script element");
  t.same(JSON.parse(out), value, "same value after JSON.parse");
});

t.test("a strict CSP comes first in head; the page's script and style carry its nonce", async (t) => {
  const html = renderHtmlReport(input());
  const csp = htmlReportCsp(NONCE);
  for (const d of [
    "default-src 'none'",
    "connect-src 'none'",
    "img-src data:",
    `script-src 'nonce-${NONCE}'`,
    `style-src 'nonce-${NONCE}'`,
    "base-uri 'none'",
    "form-action 'none'",
  ])
    t.ok(csp.split("; ").includes(d), `the policy has ${d}`);
  t.notMatch(csp, /unsafe-inline|unsafe-eval|\*|https?:/, "no unsafe-inline, unsafe-eval, wildcard or host source");
  const head = html.slice(0, html.indexOf("</head>"));
  t.ok(head.indexOf(`<meta http-equiv="Content-Security-Policy" content="${csp}">`) >= 0, "the CSP meta tag is in head");
  t.ok(head.indexOf("Content-Security-Policy") < head.indexOf("<style"), "before any style");
  const { markup } = split(html);
  const scripts = markup.match(/<script\b[^>]*>/g) ?? [];
  t.same(scripts, [`<script nonce="${NONCE}">`, `<script nonce="${NONCE}">`], "every executable script has the nonce (uPlot, the page script)");
  t.same(markup.match(/<style\b[^>]*>/g), [`<style nonce="${NONCE}">`], "the one style element has the nonce");
  t.notMatch(markup, /\sstyle\s*=/i, "no style attribute (the CSP would block it)");
  t.notMatch(markup, /\son[a-z]+\s*=/i, "no inline event handler attribute");
});

t.test("no external reference: no http(s) or protocol-relative src/href, no url(), no @import", async (t) => {
  const { markup } = split(renderHtmlReport(input()));
  t.notMatch(markup, /\b(?:src|href|action|xlink:href)\s*=\s*["']?\s*(?:https?:)?\/\//i, "no src/href to http(s):// or //");
  t.notMatch(markup, /\bsrc\s*=/i, "no src attribute at all");
  t.notMatch(markup, /url\(\s*["']?\s*(?:https?:)?\/\//i, "no url() to the network");
  t.notMatch(markup, /@import/i, "no @import");
  t.notMatch(markup, /<link\b/i, "no <link>");
});

t.test("hostile names, reasons, logs and kernel reports exist only as escaped JSON text", async (t) => {
  const run = hostileRun();
  const html = renderHtmlReport(input({ results: run }));
  const { json, markup } = split(html);
  t.notMatch(json, /[<>&]/, "the data block has no raw <, > or &");
  for (const h of HOSTILE) t.notOk(markup.includes(h), `the markup does not contain ${JSON.stringify(h)}`);
  t.notMatch(markup, /__pwned|evil\.example|<img|<textarea/i, "nothing of the data leaked into the markup");
  const data = JSON.parse(json) as {
    run: { runId: string; verdict: string; kernel: { patches: string[] } };
    entries: { id: string; name: string; r?: string; log: string[]; ev: { t: string }[] }[];
  };
  t.equal(data.run.runId, "<b>run</b>", "the run id travels as data");
  t.same(data.run.kernel.patches, [`net: ${HOSTILE[0]}`, HOSTILE[1]], "patch subjects travel as data, exactly");
  t.equal(data.run.verdict, "FAILED", "verdict");
  const names = data.entries.map((e) => e.name);
  for (const h of HOSTILE.slice(0, 3)) t.ok(names.includes(h), `the name ${JSON.stringify(h)} is kept exactly`);
  t.ok(
    data.entries.some((e) => e.r === HOSTILE[3]),
    "a reason with markup is kept exactly",
  );
  t.ok(
    data.entries.some((e) => e.log.includes(`# ${HOSTILE[3]}`) || e.log.includes(HOSTILE[3]!)),
    "a log line with markup is kept",
  );
  t.ok(
    data.entries.some((e) => e.ev.some((ev) => /Kernel panic|BUG|Oops/.test(ev.t))),
    "the recorded panic's kernel report is attached to its test",
  );
});

t.test("comparison and history travel in the data block; notes too", async (t) => {
  const comparison = { version: 1, verdict: "regressed", tests: [{ id: "a.b", class: "regression", new: { status: "FAIL", reason: "</script>" } }] };
  const history = { version: 1, tests: { "a.b": { recent: [{ runId: "r1", time: "2026-01-01T00:00:00Z", status: "PASS", durationMs: 3 }] } } };
  const { json, markup } = split(renderHtmlReport(input({ comparison, history, notes: ["history.json is not valid JSON"] })));
  const data = JSON.parse(json) as { comparison: unknown; history: unknown; notes: string[] };
  t.same(data.comparison, comparison);
  t.same(data.history, history);
  t.same(data.notes, ["history.json is not valid JSON"]);
  t.notOk(markup.includes('</script>"'), "nothing of them in the markup");
});

t.test("a run without tests, without times, without anything optional still renders", async (t) => {
  const run = parseLog("");
  const { json } = split(renderHtmlReport(input({ results: run })));
  const data = JSON.parse(json) as { entries: unknown[]; stages: unknown[]; run: { verdict: string } };
  t.equal(data.entries.length, run.summary.total, "one entry per summary entry");
  t.same(data.stages, []);
  t.equal(data.run.verdict, run.couldNotTest ? "COULD NOT TEST" : "FAILED", "a run with no test output never shows PASSED");
});

t.test("bad nonce and an asset that would end its element early are refused", async (t) => {
  t.throws(() => renderHtmlReport(input({ nonce: 'x" onload="1' })), /nonce/);
  t.throws(() => renderHtmlReport(input({ assets: { ...ASSETS, chartJs: "a='</script>'" } })), /chart library contains "<\/script"/);
  t.throws(() => renderHtmlReport(input({ assets: { ...ASSETS, chartCss: "</STYLE>" } })), /stylesheet contains "<\/style"/);
});

t.test("the page's log lines are bounded: failing tests keep theirs first, a cut log says where the rest is", async (t) => {
  const lines = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `${tag} ${i}`);
  const run = parseLog("KTAP version 1\n1..3\nok 1 a\nok 2 b\nnot ok 3 c\n");
  const [a, b, c] = run.tests;
  a!.log = lines(30, "a");
  b!.log = lines(30, "b");
  c!.log = lines(30, "c");
  const { json } = split(renderHtmlReport(input({ results: run, maxLogLines: 65 })));
  const data = JSON.parse(json) as { entries: { id: string; log: string[] }[] };
  const log = (id: string) => data.entries.find((e) => e.id === id)?.log;
  t.same(log("c"), lines(30, "c"), "the failing test keeps its whole log");
  t.same(log("a"), lines(30, "a"), "then the first passing test");
  t.same(log("b"), ["[report.html: 30 log lines left out to keep the page small; results.json has them]"], "the one that does not fit says so");
});
