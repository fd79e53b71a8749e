// The kernel's own recorded logs (tools/testing/kunit/test_data, read from linux-source-6.12 at test time) against
// what kunit_tool_test.py expects of kunit.py, wherever the two formats' semantics overlap.
import t from "tap";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parseLog, runFailed } from "./index.js";
import type { RunResult, TestResult } from "../types.js";
import { LINUX_SOURCE_TARBALL, unpackKunitTool } from "../../test/support/kunit-source.js";

const kunitDir = await unpackKunitTool();
if (!kunitDir) {
  t.skip(`linux-source-6.12 is not installed (${LINUX_SOURCE_TARBALL} missing): apt-get install linux-source-6.12`, () => undefined);
} else {
  const read = (name: string): RunResult => parseLog(readFileSync(path.join(kunitDir, "test_data", name)));
  const leaves = (ts: readonly TestResult[]): TestResult[] => ts.flatMap((x) => (x.children.length ? leaves(x.children) : [x]));

  t.test("test_parse_successful_test_log: all passed", async (t) => {
    const run = read("test_is_test_passed-all_passed.log");
    t.notOk(runFailed(run));
    t.equal(run.summary.fail + run.summary.error + run.summary.crash, 0);
  });

  t.test("test_parse_successful_nested_tests_log: nested suites all passed", async (t) => {
    const run = read("test_is_test_passed-all_passed_nested.log");
    t.notOk(runFailed(run));
    t.equal(run.tests[0]?.children[1]?.id, "sysctl_test.example", "a suite nested inside a suite");
  });

  t.test("test_kselftest_nested: kselftest runner output", async (t) => {
    const run = read("test_is_test_passed-kselftest.log");
    t.notOk(runFailed(run));
    t.equal(run.summary.pass, 4);
  });

  t.test("test_parse_failed_test_log: a failure", async (t) => {
    const run = read("test_is_test_passed-failure.log");
    t.ok(runFailed(run));
    t.equal(run.summary.fail, 1);
    t.equal(run.summary.error, 0);
  });

  t.test("test_no_header: no KTAP at all is a failure to run (kunit: FAILURE_TO_PARSE_TESTS, 1 error; here 1 CRASH)", async (t) => {
    const run = read("test_is_test_passed-no_tests_run_no_header.log");
    t.equal(run.tests.length, 1);
    // The log ends in a kernel panic, so kharness says CRASH where kunit.py counts a generic error.
    t.equal(run.tests[0]?.status, "CRASH");
    t.equal(run.summary.error + run.summary.crash, 1);
    t.ok(runFailed(run));
  });

  t.test("test_missing_test_plan: 10 passed without a plan", async (t) => {
    const run = read("test_is_test_passed-missing_plan.log");
    t.match(run.summary, { pass: 10, error: 0, total: 10 });
    t.notOk(runFailed(run));
  });

  t.test("test_no_tests: 1..0 without SKIP is an error (kunit: NO_TESTS, 1 error)", async (t) => {
    const run = read("test_is_test_passed-no_tests_run_with_header.log");
    t.equal(run.summary.error, 1);
    t.ok(runFailed(run));
  });

  t.test("test_no_tests_no_plan: passed=1 agrees; kunit's extra error for an empty subtest header does not", async (t) => {
    const run = read("test_is_test_passed-no_tests_no_plan.log");
    t.equal(run.summary.pass, 1);
    // Deliberate difference: kunit.py also counts one error because `# Subtest: case` announced subtests that never
    // came; kharness judges a test by its own result line (`ok 1 - case`), so case is a passing leaf.
    t.equal(run.tests[0]?.children[0]?.id, "suite.case");
    t.equal(run.tests[0]?.children[0]?.children.length, 0);
  });

  t.test("test_no_kunit_output: an empty console is one error", async (t) => {
    const run = read("test_insufficient_memory.log");
    t.equal(run.summary.error, 1);
    t.ok(runFailed(run));
  });

  t.test("test_skipped_test: passed=4 skipped=1", async (t) => {
    const run = read("test_skip_tests.log");
    t.match(run.summary, { pass: 4, skip: 1, total: 5 });
    t.notOk(runFailed(run));
  });

  t.test("test_skipped_all_tests: skipped=5, not a failure", async (t) => {
    const run = read("test_skip_all_tests.log");
    t.match(run.summary, { skip: 5, total: 5 });
    t.notOk(runFailed(run));
  });

  t.test("test_ignores_hyphen: names without the '- '", async (t) => {
    const run = read("test_strip_hyphen.log");
    t.same(
      run.tests.map((x) => x.name),
      ["sysctl_test", "example"],
    );
    t.notOk(runFailed(run));
  });

  for (const [kunitTest, file] of [
    ["test_ignores_prefix_printk_time", "test_config_printk_time.log"],
    ["test_ignores_multiple_prefixes", "test_multiple_prefixes.log"],
    ["test_prefix_mixed_kernel_output", "test_interrupted_tap_output.log"],
    ["test_prefix_poundsign", "test_pound_sign.log"],
    ["test_pound_no_prefix", "test_pound_no_prefix.log"],
  ] as const) {
    t.test(`${kunitTest}: every suite passes, first suite kunit-resource-test; the panic after them fails the run`, async (t) => {
      const run = read(file);
      t.equal(run.tests[0]?.name, "kunit-resource-test");
      const suites = run.tests.filter((x) => x.id !== "kernel");
      t.ok(suites.length >= 3 && suites.every((x) => x.status === "PASS"), "the suites' own verdicts agree with kunit.py");
      // Deliberate difference: kunit.py calls these logs a success because the UML kernel's panic (no root
      // filesystem) is how its runs end. For kharness a panic after the last result line is a kernel fault
      // outside any test: the run-level entry `kernel` is CRASH with the panic attached, and the run fails.
      const kernel = run.tests.find((x) => x.id === "kernel");
      t.equal(kernel?.status, "CRASH");
      t.match(kernel?.reason, /^kernel panic after string-stream-test, the last test: Kernel panic - not syncing: VFS: Unable to mount root fs/);
      t.ok(
        kernel?.kernelEvents.some((e) => e.kind === "panic" && e.testId === "kernel"),
        "the panic report is attached to it",
      );
      t.same(run.kernelEvents, [], "nothing is left outside an entry");
      t.match(run.summary, { fail: 0, error: 0, crash: 1 });
      t.ok(runFailed(run), "a panic after every result line fails the run");
    });
  }

  t.test("test_kernel_panic_end: a panic mid-suite is a crash with at least one error", async (t) => {
    const run = read("test_kernel_panic_interrupt.log");
    t.ok(runFailed(run));
    t.equal(run.tests[0]?.name, "kunit-resource-test");
    const crashed = run.tests.find((x) => x.name === "string-stream-test");
    t.equal(crashed?.status, "CRASH");
    t.ok(
      crashed?.kernelEvents.some((e) => e.kind === "panic"),
      "the panic is attached to the running suite",
    );
    t.ok(run.summary.crash >= 1);
  });

  t.test("test_ktap_format: passed=3, suite with case_1 and case_2", async (t) => {
    const run = read("test_parse_ktap_output.log");
    t.equal(run.summary.pass, 3);
    t.equal(run.tests[0]?.name, "suite");
    t.same(
      run.tests[0]?.children.map((x) => x.name),
      ["case_1", "case_2", "case_3"],
    );
  });

  t.test("test_parse_subtest_header and test_parse_attributes: structure and logs agree; a last line without newline is cut off", async (t) => {
    const header = read("test_parse_subtest_header.log");
    t.equal(header.tests[0]?.name, "suite");
    t.equal(header.tests[0]?.children.length, 1, "suite (1 subtest)");
    const attrs = read("test_parse_attributes.log");
    t.equal(attrs.summary.pass, 1, "passed=1 agrees");
    t.ok(attrs.tests[0]?.log.includes("# module: example"), "suite attributes are the suite's log");
    t.ok(attrs.tests[0]?.children[0]?.log.includes("# test.speed: slow"), "case attributes are the case's log");
    // Deliberate difference: both files end with `ok 1 suite` and no newline. specs/ktap.md says a final line cut
    // off mid-way never counts as a pass, and an unterminated line cannot be told apart from a cut one.
    t.equal(attrs.tests[0]?.status, "CRASH");
    t.equal(leaves(attrs.tests).length, 1);
  });
}
