// The 23 edge cases of specs/ktap.md, each replayed from a recorded log in testdata/ named after the case.
import t from "tap";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as path from "node:path";
import { createLogParser, parseLog, runFailed, toIdSegment } from "./index.js";
import type { RunResult, TestResult } from "../types.js";

const here = path.dirname(fileURLToPath(import.meta.url));
function readFixture(name: string): Buffer {
  return readFileSync(path.join(here, "testdata", name));
}
function parseFixture(name: string): RunResult {
  return parseLog(readFixture(name));
}
function flat(tests: readonly TestResult[]): TestResult[] {
  return tests.flatMap((x) => [x, ...flat(x.children)]);
}
function byId(run: RunResult, id: string): TestResult | undefined {
  return flat(run.tests).find((x) => x.id === id);
}
function statuses(run: RunResult): Record<string, string> {
  return Object.fromEntries(flat(run.tests).map((x) => [x.id, x.status]));
}

t.test("1. printk prefix on every line, with the width changing mid-run", async (t) => {
  const run = parseFixture("printk-prefix-width-changes.log");
  t.same(statuses(run), {
    net_tcp: "PASS",
    "net_tcp.tcp.ipv4.bind_allowed": "PASS",
    "net_tcp.tcp.ipv4.bind_denied": "PASS",
    net_rules: "FAIL",
    "net_rules.rules.ipv6.connect_denied": "FAIL",
  });
  t.equal(run.summary.total, 3);
});

t.test("2. kernel messages between results, and a kernel message spliced into the middle of a result line", async (t) => {
  const run = parseFixture("kernel-messages-between-and-inside-results.log");
  t.equal(byId(run, "net_tcp.tcp.ipv4.bind_denied")?.status, "PASS", "the spliced line is rejoined");
  t.equal(byId(run, "net_rules")?.status, "PASS", "the spliced top-level line is rejoined");
  t.equal(byId(run, "net_layers")?.status, "FAIL");
  t.match(run.summary, { pass: 3, fail: 1, total: 4 });
  t.notOk(
    flat(run.tests).some((x) => /clocksource|virtio_net/.test(x.name)),
    "kernel text never becomes a name",
  );
});

t.test("3. \\r\\n, \\r\\r\\n and a lone \\r", async (t) => {
  const run = parseFixture("cr-crlf-crcrlf-line-ends.log");
  t.same(statuses(run), { first: "PASS", second: "PASS", third: "FAIL", fourth: "PASS" });
  t.equal(run.diagnostics.filter((d) => d.level !== "info").length, 0);
});

t.test("4. ANSI escape sequences, non-UTF-8 bytes and NUL", async (t) => {
  const run = parseFixture("ansi-invalid-utf8-nul.log");
  t.equal(run.tests.length, 3);
  t.equal(run.tests[0]?.id, "colored");
  t.equal(run.tests[1]?.status, "PASS");
  t.match(run.tests[1]?.name, /^bytes_\uFFFD+_invalid$/);
  t.equal(run.tests[2]?.id, "nul_inside");
  t.equal(run.tests[2]?.status, "FAIL");
});

t.test("5. panic in the middle of a test: running test CRASH with the panic text, never-started tests CRASH placeholders", async (t) => {
  const run = parseFixture("panic-mid-test.log");
  const running = byId(run, "net_tcp.tcp.ipv4.bind_denied");
  t.equal(running?.status, "CRASH", "the kmsg marker names the running case");
  t.ok(running?.kernelEvents.some((e) => e.kind === "panic" && /Kernel panic - not syncing: Fatal exception/.test(e.title)));
  t.ok(
    running?.kernelEvents.some((e) => e.kind === "oops" && e.lines.some((l) => /RIP: 0010:landlock_check/.test(l))),
    "the oops report lines are kept",
  );
  t.equal(byId(run, "net_tcp.tcp.ipv4.bind_allowed")?.status, "PASS");
  t.equal(byId(run, "net_tcp.test_3")?.status, "CRASH");
  t.match(byId(run, "net_tcp.test_3")?.reason, /not run: kernel crashed/);
  t.equal(byId(run, "net_tcp")?.status, "CRASH");
  t.equal(byId(run, "test_2")?.status, "CRASH", "top-level programs that never started");
  t.equal(byId(run, "test_3")?.status, "CRASH");
  t.match(run.summary, { pass: 1, crash: 4, total: 5 });
  t.ok(runFailed(run));
  t.notOk(
    flat(run.tests).some((x) => x.log.some((l) => /^kharness: (start|end) /.test(l))),
    "kmsg markers are protocol, not log",
  );
});

t.test("6. output cut mid-line at the end is never a pass", async (t) => {
  const partial = parseFixture("cut-off-last-line-partial-name.log");
  t.equal(byId(partial, "partial_na")?.status, "CRASH");
  t.equal(partial.summary.pass, 1);
  t.ok(runFailed(partial));
  const noto = parseFixture("cut-off-last-line-not-o.log");
  t.equal(noto.tests[1]?.status, "CRASH");
  t.match(noto.tests[1]?.reason, /cut off/);
  t.equal(noto.summary.pass, 1);
  t.ok(runFailed(noto));
});

t.test("7. no TAP at all (boot failure) is a failure to run, never a pass", async (t) => {
  const run = parseFixture("no-tap-boot-failure.log");
  t.equal(run.tests.length, 1);
  t.equal(run.tests[0]?.id, "no_tap_output");
  t.equal(run.tests[0]?.status, "CRASH");
  t.ok(run.tests[0]?.kernelEvents.some((e) => e.kind === "panic"));
  t.ok(run.diagnostics.some((d) => d.level === "error"));
  t.ok(runFailed(run));
  const empty = parseLog("");
  t.equal(empty.tests[0]?.status, "ERROR");
  t.ok(runFailed(empty));
});

t.test("8. 1..0 # SKIP reason, top level and nested", async (t) => {
  const top = parseFixture("skip-all-plan-top-level.log");
  t.equal(top.tests[0]?.status, "SKIP");
  t.equal(top.tests[0]?.reason, "landlock is not enabled");
  t.notOk(runFailed(top), "all skipped is not a failure");
  const nested = parseFixture("skip-all-plan-nested.log");
  t.same(statuses(nested), { net_tcp: "SKIP", net_rules: "PASS", "net_rules.rules.ipv4.bind": "PASS" });
  t.match(nested.summary, { skip: 1, pass: 1, total: 2 });
});

t.test("9. missing plan at top level and nested", async (t) => {
  const run = parseFixture("missing-plan-top-and-nested.log");
  t.same(statuses(run), {
    net_tcp: "FAIL",
    "net_tcp.tcp.ipv4.bind_allowed": "PASS",
    "net_tcp.tcp.ipv4.bind_denied": "FAIL",
    net_rules: "PASS",
    "net_rules.rules.ipv4.bind": "PASS",
  });
  t.match(run.summary, { pass: 2, fail: 1, total: 3 });
});

t.test("10. nested test with neither plan nor # Subtest: header", async (t) => {
  const run = parseFixture("nested-without-plan-or-header.log");
  t.same(statuses(run), { suite_one: "FAIL", "suite_one.case_a": "PASS", "suite_one.case_b": "FAIL", suite_two: "PASS", "suite_two.case_c": "PASS" });
});

t.test("11. nesting by 2, 4, 8 spaces, a tab; runner # nesting two levels deep; nested output with no version line", async (t) => {
  const spaces = parseFixture("nesting-2-4-8-spaces-and-tab.log");
  t.same(statuses(spaces), {
    two_spaces: "PASS",
    "two_spaces.a": "PASS",
    four_spaces: "PASS",
    "four_spaces.b": "PASS",
    eight_spaces: "FAIL",
    "eight_spaces.c": "FAIL",
    tab: "PASS",
    "tab.d": "PASS",
    "tab.tab_tab": "PASS",
    "tab.tab_tab.e": "PASS",
  });
  const runner = parseFixture("runner-nesting-two-levels-no-version.log");
  t.same(statuses(runner), {
    "landlock:net_test": "FAIL",
    "landlock:net_test.socket": "FAIL",
    "landlock:net_test.socket.socket.create_allowed": "PASS",
    "landlock:net_test.socket.socket.create_denied": "FAIL",
  });
  t.equal(runner.tests[0]?.name, "selftests: landlock: net_test", "the human name is kept");
});

t.test("12. result lines with no name", async (t) => {
  const run = parseFixture("unnamed-results.log");
  t.same(statuses(run), { test_1: "PASS", test_2: "SKIP", test_3: "FAIL" });
  t.equal(run.tests[1]?.reason, "no such feature");
});

t.test("13. XPASS on an ok line counts as a failure", async (t) => {
  const run = parseFixture("xpass-counts-as-failure.log");
  t.same(statuses(run), { expected_fail: "XFAIL", unexpected_pass: "XPASS", todo_fails: "XFAIL", todo_passes: "XPASS" });
  t.match(run.summary, { xfail: 2, xpass: 2 });
  t.ok(runFailed(run));
});

t.test("14. not ok ... # TIMEOUT 45 seconds preceded by a bare # line", async (t) => {
  const run = parseFixture("timeout-after-bare-hash.log");
  const fs = byId(run, "landlock:fs_test");
  t.equal(fs?.status, "TIMEOUT");
  t.match(fs?.reason, /45 seconds/);
  t.equal(byId(run, "landlock:net_test")?.status, "PASS");
  t.match(byId(run, "landlock:fs_test.test_2")?.reason, /not run: the program timed out/);
  t.equal(run.summary.timeout, 1, "the printed TIMEOUT is counted although placeholders follow");
  t.equal(run.summary.error, 9);
});

t.test("15. # exit=N results, including 139 (signal) and a missing test file", async (t) => {
  const run = parseFixture("exit-code-results.log");
  t.equal(byId(run, "segv_prog")?.status, "FAIL");
  t.equal(byId(run, "segv_prog")?.reason, "killed by signal 11 (SIGSEGV)");
  t.equal(byId(run, "failing_prog")?.reason, "exit code 1");
  t.match(byId(run, "missing_prog")?.reason, /127.*not found/);
  t.same(byId(run, "missing_prog")?.log, ["# selftests: kharness: missing_prog", "# Warning: file missing_prog is missing!"]);
  t.equal(byId(run, "fine_prog")?.status, "PASS", "exit=0 is data, not a directive");
});

t.test("16. Bail out! nested and at column 0, followed by more tests", async (t) => {
  const run = parseFixture("bail-out-nested-and-column-0.log");
  t.equal(byId(run, "net_tcp")?.status, "FAIL");
  t.equal(byId(run, "net_tcp.tcp.ipv4.bind")?.status, "PASS");
  t.equal(byId(run, "net_tcp.test_2")?.status, "ERROR");
  t.match(byId(run, "net_tcp.test_2")?.reason, /Bail out! cannot create a network namespace/);
  t.equal(byId(run, "net_rules")?.status, "PASS", "a nested bail out ends only its program");
  t.equal(byId(run, "net_layers")?.status, "PASS", "results after a column-0 bail out still count");
  t.ok(run.diagnostics.some((d) => /Bail out! init lost the results port/.test(d.message)));
});

t.test("17. duplicate numbers, gaps, out-of-order numbers", async (t) => {
  const run = parseFixture("duplicate-gap-out-of-order-numbers.log");
  t.same(
    run.tests.map((x) => [x.id, x.status]),
    [
      ["one", "PASS"],
      ["three", "PASS"],
      ["two", "PASS"],
      ["two_again", "FAIL"],
      ["five", "PASS"],
      ["test_4", "CRASH"],
    ],
  );
  t.ok(run.diagnostics.some((d) => /reported again/.test(d.message)));
  t.ok(run.diagnostics.some((d) => /out of order/.test(d.message)));
  t.equal(run.summary.fail, 1, "a repeated number never hides a failure");
});

t.test("18. more results than the plan", async (t) => {
  const run = parseFixture("more-results-than-plan.log");
  t.equal(byId(run, "three_unplanned")?.status, "FAIL");
  t.equal(run.summary.total, 3);
  t.ok(run.diagnostics.some((d) => /beyond the plan/.test(d.message)));
});

t.test("19. several TAP documents concatenated", async (t) => {
  const run = parseFixture("concatenated-documents.log");
  t.same(statuses(run), { "landlock:fs_test": "PASS", "landlock:net_test": "PASS", "net:socket": "FAIL" });
});

t.test("20. a Totals line that disagrees with the parsed results", async (t) => {
  const run = parseFixture("totals-disagree.log");
  t.match(run.summary, { pass: 1, fail: 1, skip: 1 });
  t.ok(run.diagnostics.some((d) => /Totals line disagrees/.test(d.message) && d.where === "net_tcp"));
});

t.test("21. ok 1 - name, a # inside a name, trailing spaces, double spaces", async (t) => {
  const run = parseFixture("name-forms.log");
  t.same(
    run.tests.map((x) => [x.id, x.name, x.status]),
    [
      ["dashed_name", "dashed name", "PASS"],
      ["hash#inside", "hash#inside", "PASS"],
      ["trailing_spaces", "trailing spaces", "PASS"],
      ["double_spaces", "double  spaces", "PASS"],
      ["escaped_#_hash", "escaped # hash", "SKIP"],
      ["name", "name", "FAIL"],
    ],
  );
});

t.test("22. a stream delivered in chunks that split lines (and multibyte characters)", async (t) => {
  const bytes = readFixture("chunked-stream-split-lines.log");
  const whole = parseLog(bytes);
  t.equal(whole.tests[0]?.id, "net_ét");
  for (const size of [1, 2, 3, 5, 7, 64]) {
    const p = createLogParser();
    for (let i = 0; i < bytes.length; i += size) p.push(bytes.subarray(i, i + size));
    const run = p.finish();
    t.same(statuses(run), statuses(whole), `chunks of ${size} bytes`);
    t.same(run.summary, whole.summary);
  }
});

t.test("23. very large input: memory stays bounded", async (t) => {
  const seed = readFixture("large-input-seed.log").toString("utf8");
  const spew = seed.split("\n")[0] + "\n";
  const p = createLogParser({ maxLogLinesPerTest: 50 });
  p.push("KTAP version 1\n1..1\n# selftests: kharness: spew\n# 1..1\n");
  const block = spew.repeat(10_000);
  const before = process.memoryUsage().heapUsed;
  // About 100 MB of console spew while one program runs.
  for (let i = 0; i < 150; i++) p.push(Buffer.from(block));
  p.push("[  123.456790] WARNING: CPU: 0 PID: 1 at mm/slub.c:1 x\n" + "[  1.0] trace line\n".repeat(10_000));
  p.push("# ok 1 spew.case\nok 1 spew\n");
  const grown = process.memoryUsage().heapUsed - before;
  const run = p.finish();
  t.equal(byId(run, "spew.spew.case")?.status, "PASS");
  // Unindented kernel lines belong to the program, not to its case.
  const log = byId(run, "spew")?.log ?? [];
  t.ok(log.length <= 51, `log capped (${log.length} lines)`);
  t.ok(
    log.some((l) => /log lines omitted/.test(l)),
    "the cut is marked",
  );
  const ev = flat(run.tests).flatMap((x) => x.kernelEvents);
  t.ok(
    ev.every((e) => e.lines.length <= 121),
    "kernel report lines capped",
  );
  t.ok(grown < 64 * 1024 * 1024, `heap grew ${Math.round(grown / 1e6)} MB for ~100 MB of input`);
});

t.test("id segments: a plain name is kept as it is; whitespace, control characters, separators and runner names are rewritten", async (t) => {
  const kept = ["case_1", "a.b-c:d", "x~2", "Ünïcode_name", "名前", "s", "selftests_x"];
  for (const name of kept) t.equal(toIdSegment(name, 1), name, `kept: ${JSON.stringify(name)}`);
  const rewritten: [string, string][] = [
    ["two words", "two_words"],
    ["tab\there", "tab_here"],
    ["../../etc", ".._.._etc"],
    ["back\\slash", "back_slash"],
    ["bell\u0007", "bell"],
    ["del\u007f", "del"],
    ["c1\u0085x", "c1x"],
    ["nbsp\u00a0x", "nbsp_x"],
    ["ideographic\u3000space", "ideographic_space"],
    ["selftests: net: tcp", "net:tcp"],
    ["selftests: kharness: prog", "prog"],
    [" ", "test_3"],
    ["", "test_3"],
  ];
  for (const [name, id] of rewritten) t.equal(toIdSegment(name, 3), id, `rewritten: ${JSON.stringify(name)}`);
});
