// Process level: the KCIDB provenance read from a run directory and a (made-up) kernel cache entry built from a git
// tree with an ssh remote and two patches; the document validates; `kharness kcidb` refuses a directory without
// results.json with a clear error (exit 2).
import t from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { readKcidbProvenance, renderKcidbForRun } from "./kcidb-provenance.js";
import { parseLog } from "./results/index.js";
import { runCli, tempDir } from "../test/support/cli-run.js";
import { kcidbSchemaErrors } from "../test/support/kcidb-schema.js";
import type { RunResult } from "./types.js";

const PATCHES = [
  "From: a <a@example.org>\nSubject: [PATCH 1/2] one\n\n--- a/x\n+++ b/x\n",
  "From: a <a@example.org>\nSubject: [PATCH 2/2] two\n\n--- a/y\n+++ b/y\n",
];

async function fixture(): Promise<{ run: RunResult; runDir: string; commit: string }> {
  const root = tempDir("kh-prov-");
  const tree = path.join(root, "linux");
  await fs.mkdir(tree);
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", ...args], { cwd: tree, encoding: "utf8" }).trim();
  git("init", "-q");
  await fs.writeFile(path.join(tree, "Makefile"), "# kernel\n");
  git("add", "-A");
  git("commit", "-qm", "base");
  git("remote", "add", "origin", "git@gitlab.example.org:kernel/linux.git");
  const commit = git("rev-parse", "HEAD");
  const entry = path.join(root, "cache", "kernels", "k1");
  await fs.mkdir(path.join(entry, "patches"), { recursive: true });
  for (const [i, p] of PATCHES.entries()) await fs.writeFile(path.join(entry, "patches", `000${i + 1}.patch`), p);
  await fs.writeFile(path.join(entry, "bzImage"), "");
  const record = {
    recipe: 1,
    key: "k1",
    tree: { dir: tree, kind: "git", commit, dirty: false, identity: `git:${commit}` },
    usesWorkingTree: false,
    patches: [
      { source: "/home/u/series.mbox#1", subject: "one" },
      { source: "/home/u/series.mbox#2", subject: "two" },
    ],
    baseConfig: "defconfig",
    fragments: ["kernel-config/qemu-guest.config", "/home/u/extra.config"],
    compiler: "gcc (Debian 12.2.0-14+deb12u1) 12.2.0",
    linker: "GNU ld 2.40",
    release: "6.12.0",
    durationMs: 60000,
    builtAt: "2026-12-02T22:00:00.000Z",
  };
  await fs.writeFile(path.join(entry, "build.json"), JSON.stringify(record));
  const runDir = path.join(root, "run");
  await fs.mkdir(runDir);
  await fs.writeFile(path.join(runDir, "kernel.config"), "CONFIG_64BIT=y\n");
  await fs.writeFile(path.join(runDir, "build.log"), "  CC      init/main.o\n  LD      vmlinux\nKernel: arch/x86/boot/bzImage is ready\n");
  const run: RunResult = {
    ...parseLog("KTAP version 1\n1..2\nok 1 a\nok 2 b # SKIP no\n"),
    runId: "r7",
    startedAt: "2026-12-02T22:10:00.000Z",
    kernel: { release: "6.12.0", path: path.join(entry, "bzImage"), source: "tree" },
    boot: { end: "poweroff", accel: "tcg", machine: "pc", durations: { totalMs: 1000 } },
  };
  return { run, runDir, commit };
}

t.test("a git tree's commit, its remote as https, the series with KCIDB's hash, the build's facts", async (t) => {
  const { run, runDir, commit } = await fixture();
  const p = await readKcidbProvenance(run, runDir);
  t.equal(p.checkout?.commit, commit);
  t.equal(p.checkout?.treeUrl, "https://gitlab.example.org/kernel/linux.git");
  t.same(
    p.checkout?.patches?.map((x) => x.name),
    ["series.mbox-1", "series.mbox-2"],
    "named after the mbox and the message number",
  );
  const each = PATCHES.map((x) => execFileSync("sha256sum", { input: x, encoding: "utf8" }).slice(0, 64));
  const expected = execFileSync("sha256sum", { input: each.map((h) => `${h}\n`).join(""), encoding: "utf8" }).slice(0, 64);
  t.equal(p.checkout?.patchsetHash, expected);
  t.match(p.build, {
    compiler: /^gcc/,
    architecture: "x86_64",
    configName: "defconfig+qemu-guest+extra",
    durationMs: 60000,
    startTime: "2026-12-02T21:59:00.000Z",
    logExcerpt: /bzImage is ready\n$/,
  });
  t.equal(p.build?.configSha256, execFileSync("sha256sum", { input: "CONFIG_64BIT=y\n", encoding: "utf8" }).slice(0, 64));
  t.match(p.build?.misc, { cache_key: "k1", cache_hit: false });

  const doc = JSON.parse(await renderKcidbForRun(run, runDir, { origin: "kharness", runId: "r7" }));
  t.same(kcidbSchemaErrors()(doc), [], "the document validates");
  t.equal(doc.checkouts[0].git_commit_hash, commit);
});

t.test("kharness kcidb: a directory without results.json is refused (exit 2) naming it and the fix", async (t) => {
  const dir = tempDir("kh-nores-");
  const r = await runCli(["kcidb", dir]);
  t.equal(r.code, 2);
  t.match(r.stderr, new RegExp(`kcidb ${dir}: no results.json there`));
  t.match(r.stderr, /fix: /);
  const bad = await runCli(["kcidb", dir, "--origin", "My-Lab"]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--origin My-Lab: KCIDB origins are lowercase/);
});
