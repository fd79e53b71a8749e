// Process level, fault suite: console spew from a dying kernel (RCU stall reports) must not keep a guest whose
// init went silent "alive"; the idle watchdog counts heartbeats and results, not console lines.
import t from "tap";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createExec } from "../../harness/exec/exec.js";
import { findLiveProcesses } from "../support/procs.js";
import { bootGuest } from "../../harness/qemu/boot.js";
import { X86_64 } from "../../harness/qemu/profiles.js";
import { createRunParser } from "../../harness/results/index.js";
import type { ProgressEvent } from "../../harness/types.js";

const FAKE = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata", "fake-qemu-stall.mjs");

t.test("RCU stall spew on the console after init went silent: idle end at the idle timeout, stall attributed", async (t) => {
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), "kh-fault-idle-"));
  t.teardown(() => fs.rm(runDir, { recursive: true, force: true }));
  const events: ProgressEvent[] = [];
  let initAt = 0;
  const parser = createRunParser();
  const res = await bootGuest(
    { exec: createExec(), onProgress: (e) => (events.push(e), e.kind === "guest" && e.event === "init" && (initAt = Date.now())) },
    {
      kernel: { path: "/nonexistent/vmlinuz", source: "image" },
      payload: { initramfsPath: "/nonexistent/initramfs.cpio", programs: [], modules: [] },
      runDir,
      accel: "tcg",
      append: [],
      bootTimeoutSec: 30,
      profile: X86_64,
      idleTimeoutSec: 3,
      qemuBinary: FAKE,
      onConsole: (c) => parser.pushConsole(c),
      onResults: (c) => parser.pushResults(c),
    },
  );
  const endedAt = Date.now();
  t.equal(res.end, "idle", `ended as idle (${res.end}: ${res.endDetail})`);
  t.match(res.endDetail, /no console output, results or heartbeat for 3 s; last guest event: start prog/);
  const ms = endedAt - initAt;
  // Heartbeats for 1 s, then 3 s of idleness (console spew does not count), plus the watchdog tick and kill.
  t.ok(ms >= 3500 && ms < 9000, `idle end ${ms} ms after init (heartbeats stop at ~1 s, idle limit 3 s)`);
  const consoleLog = await fs.readFile(res.consoleLogPath, "utf8");
  t.ok((consoleLog.match(/detected stalls/g) ?? []).length >= 8, "the console kept spewing until the kill");
  t.same(findLiveProcesses(new RegExp(FAKE.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))), [], "the fake QEMU is gone");
  const run = parser.finish({ end: res.end, detail: res.endDetail });
  const prog = run.tests.find((x) => x.id === "prog");
  t.equal(prog?.status, "CRASH");
  t.ok(
    prog?.kernelEvents.some((e) => e.kind === "rcu-stall"),
    "the stall report is attached to the running test",
  );
});
