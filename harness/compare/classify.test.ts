// Pure: classification of every pair of statuses, kernel reports new since the base, flaky instead of regression,
// and the Markdown escaping of hostile test names.
import t from "tap";
import { summarize } from "../results/index.js";
import type { KernelEvent, RunResult, Status, TestResult } from "../types.js";
import { classifyPair, compareRuns, kernelReportKey } from "./classify.js";
import { renderComparisonMarkdown, renderComparisonTerminal } from "./render.js";

const leaf = (id: string, status: Status, reason?: string, kernelEvents: KernelEvent[] = []): TestResult => ({
  id,
  name: id,
  status,
  ...(reason ? { reason } : {}),
  log: [],
  kernelEvents,
  children: [],
});
const prog = (id: string, status: Status, children: TestResult[]): TestResult => ({ id, name: id, status, log: [], kernelEvents: [], children });
const run = (runId: string, tests: TestResult[], kernelEvents: KernelEvent[] = []): RunResult => ({
  schemaVersion: 1,
  runId,
  tests,
  summary: summarize(tests),
  diagnostics: [],
  kernelEvents,
});
const refs = { base: { runId: "b", path: "/b" }, new: { runId: "n", path: "/n" } };

t.test("every pair of statuses gets the class the issue defines", async (t) => {
  const cases: [Status, Status, string][] = [
    ["PASS", "FAIL", "regression"],
    ["SKIP", "TIMEOUT", "regression"],
    ["XFAIL", "CRASH", "regression"],
    ["PASS", "ERROR", "regression"],
    ["FAIL", "PASS", "fix"],
    ["CRASH", "SKIP", "fix"],
    ["FAIL", "FAIL", "still-failing"],
    ["FAIL", "TIMEOUT", "still-failing"],
    ["PASS", "PASS", "unchanged"],
    ["XFAIL", "XFAIL", "unchanged"],
    ["SKIP", "PASS", "skip-reason-changed"],
    ["PASS", "SKIP", "skip-reason-changed"],
  ];
  for (const [b, n, want] of cases) t.equal(classifyPair({ status: b }, { status: n }).class, want, `${b} -> ${n}`);
  t.equal(classifyPair({ status: "SKIP", reason: "a" }, { status: "SKIP", reason: "a" }).class, "unchanged");
  t.equal(classifyPair({ status: "SKIP", reason: "a" }, { status: "SKIP", reason: "b" }).class, "skip-reason-changed");
});

t.test("compareRuns: new, missing, parents, verdict", async (t) => {
  const base = run("b", [prog("p", "FAIL", [leaf("p.a", "PASS"), leaf("p.b", "FAIL")]), leaf("gone", "PASS"), leaf("q", "SKIP", "no feature")]);
  const next = run("n", [prog("p", "FAIL", [leaf("p.a", "FAIL"), leaf("p.b", "PASS")]), leaf("fresh", "PASS"), leaf("q", "PASS")]);
  const c = compareRuns(base, next, refs);
  const cls = Object.fromEntries(c.tests.map((x) => [x.id, x.class]));
  t.same(
    cls,
    { fresh: "new", gone: "missing", "p.a": "regression", "p.b": "fix", q: "skip-reason-changed" },
    "the parent p is no entry of its own: a child shows its FAIL",
  );
  t.equal(c.verdict, "regressed");
  t.same(c.summary, { regression: 1, fix: 1, new: 1, missing: 1, stillFailing: 0, skipReasonChanged: 1, flaky: 0, newKernelReports: 0, unchanged: 0 });
  const self = compareRuns(base, base, refs);
  t.equal(self.verdict, "clean", "a run against itself is clean");
  t.equal(self.summary.unchanged + self.summary.stillFailing, self.tests.length);
});

t.test("a missing test alone regresses; a fix alone does not", async (t) => {
  t.equal(compareRuns(run("b", [leaf("x", "PASS"), leaf("y", "PASS")]), run("n", [leaf("x", "PASS")]), refs).verdict, "regressed");
  t.equal(compareRuns(run("b", [leaf("x", "FAIL")]), run("n", [leaf("x", "PASS")]), refs).verdict, "clean");
});

t.test("kernel reports: only those absent from the base, matched without addresses and pids", async (t) => {
  const w = (title: string, kind: KernelEvent["kind"] = "warning"): KernelEvent => ({ kind, title, lines: [title] });
  t.equal(
    kernelReportKey(w("WARNING: CPU: 1 PID: 77 at net/core/sock.c:123 sk_alloc+0x1a/0x40")),
    kernelReportKey(w("WARNING: CPU: 0 PID: 912 at net/core/sock.c:123 sk_alloc+0x2b/0x40")),
  );
  const base = run("b", [leaf("a", "PASS", undefined, [w("WARNING: CPU: 1 PID: 7 at x.c:1 f+0x1/0x2")])]);
  const next = run(
    "n",
    [leaf("a", "PASS", undefined, [w("WARNING: CPU: 0 PID: 9 at x.c:1 f+0x1/0x2")]), { ...leaf("kernel", "CRASH"), kernelEvents: [] }],
    [w("BUG: kernel NULL pointer dereference, address: 0000000000000008", "bug")],
  );
  const c = compareRuns(base, next, refs);
  t.same(
    c.newKernelReports.map((k) => k.kind),
    ["bug"],
    "the same WARNING is not new; the BUG is",
  );
  t.equal(c.tests.find((x) => x.id === "kernel")?.class, "new", "the kernel CRASH entry is a new test");
  t.equal(c.verdict, "regressed");
});

t.test("a test that flips in history is flaky, not a regression, and the note says so", async (t) => {
  const c = compareRuns(run("b", [leaf("coin", "PASS")]), run("n", [leaf("coin", "FAIL")]), refs, {
    flaky: new Map([["coin", { score: 0.5, runs: 10, flips: 4 }]]),
  });
  t.equal(c.tests[0]?.class, "flaky");
  t.match(c.tests[0]?.note, /flaky in history \(flake score 0\.50: 4 flips in 10 runs/);
  t.equal(c.verdict, "clean");
  t.match(renderComparisonTerminal(c), /Flaky .*\n {2}coin: PASS -> FAIL; flaky in history/);
});

t.test("Markdown shows hostile names as text", async (t) => {
  const c = compareRuns(run("b", [leaf("x", "PASS")]), run("n", [leaf("x", "FAIL", "<script>alert(1)</script> *bold* [l](http://e)")]), refs);
  const md = renderComparisonMarkdown(c);
  t.notMatch(md, /<script>/);
  t.match(md, /&lt;script&gt;/);
  t.match(md, /\\\*bold\\\* \\\[l\\\]/);
  t.match(md, /^### kharness: REGRESSED$/m);
  t.match(md, /^- x: PASS → FAIL/m);
});
