// renderJsonChunks writes the same bytes as renderJson, in pieces, for a run above the pretty-print limit and below it.

import t from "tap";
import { parseToJsonPieces, PRETTY_JSON_MAX_TESTS } from "./json.js";
import { renderJson, renderJsonChunks } from "./index.js";
import { parseLog } from "../results/index.js";

/** A KTAP log with `suites` suites of `cases` cases, some failing, some skipped, a kernel line among them. */
function ktap(suites: number, cases: number): string {
  const out = ["KTAP version 1", `1..${suites}`];
  for (let s = 1; s <= suites; s++) {
    out.push("    KTAP version 1", `    # Subtest: suite_${s}`, `    1..${cases}`);
    for (let c = 1; c <= cases; c++) {
      if (c % 7 === 0) out.push(`    not ok ${c} case "${c}" \\ quoted`);
      else if (c % 11 === 0) out.push(`    ok ${c} case_${c} # SKIP not here`);
      else out.push(`    ok ${c} case_${c}`);
      if (c % 13 === 0) out.push(`    # case_${c}: a log line with \u00e9 and a tab\there`);
    }
    out.push(`ok ${s} suite_${s}`);
  }
  return `${out.join("\n")}\n`;
}

t.test("a run above the pretty-print limit: the pieces join to renderJson's text, and there are several", async (t) => {
  const run = parseLog(ktap(120, 100));
  t.ok(run.summary.total > PRETTY_JSON_MAX_TESTS, "the run is over the limit");
  const pieces = [...renderJsonChunks(run)];
  t.equal(pieces.join(""), renderJson(run), "same text");
  t.ok(pieces.length >= 2, `written in ${pieces.length} pieces`);
  t.same(JSON.parse(pieces.join("")).summary, run.summary, "and it is JSON");
});

t.test("a small run: one piece, the indented document", async (t) => {
  const run = parseLog(ktap(2, 5));
  const pieces = [...renderJsonChunks(run)];
  t.equal(pieces.length, 1);
  t.equal(pieces[0], renderJson(run));
});

t.test("pieces follow the size of the tests: one huge top-level test, and many small ones, join to renderJson's text", async (t) => {
  const one = parseLog(ktap(1, 10_500));
  t.ok(one.summary.total > PRETTY_JSON_MAX_TESTS && one.tests.length === 1, "one top-level test over the limit");
  t.equal([...renderJsonChunks(one)].join(""), renderJson(one), "one top-level test: same text");
  const many = parseLog(ktap(6_000, 2));
  const pieces = [...renderJsonChunks(many)];
  t.equal(pieces.join(""), renderJson(many), "6,000 small top-level tests: same text");
  // About 64K characters each (the first few are smaller while the size is learned); never the whole document.
  t.ok(pieces.length >= 3, `written in ${pieces.length} pieces`);
  t.ok(Math.max(...pieces.map((p) => p.length)) < 1 << 20, "no piece near the document's size");
});

/** The text in 4 KiB chunks, as a file is read. */
async function* chunksOf(text: string): AsyncGenerator<Uint8Array> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += 4096) yield bytes.subarray(i, i + 4096);
}

const joined = (pieces: Iterable<string | Uint8Array>) => Buffer.concat([...pieces].map((p) => (typeof p === "string" ? Buffer.from(p) : p))).toString();

t.test("parseToJsonPieces (parse --json of a file): the same bytes as parsing whole and renderJsonChunks", async (t) => {
  const text = ktap(120, 100);
  const got = await parseToJsonPieces(chunksOf(text));
  t.ok(got, "a big run without kernel reports is written as it is parsed");
  const want = parseLog(text);
  t.equal(joined(got!.pieces), [...renderJsonChunks(want)].join(""), "same text");
  t.same(got!.run.summary, want.summary, "same summary");
  t.ok(got!.run.tests.length < want.tests.length, `the tests were let go as they finished (${got!.run.tests.length} kept to the end)`);
});

t.test("parseToJsonPieces says no when the run must be read whole: a small run, a kernel report", async (t) => {
  t.equal(await parseToJsonPieces(chunksOf(ktap(2, 5))), undefined, "a small run is indented: parse it the ordinary way");
  const warned = ktap(120, 100).replace(
    "    ok 3 case_3\n",
    "    ok 3 case_3\n[    1.000000] ------------[ cut here ]------------\n[    1.000001] WARNING: CPU: 0 PID: 1 at lib/x.c:1 f+0x0/0x10\n[    1.000002] ---[ end trace 0000000000000000 ]---\n",
  );
  t.not(warned, ktap(120, 100), "the report is in the log");
  t.equal(await parseToJsonPieces(chunksOf(warned)), undefined, "a kernel report inside a test");
});
