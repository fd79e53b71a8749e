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

/** About how long each piece of renderJsonChunks is: big enough that writes are few, small enough to die young. */
const CHUNK_CHARS = 1 << 18;
/** Stands in for the tests while the rest of the document is rendered; JSON escapes its NULs, so no value can equal it. */
const TESTS_SLOT = "\u0000kharness-tests\u0000";

/**
 * The same text as renderJson, in pieces of about CHUNK_CHARS: a huge run's results are written without the whole
 * document ever being one string (a 200,000-test run's JSON is 23 MB, and building it was the parse's memory peak).
 * Each piece is one JSON.stringify of a run of top-level tests (one native call, not one per test, and no string
 * concatenation per test: issue 16 measured the per-test form at a third of the parse's own time); how many go in a
 * piece follows the length of the last one, so a run of small tests and a run of talkative ones both give pieces
 * near the target size. Pieces this size die in V8's young generation instead of being copied to the old one.
 */
export function* renderJsonChunks(run: RunResult): Generator<string> {
  if (run.summary.total <= PRETTY_JSON_MAX_TESTS) {
    yield renderJson(run);
    return;
  }
  const frame = JSON.stringify({ ...jsonDoc(run), tests: TESTS_SLOT }) + "\n";
  const slot = JSON.stringify(TESTS_SLOT);
  const at = frame.indexOf(slot);
  const tests = run.tests;
  let head = `${frame.slice(0, at)}[`;
  let per = 16;
  for (let i = 0; i < tests.length; ) {
    const n = Math.min(per, tests.length - i);
    // `[a,b]` of a slice is the same text as the items joined by commas, as JSON.stringify(tests) would write them.
    const text = JSON.stringify(i === 0 && n === tests.length ? tests : tests.slice(i, i + n));
    yield head + text.slice(1, -1);
    head = ",";
    i += n;
    per = Math.max(1, Math.min(4096, Math.floor((n * CHUNK_CHARS) / Math.max(1, text.length))));
  }
  // With no tests at all the head was never written: it goes with the tail.
  yield `${head === "," ? "" : head}]${frame.slice(at + slot.length)}`;
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
