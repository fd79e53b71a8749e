// Parser tier, fault suite: a real KASAN report (the example in the kernel's own Documentation/dev-tools/kasan.rst,
// read from linux-source-6.12 at test time) printed while a program runs is attached to that program, shown in
// JUnit, and turns its PASS into FAIL; printed outside every test (at boot, at shutdown) it fails the run through
// the entry `kernel`. Either way, with or without --fail-on-warn. (A KASAN kernel is a second, --debug build: too slow for CI.)
import t from "tap";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { createExec } from "../../harness/exec/exec.js";
import { cacheRoot } from "../../harness/exec/cache.js";
import { ensureUnpackedSource } from "../../harness/kernel/source-tree.js";
import { renderJunit, renderTerminal } from "../../harness/report/index.js";
import { createRunParser, runFailed } from "../../harness/results/index.js";

const TARBALL = process.env.KHARNESS_LINUX_TARBALL ?? "/usr/src/linux-source-6.12.tar.xz";
const haveTarball = await fs.access(TARBALL).then(
  () => true,
  () => false,
);

/** The report block of kasan.rst: its indented literal block that holds "BUG: KASAN:", de-indented. */
function kasanReport(rst: string): string[] {
  const lines = rst.split("\n");
  const at = lines.findIndex((l) => /^\s+BUG: KASAN:/.test(l));
  let start = at;
  while (start > 0 && lines[start - 1]!.trim() !== "") start--;
  let end = at;
  while (end < lines.length && (lines[end]!.startsWith("    ") || lines[end]!.trim() === "") && !/^\s+={20,}$/.test(lines[end]!)) end++;
  return lines.slice(start, end + 1).map((l) => l.replace(/^ {4}/, ""));
}

/** A console with the report at `where`: during the program, before init ran it, or after init's poweroff. */
function consoleWith(report: string[], where: "in-test" | "boot" | "shutdown" = "in-test"): string {
  let ts = 5;
  const stamp = (l: string) => `[${(ts += 0.001).toFixed(6).padStart(12)}] ${l}`;
  const at = (w: typeof where) => (w === where ? report : []);
  return (
    [...at("boot"), "kharness: init 1", "kharness: start prog", ...at("in-test"), "kharness: end prog", "kharness: poweroff", ...at("shutdown")]
      .map(stamp)
      .join("\n") + "\n"
  );
}

const RESULTS = "KTAP version 1\n1..1\n# selftests: kharness: prog\n# # doing the bad access\nok 1 prog\n";

t.test(
  "a KASAN report during a test: attached, in JUnit, and the test FAILs with or without --fail-on-warn",
  { skip: haveTarball ? false : `no ${TARBALL}` },
  async (t) => {
    const tree = await ensureUnpackedSource(createExec(), TARBALL, cacheRoot());
    const report = kasanReport(await fs.readFile(path.join(tree, "Documentation", "dev-tools", "kasan.rst"), "utf8"));
    t.ok(report.length > 40, `the recorded report has ${report.length} lines`);
    for (const failOnWarn of [false, true]) {
      const p = createRunParser({ failOnWarn });
      p.pushResults(RESULTS);
      p.pushConsole(consoleWith(report));
      const run = p.finish({ end: "poweroff" });
      const prog = run.tests.find((x) => x.id === "prog");
      const ev = prog?.kernelEvents.find((e) => e.kind === "kasan");
      t.ok(ev, `kasan event attached to the running program (failOnWarn=${failOnWarn})`);
      t.match(ev?.title, /^BUG: KASAN: slab-out-of-bounds in kmalloc_oob_right/);
      t.ok(
        ev?.lines.some((l) => /Write of size 1 at addr/.test(l)),
        "with the report's body",
      );
      t.same(run.kernelEvents, [], "nothing left unattributed");
      // A KASAN report is the kernel breaking, not a warning: the test that printed `ok` fails either way.
      t.equal(prog?.status, "FAIL", `FAIL, --fail-on-warn or not (failOnWarn=${failOnWarn})`);
      t.match(prog?.reason, /^kernel kasan report while it ran: BUG: KASAN: slab-out-of-bounds/);
      t.ok(runFailed(run), "the run fails");
      t.match(
        renderJunit(run),
        /<failure type="FAIL" message="kernel kasan report while it ran[^"]*">[^<]*<\/failure>\s*<system-out>[^<]*\[kernel kasan\] BUG: KASAN: slab-out-of-bounds/,
        "JUnit: a failure, with the report",
      );
      t.match(renderTerminal(run, { color: false }), /kernel kasan: BUG: KASAN: slab-out-of-bounds/, "the terminal report shows it");
    }
  },
);

t.test(
  "a KASAN report outside every test (boot, shutdown) fails the run with or without --fail-on-warn",
  { skip: haveTarball ? false : `no ${TARBALL}` },
  async (t) => {
    const tree = await ensureUnpackedSource(createExec(), TARBALL, cacheRoot());
    const report = kasanReport(await fs.readFile(path.join(tree, "Documentation", "dev-tools", "kasan.rst"), "utf8"));
    for (const [where, place] of [
      ["boot", "before the first test"],
      ["shutdown", "during shutdown, after the last test"],
    ] as const) {
      for (const failOnWarn of [false, true]) {
        const p = createRunParser({ failOnWarn });
        p.pushResults(RESULTS);
        p.pushConsole(consoleWith(report, where));
        const run = p.finish({ end: "poweroff" });
        t.equal(run.tests.find((x) => x.id === "prog")?.status, "PASS", `${where}: the program keeps its PASS`);
        const kernel = run.tests.find((x) => x.id === "kernel");
        t.equal(kernel?.status, "CRASH", `${where} (failOnWarn=${failOnWarn}): the run-level entry is CRASH`);
        t.equal(kernel?.reason, `kernel kasan ${place}: ${report.find((l) => l.startsWith("BUG: KASAN:"))}`);
        t.ok(
          kernel?.kernelEvents[0]?.lines.some((l) => /Write of size 1 at addr/.test(l)),
          "with the report's body",
        );
        t.ok(runFailed(run), "the run fails");
        t.match(renderJunit(run), /<testsuite name="kernel"[^>]*>\s*<testcase classname="kharness" name="kernel"[^>]*>\s*<error type="CRASH"/);
      }
    }
  },
);
