// Renders a run as results.json (schema: docs/results-schema.md).

import type { RunResult } from "../types.js";
import { RESULTS_SCHEMA_VERSION } from "../results/parse-run.js";
import { runFailed } from "../results/summary.js";

/** Renders the versioned results JSON; keys in a fixed order so files diff well. */
export function renderJson(run: RunResult): string {
  const doc = {
    schemaVersion: run.schemaVersion || RESULTS_SCHEMA_VERSION,
    runId: run.runId,
    startedAt: run.startedAt,
    durationMs: run.durationMs,
    passed: !runFailed(run),
    summary: run.summary,
    kernel: run.kernel,
    boot: run.boot,
    host: run.host,
    tests: run.tests,
    kernelEvents: run.kernelEvents,
    diagnostics: run.diagnostics,
  };
  return JSON.stringify(doc, null, 2) + "\n";
}
