// Pure: two runs (base, new) -> a Comparison: every test classified, and the kernel reports new since the base.

import type { KernelEvent, RunResult, Status, TestResult } from "../types.js";
import { FAILING_STATUSES } from "../types.js";

export const COMPARISON_VERSION = 1;

/** What happened to one test between the base and the new run (docs/nightly.md, "comparison.json"). */
export type CompareClass = "regression" | "fix" | "new" | "missing" | "still-failing" | "skip-reason-changed" | "flaky" | "unchanged";

export interface ComparedSide {
  status: Status;
  reason?: string;
}

export interface ComparedTest {
  id: string;
  class: CompareClass;
  base?: ComparedSide;
  new?: ComparedSide;
  note?: string;
}

export interface NewKernelReport {
  kind: string;
  title: string;
  testId?: string;
}

export interface RunRef {
  runId: string;
  path: string;
  kernelRelease?: string;
}

export interface Comparison {
  version: number;
  base: RunRef;
  new: RunRef;
  verdict: "regressed" | "clean";
  summary: {
    regression: number;
    fix: number;
    new: number;
    missing: number;
    stillFailing: number;
    skipReasonChanged: number;
    flaky: number;
    newKernelReports: number;
    unchanged: number;
  };
  tests: ComparedTest[];
  newKernelReports: NewKernelReport[];
}

/** What the history knows about a test's flakiness (history/flakes.ts computes it). */
export interface FlakeInfo {
  score: number;
  runs: number;
  flips: number;
}

export interface CompareOptions {
  /** Tests whose status flips in history without a change of kernel input: their flip is "flaky", not a regression or fix. */
  flaky?: ReadonlyMap<string, FlakeInfo>;
}

/** PASS, SKIP and XFAIL do not fail a run; the rest do (FAILING_STATUSES). */
const isBad = (s: Status): boolean => FAILING_STATUSES.has(s);

/**
 * The entries that carry a verdict: leaves, and parents whose own failure no child shows (summary.ts's rule),
 * keyed by id. Iterative: nesting depth comes from the guest.
 */
export function verdictEntries(tests: readonly TestResult[]): Map<string, TestResult> {
  const out = new Map<string, TestResult>();
  const work = [...tests];
  while (work.length) {
    const t = work.pop() as TestResult;
    if (t.children.length === 0) out.set(t.id, t);
    else {
      if (FAILING_STATUSES.has(t.status) && !someBad(t.children)) out.set(t.id, t);
      work.push(...t.children);
    }
  }
  return out;
}

function someBad(children: readonly TestResult[]): boolean {
  const work = [...children];
  while (work.length) {
    const c = work.pop() as TestResult;
    if (FAILING_STATUSES.has(c.status)) return true;
    work.push(...c.children);
  }
  return false;
}

/** Every kernel report of a run: outside tests and attached to each test. */
export function allKernelEvents(run: RunResult): KernelEvent[] {
  const out = [...(run.kernelEvents ?? [])];
  const work = [...run.tests];
  while (work.length) {
    const t = work.pop() as TestResult;
    out.push(...(t.kernelEvents ?? []));
    work.push(...t.children);
  }
  return out;
}

/**
 * A kernel report's identity across runs: its kind and headline with what changes from boot to boot
 * (addresses, hex numbers, pids, CPU numbers, timestamps) masked, so the same WARNING in both runs is not "new".
 */
export function kernelReportKey(e: Pick<KernelEvent, "kind" | "title">): string {
  const title = e.title
    .replace(/\[\s*\d+\.\d+\]/g, "")
    .replace(/0x[0-9a-f]+/gi, "X")
    .replace(/\b[0-9a-f]{8,}\b/gi, "X")
    .replace(/\b(CPU|PID|pid|cpu|Comm)[:=]?\s*\S+/g, "$1 N")
    .replace(/\+0x\w+\/0x\w+/g, "")
    .replace(/\s+/g, " ")
    .trim();
  return `${e.kind}:${title}`;
}

const side = (t: TestResult): ComparedSide => ({ status: t.status, ...(t.reason !== undefined ? { reason: t.reason } : {}) });

/** Classifies one test present in both runs (before flakiness is considered). */
export function classifyPair(b: ComparedSide, n: ComparedSide): { class: CompareClass; note?: string } {
  const bb = isBad(b.status);
  const nb = isBad(n.status);
  if (!bb && nb) return { class: "regression", note: `${b.status} -> ${n.status}` };
  if (bb && !nb) return { class: "fix", note: `${b.status} -> ${n.status}` };
  if (bb && nb) return { class: "still-failing", ...(b.status !== n.status ? { note: `${b.status} -> ${n.status}` } : {}) };
  // Neither fails: a skip that changed (reason, or a test that now runs or no longer does) is worth a look.
  if (b.status === "SKIP" && n.status === "SKIP")
    return (b.reason ?? "") === (n.reason ?? "") ? { class: "unchanged" } : { class: "skip-reason-changed", note: "the skip reason changed" };
  if (b.status === "SKIP" || n.status === "SKIP") return { class: "skip-reason-changed", note: `${b.status} -> ${n.status}` };
  return b.status === n.status ? { class: "unchanged" } : { class: "unchanged", note: `${b.status} -> ${n.status}` };
}

/** Compares two runs. Pure: flakiness comes in as data. */
export function compareRuns(base: RunResult, next: RunResult, refs: { base: RunRef; new: RunRef }, opts: CompareOptions = {}): Comparison {
  const be = verdictEntries(base.tests);
  const ne = verdictEntries(next.tests);
  const tests: ComparedTest[] = [];
  for (const [id, n] of ne) {
    const b = be.get(id);
    if (!b) {
      tests.push({ id, class: "new", new: side(n) });
      continue;
    }
    let c = classifyPair(side(b), side(n));
    const flake = opts.flaky?.get(id);
    if (flake && (c.class === "regression" || c.class === "fix"))
      c = {
        class: "flaky",
        note: `${b.status} -> ${n.status}, but flaky in history (flake score ${flake.score.toFixed(2)}: ${flake.flips} flips in ${flake.runs} runs of one kernel); not counted as a ${c.class}`,
      };
    tests.push({ id, class: c.class, base: side(b), new: side(n), ...(c.note ? { note: c.note } : {}) });
  }
  for (const [id, b] of be) if (!ne.has(id)) tests.push({ id, class: "missing", base: side(b) });
  tests.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));

  const baseKeys = new Set(allKernelEvents(base).map(kernelReportKey));
  const seen = new Set<string>();
  const newKernelReports: NewKernelReport[] = [];
  for (const e of allKernelEvents(next)) {
    const k = kernelReportKey(e);
    if (baseKeys.has(k) || seen.has(k)) continue;
    seen.add(k);
    newKernelReports.push({ kind: e.kind, title: e.title, ...(e.testId !== undefined ? { testId: e.testId } : {}) });
  }

  const count = (c: CompareClass) => tests.filter((t) => t.class === c).length;
  const summary = {
    regression: count("regression"),
    fix: count("fix"),
    new: count("new"),
    missing: count("missing"),
    stillFailing: count("still-failing"),
    skipReasonChanged: count("skip-reason-changed"),
    flaky: count("flaky"),
    newKernelReports: newKernelReports.length,
    unchanged: count("unchanged"),
  };
  const regressed = summary.regression > 0 || summary.missing > 0 || summary.newKernelReports > 0;
  return { version: COMPARISON_VERSION, base: refs.base, new: refs.new, verdict: regressed ? "regressed" : "clean", summary, tests, newKernelReports };
}
