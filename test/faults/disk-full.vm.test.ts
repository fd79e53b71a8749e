// VM level, fault suite: the run directory's disk fills up while the guest streams results (a 5 MiB tmpfs as
// --out): the run goes on, then ends with a clear "no space left" error, exit 3, no QEMU left.
import t from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs, readdirSync } from "node:fs";
import * as path from "node:path";
import { findLiveProcesses } from "../support/procs.js";
import { runCli, tempDir } from "../support/cli-run.js";
import { faultPrograms, literal, tmpfsMountProblem } from "../support/faults/fault-programs.js";

const mountProblem = tmpfsMountProblem();

t.test("disk full while writing results: clear error naming the file and the fix, exit 3", { skip: mountProblem ?? false }, async (t) => {
  const dir = tempDir("kh-full-");
  // Room for the initramfs (~3.4 MiB) and the boot log, not for 4 MiB of test output and the reports.
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=5m", "tmpfs", dir], { stdio: "pipe" });
  t.teardown(() => void execFileSync("umount", ["-l", dir]));
  const out = path.join(dir, "run");
  const progs = faultPrograms("fault_spew_4mb", "fault_ok_after");
  const r = await runCli(["run", "--tests", "net_abi", "--program", ...progs, "--out", out]);
  t.equal(r.code, 3, r.code === 3 ? "exit 3" : r.stderr.slice(-2000));
  t.match(r.stderr, /cannot write results\.log \(ENOSPC\); the rest of it is not saved, parsing goes on/, "the full disk was noticed as it happened");
  t.match(r.stderr, /kharness: error: no space left on device while writing .*\/run\/(results\.json|junit\.xml|results\.tap)/, "the error names the file");
  t.match(r.stderr, /^fix: free disk space, or point --out/m, "and the fix");
  t.notMatch(r.stderr, /internal error/, "no crash of the harness");
  t.match(r.stdout, /PASS|FAIL/, "the verdicts were still parsed and printed");
  t.same(findLiveProcesses(literal(out)), [], "no QEMU left");
  t.ok(readdirSync(out).includes("console.log"), "console.log (partial) kept");
  t.same(
    readdirSync(out).filter((n) => /\.tmp-/.test(n)),
    [],
    "no temp files left behind",
  );
  t.ok((await fs.stat(path.join(out, "results.log"))).size > 0, "results.log holds what fitted");
});
