// Renders a run as results.json (schema: docs/results-schema.md).

import type { RunResult } from "../types.js";
import { RESULTS_SCHEMA_VERSION } from "../results/index.js";
import { nothingPassed, runFailed } from "../results/index.js";

/** Above this many tests the JSON is written compact: indentation doubles the size of a huge run's file. */
export const PRETTY_JSON_MAX_TESTS = 10_000;

/** Renders the versioned results JSON; keys in a fixed order so files diff well (indented up to PRETTY_JSON_MAX_TESTS tests). */
export function renderJson(run: RunResult): string {
  return JSON.stringify(jsonDoc(run), null, run.summary.total <= PRETTY_JSON_MAX_TESTS ? 2 : undefined) + "\n";
}

/** A piece size for renderJsonChunks: big enough that writes are few, small enough that memory stays flat. */
const CHUNK_CHARS = 1 << 20;
/** Stands in for the tests while the rest of the document is rendered; JSON escapes its NULs, so no value can equal it. */
const TESTS_SLOT = "\u0000kharness-tests\u0000";

/**
 * The same text as renderJson, in pieces of about a MiB: a huge run's results are written without the whole
 * document ever being one string (a 200,000-test run's JSON is 23 MB, and building it was the parse's memory peak).
 */
export function* renderJsonChunks(run: RunResult): Generator<string> {
  if (run.summary.total <= PRETTY_JSON_MAX_TESTS) {
    yield renderJson(run);
    return;
  }
  const frame = JSON.stringify({ ...jsonDoc(run), tests: TESTS_SLOT }) + "\n";
  const slot = JSON.stringify(TESTS_SLOT);
  const at = frame.indexOf(slot);
  let buf = `${frame.slice(0, at)}[`;
  for (let i = 0; i < run.tests.length; i++) {
    buf += (i === 0 ? "" : ",") + JSON.stringify(run.tests[i]);
    if (buf.length >= CHUNK_CHARS) {
      yield buf;
      buf = "";
    }
  }
  yield `${buf}]${frame.slice(at + slot.length)}`;
}

/** The document's fields in their fixed order. */
function jsonDoc(run: RunResult) {
  return {
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
}
