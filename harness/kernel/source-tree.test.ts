// Process tier with real git and cp on tiny trees: the user's tree and branches are never written,
// even when the patched copy shares its files through hard links.
import t, { type Test } from "tap";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createExec } from "../exec/exec.js";
import { PatchApplyError, applyPatches } from "./patch-apply.js";
import { patchesFromFile } from "./patch-series.js";
import { GIT_ENV, inspectTree, kernelTreeProblems, prepareSource, touchedPaths } from "./source-tree.js";

const exec = createExec();
/** The x86 tree layout the fixtures build, and a tree that builds in place. */
const X86_TREE = { buildsInPlace: true, srcArch: "x86" };
const ORIGINAL = "a\nb\nc\nd\ne\nf\ng\n";
const PATCH = `From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: Dev <dev@example.org>
Subject: [PATCH] net: change d

---
diff --git a/net/f.c b/net/f.c
--- a/net/f.c
+++ b/net/f.c
@@ -2,5 +2,5 @@
 b
 c
-d
+D
 e
 f
diff --git a/net/new.c b/net/new.c
new file mode 100644
--- /dev/null
+++ b/net/new.c
@@ -0,0 +1 @@
+new
`;

async function kernelLikeTree(t: Test): Promise<{ root: string; dir: string }> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), "kharness-src-test-"));
  t.teardown(() => fs.rm(root, { recursive: true, force: true }));
  const dir = path.join(root, "linux");
  await fs.mkdir(path.join(dir, "arch/x86"), { recursive: true });
  await fs.mkdir(path.join(dir, "net"));
  await fs.writeFile(path.join(dir, "Makefile"), "VERSION = 6\n");
  await fs.writeFile(path.join(dir, "Kconfig"), "");
  // A real tree's arch/ holds files beside the architectures (its .gitignore).
  await fs.writeFile(path.join(dir, "arch/.gitignore"), "");
  await fs.writeFile(path.join(dir, "net/f.c"), ORIGINAL);
  return { root, dir };
}

const git = (dir: string, ...args: string[]) => exec.run(["git", "-C", dir, ...args], { env: { ...GIT_ENV } });

t.test("plain tree: the hard-link copy is patched by git am without writing through the links", async (t) => {
  const { root, dir } = await kernelLikeTree(t);
  await fs.writeFile(path.join(dir, ".config"), "CONFIG_X=y\n"); // an in-tree build the copy must shed
  await fs.mkdir(path.join(dir, "arch/x86/include/generated"), { recursive: true });
  await fs.writeFile(path.join(dir, "arch/x86/include/generated/asm.h"), "");
  const before = await fs.stat(path.join(dir, "net/f.c"));
  const tree = await inspectTree(exec, dir, { srcArch: "x86", usesWorkingTree: false });
  t.equal(tree.kind, "plain");
  t.match(tree.identity, /^plain:[0-9a-f]{64}$/);
  const patches = patchesFromFile("/p/0001.patch", PATCH);
  const work = path.join(root, "work");
  const src = await prepareSource(exec, tree, work, touchedPaths(PATCH));
  await applyPatches(exec, src.srcDir, patches, { workDir: work, target: dir });
  t.equal(await fs.readFile(path.join(src.srcDir, "net/f.c"), "utf8"), ORIGINAL.replace("d\n", "D\n"), "the copy is patched");
  t.equal(await fs.readFile(path.join(src.srcDir, "net/new.c"), "utf8"), "new\n");
  t.equal(await fs.readFile(path.join(dir, "net/f.c"), "utf8"), ORIGINAL, "the original is not");
  const after = await fs.stat(path.join(dir, "net/f.c"));
  t.equal(after.ino, before.ino);
  t.equal(after.nlink, 1, "the copy's link was replaced, not written through");
  t.notOk(await fs.stat(path.join(dir, "net/new.c")).catch(() => undefined), "no new file in the user's tree");
  t.notOk(await fs.stat(path.join(dir, ".git")).catch(() => undefined), "no repository in the user's tree");
  t.notOk(await fs.stat(path.join(src.srcDir, ".config")).catch(() => undefined), "the copy has no in-tree build output");
  t.equal(await fs.readFile(path.join(dir, ".config"), "utf8"), "CONFIG_X=y\n", "the user's .config stays");
  t.notOk(await fs.stat(path.join(src.srcDir, "arch/x86/include/generated")).catch(() => undefined), "nor generated arch headers");
  t.ok(await fs.stat(path.join(dir, "arch/x86/include/generated/asm.h")), "the user's generated headers stay");
  await src.cleanup();
  t.notOk(await fs.stat(src.srcDir).catch(() => undefined), "copy removed");
  t.equal((await inspectTree(exec, dir, { srcArch: "x86", usesWorkingTree: false })).identity, tree.identity, "identity is stable");
  const memoDir = path.join(root, "memo");
  t.equal(
    (await inspectTree(exec, dir, { srcArch: "x86", usesWorkingTree: false, memoDir })).identity,
    tree.identity,
    "memoized identity is the full listing's",
  );
  t.equal((await fs.readdir(memoDir)).length, 1);
  t.equal((await inspectTree(exec, dir, { srcArch: "x86", usesWorkingTree: false, memoDir })).identity, tree.identity, "and is found again");
  await fs.writeFile(path.join(dir, "net/f.c"), ORIGINAL + "more\n");
  const edited = await inspectTree(exec, dir, { srcArch: "x86", usesWorkingTree: false, memoDir });
  t.not(edited.identity, tree.identity, "an edit changes the memoized identity too");
  t.equal(edited.identity, (await inspectTree(exec, dir, { srcArch: "x86", usesWorkingTree: false })).identity);
  await fs.writeFile(path.join(dir, "net/f.c"), ORIGINAL);
});

t.test("git tree: patches go into a detached worktree; the branch and working tree stay as they were", async (t) => {
  const { root, dir } = await kernelLikeTree(t);
  await git(dir, "init", "-q", "-b", "main");
  await git(dir, "add", ".");
  await git(dir, "commit", "-q", "-m", "base");
  const head = (await git(dir, "rev-parse", "HEAD")).stdout.trim();
  const tree = await inspectTree(exec, dir, { srcArch: "x86", usesWorkingTree: false });
  t.same([tree.kind, tree.commit, tree.identity, tree.dirty], ["git", head, `git:${head}`, false]);
  const work = path.join(root, "work");
  const src = await prepareSource(exec, tree, work, []);
  await applyPatches(exec, src.srcDir, patchesFromFile("/p/0001.patch", PATCH), { workDir: work, target: dir });
  t.match(await fs.readFile(path.join(src.srcDir, "net/f.c"), "utf8"), /^D$/m);
  t.equal((await git(dir, "rev-parse", "main")).stdout.trim(), head, "main did not move");
  t.equal((await git(dir, "status", "--porcelain")).stdout, "", "the working tree is clean");
  await src.cleanup();
  t.notMatch((await git(dir, "worktree", "list")).stdout, /work\/src/, "worktree removed");

  await fs.writeFile(path.join(dir, "net/f.c"), "edited\n");
  const dirty = await inspectTree(exec, dir, { srcArch: "x86", usesWorkingTree: true });
  t.match(dirty.identity, new RegExp(`^git:${head}\\+dirty:[0-9a-f]{64}$`), "uncommitted changes are part of a working-tree build's identity");
  t.equal((await inspectTree(exec, dir, { srcArch: "x86", usesWorkingTree: false })).identity, `git:${head}`, "but not of a patched build's");
  const bad = await inspectTree(exec, dir, { srcArch: "x86", usesWorkingTree: false, base: "no-such-ref" }).catch((e: unknown) => e);
  t.match((bad as Error).message, /--base no-such-ref: not a commit/);
});

t.test("a patch that does not apply (real git) names the hunk", async (t) => {
  const { root, dir } = await kernelLikeTree(t);
  await fs.writeFile(path.join(dir, "net/f.c"), ORIGINAL.replace("d\n", "X\n"));
  const tree = await inspectTree(exec, dir, { srcArch: "x86", usesWorkingTree: false });
  const work = path.join(root, "work");
  const src = await prepareSource(exec, tree, work, touchedPaths(PATCH));
  t.teardown(() => src.cleanup());
  const err = await applyPatches(exec, src.srcDir, patchesFromFile("/p/0001.patch", PATCH), { workDir: work, target: dir }).catch((e: unknown) => e);
  t.ok(err instanceof PatchApplyError);
  t.match((err as Error).message, /patch 1\/1 does not apply to .*: "net: change d" \(\/p\/0001\.patch\)\n {2}failing hunk: net\/f\.c:2\n {4}@@ -2,5 \+2,5 @@/);
});

t.test("kernelTreeProblems: not a tree, missing dir, in-tree build output", async (t) => {
  const { root, dir } = await kernelLikeTree(t);
  t.same(await kernelTreeProblems(dir, X86_TREE), []);
  t.match((await kernelTreeProblems(path.join(root, "nope"), X86_TREE))[0], /no such directory/);
  t.match((await kernelTreeProblems(root, X86_TREE))[0], /is not a Linux source tree \(no Makefile, Kconfig, arch\/x86\)/);
  await fs.writeFile(path.join(dir, ".config"), "");
  t.match((await kernelTreeProblems(dir, X86_TREE))[0], /holds an in-tree build \(\.config\).*make -C .* mrproper/);
  t.same(await kernelTreeProblems(dir, { buildsInPlace: false, srcArch: "x86" }), [], "a worktree or copy is built instead");
  // The architecture comes from the profile: the same tree is no tree for one whose arch/ directory it lacks.
  t.match((await kernelTreeProblems(dir, { buildsInPlace: false, srcArch: "fict" }))[0], /is not a Linux source tree \(no arch\/fict\)/);
});
