// Tree + patches + config fragments -> a bzImage, through a content-addressed build cache:
// an unchanged input never runs make twice, and a failure says exactly which step failed.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { KharnessError, UsageError } from "../errors.js";
import { ccacheAvailable, firstLineOf, type Exec } from "../exec/exec.js";
import { ensureCacheEntry, exists, sha256, writeFileAtomic } from "../exec/cache.js";
import { configValues } from "../kconfig/config-file.js";
import { parseKconfigSymbols, type KconfigSymbol } from "../kconfig/kconfig-deps.js";
import { mergeFragments, overlayConfig, renderMerged, type Fragment, type MergedConfig } from "../kconfig/merge.js";
import { findLostOptions, formatLostOptions, type LostOption } from "../kconfig/survival.js";
import type { KernelImage } from "../types.js";
import { BUILD_RECIPE_VERSION, readBuildRecord, type BuildRecord, type TreeBuildDeps, type TreeKernelRequest } from "./build-record.js";
import { BuildLog, buildEnv, defaultJobs, kernelMakeArgv, runMake, type MakeSetup } from "./kbuild.js";
import { applyPatches } from "./patch-apply.js";
import { parseQuiltSeries, patchesFromFile, type Patch } from "./patch-series.js";
import { inspectTree, kernelTreeProblems, prepareSource, prepareSparseSource, touchedPaths, type PreparedSource } from "./source-tree.js";
import {
  BUILD_SUBDIR,
  cacheMaxBytes,
  cloneKeptBuild,
  commonPrefix,
  evict,
  keepBuild,
  lineageKey,
  listKeptBuilds,
  pathsReadable,
  pickNearest,
  syncChangedFiles,
  touchLastUsed,
} from "./build-cache.js";

export { BUILD_RECIPE_VERSION, type BuildRecord, type TreeBuildDeps, type TreeKernelRequest } from "./build-record.js";
export type { Patch } from "./patch-series.js";
export type { PreparedSource } from "./source-tree.js";
// What a stage building against the kernel's own tree (the payload's kselftests) needs of kbuild.
export { kernelTreeProblems } from "./source-tree.js";
// The build cache's management (`kharness cache list|prune`, the size limit).
export { cacheMaxBytes, DEFAULT_CACHE_MAX, evict, listCacheItems, parseAge, parseSize, type CacheItem } from "./build-cache.js";
export { BuildLog, buildEnv, defaultJobs, kernelMakeArgv, runMake, targetCc, type MakeSetup } from "./kbuild.js";

/** The bootable image's name in a cache entry (whatever the architecture calls it in its build tree). */
const KERNEL_IMAGE_FILE = "bzImage";

/** The fragments kharness always merges, in order (debug.config is added with --debug). */
export const DEFAULT_FRAGMENTS = ["qemu-guest.config", "landlock.config"] as const;

/** A requested option that did not survive olddefconfig: the request was wrong for this tree (exit 2), "could not test" for bisect. */
export class KernelConfigError extends UsageError {
  readonly lost: LostOption[];
  constructor(lost: LostOption[], configPath: string) {
    super(
      `${lost.length} requested kernel option${lost.length === 1 ? "" : "s"} did not survive olddefconfig:\n${formatLostOptions(lost)
        .map((l) => `  ${l}`)
        .join("\n")}`,
      {
        fix: `enable the missing dependencies in a --config fragment, or drop the option; the resolved config is ${configPath}`,
        untestable: true,
      },
    );
    this.name = "KernelConfigError";
    this.lost = lost;
  }
}

const INLINE_OPTION = /^(#\s*)?CONFIG_[A-Za-z0-9_]+(=| is not set)/;

/** The fragments to merge, in order: ours, debug when asked, then each --config file or inline option. */
export async function resolveFragments(
  req: Pick<TreeKernelRequest, "configs" | "debug" | "rootfs">,
  repoRoot: string,
): Promise<{ fragments: Fragment[]; problems: string[] }> {
  const fragments: Fragment[] = [];
  const problems: string[] = [];
  const ours = [...DEFAULT_FRAGMENTS, ...(req.debug ? ["debug.config"] : []), ...(req.rootfs ? ["rootfs.config"] : [])];
  for (const f of ours) {
    const p = path.join(repoRoot, "kernel-config", f);
    const text = await fs.readFile(p, "utf8").catch(() => undefined);
    if (text === undefined) problems.push(`kharness's fragment ${p} is missing (a broken checkout?)`);
    else fragments.push({ name: `kernel-config/${f}`, text });
  }
  for (const c of req.configs) {
    const text = INLINE_OPTION.test(c.trim()) ? undefined : await fs.readFile(c, "utf8").catch(() => undefined);
    // An inline option may arrive resolved against the cwd like a path (`# CONFIG_X is not set`).
    const item = INLINE_OPTION.test(c.trim()) ? c.trim() : text === undefined && INLINE_OPTION.test(path.basename(c)) ? path.basename(c) : undefined;
    if (item !== undefined) fragments.push({ name: `--config ${item}`, text: item + "\n" });
    else if (text === undefined) problems.push(`--config ${c}: no such file; pass a fragment file or one option, e.g. --config CONFIG_KASAN=y`);
    else fragments.push({ name: c, text });
  }
  return { fragments, problems };
}

/** Reads the patch inputs: mbox files, directories of *.patch (or holding a quilt `series`), or a `series` file. */
export async function resolvePatches(inputs: string[]): Promise<{ patches: Patch[]; problems: string[] }> {
  const patches: Patch[] = [];
  const problems: string[] = [];
  const readPatch = async (file: string) => {
    const text = await fs.readFile(file, "utf8").catch(() => undefined);
    if (text === undefined) problems.push(`--patches ${file}: cannot read it`);
    else if (!/^(diff --git |--- |Index: )/m.test(text))
      problems.push(`--patches ${file}: holds no diff (expected git format-patch output, a b4 am mbox, or a unified diff)`);
    else patches.push(...patchesFromFile(file, text));
  };
  const readSeries = async (seriesFile: string) => {
    const names = parseQuiltSeries(await fs.readFile(seriesFile, "utf8"));
    if (!names.length) problems.push(`--patches ${seriesFile}: the series lists no patches`);
    for (const n of names) await readPatch(path.resolve(path.dirname(seriesFile), n));
  };
  for (const input of inputs) {
    const st = await fs.stat(input).catch(() => undefined);
    if (!st) {
      problems.push(`--patches ${input}: no such file or directory`);
    } else if (st.isDirectory()) {
      if (await exists(path.join(input, "series"))) {
        await readSeries(path.join(input, "series"));
        continue;
      }
      const files = (await fs.readdir(input)).filter((n) => n.endsWith(".patch")).sort();
      if (!files.length) problems.push(`--patches ${input}: a directory without *.patch files or a quilt series file`);
      for (const f of files) await readPatch(path.join(input, f));
    } else if (path.basename(input) === "series") {
      await readSeries(input);
    } else {
      await readPatch(input);
    }
  }
  return { patches, problems };
}

/** Everything that decides the built kernel; its hash names the cache entry. */
export interface BuildKeyInputs {
  treeIdentity: string;
  patches: string[];
  baseConfig: TreeKernelRequest["baseConfig"];
  mergedConfig: string;
  compiler: string;
  linker: string;
}

/**
 * The cache key: recipe version, tree identity (git commit, + a hash of uncommitted changes when the
 * working tree itself is built; or a plain tree's listing hash), each patch's text in order, the base
 * config kind, the merged fragment request, and the first lines of `gcc --version` / `ld --version`
 * (Kconfig probes the toolchain, so the resolved .config depends on it). The resolved .config is not
 * part of the key: computing it needs make, and a cache hit must not run make.
 */
export function buildCacheKey(k: BuildKeyInputs): string {
  return sha256(
    `kharness-kernel-recipe-${BUILD_RECIPE_VERSION}`,
    k.treeIdentity,
    String(k.patches.length),
    ...k.patches.map((p) => sha256(p)),
    k.baseConfig,
    k.mergedConfig,
    k.compiler,
    k.linker,
  );
}

/** A tool's `--version` line for the cache key; a missing tool is keyed as such. */
async function firstLine(exec: Exec, argv: string[]): Promise<string> {
  return (await firstLineOf(exec, argv)) ?? `${argv[0]}: unavailable`;
}

/** Reads the Kconfig definitions of the given symbols (grep finds the files; of arch/, only srcArch's are read). */
export async function readKconfigFor(exec: Exec, srcDir: string, names: string[], srcArch: string): Promise<Map<string, KconfigSymbol> | undefined> {
  if (!names.length) return new Map();
  const pattern = `^[[:space:]]*(menu)?config[[:space:]]+(${names.join("|")})[[:space:]]*$`;
  const res = await exec
    .run(["grep", "-rlE", "--include=Kconfig*", "--exclude-dir=.git", "--exclude-dir=tools", pattern, "."], { cwd: srcDir })
    .catch(() => undefined);
  if (!res || (res.exitCode !== 0 && res.exitCode !== 1)) return undefined;
  const files = res.stdout
    .split("\n")
    .map((f) => f.replace(/^\.\//, ""))
    .filter((f) => f && (!f.startsWith("arch/") || f.startsWith(`arch/${srcArch}/`)));
  const map = new Map<string, KconfigSymbol>();
  for (const f of files) {
    const text = await fs.readFile(path.join(srcDir, f), "utf8").catch(() => undefined);
    if (text !== undefined) parseKconfigSymbols(text, f, map);
  }
  return map;
}

function pidGone(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== "EPERM";
  }
}

/**
 * Removes what killed builds left behind (their pid is in the name): work directories, and cache
 * entries' temp directories (`<entry>.tmp-<pid>-<rand>`); git then forgets worktrees that pointed
 * there. A live build's directories are never touched.
 */
export async function sweepStaleWork(exec: Exec, cacheRoot: string, treeDir?: string): Promise<void> {
  let removedWork = false;
  const work = path.join(cacheRoot, "work");
  for (const name of await fs.readdir(work).catch(() => [] as string[])) {
    if (!pidGone(Number(/-(\d+)-[0-9a-z]+$/.exec(name)?.[1]))) continue;
    await fs.rm(path.join(work, name), { recursive: true, force: true });
    removedWork = true;
  }
  const lineages = (await fs.readdir(path.join(cacheRoot, "builds")).catch(() => [] as string[])).map((l) => path.join("builds", l));
  for (const area of ["kernels", "kselftests", "builds", ...lineages]) {
    const dir = path.join(cacheRoot, area);
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
      if (pidGone(Number(/\.tmp-(\d+)-[0-9a-z]+$/.exec(name)?.[1]))) await fs.rm(path.join(dir, name), { recursive: true, force: true });
    }
  }
  if (removedWork && treeDir) await exec.run(["git", "-C", treeDir, "worktree", "prune"]).catch(() => undefined);
}

/** Turns a list of input problems into one usage error (every problem at once). */
function throwProblems(problems: string[]): void {
  if (!problems.length) return;
  throw new UsageError(
    problems.length === 1 ? problems[0]! : `${problems.length} problems with the --tree request:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
  );
}

/** The configure + check + build steps inside a prepared source; writes the entry files into `out`. */
async function configureAndBuild(
  deps: TreeBuildDeps,
  setup: MakeSetup,
  req: TreeKernelRequest,
  merged: MergedConfig,
  log: BuildLog,
  out: string,
): Promise<string> {
  const { exec, signal, onProgress } = deps;
  const run = (targets: string[], parallel: boolean, what: string) =>
    runMake(exec, kernelMakeArgv(setup, targets, parallel), { env: setup.env, log, what, signal, onProgress });
  await fs.mkdir(setup.buildDir, { recursive: true });
  const base = req.baseConfig === "defconfig" ? "defconfig" : "tinyconfig";
  onProgress?.({ kind: "stage", stage: "build", detail: `configuring: ${base} + ${merged.options.size} requested options` });
  await run([base], false, `kernel config (make ${base})`);
  const dotConfig = path.join(setup.buildDir, ".config");
  await fs.writeFile(dotConfig, overlayConfig(await fs.readFile(dotConfig, "utf8"), merged));
  await run(["olddefconfig"], false, "kernel config (make olddefconfig)");
  const finalText = await fs.readFile(dotConfig, "utf8");
  const values = configValues(finalText);
  if (findLostOptions(merged, values).length) {
    const kconfig = await readKconfigFor(
      exec,
      setup.srcDir,
      findLostOptions(merged, values).map((l) => l.name),
      setup.profile.srcArch,
    );
    const lost = findLostOptions(merged, values, kconfig);
    const keep = path.join(deps.runDir, "kernel.config");
    await writeFileAtomic(keep, finalText);
    throw new KernelConfigError(lost, keep);
  }
  const image = setup.profile.kernelImage;
  onProgress?.({ kind: "stage", stage: "build", detail: `make -j${setup.jobs} ${image.target}` });
  await run([image.target], true, `kernel build (make -j${setup.jobs} ${image.target})`);
  await fs.copyFile(path.join(setup.buildDir, image.pathInBuild), path.join(out, KERNEL_IMAGE_FILE));
  await fs.copyFile(dotConfig, path.join(out, "config"));
  const release = (await fs.readFile(path.join(setup.buildDir, "include/config/kernel.release"), "utf8")).trim();
  await fs.writeFile(path.join(out, "kernel.release"), release + "\n");
  return release;
}

/**
 * Builds (or reuses) the kernel for a --tree request. Never writes to the user's tree: patches go into
 * a detached worktree or a hard-link copy under the cache's work/ area, removed afterwards; the build
 * directory (O=) lives there too and goes with it (ccache keeps rebuilds fast).
 *
 * Errors: UsageError (exit 2) for a bad tree, patch inputs or fragments; PatchApplyError (exit 2) for a
 * patch that does not apply; KernelConfigError (exit 2) listing every requested option lost in
 * olddefconfig; KernelBuildError (exit 3) with the compiler's error lines and the log tail. All of
 * these are `untestable` (a bisect step "could not test"); none leaves a cache entry behind.
 */
export async function buildKernelFromTree(req: TreeKernelRequest, deps: TreeBuildDeps): Promise<KernelImage> {
  const started = Date.now();
  const { exec, cacheRoot, signal, onProgress } = deps;
  onProgress?.({ kind: "stage", stage: "build", detail: `tree ${req.dir}` });

  // Validate every input before any slow step, and report all problems together.
  // In-tree build output only matters to a build in the tree itself, known once the tree is inspected (below).
  const [treeProblems, fragmentSet, patchSet] = await Promise.all([
    kernelTreeProblems(req.dir, { buildsInPlace: false, srcArch: deps.profile.srcArch }),
    resolveFragments(req, deps.repoRoot),
    resolvePatches(req.patches),
  ]);
  const merged = mergeFragments(fragmentSet.fragments);
  throwProblems([
    ...treeProblems,
    ...patchSet.problems,
    ...fragmentSet.problems,
    ...merged.problems.map((p) => `${p.fragment}:${p.line}: ${p.message}: ${p.text.trim()}`),
  ]);
  for (const r of merged.redefinitions) {
    onProgress?.({ kind: "info", message: `CONFIG_${r.name}: ${r.to.origin} overrides ${r.from.origin} (${r.from.value} -> ${r.to.value})` });
  }

  const usesWorkingTree = patchSet.patches.length === 0 && req.base === undefined;
  const [tree, compiler, linker] = await Promise.all([
    inspectTree(exec, req.dir, { base: req.base, usesWorkingTree, srcArch: deps.profile.srcArch, memoDir: path.join(cacheRoot, "trees") }),
    firstLine(exec, ["gcc", "--version"]),
    firstLine(exec, ["ld", "--version"]),
  ]);
  // Only a git working tree with changes of its own is built where it is (O= outside it): its content is
  // in no commit to check out. A plain tree or a clean checkout without patches is built from kharness's
  // own copy like a patched one, so the build can be kept, started from a kept one, and started from later.
  const inPlace = usesWorkingTree && tree.kind === "git" && tree.dirty;
  if (inPlace) throwProblems(await kernelTreeProblems(req.dir, { buildsInPlace: true, srcArch: deps.profile.srcArch }));
  if (tree.kind === "git" && tree.dirty && !usesWorkingTree) {
    onProgress?.({ kind: "info", message: `${tree.dir} has uncommitted changes; they are not in this build (patches apply to ${tree.commit?.slice(0, 12)})` });
  }
  const key = buildCacheKey({
    treeIdentity: tree.identity,
    patches: patchSet.patches.map((p) => p.text),
    baseConfig: req.baseConfig,
    mergedConfig: renderMerged(merged),
    compiler,
    linker,
  });
  const entry = path.join(cacheRoot, "kernels", key);
  const patchShas = patchSet.patches.map((p) => sha256(p.text));
  const touchedNow = patchSet.patches.flatMap((p) => touchedPaths(p.text));
  // Builds from kharness's own copy of the tree can be kept and started from; an in-place build cannot.
  const keepable = !inPlace && patchSet.patches.every((p) => pathsReadable(p.text));
  const incremental = keepable && (deps.incremental ?? process.env.KHARNESS_INCREMENTAL !== "0");
  const lineage = lineageKey({
    treeIdentity: tree.identity,
    arch: `${deps.profile.linuxArch}:${deps.profile.toolchain.crossCompile ?? ""}`,
    baseConfig: req.baseConfig,
    mergedConfig: renderMerged(merged),
    compiler,
    linker,
  });
  const maxBytes = cacheMaxBytes();
  if (await exists(`${entry}.lock`)) onProgress?.({ kind: "info", message: `waiting for another kharness building the same kernel (${key.slice(0, 12)})` });

  await fs.mkdir(deps.runDir, { recursive: true });
  const logPath = path.join(deps.runDir, "build.log");
  const { hit } = await ensureCacheEntry(entry, async (tmp) => {
    await sweepStaleWork(exec, cacheRoot, tree.kind === "git" ? tree.dir : undefined);
    const workDir = path.join(cacheRoot, "work", `${key.slice(0, 16)}-${process.pid}-${Date.now().toString(36)}`);
    await fs.mkdir(workDir, { recursive: true });
    const log = new BuildLog(logPath);
    let prepared: PreparedSource | undefined;
    let buildSrc: string | undefined;
    try {
      log.write(`# kharness build ${key} of ${tree.identity} (${tree.dir})`);
      const nearest = incremental ? pickNearest(await listKeptBuilds(cacheRoot, lineage), patchShas) : undefined;
      // With a kept build to start from, only the paths either series touches are needed fresh.
      const syncPaths = nearest ? [...new Set([...nearest.meta.touched, ...touchedNow])] : [];
      if (inPlace) {
        prepared = { srcDir: tree.dir, cleanup: async () => undefined };
      } else {
        onProgress?.({
          kind: "stage",
          stage: "build",
          detail: nearest
            ? `the ${syncPaths.length} files the kept series and this one touch, from ${tree.kind === "git" ? tree.commit?.slice(0, 12) : "the tree"}`
            : tree.kind === "git"
              ? `worktree at ${tree.commit?.slice(0, 12)}`
              : "hard-link copy of the tree",
        });
        prepared = nearest ? await prepareSparseSource(exec, tree, workDir, syncPaths, signal) : await prepareSource(exec, tree, workDir, touchedNow, signal);
        if (patchSet.patches.length) {
          onProgress?.({ kind: "stage", stage: "build", detail: `applying ${patchSet.patches.length} patch${patchSet.patches.length === 1 ? "" : "es"}` });
          const target = tree.kind === "git" ? `${tree.dir} at ${tree.commit?.slice(0, 12)}` : tree.dir;
          await applyPatches(exec, prepared.srcDir, patchSet.patches, { workDir, target, signal, log: (l) => log.write(l) });
        }
      }
      buildSrc = prepared.srcDir;
      let startedFrom: BuildRecord["startedFrom"];
      if (nearest) {
        const common = commonPrefix(
          nearest.meta.patches.map((p) => p.sha),
          patchShas,
        );
        onProgress?.({
          kind: "stage",
          stage: "build",
          detail: `starting from the build directory of ${nearest.meta.key.slice(0, 12)} (${common} of ${patchShas.length} patches in common)`,
        });
        const clone = path.join(workDir, "tree");
        await cloneKeptBuild(exec, nearest, clone, signal);
        const changedFiles = await syncChangedFiles(prepared.srcDir, clone, syncPaths);
        log.write(`# kharness: started from the kept build ${nearest.meta.key} (${nearest.dir}); changed files: ${changedFiles.join(" ") || "none"}`);
        startedFrom = { key: nearest.meta.key, commonPatches: common, changedFiles };
        buildSrc = clone;
        // The fresh source was only the patched content's origin: drop it before make runs.
        await prepared.cleanup().catch(() => undefined);
        prepared = undefined;
      }
      const setup: MakeSetup = {
        srcDir: buildSrc,
        // Inside the source: kbuild then writes `..` for the source in every command and dependency
        // file, so the pair can be copied elsewhere and built on (see build-cache.ts).
        buildDir: inPlace ? path.join(workDir, "build") : path.join(buildSrc, BUILD_SUBDIR),
        cc: (await ccacheAvailable(exec)) ? "ccache gcc" : "gcc",
        jobs: deps.jobs ?? defaultJobs(),
        env: buildEnv(path.join(cacheRoot, "work")),
        profile: deps.profile,
      };
      const release = await configureAndBuild(deps, setup, req, merged, log, tmp);
      const record: BuildRecord = {
        recipe: BUILD_RECIPE_VERSION,
        key,
        tree,
        usesWorkingTree,
        patches: patchSet.patches.map((p) => ({ source: p.source, subject: p.subject })),
        baseConfig: req.baseConfig,
        fragments: fragmentSet.fragments.map((f) => f.name),
        compiler,
        linker,
        release,
        durationMs: Date.now() - started,
        builtAt: new Date().toISOString(),
        ...(startedFrom ? { startedFrom } : {}),
      };
      // The series itself is kept so --kselftest can rebuild the same patched source later.
      await fs.mkdir(path.join(tmp, "patches"));
      for (const [i, p] of patchSet.patches.entries()) await fs.writeFile(path.join(tmp, "patches", `${String(i + 1).padStart(4, "0")}.patch`), p.text);
      await fs.writeFile(path.join(tmp, "merged.config"), renderMerged(merged));
      await fs.writeFile(path.join(tmp, "build.json"), JSON.stringify(record, null, 2) + "\n");
      if (keepable) {
        // Kept for the next key of this lineage to start from; a failure to keep costs speed, not the build.
        await keepBuild(
          cacheRoot,
          buildSrc,
          {
            key,
            lineage,
            treeIdentity: tree.identity,
            treeDir: tree.dir,
            arch: deps.profile.linuxArch,
            baseConfig: req.baseConfig,
            fragments: fragmentSet.fragments.map((f) => f.name),
            patches: patchSet.patches.map((p, i) => ({ sha: patchShas[i]!, subject: p.subject })),
            touched: [...new Set(touchedNow)].sort(),
            builtAtPath: buildSrc,
          },
          { linkedSource: startedFrom !== undefined || tree.kind === "plain" },
        ).catch((e: unknown) => onProgress?.({ kind: "info", message: `could not keep the build directory: ${(e as Error).message}` }));
      }
    } catch (e) {
      if (e instanceof KharnessError) log.write(`# kharness: ${e.message.split("\n")[0]}`);
      throw e;
    } finally {
      await log.close();
      await prepared?.cleanup().catch(() => undefined);
      await fs.rm(workDir, { recursive: true, force: true });
    }
  });
  if (hit) await touchLastUsed(entry);
  else if (maxBytes !== undefined) {
    const { removed } = await evict(cacheRoot, { maxBytes }).catch(() => ({ removed: [] }));
    for (const r of removed)
      onProgress?.({ kind: "info", message: `cache over its limit (KHARNESS_CACHE_MAX): removed the least recently used ${r.kind} ${r.key.slice(0, 12)}` });
  }

  const release = (await fs.readFile(path.join(entry, "kernel.release"), "utf8")).trim();
  // What the kernel was built from, handed over as a value: a later stage that builds against the same tree
  // (the payload's kselftests) prepares the same source with prepareKernelSource, never by guessing paths.
  const { record, patches } = await readBuildRecord(cacheRoot, key);
  const durationMs = Date.now() - started;
  // The pipeline reports the build (cache hit, duration) as a typed kernel-ready event from `build` below.
  return {
    path: path.join(entry, KERNEL_IMAGE_FILE),
    release,
    configPath: path.join(entry, "config"),
    source: "tree",
    build: { cacheKey: key, cacheHit: hit, durationMs, logPath: hit ? undefined : logPath, treeDir: tree.dir, record, patches },
  };
}

/**
 * The patched source a tree kernel was built from, prepared again under workDir (a worktree or hard-link copy
 * with the series applied; the user's own tree when the kernel was built in place). For stages that build
 * against the kernel's tree (kselftests). Call cleanup() when done.
 */
export async function prepareKernelSource(
  exec: Exec,
  build: { record: BuildRecord; patches: Patch[] },
  workDir: string,
  opts: { signal?: AbortSignal; log: (line: string) => void },
): Promise<PreparedSource> {
  const { record, patches } = build;
  if (record.usesWorkingTree) return { srcDir: record.tree.dir, cleanup: async () => undefined };
  const prepared = await prepareSource(
    exec,
    record.tree,
    workDir,
    patches.flatMap((p) => touchedPaths(p.text)),
    opts.signal,
  );
  try {
    if (patches.length) await applyPatches(exec, prepared.srcDir, patches, { workDir, target: record.tree.dir, signal: opts.signal, log: opts.log });
  } catch (e) {
    await prepared.cleanup().catch(() => undefined);
    throw e;
  }
  return prepared;
}
