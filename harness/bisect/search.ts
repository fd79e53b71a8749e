// Pure: the bisection itself. The signature (which tests flip between the ends), the verdict of one step from
// its repeats, and the next revision to test (or the answer) from the verdicts so far, as `git bisect` does.

import type { Status } from "../types.js";

/** Statuses that count as "does not fail the signature" and "fails it" (issue 12); XPASS is neither. */
const NOT_FAILING: ReadonlySet<Status> = new Set(["PASS", "SKIP", "XFAIL"]);
const FAILING: ReadonlySet<Status> = new Set(["FAIL", "TIMEOUT", "CRASH", "ERROR"]);

/** Every leaf test's status in one run (one boot), by test id. */
export type Statuses = ReadonlyMap<string, Status>;

/** What one step concluded about its revision. */
export type Verdict = "good" | "bad" | "skip" | "flaky";

/** The signature and what the ends showed. */
export interface Signature {
  /** The tests judged at every step, sorted. */
  tests: string[];
  /** Tests that changed between the repeats of an end (excluded from a derived signature). */
  flakyAtEnds: string[];
}

/**
 * The tests that do not fail in any repeat at GOOD (PASS, SKIP, XFAIL) and fail in every repeat at BAD (FAIL,
 * TIMEOUT, CRASH, ERROR). A test whose repeats disagree at either end is flaky there, never part of it.
 */
export function deriveSignature(good: Statuses[], bad: Statuses[]): Signature {
  const ids = new Set<string>();
  for (const r of [...good, ...bad]) for (const id of r.keys()) ids.add(id);
  const tests: string[] = [];
  const flaky: string[] = [];
  for (const id of [...ids].sort()) {
    const g = good.map((r) => r.get(id));
    const b = bad.map((r) => r.get(id));
    const goodOk = g.every((s) => s !== undefined && NOT_FAILING.has(s));
    const badFails = b.every((s) => s !== undefined && FAILING.has(s));
    if (goodOk && badFails) tests.push(id);
    else if (mixed(g) || mixed(b)) flaky.push(id);
  }
  return { tests, flakyAtEnds: flaky };
}

/** Some repeats failed and some did not. */
function mixed(xs: (Status | undefined)[]): boolean {
  const f = xs.filter((s) => s !== undefined && FAILING.has(s)).length;
  return f > 0 && f < xs.length;
}

/** One step's verdict on the signature, and why. */
export interface StepJudgement {
  verdict: Verdict;
  /** Signature tests failing in every repeat. */
  failing: string[];
  /** Signature tests failing in some repeats only. */
  flaky: string[];
  /** Signature tests no repeat reported. */
  missing: string[];
  reason?: string;
}

/**
 * Judges a step on the signature only: bad when a signature test fails in every repeat, good when every
 * signature test was reported and none failed in any repeat, flaky when the only failures are in some
 * repeats (the step is then not used to steer the search), skip when a signature test never ran.
 */
export function judgeStep(signature: readonly string[], repeats: Statuses[]): StepJudgement {
  const failing: string[] = [];
  const flaky: string[] = [];
  const missing: string[] = [];
  for (const id of signature) {
    const seen = repeats.map((r) => r.get(id));
    if (seen.every((s) => s === undefined)) {
      missing.push(id);
      continue;
    }
    const f = seen.filter((s) => s !== undefined && FAILING.has(s)).length;
    if (f === repeats.length) failing.push(id);
    else if (f > 0 || seen.some((s) => s === undefined)) flaky.push(id);
  }
  if (failing.length) return { verdict: "bad", failing, flaky, missing };
  if (flaky.length) return { verdict: "flaky", failing, flaky, missing, reason: `repeats disagree on ${flaky.join(", ")}` };
  if (missing.length) return { verdict: "skip", failing, flaky, missing, reason: `not reported: ${missing.join(", ")}` };
  return { verdict: "good", failing, flaky, missing };
}

/** Where the search stands: test another revision, or the answer. */
export type SearchState =
  | { kind: "probe"; index: number; remaining: number[]; stepsLeft: number }
  | {
      kind: "done";
      /** The last revision known good and the first known bad. */
      lastGood: number;
      firstBad: number;
      /** The revisions that may be the first bad one: exactly one when the search found it. */
      candidates: number[];
      /** Candidates (other than firstBad) that were skipped or flaky, hiding the answer. */
      hidden: { index: number; verdict: Verdict }[];
    };

/**
 * The next step over revisions 0..last (0 is the good end, `last` the bad end; both must already have
 * verdicts good and bad). The untested revisions between the last good and the first bad are the remaining
 * ones; the one nearest their middle is tested next. When none is left, the first bad revision is the answer,
 * unless skipped or flaky revisions before it could be the first bad one: then they are all named.
 */
export function nextStep(last: number, verdicts: ReadonlyMap<number, Verdict>): SearchState {
  let firstBad = last;
  for (let i = 1; i <= last; i++)
    if (verdicts.get(i) === "bad") {
      firstBad = i;
      break;
    }
  let lastGood = 0;
  for (let i = 0; i < firstBad; i++) if (verdicts.get(i) === "good") lastGood = i;
  const remaining: number[] = [];
  for (let i = lastGood + 1; i < firstBad; i++) if (!verdicts.has(i)) remaining.push(i);
  if (remaining.length) {
    const mid = (lastGood + firstBad) / 2;
    // Nearest the middle; on a tie the lower one, so the order of steps is stable.
    const index = remaining.reduce((best, i) => (Math.abs(i - mid) < Math.abs(best - mid) ? i : best));
    return { kind: "probe", index, remaining, stepsLeft: estimateStepsLeft(remaining.length) };
  }
  const hidden: { index: number; verdict: Verdict }[] = [];
  for (let i = lastGood + 1; i < firstBad; i++) hidden.push({ index: i, verdict: verdicts.get(i) as Verdict });
  return { kind: "done", lastGood, firstBad, candidates: [...hidden.map((h) => h.index), firstBad], hidden };
}

/** Steps left for n untested revisions between a good and a bad one: about log2(n + 1), rounded up. */
export function estimateStepsLeft(n: number): number {
  return n <= 0 ? 0 : Math.ceil(Math.log2(n + 1));
}
