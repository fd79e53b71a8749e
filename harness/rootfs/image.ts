// Debian root filesystem images (issue 15): a base image built once with mmdebstrap (a directory tree ->
// ext4 with `mke2fs -d` -> qcow2 with `qemu-img convert`), cached under a key of suite, architecture, mirror
// and package list, built under a lock into a private directory and published by rename; and the checks a
// user's own image (--rootfs IMAGE) goes through before a run boots from an overlay of it.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { InfraError, KharnessError, UsageError } from "../errors.js";
import { ensureCacheEntry, exists, processAlive, sha256 } from "../exec/cache.js";
import type { Exec } from "../exec/exec.js";
import type { ProgressSink } from "../types.js";

/** What a base image needs kselftests and test scripts commonly use: a real shell, iproute2, python3, ping, ps. */
export const DEFAULT_PACKAGES: readonly string[] = ["bash", "iproute2", "python3", "procps", "iputils-ping", "ethtool", "kmod", "psmisc"];
export const DEFAULT_SUITE = "bookworm";
export const DEFAULT_MIRROR = "http://deb.debian.org/debian";
/** Bumped when the way an image is made changes, so old entries are not reused. */
const FORMAT_VERSION = "rootfs-v2";
/** Free room in the ext4 file system beyond what the tree takes (the image is sparse; qcow2 stores only what is written). */
const HEADROOM_BYTES = 2 * 1024 * 1024 * 1024;

/** The image's file listing beside base.qcow2 (harness/rootfs/listing.ts reads it). */
export const LISTING = "files.txt";

export interface RootfsSpec {
  suite: string;
  /** Debian's architecture name (amd64). */
  arch: string;
  packages: string[];
  mirror: string;
}

/** What a built base image records about itself (meta.json beside base.qcow2). */
export interface RootfsMeta extends RootfsSpec {
  key: string;
  builtAt: string;
  buildMs: number;
  /** The ext4 file system's size in bytes (the qcow2's virtual size). */
  virtualBytes: number;
}

export interface RootfsEntry {
  dir: string;
  image: string;
  meta: RootfsMeta;
  sizeBytes: number;
}

/** Debian's name of a kharness architecture. */
export function debianArch(arch: string): string {
  const map: Record<string, string> = { x86_64: "amd64", aarch64: "arm64" };
  const a = map[arch];
  if (!a) throw new UsageError(`--rootfs: no Debian architecture known for ${arch}`, { fix: "pass your own image with --rootfs IMAGE" });
  return a;
}

/** "bash,python3 iproute2" -> sorted unique names; each checked against Debian's package name rules. */
export function parsePackageList(text: string): string[] {
  const names = text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names)
    if (!/^[a-z0-9][a-z0-9+.-]+$/.test(n))
      throw new UsageError(`--packages: '${n}' is not a Debian package name`, {
        fix: "pass names such as bash,iproute2,python3 (lower case, comma separated)",
      });
  return [...new Set(names)].sort();
}

/** The cache key of a base image: everything that changes what it holds. */
export function rootfsKey(spec: RootfsSpec): string {
  return sha256(FORMAT_VERSION, spec.suite, spec.arch, spec.mirror, [...spec.packages].sort().join(",")).slice(0, 16);
}

export function rootfsDir(cacheRoot: string): string {
  return path.join(cacheRoot, "rootfs");
}

/** The base image for a spec, built when it is not in the cache yet (under a lock, published whole). */
export async function ensureBaseImage(
  spec: RootfsSpec,
  deps: { exec: Exec; cacheRoot: string; signal?: AbortSignal; onProgress?: ProgressSink },
): Promise<{ image: string; meta: RootfsMeta; built: boolean }> {
  const key = rootfsKey(spec);
  const dir = path.join(rootfsDir(deps.cacheRoot), key);
  const image = path.join(dir, "base.qcow2");
  const { hit } = await ensureCacheEntry(dir, async (tmp) => {
    deps.onProgress?.({
      kind: "info",
      message: `building the ${spec.suite} ${spec.arch} root filesystem image (${spec.packages.join(",")}): once, then cached`,
    });
    const started = Date.now();
    const meta = await buildInto(tmp, spec, deps);
    await fs.writeFile(path.join(tmp, "meta.json"), `${JSON.stringify({ ...meta, key, buildMs: Date.now() - started }, null, 2)}\n`);
  });
  const meta = JSON.parse(await fs.readFile(path.join(dir, "meta.json"), "utf8")) as RootfsMeta;
  return { image, meta, built: !hit };
}

/** Runs a build tool; a failure becomes an error naming the step, with the archive and disk cases told apart. */
async function step(exec: Exec, argv: string[], what: string, spec: RootfsSpec, signal?: AbortSignal): Promise<void> {
  const res = await exec.run(argv, { signal, tailLines: 60 });
  if (res.aborted) throw new KharnessError("infra", `${what}: interrupted`, { untestable: false });
  if (res.exitCode === 0) return;
  const tail = res.tail.join("\n");
  if (/No space left on device/i.test(tail))
    throw new InfraError(`${what}: no space left on device`, { fix: "free disk space, or point $KHARNESS_CACHE at a larger disk", tail: res.tail.slice(-10) });
  if (/Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect|Network is unreachable|Connection refused/i.test(tail))
    throw new InfraError(`${what}: cannot reach the package archive ${spec.mirror}`, {
      fix: "check the network (or a proxy in http_proxy), or pass --mirror URL of a reachable Debian mirror",
      tail: res.tail.slice(-10),
    });
  if (/Unable to locate package|has no installation candidate|E: Package .* not found/i.test(tail))
    throw new UsageError(`${what}: a package of --packages ${spec.packages.join(",")} is not in ${spec.suite}`, {
      fix: "check the names with apt-cache search, or leave --packages out for the default list",
    });
  if (res.exitCode === undefined && /ENOENT|not found/i.test(tail))
    throw new InfraError(`${what}: ${argv[0]} is not installed`, { fix: "run `npm run setup` (installs mmdebstrap, e2fsprogs and qemu-utils)" });
  throw new InfraError(`${what} failed (exit ${res.exitCode ?? res.signal})`, { tail: res.tail.slice(-20), fix: "see the output above" });
}

async function treeBytes(exec: Exec, dir: string): Promise<number> {
  const res = await exec.run(["du", "-sxb", dir]);
  return Number.parseInt(res.stdout, 10) || 0;
}

/** mmdebstrap -> ext4 (mke2fs -d, no mounts) -> qcow2; only base.qcow2 stays in dir. */
async function buildInto(dir: string, spec: RootfsSpec, deps: { exec: Exec; signal?: AbortSignal }): Promise<Omit<RootfsMeta, "key" | "buildMs">> {
  const tree = path.join(dir, "tree");
  const tar = path.join(dir, "root.tar");
  const raw = path.join(dir, "root.ext4");
  if (typeof process.getuid === "function" && process.getuid() !== 0)
    throw new UsageError("rootfs build: building a Debian image needs root (mmdebstrap's root mode keeps the files' owners for mke2fs)", {
      fix: "run `kharness rootfs build` once as root (the image is cached in $KHARNESS_CACHE), or pass your own image with --rootfs IMAGE",
    });
  await step(
    deps.exec,
    [
      "mmdebstrap",
      "--mode=root",
      "--variant=minbase",
      `--architectures=${spec.arch}`,
      `--include=${spec.packages.join(",")}`,
      // No documentation or locales: they are most of a minimal system's size and no test reads them.
      "--dpkgopt=path-exclude=/usr/share/{doc,man,info,locale}/*",
      "--dpkgopt=path-include=/usr/share/locale/locale.alias",
      spec.suite,
      // A tarball, not a directory: mmdebstrap then mounts /proc, /sys and /dev only in its own temp directory
      // (and cleans it up itself), so removing a failed build's directory never reaches into a mount.
      tar,
      spec.mirror,
    ],
    "rootfs build (mmdebstrap)",
    spec,
    deps.signal,
  );
  await fs.mkdir(tree);
  await step(deps.exec, ["tar", "-C", tree, "--numeric-owner", "-xpf", tar], "rootfs build (unpacking the tarball)", spec, deps.signal);
  await fs.rm(tar, { force: true });
  // What the image holds, for checking a --program's interpreter without opening the image (listing.ts).
  await step(
    deps.exec,
    ["sh", "-c", `find "$1" -mindepth 1 -printf '%y\t%P\t%l\n' > "$2"`, "sh", tree, path.join(dir, LISTING)],
    "rootfs build (listing the files)",
    spec,
    deps.signal,
  );
  // The guest runs programs chrooted here: init bind-mounts its /kharness over this empty directory.
  await fs.mkdir(path.join(tree, "kharness"), { recursive: true });
  const used = await treeBytes(deps.exec, tree);
  const virtualBytes = Math.ceil((used * 1.2 + HEADROOM_BYTES) / (1024 * 1024)) * 1024 * 1024;
  await fs.writeFile(raw, "");
  await fs.truncate(raw, virtualBytes);
  await step(
    deps.exec,
    ["mke2fs", "-q", "-F", "-t", "ext4", "-L", "kharness-root", "-E", "root_owner=0:0", "-d", tree, raw, `${virtualBytes / 1024}k`],
    "rootfs build (mke2fs)",
    spec,
    deps.signal,
  );
  await fs.rm(tree, { recursive: true, force: true });
  await step(
    deps.exec,
    ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, path.join(dir, "base.qcow2")],
    "rootfs build (qemu-img convert)",
    spec,
    deps.signal,
  );
  await fs.rm(raw, { force: true });
  // Read-only on disk too: nothing of ours opens it for writing, and a mistake then fails loudly.
  await fs.chmod(path.join(dir, "base.qcow2"), 0o444);
  return { ...spec, builtAt: new Date().toISOString(), virtualBytes };
}

/** The base images in the cache, newest first; half-made ones (no .complete) are left out. */
export async function listBaseImages(cacheRoot: string): Promise<RootfsEntry[]> {
  const root = rootfsDir(cacheRoot);
  const names = await fs.readdir(root).catch(() => [] as string[]);
  const out: RootfsEntry[] = [];
  for (const n of names) {
    const dir = path.join(root, n);
    if (!(await exists(path.join(dir, ".complete")))) continue;
    const meta = JSON.parse(await fs.readFile(path.join(dir, "meta.json"), "utf8").catch(() => "null")) as RootfsMeta | null;
    if (!meta) continue;
    const image = path.join(dir, "base.qcow2");
    const st = await fs.stat(image).catch(() => undefined);
    if (!st) continue;
    out.push({ dir, image, meta, sizeBytes: st.blocks * 512 });
  }
  return out.sort((a, b) => b.meta.builtAt.localeCompare(a.meta.builtAt));
}

/**
 * Removes base images (all of them, or those not matching `keepKey`) and what interrupted builds left
 * (temp directories and locks of processes that are gone). An image a build holds the lock of is kept.
 */
export async function pruneBaseImages(cacheRoot: string, keepKey: string | undefined): Promise<{ removed: string[]; freedBytes: number }> {
  const root = rootfsDir(cacheRoot);
  const names = await fs.readdir(root).catch(() => [] as string[]);
  const removed: string[] = [];
  let freedBytes = 0;
  const entries = await listBaseImages(cacheRoot);
  for (const e of entries) {
    const key = path.basename(e.dir);
    if (key === keepKey || names.includes(`${key}.lock`)) continue;
    await fs.rm(e.dir, { recursive: true, force: true });
    removed.push(e.dir);
    freedBytes += e.sizeBytes;
  }
  for (const n of names) {
    const m = /\.tmp-(\d+)-/.exec(n);
    if (m && !processAlive(Number(m[1]))) {
      await fs.rm(path.join(root, n), { recursive: true, force: true });
      removed.push(path.join(root, n));
    }
  }
  return { removed, freedBytes };
}
