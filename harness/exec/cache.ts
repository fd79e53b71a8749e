// Cache location, atomic writes, cache entries published by rename, and cross-process locks.

import { createHash } from "node:crypto";
import { promises as fs, constants as fsc } from "node:fs";
import * as path from "node:path";
import { InfraError, UsageError } from "../errors.js";

export { cacheRoot } from "./cache-root.js";

export function sha256(...parts: (string | Buffer)[]): string {
  const h = createHash("sha256");
  for (const p of parts) {
    h.update(p);
    h.update("\0");
  }
  return h.digest("hex");
}

function tempName(p: string): string {
  return `${p}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Writes a file via temp name + rename so readers never see half a file. */
export async function writeFileAtomic(file: string, data: string | Buffer, mode?: number): Promise<void> {
  const tmp = tempName(file);
  try {
    await fs.writeFile(tmp, data, { mode });
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOSPC")
      throw new InfraError(`no space left on device while writing ${file}`, {
        fix: "free disk space, or point --out / $KHARNESS_CACHE at a larger disk",
        cause: e,
      });
    if (code === "EACCES" || code === "EROFS")
      throw new UsageError(`cannot write ${file}: ${code}`, { fix: "choose a writable directory with --out (or $KHARNESS_CACHE)", cause: e });
    throw e;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Fills a cache directory exactly once: `fill` writes into a private temp directory that is renamed into
 * place only when complete, so an interrupted or failed fill leaves no half-written entry.
 * Returns whether the entry already existed.
 */
export async function ensureCacheEntry(dir: string, fill: (tmpDir: string) => Promise<void>): Promise<{ hit: boolean }> {
  if (await exists(path.join(dir, ".complete"))) return { hit: true };
  await fs.mkdir(path.dirname(dir), { recursive: true });
  return withLock(`${dir}.lock`, async () => {
    if (await exists(path.join(dir, ".complete"))) return { hit: true };
    const tmp = tempName(dir);
    await fs.mkdir(tmp, { recursive: true });
    try {
      await fill(tmp);
      await fs.writeFile(path.join(tmp, ".complete"), new Date().toISOString());
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rename(tmp, dir);
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    }
    return { hit: false };
  });
}

/** The first n bytes of a file (fewer if it is shorter): enough to tell what kind of file it is. */
export async function readHead(file: string, n: number): Promise<Buffer> {
  const fh = await fs.open(file, "r");
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * True when a process with this pid exists (signal 0 reaches it, or it exists but belongs to another
 * user: EPERM). A zombie still exists here. The one "is this process alive" check of the product
 * (stale lock owners, stale build directories); test support adds the zombie rule on top.
 */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs fn while holding an exclusive lock file (O_EXCL). A lock whose owner process is gone is stale and
 * taken over. Waits (polling) while another live process holds it.
 */
export async function withLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  opts: { signal?: AbortSignal; onWait?: (ownerPid: number) => void } = {},
): Promise<T> {
  await fs.mkdir(path.dirname(lockPath), { recursive: true });
  let told = false;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      const fh = await fs.open(lockPath, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o644);
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = Number.parseInt(await fs.readFile(lockPath, "utf8").catch(() => ""), 10);
      if (Number.isFinite(owner) && owner > 0 && !processAlive(owner)) {
        // Stale: its owner died. Remove it only if it is still the same stale file.
        const again = await fs.readFile(lockPath, "utf8").catch(() => "");
        if (again === String(owner)) await fs.rm(lockPath, { force: true });
        continue;
      }
      if (!told && Number.isFinite(owner)) {
        opts.onWait?.(owner);
        told = true;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockPath, { force: true });
  }
}
