// A tool's `--version` line, remembered in the cache beside the binary's identity (path, inode, size, mtime), so a
// warm run asks the file system instead of starting gcc or QEMU once more (issue 16: start nothing not needed).

import { promises as fs, constants as fsc } from "node:fs";
import * as path from "node:path";
import { sha256, writeFileAtomic } from "./cache.js";
import { firstLineOf, type Exec } from "./exec.js";

/** What identifies one binary on disk: a replaced or upgraded binary changes at least one of these. */
interface BinaryIdentity {
  path: string;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** The file `name` runs: itself when it holds a slash, else the first executable of that name on PATH. */
export async function resolveOnPath(name: string, envPath: string = process.env.PATH ?? ""): Promise<string | undefined> {
  if (name.includes("/")) return path.resolve(name);
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      await fs.access(candidate, fsc.X_OK);
      const st = await fs.stat(candidate);
      if (st.isFile()) return candidate;
    } catch {
      // not here: the next PATH entry
    }
  }
  return undefined;
}

async function identityOf(binary: string): Promise<BinaryIdentity | undefined> {
  const resolved = await resolveOnPath(binary);
  if (!resolved) return undefined;
  try {
    // realpath: a symlink (Debian's alternatives) retargeted to another version is another binary.
    const real = await fs.realpath(resolved);
    const st = await fs.stat(real);
    return { path: real, dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return undefined;
  }
}

function sameIdentity(a: BinaryIdentity, b: BinaryIdentity): boolean {
  return a.path === b.path && a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/**
 * The first line of `binary --version` (undefined when it does not run or fails), from <cacheRoot>/tools/ when the
 * binary on disk is the one that answered last time; otherwise the binary is asked and the answer kept. A failure
 * is never kept, so a tool installed later is seen at once.
 */
export async function cachedVersionLine(exec: Exec, binary: string, cacheRoot: string): Promise<string | undefined> {
  const id = await identityOf(binary);
  // Not on PATH as far as we can tell: let the spawn say what happens (it reports the failure the usual way).
  if (!id) return firstLineOf(exec, [binary, "--version"]);
  const file = path.join(cacheRoot, "tools", `${sha256(binary, id.path).slice(0, 24)}.json`);
  try {
    const kept = JSON.parse(await fs.readFile(file, "utf8")) as { identity: BinaryIdentity; versionLine: string };
    if (typeof kept.versionLine === "string" && kept.identity && sameIdentity(kept.identity, id)) return kept.versionLine;
  } catch {
    // no entry yet, or a torn one: ask the binary
  }
  const line = await firstLineOf(exec, [binary, "--version"]);
  if (line !== undefined) {
    await fs.mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, `${JSON.stringify({ identity: id, versionLine: line })}\n`).catch(() => undefined);
  }
  return line;
}
