// What a kernel cache entry records about its build, shared by the kernel and kselftest builders.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { Exec } from "../exec/exec.js";
import type { ProgressSink, RunRequest } from "../types.js";
import type { ArchProfile } from "../qemu/profiles.js";
import type { Patch } from "./patch-series.js";
import type { TreeInfo } from "./source-tree.js";

/** Bump when the way a kernel is built changes (make targets, env, entry layout): old entries stop matching. */
export const BUILD_RECIPE_VERSION = 1;

/** The `--tree` part of a RunRequest. */
export type TreeKernelRequest = Extract<RunRequest["kernel"], { kind: "tree" }>;

/** What buildKernelFromTree needs from its caller. */
export interface TreeBuildDeps {
  exec: Exec;
  /** $KHARNESS_CACHE: kernels/<key>/ entries and the work/ area live here. */
  cacheRoot: string;
  /** Run directory: build.log goes here (and kernel.config when the config check fails). */
  runDir: string;
  signal?: AbortSignal;
  onProgress?: ProgressSink;
  /** The kharness checkout, to find kernel-config/. */
  repoRoot: string;
  /** make -j; default: every available CPU. */
  jobs?: number;
  /** The architecture to build for (ARCH=, the image to boot). */
  profile: ArchProfile;
  /** Start a cache miss from the nearest kept build directory (default: yes unless KHARNESS_INCREMENTAL=0). */
  incremental?: boolean;
}

/** Saved in each cache entry: what it was built from, so later stages (kselftests) can rebuild the source. */
export interface BuildRecord {
  recipe: number;
  key: string;
  tree: TreeInfo;
  /** The working tree's own content (no patches, no --base); built in the tree itself only when it is a git tree with changes. */
  usesWorkingTree: boolean;
  patches: { source: string; subject: string }[];
  baseConfig: TreeKernelRequest["baseConfig"];
  fragments: string[];
  compiler: string;
  linker: string;
  release: string;
  durationMs: number;
  builtAt: string;
  /** Set when the build started from an earlier build's directory (incremental): which one, and how much differed. */
  startedFrom?: { key: string; commonPatches: number; changedFiles: string[] };
}

/** Reads a cache entry's build record (for stages that need to know what a kernel was built from). */
export async function readBuildRecord(cacheRoot: string, key: string): Promise<{ record: BuildRecord; patches: Patch[] }> {
  const entry = path.join(cacheRoot, "kernels", key);
  const record = JSON.parse(await fs.readFile(path.join(entry, "build.json"), "utf8")) as BuildRecord;
  const files = (await fs.readdir(path.join(entry, "patches")).catch(() => [] as string[])).sort();
  const patches: Patch[] = [];
  for (const [i, f] of files.entries()) {
    const meta = record.patches[i];
    patches.push({ source: meta?.source ?? f, subject: meta?.subject ?? f, text: await fs.readFile(path.join(entry, "patches", f), "utf8") });
  }
  return { record, patches };
}
