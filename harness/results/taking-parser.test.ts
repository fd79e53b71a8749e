// createTakingLogParser hands out finished top-level tests as it goes (issue 16: `kharness parse --json` no longer
// holds the whole tree). Whenever it says the taken tests are final, taken + rest must be exactly what parseLog
// gives for the same bytes; when it cannot promise that, it must say so.

import t from "tap";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createTakingLogParser, parseLog } from "./index.js";
import type { RunResult, TestResult } from "../types.js";

const here = path.dirname(fileURLToPath(import.meta.url));

/** Every log under testdata/ (the edge cases, the outside-tests console logs, the real recorded console). */
function corpus(): { name: string; bytes: Buffer }[] {
  const out: { name: string; bytes: Buffer }[] = [];
  for (const sub of ["", "outside-tests", "real"]) {
    const dir = path.join(here, "testdata", sub);
    for (const f of readdirSync(dir)) if (f.endsWith(".log")) out.push({ name: path.join(sub, f), bytes: readFileSync(path.join(dir, f)) });
  }
  return out;
}

/** Parses `bytes` in `step`-byte chunks, taking finished top-level tests after every chunk. */
function takeAll(bytes: Buffer, step: number): { taken: TestResult[]; run: RunResult; final: boolean; spoiled: boolean } {
  const p = createTakingLogParser();
  const taken: TestResult[] = [];
  let spoiled = false;
  for (let i = 0; i < bytes.length; i += step) {
    p.push(bytes.subarray(i, i + step));
    spoiled ||= p.spoiled;
    // Taken tests are written out by the caller before the next chunk: a copy here catches any later change.
    for (const x of p.take()) taken.push(JSON.parse(JSON.stringify(x)) as TestResult);
  }
  const { run, takenFinal } = p.finish({ end: "eof" });
  return { taken, run, final: takenFinal, spoiled };
}

t.test("every corpus log: taken tests are final only when taken + rest is parseLog's run, to the byte", async (t) => {
  let finalWithTaken = 0;
  let notFinal = 0;
  for (const { name, bytes } of corpus()) {
    const want = JSON.stringify(parseLog(bytes));
    for (const step of [7, 97, 4096]) {
      const { taken, run, final, spoiled } = takeAll(bytes, step);
      if (spoiled) t.notOk(final, `${name} (${step}-byte chunks): spoiled early, so not final at the end`);
      if (!final) {
        notFinal++;
        continue;
      }
      if (taken.length > 0) finalWithTaken++;
      t.equal(JSON.stringify({ ...run, tests: [...taken, ...run.tests] }), want, `${name} (${step}-byte chunks, ${taken.length} taken)`);
    }
  }
  t.ok(finalWithTaken >= 10, `the corpus exercises taking (${finalWithTaken} final parses took tests)`);
  t.ok(notFinal >= 3, `and the refusal (${notFinal} parses not final: kernel reports, markers)`);
});

t.test("a log with a kernel report inside a test is spoiled as soon as it is seen, and never final", async (t) => {
  const log = [
    "KTAP version 1",
    "1..2",
    "ok 1 first",
    "[    1.000000] ------------[ cut here ]------------",
    "[    1.000001] WARNING: CPU: 0 PID: 1 at lib/x.c:1 f+0x0/0x10",
    "[    1.000002] ---[ end trace 0000000000000000 ]---",
    "ok 2 second",
    "",
  ].join("\n");
  const { final, spoiled } = takeAll(Buffer.from(log), 4096);
  t.ok(spoiled, "spoiled");
  t.notOk(final, "not final");
});

t.test("ids of tests taken in parts are the ids of the whole list: duplicates across parts get ~N", async (t) => {
  const lines = ["KTAP version 1", "1..4"];
  for (let i = 1; i <= 4; i++) lines.push("    KTAP version 1", "    # Subtest: same", "    1..1", "    ok 1 case", `ok ${i} same`);
  const bytes = Buffer.from(`${lines.join("\n")}\n`);
  const { taken, run, final } = takeAll(bytes, 16);
  t.ok(final);
  t.ok(taken.length >= 3, `taken in parts (${taken.length} of 4 before the end)`);
  t.same(
    [...taken, ...run.tests].map((x) => x.id),
    ["same", "same~2", "same~3", "same~4"],
  );
  t.same(
    [...taken, ...run.tests].map((x) => x.children[0]!.id),
    ["same.case", "same~2.case", "same~3.case", "same~4.case"],
  );
  t.equal(run.summary.total, 4, "the summary counts the taken tests too");
});
