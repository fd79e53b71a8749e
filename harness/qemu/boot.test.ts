// Process-level tests of the boot supervisor against a fake QEMU that plays each way a boot can end.
import t, { type Test } from "tap";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createExec } from "../exec/exec.js";
import { liveProcessesAfter } from "../../test/support/procs.js";
import type { ProgressEvent } from "../types.js";
import { bootGuest, type BootOpts } from "./boot.js";
import { X86_64 } from "./profiles.js";

const FAKE = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata", "fake-qemu.mjs");

async function fakeBoot(t: Test, scenario: string, over: Partial<BootOpts> = {}, signal?: AbortSignal, onEvent?: (e: ProgressEvent) => void) {
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), "kharness-boot-test-"));
  t.teardown(() => fs.rm(runDir, { recursive: true, force: true }));
  const events: ProgressEvent[] = [];
  // When each progress event arrived: timing bounds are measured from the guest's own milestones,
  // because starting the fake (a node process) alone can take seconds on a loaded machine.
  const at = new Map<string, number>();
  const consoleChunks: Buffer[] = [];
  const t0 = Date.now();
  const res = await bootGuest(
    {
      exec: createExec(),
      signal,
      onProgress: (e) => {
        events.push(e);
        const key = e.kind === "guest" ? e.event : e.kind === "info" && e.message.startsWith("kernel panic") ? "panic" : e.kind;
        if (!at.has(key)) at.set(key, Date.now());
        onEvent?.(e);
      },
    },
    {
      kernel: { path: "/nonexistent/vmlinuz", source: "image" },
      payload: { initramfsPath: "/nonexistent/initramfs.cpio", programs: [], modules: [] },
      runDir,
      accel: "tcg",
      append: [`fake=${scenario}`],
      bootTimeoutSec: 10,
      idleTimeoutSec: 10,
      qemuBinary: FAKE,
      onConsole: (c) => consoleChunks.push(c),
      ...over,
      profile: over.profile ?? X86_64,
    },
  );
  const end = Date.now();
  const ms = end - t0;
  const since = (key: string) => end - (at.get(key) ?? t0);
  // Nothing of the fake's process group may survive the boot: the fake's `sleep 987.654` child is killed with the
  // group (on a loaded machine it may need a moment to exit after the boot returns; by itself it would run 16 min).
  t.same(await liveProcessesAfter(/sleep 987\.654/, 2000), [], "no process of the QEMU group is left");
  return { res, ms, since, events, runDir, console: Buffer.concat(consoleChunks).toString() };
}

t.test("poweroff: results and console land in the run directory, events flow", async (t) => {
  const { res, events, runDir, console } = await fakeBoot(t, "poweroff");
  t.equal(res.end, "poweroff");
  t.equal(res.qemuExitCode, 0);
  t.equal(res.machine, "pc");
  t.ok(res.durations.bootMs !== undefined && res.durations.bootMs >= 0, "boot time measured");
  t.match(await fs.readFile(res.resultsLogPath, "utf8"), /^KTAP version 1\n1\.\.1\n# selftests: kharness: prog\n# hello\nok 1 prog\n$/);
  t.match(await fs.readFile(res.consoleLogPath, "utf8"), /reboot: Power down/);
  t.match(console, /Linux version/);
  t.match(console, /console is a file/, "QEMU's stdout is console.log itself, not a pipe to the harness");
  t.same(
    events.filter((e) => e.kind === "guest").map((e) => (e.kind === "guest" ? e.event : "")),
    ["init", "poweroff"],
  );
  const argvTxt = await fs.readFile(path.join(runDir, "qemu-argv.txt"), "utf8");
  t.match(argvTxt, /-nodefaults/);
  t.match(argvTxt, /panic=-1: reboot at once on panic/);
});

t.test("a console written a byte at a time reaches console.log and onConsole whole, in order, in few chunks", async (t) => {
  const chunks: Buffer[] = [];
  const { res } = await fakeBoot(t, "bytewise", { onConsole: (c) => chunks.push(c) });
  t.equal(res.end, "poweroff");
  const lines = Array.from({ length: 3000 }, (_, i) => `[    1.000000] line ${i}\n`).join("");
  const file = await fs.readFile(res.consoleLogPath, "utf8");
  t.ok(file.endsWith(`${lines}last words`), "console.log holds every byte, the unfinished last line too");
  t.equal(Buffer.concat(chunks).toString(), file, "onConsole saw exactly what console.log holds, in order");
  // 76,000 one-byte writes: read in polls, not one event per write.
  t.ok(chunks.length < 2000, `${chunks.length} chunks for ${file.length} bytes`);
});

t.test("panic with QEMU exiting by itself (panic=-1, -no-reboot) ends as panic at once", async (t) => {
  const { res, since } = await fakeBoot(t, "panic-exit");
  t.equal(res.end, "panic");
  t.match(res.endDetail, /Kernel panic - not syncing: Fatal exception/);
  t.ok(since("panic") < 1000, `ended ${since("panic")} ms after the panic`);
});

t.test("panic where the reboot never comes: QEMU is killed within about 1.5 s", async (t) => {
  const { res, since } = await fakeBoot(t, "panic-stuck");
  t.equal(res.end, "panic");
  t.match(res.endDetail, /Attempted to kill init/);
  t.ok(since("panic") < 2500, `ended ${since("panic")} ms after the panic`);
});

t.test("a guest that goes silent after init ends as idle", async (t) => {
  const { res, since } = await fakeBoot(t, "silent", { idleTimeoutSec: 1 });
  t.equal(res.end, "idle");
  t.match(res.endDetail, /no console output, results or heartbeat for 1 s; last guest event: start prog/);
  t.ok(since("init") < 2500, `ended ${since("init")} ms after init`);
});

t.test("heartbeats keep a quiet guest alive past the idle limit", async (t) => {
  const { res, events } = await fakeBoot(t, "heartbeats", { idleTimeoutSec: 1 });
  t.equal(res.end, "poweroff");
  t.ok(events.filter((e) => e.kind === "guest" && e.event === "heartbeat").length >= 10);
});

t.test("a kernel that never reaches init ends as boot-timeout, even while it prints", async (t) => {
  // 8 s, not 1: on a loaded machine the fake (a node process) can take seconds just to start printing.
  const { res, ms } = await fakeBoot(t, "noinit", { bootTimeoutSec: 8 });
  t.equal(res.end, "boot-timeout");
  t.match(res.endDetail, /did not start init within 8 s/);
  t.ok(ms < 11000, `ended in ${ms} ms`);
  t.match(await fs.readFile(res.consoleLogPath, "utf8"), /early console output/);
});

t.test("QEMU failing at start is a qemu-error carrying its stderr", async (t) => {
  const { res } = await fakeBoot(t, "error");
  t.equal(res.end, "qemu-error");
  t.equal(res.qemuExitCode, 1);
  t.match(res.endDetail, /exited with code 1.*\n.*something is wrong/s);
});

t.test("QEMU dying mid-run is a qemu-error with its last words", async (t) => {
  const { res } = await fakeBoot(t, "crash");
  t.equal(res.end, "qemu-error");
  t.match(res.endDetail, /KVM internal error/);
});

t.test("a guest reset (exit 0 without poweroff) is not mistaken for success", async (t) => {
  const { res } = await fakeBoot(t, "reset");
  t.equal(res.end, "qemu-error");
  t.match(res.endDetail, /before the guest powered off/);
});

t.test("poweroff without QEMU exiting: killed after a grace period, still a poweroff", async (t) => {
  const { res, since } = await fakeBoot(t, "poweroff-stuck");
  t.equal(res.end, "poweroff");
  t.ok(since("poweroff") < 6500, `ended ${since("poweroff")} ms after the guest's poweroff`);
});

t.test("abort mid-run kills QEMU and keeps the logs", async (t) => {
  const ac = new AbortController();
  let abortedAt = 0;
  const onEvent = (e: ProgressEvent) => {
    if (e.kind === "guest" && e.event === "init") setTimeout(() => ((abortedAt = Date.now()), ac.abort()), 200);
  };
  const { res } = await fakeBoot(t, "silent", {}, ac.signal, onEvent);
  t.equal(res.end, "interrupted");
  const after = Date.now() - abortedAt;
  t.ok(after < 2500, `returned ${after} ms after the abort`);
  t.match(await fs.readFile(res.consoleLogPath, "utf8"), /Linux version/);
});

t.test("a missing QEMU binary is a qemu-error that says how to install it", async (t) => {
  const { res } = await fakeBoot(t, "poweroff", { qemuBinary: "/nonexistent/qemu-system-x86_64" });
  t.equal(res.end, "qemu-error");
  t.match(res.endDetail, /apt-get install qemu-system-x86/);
});
