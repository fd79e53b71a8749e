// Summary counts over leaf tests, and the verdict of a run.

import type { RunResult, Status, Summary, TestResult } from "../types.js";
import { FAILING_STATUSES } from "../types.js";

// A parent with one of these statuses adds an entry when no child already shows such a status.
const PARENT_VISIBLE: ReadonlySet<Status> = new Set(["FAIL", "TIMEOUT", "ERROR", "CRASH"]);

/** An empty summary. */
export function emptySummary(): Summary {
  return { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0, timeout: 0, crash: 0, error: 0, total: 0 };
}

/** True when some test below `t` (at any depth; only reported ones if asked) has a FAIL, TIMEOUT, ERROR or CRASH status. */
function hasVisibleFailureBelow(t: TestResult, reportedOnly: boolean): boolean {
  const children = t.children;
  for (let i = 0; i < children.length; i++) {
    const c = children[i]!;
    if (PARENT_VISIBLE.has(c.status) && !(reportedOnly && c.unreported)) return true;
    if (hasVisibleFailureBelow(c, reportedOnly)) return true;
  }
  return false;
}

/**
 * A parent adds its own entry when its status is FAIL/TIMEOUT/ERROR/CRASH and no subtest shows such a status.
 * For a parent with its own result line only reported subtests count (placeholders must not hide a printed TIMEOUT);
 * for a parent kharness inferred (no result line), its placeholders already carry the failure.
 */
export function parentAddsEntry(t: TestResult): boolean {
  return t.children.length > 0 && PARENT_VISIBLE.has(t.status) && !hasVisibleFailureBelow(t, !t.unreported);
}

/**
 * Counts leaf tests by status. A test with subtests counts through them only, except that a parent whose
 * own status is FAIL/TIMEOUT/ERROR/CRASH while none of its reported subtests has such a status adds one entry
 * (see parentAddsEntry), so a failing program with passing cases is never hidden.
 */
export function summarize(tests: readonly TestResult[]): Summary {
  const s = emptySummary();
  // A switch, not s[KEY[st]]++: the keyed store was about 4% of a 200,000-test parse's profile (issue 16).
  const add = (st: Status): void => {
    switch (st) {
      case "PASS":
        s.pass++;
        break;
      case "FAIL":
        s.fail++;
        break;
      case "SKIP":
        s.skip++;
        break;
      case "XFAIL":
        s.xfail++;
        break;
      case "XPASS":
        s.xpass++;
        break;
      case "TIMEOUT":
        s.timeout++;
        break;
      case "CRASH":
        s.crash++;
        break;
      case "ERROR":
        s.error++;
        break;
    }
    s.total++;
  };
  // Iterative walk: nesting depth comes from input and must not overflow the stack.
  const work: TestResult[] = [...tests];
  while (work.length > 0) {
    const t = work.pop()!;
    if (t.children.length === 0) {
      add(t.status);
      continue;
    }
    if (parentAddsEntry(t)) add(t.status);
    const children = t.children;
    for (let i = 0; i < children.length; i++) work.push(children[i]!);
  }
  return s;
}

/** Adds `from`'s counts to `into` (the summary of two lists of tests is the sum of theirs); returns `into`. */
export function addSummary(into: Summary, from: Summary): Summary {
  into.pass += from.pass;
  into.fail += from.fail;
  into.skip += from.skip;
  into.xfail += from.xfail;
  into.xpass += from.xpass;
  into.timeout += from.timeout;
  into.crash += from.crash;
  into.error += from.error;
  into.total += from.total;
  return into;
}

/** True when the run must be reported as failed: any failing count, or nothing ran at all. */
export function runFailed(run: Pick<RunResult, "summary">): boolean {
  const s = run.summary;
  return s.total === 0 || s.fail + s.xpass + s.timeout + s.crash + s.error > 0;
}

/**
 * True when no test passed: no PASS and no XFAIL entry (e.g. every test was skipped). Such a run does not fail
 * by itself (its exit code stays 0), but it verified nothing, so reports say so; `--fail-on-skip` fails it.
 */
export function nothingPassed(run: Pick<RunResult, "summary">): boolean {
  return run.summary.pass + run.summary.xfail === 0;
}

/** Every leaf test, depth first in report order, with the parent entries that summarize adds. */
export function listReportedTests(tests: readonly TestResult[]): TestResult[] {
  const out: TestResult[] = [];
  const walk = (list: readonly TestResult[]): void => {
    for (const t of list) {
      if (t.children.length === 0) out.push(t);
      else {
        if (parentAddsEntry(t)) out.push(t);
        walk(t.children);
      }
    }
  };
  walk(tests);
  return out;
}

/** True when a status makes the run fail. */
export function isFailing(status: Status): boolean {
  return FAILING_STATUSES.has(status);
}
