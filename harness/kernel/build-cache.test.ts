// Kept build directories and the cache limit, without a kernel: which build a series starts from, what a
// copy shares and what it does not, which files the sync rewrites, eviction order, locks, and `kharness cache`.
import t from "tap";
import { spawnSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createExec } from "../exec/exec.js";
import { main } from "../cli.js";
import {
  BUILD_SUBDIR,
  chooseEvictions,
  cloneKeptBuild,
  evict,
  keepBuild,
  listCacheItems,
  listKeptBuilds,
  parseAge,
  parseSize,
  pathsReadable,
  pickNearest,
  syncChangedFiles,
} from "./build-cache.js";
import { prepareSparseSource } from "./source-tree.js";

const tmp = async (t: { teardown(fn: () => unknown): void }, prefix: string) => {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rm(d, { recursive: true, force: true }));
  return d;
};
const write = async (file: string, text: string, mtime?: Date) => {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text);
  if (mtime) await fs.utimes(file, mtime, mtime);
};
const kept = (shas: string[], lastUsedMs: number, name = shas.join("+") || "base") => ({
  name,
  meta: { patches: shas.map((sha) => ({ sha })) },
  lastUsedMs,
});

t.test("pickNearest: longest common patch prefix, then fewest patches to undo, then most recently used", async (t) => {
  const builds = [kept([], 50), kept(["a"], 10), kept(["a", "b"], 20), kept(["a", "b", "c", "d"], 30), kept(["a", "x"], 40), kept(["z"], 99)];
  t.equal(pickNearest(builds, ["a", "b", "c2"])?.name, "a+b", "prefix 2 with nothing extra beats prefix 2 with two extra");
  t.equal(pickNearest(builds, ["a", "b", "c", "d", "e"])?.name, "a+b+c+d", "the longest prefix");
  t.equal(pickNearest(builds, ["a", "q"])?.name, "a", "prefix 1: the one with no patch beyond it");
  t.equal(pickNearest(builds, ["q"])?.name, "base", "no common prefix: the base build (no patch to undo)");
  t.equal(pickNearest([kept(["y"], 1), kept(["z"], 2)], ["q"])?.name, "z", "nothing in common, same distance: the most recently used");
  t.equal(pickNearest([], ["a"]), undefined, "nothing kept: a cold build");
});

t.test("pathsReadable: a quoted path (spaces, non-ASCII) turns incremental builds off for the series", async (t) => {
  t.ok(pathsReadable("diff --git a/x/y.c b/x/y.c\n--- a/x/y.c\n"));
  t.notOk(pathsReadable('diff --git "a/x y.c" "b/x y.c"\n'));
});

t.test("chooseEvictions: least recently used first until under the limit; held entries never; age and --all", async (t) => {
  const items = [
    { dir: "a", sizeBytes: 10, lastUsedMs: 100 },
    { dir: "b", sizeBytes: 10, lastUsedMs: 300 },
    { dir: "c", sizeBytes: 10, lastUsedMs: 200 },
    { dir: "d", sizeBytes: 10, lastUsedMs: 400 },
  ];
  const dirs = (xs: { dir: string }[]) => xs.map((x) => x.dir);
  t.same(dirs(chooseEvictions(items, { maxBytes: 25, nowMs: 500 })), ["a", "c"], "oldest two go to fit 25 of 40");
  t.same(dirs(chooseEvictions(items, { maxBytes: 25, nowMs: 500, held: new Set(["a"]) })), ["c", "b"], "a held entry is skipped, the next oldest go");
  t.same(dirs(chooseEvictions(items, { maxBytes: 40, nowMs: 500 })), [], "at the limit: nothing");
  t.same(dirs(chooseEvictions(items, { olderThanMs: 250, nowMs: 500 })), ["a", "c"], "unused for more than 250 ms");
  t.same(dirs(chooseEvictions(items, { all: true, nowMs: 500, held: new Set(["d"]) })), ["a", "c", "b"], "--all but the held one");
});

t.test("parseSize / parseAge", async (t) => {
  t.equal(parseSize("20G"), 20 * 1024 ** 3);
  t.equal(parseSize("512m"), 512 * 1024 ** 2);
  t.equal(parseSize("1.5GiB"), 1.5 * 1024 ** 3);
  t.equal(parseSize("1000"), 1000);
  t.equal(parseSize("lots"), undefined);
  t.equal(parseAge("7d"), 7 * 86400e3);
  t.equal(parseAge("12h"), 12 * 3600e3);
  t.equal(parseAge("3 weeks"), undefined);
});

t.test("syncChangedFiles: only differing files are rewritten, as new files with a new mtime; the rest keep theirs", async (t) => {
  const root = await tmp(t, "kh-sync-");
  const fresh = path.join(root, "fresh");
  const dest = path.join(root, "dest");
  const old = new Date("2020-01-01T00:00:00Z");
  // dest is a hard-link copy of an "original tree": its files must never be written through the link.
  await write(path.join(root, "orig/a.c"), "same\n", old);
  await write(path.join(root, "orig/b.c"), "old b\n", old);
  await write(path.join(root, "orig/gone.c"), "removed by the new series\n", old);
  await write(path.join(root, "orig/untouched.c"), "not in either series\n", old);
  spawnSync("cp", ["-al", path.join(root, "orig"), dest]);
  await write(path.join(fresh, "a.c"), "same\n");
  await write(path.join(fresh, "b.c"), "new b\n");
  await write(path.join(fresh, "new/c.c"), "created by the series\n");
  await write(path.join(fresh, "untouched.c"), "DIFFERENT but not a touched path\n");
  const inoA = (await fs.stat(path.join(dest, "a.c"))).ino;
  const changed = await syncChangedFiles(fresh, dest, ["a.c", "b.c", "gone.c", "new/c.c", "no/such.c"]);
  t.same(changed, ["b.c", "gone.c", "new/c.c"]);
  const a = await fs.stat(path.join(dest, "a.c"));
  t.equal(a.ino, inoA, "an identical file is left alone");
  t.equal(a.mtimeMs, old.getTime(), "and keeps its old mtime (make will not rebuild from it)");
  const b = await fs.stat(path.join(dest, "b.c"));
  t.equal(await fs.readFile(path.join(dest, "b.c"), "utf8"), "new b\n");
  t.ok(b.mtimeMs > Date.now() - 60_000, "a changed file has a fresh mtime (newer than any object built from the old one)");
  t.equal(await fs.readFile(path.join(root, "orig/b.c"), "utf8"), "old b\n", "the hard-linked original is untouched");
  t.notOk(await fs.stat(path.join(dest, "gone.c")).catch(() => undefined), "a file the new series does not have is removed");
  t.ok(await fs.stat(path.join(root, "orig/gone.c")), "only unlinked: the original stays");
  t.equal(await fs.readFile(path.join(dest, "new/c.c"), "utf8"), "created by the series\n");
  t.equal(await fs.readFile(path.join(dest, "untouched.c"), "utf8"), "not in either series\n", "paths outside the series are not looked at");
});

/** A fake kept build: source files, a build dir with an object and a tools/ .cmd naming the old path. */
async function fakeKept(cacheRoot: string, lineage: string, key: string, shas: string[], builtAt: string) {
  const work = path.join(cacheRoot, "work", `w-${key.slice(0, 4)}`);
  const src = path.join(work, "src");
  const old = new Date("2021-01-01T00:00:00Z");
  const newer = new Date("2022-01-01T00:00:00Z");
  await write(path.join(src, "Makefile"), "all:\n", old);
  await write(path.join(src, "kernel/x.c"), "int x;\n", old);
  await write(path.join(src, BUILD_SUBDIR, "kernel/x.o"), "OBJECT", newer);
  await write(
    path.join(src, BUILD_SUBDIR, "tools/objtool/.weak.o.cmd"),
    `cmd_${builtAt}/${BUILD_SUBDIR}/tools/objtool/weak.o := gcc ${builtAt}/tools/objtool/weak.c\n`,
    newer,
  );
  await write(path.join(src, ".git/HEAD"), "ref: x\n");
  // kbuild's own link back to the source: walking must not follow it.
  await fs.symlink("..", path.join(src, BUILD_SUBDIR, "source"));
  await write(path.join(src, "big.bin"), "x".repeat(1 << 20));
  t.ok(
    await keepBuild(cacheRoot, src, {
      key,
      lineage,
      treeIdentity: "plain:t",
      treeDir: "/t",
      arch: "x86_64",
      baseConfig: "tiny",
      fragments: ["kernel-config/qemu-guest.config"],
      patches: shas.map((sha) => ({ sha, subject: `patch ${sha}` })),
      touched: ["kernel/x.c"],
      builtAtPath: builtAt,
    }),
  );
}

t.test("keepBuild + cloneKeptBuild: a private copy that shares source inodes but no build file, paths relocated", async (t) => {
  const root = await tmp(t, "kh-keep-");
  const lineage = "1".repeat(64);
  const key = "a".repeat(64);
  await fakeKept(root, lineage, key, ["p1"], "/old/place/src");
  const [k] = await listKeptBuilds(root, lineage);
  t.ok(k, "listed");
  t.equal(k?.meta.key, key);
  t.ok(k!.meta.sizeBytes > 1 << 20 && k!.meta.sizeBytes < 2 << 20, `sized once, not again through build/source -> .. (${k!.meta.sizeBytes})`);
  t.notOk(await fs.stat(path.join(k!.dir, "src/.git")).catch(() => undefined), "the throwaway .git is not kept");
  t.notOk(await keepBuild(root, "/nonexistent", { ...k!.meta }), "a second keep of the same key is a no-op");

  const dest = path.join(root, "work", "clone", "src");
  await cloneKeptBuild(createExec(), k!, dest);
  const keptSrc = path.join(k!.dir, "src");
  const s1 = await fs.stat(path.join(keptSrc, "kernel/x.c"));
  const s2 = await fs.stat(path.join(dest, "kernel/x.c"));
  t.equal(s2.ino, s1.ino, "a source file is a hard link (sync replaces rather than writes)");
  const o1 = await fs.stat(path.join(keptSrc, BUILD_SUBDIR, "kernel/x.o"));
  const o2 = await fs.stat(path.join(dest, BUILD_SUBDIR, "kernel/x.o"));
  t.not(o2.ino, o1.ino, "a build file is a copy: never shared writably");
  t.equal(o2.mtimeMs, o1.mtimeMs, "with its mtime (still newer than its source)");
  await fs.writeFile(path.join(dest, BUILD_SUBDIR, "kernel/x.o"), "REBUILT");
  t.equal(await fs.readFile(path.join(keptSrc, BUILD_SUBDIR, "kernel/x.o"), "utf8"), "OBJECT", "writing the copy's object leaves the kept one");
  const cmd = await fs.readFile(path.join(dest, BUILD_SUBDIR, "tools/objtool/.weak.o.cmd"), "utf8");
  t.notMatch(cmd, /\/old\/place/, "the tools' absolute paths now name the copy");
  t.match(cmd, `${dest}/${BUILD_SUBDIR}/tools/objtool/weak.o`);
  t.equal(
    (await fs.stat(path.join(dest, BUILD_SUBDIR, "tools/objtool/.weak.o.cmd"))).mtimeMs,
    new Date("2022-01-01T00:00:00Z").getTime(),
    "and keep their mtime",
  );
});

t.test("evict and `kharness cache list|prune`: LRU over kernels and build dirs; a locked entry stays", async (t) => {
  const root = await tmp(t, "kh-evict-");
  const lineage = "2".repeat(64);
  for (const [i, c] of ["b", "c", "d"].entries()) {
    await fakeKept(root, lineage, c.repeat(64), [`p${i}`], `/w/${c}`);
    const dir = path.join(root, "builds", lineage, c.repeat(64));
    const when = new Date(Date.UTC(2024, 0, 1 + i));
    await fs.writeFile(path.join(dir, ".last-used"), "");
    await fs.utimes(path.join(dir, ".last-used"), when, when);
  }
  const kdir = path.join(root, "kernels", "e".repeat(64));
  await write(path.join(kdir, "bzImage"), "x".repeat(10_000));
  await write(
    path.join(kdir, "build.json"),
    JSON.stringify({ tree: { identity: "plain:t", dir: "/t" }, patches: [{ subject: "s" }], baseConfig: "tiny", fragments: [] }),
  );
  await write(path.join(kdir, ".complete"), "");
  await write(path.join(root, "kernels", "default.json"), "{}");

  const items = await listCacheItems(root);
  t.same(items.map((i) => i.kind).sort(), ["build-dir", "build-dir", "build-dir", "kernel"], "debian kernel records are not tree builds");

  const out: string[] = [];
  const io = {
    stdout: { write: (s: string) => out.push(s), on: () => undefined },
    stderr: { write: (s: string) => out.push(s), on: () => undefined },
    isTty: false,
  };
  process.env.KHARNESS_CACHE = root;
  t.teardown(() => {
    delete process.env.KHARNESS_CACHE;
  });
  t.equal(await main(["cache", "list"], io as never), 0);
  const listing = out.join("");
  t.match(listing, /^build-dir +bbbbbbbbbbbb/m);
  t.match(listing, /^kernel +eeeeeeeeeeee/m);
  t.match(listing, /1 patches: patch p0/);
  t.match(listing, /4 entries, .* in /);

  // The oldest build dir is held by a live process (this one): prune --all must skip it.
  const held = path.join(root, "builds", lineage, "b".repeat(64));
  await fs.writeFile(`${held}.lock`, String(process.pid));
  out.length = 0;
  t.equal(await main(["cache", "prune", "--older-than", "1d"], io as never), 0);
  t.match(out.join(""), /removed 2 entries/, "the two unlocked old build dirs (the kernel entry is new)");
  t.ok(await fs.stat(held), "the locked one stays");
  t.ok(await fs.stat(kdir), "the recently used kernel stays");
  await fs.rm(`${held}.lock`);
  const { removed } = await evict(root, { maxBytes: 0 });
  t.same(
    removed.map((r) => r.key[0]),
    ["b", "e"],
    "least recently used first",
  );
  t.same(await listCacheItems(root), [], "empty");

  out.length = 0;
  t.equal(await main(["cache", "prune", "--max-size", "lots"], io as never), 2, "an unreadable size is a usage error");
  t.match(out.join(""), /--max-size lots: not a size/);
  out.length = 0;
  t.equal(await main(["cache", "list", "--all"], io as never), 2);
  t.match(out.join(""), /belong to `cache prune`/);
  t.equal(await main(["cache"], io as never), 2);
});

t.test("prepareSparseSource: just the touched files at the base version, committed, for git am", async (t) => {
  const root = await tmp(t, "kh-sparse-");
  const treeDir = path.join(root, "tree");
  await write(path.join(treeDir, "a/x.c"), "x\n");
  await write(path.join(treeDir, "b/y.sh"), "#!/bin/sh\n");
  await fs.chmod(path.join(treeDir, "b/y.sh"), 0o755);
  await write(path.join(treeDir, "c/other.c"), "not touched\n");
  const exec = createExec();
  const plain = await prepareSparseSource(exec, { dir: treeDir, kind: "plain", dirty: false, identity: "plain:x" }, path.join(root, "w1"), [
    "a/x.c",
    "b/y.sh",
    "new/z.c",
  ]);
  t.equal(await fs.readFile(path.join(plain.srcDir, "a/x.c"), "utf8"), "x\n");
  t.equal((await fs.stat(path.join(plain.srcDir, "b/y.sh"))).mode & 0o777, 0o755, "the mode comes along");
  t.notOk(await fs.stat(path.join(plain.srcDir, "c/other.c")).catch(() => undefined), "an untouched file is not there");
  t.notOk(await fs.stat(path.join(plain.srcDir, "new/z.c")).catch(() => undefined), "a file the tree does not have is not made up");
  const ls = spawnSync("git", ["-C", plain.srcDir, "ls-files"], { encoding: "utf8" }).stdout.trim().split("\n");
  t.same(ls.sort(), ["a/x.c", "b/y.sh"], "committed");
  await plain.cleanup();
  t.notOk(await fs.stat(plain.srcDir).catch(() => undefined), "cleanup removes it");

  // A git tree: the content at the commit, not the working tree's.
  const env = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x" };
  spawnSync("git", ["init", "-q", treeDir], { env });
  spawnSync("git", ["-C", treeDir, "add", "."], { env });
  spawnSync("git", ["-C", treeDir, "commit", "-q", "-m", "base"], { env });
  const commit = spawnSync("git", ["-C", treeDir, "rev-parse", "HEAD"], { encoding: "utf8" }).stdout.trim();
  await fs.writeFile(path.join(treeDir, "a/x.c"), "uncommitted\n");
  const git = await prepareSparseSource(exec, { dir: treeDir, kind: "git", commit, dirty: true, identity: `git:${commit}` }, path.join(root, "w2"), [
    "a/x.c",
    "b/y.sh",
  ]);
  t.equal(await fs.readFile(path.join(git.srcDir, "a/x.c"), "utf8"), "x\n", "the committed content");
  t.equal((await fs.stat(path.join(git.srcDir, "b/y.sh"))).mode & 0o777, 0o755);
});
