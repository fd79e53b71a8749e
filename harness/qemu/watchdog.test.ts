// The boot supervisor's verdicts on plain numbers: no QEMU, no clock, no sockets.
import t from "tap";
import {
  CONTROL_PORT_GRACE_MS,
  controlPortMissing,
  endAfterExit,
  type ExitFacts,
  type GuestFacts,
  PANIC_GRACE_MS,
  POWEROFF_GRACE_MS,
  watchdogVerdict,
} from "./watchdog.js";

const T0 = 1_000_000;
const limits = { bootTimeoutSec: 30, idleMs: 60_000 };
const facts = (more: Partial<GuestFacts> = {}): GuestFacts => ({
  startedAt: T0,
  panicLine: "",
  lastActivity: T0,
  controlSeen: false,
  lastEvent: "none",
  ...more,
});
const exited = (more: Partial<ExitFacts> = {}): ExitFacts => ({ aborted: false, exitCode: 0, accel: "tcg", stderrTail: [], ...more });

t.test("before init: the boot timeout counts from the start, whatever the console says", async (t) => {
  t.equal(watchdogVerdict(facts({ lastActivity: T0 + 29_000 }), limits, T0 + 30_000), undefined, "at the limit the boot goes on");
  t.same(watchdogVerdict(facts({ lastActivity: T0 + 30_000 }), limits, T0 + 30_001), {
    end: "boot-timeout",
    detail: "the guest did not start init within 30 s (see the end of console.log)",
  });
});

t.test("after init: idleness counts from the last sign of life and names the last guest event", async (t) => {
  const f = facts({ initAt: T0 + 5000, lastActivity: T0 + 100_000, controlSeen: true, lastEvent: "start landlock.tcp" });
  t.equal(watchdogVerdict(f, limits, T0 + 160_000), undefined, "exactly idleMs of silence is still alive");
  t.same(watchdogVerdict(f, limits, T0 + 160_001), {
    end: "idle",
    detail: "no console output, results or heartbeat for 60 s; last guest event: start landlock.tcp",
  });
  t.equal(watchdogVerdict(f, limits, T0 + 101_000), undefined, "long past the boot timeout, a guest that started init and is active goes on");
});

t.test("a panic gets its grace period, then ends the boot as panic with its line, before any other rule", async (t) => {
  const f = facts({ initAt: T0 + 1000, lastActivity: T0, panicAt: T0 + 200_000, panicLine: "Kernel panic - not syncing: Fatal exception", poweroffAt: T0 + 1 });
  t.equal(watchdogVerdict(f, limits, T0 + 200_000 + PANIC_GRACE_MS), undefined, "within the grace the report may finish, though idle and powered off");
  t.same(watchdogVerdict(f, limits, T0 + 200_001 + PANIC_GRACE_MS), { end: "panic", detail: "Kernel panic - not syncing: Fatal exception" });
});

t.test("after poweroff, QEMU gets its grace to exit; idleness no longer counts", async (t) => {
  const f = facts({ initAt: T0 + 1000, lastActivity: T0 + 1000, poweroffAt: T0 + 500_000, controlSeen: true });
  t.equal(watchdogVerdict(f, limits, T0 + 500_000 + POWEROFF_GRACE_MS), undefined);
  t.same(watchdogVerdict(f, limits, T0 + 500_001 + POWEROFF_GRACE_MS), { end: "poweroff", detail: "QEMU did not exit after the guest powered off; killed it" });
});

t.test("control port missing: said only after init started, the port stayed silent, and the grace passed", async (t) => {
  t.equal(controlPortMissing(facts(), T0 + 1_000_000), false, "no init yet");
  t.equal(controlPortMissing(facts({ initAt: T0 }), T0 + CONTROL_PORT_GRACE_MS), false, "within the grace");
  t.equal(controlPortMissing(facts({ initAt: T0 }), T0 + CONTROL_PORT_GRACE_MS + 1), true);
  t.equal(controlPortMissing(facts({ initAt: T0, controlSeen: true }), T0 + 1_000_000), false, "the port spoke");
});

t.test("the end after QEMU exits: abort, then panic, then the kill reason, then poweroff, then a QEMU error", async (t) => {
  const panicked = facts({ panicAt: T0, panicLine: "Kernel panic - not syncing: x", poweroffAt: T0 });
  t.same(endAfterExit(panicked, exited({ aborted: true })), { end: "interrupted", detail: "interrupted: QEMU was stopped" });
  t.same(endAfterExit(panicked, exited({ killedFor: { end: "idle", detail: "y" } })), { end: "panic", detail: "Kernel panic - not syncing: x" });
  t.same(endAfterExit(facts({ poweroffAt: T0 }), exited({ killedFor: { end: "idle", detail: "y" } })), { end: "idle", detail: "y" });
  t.same(endAfterExit(facts({ poweroffAt: T0 }), exited({ exitCode: 1 })), { end: "poweroff" }, "a poweroff has no detail, whatever QEMU's exit code");
  t.same(endAfterExit(facts(), exited({ exitCode: 0 })), {
    end: "qemu-error",
    detail: "QEMU exited before the guest powered off (the guest reset or triple-faulted?)",
  });
  t.same(endAfterExit(facts(), exited({ exitCode: undefined, signal: "SIGSEGV", stderrTail: ["a", "b"] })), {
    end: "qemu-error",
    detail: "QEMU was killed by SIGSEGV before the guest powered off; QEMU said:\na\nb",
  });
  t.same(endAfterExit(facts(), exited({ exitCode: 1, accel: "kvm", stderrTail: ["KVM internal error. Suberror: 1"] })), {
    end: "qemu-error",
    detail:
      "QEMU exited with code 1 before the guest powered off; QEMU said:\nKVM internal error. Suberror: 1\nKVM cannot run this guest on this host: rerun with --accel tcg",
  });
  t.notMatch(
    endAfterExit(facts(), exited({ exitCode: 1, accel: "tcg", stderrTail: ["KVM internal error"] })).detail ?? "",
    /rerun with --accel tcg/,
    "the KVM hint is for KVM runs only",
  );
});
