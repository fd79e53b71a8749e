// Pure: the exit code of a finished run or of an error, per DESIGN.md and the README's table.

import type { RunResult } from "./types.js";
import { KharnessError } from "./errors.js";
import { nothingPassed, runFailed } from "./results/index.js";

/**
 * Exit codes. With --bisect, `git bisect run` reads them: 0 good, 1-127 except 125 bad, 125 skip this
 * commit, and anything else (128-255) aborts the bisection; hence bisectAbort for every problem that is
 * not the commit's (bad usage, a missing tool, an unwritable path): it must neither skip nor blame a commit.
 */
export const EXIT = { ok: 0, testFailed: 1, usage: 2, infra: 3, bisectSkip: 125, bisectAbort: 128, sigint: 130, sigterm: 143 } as const;

/** Options that change a run's exit code. */
export interface ExitOptions {
  /** Map "this commit could not be tested" to 125 and other problems to 128 (for git bisect run). */
  bisect: boolean;
  /** A run in which nothing passed (no PASS or XFAIL: every test skipped) fails. */
  failOnSkip?: boolean;
}

/**
 * 1 when a test failed/crashed (or, with failOnSkip, nothing passed); 3 when the results stage found that the
 * run could not test the kernel (RunResult.couldNotTest: no test output, or a boot failure or watchdog without a
 * kernel fault report), which --bisect turns into 125 so `git bisect run` skips the commit.
 */
export function exitCodeForRun(run: RunResult, opts: ExitOptions): number {
  if (run.couldNotTest) return opts.bisect ? EXIT.bisectSkip : EXIT.infra;
  if (runFailed(run)) return EXIT.testFailed;
  return opts.failOnSkip && nothingPassed(run) ? EXIT.testFailed : EXIT.ok;
}

/**
 * The exit code of a run that ended in an error. `fromCommit` says the error came from the stage that
 * applies, configures and builds the commit: only there can `untestable` mean "skip this commit" (125).
 * Everything else is the user's or the machine's problem: 2 or 3, and with --bisect 128, which stops
 * `git bisect run` instead of marking the commit bad.
 */
export function exitCodeForError(e: unknown, opts: { bisect: boolean; fromCommit: boolean }): number {
  if (opts.bisect) return e instanceof KharnessError && e.untestable && opts.fromCommit ? EXIT.bisectSkip : EXIT.bisectAbort;
  return e instanceof KharnessError && e.kind === "usage" ? EXIT.usage : EXIT.infra;
}

/** The exit code of a command line that could not be parsed. */
export function exitCodeForUsage(opts: { bisect: boolean }): number {
  return opts.bisect ? EXIT.bisectAbort : EXIT.usage;
}
