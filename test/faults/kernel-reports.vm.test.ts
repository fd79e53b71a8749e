// VM level, fault suite: real kernel WARNING, BUG and Oops (LKDTM through debugfs, on Debian's linux-source-6.12
// built by kharness with our fragments) without a panic: each attached to the program that provoked it and shown
// in the reports; --fail-on-warn turns a surviving test's PASS into FAIL.
import t from "tap";
import { promises as fs, readFileSync } from "node:fs";
import * as path from "node:path";
import { createExec } from "../../harness/exec/exec.js";
import { cacheRoot } from "../../harness/exec/cache.js";
import { findLiveProcesses } from "../support/procs.js";
import { ensureUnpackedSource } from "../../harness/kernel/source-tree.js";
import { readResults, runCli } from "../support/cli-run.js";
import type { KernelEvent, TestResult } from "../../harness/types.js";
import { faultPrograms, literal } from "../support/faults/fault-programs.js";

const TARBALL = process.env.KHARNESS_LINUX_TARBALL ?? "/usr/src/linux-source-6.12.tar.xz";
const haveTarball = await fs.access(TARBALL).then(
  () => true,
  () => false,
);

/** A program's own events and its cases'. */
function eventsUnder(t: TestResult | undefined): KernelEvent[] {
  return t ? [...t.kernelEvents, ...t.children.flatMap(eventsUnder)] : [];
}

if (!haveTarball) t.plan(0, `no ${TARBALL} (npm run setup -- --tests installs linux-source-6.12)`);
else {
  // The same tree and fragments as harness/kernel/tree-build.vm.test.ts: one cached build serves both.
  const tree = await ensureUnpackedSource(createExec(), TARBALL, cacheRoot());

  t.test("LKDTM WARNING, EXCEPTION (Oops) and BUG: attached to the running program, in every report", async (t) => {
    const progs = faultPrograms("fault_lkdtm_warning", "fault_lkdtm_exception", "fault_lkdtm_bug", "fault_ok_after");
    const r = await runCli(["run", "--tree", tree, "--tests", "net_abi", "--program", ...progs]);
    t.equal(r.code, 1, r.code === 1 ? "exit 1 (the oopsing programs were killed)" : r.stderr.slice(-3000));
    const run = await readResults(r.outDir);
    const top = new Map(run.tests.map((x) => [x.id, x]));

    const warn = top.get("fault_lkdtm_warning");
    t.equal(warn?.status, "PASS", "WARN: the program survived and passed");
    const w = eventsUnder(warn).find((e) => e.kind === "warning");
    t.match(w?.title, /^WARNING: CPU: \d+ PID: \d+ at drivers\/misc\/lkdtm\/bugs\.c/, "the WARNING is attached to it");
    t.ok((w?.lines.length ?? 0) > 5, "with its call trace");

    const exc = top.get("fault_lkdtm_exception");
    t.equal(exc?.status, "FAIL", "EXCEPTION: the Oops killed the program");
    t.match(exc?.reason, /killed by signal/);
    t.ok(
      eventsUnder(exc).some((e) => e.kind === "oops" && /NULL pointer dereference|Oops/.test(e.title)),
      "the Oops is attached to it",
    );

    const bug = top.get("fault_lkdtm_bug");
    t.equal(bug?.status, "FAIL", "BUG: the program was killed");
    t.ok(
      eventsUnder(bug).some((e) => e.kind === "bug" && /kernel BUG at drivers\/misc\/lkdtm\/bugs\.c/.test(e.title)),
      "the BUG is attached to it",
    );

    t.equal(top.get("fault_ok_after")?.status, "PASS", "the kernel kept running: the next program passed");
    t.equal(run.boot?.end, "poweroff", "no panic");
    t.same(
      run.kernelEvents.filter((e) => ["warning", "oops", "bug"].includes(e.kind)),
      [],
      "no report left unattributed",
    );

    t.match(r.stderr, /kernel warning: WARNING: .*\(during fault_lkdtm_warning\)/, "progress shows the WARNING live");
    t.match(r.stdout, /kernel warning during fault_lkdtm_warning \(PASS\): WARNING:/, "the terminal summary names the WARNING on the passing test");
    t.match(r.stdout, /kernel bug(:| during fault_lkdtm_bug \(FAIL\):) kernel BUG at drivers\/misc\/lkdtm/, "and the BUG on its failing program");
    const junit = readFileSync(path.join(r.outDir, "junit.xml"), "utf8");
    t.match(junit, /\[kernel warning\] during fault_lkdtm_warning: WARNING: CPU/, "JUnit carries the WARNING (the suite's system-out: its program passed)");
    t.match(junit, /\[kernel bug\] kernel BUG at/, "and the BUG");
    t.same(findLiveProcesses(literal(r.outDir)), [], "no QEMU left");
  });

  t.test("--fail-on-warn: the WARNING turns the surviving program's PASS into FAIL", async (t) => {
    const progs = faultPrograms("fault_lkdtm_warning", "fault_ok_after");
    const r = await runCli(["run", "--tree", tree, "--tests", "net_abi", "--fail-on-warn", "--program", ...progs]);
    t.equal(r.code, 1, r.code === 1 ? "exit 1" : r.stderr.slice(-3000));
    const run = await readResults(r.outDir);
    const top = new Map(run.tests.map((x) => [x.id, x]));
    const warn = top.get("fault_lkdtm_warning");
    t.equal(warn?.status, "FAIL");
    t.match(warn?.reason, /^kernel warning report while it ran: WARNING: CPU/);
    t.equal(top.get("fault_ok_after")?.status, "PASS", "tests without a report still pass");
    t.equal(top.get("net_abi")?.status, "PASS");
  });
}
