// VM level, end to end through the CLI: build Debian's linux-source-6.12 (plain, patched, broken-patched),
// boot it, run the bundled selftests and the tree's own Landlock kselftests.
import t from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { createExec } from "./exec/exec.js";
import { cacheRoot } from "./exec/files.js";
import { ensureUnpackedSource } from "./kernel/source-tree.js";
import { leaves, readResults, REPO_ROOT, runCli, tempDir } from "./testing/cli-run.js";
import type { TestResult } from "./types.js";

const TARBALL = process.env.KHARNESS_LINUX_TARBALL ?? "/usr/src/linux-source-6.12.tar.xz";
const GOOD = path.join(REPO_ROOT, "patches", "landlock-socket-create");
const BROKEN = path.join(REPO_ROOT, "patches", "landlock-socket-create-broken");
const SOCKET_SKIP = "socket creation control not supported by this kernel";

const haveTarball = await fs.access(TARBALL).then(() => true, () => false);
if (!haveTarball) t.plan(0, `no ${TARBALL} (npm run setup -- --tests installs linux-source-6.12)`);
else {
  const tree = await ensureUnpackedSource(createExec(), TARBALL, cacheRoot());
  const notPassing = (cases: TestResult[]) => cases.filter((c) => c.status !== "PASS").map((c) => `${c.id} ${c.status} ${c.reason ?? ""}`);

  t.test("--tree (unpatched): builds from our fragments, boots, same verdicts as the default kernel", async (t) => {
    const r = await runCli(["run", "--tree", tree]);
    t.equal(r.code, 0, r.stderr.slice(-3000));
    const run = await readResults(r.outDir);
    t.equal(run.kernel?.source, "tree");
    const all = leaves(run.tests);
    t.ok(all.length >= 100);
    t.same(notPassing(all.filter((c) => !c.id.startsWith("socket_create."))), [], "every network case passes");
    t.ok(all.filter((c) => c.id.startsWith("socket_create.")).every((c) => c.status === "SKIP" && c.reason === SOCKET_SKIP), "socket creation cases SKIP");
    // DESIGN: build.log is written when the run built the kernel; a cache hit runs no make.
    const cacheHit = /from the build cache/.test(r.stderr);
    t.equal(await fs.stat(path.join(r.outDir, "build.log")).then(() => true, () => false), !cacheHit, cacheHit ? "cache hit: no build.log" : "built: build.log in the run directory");
    t.match(await fs.readFile(path.join(r.outDir, "kernel.config"), "utf8"), /^CONFIG_SECURITY_LANDLOCK=y$/m);
  });

  t.test("--patches landlock-socket-create: every bundled case passes, socket creation included", async (t) => {
    const r = await runCli(["run", "--tree", tree, "--patches", path.join(GOOD, "series")]);
    t.equal(r.code, 0, r.stderr.slice(-3000));
    const run = await readResults(r.outDir);
    const all = leaves(run.tests);
    const sock = all.filter((c) => c.id.startsWith("socket_create."));
    t.ok(sock.length >= 50, `socket_create cases ran (${sock.length})`);
    t.same(notPassing(all), [], "no case skipped or failed");
  });

  t.test("--patches landlock-socket-create-broken: a socket creation case FAILs and the report names it", async (t) => {
    const r = await runCli(["run", "--tree", tree, "--patches", BROKEN, "--tests", "socket_create"]);
    t.equal(r.code, 1, r.stderr.slice(-3000));
    const run = await readResults(r.outDir);
    const failed = leaves(run.tests).filter((c) => c.status === "FAIL");
    t.ok(failed.length >= 1, "at least one FAIL");
    t.ok(failed.every((c) => c.id.startsWith("socket_create.")), "only socket creation cases fail");
    t.match(r.stdout, new RegExp(failed[0]!.id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), "the terminal report names the failing case");
  });

  t.test("--kselftest landlock: the tree's own Landlock selftests run in the guest, nested per program", async (t) => {
    const r = await runCli(["run", "--tree", tree, "--tests", "net_abi", "--kselftest", "landlock", "--timeout", "300"]);
    t.ok(r.code === 0 || r.code === 1, `ran to the end (exit ${r.code})\n${r.stderr.slice(-3000)}`);
    const run = await readResults(r.outDir);
    const ks = leaves(run.tests).filter((c) => c.id.startsWith("kselftest.landlock."));
    t.ok(ks.length > 50, `kselftest cases reported (${ks.length})`);
    t.ok(ks.some((c) => /^kselftest\.landlock\.base_test\./.test(c.id) && c.status === "PASS"), "base_test cases pass");
    t.ok(ks.filter((c) => c.status === "PASS").length > ks.length / 2, "most cases pass");
    // net_test runs system("ip link set dev lo up"): it passes only because the payload ships busybox as sh and ip.
    const net = ks.filter((c) => c.id.startsWith("kselftest.landlock.net_test."));
    t.ok(net.length > 50 && net.every((c) => c.status === "PASS" || c.status === "SKIP"), `net_test passes (${net.filter((c) => c.status !== "PASS" && c.status !== "SKIP").length} not)`);
  });

  t.test("the series applies with plain git am on a git repository of the unpacked tree", async (t) => {
    // Only the files the series touches are needed for `git am` without -3: copy them into a fresh repo.
    const repo = tempDir("kh-am-");
    const series = (await fs.readFile(path.join(GOOD, "series"), "utf8")).split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    const touched = new Set<string>();
    for (const p of series) {
      const text = await fs.readFile(path.join(GOOD, p), "utf8");
      for (const m of text.matchAll(/^--- a\/(\S+)$/gm)) touched.add(m[1]!);
    }
    for (const f of touched) {
      // A file that an earlier patch of the series creates (security/landlock/socket.c) is not in the tree.
      if (!(await fs.stat(path.join(tree, f)).then(() => true, () => false))) continue;
      await fs.mkdir(path.dirname(path.join(repo, f)), { recursive: true });
      await fs.copyFile(path.join(tree, f), path.join(repo, f));
    }
    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", ...args], { cwd: repo, encoding: "utf8" });
    git("init", "-q");
    git("add", "-A");
    git("commit", "-qm", "base");
    git("am", ...series.map((p) => path.join(GOOD, p)));
    t.equal(git("rev-list", "--count", "HEAD").trim(), String(series.length + 1), "every patch became a commit");
    t.equal(git("status", "--porcelain").trim(), "", "nothing left over");
  });
}
