// The two-stream run parser: results port + console, kmsg markers, progress events, and how the boot ended.
import t from "tap";
import { createRunParser } from "./index.js";
import type { ProgressEvent } from "../types.js";

const RESULTS =
  [
    "KTAP version 1",
    "1..2",
    "# selftests: kharness: net_tcp",
    "# TAP version 13",
    "# 1..2",
    "# ok 1 tcp.ipv4.bind_allowed",
    "# ok 2 tcp.ipv4.bind_denied",
    "ok 1 net_tcp",
    "# selftests: kharness: net_rules",
    "# TAP version 13",
    "# 1..2",
    "# ok 1 rules.ipv4.bind",
  ].join("\n") + "\n";

const CONSOLE =
  [
    "[    1.000000] kharness: start net_tcp",
    "[    1.100000] kharness: start net_tcp.tcp.ipv4.bind_denied",
    "[    1.200000] ------------[ cut here ]------------",
    "[    1.200001] WARNING: CPU: 0 PID: 9 at security/landlock/net.c:42 check_socket_access+0x1/0x2",
    "[    1.200002] Modules linked in:",
    "[    1.200003] ---[ end trace 0000000000000000 ]---",
    "[    1.300000] kharness: end net_tcp.tcp.ipv4.bind_denied",
    "[    1.400000] kharness: end net_tcp",
    "[    1.500000] kharness: start net_rules",
    "[    1.600000] kharness: start net_rules.rules.ipv4.connect",
    "[    1.700000] Kernel panic - not syncing: sysrq triggered crash",
    "[    1.700001] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---",
  ].join("\n") + "\n";

t.test("a panic reported on the console makes the marked case CRASH and the unreported rest CRASH placeholders", async (t) => {
  const events: ProgressEvent[] = [];
  const p = createRunParser({ onEvent: (e) => events.push(e) });
  p.pushResults(Buffer.from(RESULTS));
  p.pushConsole(Buffer.from(CONSOLE));
  const run = p.finish({ end: "panic", detail: "sysrq" });
  const rules = run.tests.find((x) => x.id === "net_rules");
  t.equal(rules?.status, "CRASH");
  const connect = rules?.children.find((x) => x.id === "net_rules.rules.ipv4.connect");
  t.equal(connect?.status, "CRASH", "the open marker names the running case");
  t.match(connect?.reason, /kernel panic/);
  t.equal(connect?.kernelEvents[0]?.kind, "panic");
  const warned = run.tests[0]?.children.find((x) => x.id === "net_tcp.tcp.ipv4.bind_denied");
  t.equal(warned?.status, "PASS", "a WARN alone does not fail a test");
  t.equal(warned?.kernelEvents[0]?.kind, "warning");
  t.match(run.summary, { pass: 3, crash: 1, total: 4 });
  t.ok(events.some((e) => e.kind === "test-end" && e.id === "net_tcp.tcp.ipv4.bind_allowed" && e.status === "PASS"));
  t.ok(events.some((e) => e.kind === "test-start" && e.id === "net_rules"));
  t.ok(events.some((e) => e.kind === "kernel-event" && e.event.kind === "warning"));
});

t.test("failOnWarn turns a passing test with a WARN into FAIL", async (t) => {
  const p = createRunParser({ failOnWarn: true });
  p.pushResults(RESULTS);
  p.pushConsole(CONSOLE);
  const run = p.finish({ end: "panic" });
  const warned = run.tests[0]?.children.find((x) => x.id === "net_tcp.tcp.ipv4.bind_denied");
  t.equal(warned?.status, "FAIL");
  t.match(warned?.reason, /kernel warning/);
});

t.test("a normal poweroff with a program that stopped reporting gives ERROR placeholders", async (t) => {
  const p = createRunParser();
  p.pushResults(RESULTS + "not ok 2 net_rules # exit=1\n");
  const run = p.finish({ end: "poweroff" });
  const missing = run.tests[1]?.children[1];
  t.equal(missing?.status, "ERROR");
  t.equal(missing?.unreported, true);
  t.match(missing?.reason, /not run: the program ended without reporting it/);
});

t.test("each abnormal end gives its own reason", async (t) => {
  for (const [end, re] of [
    ["timeout", /run timeout/],
    ["idle", /stopped producing output/],
    ["qemu-error", /QEMU failed/],
    ["interrupted", /interrupted/],
  ] as const) {
    const p = createRunParser();
    p.pushResults(RESULTS);
    const run = p.finish({ end });
    t.equal(run.tests[1]?.status, "CRASH", end);
    t.match(run.tests[1]?.children[1]?.reason, re, end);
  }
  const boot = createRunParser().finish({ end: "boot-timeout" });
  t.equal(boot.tests[0]?.id, "no_tap_output");
  t.equal(boot.tests[0]?.status, "CRASH");
});

t.test("without a results port the KTAP on the console is used", async (t) => {
  const p = createRunParser();
  p.pushConsole("[    1.0] Booting\n" + RESULTS + "not ok 2 net_rules # exit=1\n");
  const run = p.finish({ end: "poweroff" });
  t.equal(run.tests.length, 2);
  t.equal(run.tests[1]?.status, "FAIL");
  t.ok(run.diagnostics.some((d) => /used the KTAP found in the console/.test(d.message)));
});

t.test("an Oops or BUG during a test that printed ok fails it, --fail-on-warn or not; a SKIP too", async (t) => {
  const results = "KTAP version 1\n1..2\n# selftests: kharness: a\n# 1..1\n# ok 1 c # SKIP not here\nok 1 a\n# selftests: kharness: b\nok 2 b\n";
  const consoleLog =
    [
      "[    1.000000] kharness: init 1",
      "[    1.100000] kharness: start a",
      "[    1.110000] kharness: start a.c",
      "[    1.120000] kernel BUG at net/core/skbuff.c:120!",
      "[    1.120001] Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI",
      "[    1.120002] ---[ end trace 0000000000000000 ]---",
      "[    1.130000] kharness: end a.c",
      "[    1.200000] kharness: end a",
      "[    1.300000] kharness: start b",
      "[    1.310000] BUG: unable to handle page fault for address: ffffc90000a0b000",
      "[    1.310001] #PF: supervisor read access in kernel mode",
      "[    1.310002] Oops: Oops: 0000 [#2] PREEMPT SMP NOPTI",
      "[    1.310003] ---[ end trace 0000000000000000 ]---",
      "[    1.400000] kharness: end b",
      "[    1.500000] kharness: poweroff",
    ].join("\n") + "\n";
  for (const failOnWarn of [false, true]) {
    const p = createRunParser({ failOnWarn });
    p.pushResults(results);
    p.pushConsole(consoleLog);
    const run = p.finish({ end: "poweroff" });
    const c = run.tests[0]?.children[0];
    t.equal(c?.status, "FAIL", `the skipped case with a BUG (failOnWarn=${failOnWarn})`);
    t.equal(c?.reason, "kernel bug report while it ran: kernel BUG at net/core/skbuff.c:120!");
    t.equal(run.tests[1]?.status, "FAIL", "the program that printed ok with an Oops");
    t.equal(run.tests[1]?.reason, "kernel oops report while it ran: BUG: unable to handle page fault for address: ffffc90000a0b000");
    t.equal(run.tests[1]?.kernelEvents.length, 1, "the `Oops:` line stays in its report");
    t.match(run.summary, { fail: 2, total: 2 });
  }
});
