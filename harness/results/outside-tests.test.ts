// Kernel faults outside every test (issue 10, item 1): before the first test, between two programs, after the last
// result line, during shutdown. Each fails the run through the run-level entry `kernel`, on both paths: the one
// mixed log of `kharness parse` and the two streams (results port + console) of a live run.
import t from "tap";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as path from "node:path";
import { createRunParser, KERNEL_ENTRY_ID, parseLog, runFailed } from "./index.js";
import { renderJunit, renderKcidb, renderTap, renderTerminal, renderJson } from "../report/index.js";
import { exitCodeForRun } from "../exit-codes.js";
import type { RunResult, TestResult } from "../types.js";
import type { StreamEnd } from "./parse-run.js";

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata", "outside-tests");
const read = (name: string) => readFileSync(path.join(dir, name));

const leaves = (ts: readonly TestResult[]): TestResult[] => ts.flatMap((x) => (x.children.length ? leaves(x.children) : [x]));

/** `kharness parse NAME.log`: the console of a guest without a results port, KTAP and kernel log in one stream. */
function single(name: string, failOnWarn = false): RunResult {
  return parseLog(read(`${name}.log`), { failOnWarn });
}

/** The live path: both streams interleaved in 61-byte chunks, as they arrive from QEMU, then the boot's end. */
function twoStream(name: string, end: StreamEnd, failOnWarn = false): RunResult {
  const results = read(`${name}.results.log`);
  const consoleLog = read(`${name}.console.log`);
  const p = createRunParser({ failOnWarn });
  for (let i = 0; i < Math.max(results.length, consoleLog.length); i += 61) {
    if (i < results.length) p.pushResults(results.subarray(i, i + 61));
    if (i < consoleLog.length) p.pushConsole(consoleLog.subarray(i, i + 61));
  }
  return p.finish(end);
}

const CASES = [
  {
    name: "oops-before-first-test",
    end: { end: "poweroff" } as StreamEnd,
    reason: /^kernel oops before the first test: BUG: kernel NULL pointer dereference, address: 0000000000000018$/,
    kinds: ["oops"],
  },
  {
    name: "kasan-between-programs",
    end: { end: "poweroff" } as StreamEnd,
    reason: /^kernel kasan between net_tcp and net_rules: BUG: KASAN: slab-use-after-free in kh_release_timer\+0x2c\/0x40$/,
    kinds: ["kasan"],
  },
  {
    name: "oops-and-panic-after-last-result",
    end: { end: "panic", detail: "Kernel panic - not syncing: Fatal exception in interrupt" } as StreamEnd,
    reason: /^kernel oops after net_rules, the last test: BUG: unable to handle page fault for address: ffffffffc0201000 \(and 1 more: see its log\)$/,
    kinds: ["oops", "panic"],
  },
  {
    name: "bug-during-shutdown",
    end: { end: "poweroff" } as StreamEnd,
    reason: /^kernel bug during shutdown, after the last test: kernel BUG at drivers\/block\/kh_blk\.c:212!$/,
    kinds: ["bug"],
  },
];

for (const c of CASES) {
  for (const [path_, run] of [
    ["one mixed log (kharness parse)", () => single(c.name)],
    ["two streams (a live run)", () => twoStream(c.name, c.end)],
  ] as const) {
    t.test(`${c.name}, ${path_}: every program passes, the run fails with a CRASH entry \`kernel\` carrying the report`, async (t) => {
      const r = run();
      const byId = new Map(leaves(r.tests).map((x) => [x.id, x.status]));
      for (const id of [
        "net_tcp.tcp.ipv4.bind_allowed",
        "net_tcp.tcp.ipv4.bind_denied",
        "net_rules.rules.ipv4.connect_allowed",
        "net_rules.rules.ipv4.connect_denied",
      ])
        t.equal(byId.get(id), "PASS", `${id} keeps its PASS: the report was not during it`);
      t.same(
        r.tests.map((x) => x.id),
        ["net_tcp", "net_rules", KERNEL_ENTRY_ID],
        "the run-level entry comes after the programs",
      );
      const k = r.tests[2]!;
      t.equal(k.status, "CRASH");
      t.match(k.reason, c.reason, "its reason says what and where");
      t.same(
        k.kernelEvents.map((e) => e.kind),
        c.kinds,
        "one event per report (x86's `Oops:` line stays in its report)",
      );
      t.ok(
        k.kernelEvents.every((e) => e.testId === KERNEL_ENTRY_ID && e.lines.length >= 3 && e.atMs !== undefined),
        "the whole report, attached, with its time",
      );
      t.same(r.kernelEvents, [], "no report is left outside an entry");
      t.match(r.summary, { pass: 4, crash: 1, total: 5 });
      t.ok(runFailed(r));
      t.equal(
        exitCodeForRun(
          { ...r, ...(path_.startsWith("two") ? { boot: { end: c.end.end as "poweroff", accel: "tcg", machine: "pc", durations: { totalMs: 1 } } } : {}) },
          { bisect: false },
        ),
        1,
        "exit code 1",
      );
    });
  }
}

t.test("the KASAN report ends at its closing rule: the next program's lines are not part of it", async (t) => {
  for (const r of [single("kasan-between-programs"), twoStream("kasan-between-programs", { end: "poweroff" })]) {
    const e = r.tests.find((x) => x.id === KERNEL_ENTRY_ID)?.kernelEvents[0];
    t.match(e?.lines.at(-1), /^={20,}$/);
    t.notOk(e?.lines.some((l) => /kharness|selftests/.test(l)));
  }
});

t.test("every report format shows the run-level entry with its report", async (t) => {
  const r = twoStream("oops-and-panic-after-last-result", { end: "panic" });
  t.match(
    renderTerminal(r, { color: false }),
    /CRASH {3}kernel: kernel oops after net_rules, the last test: BUG: unable to handle page fault[^\n]*\n(?:.*\n)*? {4}kernel panic: Kernel panic - not syncing: Fatal exception in interrupt\n(?:.*\n)*FAILED: pass 4, fail 0, crash 1 \(total 5\)\n$/,
  );
  const json = JSON.parse(renderJson(r));
  t.equal(json.passed, false);
  t.match(json.tests[2], { id: "kernel", status: "CRASH", kernelEvents: [{ kind: "oops" }, { kind: "panic" }] });
  const junit = renderJunit(r);
  t.match(
    junit,
    /<testsuite name="kernel" tests="1" failures="0" errors="1" skipped="0"[^>]*>\s*<testcase classname="kharness" name="kernel"[^>]*>\s*<error type="CRASH" message="kernel oops after net_rules/,
  );
  t.match(junit, /\[kernel panic\] Kernel panic - not syncing: Fatal exception in interrupt\n {2}Kernel panic - not syncing/, "the report in system-out");
  const kcidb = JSON.parse(renderKcidb(r, { origin: "kharness", runId: "r1" }));
  const kt = kcidb.tests.find((x: { path: string }) => x.path === "kernel");
  t.equal(kt?.status, "FAIL");
  t.match(kt?.log_excerpt, /RIP: 0010:0xffffffffc0201000/);
  const tap = renderTap(r);
  t.match(tap, /\nnot ok 3 kernel # CRASH kernel oops after net_rules/);
  const back = parseLog(tap);
  t.same(back.summary, r.summary, "kharness reads its TAP back to the same counts (its `# kernel ...` lines are comments, not reports)");
});

t.test("a WARNING outside every test is shown but does not fail the run; --fail-on-warn makes it fail", async (t) => {
  for (const [how, r] of [
    ["one log", single("warning-between-programs")],
    ["two streams", twoStream("warning-between-programs", { end: "poweroff" })],
  ] as const) {
    t.notOk(
      r.tests.some((x) => x.id === KERNEL_ENTRY_ID),
      `${how}: no entry`,
    );
    t.equal(r.kernelEvents[0]?.kind, "warning", `${how}: the report stays in the run's kernelEvents`);
    t.notOk(runFailed(r), `${how}: passes`);
    t.match(
      renderTerminal(r, { color: false }),
      /kernel warning outside any test \(not a failure without --fail-on-warn\): WARNING: CPU: 0 PID: 12 at net\/core\/sock\.c:2240/,
    );
    t.match(renderTap(r), /\n# kernel warning outside any test: WARNING: CPU: 0 PID: 12/);
  }
  for (const [how, r] of [
    ["one log", single("warning-between-programs", true)],
    ["two streams", twoStream("warning-between-programs", { end: "poweroff" }, true)],
  ] as const) {
    const k = r.tests.find((x) => x.id === KERNEL_ENTRY_ID);
    t.equal(k?.status, "FAIL", `${how}: --fail-on-warn: FAIL`);
    t.match(k?.reason, /^kernel warning between net_tcp and net_rules \(fail-on-warn\): WARNING: CPU: 0 PID: 12 at net\/core\/sock\.c:2240/);
    t.ok(runFailed(r));
    t.equal(exitCodeForRun(r, { bisect: false }), 1);
  }
});

t.test("a boot that died after every result line, with no report to show for it, still fails the run", async (t) => {
  const results = read("warning-between-programs.results.log");
  for (const [end, status, re] of [
    ["panic", "CRASH", /^kernel crashed \(sysrq\), after the last result line$/],
    ["idle", "TIMEOUT", /^the VM stopped producing output \(no output for 60 s\), after the last result line$/],
    ["qemu-error", "ERROR", /^QEMU failed \(QEMU exited\), after the last result line$/],
  ] as const) {
    const p = createRunParser();
    p.pushResults(results);
    const detail = end === "panic" ? "sysrq" : end === "idle" ? "no output for 60 s" : "QEMU exited";
    const r = p.finish({ end, detail });
    const k = r.tests.find((x) => x.id === KERNEL_ENTRY_ID);
    t.equal(k?.status, status, end);
    t.match(k?.reason, re, end);
    t.ok(runFailed(r), end);
  }
  const p = createRunParser();
  p.pushResults(results);
  t.notOk(
    p.finish({ end: "poweroff" }).tests.some((x) => x.id === KERNEL_ENTRY_ID),
    "a clean poweroff adds nothing",
  );
  t.notOk(
    parseLog(results).tests.some((x) => x.id === KERNEL_ENTRY_ID),
    "nor does the end of a TAP file",
  );
});

t.test("a test's own output that looks like a report is not one", async (t) => {
  const r = parseLog(
    "KTAP version 1\n1..1\n# selftests: kharness: p\n# WARNING: the test printed this\n# # BUG: so did this\nok 1 p # SKIP Kernel panic - not syncing is in the reason\n",
  );
  t.same(r.kernelEvents, []);
  t.same(
    r.tests.map((x) => x.id),
    ["p"],
  );
});

t.test("the run-level id stays unique next to a program called kernel", async (t) => {
  const r = parseLog("KTAP version 1\n1..1\nok 1 kernel\n[    1.000000] kernel BUG at mm/x.c:1!\n[    1.000001] ---[ end trace 0 ]---\n");
  t.same(
    r.tests.map((x) => [x.id, x.status]),
    [
      ["kernel", "PASS"],
      ["kernel~2", "CRASH"],
    ],
  );
});

t.test("a kernel fault followed by silence is a failure (1), not 'could not test' (3, or 125 under --bisect)", async (t) => {
  // The KASAN report lands between two programs, then the guest goes quiet and the idle watchdog ends the boot.
  const r = twoStream("kasan-between-programs", { end: "idle", detail: "no heartbeat for 30 s" });
  t.equal(r.tests.find((x) => x.id === KERNEL_ENTRY_ID)?.status, "CRASH", "the fault is on record");
  const withBoot: RunResult = { ...r, boot: { end: "idle", accel: "tcg", machine: "pc", durations: { totalMs: 1 } } };
  t.equal(exitCodeForRun(withBoot, { bisect: false }), 1, "exit 1");
  t.equal(exitCodeForRun(withBoot, { bisect: true }), 1, "--bisect: the commit is bad, not skipped");
  // Silence with no fault report is still infrastructure: the kernel was not shown to be at fault.
  const quiet = twoStream("warning-between-programs", { end: "idle" });
  t.equal(
    exitCodeForRun({ ...quiet, boot: { end: "idle", accel: "tcg", machine: "pc", durations: { totalMs: 1 } } }, { bisect: true }),
    125,
    "no fault report: 125",
  );
});
