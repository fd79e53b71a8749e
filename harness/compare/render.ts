// Pure: a Comparison -> terminal text, Markdown (a CI job summary or a mailing-list reply), JSON.

import type { CompareClass, ComparedTest, Comparison } from "./classify.js";

/** Sections in the order a reader wants them: what broke first. */
const SECTIONS: { cls: CompareClass; title: string }[] = [
  { cls: "regression", title: "Regressions" },
  { cls: "missing", title: "Missing (in the base, not in this run)" },
  { cls: "flaky", title: "Flaky (status flipped, but the test flips in history too)" },
  { cls: "fix", title: "Fixes" },
  { cls: "new", title: "New tests" },
  { cls: "still-failing", title: "Still failing" },
  { cls: "skip-reason-changed", title: "Changed skips (different reason, or SKIP <-> PASS)" },
];

const sideText = (s: ComparedTest["base"]) => (s ? `${s.status}${s.reason ? ` (${s.reason})` : ""}` : "-");

function line(t: ComparedTest): string {
  if (t.class === "new") return `${t.id}: ${sideText(t.new)}`;
  if (t.class === "missing") return `${t.id}: was ${sideText(t.base)}`;
  return `${t.id}: ${sideText(t.base)} -> ${sideText(t.new)}${t.class === "flaky" && t.note ? `; ${t.note.replace(/^[^,]*, but /, "")}` : ""}`;
}

function countsLine(c: Comparison): string {
  const s = c.summary;
  return [
    `${s.regression} regression${s.regression === 1 ? "" : "s"}`,
    `${s.missing} missing`,
    `${s.newKernelReports} new kernel report${s.newKernelReports === 1 ? "" : "s"}`,
    `${s.flaky} flaky`,
    `${s.fix} fixed`,
    `${s.new} new`,
    `${s.stillFailing} still failing`,
    `${s.skipReasonChanged} changed skip${s.skipReasonChanged === 1 ? "" : "s"}`,
    `${s.unchanged} unchanged`,
  ].join(", ");
}

/** How a run is named in a heading: its id and kernel. */
const runName = (r: Comparison["base"]) => `${r.runId}${r.kernelRelease ? ` (${r.kernelRelease})` : ""}`;

/** The terminal view: verdict, counts, then each non-empty section (long sections are cut at `max` lines). */
export function renderComparisonTerminal(c: Comparison, opts: { color?: boolean; max?: number } = {}): string {
  const max = opts.max ?? 50;
  const paint = (code: number, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const out: string[] = [];
  out.push(`compare: base ${runName(c.base)} -> new ${runName(c.new)}`);
  out.push(c.verdict === "regressed" ? paint(31, `REGRESSED: ${countsLine(c)}`) : paint(32, `CLEAN: ${countsLine(c)}`));
  for (const { cls, title } of SECTIONS) {
    const ts = c.tests.filter((t) => t.class === cls);
    if (!ts.length) continue;
    out.push("", `${title} (${ts.length}):`);
    for (const t of ts.slice(0, max)) out.push(`  ${line(t)}`);
    if (ts.length > max) out.push(`  ... and ${ts.length - max} more (--json lists all)`);
  }
  if (c.newKernelReports.length) {
    out.push("", `New kernel reports (${c.newKernelReports.length}):`);
    for (const k of c.newKernelReports) out.push(`  ${k.kind}: ${k.title}${k.testId ? ` (during ${k.testId})` : ""}`);
  }
  return `${out.join("\n")}\n`;
}

/** Markdown text is hostile input (test names, reasons): escape what would turn into markup or HTML. */
function md(s: string): string {
  return s.replace(/[\\`*_[\]|<>&~]/g, (ch) => (ch === "<" ? "&lt;" : ch === ">" ? "&gt;" : ch === "&" ? "&amp;" : `\\${ch}`));
}

/** Markdown for a CI job summary ($GITHUB_STEP_SUMMARY) or a mailing-list reply: plain enough to read as text. */
export function renderComparisonMarkdown(c: Comparison, opts: { max?: number } = {}): string {
  const max = opts.max ?? 200;
  const out: string[] = [];
  out.push(`### kharness: ${c.verdict === "regressed" ? "REGRESSED" : "clean"}`, "");
  out.push(`Base ${md(runName(c.base))}, new ${md(runName(c.new))}.`, "");
  out.push(md(countsLine(c)), "");
  for (const { cls, title } of SECTIONS) {
    const ts = c.tests.filter((t) => t.class === cls);
    if (!ts.length) continue;
    out.push(`#### ${md(title)}: ${ts.length}`, "");
    for (const t of ts.slice(0, max)) out.push(`- ${md(line(t).replaceAll(" -> ", " → "))}`);
    if (ts.length > max) out.push(`- ... and ${ts.length - max} more`);
    out.push("");
  }
  if (c.newKernelReports.length) {
    out.push(`#### New kernel reports: ${c.newKernelReports.length}`, "");
    for (const k of c.newKernelReports) out.push(`- ${md(`${k.kind}: ${k.title}${k.testId ? ` (during ${k.testId})` : ""}`)}`);
    out.push("");
  }
  return `${out.join("\n")}\n`;
}

/** comparison.json (docs/nightly.md). */
export function renderComparisonJson(c: Comparison): string {
  return `${JSON.stringify(c, null, 2)}\n`;
}
