// The revisions a bisection searches, in order (0 = the good end, last = the bad end), each as the kernel request
// that builds it: base + the first k patches of a series, or a commit expressed as GOOD + its diff from GOOD, so
// every step is a build of one cache lineage and starts from the nearest kept build (incremental, docs/cache.md).

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { UsageError } from "../errors.js";
import type { Exec } from "../exec/exec.js";
import { runChecked } from "../exec/exec.js";
import { sha256 } from "../exec/cache.js";
import { resolvePatches } from "../kernel/tree-build.js";
import type { RunRequest } from "../types.js";

export type TreeKernel = Extract<RunRequest["kernel"], { kind: "tree" }>;

/** One revision under search. */
export interface Revision {
  index: number;
  /** A commit's full hash, or the patch's file name ("base" for the series' base). */
  id: string;
  /** Short name for tables: a commit's 12 hex digits, or "base" / "patch 3/4". */
  label: string;
  subject?: string;
  author?: string;
  date?: string;
  /** The patch file the revision adds (patch bisection). */
  file?: string;
}

/** The revisions and how to get a kernel request for each. */
export interface RevisionList {
  mode: "patches" | "commits";
  revisions: Revision[];
  /** The kernel request of revision i (may write a patch file under the bisection's directory). */
  kernelFor(index: number, signal: AbortSignal): Promise<TreeKernel>;
  /**
   * What revision i's source is, independent of how it is requested (build-memory.ts); undefined when it cannot
   * be named. Patch prefixes are named after the base's kernel key (`baseKernelKey`, known once the base is built).
   */
  contentOf(index: number, signal: AbortSignal, baseKernelKey?: string): Promise<string | undefined>;
  /** Commits: a kernel request for revision i that gives the cache entry `entry` (kernels/<key>, built earlier from the same source), or undefined. */
  reuse?(index: number, entry: string, signal: AbortSignal): Promise<TreeKernel | undefined>;
}

/** A mail header's value (folded lines joined), or undefined. */
export function mailHeader(text: string, name: string): string | undefined {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] ?? "";
    if (l === "") break;
    const m = new RegExp(`^${name}:\\s*(.*)$`, "i").exec(l);
    if (!m) continue;
    let v = m[1] ?? "";
    for (let j = i + 1; j < lines.length && /^[ \t]/.test(lines[j] ?? ""); j++) v += ` ${(lines[j] ?? "").trim()}`;
    return v.trim();
  }
  return undefined;
}

/**
 * Patch bisection: revision 0 is the base (the tree, or --base), revision k the base + the first k patches.
 * Each patch's text is written to DIR/patches/ so a prefix is a list of files; the cache key depends on the
 * texts only, so the whole series is the same kernel as `kharness run --patches SERIES`.
 */
export async function patchRevisions(kernel: TreeKernel, bisectDir: string): Promise<RevisionList> {
  const { patches, problems } = await resolvePatches(kernel.patches);
  if (problems.length) throw new UsageError(problems.join("; "), { fix: "pass the series as kharness run --patches takes it", untestable: false });
  if (!patches.length) throw new UsageError(`--patches ${kernel.patches.join(" ")}: no patches`, { untestable: false });
  const dir = path.join(bisectDir, "patches");
  await fs.mkdir(dir, { recursive: true });
  const files: string[] = [];
  const shas: string[] = [];
  const revisions: Revision[] = [{ index: 0, id: "base", label: kernel.base ? `base ${kernel.base}` : "base" }];
  for (const [i, p] of patches.entries()) {
    const name = path.basename(p.source).replace(/#/g, "-");
    const file = path.join(dir, `${String(i + 1).padStart(4, "0")}-${name.replace(/^\d{4}-/, "")}`);
    await fs.writeFile(file, p.text);
    files.push(file);
    shas.push(sha256(p.text));
    revisions.push({
      index: i + 1,
      id: path.basename(p.source),
      label: `patch ${i + 1}/${patches.length}`,
      subject: p.subject,
      author: mailHeader(p.text, "From"),
      date: mailHeader(p.text, "Date"),
      file: p.source,
    });
  }
  return {
    mode: "patches",
    revisions,
    kernelFor: async (index) => ({ ...kernel, patches: files.slice(0, index) }),
    // The base's kernel key names the tree (even a plain one), its config and toolchain; then the patches' texts.
    contentOf: async (index, _signal, baseKernelKey) =>
      index > 0 && baseKernelKey ? `patches-on:${baseKernelKey}:${shas.slice(0, index).join(",")}` : undefined,
  };
}

/**
 * Commit bisection over the first-parent line GOOD..BAD of the user's repository, read with git (never
 * checked out: the kernel stage builds from its own worktree or from a kept build). Commit C is built as
 * `--base GOOD` plus one patch, `git diff GOOD C`: one lineage for the whole bisection, so each step builds
 * incrementally from the nearest kept build, and a rerun hits the same cache keys.
 */
export async function commitRevisions(exec: Exec, kernel: TreeKernel, range: { good: string; bad: string }, bisectDir: string): Promise<RevisionList> {
  const repo = kernel.dir;
  const top = await exec.run(["git", "-C", repo, "rev-parse", "--show-toplevel"]);
  if (top.exitCode !== 0 || path.resolve(top.stdout.trim()) !== (await fs.realpath(repo).catch(() => path.resolve(repo))))
    throw new UsageError(`--tree ${repo}: not the top directory of a git repository`, {
      fix: "commit bisection needs a git clone: --tree ~/src/linux --good v6.11 --bad HEAD",
      untestable: false,
    });
  const sha = async (rev: string, opt: string) => {
    const r = await exec.run(["git", "-C", repo, "rev-parse", "--verify", "--quiet", `${rev}^{commit}`]);
    if (r.exitCode !== 0)
      throw new UsageError(`${opt} ${rev}: not a commit in ${repo}`, { fix: "pass a branch, tag or commit that `git log` shows", untestable: false });
    return r.stdout.trim();
  };
  const good = await sha(range.good, "--good");
  const bad = await sha(range.bad, "--bad");
  if ((await exec.run(["git", "-C", repo, "merge-base", "--is-ancestor", good, bad])).exitCode !== 0)
    throw new UsageError(`--good ${range.good} is not an ancestor of --bad ${range.bad}`, {
      fix: "pass an older good commit; bisection searches the commits between them",
      untestable: false,
    });
  const log = await runChecked(
    exec,
    ["git", "-C", repo, "log", "--reverse", "--first-parent", "--format=%H%x00%P%x00%s%x00%an <%ae>%x00%aI", `${good}..${bad}`],
    {
      what: "git log GOOD..BAD",
    },
  );
  const rows = log.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split("\0"));
  if (!rows.length) throw new UsageError(`--good ${range.good} and --bad ${range.bad} are the same commit`, { untestable: false });
  // The first-parent line must start at GOOD; otherwise GOOD was merged in from a side branch.
  if ((rows[0]?.[1] ?? "").split(" ")[0] !== good)
    throw new UsageError(`--good ${range.good} is not on the first-parent line of --bad ${range.bad}`, {
      fix: "pass a good commit of the branch itself (e.g. the merge base), not one of a merged side branch",
      untestable: false,
    });
  const goodInfo = await runChecked(exec, ["git", "-C", repo, "log", "-1", "--format=%s%x00%an <%ae>%x00%aI", good], { what: "git log GOOD" });
  const [gs, ga, gd] = goodInfo.stdout.trim().split("\0");
  const revisions: Revision[] = [
    { index: 0, id: good, label: good.slice(0, 12), subject: gs, author: ga, date: gd },
    ...rows.map(([h, , s, a, d], i) => ({ index: i + 1, id: h as string, label: (h as string).slice(0, 12), subject: s, author: a, date: d })),
  ];
  const dir = path.join(bisectDir, "commits");
  return {
    mode: "commits",
    revisions,
    kernelFor: async (index, signal) => {
      const rev = revisions[index] as Revision;
      const base: TreeKernel = { ...kernel, base: good, patches: [] };
      if (index === 0) return base;
      await fs.mkdir(dir, { recursive: true });
      const file = path.join(dir, `${rev.id}.patch`);
      // Through a file: a diff may be far larger than a command's kept stdout. The headers make it a mail for git am;
      // they hold only the two hashes, so the same commit gives the same text (and cache key) in every bisection.
      await runChecked(
        exec,
        [
          "sh",
          "-c",
          'printf "From: kharness <kharness@localhost>\\nSubject: kharness bisect: %s..%s\\n\\n" "$2" "$3" > "$4" && git -C "$1" diff --binary --full-index --no-renames --no-color "$2" "$3" >> "$4"',
          "sh",
          repo,
          good,
          rev.id,
          file,
        ],
        { signal, what: `git diff ${good.slice(0, 12)} ${rev.label}` },
      );
      const text = await fs.readFile(file, "utf8");
      // A commit that changes nothing builds the good end's kernel.
      return /^diff --git /m.test(text) ? { ...base, patches: [file] } : base;
    },
    // A commit's source is its git tree, whichever good commit a bisection builds it from.
    contentOf: async (index, signal) => {
      const r = await exec.run(["git", "-C", repo, "rev-parse", "--verify", "--quiet", `${(revisions[index] as Revision).id}^{tree}`], { signal });
      return r.exitCode === 0 && r.stdout.trim() ? `git-tree:${r.stdout.trim()}` : undefined;
    },
    // The request that built the entry: its base commit (when this repository has it) and its patches, copied
    // byte for byte from the entry, so the kernel stage computes the same key and finds it.
    reuse: (index, entry, signal) => reuseEntry(exec, kernel, entry, path.join(dir, `${(revisions[index] as Revision).id}.reuse`), signal),
  };
}

/**
 * The request that built a kernel cache entry of this repository (base commit + the patches the entry keeps), with
 * the patches copied byte for byte into `patchDir`, so the kernel stage computes the entry's key again and finds it.
 * Undefined when the entry was not built from a commit this repository has.
 */
export async function reuseEntry(exec: Exec, kernel: TreeKernel, entry: string, patchDir: string, signal: AbortSignal): Promise<TreeKernel | undefined> {
  const record = await fs
    .readFile(path.join(entry, "build.json"), "utf8")
    .then((t) => JSON.parse(t) as { tree?: { kind?: string; commit?: string }; usesWorkingTree?: boolean; patches?: unknown[] })
    .catch(() => undefined);
  const commit = record?.tree?.kind === "git" && !record.usesWorkingTree ? record.tree.commit : undefined;
  if (!commit || !/^[0-9a-f]{40,64}$/.test(commit)) return undefined;
  if ((await exec.run(["git", "-C", kernel.dir, "cat-file", "-e", `${commit}^{commit}`], { signal })).exitCode !== 0) return undefined;
  const names = (await fs.readdir(path.join(entry, "patches")).catch(() => [] as string[])).sort();
  if (names.length !== (record?.patches?.length ?? 0)) return undefined;
  await fs.mkdir(patchDir, { recursive: true });
  const files: string[] = [];
  for (const n of names) {
    const file = path.join(patchDir, n);
    await fs.copyFile(path.join(entry, "patches", n), file);
    files.push(file);
  }
  return { ...kernel, base: commit, patches: files };
}
