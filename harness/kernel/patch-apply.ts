// Applies a patch series with `git am -3`, one patch per invocation so a failure names its file,
// subject and failing hunk.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { UsageError } from "../errors.js";
import type { Exec } from "../exec/exec.js";
import { findFailedHunk, type FailedHunk, type Patch } from "./patch-series.js";
import { GIT_ENV } from "./source-tree.js";

/** A patch that does not apply: bad input for this tree (exit 2), and "could not test" for bisect. */
export class PatchApplyError extends UsageError {
  readonly patch: Patch;
  readonly index: number;
  readonly hunk?: FailedHunk;
  constructor(opts: { patch: Patch; index: number; total: number; target: string; hunk?: FailedHunk; gitOutput: string[] }) {
    const lines = [`patch ${opts.index}/${opts.total} does not apply to ${opts.target}: "${opts.patch.subject}" (${opts.patch.source})`];
    if (opts.hunk) {
      lines.push(`  failing hunk: ${opts.hunk.file}${opts.hunk.line ? `:${opts.hunk.line}` : ""}`);
      for (const h of opts.hunk.hunk) lines.push(`    ${h}`);
    } else {
      // git's "run git am --continue" advice does not apply: kharness already aborted its throwaway am.
      const useful = opts.gitOutput.filter((l) => l.trim() && !/^(hint:|When you have resolved|If you prefer to skip|To restore the original branch)/.test(l));
      lines.push(...useful.slice(-12).map((l) => `  ${l}`));
    }
    super(lines.join("\n"), {
      fix: "rebase the series onto this tree, or build the tree it was written for with --base REF (git trees)",
      untestable: true,
    });
    this.name = "PatchApplyError";
    this.patch = opts.patch;
    this.index = opts.index;
    this.hunk = opts.hunk;
  }
}

/** Git options that keep the user's hooks and signing settings out of our throwaway commits. */
const GIT_QUIET = ["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgSign=false"];

/**
 * Applies each patch in order on top of srcDir's HEAD. On the first failure the `git am` is aborted
 * (the source dir is throwaway anyway) and `git apply --check -v` pinpoints the hunk.
 */
export async function applyPatches(
  exec: Exec,
  srcDir: string,
  patches: Patch[],
  opts: { workDir: string; target: string; signal?: AbortSignal; log?: (line: string) => void },
): Promise<void> {
  const dir = path.join(opts.workDir, "patches");
  await fs.mkdir(dir, { recursive: true });
  const env = { ...GIT_ENV };
  for (const [i, patch] of patches.entries()) {
    const file = path.join(dir, `${String(i + 1).padStart(4, "0")}.patch`);
    await fs.writeFile(file, patch.text);
    const argv = ["git", ...GIT_QUIET, "-C", srcDir, "am", "-3", file];
    opts.log?.(`$ ${argv.join(" ")}   # ${patch.source}`);
    const res = await exec.run(argv, { env, signal: opts.signal, tailLines: 60, onLine: (l) => opts.log?.(l) });
    if (res.aborted) opts.signal?.throwIfAborted();
    if (res.exitCode === 0) continue;
    await exec.run(["git", ...GIT_QUIET, "-C", srcDir, "am", "--abort"], { env });
    const check = await exec.run(["git", "-C", srcDir, "apply", "--check", "-v", file], { env, tailLines: 80 });
    for (const l of check.tail) opts.log?.(l);
    const hunk = findFailedHunk([...check.tail, ...res.tail], patch.text);
    throw new PatchApplyError({ patch, index: i + 1, total: patches.length, target: opts.target, hunk, gitOutput: res.tail });
  }
}
