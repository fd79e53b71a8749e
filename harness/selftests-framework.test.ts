// Process level: the guest side's own checks run on the host: the C test framework's (make -C selftests check)
// and init's verdict rules (make -C vm check); neither needs root, Landlock or a VM.
import t from "tap";
import { spawnSync } from "node:child_process";
import { copyFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { REPO_ROOT, tempDir } from "../test/support/cli-run.js";

function run(argv: string[]): { code: number | null; out: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const out = tempDir("kh-framework-check-");

t.test("make -C selftests check: the framework, the fix gates and the ABI-query rules behave as framework-check/ expects", async (t) => {
  const r = run(["make", "-C", path.join(REPO_ROOT, "selftests"), `OUT=${out}`, "check"]);
  t.equal(r.code, 0, r.code === 0 ? "exit 0" : r.out.slice(-4000));
  t.match(r.out, /framework check: ok/);
  t.notMatch(r.out, /differs|want /, "no check reported a difference");
});

t.test("the framework check fails when the runner misreports: a runner that says every case passed is caught", async (t) => {
  // check.sh compares output and exit codes; point it at a runner that reports PASS for everything (as a runner that
  // lost its cases used to) and it must fail, naming what differs.
  const bad = tempDir("kh-framework-bad-");
  for (const f of ["fix_gate", "seccomp-errno", "net_abi"]) copyFileSync(path.join(out, f), path.join(bad, f));
  writeFileSync(path.join(bad, "kh_selftest"), "#!/bin/sh\necho 'KTAP version 1'\necho '1..1'\necho 'ok 1 f.a.pass'\nexit 0\n", { mode: 0o755 });
  const r = run(["sh", path.join(REPO_ROOT, "selftests", "framework-check", "check.sh"), bad]);
  t.equal(r.code, 1, r.code === 1 ? "exit 1" : r.out.slice(-2000));
  t.match(r.out, /all cases: exit 0, want 1/);
  t.match(r.out, /KTAP differs from expected\.ktap/);
  t.notMatch(r.out, /framework check: ok/);
});

t.test("make -C vm check: init turns only exit 0 and 4 into ok; a lost, stopped or never-seen program is ERROR", async (t) => {
  const r = run(["make", "-C", path.join(REPO_ROOT, "vm"), `OUT=${out}`, "check"]);
  t.equal(r.code, 0, r.code === 0 ? "exit 0" : r.out.slice(-3000));
  t.notMatch(r.out, /^FAIL/m);
  t.match(r.out, /ok {3}not ok 3 prog # ERROR init lost track of the program: poll failed/);
  t.match(r.out, /ok {3}not ok 3 prog # ERROR wait status 0x47f is neither an exit nor a signal/);
});
