// VM level, end to end through the CLI: build Debian's linux-source-6.12 (plain, patched, broken-patched),
// boot it, run the bundled selftests and the tree's own Landlock kselftests.
import t from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { leaves, readResults, REPO_ROOT, runCli, tempDir } from "../test/support/cli-run.js";
import type { TestResult } from "./types.js";
import { kcidbSchemaErrors } from "../test/support/kcidb-schema.js";
import { linuxSourceTree } from "../test/support/vm-fixture.js";

const GOOD = path.join(REPO_ROOT, "patches", "landlock-socket-create");
const BROKEN = path.join(REPO_ROOT, "patches", "landlock-socket-create-broken");
const SOCKET_SKIP = "socket creation control not supported by this kernel";

/** Every socket_create case id, from the program's own --list (built on the host; --list touches no kernel feature). */
function socketCases(): string[] {
  const out = tempDir("kh-list-");
  execFileSync("make", ["-s", "-C", path.join(REPO_ROOT, "selftests"), `OUT=${out}`, path.join(out, "socket_create")], { stdio: "pipe" });
  return execFileSync(path.join(out, "socket_create"), ["--list"], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map((c) => `socket_create.${c}`)
    .sort();
}

const tree = await linuxSourceTree(t);
if (tree) {
  const SOCKET_CASES = socketCases();
  const notPassing = (cases: TestResult[]) => cases.filter((c) => c.status !== "PASS").map((c) => `${c.id} ${c.status} ${c.reason ?? ""}`);

  t.test("--tree (unpatched): builds from our fragments, boots, same verdicts as the default kernel", async (t) => {
    const r = await runCli(["run", "--tree", tree]);
    t.equal(r.code, 0, r.stderr.slice(-3000));
    const run = await readResults(r.outDir);
    t.equal(run.kernel?.source, "tree");
    const all = leaves(run.tests);
    t.ok(all.length >= 100);
    t.same(notPassing(all.filter((c) => !c.id.startsWith("socket_create."))), [], "every network case passes");
    t.ok(
      all.filter((c) => c.id.startsWith("socket_create.")).every((c) => c.status === "SKIP" && c.reason === SOCKET_SKIP),
      "socket creation cases SKIP",
    );
    // DESIGN: build.log is written when the run built the kernel; a cache hit runs no make.
    const cacheHit = /from the build cache/.test(r.stderr);
    t.equal(
      await fs.stat(path.join(r.outDir, "build.log")).then(
        () => true,
        () => false,
      ),
      !cacheHit,
      cacheHit ? "cache hit: no build.log" : "built: build.log in the run directory",
    );
    t.match(await fs.readFile(path.join(r.outDir, "kernel.config"), "utf8"), /^CONFIG_SECURITY_LANDLOCK=y$/m);
  });

  t.test("--patches landlock-socket-create: every bundled case passes, socket creation included", async (t) => {
    const kcidb = path.join(tempDir("kh-kcidb-"), "kcidb.json");
    const r = await runCli(["run", "--tree", tree, "--patches", path.join(GOOD, "series"), "--kcidb", kcidb]);
    t.equal(r.code, 0, r.stderr.slice(-3000));
    const run = await readResults(r.outDir);
    const all = leaves(run.tests);
    const sock = all.filter((c) => c.id.startsWith("socket_create."));
    t.same(sock.map((c) => c.id).sort(), SOCKET_CASES, "every socket_create case ran");
    t.same(notPassing(all), [], "no case skipped or failed");

    // KCIDB: valid v5.3, with the series and its patchset_hash (KCIDB's definition, computed here by sha256sum).
    const doc = JSON.parse(await fs.readFile(kcidb, "utf8"));
    t.same(kcidbSchemaErrors()(doc), [], "the patched-tree run's KCIDB output validates against the v5.3 schema");
    const series = (await fs.readFile(path.join(GOOD, "series"), "utf8")).split("\n").filter((l) => l.trim() && !l.startsWith("#"));
    const shell = execFileSync("sh", ["-c", 'sha256sum "$@" | cut -c-64 | sha256sum | cut -c-64', "sh", ...series], { cwd: GOOD, encoding: "utf8" }).trim();
    const [checkout] = doc.checkouts;
    t.equal(checkout.patchset_hash, shell, "patchset_hash as sha256sum *.patch | cut -c-64 | sha256sum computes it");
    t.same(
      checkout.patchset_files.map((f: { name: string }) => f.name),
      series.map((s) => path.basename(s)),
      "patchset_files: the series, in order",
    );
    // The test tree is Debian's unpacked linux-source (plain, no git): its identity stands in for a commit.
    t.equal(checkout.git_commit_hash, undefined, "a plain tree has no commit to report");
    t.match(checkout.misc, { tree_kind: "plain", tree_identity: /^plain:[0-9a-f]{64}$/ });
    t.match(doc.builds[0], { architecture: "x86_64", compiler: /gcc/, config_name: "tinyconfig+qemu-guest+landlock" });
    t.ok(doc.builds[0].duration > 0, "the build's duration");
    t.match(doc.builds[0].misc.config_sha256, /^[0-9a-f]{64}$/);
    t.ok(
      doc.tests.every((x: { duration?: number; start_time?: string }) => typeof x.duration === "number" && typeof x.start_time === "string"),
      "every test has a duration and a start time",
    );
    t.equal(doc.tests.length, all.length, "one KCIDB test per result");
  });

  t.test("--patches landlock-socket-create with KH_FLIP_ERRNO: exactly socket_create's socketpair flips FAIL, the rest PASS", async (t) => {
    // On a kernel with the feature the probe passes, so the probe's flip has no effect; the socketpair denial's flip shows.
    const r = await runCli(["run", "--tree", tree, "--patches", path.join(GOOD, "series"), "--tests", "socket_create", "--selftest-define", "KH_FLIP_ERRNO"]);
    t.equal(r.code, 1, r.stderr.slice(-3000));
    const sock = leaves((await readResults(r.outDir)).tests).filter((c) => c.id.startsWith("socket_create."));
    t.same(sock.map((c) => c.id).sort(), SOCKET_CASES, "every socket_create case ran");
    const flipped = ["socket_create.pair.unix_dgram.socketpair_denied_without_rule", "socket_create.pair.unix_stream.socketpair_denied_without_rule"];
    t.same(
      sock
        .filter((c) => c.status === "FAIL")
        .map((c) => c.id)
        .sort(),
      flipped,
      "exactly the flipped cases FAIL",
    );
    t.same(notPassing(sock.filter((c) => !flipped.includes(c.id))), [], "every other socket_create case PASSES");
  });

  t.test("--patches landlock-socket-create-broken: exactly the two layer cases patches/README.md names FAIL, the rest PASS", async (t) => {
    const r = await runCli(["run", "--tree", tree, "--patches", BROKEN, "--tests", "socket_create"]);
    t.equal(r.code, 1, r.stderr.slice(-3000));
    const sock = leaves((await readResults(r.outDir)).tests).filter((c) => c.id.startsWith("socket_create."));
    t.same(sock.map((c) => c.id).sort(), SOCKET_CASES, "every socket_create case ran");
    // patches/README.md: "socket_create reports layers.disjoint_rules_deny_both and layers.overlap_allows_only_common as FAIL (84 pass, 2 fail)".
    const promised = ["socket_create.layers.disjoint_rules_deny_both", "socket_create.layers.overlap_allows_only_common"];
    const failed = sock.filter((c) => c.status === "FAIL");
    t.same(failed.map((c) => c.id).sort(), promised, "exactly the two layer cases FAIL");
    t.same(notPassing(sock.filter((c) => !promised.includes(c.id))), [], "every other socket_create case PASSES (the probe saw the feature)");
    for (const id of promised) t.match(r.stdout, new RegExp(id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), `the terminal report names ${id}`);
  });

  t.test("--kselftest landlock: the tree's own Landlock selftests run in the guest, nested per program", async (t) => {
    const r = await runCli(["run", "--tree", tree, "--tests", "net_abi", "--kselftest", "landlock", "--timeout", "300"]);
    t.ok(r.code === 0 || r.code === 1, `ran to the end (exit ${r.code})\n${r.stderr.slice(-3000)}`);
    const run = await readResults(r.outDir);
    const ks = leaves(run.tests).filter((c) => c.id.startsWith("kselftest.landlock."));
    t.ok(ks.length > 50, `kselftest cases reported (${ks.length})`);
    t.ok(
      ks.some((c) => /^kselftest\.landlock\.base_test\./.test(c.id) && c.status === "PASS"),
      "base_test cases pass",
    );
    t.ok(ks.filter((c) => c.status === "PASS").length > ks.length / 2, "most cases pass");
    // net_test runs system("ip link set dev lo up"): it passes only because the payload ships busybox as sh and ip.
    const net = ks.filter((c) => c.id.startsWith("kselftest.landlock.net_test."));
    t.ok(
      net.length > 50 && net.every((c) => c.status === "PASS" || c.status === "SKIP"),
      `net_test passes (${net.filter((c) => c.status !== "PASS" && c.status !== "SKIP").length} not)`,
    );
  });

  t.test("the series applies with plain git am on a git repository of the unpacked tree", async (t) => {
    // Only the files the series touches are needed for `git am` without -3: copy them into a fresh repo.
    const repo = tempDir("kh-am-");
    const series = (await fs.readFile(path.join(GOOD, "series"), "utf8"))
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    const touched = new Set<string>();
    for (const p of series) {
      const text = await fs.readFile(path.join(GOOD, p), "utf8");
      for (const m of text.matchAll(/^--- a\/(\S+)$/gm)) touched.add(m[1]!);
    }
    for (const f of touched) {
      // A file that an earlier patch of the series creates (security/landlock/socket.c) is not in the tree.
      if (
        !(await fs.stat(path.join(tree, f)).then(
          () => true,
          () => false,
        ))
      )
        continue;
      await fs.mkdir(path.dirname(path.join(repo, f)), { recursive: true });
      await fs.copyFile(path.join(tree, f), path.join(repo, f));
    }
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", ...args], { cwd: repo, encoding: "utf8" });
    git("init", "-q");
    git("add", "-A");
    git("commit", "-qm", "base");
    git("am", ...series.map((p) => path.join(GOOD, p)));
    t.equal(git("rev-list", "--count", "HEAD").trim(), String(series.length + 1), "every patch became a commit");
    t.equal(git("status", "--porcelain").trim(), "", "nothing left over");
  });
}
