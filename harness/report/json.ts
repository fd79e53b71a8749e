// Renders a run as results.json (schema: docs/results-schema.md).

import type { RunResult } from "../types.js";
import { RESULTS_SCHEMA_VERSION } from "../results/index.js";
import { nothingPassed, runFailed } from "../results/index.js";

/** Above this many tests the JSON is written compact: indentation doubles the size of a huge run's file. */
export const PRETTY_JSON_MAX_TESTS = 10_000;

/** Renders the versioned results JSON; keys in a fixed order so files diff well (indented up to PRETTY_JSON_MAX_TESTS tests). */
export function renderJson(run: RunResult): string {
  const doc = {
    schemaVersion: run.schemaVersion || RESULTS_SCHEMA_VERSION,
    runId: run.runId,
    startedAt: run.startedAt,
    durationMs: run.durationMs,
    passed: !runFailed(run),
    // A run can pass with nothing verified (every test skipped): said plainly, not left to a reader's arithmetic.
    nothingPassed: nothingPassed(run),
    // Present only when the run could not test the kernel (exit 3, or 125 with --bisect): a dashboard must not read it as a kernel failure.
    couldNotTest: run.couldNotTest,
    summary: run.summary,
    kernel: run.kernel,
    boot: run.boot,
    host: run.host,
    stages: run.stages,
    payloadBuild: run.payloadBuild,
    tests: run.tests,
    kernelEvents: run.kernelEvents,
    diagnostics: run.diagnostics,
  };
  return JSON.stringify(doc, null, run.summary.total <= PRETTY_JSON_MAX_TESTS ? 2 : undefined) + "\n";
}
