// Pure: the exit code of a finished run, per DESIGN.md (0 ok, 1 test failure, 3 infrastructure, 125 bisect skip).

import type { BootEnd, RunResult } from "./types.js";
import { runFailed } from "./results/index.js";

export const EXIT = { ok: 0, testFailed: 1, usage: 2, infra: 3, bisectSkip: 125, sigint: 130, sigterm: 143 } as const;

/** Boot ends that mean the harness could not test the kernel, rather than a test failing. */
const INFRA_ENDS: ReadonlySet<BootEnd> = new Set(["boot-timeout", "idle", "qemu-error"]);

/**
 * 1 when a test failed/crashed; 3 when the guest never ran a test (boot failure, watchdog, QEMU error),
 * which --bisect turns into 125 so `git bisect run` skips the commit.
 */
export function exitCodeForRun(run: RunResult, opts: { bisect: boolean }): number {
  const end = run.boot?.end;
  const ranNothing = run.tests.every((t) => t.id === "no_tap_output" || t.id === "no_tests");
  const couldNotTest = (end !== undefined && INFRA_ENDS.has(end)) || ranNothing;
  if (couldNotTest) return opts.bisect ? EXIT.bisectSkip : EXIT.infra;
  return runFailed(run) ? EXIT.testFailed : EXIT.ok;
}
