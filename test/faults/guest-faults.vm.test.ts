// VM level, fault suite: a kernel panic mid-test, a hanging test, tests killed by signals, a test that prints
// without end, and hostile test names, each run through the CLI on the default kernel with real QEMU.
import t from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { findLiveProcesses } from "../support/procs.js";
import { leaves, readResults, runCli } from "../support/cli-run.js";
import type { TestResult } from "../../harness/types.js";
import { faultPrograms, literal, stampedLines } from "../support/faults/fault-programs.js";

const byId = (tests: readonly TestResult[]) => {
  const m = new Map<string, TestResult>();
  const walk = (ts: readonly TestResult[]) => ts.forEach((x) => (m.set(x.id, x), walk(x.children)));
  walk(tests);
  return m;
};

t.test("kernel panic mid-test: ends within 5 s of the panic; running test CRASH with the panic, later tests 'not run'", async (t) => {
  const progs = faultPrograms("fault_ok", "fault_panic", "fault_ok_after");
  const s = stampedLines();
  const r = await runCli(["run", "--tests", "net_abi", "--program", ...progs], { onStderr: s.onStderr });
  const exitedAt = Date.now();
  t.equal(r.code, 1, r.code === 1 ? "exit 1" : r.stderr.slice(-2000));
  const panicAt = s.firstAt(/kernel panic: Kernel panic - not syncing/);
  t.ok(panicAt, "the panic was reported as it happened");
  const panicToExit = exitedAt - (panicAt ?? 0);
  t.comment(`panic -> exit: ${panicToExit} ms`);
  t.ok(panicToExit < 5000, `the run ended ${panicToExit} ms after the panic (< 5000)`);
  t.same(findLiveProcesses(literal(r.outDir)), [], "no QEMU left");

  const run = await readResults(r.outDir);
  const ids = byId(run.tests);
  t.equal(ids.get("net_abi")?.status, "PASS", "the test before the crash kept its PASS");
  t.equal(ids.get("fault_ok")?.status, "PASS");
  t.equal(ids.get("fault_panic.before_the_panic")?.status, "PASS", "what the crashing program reported before the panic is kept");
  const crashed = ids.get("fault_panic");
  t.equal(crashed?.status, "CRASH", "the running program is CRASH");
  t.match(crashed?.reason, /kernel panic while it ran: Kernel panic - not syncing: sysrq triggered crash/);
  const panic = crashed?.kernelEvents.find((e) => e.kind === "panic");
  t.ok(panic, "the panic report is attached to it");
  t.ok((panic?.lines.length ?? 0) > 5, "with the report's lines (call trace)");
  t.match(ids.get("fault_panic.test_3")?.reason, /^not run: kernel crashed/, "its unstarted case: not run");
  const after = ids.get("fault_ok_after");
  t.equal(after?.status, "CRASH", "the program never started is named and CRASH");
  t.match(after?.reason, /^not run: kernel crashed/);
  t.equal(run.boot?.end, "panic");
  t.match(readFileSync(path.join(r.outDir, "console.log"), "utf8"), /Kernel panic - not syncing: sysrq triggered crash/, "console.log kept");
  for (const f of ["results.json", "junit.xml", "results.tap", "results.log"])
    t.ok(
      await fs.stat(path.join(r.outDir, f)).then(
        () => true,
        () => false,
      ),
      `${f} written`,
    );
});

t.test("a hanging test: TIMEOUT at --timeout 5, its process group killed, the rest runs; signals: FAIL naming the signal", async (t) => {
  const progs = faultPrograms("fault_hang", "fault_check_hang_gone", "fault_segv", "fault_abort", "fault_ok_after");
  const s = stampedLines();
  const r = await runCli(["run", "--tests", "net_abi", "--timeout", "5", "--program", ...progs], { onStderr: s.onStderr });
  t.equal(r.code, 1, r.code === 1 ? "exit 1" : r.stderr.slice(-2000));
  const run = await readResults(r.outDir);
  const ids = byId(run.tests);
  const hang = ids.get("fault_hang");
  t.equal(hang?.status, "TIMEOUT");
  t.match(hang?.reason, /5 seconds/);
  const started = s.firstAt(/running fault_hang/);
  const ended = s.firstAt(/TIMEOUT\s+fault_hang/);
  t.ok(started && ended, "start and timeout seen live");
  const hangMs = (ended ?? 0) - (started ?? 0);
  t.comment(`fault_hang start -> TIMEOUT: ${hangMs} ms`);
  t.ok(hangMs >= 4000 && hangMs < 12000, `timed out at its limit (${hangMs} ms for a 5 s limit)`);
  t.equal(ids.get("fault_check_hang_gone")?.status, "PASS", "in the guest, no process of the hung test's group survived");
  t.equal(ids.get("fault_segv")?.status, "FAIL");
  t.equal(ids.get("fault_segv")?.reason, "killed by signal 11 (SIGSEGV)");
  t.equal(ids.get("fault_abort")?.status, "FAIL");
  t.equal(ids.get("fault_abort")?.reason, "killed by signal 6 (SIGABRT)");
  t.equal(ids.get("fault_ok_after")?.status, "PASS", "the suite ran on after the hang and the signals");
  t.equal(run.boot?.end, "poweroff");
  t.same(findLiveProcesses(literal(r.outDir)), [], "no QEMU left");
});

t.test("a test printing 200 MB: harness memory bounded, log truncated with a marker, the verdict arrives", async (t) => {
  const progs = faultPrograms("fault_spew", "fault_ok_after");
  const r = await runCli(["run", "--tests", "net_abi", "--timeout", "300", "--program", ...progs]);
  t.equal(r.code, 1, r.code === 1 ? "exit 1" : r.stderr.slice(-2000));
  const run = await readResults(r.outDir);
  const ids = byId(run.tests);
  const spew = ids.get("fault_spew");
  t.equal(spew?.status, "FAIL", "its own verdict (exit 1) arrived");
  t.equal(spew?.reason, "exit code 1");
  t.match(spew?.log.join("\n"), /# kharness: output truncated after 16777216 bytes/, "the log ends with the truncation marker");
  t.ok((spew?.log.length ?? 0) <= 402, `its kept log is bounded (${spew?.log.length} lines)`);
  t.equal(ids.get("fault_ok_after")?.status, "PASS", "the next program still ran");
  const rss = run.host?.peakRssKiB ?? Infinity;
  t.comment(`harness peak RSS under 200 MB of output: ${rss} KiB`);
  t.ok(rss < 256 * 1024, `harness peak RSS ${rss} KiB < 256 MiB`);
  const resultsLog = (await fs.stat(path.join(r.outDir, "results.log"))).size;
  t.ok(resultsLog < 18 * 1024 * 1024, `results.log is capped by the guest (${resultsLog} bytes)`);
  t.ok((await fs.stat(path.join(r.outDir, "results.json"))).size < 2 * 1024 * 1024, "results.json stays small");
});

t.test("hostile test names: safe ids, valid JUnit, nothing written outside the run directory", async (t) => {
  const progs = faultPrograms("fault_hostile");
  const parent = path.dirname(path.dirname(progs[0]!));
  const before = new Set(readdirSync(parent));
  const r = await runCli(["run", "--tests", "net_abi", "--program", ...progs]);
  t.equal(r.code, 1, r.code === 1 ? "exit 1" : r.stderr.slice(-2000));
  const run = await readResults(r.outDir);
  const hostile = leaves(run.tests).filter((c) => c.id.startsWith("fault_hostile."));
  t.equal(hostile.length, 7, "every hostile case reported");
  for (const c of hostile) {
    t.notMatch(c.id, /[/\\\x00-\x1f\x7f]/, `id has no slash or control character: ${JSON.stringify(c.id.slice(0, 60))}`);
    t.ok(c.id.length <= 250, `id is short (${c.id.length})`);
  }
  t.equal(new Set(hostile.map((c) => c.id)).size, 7, "ids stay distinct");
  t.ok(
    hostile.some((c) => c.name === "../../../../tmp/kharness-escape"),
    "the raw name is kept in `name`",
  );
  t.equal(hostile.find((c) => c.name === "a/b/../../c")?.status, "FAIL");
  // A strict XML parser must accept the JUnit file.
  const junit = path.join(r.outDir, "junit.xml");
  try {
    execFileSync("xmllint", ["--noout", junit], { stdio: "pipe" });
    t.pass("xmllint accepts junit.xml");
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    if (err.code === "ENOENT") execFileSync("python3", ["-c", "import sys, xml.dom.minidom as m; m.parse(sys.argv[1])", junit]);
    else t.fail(`junit.xml is not well-formed: ${err.stderr?.toString()}`);
  }
  t.match(readFileSync(junit, "utf8"), /name="&lt;testcase_name=&quot;x&quot;_&gt;]]&gt;&amp;amp;&amp;"/, "XML-breaking name escaped");
  await t.rejects(fs.stat("/tmp/kharness-escape"), "no file at the traversal target");
  const after = readdirSync(parent).filter((n) => !before.has(n) && n !== path.basename(r.outDir));
  t.same(
    after.filter((n) => /escape|passwd|testcase/.test(n)),
    [],
    "nothing named after a test appeared beside the run directory",
  );
  // What matters is that no file is named after a test: the run directory holds exactly the files the README lists.
  const usual = [
    "console.log",
    "history.json",
    "initramfs.cpio",
    "junit.xml",
    "kernel.config",
    "manifest.json",
    "qemu-argv.txt",
    "replay.sh",
    "report.html",
    "results.json",
    "results.log",
    "results.tap",
  ];
  const present = readdirSync(r.outDir).sort();
  t.same(
    present.filter((n) => !usual.includes(n)),
    [],
    "the run directory holds only the usual files",
  );
  t.same(
    usual.filter((n) => !present.includes(n)),
    [],
    "and all of them",
  );
});

t.test("init loses track of a program or cannot start one: ERROR with the reason, never the ok an exit 0 would give", async (t) => {
  // fault_traced_stop makes init its tracer and stops (SIGILL, whose number an exit-status reading takes for "all skipped");
  // fault_init_poll_error lowers init's RLIMIT_NOFILE to 1 and stays alive (then would exit 0), so init's next poll(2) fails (EINVAL) and init
  // cannot make the pipe for the program after it.
  const progs = faultPrograms("fault_traced_stop", "fault_init_poll_error", "fault_ok_after");
  const r = await runCli(["run", "--tests", "net_abi", "--program", ...progs]);
  t.equal(r.code, 1, r.code === 1 ? "exit 1" : r.stderr.slice(-2000));
  const run = await readResults(r.outDir);
  const ids = byId(run.tests);
  t.equal(ids.get("net_abi")?.status, "PASS", "the bundled program before them passed");
  t.equal(ids.get("fault_traced_stop")?.status, "ERROR", "a program stopped under init's trace: ERROR");
  t.match(ids.get("fault_traced_stop")?.reason, /stopped under ptrace \(signal 4, SIGILL\) with init as its tracer/);
  const lost = ids.get("fault_init_poll_error");
  t.equal(lost?.status, "ERROR", "init's poll failed while the program ran: ERROR, not PASS");
  t.match(lost?.reason, /init lost track of the program: poll failed: Invalid argument/);
  t.equal(ids.get("fault_ok_after")?.status, "ERROR", "a program init could not start: ERROR");
  t.match(ids.get("fault_ok_after")?.reason, /init could not start it: pipe: Too many open files/);
  t.equal(run.boot?.end, "poweroff", "init still powered off");
  t.match(
    readFileSync(path.join(r.outDir, "console.log"), "utf8"),
    /kharness-init: fault_init_poll_error: init lost track of the program: poll failed/,
    "init said so on the console",
  );
});

t.test("a kernel panic after the last result line (a leftover daemon panics at init's shutdown): exit 1, a CRASH carries the panic", async (t) => {
  // The daemon escapes its program's process group and panics on SIGTERM, which init sends only at shutdown, after
  // every result line: deterministic, no timer. The run-level CRASH is the contract of issue 10, item 1.
  const progs = faultPrograms("fault_panic_at_shutdown");
  const r = await runCli(["run", "--tests", "net_abi", "--program", ...progs]);
  t.equal(r.code, 1, r.code === 1 ? "exit 1" : `exit ${r.code}\n${r.stdout.slice(-1500)}\n${r.stderr.slice(-1500)}`);
  t.same(findLiveProcesses(literal(r.outDir)), [], "no QEMU left");
  const results = readFileSync(path.join(r.outDir, "results.log"), "utf8");
  t.match(results, /\nok 2 fault_panic_at_shutdown\n/, "the last program's result line was printed");
  const consoleLog = readFileSync(path.join(r.outDir, "console.log"), "utf8");
  t.match(
    consoleLog,
    /kharness: end fault_panic_at_shutdown[\s\S]*kharness-init: shutdown: sending SIGTERM[\s\S]*Kernel panic - not syncing: sysrq triggered crash/,
    "the panic came after the last program ended, at shutdown",
  );
  const run = await readResults(r.outDir);
  t.equal(run.boot?.end, "panic");
  const ids = byId(run.tests);
  t.equal(ids.get("net_abi")?.status, "PASS", "verdicts reported before the panic are kept");
  t.equal(ids.get("fault_panic_at_shutdown.daemon_armed")?.status, "PASS");
  const crash = [...ids.values()].find((x) => x.status === "CRASH" && x.kernelEvents.some((e) => e.kind === "panic"));
  t.ok(crash, `a test is CRASH with the panic attached (statuses: ${[...ids.values()].map((x) => `${x.id}=${x.status}`).join(" ")})`);
  const panic = crash?.kernelEvents.find((e) => e.kind === "panic");
  t.match(panic?.lines.join("\n"), /sysrq triggered crash/, "the attached report is this panic");
});
