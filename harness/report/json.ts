// Renders a run as results.json (schema: docs/results-schema.md).

import type { RunResult } from "../types.js";
import { createTakingLogParser, RESULTS_SCHEMA_VERSION, type RunParserOptions } from "../results/index.js";
import { nothingPassed, runFailed } from "../results/index.js";

/** Above this many tests the JSON is written compact: indentation doubles the size of a huge run's file. */
export const PRETTY_JSON_MAX_TESTS = 10_000;

/** Renders the versioned results JSON; keys in a fixed order so files diff well (indented up to PRETTY_JSON_MAX_TESTS tests). */
export function renderJson(run: RunResult): string {
  return JSON.stringify(jsonDoc(run), null, run.summary.total <= PRETTY_JSON_MAX_TESTS ? 2 : undefined) + "\n";
}

/**
 * About how long each piece of renderJsonChunks is: under V8's 128 KiB limit for ordinary heap objects, so a piece
 * dies young instead of being allocated in the large-object space, which only a full collection frees (256K-char
 * pieces: peak RSS of the bench parse 114 MB; 64K: 106 MB, and a little faster).
 */
const CHUNK_CHARS = 1 << 16;
/** Stands in for the tests while the rest of the document is rendered; JSON escapes its NULs, so no value can equal it. */
const TESTS_SLOT = "\u0000kharness-tests\u0000";

/**
 * The same text as renderJson, in pieces of about CHUNK_CHARS: a huge run's results are written without the whole
 * document ever being one string (a 200,000-test run's JSON is 23 MB, and building it was the parse's memory peak).
 * Each piece is one JSON.stringify of a run of top-level tests, not a concatenation of one string per test: the
 * time is the same, but a concatenation kept each test's string alive until its piece was written, long enough to
 * be copied to the old generation (issue 16: peak RSS of the bench parse 142 -> 118 MB). How many tests go in a piece
 * follows the length of the last one, so small tests and talkative ones both give pieces near the target size.
 */
export function* renderJsonChunks(run: RunResult): Generator<string> {
  if (run.summary.total <= PRETTY_JSON_MAX_TESTS) {
    yield renderJson(run);
    return;
  }
  // With nothing written before the run's own tests, every piece is a string.
  yield* renderFramed(run, []) as Generator<string>;
}

/** The compact document in pieces: the frame's head, `before` (tests written earlier, see parseToJsonPieces), then run.tests. */
function* renderFramed(run: RunResult, before: readonly Uint8Array[]): Generator<string | Uint8Array> {
  const frame = JSON.stringify({ ...jsonDoc(run), tests: TESTS_SLOT }) + "\n";
  const slot = JSON.stringify(TESTS_SLOT);
  const at = frame.indexOf(slot);
  const tests = run.tests;
  let head = `${frame.slice(0, at)}[`;
  if (before.length > 0) {
    yield head;
    yield* before;
    head = ",";
  }
  let per = 4;
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

/**
 * `kharness parse FILE --json` for a big run, without holding the tree of results to the end: each top-level test is
 * rendered as soon as it is finished (createTakingLogParser) and kept as UTF-8 bytes, outside V8's heap, until the
 * summary that heads the document is known. The tree used to be copied by the garbage collector as it grew, a third
 * of the time of a 200,000-result parse (issue 16); its tests now die young. The text is the same as
 * renderJsonChunks(parseFileToRun(...)) gives. Undefined when the run cannot be written this way: the log holds
 * kernel reports or kmsg markers (the end of the run applies them to earlier tests), or the run is small enough to
 * be indented; then parse the input again the ordinary way.
 */
export async function parseToJsonPieces(
  chunks: AsyncIterable<string | Uint8Array>,
  opts: RunParserOptions = {},
): Promise<{ run: RunResult; pieces: Iterable<string | Uint8Array> } | undefined> {
  const parser = createTakingLogParser(opts);
  const before = createByteSlabs();
  let first = true;
  for await (const chunk of chunks) {
    parser.push(chunk);
    if (parser.spoiled) return undefined;
    const done = parser.take();
    // One test at a time: a test's text is one short string that dies young, where the text of all the tests a
    // chunk finished was over 128 KiB, allocated outside the young generation and copied once more to be encoded.
    for (let i = 0; i < done.length; i++) {
      if (!first) before.put(",");
      before.put(JSON.stringify(done[i]));
      first = false;
    }
  }
  const { run, takenFinal } = parser.finish({ end: "eof" });
  if (!takenFinal || run.summary.total <= PRETTY_JSON_MAX_TESTS) return undefined;
  return { run, pieces: renderFramed(run, before.finish()) };
}

/** Size of each buffer the held output is written into (one allocation and its page faults per MiB, not per piece). */
const SLAB_BYTES = 1 << 20;

/**
 * Text kept as UTF-8 in buffers of SLAB_BYTES, written end to end: encoding into a buffer that is already there
 * costs a tenth of Buffer.from's fresh allocation per string (issue 16's bench parse: 23 MB of JSON).
 */
function createByteSlabs(): { put(text: string): void; finish(): Uint8Array[] } {
  const full: Uint8Array[] = [];
  let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  let used = 0;
  return {
    put(text) {
      // At most 3 bytes per UTF-16 unit: only a long text needs its exact length before it is known to fit.
      if (used + text.length * 3 > slab.length) {
        const bytes = Buffer.byteLength(text);
        if (used + bytes > slab.length) {
          if (used > 0) full.push(slab.subarray(0, used));
          slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, bytes));
          used = 0;
        }
      }
      used += slab.write(text, used);
    },
    finish() {
      if (used > 0) full.push(slab.subarray(0, used));
      used = 0;
      return full;
    },
  };
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
