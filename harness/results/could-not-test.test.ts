// The results stage's typed contract with the CLI: "could not test" is a field of the RunResult (set here,
// read by exit-codes.ts), and the parser names never-started programs from the manifest given up front.

import t from "tap";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createRunParser, parseLog } from "./index.js";
import { exitCodeForRun } from "../exit-codes.js";
import { renderJson } from "../report/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const read = (name: string) => readFileSync(path.join(here, "testdata", name));

t.test("no test output: couldNotTest says so, and the exit code reads that field (3, or 125 with --bisect)", async (t) => {
  const run = parseLog("[    0.100000] Linux version 6.12.0\n[    0.200000] Run /init as init process\n");
  t.equal(run.tests[0]?.id, "no_tap_output", "the placeholder entry stays in the output");
  t.match(run.couldNotTest, { cause: "no-tests", reason: /no test output/ });
  t.equal(exitCodeForRun(run, { bisect: false }), 3);
  t.equal(exitCodeForRun(run, { bisect: true }), 125);
  t.match(JSON.parse(renderJson(run)).couldNotTest, { cause: "no-tests" }, "results.json says so too");
  // A boot that panicked before any test output was tested, and failed: no couldNotTest.
  const panicked = parseLog(read("no-tap-boot-failure.log"));
  t.equal(panicked.couldNotTest, undefined);
  t.equal(exitCodeForRun(panicked, { bisect: true }), 1);
  t.notOk("couldNotTest" in JSON.parse(renderJson(panicked)), "and results.json has no such field");
});

t.test("the exit code follows the typed field, not the ids of the placeholder entries", async (t) => {
  const passed = parseLog("KTAP version 1\n1..1\nok 1 p\n");
  t.equal(passed.couldNotTest, undefined);
  t.equal(exitCodeForRun(passed, { bisect: true }), 0);
  // The results stage's verdict is what counts: the same passing tests, marked could-not-test, are 125.
  t.equal(exitCodeForRun({ ...passed, couldNotTest: { cause: "boot-end", reason: "the boot ended with idle" } }, { bisect: true }), 125);
  // And an entry that happens to carry a placeholder id no longer decides it on its own.
  const renamed = { ...passed, tests: passed.tests.map((x) => ({ ...x, id: "no_tests" })) };
  t.equal(exitCodeForRun(renamed, { bisect: true }), 0);
});

t.test("a watchdog end without a kernel fault report could not test; with one, the kernel failed", async (t) => {
  const quiet = createRunParser();
  quiet.pushResults("KTAP version 1\n1..2\nok 1 a\n");
  const q = quiet.finish({ end: "idle", detail: "no heartbeat for 30 s" });
  t.match(q.couldNotTest, { cause: "boot-end", reason: "the boot ended with idle: no heartbeat for 30 s" });
  const faulted = createRunParser();
  faulted.pushResults(read("outside-tests/panic-in-first-program.results.log"));
  faulted.pushConsole(read("outside-tests/panic-in-first-program.console.log"));
  const f = faulted.finish({ end: "idle" });
  t.equal(f.couldNotTest, undefined, "a panic is on record: tested, and failed");
  t.equal(exitCodeForRun(f, { bisect: true }), 1);
});

t.test("given the manifest, the parser names the programs that never started (no renaming pass afterwards)", async (t) => {
  const p = createRunParser({ programs: [{ name: "net_tcp" }, { name: "net_rules" }] });
  p.pushResults(read("outside-tests/panic-in-first-program.results.log"));
  p.pushConsole(read("outside-tests/panic-in-first-program.console.log"));
  const run = p.finish({ end: "panic" });
  t.same(
    run.tests.map((x) => x.id),
    ["net_tcp", "net_rules"],
  );
  t.match(run.tests[1], { status: "CRASH", reason: "not run: kernel crashed", durationMs: 0 });
  // Without it, the guest's plan line alone cannot name them.
  const bare = createRunParser();
  bare.pushResults(read("outside-tests/panic-in-first-program.results.log"));
  bare.pushConsole(read("outside-tests/panic-in-first-program.console.log"));
  t.equal(bare.finish({ end: "panic" }).tests[1]?.id, "test_2");
});
