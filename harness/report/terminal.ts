// Renders a run as the terminal summary: counts per status, then each failing test with its reason, log tail and kernel reports.

import type { RunResult, Status, TestResult } from "../types.js";
import { listReportedTests, nothingPassed, runFailed } from "../results/index.js";

/** Log lines shown per failing test (the tail, where the failure usually is). */
const LOG_TAIL = 20;
/** Failing tests listed in full; the rest are named only. */
const MAX_DETAILED = 50;

const COLOR: Record<Status, string> = {
  PASS: "32",
  XFAIL: "32",
  SKIP: "33",
  FAIL: "31",
  XPASS: "31",
  TIMEOUT: "31",
  CRASH: "1;31",
  ERROR: "35",
};

/** Why a report outside every test did not fail the run, per kind. */
const WARN_HINT: Partial<Record<TestResult["kernelEvents"][number]["kind"], string>> = {
  warning: "not a failure without --fail-on-warn",
  lockdep: "not a failure without --fail-on-warn",
};

/** Options of renderTerminal. */
export interface TerminalOptions {
  /** Use ANSI colours. */
  color: boolean;
}

/** Renders the human summary printed at the end of `kharness run` and `kharness parse`. */
export function renderTerminal(run: RunResult, opts: TerminalOptions): string {
  const paint = (code: string, text: string): string => (opts.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const out: string[] = [];
  const s = run.summary;
  const reported = listReportedTests(run.tests);
  const failing = reported.filter((t) => t.status !== "PASS" && t.status !== "XFAIL" && t.status !== "SKIP");
  out.push(...renderPrograms(run.tests, paint));
  out.push(
    ...renderSkips(
      reported.filter((t) => t.status === "SKIP"),
      paint,
    ),
  );
  failing.slice(0, MAX_DETAILED).forEach((t) => out.push(...renderFailure(t, paint)));
  if (failing.length > MAX_DETAILED) out.push(`... and ${failing.length - MAX_DETAILED} more failing tests (see results.json)`, "");
  // Kernel reports attached to tests not detailed above (a test that still passed without --fail-on-warn, or a
  // program whose cases are what is listed): easy to miss, so each is named here.
  const detailed = new Set(failing.slice(0, MAX_DETAILED));
  const walk = (ts: readonly TestResult[]): void =>
    ts.forEach((t) => {
      if (!detailed.has(t)) for (const e of t.kernelEvents) out.push(paint("33", `kernel ${e.kind} during ${t.id} (${t.status}): ${e.title}`));
      walk(t.children);
    });
  walk(run.tests);
  // Reports outside every test that fail the run are the `kernel` entry's, listed above; what is left here did not fail it.
  for (const e of run.kernelEvents) out.push(paint("33", `kernel ${e.kind} outside any test (${WARN_HINT[e.kind] ?? "shown only"}): ${e.title}`));
  for (const d of run.diagnostics.filter((d) => d.level !== "info").slice(0, 20)) out.push(`${d.level}: ${d.message}${d.where ? ` [${d.where}]` : ""}`);
  const parts: string[] = [];
  const entries: [Status, number][] = [
    ["PASS", s.pass],
    ["FAIL", s.fail],
    ["SKIP", s.skip],
    ["XFAIL", s.xfail],
    ["XPASS", s.xpass],
    ["TIMEOUT", s.timeout],
    ["CRASH", s.crash],
    ["ERROR", s.error],
  ];
  for (const [st, n] of entries) if (n > 0 || st === "PASS" || st === "FAIL") parts.push(paint(COLOR[st], `${st.toLowerCase()} ${n}`));
  const failed = runFailed(run);
  // Nothing failed, but nothing passed either (every test skipped): a run that verified nothing must not read as green.
  const verdict = failed ? paint("1;31", "FAILED") : nothingPassed(run) ? paint("1;33", "NOTHING PASSED") : paint("1;32", "PASSED");
  const note = !failed && nothingPassed(run) ? `: no test passed (${s.skip === s.total ? "every test was skipped" : "none ran to a pass"})` : "";
  out.push(`${verdict}: ${parts.join(", ")} (total ${s.total})${note}`);
  // A test-only build of the selftests tests the tests, not the kernel: said under the verdict, every time.
  const defines = run.payloadBuild?.selftestDefines ?? [];
  if (defines.length)
    out.push(paint("1;35", `TEST-ONLY SELFTEST BUILD (--selftest-define ${defines.join(" ")}): these verdicts check the selftests, not the kernel`));
  return out.join("\n") + "\n";
}

function renderFailure(t: TestResult, paint: (code: string, text: string) => string): string[] {
  const lines = [`${paint(COLOR[t.status], t.status.padEnd(7))} ${t.id}${t.reason ? `: ${t.reason}` : ""}`];
  const tail = t.log.slice(-LOG_TAIL);
  if (t.log.length > tail.length) lines.push(`    ... ${t.log.length - tail.length} earlier log lines in results.json`);
  for (const l of tail) lines.push(`    | ${l}`);
  for (const e of t.kernelEvents) lines.push(`    kernel ${e.kind}: ${e.title}`);
  lines.push("");
  return lines;
}

/** One line per program (top-level test): its leaf counts, so a developer sees where the failures are. */
function renderPrograms(tests: readonly TestResult[], paint: (code: string, text: string) => string): string[] {
  if (tests.length < 2) return [];
  const width = Math.min(48, Math.max(...tests.map((t) => t.id.length)));
  const lines = tests.map((t) => {
    const counts = new Map<Status, number>();
    for (const leaf of listReportedTests([t])) counts.set(leaf.status, (counts.get(leaf.status) ?? 0) + 1);
    const parts = [...counts].map(([st, n]) => paint(COLOR[st], `${st.toLowerCase()} ${n}`));
    return `  ${t.id.padEnd(width)}  ${parts.join(", ")}`;
  });
  return [...lines, ""];
}

/** Skipped tests grouped by reason: the reason is what a developer needs, not 86 identical lines. */
function renderSkips(skipped: readonly TestResult[], paint: (code: string, text: string) => string): string[] {
  if (skipped.length === 0) return [];
  const byReason = new Map<string, string[]>();
  for (const t of skipped) {
    const r = t.reason ?? "(no reason given)";
    byReason.set(r, [...(byReason.get(r) ?? []), t.id]);
  }
  const lines: string[] = [];
  for (const [reason, ids] of byReason) {
    const shown = ids.length <= 3 ? ids.join(", ") : `${ids.slice(0, 2).join(", ")} and ${ids.length - 2} more`;
    lines.push(`${paint(COLOR.SKIP, "SKIP".padEnd(7))} ${ids.length} ${ids.length === 1 ? "test" : "tests"}: ${reason}`, `    ${shown}`);
  }
  return [...lines, ""];
}
