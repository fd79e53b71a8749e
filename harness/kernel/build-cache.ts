// Kept build directories (a finished build's patched source with its kbuild output inside) so that a new
// cache key starts from the nearest earlier build and make recompiles only what changed; and the size
// limit with least-recently-used eviction over kernel entries and kept builds (`kharness cache`).
//
// Layout under the cache root:
//   kernels/<key>/                 a built kernel (bzImage, config, build.json, ...): content-addressed
//   builds/<lineage>/<key>/        a kept build: meta.json + src/ (source; src/.kharness-build is O=)
// The lineage names what every build in it shares: tree identity, architecture, base config, merged
// fragments, compiler and linker. Builds of one lineage differ only in the patches applied, so the
// files that differ between two of them are among the paths either patch series touches.
//
// Why the build directory sits inside the source: kbuild then uses `srctree := ..` (a relative path) in
// every command line and dependency file, so a copy of the pair at another path builds as if it were
// the original (no relocation step, no absolute path baked into a .cmd file).

import { promises as fs, constants as fsc } from "node:fs";
import * as path from "node:path";
import { UsageError } from "../errors.js";
import { runChecked, type Exec } from "../exec/exec.js";
import { exists, processAlive, sha256, withLock } from "../exec/cache.js";

/** The kbuild output directory's name inside a build's source directory. */
export const BUILD_SUBDIR = ".kharness-build";
/** Touched whenever an entry is used (hit, started from); its mtime is "last used" for eviction. */
const LAST_USED = ".last-used";
/** Default size limit of kernels/ + builds/ when neither --max-size nor KHARNESS_CACHE_MAX says otherwise. */
export const DEFAULT_CACHE_MAX = 20 * 1024 ** 3;

/** What a kept build records about itself (meta.json). */
export interface KeptBuildMeta {
  key: string;
  lineage: string;
  treeIdentity: string;
  treeDir: string;
  arch: string;
  baseConfig: string;
  fragments: string[];
  /** sha256 of each patch's text, in order, and its subject. */
  patches: { sha: string; subject: string }[];
  /** Every path the patches touch (old and new side). */
  touched: string[];
  /** The absolute source path the build ran at (tools/ builds such as objtool record absolute paths). */
  builtAtPath: string;
  /** Bytes this entry holds on its own (a hard-linked file counts its share: size / link count). */
  sizeBytes: number;
  createdAt: string;
}

export interface KeptBuild {
  dir: string;
  meta: KeptBuildMeta;
  lastUsedMs: number;
}

/** The identity every build that may start from another's build directory shares. */
export function lineageKey(k: { treeIdentity: string; arch: string; baseConfig: string; mergedConfig: string; compiler: string; linker: string }): string {
  return sha256("kharness-build-lineage-1", k.treeIdentity, k.arch, k.baseConfig, k.mergedConfig, k.compiler, k.linker);
}

/** How many leading elements two lists share. */
export function commonPrefix(a: readonly string[], b: readonly string[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/**
 * The kept build to start from for a series (patch hashes in order): the longest common patch prefix
 * first, then the fewest patches beyond that prefix (less to undo), then the most recently used.
 * Any build of the lineage is a correct start (files outside both series are identical); the order only
 * decides how little make has to redo.
 */
export function pickNearest<T extends { meta: { patches: { sha: string }[] }; lastUsedMs: number }>(
  kept: readonly T[],
  patchShas: readonly string[],
): T | undefined {
  let best: T | undefined;
  let bestScore: [number, number, number] | undefined;
  for (const k of kept) {
    const shas = k.meta.patches.map((p) => p.sha);
    const prefix = commonPrefix(shas, patchShas);
    const score: [number, number, number] = [prefix, -(shas.length - prefix), k.lastUsedMs];
    if (
      !bestScore ||
      score[0] > bestScore[0] ||
      (score[0] === bestScore[0] && (score[1] > bestScore[1] || (score[1] === bestScore[1] && score[2] > bestScore[2])))
    ) {
      best = k;
      bestScore = score;
    }
  }
  return best;
}

/** True when every `diff --git` header of the patch names plain (unquoted) paths that touchedPaths can read. */
export function pathsReadable(patchText: string): boolean {
  for (const l of patchText.split("\n")) if (l.startsWith("diff --git ") && !/^diff --git a\/\S+ b\/\S+$/.test(l)) return false;
  return true;
}

async function lastUsed(dir: string): Promise<number> {
  for (const f of [LAST_USED, ".complete", "meta.json"]) {
    const st = await fs.stat(path.join(dir, f)).catch(() => undefined);
    if (st) return st.mtimeMs;
  }
  return 0;
}

/** Marks an entry as used now (eviction removes the least recently used first). */
export async function touchLastUsed(dir: string): Promise<void> {
  const f = path.join(dir, LAST_USED);
  const now = new Date();
  await fs.utimes(f, now, now).catch(async () => fs.writeFile(f, "").catch(() => undefined));
}

/** Every complete kept build (of one lineage, or all). */
export async function listKeptBuilds(cacheRoot: string, lineage?: string): Promise<KeptBuild[]> {
  const root = path.join(cacheRoot, "builds");
  const lineages = lineage ? [lineage] : await fs.readdir(root).catch(() => [] as string[]);
  const out: KeptBuild[] = [];
  for (const l of lineages) {
    if (!/^[0-9a-f]{64}$/.test(l)) continue;
    for (const name of await fs.readdir(path.join(root, l)).catch(() => [] as string[])) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const dir = path.join(root, l, name);
      if (!(await exists(path.join(dir, ".complete")))) continue;
      const meta = await fs
        .readFile(path.join(dir, "meta.json"), "utf8")
        .then((t) => JSON.parse(t) as KeptBuildMeta)
        .catch(() => undefined);
      if (meta) out.push({ dir, meta, lastUsedMs: await lastUsed(dir) });
    }
  }
  return out;
}

/**
 * Every entry under dir (relative paths), never following a symbolic link: a kbuild output directory
 * holds `source -> ..`, and Node 20's `readdir({ recursive: true })` follows links to directories
 * (through that one, the whole source tree over and over until ELOOP).
 */
export async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const pending = [""];
  while (pending.length) {
    const rel = pending.pop()!;
    const ents = await fs.readdir(path.join(dir, rel), { withFileTypes: true }).catch(() => []);
    for (const e of ents) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      out.push(p);
      if (e.isDirectory()) pending.push(p);
    }
  }
  return out;
}

/**
 * Bytes a directory holds on its own: allocated blocks of each file, a file with n hard links counting
 * 1/n (the source of a kept build is mostly hard links to the user's tree, which costs nothing extra).
 */
export async function ownSize(dir: string): Promise<number> {
  let total = 0;
  const entries = await walk(dir);
  const batch = 256;
  for (let i = 0; i < entries.length; i += batch) {
    const stats = await Promise.all(entries.slice(i, i + batch).map((e) => fs.lstat(path.join(dir, e)).catch(() => undefined)));
    for (const st of stats) if (st) total += (st.blocks * 512) / Math.max(1, st.isDirectory() ? 1 : st.nlink);
  }
  return Math.round(total);
}

/**
 * A private copy of a kept build's source + build directory at `dest` (which must not exist). Source
 * files are hard links (make never writes into the source tree of an O= build, and syncChangedFiles
 * replaces a file rather than writing it); the build directory is a real copy (`cp -a --reflink=auto`:
 * gcc truncates and rewrites its outputs, so build files are never shared). Mtimes are kept, so make
 * sees every object newer than its unchanged sources. Holds the kept build's lock while copying (eviction
 * waits for it).
 */
export async function cloneKeptBuild(exec: Exec, kept: KeptBuild, dest: string, signal?: AbortSignal): Promise<void> {
  await withLock(
    `${kept.dir}.lock`,
    async () => {
      const src = path.join(kept.dir, "src");
      await fs.mkdir(dest, { recursive: true });
      const names = (await fs.readdir(src)).filter((n) => n !== BUILD_SUBDIR);
      if (names.length) await runChecked(exec, ["cp", "-al", "-t", dest, "--", ...names], { cwd: src, signal, what: `hard-link copy of ${src}` });
      await runChecked(exec, ["cp", "-a", "--reflink=auto", path.join(src, BUILD_SUBDIR), path.join(dest, BUILD_SUBDIR)], {
        signal,
        what: `copy of the build directory ${path.join(src, BUILD_SUBDIR)}`,
      });
      await touchLastUsed(kept.dir);
    },
    { signal },
  );
  await relocateDepFiles(path.join(dest, BUILD_SUBDIR), kept.meta.builtAtPath, dest);
}

/**
 * Kbuild proper writes `..` for the source, but the tools/ builds it starts (objtool, libsubcmd) name
 * their targets and dependencies by absolute path. Rewrites the old source path to the new one in the
 * dependency files (`.*.cmd`, `.*.d`) that hold it, keeping their mtimes, so make finds its saved
 * commands under the new names instead of rebuilding those tools. Returns how many files were rewritten.
 */
export async function relocateDepFiles(buildDir: string, from: string, to: string): Promise<number> {
  if (!from || from === to) return 0;
  let n = 0;
  const names = (await walk(buildDir)).filter((f) => /(^|\/)\.[^/]*\.(cmd|d)$/.test(f));
  for (const f of names) {
    const file = path.join(buildDir, f);
    const text = await fs.readFile(file, "utf8").catch(() => undefined);
    if (text === undefined || !text.includes(from)) continue;
    const st = await fs.stat(file);
    const tmp = `${file}.kharness-reloc`;
    await fs.writeFile(tmp, text.split(from).join(to), { mode: st.mode & 0o7777 });
    await fs.utimes(tmp, st.atime, st.mtime);
    await fs.rename(tmp, file);
    n++;
  }
  return n;
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([fs.readFile(a), fs.readFile(b)]);
  return x.equals(y);
}

/**
 * Makes `dest` hold `fresh`'s content at each of `paths` (the paths either series touches), writing only
 * the files that differ. A written file is a new inode with the current time as mtime (never the
 * original's: a file going back to the tree's version must still be newer than its object), so make
 * rebuilds exactly what depends on it; untouched files keep their old mtimes. Returns the changed paths.
 */
export async function syncChangedFiles(fresh: string, dest: string, paths: readonly string[]): Promise<string[]> {
  const changed: string[] = [];
  for (const p of [...new Set(paths)].sort()) {
    if (p.split("/").some((s) => s === ".." || s === "") || path.isAbsolute(p)) continue;
    const from = path.join(fresh, p);
    const to = path.join(dest, p);
    const [a, b] = await Promise.all([fs.lstat(from).catch(() => undefined), fs.lstat(to).catch(() => undefined)]);
    if (!a && !b) continue;
    if (!a || a.isDirectory()) {
      if (b && !b.isDirectory()) {
        await fs.rm(to, { force: true });
        changed.push(p);
      }
      continue;
    }
    if (a.isSymbolicLink()) {
      const target = await fs.readlink(from);
      if (b?.isSymbolicLink() && (await fs.readlink(to)) === target) continue;
      await fs.rm(to, { recursive: true, force: true });
      await fs.mkdir(path.dirname(to), { recursive: true });
      await fs.symlink(target, to);
      changed.push(p);
      continue;
    }
    if (b?.isFile() && a.size === b.size && (a.mode & 0o7777) === (b.mode & 0o7777) && (await sameFile(from, to))) continue;
    await fs.mkdir(path.dirname(to), { recursive: true });
    if (b?.isDirectory()) await fs.rm(to, { recursive: true, force: true });
    const tmp = `${to}.kharness-sync-${process.pid}`;
    await fs.writeFile(tmp, await fs.readFile(from), { mode: a.mode & 0o7777 });
    await fs.chmod(tmp, a.mode & 0o7777);
    await fs.rename(tmp, to);
    changed.push(p);
  }
  return changed;
}

/**
 * Keeps a finished build's source directory (its build directory inside) as builds/<lineage>/<key>/src.
 * The directory is moved, not copied. A kept build that already exists wins (a concurrent build of the
 * same key); then `srcDir` is left for the caller to remove. Returns whether it was kept.
 */
export async function keepBuild(
  cacheRoot: string,
  srcDir: string,
  meta: Omit<KeptBuildMeta, "sizeBytes" | "createdAt">,
  opts: { linkedSource?: boolean } = {},
): Promise<boolean> {
  const dir = path.join(cacheRoot, "builds", meta.lineage, meta.key);
  if (await exists(path.join(dir, ".complete"))) return false;
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  await fs.mkdir(tmp);
  try {
    // A git worktree's .git file points at metadata removed with the worktree; a plain tree's is a throwaway repo.
    await fs.rm(path.join(srcDir, ".git"), { recursive: true, force: true });
    await fs.rename(srcDir, path.join(tmp, "src"));
    // A source made of hard links (a plain tree's copy, or a kept build's) owns only the files the series
    // wrote: sizing it needs no walk over every file of the tree (seconds on every build).
    let sizeBytes: number;
    if (opts.linkedSource) {
      sizeBytes = await ownSize(path.join(tmp, "src", BUILD_SUBDIR));
      for (const p of meta.touched) {
        const st = await fs.lstat(path.join(tmp, "src", p)).catch(() => undefined);
        if (st?.isFile()) sizeBytes += (st.blocks * 512) / Math.max(1, st.nlink);
      }
    } else sizeBytes = await ownSize(tmp);
    const full: KeptBuildMeta = { ...meta, sizeBytes: Math.round(sizeBytes), createdAt: new Date().toISOString() };
    await fs.writeFile(path.join(tmp, "meta.json"), JSON.stringify(full, null, 2) + "\n");
    await fs.writeFile(path.join(tmp, ".complete"), full.createdAt);
    await fs.rename(tmp, dir).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOTEMPTY" && e.code !== "EEXIST") throw e;
      await fs.rm(tmp, { recursive: true, force: true });
    });
    return true;
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

// ---- the size limit, eviction and `kharness cache` ----

/** One thing in the cache that counts against the limit. */
export interface CacheItem {
  kind: "kernel" | "build-dir";
  key: string;
  dir: string;
  sizeBytes: number;
  lastUsedMs: number;
  /** Tree identity and directory, patches (subjects), base config + fragments. */
  tree: string;
  treeDir: string;
  patches: string[];
  config: string;
}

interface KernelRecordLite {
  tree?: { identity?: string; dir?: string };
  patches?: { subject: string }[];
  baseConfig?: string;
  fragments?: string[];
}

/** Every kernel entry built from a tree (kernels/<64 hex>/) and every kept build directory. */
export async function listCacheItems(cacheRoot: string): Promise<CacheItem[]> {
  const items: CacheItem[] = [];
  const kernels = path.join(cacheRoot, "kernels");
  for (const name of await fs.readdir(kernels).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{64}$/.test(name)) continue;
    const dir = path.join(kernels, name);
    if (!(await exists(path.join(dir, ".complete")))) continue;
    const rec = await fs
      .readFile(path.join(dir, "build.json"), "utf8")
      .then((t) => JSON.parse(t) as KernelRecordLite)
      .catch(() => ({}) as KernelRecordLite);
    items.push({
      kind: "kernel",
      key: name,
      dir,
      sizeBytes: await ownSize(dir),
      lastUsedMs: await lastUsed(dir),
      tree: rec.tree?.identity ?? "?",
      treeDir: rec.tree?.dir ?? "?",
      patches: (rec.patches ?? []).map((p) => p.subject),
      config: [rec.baseConfig ?? "?", ...(rec.fragments ?? [])].join(" + "),
    });
  }
  for (const k of await listKeptBuilds(cacheRoot)) {
    items.push({
      kind: "build-dir",
      key: k.meta.key,
      dir: k.dir,
      sizeBytes: k.meta.sizeBytes,
      lastUsedMs: k.lastUsedMs,
      tree: k.meta.treeIdentity,
      treeDir: k.meta.treeDir,
      patches: k.meta.patches.map((p) => p.subject),
      config: [k.meta.baseConfig, ...k.meta.fragments].join(" + "),
    });
  }
  return items.sort((a, b) => b.lastUsedMs - a.lastUsedMs);
}

/**
 * Which items to evict, least recently used first, so that the rest fits in maxBytes (pure). Items in
 * `held` (locked by a running build) are never chosen.
 */
export function chooseEvictions<T extends { dir: string; sizeBytes: number; lastUsedMs: number }>(
  items: readonly T[],
  opts: { maxBytes?: number; olderThanMs?: number; nowMs: number; all?: boolean; held?: ReadonlySet<string> },
): T[] {
  const candidates = [...items].sort((a, b) => a.lastUsedMs - b.lastUsedMs);
  let total = items.reduce((s, i) => s + i.sizeBytes, 0);
  const out: T[] = [];
  for (const i of candidates) {
    if (opts.held?.has(i.dir)) continue;
    const tooOld = opts.olderThanMs !== undefined && opts.nowMs - i.lastUsedMs > opts.olderThanMs;
    const overLimit = opts.maxBytes !== undefined && total > opts.maxBytes;
    if (opts.all || tooOld || overLimit) {
      out.push(i);
      total -= i.sizeBytes;
    }
  }
  return out;
}

/** Takes a lock file if nobody alive holds it; returns its release, or undefined when held. */
async function tryLock(lockPath: string): Promise<(() => Promise<void>) | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await fs.open(lockPath, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => fs.rm(lockPath, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = Number.parseInt(await fs.readFile(lockPath, "utf8").catch(() => ""), 10);
      if (Number.isFinite(owner) && owner > 0 && !processAlive(owner)) {
        await fs.rm(lockPath, { force: true });
        continue;
      }
      return undefined;
    }
  }
  return undefined;
}

/** Locks that mark an item in use: a kernel entry being built, a kept build being copied. */
const lockOf = (dir: string) => `${dir}.lock`;

/**
 * Removes the chosen items (least recently used first), each under its lock; an item whose lock a live
 * process holds is skipped. Returns what was removed.
 */
export async function evict(
  cacheRoot: string,
  opts: { maxBytes?: number; olderThanMs?: number; all?: boolean; nowMs?: number },
): Promise<{ removed: CacheItem[]; kept: CacheItem[] }> {
  const items = await listCacheItems(cacheRoot);
  const held = new Set<string>();
  for (const i of items) {
    const owner = Number.parseInt(await fs.readFile(lockOf(i.dir), "utf8").catch(() => ""), 10);
    if (Number.isFinite(owner) && processAlive(owner)) held.add(i.dir);
  }
  const chosen = chooseEvictions(items, { ...opts, nowMs: opts.nowMs ?? Date.now(), held });
  const removed: CacheItem[] = [];
  for (const i of chosen) {
    const release = await tryLock(lockOf(i.dir));
    if (!release) continue;
    try {
      // Renamed first so a reader never sees half an entry; then removed.
      const gone = `${i.dir}.tmp-${process.pid}-evict`;
      await fs.rename(i.dir, gone);
      await fs.rm(gone, { recursive: true, force: true });
      removed.push(i);
    } finally {
      await release();
    }
  }
  for (const l of await fs.readdir(path.join(cacheRoot, "builds")).catch(() => [] as string[])) {
    await fs.rmdir(path.join(cacheRoot, "builds", l)).catch(() => undefined);
  }
  return { removed, kept: items.filter((i) => !removed.includes(i)) };
}

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "20G", "512M", "1.5g", "1000000" -> bytes; undefined when unreadable. */
export function parseSize(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(s);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

/** "7d", "12h", "30m", "90s" -> milliseconds; undefined when unreadable. */
export function parseAge(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/i.exec(s);
  if (!m) return undefined;
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2]!.toLowerCase() as "s"]!;
  return Math.round(Number(m[1]) * unit);
}

/** The size limit: KHARNESS_CACHE_MAX (e.g. 20G; 0 = no limit) or the default. Throws on an unreadable value. */
export function cacheMaxBytes(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.KHARNESS_CACHE_MAX;
  if (v === undefined || v === "") return DEFAULT_CACHE_MAX;
  const n = parseSize(v);
  if (n === undefined) throw new UsageError(`KHARNESS_CACHE_MAX=${v}: not a size`, { fix: "use e.g. KHARNESS_CACHE_MAX=20G, 512M, or 0 for no limit" });
  return n === 0 ? undefined : n;
}
