// When each test ran (issue 10, item 10): start offsets on the guest's printk clock and durations from init's kmsg
// markers, the host clock for what the markers do not cover, and nothing invented where neither measured.
import t from "tap";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as path from "node:path";
import { createRunParser, nameUnstartedPrograms, parseLog } from "./index.js";
import { renderJunit } from "../report/index.js";
import type { RunResult, TestResult } from "../types.js";

const testdata = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata");
const read = (name: string) => readFileSync(path.join(testdata, name));
const leaves = (ts: readonly TestResult[]): TestResult[] => ts.flatMap((x) => (x.children.length ? leaves(x.children) : [x]));
const flat = (ts: readonly TestResult[]): TestResult[] => ts.flatMap((x) => [x, ...flat(x.children)]);

function realRun(): RunResult {
  const p = createRunParser();
  const results = read("real/debian-6.12-default-run.results.log");
  const consoleLog = read("real/debian-6.12-default-run.console.log");
  for (let i = 0; i < Math.max(results.length, consoleLog.length); i += 97) {
    p.pushResults(results.subarray(i, i + 97));
    p.pushConsole(consoleLog.subarray(i, i + 97));
  }
  return p.finish({ end: "poweroff" });
}

t.test("real run: every test's start and duration come from its kmsg markers' printk times, exactly", async (t) => {
  const run = realRun();
  const byId = new Map(flat(run.tests).map((x) => [x.id, x]));
  // console.log: `[    8.597987] kharness: start net_abi` ... `[    9.354023] kharness: end net_abi`
  t.match(byId.get("net_abi"), { startMs: 8597.987, durationMs: 756.036 });
  // `[    8.822451] kharness: start net_abi.abi.version` ... `[    8.862916] kharness: end net_abi.abi.version`
  t.match(byId.get("net_abi.abi.version"), { startMs: 8822.451, durationMs: 40.465 });
  const all = flat(run.tests);
  t.equal(all.length, 261);
  t.ok(
    all.every((x) => typeof x.startMs === "number" && typeof x.durationMs === "number" && x.durationMs >= 0),
    "all 255 cases and 6 programs are timed",
  );
  const starts = leaves(run.tests).map((x) => x.startMs!);
  t.same(
    starts,
    [...starts].sort((a, b) => a - b),
    "start offsets follow the order the cases ran",
  );
});

t.test("junit: time on every testcase and testsuite, the run's timestamp on each suite and the root", async (t) => {
  const run = { ...realRun(), startedAt: "2026-11-20T09:15:02.123Z", durationMs: 41234 };
  const xml = renderJunit(run);
  const cases = xml.match(/<testcase [^>]*>/g) ?? [];
  t.equal(cases.length, 255);
  t.ok(
    cases.every((c) => / time="\d+\.\d{3}"/.test(c)),
    "every testcase has a time",
  );
  t.match(xml, /<testcase classname="net_abi.abi" name="version" time="0.040">/);
  const suites = xml.match(/<testsuite [^>]*>/g) ?? [];
  t.equal(suites.length, 6);
  t.ok(
    suites.every((s) => / time="\d+\.\d{3}"/.test(s) && / timestamp="2026-11-20T09:15:02.123Z"/.test(s)),
    "every suite has a time and a timestamp",
  );
  t.match(xml, /<testsuite name="net_abi" [^>]* time="0.756" timestamp=/, "a suite's time is its program's own");
  t.match(xml, /<testsuites name="kharness" [^>]* time="41.234" timestamp="2026-11-20T09:15:02.123Z">/, "the root: the run's wall time");
});

t.test("host clock: cases without markers are timed from when their lines arrived, placed on the kernel clock via their program", async (t) => {
  let clock = 0;
  const p = createRunParser({ now: () => clock });
  const at = (ms: number, push: () => void) => {
    clock = ms;
    push();
  };
  at(900, () => p.pushConsole("[    5.000000] kharness: init 1\n[    5.100000] kharness: start ksft\n"));
  at(1000, () => p.pushResults("KTAP version 1\n1..1\n"));
  at(1100, () => p.pushResults("# selftests: kharness: ksft\n# TAP version 13\n# 1..3\n"));
  at(1350, () => p.pushResults("# ok 1 a\n"));
  at(1600, () => p.pushResults("# ok 2 b\n# # running c\n"));
  at(1650, () => p.pushResults("# ok 3 c # SKIP no such feature\n"));
  at(1900, () => p.pushResults("ok 1 ksft\n"));
  at(1950, () => p.pushConsole("[    5.900000] kharness: end ksft\n[    5.910000] kharness: poweroff\n"));
  const run = p.finish({ end: "poweroff" });
  const byId = new Map(flat(run.tests).map((x) => [x.id, x]));
  t.match(byId.get("ksft"), { startMs: 5100, durationMs: 800 }, "the program: its markers");
  t.match(byId.get("ksft.a"), { startMs: 5100, durationMs: 250 }, "case a: from the program's header to its result line");
  t.match(byId.get("ksft.b"), { startMs: 5350, durationMs: 250 }, "case b: from a's result to its own");
  t.match(byId.get("ksft.c"), { startMs: 5600, durationMs: 50 });
});

t.test("no clock and no markers: no time is made up; a test that never started took 0 ms", async (t) => {
  const run = parseLog(read("timeout-after-bare-hash.log"));
  for (const x of flat(run.tests)) {
    t.equal(x.startMs, undefined, `${x.id}: no start`);
    if (x.unreported && x.reason?.startsWith("not run")) t.equal(x.durationMs, 0, `${x.id}: never started`);
    else t.equal(x.durationMs, undefined, `${x.id}: no duration`);
  }
  const xml = renderJunit(run);
  t.match(xml, /<testcase classname="landlock:fs_test" name="test_2" time="0.000">/, "never started: 0");
  t.notMatch(xml, /<testcase classname="landlock:net_test"[^>]* time=/, "never measured: no time attribute");
});

t.test("a crash: the running case has its start but no duration; the programs that never started took 0 ms", async (t) => {
  const p = createRunParser();
  p.pushResults(read("outside-tests/panic-in-first-program.results.log"));
  p.pushConsole(read("outside-tests/panic-in-first-program.console.log"));
  const run = nameUnstartedPrograms(p.finish({ end: "panic" }), [{ name: "net_tcp" }, { name: "net_rules" }]);
  const byId = new Map(flat(run.tests).map((x) => [x.id, x]));
  const running = byId.get("net_tcp.tcp.ipv4.bind_denied");
  t.equal(running?.status, "CRASH");
  t.equal(running?.startMs, 678.1, "`[    0.678100] kharness: start net_tcp.tcp.ipv4.bind_denied`");
  t.equal(running?.durationMs, undefined, "it never ended");
  t.match(byId.get("net_rules"), { status: "CRASH", reason: "not run: kernel crashed", durationMs: 0 });
  t.match(byId.get("net_tcp.tcp.ipv4.bind_allowed"), { startMs: 650.7, durationMs: 13.7 });
});
