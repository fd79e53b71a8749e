// Renders a run as JUnit XML for Jenkins and GitLab: one testsuite per top-level test, one testcase per leaf.

import type { RunResult, TestResult } from "../types.js";
import { listReportedTests } from "../results/index.js";
import { escapeXml } from "./xml.js";

/** Lines of a test's log put in system-out; the JSON report has the rest. */
const MAX_OUT_LINES = 500;

function splitId(id: string): { classname: string; name: string } {
  const dot = id.lastIndexOf(".");
  return dot === -1 ? { classname: "kharness", name: id } : { classname: id.slice(0, dot), name: id.slice(dot + 1) };
}

/** JUnit's `time` attribute: seconds with millisecond precision; absent when the duration was not measured. */
function timeAttr(ms: number | undefined): string {
  return ms !== undefined ? ` time="${(ms / 1000).toFixed(3)}"` : "";
}

/**
 * A suite's time: its top-level test's own measure (its program ran from start to end marker), else the sum of
 * its cases when every one was measured; never a sum that leaves some out.
 */
function suiteMs(top: TestResult, cases: readonly TestResult[]): number | undefined {
  if (top.durationMs !== undefined) return top.durationMs;
  let sum = 0;
  for (const c of cases) {
    if (c.durationMs === undefined) return undefined;
    sum += c.durationMs;
  }
  return sum;
}

function renderCase(t: TestResult): string {
  const { classname, name } = splitId(t.id);
  const time = timeAttr(t.durationMs);
  const body: string[] = [];
  const message = escapeXml(t.reason ?? t.status);
  switch (t.status) {
    case "FAIL":
    case "XPASS":
    case "TIMEOUT":
      body.push(`      <failure type="${t.status}" message="${message}">${escapeXml(`${t.status}: ${t.reason ?? ""}`)}</failure>`);
      break;
    case "CRASH":
    case "ERROR":
      body.push(`      <error type="${t.status}" message="${message}">${escapeXml(`${t.status}: ${t.reason ?? ""}`)}</error>`);
      break;
    case "SKIP":
      body.push(`      <skipped message="${message}"/>`);
      break;
    default:
      break;
  }
  const out: string[] = [];
  if (t.status === "XFAIL") out.push(`[kharness] expected failure (XFAIL)${t.reason ? `: ${t.reason}` : ""}`);
  out.push(...t.log.slice(-MAX_OUT_LINES));
  for (const e of t.kernelEvents) out.push(`[kernel ${e.kind}] ${e.title}`, ...e.lines.map((l) => `  ${l}`));
  if (out.length > 0) body.push(`      <system-out>${escapeXml(out.join("\n"))}</system-out>`);
  const open = `    <testcase classname="${escapeXml(classname)}" name="${escapeXml(name)}"${time}`;
  return body.length === 0 ? `${open}/>` : `${open}>\n${body.join("\n")}\n    </testcase>`;
}

/**
 * Kernel reports attached to tests that are not testcases here (a program whose cases are the testcases,
 * e.g. a WARN during a program that still passed): the suite's own system-out, so JUnit readers see them.
 */
function suiteKernelReports(top: TestResult, rendered: ReadonlySet<TestResult>): string {
  const out: string[] = [];
  const walk = (t: TestResult): void => {
    if (!rendered.has(t)) for (const e of t.kernelEvents) out.push(`[kernel ${e.kind}] during ${t.id}: ${e.title}`, ...e.lines.map((l) => `  ${l}`));
    t.children.forEach(walk);
  };
  walk(top);
  return out.length ? `\n    <system-out>${escapeXml(out.join("\n"))}</system-out>` : "";
}

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

function count(cases: TestResult[]): Counts {
  const c: Counts = { tests: cases.length, failures: 0, errors: 0, skipped: 0 };
  for (const t of cases) {
    if (t.status === "FAIL" || t.status === "XPASS" || t.status === "TIMEOUT") c.failures++;
    else if (t.status === "CRASH" || t.status === "ERROR") c.errors++;
    else if (t.status === "SKIP") c.skipped++;
  }
  return c;
}

/** Renders JUnit XML: names and logs escaped, XML-forbidden characters removed, classname from the id prefix. */
export function renderJunit(run: RunResult): string {
  const suites: string[] = [];
  const total: Counts = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  // When the run started (ISO 8601, UTC); suites carry it too, as Jenkins and GitLab read it there.
  const stamp = run.startedAt ? ` timestamp="${escapeXml(run.startedAt)}"` : "";
  let suitesMs: number | undefined = 0;
  for (const top of run.tests) {
    const cases = listReportedTests([top]);
    const c = count(cases);
    total.tests += c.tests;
    total.failures += c.failures;
    total.errors += c.errors;
    total.skipped += c.skipped;
    const ms = suiteMs(top, cases);
    suitesMs = ms !== undefined && suitesMs !== undefined ? suitesMs + ms : undefined;
    suites.push(
      `  <testsuite name="${escapeXml(top.id)}" tests="${c.tests}" failures="${c.failures}" errors="${c.errors}" skipped="${c.skipped}"${timeAttr(ms)}${stamp}>\n` +
        cases.map(renderCase).join("\n") +
        suiteKernelReports(top, new Set(cases)) +
        `\n  </testsuite>`,
    );
  }
  const name = escapeXml(run.runId ? `kharness ${run.runId}` : "kharness");
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites name="${name}" tests="${total.tests}" failures="${total.failures}" errors="${total.errors}" skipped="${total.skipped}"${timeAttr(run.durationMs ?? suitesMs)}${stamp}>\n` +
    suites.join("\n") +
    (suites.length ? "\n" : "") +
    `</testsuites>\n`
  );
}
