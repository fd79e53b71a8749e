// VM level, fault suite: a guest that goes silent (init never runs again) and a kernel that never reaches
// our init: the idle watchdog and the boot timeout end the run with a clear message, exit 3, QEMU killed.
import t from "tap";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { findLiveProcesses } from "../support/procs.js";
import { readResults, runCli } from "../support/cli-run.js";
import { faultPrograms, literal, stampedLines } from "../support/faults/fault-programs.js";

/** The TCG idle timeout of the x86_64 profile (harness/qemu/profiles.ts). */
const IDLE_S = 30;

t.test("silent guest (SCHED_FIFO 99 spin, RT throttling and fair server off): idle watchdog, exit 3", async (t) => {
  const progs = faultPrograms("fault_silent", "fault_ok_after");
  const s = stampedLines();
  const r = await runCli(["run", "--tests", "net_abi", "--program", ...progs], { onStderr: s.onStderr });
  const exitedAt = Date.now();
  t.equal(r.code, 3, r.code === 3 ? "exit 3" : r.stderr.slice(-2000));
  t.match(
    r.stderr,
    /the guest did not finish: idle \(no console output, results or heartbeat for 30 s; last guest event: start fault_silent\)/,
    "a clear message naming the watchdog and the last event",
  );
  const silencedAt = s.firstAt(/running fault_silent/);
  t.ok(silencedAt, "the silent program started");
  const ms = exitedAt - (silencedAt ?? 0);
  t.comment(`silent program start -> exit: ${ms} ms (idle timeout ${IDLE_S} s)`);
  t.ok(ms >= (IDLE_S - 1) * 1000 && ms < (IDLE_S + 10) * 1000, `ended by the idle watchdog (${ms} ms)`);
  t.same(findLiveProcesses(literal(r.outDir)), [], "QEMU killed");
  const run = await readResults(r.outDir);
  t.equal(run.boot?.end, "idle");
  const ids = new Map(run.tests.map((x) => [x.id, x]));
  t.equal(ids.get("net_abi")?.status, "PASS", "what ran before is kept");
  t.equal(ids.get("fault_silent")?.status, "CRASH");
  t.match(ids.get("fault_silent")?.reason, /no result line: the VM stopped producing output/);
  t.match(ids.get("fault_ok_after")?.reason, /^not run: the VM stopped producing output/);
});

t.test("a kernel that never reaches our init (rdinit= a sleeper): boot timeout, exit 3", async (t) => {
  const [sleeper] = faultPrograms("fault_sleep_forever");
  const s = stampedLines();
  const r = await runCli(["run", "--tests", "net_abi", "--program", sleeper!, "--append", "rdinit=/kharness/bin/fault_sleep_forever", "--boot-timeout", "15"], {
    onStderr: s.onStderr,
  });
  const exitedAt = Date.now();
  t.equal(r.code, 3, r.code === 3 ? "exit 3" : r.stderr.slice(-2000));
  t.match(r.stderr, /the guest did not finish: boot-timeout \(the guest did not start init within 15 s/, "a clear message naming the boot timeout");
  const bootAt = s.firstAt(/\] boot: /);
  const ms = exitedAt - (bootAt ?? 0);
  t.comment(`boot start -> exit: ${ms} ms (boot timeout 15 s)`);
  t.ok(ms >= 14000 && ms < 25000, `ended by the boot timeout (${ms} ms)`);
  t.same(findLiveProcesses(literal(r.outDir)), [], "QEMU killed");
  const run = await readResults(r.outDir);
  t.equal(run.boot?.end, "boot-timeout");
  t.match(
    readFileSync(path.join(r.outDir, "console.log"), "utf8"),
    /rdinit=\/kharness\/bin\/fault_sleep_forever/,
    "console.log kept, showing the command line",
  );
});
