// Renderers: terminal, JSON, JUnit (checked by a real XML parser), KCIDB v5 constraints, and TAP read back by
// kharness and by the kernel's own kunit.py to the same counts.
import t from "tap";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { renderJson, renderJunit, renderKcidb, renderTap, renderTerminal, KCIDB_LOG_EXCERPT_MAX } from "./index.js";
import { nothingPassed, parseLog, runFailed } from "../results/index.js";
import { exitCodeForRun } from "../exit-codes.js";
import type { RunResult } from "../types.js";
import { createExec } from "../exec/exec.js";
import { unpackKunitTool } from "../../test/support/kunit-source.js";

const testdata = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "results", "testdata");
const fixture = (name: string): RunResult => parseLog(readFileSync(path.join(testdata, name)));
const tmp = mkdtempSync(path.join(os.tmpdir(), "kharness-report-"));

// A run with every status, a nasty name and a long log.
const NASTY =
  [
    "KTAP version 1",
    "1..9",
    "ok 1 pass_me",
    "not ok 2 fail <&> \"quoted\" 'single' \u0001ctl",
    "ok 3 skip_me # SKIP not here",
    "not ok 4 xfail_me # XFAIL known",
    "ok 5 xpass_me # XPASS",
    "not ok 6 timeout_me # TIMEOUT 45 seconds",
    "not ok 7 error_me # error could not start",
    "# selftests: kharness: prog",
    "# 1..2",
    ...Array.from({ length: 3000 }, (_, i) => `# # line ${i} ${"x".repeat(20)}`),
    "# ok 1 case_a",
    "# ok 2 case_b",
    "not ok 8 prog # exit=1",
  ].join("\n") + "\n";

const runs: [string, RunResult][] = [
  ["panic-mid-test", fixture("panic-mid-test.log")],
  ["timeout-after-bare-hash", fixture("timeout-after-bare-hash.log")],
  ["nesting-2-4-8-spaces-and-tab", fixture("nesting-2-4-8-spaces-and-tab.log")],
  ["skip-all-plan-nested", fixture("skip-all-plan-nested.log")],
  ["xpass-counts-as-failure", fixture("xpass-counts-as-failure.log")],
  ["no-tap-boot-failure", fixture("no-tap-boot-failure.log")],
  ["kernel-entry", fixture("outside-tests/oops-and-panic-after-last-result.log")],
  ["every-status", parseLog(NASTY)],
];

t.test("terminal: counts, each failing test with reason, log tail and kernel reports; colour only when asked", async (t) => {
  const run = fixture("panic-mid-test.log");
  const plain = renderTerminal(run, { color: false });
  t.notMatch(plain, /\x1b\[/);
  t.match(plain, /CRASH\s+net_tcp\.tcp\.ipv4\.bind_denied: kernel panic while it ran/);
  t.match(plain, /kernel panic: Kernel panic - not syncing: Fatal exception/);
  t.match(plain, /FAILED: pass 1, fail 0, crash 4 \(total 5\)/);
  t.match(renderTerminal(run, { color: true }), /\x1b\[1;31mFAILED/);
  const ok = renderTerminal(fixture("skip-all-plan-nested.log"), { color: false });
  t.match(ok, /\nPASSED: pass 1, fail 0, skip 1 \(total 2\)\n$/, "the verdict line comes last");
  t.match(ok, /^ {2}net_tcp +skip 1\n {2}net_rules +pass 1\n/, "one line per program with its counts");
  t.match(ok, /SKIP {4}1 test: \(no reason given\)\n {4}net_tcp\n/, "skips grouped by reason, naming the tests");
});

t.test("a run where nothing passed says so, on the terminal and in results.json; its exit code stays 0", async (t) => {
  const skipped = fixture("skip-all-plan-top-level.log");
  t.equal(nothingPassed(skipped), true);
  t.notOk(runFailed(skipped), "nothing failed either");
  t.equal(exitCodeForRun(skipped, { bisect: false }), 0, "exit code unchanged (--fail-on-skip is the CLI's)");
  t.match(renderTerminal(skipped, { color: false }), /\nNOTHING PASSED: pass 0, fail 0, skip 1 \(total 1\): no test passed \(every test was skipped\)\n$/);
  t.notMatch(renderTerminal(skipped, { color: false }), /^PASSED/m, "never the green verdict");
  t.match(renderTerminal(skipped, { color: true }), /\x1b\[1;33mNOTHING PASSED/, "in yellow, not green");
  t.match(JSON.parse(renderJson(skipped)), { passed: true, nothingPassed: true });
  const some = fixture("skip-all-plan-nested.log");
  t.equal(nothingPassed(some), false);
  t.match(JSON.parse(renderJson(some)), { passed: true, nothingPassed: false });
  t.match(renderTerminal(some, { color: false }), /\nPASSED: pass 1, fail 0, skip 1 \(total 2\)\n$/);
  const crashed = fixture("panic-mid-test.log");
  t.match(JSON.parse(renderJson(crashed)), { passed: false, nothingPassed: false });
});

t.test("json: versioned, integer summary counts, the whole result", async (t) => {
  const run = fixture("timeout-after-bare-hash.log");
  const doc = JSON.parse(renderJson(run));
  t.equal(doc.schemaVersion, 1);
  t.same(Object.keys(doc.summary).sort(), ["crash", "error", "fail", "pass", "skip", "timeout", "total", "xfail", "xpass"]);
  t.ok(Object.values(doc.summary).every((n) => Number.isInteger(n)));
  t.equal(doc.passed, false);
  t.equal(doc.tests[0].id, "landlock:fs_test");
  t.equal(doc.tests[0].status, "TIMEOUT");
});

t.test("junit: well-formed XML (checked by python's parser), escaped, forbidden characters removed, one testcase per leaf", async (t) => {
  const exec = createExec();
  for (const [name, run] of runs) {
    const xml = renderJunit(run);
    t.notMatch(xml, /[\x00-\x08\x0B\x0C\x0E-\x1F]/, `${name}: no forbidden characters`);
    const file = path.join(tmp, `${name}.xml`);
    writeFileSync(file, xml);
    const res = await exec.run([
      "python3",
      "-c",
      "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); c = r.findall('.//testcase'); print(len(c), r.get('failures'), r.get('errors'), r.get('skipped'))",
      file,
    ]);
    t.equal(res.exitCode, 0, `${name}: parses: ${res.tail.join(" ")}`);
    const [cases, failures, errors, skipped] = res.stdout.trim().split(" ").map(Number);
    const s = run.summary;
    t.equal(cases, s.total, `${name}: one testcase per counted entry`);
    t.equal(failures, s.fail + s.xpass + s.timeout, `${name}: failures`);
    t.equal(errors, s.crash + s.error, `${name}: errors`);
    t.equal(skipped, s.skip, `${name}: skipped`);
  }
  const xml = renderJunit(parseLog(NASTY));
  t.match(xml, /<testcase classname="kharness" name="fail_&lt;&amp;&gt;_&quot;quoted&quot;_&apos;single&apos;_ctl">/);
  t.match(xml, /<testcase classname="prog" name="case_a">/, "classname is the id prefix");
  t.match(xml, /<error type="CRASH"|<failure type="TIMEOUT"/);
});

t.test("kcidb: v5 ids, dotted paths matching the schema pattern, mapped statuses, bounded log excerpts", async (t) => {
  const PATH = /^([a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*)?$/;
  for (const [name, run] of runs) {
    const doc = JSON.parse(renderKcidb(run, { origin: "kharness", runId: "r1" }));
    t.same(doc.version, { major: 5, minor: 3 });
    t.equal(doc.builds[0].checkout_id, doc.checkouts[0].id);
    t.equal(doc.tests.length, run.summary.total, `${name}: one test per counted entry`);
    for (const x of doc.tests) {
      t.match(x.id, /^kharness:/);
      t.equal(x.build_id, "kharness:r1:build");
      t.ok(PATH.test(x.path), `${name}: path ${x.path}`);
      t.ok(["PASS", "FAIL", "ERROR", "MISS", "SKIP"].includes(x.status));
      if (x.log_excerpt !== undefined) t.ok([...x.log_excerpt].length <= KCIDB_LOG_EXCERPT_MAX);
    }
  }
  const doc = JSON.parse(renderKcidb(fixture("panic-mid-test.log"), { origin: "kharness", runId: "r1", buildId: "ci:b7", checkoutId: "ci:c7" }));
  t.notOk(doc.builds, "no build object when the caller has one");
  const by = Object.fromEntries(doc.tests.map((x: { path: string; status: string }) => [x.path, x.status]));
  t.same(by, { "net_tcp.tcp.ipv4.bind_allowed": "PASS", "net_tcp.tcp.ipv4.bind_denied": "FAIL", "net_tcp.test_3": "MISS", test_2: "MISS", test_3: "MISS" });
  const big = JSON.parse(renderKcidb(parseLog(NASTY), { origin: "kharness", runId: "r1" }));
  const prog = big.tests.find((x: { path: string }) => x.path === "prog.case_a");
  t.ok(prog.log_excerpt.length > 1000 && prog.log_excerpt.length <= KCIDB_LOG_EXCERPT_MAX);
});

t.test("tap: kharness reads its own KTAP back to the same statuses and counts", async (t) => {
  for (const [name, run] of runs) {
    const back = parseLog(renderTap(run));
    t.same(back.summary, run.summary, name);
    t.equal(runFailed(back), runFailed(run), name);
  }
});

t.test("tap: the kernel's kunit.py parse reads the same pass/fail/skip counts", async (t) => {
  const kunitDir = await unpackKunitTool();
  if (!kunitDir) return t.skip("linux-source-6.12 is not installed", () => undefined);
  const exec = createExec();
  for (const [name, run] of runs) {
    const file = path.join(tmp, `${name}.tap`);
    writeFileSync(file, renderTap(run));
    const res = await exec.run(["python3", path.join(kunitDir, "kunit.py"), "parse", file]);
    const line = res.tail.find((l) => l.includes("Testing complete."));
    t.ok(line, `${name}: kunit.py printed its summary`);
    const count = (k: string): number => Number(new RegExp(`${k}: (\\d+)`).exec(line ?? "")?.[1] ?? 0);
    const s = run.summary;
    t.equal(count("passed"), s.pass + s.xfail, `${name}: passed = pass + xfail`);
    t.equal(count("failed") + count("crashed"), s.fail + s.xpass + s.timeout + s.crash + s.error, `${name}: failed = every failing status`);
    t.equal(count("skipped"), s.skip, `${name}: skipped`);
    t.equal(res.exitCode === 0, !runFailed(run), `${name}: kunit.py's verdict agrees`);
  }
});
