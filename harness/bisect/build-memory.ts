// What bisections remember about builds across runs, by the content a revision builds rather than by the request
// that built it. Commit C is built as GOOD + `git diff GOOD C`, so its kernel's cache key depends on GOOD; a later
// bisection from another good commit asks for another key with the same source. The memory maps the source's
// identity (C's git tree, plus everything else a build depends on: base config, merged fragments, compiler, linker,
// architecture) to the kernel key that built it, and records the builds that failed for a reason of the input
// itself, so a rerun skips them at once.
//
// Layout under the cache root (small files, written atomically):
//   bisect/built/<id>.json      {kernelKey}: kernels/<kernelKey>/ holds this source's kernel
//   bisect/failed/<id>.json     a remembered failure: {kind, message, tail, log, revision, at}
//   bisect/failed/<id>.log      the failed build log's last lines

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { exists, sha256, writeFileAtomic } from "../exec/cache.js";
import { firstLineOf, type Exec } from "../exec/exec.js";
import { mergeFragments, renderMerged } from "../kconfig/merge.js";
import { BUILD_RECIPE_VERSION, resolveFragments } from "../kernel/tree-build.js";
import { X86_64 } from "../qemu/profiles.js";
import type { TreeKernel } from "./revisions.js";

/** How many of a failed build log's last lines the memory keeps. */
const LOG_TAIL_LINES = 200;

/** The kinds of kernel-stage failure that are the input's own (its patch, config or source), never the machine's. */
const INPUT_FAILURES = new Set(["KernelBuildError", "PatchApplyError", "KernelConfigError"]);

/** Output that means the machine failed the build, not the source (a full disk, memory, a killed compiler). */
const MACHINE_TROUBLE =
  /No space left on device|Disk quota exceeded|Read-only file system|Cannot allocate memory|out of memory|Killed signal terminated program|virtual memory exhausted|Input\/output error|Interrupted|Terminated/i;

export interface RememberedFailure {
  /** The error's class name (KernelBuildError, PatchApplyError, KernelConfigError). */
  kind: string;
  /** The error's first lines. */
  message: string;
  tail: string[];
  /** The kept log tail (in the cache), when the failed run left a build log. */
  log?: string;
  /** The revision label and the time it failed, for the message. */
  revision: string;
  at: string;
}

/**
 * The identity of what every build of a bisection shares besides its source: the build recipe, base config, the merged fragments,
 * `gcc --version` and `ld --version` (as the kernel key has them) and the architecture. Undefined when the
 * fragments cannot be read (the build then reports that itself, and nothing is remembered).
 */
export async function buildSetting(exec: Exec, kernel: TreeKernel, repoRoot: string): Promise<string | undefined> {
  const { fragments, problems } = await resolveFragments(kernel, repoRoot);
  const merged = mergeFragments(fragments);
  if (problems.length || merged.problems.length) return undefined;
  const [gcc, ld] = await Promise.all([firstLineOf(exec, ["gcc", "--version"]), firstLineOf(exec, ["ld", "--version"])]);
  return sha256(
    "kharness-bisect-setting-1",
    // A new build recipe makes every earlier kernel unfit to reuse, as it changes every kernel key.
    String(BUILD_RECIPE_VERSION),
    kernel.baseConfig,
    renderMerged(merged),
    gcc ?? "gcc: unavailable",
    ld ?? "ld: unavailable",
    `${X86_64.linuxArch}:${X86_64.toolchain.crossCompile ?? ""}`,
  );
}

/** A source's identity under a setting: `content` names the source (e.g. `git-tree:<sha>`). */
export function sourceId(setting: string, content: string): string {
  return sha256("kharness-bisect-source-1", setting, content);
}

/**
 * The reason to remember a step's failure, or undefined when it must not be remembered: only an apply, config or
 * build failure of the input itself, never one that an interrupt, a full disk, memory or a killed make caused.
 */
export function rememberableFailure(e: unknown, aborted: boolean): string | undefined {
  if (aborted || !(e instanceof Error) || !INPUT_FAILURES.has(e.name)) return undefined;
  const exitCode = (e as { exitCode?: number }).exitCode;
  if (e.name === "KernelBuildError" && (exitCode === undefined || exitCode >= 128)) return undefined;
  const text = [e.message, ...((e as { tail?: string[] }).tail ?? [])].join("\n");
  if (MACHINE_TROUBLE.test(text)) return undefined;
  return e.name;
}

export class BuildMemory {
  constructor(readonly cacheRoot: string) {}

  private file(area: "built" | "failed", id: string, ext: string): string {
    return path.join(this.cacheRoot, "bisect", area, `${id}.${ext}`);
  }

  /** The kernel key that built this source, when that kernel is still in the cache (an evicted one is forgotten). */
  async builtKey(id: string): Promise<string | undefined> {
    const text = await fs.readFile(this.file("built", id, "json"), "utf8").catch(() => undefined);
    if (text === undefined) return undefined;
    let key: unknown;
    try {
      key = (JSON.parse(text) as { kernelKey?: unknown }).kernelKey;
    } catch {
      key = undefined;
    }
    if (typeof key === "string" && /^[0-9a-f]{64}$/.test(key) && (await exists(path.join(this.cacheRoot, "kernels", key, ".complete")))) return key;
    await fs.rm(this.file("built", id, "json"), { force: true });
    return undefined;
  }

  async rememberBuilt(id: string, kernelKey: string): Promise<void> {
    await fs.mkdir(path.dirname(this.file("built", id, "json")), { recursive: true });
    await writeFileAtomic(this.file("built", id, "json"), `${JSON.stringify({ kernelKey })}\n`);
  }

  async failure(id: string): Promise<RememberedFailure | undefined> {
    const text = await fs.readFile(this.file("failed", id, "json"), "utf8").catch(() => undefined);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as RememberedFailure;
    } catch {
      return undefined;
    }
  }

  /** Records a failure: the error's first lines and its tail, and the build log's last lines when there is one. */
  async rememberFailure(id: string, f: { kind: string; error: Error; revision: string; buildLog?: string }): Promise<RememberedFailure> {
    const dir = path.dirname(this.file("failed", id, "json"));
    await fs.mkdir(dir, { recursive: true });
    const logText = f.buildLog ? await fs.readFile(f.buildLog, "utf8").catch(() => undefined) : undefined;
    let log: string | undefined;
    if (logText !== undefined) {
      log = this.file("failed", id, "log");
      await writeFileAtomic(log, `${logText.split("\n").slice(-LOG_TAIL_LINES).join("\n")}\n`);
    }
    const record: RememberedFailure = {
      kind: f.kind,
      message: f.error.message.split("\n").slice(0, 12).join("\n"),
      tail: ((f.error as { tail?: string[] }).tail ?? []).slice(-20),
      ...(log ? { log } : {}),
      revision: f.revision,
      at: new Date().toISOString(),
    };
    await writeFileAtomic(this.file("failed", id, "json"), `${JSON.stringify(record, null, 2)}\n`);
    return record;
  }

  async forgetFailure(id: string): Promise<void> {
    await fs.rm(this.file("failed", id, "json"), { force: true });
    await fs.rm(this.file("failed", id, "log"), { force: true });
  }
}
