// The user's kernel tree: validate it, name its content (the cache key's base), and give the build a
// patched source that is never the user's tree (a detached git worktree, or a hard-link copy).

import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { InfraError, UsageError } from "../errors.js";
import { runChecked, type Exec } from "../exec/exec.js";
import { ensureCacheEntry, exists, sha256, writeFileAtomic } from "../exec/cache.js";

/** What kind of tree the user gave and which content it holds. */
export interface TreeInfo {
  dir: string;
  kind: "git" | "plain";
  /** The commit patches apply to (git trees). */
  commit?: string;
  /** Uncommitted changes or untracked files present (git trees). */
  dirty: boolean;
  /** Content identity for the build cache key. */
  identity: string;
}

/** A source directory to build from, and how to get rid of it. */
export interface PreparedSource {
  srcDir: string;
  cleanup(): Promise<void>;
}

/** Committer for the throwaway commits `git am` makes: the user's git config may not have one. */
export const GIT_ENV = {
  GIT_COMMITTER_NAME: "kharness",
  GIT_COMMITTER_EMAIL: "kharness@localhost",
  GIT_AUTHOR_NAME: "kharness",
  GIT_AUTHOR_EMAIL: "kharness@localhost",
} as const;

/** Where kbuild looks to decide a tree holds an in-tree build (and then refuses O= builds). */
const inTreeBuildMarkers = (srcArch: string) => [".config", "include/config", `arch/${srcArch}/include/generated`];

/**
 * Problems that make `dir` unusable as a kernel tree (empty when it is fine). In-tree build output
 * only matters when the build uses the tree itself; worktrees are fresh and copies get it removed.
 */
export async function kernelTreeProblems(dir: string, opts: { buildsInPlace: boolean; srcArch: string }): Promise<string[]> {
  const missing: string[] = [];
  for (const p of ["Makefile", "Kconfig", `arch/${opts.srcArch}`]) if (!(await exists(path.join(dir, p)))) missing.push(p);
  if (missing.length === 3 && !(await exists(dir))) return [`--tree ${dir}: no such directory`];
  if (missing.length)
    return [
      `--tree ${dir} is not a Linux source tree (no ${missing.join(", ")}); pass the top directory of a kernel tree, e.g. --tree ~/src/linux, or unpack one: tar xf /usr/src/linux-source-6.12.tar.xz`,
    ];
  // kbuild refuses O= builds from a tree with in-tree build output; cleaning it is the user's call.
  if (!opts.buildsInPlace) return [];
  for (const marker of inTreeBuildMarkers(opts.srcArch)) {
    if (await exists(path.join(dir, marker))) {
      return [
        `--tree ${dir} holds an in-tree build (${marker}), and kbuild refuses out-of-tree builds from it; run \`make -C ${dir} mrproper\` (kharness never cleans your tree), or pass --patches/--base so kharness builds from its own copy`,
      ];
    }
  }
  return [];
}

async function gitTopLevel(exec: Exec, dir: string): Promise<string | undefined> {
  // No .git here means not a repository's top level: skip the spawn (a cache hit counts milliseconds).
  if (!(await exists(path.join(dir, ".git")))) return undefined;
  const res = await exec.run(["git", "-C", dir, "rev-parse", "--show-toplevel"]).catch(() => undefined);
  if (!res || res.exitCode !== 0) return undefined;
  return res.stdout.trim();
}

/** Runs a pipeline whose last stage is sha256sum and returns the hash (pipefail: a failing stage fails it). */
async function pipelineHash(exec: Exec, pipeline: string, cwd: string, what: string): Promise<string> {
  // Hashing in the pipeline keeps megabytes of listing or diff out of node (and out of exec's bounded stdout).
  const res = await runChecked(exec, ["bash", "-c", `set -o pipefail; ${pipeline} | sha256sum`], { cwd, what, tailLines: 40 });
  const hash = /^[0-9a-f]{64}/.exec(res.stdout)?.[0];
  if (!hash) throw new InfraError(`${what}: no hash in \`sha256sum\` output`, { tail: res.tail });
  return hash;
}

/** Top-level paths a kernel (and kselftest) build for srcArch reads: everything but .git, Documentation/ and other architectures. */
async function buildRelevantPaths(dir: string, srcArch: string): Promise<string[]> {
  const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const out: string[] = [];
  for (const ent of (await fs.readdir(dir, { withFileTypes: true })).sort(byName)) {
    if (ent.name === ".git" || ent.name === "Documentation") continue;
    if (ent.name === "arch" && ent.isDirectory()) {
      for (const a of (await fs.readdir(path.join(dir, "arch"), { withFileTypes: true })).sort(byName)) {
        if (!a.isDirectory() || a.name === srcArch) out.push(`arch/${a.name}`);
      }
      continue;
    }
    out.push(ent.name);
  }
  return out;
}

/**
 * Hash of a plain tree's file listing (path, size, mtime), not its content: reading ~1.4 GB on every
 * run would cost seconds, while an edit changes size or mtime. A freshly unpacked tarball keeps the
 * tarball's mtimes, so two unpacks of one tarball share the identity.
 *
 * The identity is the sorted listing of every file. To keep a cache hit under a second, a cheaper
 * fingerprint (the unsorted listing of what a build for `srcArch` reads: no Documentation/, no other
 * architectures; about half the CPU) is memoized to it in `memoDir`: a tree whose fingerprint was
 * seen before gets its identity without the full listing. Reusing it when only Documentation/ or
 * another architecture changed is right: the build never reads them.
 */
export async function plainTreeIdentity(exec: Exec, dir: string, srcArch: string, memoDir?: string): Promise<string> {
  const full = async () =>
    `plain:${await pipelineHash(exec, `find . -path ./.git -prune -o -type f -printf '%P\\t%s\\t%T@\\n' | LC_ALL=C sort`, dir, `listing ${dir}`)}`;
  if (!memoDir) return full();
  const quoted = (await buildRelevantPaths(dir, srcArch)).map((p) => `'${p.replace(/'/g, "'\\''")}'`).join(" ");
  // find's order is readdir order, stable for an unchanged directory: an order change costs one full listing, never a wrong hit.
  const fingerprint = await pipelineHash(exec, `find ${quoted} -type f -printf '%p\\t%s\\t%T@\\n'`, dir, `listing ${dir}`);
  const memo = path.join(memoDir, `${fingerprint}.identity`);
  const known = (await fs.readFile(memo, "utf8").catch(() => "")).trim();
  if (/^plain:[0-9a-f]{64}$/.test(known)) return known;
  const identity = await full();
  await fs.mkdir(memoDir, { recursive: true });
  await writeFileAtomic(memo, identity + "\n");
  return identity;
}

/** Hash of the uncommitted state of a git tree: the diff against HEAD and the untracked files' contents. */
async function gitDirtyHash(exec: Exec, dir: string): Promise<string> {
  const diff = await pipelineHash(exec, "git diff HEAD --binary", dir, "git diff HEAD");
  const untracked = await runChecked(exec, ["git", "-C", dir, "ls-files", "--others", "--exclude-standard", "-z"], { what: "git ls-files" });
  const h = createHash("sha256");
  h.update(diff);
  for (const f of untracked.stdout.split("\0").filter(Boolean).sort()) {
    h.update(`\0${f}\0`);
    h.update(await fs.readFile(path.join(dir, f)).catch(() => Buffer.from("<unreadable>")));
  }
  return h.digest("hex");
}

/**
 * Identifies the tree. For git trees the identity is the commit (`base`, default HEAD); when the build
 * uses the working tree itself (no patches, no base), uncommitted changes are part of it.
 */
export async function inspectTree(
  exec: Exec,
  dir: string,
  opts: { base?: string; usesWorkingTree: boolean; srcArch: string; memoDir?: string },
): Promise<TreeInfo> {
  const real = await fs.realpath(dir);
  const top = await gitTopLevel(exec, real);
  if (top && path.resolve(top) === real) {
    const rev = opts.base ?? "HEAD";
    const res = await exec.run(["git", "-C", real, "rev-parse", "--verify", "--quiet", `${rev}^{commit}`]);
    if (res.exitCode !== 0)
      throw new UsageError(`--base ${rev}: not a commit in ${real}`, { fix: "pass a branch, tag or commit that `git -C <tree> log` shows, e.g. --base v6.12" });
    const commit = res.stdout.trim();
    const status = await runChecked(exec, ["git", "-C", real, "status", "--porcelain", "--untracked-files=normal"], { what: "git status" });
    const dirty = status.stdout.trim() !== "";
    const identity = opts.usesWorkingTree && dirty ? `git:${commit}+dirty:${await gitDirtyHash(exec, real)}` : `git:${commit}`;
    return { dir: real, kind: "git", commit, dirty, identity };
  }
  if (opts.base)
    throw new UsageError(`--base ${opts.base} needs a git tree, and ${real} is not the top of a git repository`, {
      fix: "drop --base, or point --tree at a git clone",
    });
  return { dir: real, kind: "plain", dirty: false, identity: await plainTreeIdentity(exec, real, opts.srcArch, opts.memoDir) };
}

/** Paths a patch touches on its old side (`diff --git a/X b/Y` and `--- a/X` lines). */
export function touchedPaths(patchText: string): string[] {
  const out = new Set<string>();
  for (const l of patchText.split("\n")) {
    const m = /^diff --git a\/(\S+) b\/(\S+)$/.exec(l) ?? /^--- a\/(\S+)/.exec(l);
    if (m?.[1]) out.add(m[1]);
    if (m?.[2]) out.add(m[2]);
  }
  return [...out];
}

/**
 * A source directory for this build that is never the user's tree:
 * - git tree: `git worktree add --detach` at the commit (removed afterwards; only .git/worktrees
 *   metadata is touched, never a branch or the working tree);
 * - plain tree: a hard-link copy (`cp -al`, seconds for a kernel) made into a throwaway git repo
 *   whose first commit holds just the files the patches touch. `git am` writes a patched file as a
 *   new file (unlink + create, checked in source-tree.test.ts), so the user's files behind the
 *   hard links are never written.
 */
export async function prepareSource(exec: Exec, tree: TreeInfo, workDir: string, touched: string[], signal?: AbortSignal): Promise<PreparedSource> {
  const srcDir = path.join(workDir, "src");
  await fs.mkdir(workDir, { recursive: true });
  if (tree.kind === "git") {
    await runChecked(exec, ["git", "-C", tree.dir, "worktree", "add", "--detach", srcDir, tree.commit ?? "HEAD"], {
      signal,
      what: `git worktree add (checking out ${tree.commit} for the build)`,
    });
    return {
      srcDir,
      async cleanup() {
        const res = await exec.run(["git", "-C", tree.dir, "worktree", "remove", "--force", srcDir]).catch(() => undefined);
        if (!res || res.exitCode !== 0) {
          await fs.rm(srcDir, { recursive: true, force: true });
          await exec.run(["git", "-C", tree.dir, "worktree", "prune"]).catch(() => undefined);
        }
      },
    };
  }
  await runChecked(exec, ["cp", "-al", tree.dir, srcDir], { signal, what: `hard-link copy of ${tree.dir}` });
  const cleanup = async () => fs.rm(srcDir, { recursive: true, force: true });
  try {
    // The user's tree might itself hold a .git (not a top level one): start from a fresh repository.
    await fs.rm(path.join(srcDir, ".git"), { recursive: true, force: true });
    // In-tree build output would make kbuild refuse O=; unlinking it in the copy leaves the user's files alone.
    // Every architecture's generated headers go: the copy does not know which one will be built, and none is the user's source.
    // (arch/ also holds files, such as its .gitignore: only directories are architectures.)
    const archs = await fs.readdir(path.join(srcDir, "arch"), { withFileTypes: true }).catch(() => []);
    const markers = [".config", "include/config", ...archs.filter((a) => a.isDirectory()).map((a) => `arch/${a.name}/include/generated`)];
    for (const marker of markers) await fs.rm(path.join(srcDir, marker), { recursive: true, force: true });
    const env = { ...GIT_ENV };
    await runChecked(exec, ["git", "init", "-q", srcDir], { env, what: "git init (throwaway repo for patching)" });
    const present: string[] = [];
    for (const p of touched) if (await exists(path.join(srcDir, p))) present.push(p);
    if (present.length) await runChecked(exec, ["git", "-C", srcDir, "add", "-f", "--", ...present], { env, what: "git add" });
    await runChecked(exec, ["git", "-C", srcDir, "commit", "-q", "--allow-empty", "--no-verify", "-m", "kharness: base"], { env, what: "git commit" });
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { srcDir, cleanup };
}

/**
 * Only the files a series touches, at the tree's base version, in a throwaway git repo: enough for
 * `git am -3` to produce the patched content of every touched path (and to fail exactly as on a full
 * copy when a patch does not apply). For builds that take the rest of the source from a kept build.
 */
export async function prepareSparseSource(exec: Exec, tree: TreeInfo, workDir: string, touched: string[], signal?: AbortSignal): Promise<PreparedSource> {
  const srcDir = path.join(workDir, "sparse");
  const cleanup = async () => fs.rm(srcDir, { recursive: true, force: true });
  const env = { ...GIT_ENV };
  try {
    await runChecked(exec, ["git", "init", "-q", srcDir], { env, signal, what: "git init (throwaway repo for patching)" });
    const present: string[] = [];
    for (const p of [...new Set(touched)]) {
      if (p.split("/").some((s) => s === ".." || s === "" || s === ".git")) continue;
      const dest = path.join(srcDir, p);
      if (tree.kind === "git") {
        const res = await exec.run(["git", "-C", tree.dir, "cat-file", "-e", `${tree.commit ?? "HEAD"}:${p}`]);
        if (res.exitCode !== 0) continue;
        await fs.mkdir(path.dirname(dest), { recursive: true });
        // Through a file, not stdout: a touched file may be large or binary.
        await runChecked(exec, ["sh", "-c", 'git -C "$1" show "$2" > "$3"', "sh", tree.dir, `${tree.commit ?? "HEAD"}:${p}`, dest], {
          signal,
          what: `git show ${p}`,
        });
        const mode = await exec.run(["git", "-C", tree.dir, "ls-tree", tree.commit ?? "HEAD", "--", p]);
        if (/^100755 /.test(mode.stdout)) await fs.chmod(dest, 0o755);
      } else {
        const st = await fs.lstat(path.join(tree.dir, p)).catch(() => undefined);
        if (!st?.isFile()) continue;
        await fs.mkdir(path.dirname(dest), { recursive: true });
        await fs.copyFile(path.join(tree.dir, p), dest);
        await fs.chmod(dest, st.mode & 0o7777);
      }
      present.push(p);
    }
    if (present.length) await runChecked(exec, ["git", "-C", srcDir, "add", "-f", "--", ...present], { env, what: "git add" });
    await runChecked(exec, ["git", "-C", srcDir, "commit", "-q", "--allow-empty", "--no-verify", "-m", "kharness: base"], { env, what: "git commit" });
  } catch (e) {
    await cleanup();
    throw e;
  }
  return { srcDir, cleanup };
}

/**
 * Unpacks a kernel source tarball into the cache once (reused by later calls) and returns the tree's
 * top directory. The entry is named by the tarball's name, size and mtime, so an updated package
 * gets a fresh unpack.
 */
export async function ensureUnpackedSource(exec: Exec, tarball: string, cacheRoot: string, signal?: AbortSignal): Promise<string> {
  const st = await fs.stat(tarball).catch((e: unknown) => {
    throw new UsageError(`no kernel source tarball at ${tarball}`, { fix: "apt-get install linux-source-6.12", cause: e });
  });
  const base = path.basename(tarball).replace(/\.tar(\.\w+)?$/, "");
  const entry = path.join(cacheRoot, "sources", `${base}-${sha256(String(st.size), String(st.mtimeMs)).slice(0, 12)}`);
  await ensureCacheEntry(entry, async (tmp) => {
    await runChecked(exec, ["tar", "-xf", tarball, "-C", tmp], { signal, what: `unpacking ${tarball}` });
  });
  const tops = (await fs.readdir(entry)).filter((n) => n !== ".complete");
  if (tops.length !== 1 || !tops[0]) throw new InfraError(`${tarball} did not unpack to one top directory (got ${tops.join(", ")})`);
  return path.join(entry, tops[0]);
}
