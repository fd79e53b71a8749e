// Test support for harness/bisect/bisect-commits.vm.test.ts: a git repository made from the unpacked
// linux-source-6.12 tree with a dozen commits (the broken series' patches among harmless ones, one that does not
// build). Making it (git add of ~80k files) takes about half a minute, and the fixed dates make its commits the
// same on every run, so it is made once into $KHARNESS_CACHE/test/ (keyed by the tree, the patches and this
// recipe), checked when taken, and each test gets its own working copy whose state it may change freely.
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { cacheRoot, ensureCacheEntry, exists, sha256 } from "../../harness/exec/cache.js";

/** Raise when the recipe below changes: a new key, so an old repository is never taken for the new one. */
const RECIPE = "bisect-commits v1";

/** The commits a test refers to by role. */
export interface BisectRepoCommits {
  base: string;
  unbuildable: string;
  culprit: string;
  head: string;
}

export interface BisectRepo extends BisectRepoCommits {
  /** The test's own working copy (under a temp directory the caller removes). */
  repo: string;
  /** Whether the cached repository existed before this call. */
  hit: boolean;
}

/** Fixed names and dates: the same commit hashes on every run, so a rerun on this machine hits the build cache. */
const GIT_ENV = {
  GIT_AUTHOR_NAME: "t",
  GIT_AUTHOR_EMAIL: "t@example.invalid",
  GIT_AUTHOR_DATE: "2026-11-30T12:00:00Z",
  GIT_COMMITTER_NAME: "t",
  GIT_COMMITTER_EMAIL: "t@example.invalid",
  GIT_COMMITTER_DATE: "2026-11-30T12:00:00Z",
};

/** git in `repo` with the fixed identity and dates, no automatic gc. */
export function gitIn(repo: string) {
  const env = { ...process.env, ...GIT_ENV };
  return (...args: string[]) =>
    execFileSync("git", ["-c", "core.compression=1", "-c", "gc.auto=0", ...args], { cwd: repo, encoding: "utf8", env, maxBuffer: 64 << 20 }).trim();
}

/** Makes the repository at `repo` from `tree` and the broken series in `patchDir`; returns its commits by role. */
async function makeRepo(tree: string, patchDir: string, repo: string): Promise<BisectRepoCommits> {
  const git = gitIn(repo);
  // A hard-link copy committed whole (Debian's tree ignores everything with `/*`: -f); git never writes the files it adds.
  execFileSync("cp", ["-al", tree, repo]);
  git("init", "-q");
  // Working copies are hard links of these files, so their ctime moves whenever another link is made; the
  // content is still checked through size, mtime and inode.
  git("config", "core.trustctime", "false");
  git("add", "-f", ".");
  git("commit", "-qm", "base: linux-source-6.12");
  const base = git("rev-parse", "HEAD");
  const harmless = (n: number) => {
    // A file no build reads: the commit is good and costs make next to nothing.
    execFileSync("sh", ["-c", `echo "note ${n}" > kharness-note-${n}.txt`], { cwd: repo });
    git("add", "-f", `kharness-note-${n}.txt`);
    git("commit", "-qm", `notes: harmless change ${n}`);
  };
  const series = (await fs.readFile(path.join(patchDir, "series"), "utf8")).split("\n").filter((l) => l.trim() && !l.startsWith("#"));
  const am = (k: number) => git("am", "-q", path.join(patchDir, series[k - 1] as string));
  const version = path.join(repo, "init", "version.c");
  const original = await fs.readFile(version, "utf8");
  harmless(1);
  am(1);
  harmless(2);
  am(2);
  harmless(3);
  // A commit that does not build, fixed by the next one. The file is replaced, never written in place: it is a
  // hard link of the unpacked tree.
  await fs.rm(version);
  await fs.writeFile(version, `${original}\n#error "kharness bisect test: this commit does not build"\n`);
  git("commit", "-qam", "init: a commit that does not build");
  const unbuildable = git("rev-parse", "HEAD");
  await fs.rm(version);
  await fs.writeFile(version, original);
  git("commit", "-qam", "init: build again");
  am(3);
  const culprit = git("rev-parse", "HEAD");
  harmless(4);
  am(4);
  harmless(5);
  harmless(6);
  return { base, unbuildable, culprit, head: git("rev-parse", "HEAD") };
}

/**
 * A working copy of the cached repository: the files and git's objects as hard links (git replaces files and never
 * writes an object in place), everything else in .git (index, refs, logs, config) copied, so nothing the test or
 * kharness does in the copy reaches the cache. Throws when the cached repository is not the one recorded.
 */
export async function bisectRepo(tree: string, patchDir: string, workDir: string): Promise<BisectRepo> {
  const patches = await fs.readdir(patchDir);
  const patchText = await Promise.all(patches.sort().map(async (p) => `${p}\n${await fs.readFile(path.join(patchDir, p), "utf8")}`));
  const entry = path.join(cacheRoot(), "test", `bisect-repo-${sha256(RECIPE, tree, ...patchText).slice(0, 16)}`);
  const { hit } = await ensureCacheEntry(entry, async (tmp) => {
    const commits = await makeRepo(tree, patchDir, path.join(tmp, "linux"));
    await fs.writeFile(path.join(tmp, "commits.json"), JSON.stringify(commits));
  });
  const commits = JSON.parse(await fs.readFile(path.join(entry, "commits.json"), "utf8")) as BisectRepoCommits;
  const cached = path.join(entry, "linux");
  const repo = path.join(workDir, "linux");
  await fs.mkdir(repo);
  for (const name of await fs.readdir(cached)) if (name !== ".git") execFileSync("cp", ["-al", path.join(cached, name), repo]);
  await fs.mkdir(path.join(repo, ".git"));
  for (const name of await fs.readdir(path.join(cached, ".git")))
    execFileSync("cp", [name === "objects" ? "-al" : "-a", path.join(cached, ".git", name), path.join(repo, ".git")]);
  // The copy must be the recorded repository: its HEAD and each commit's subject, and a clean working tree.
  const git = gitIn(repo);
  const subject = (c: string) => git("log", "-1", "--format=%s", c);
  const problems: string[] = [];
  if (git("rev-parse", "HEAD") !== commits.head) problems.push(`HEAD is not ${commits.head}`);
  if (git("rev-list", "--max-parents=0", "HEAD") !== commits.base || subject(commits.base) !== "base: linux-source-6.12") problems.push("wrong base");
  if (subject(commits.unbuildable) !== "init: a commit that does not build") problems.push("wrong unbuildable commit");
  if (subject(commits.culprit) !== "landlock: Restrict socket creation") problems.push("wrong culprit");
  const status = git("status", "--porcelain");
  if (status !== "") problems.push(`working tree not clean: ${status.slice(0, 500)}`);
  if (!(await exists(path.join(repo, "init", "version.c")))) problems.push("no init/version.c");
  if (problems.length)
    throw new Error(`the cached bisect repository ${entry} is not the one recorded (${problems.join("; ")}); remove that directory to remake it`);
  return { repo, hit, ...commits };
}
