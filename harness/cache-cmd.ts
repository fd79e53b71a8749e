// `kharness cache list|prune`: what the kernel build cache holds (built kernels and kept build
// directories), and removing entries by size limit, age, or all of them. Entries a running build holds
// (its lock) are never removed.

import { UsageError } from "./errors.js";
import { cacheMaxBytes, DEFAULT_CACHE_MAX, evict, listCacheItems, parseAge, parseSize, type CacheItem } from "./kernel/tree-build.js";

export interface CacheCommand {
  action: "list" | "prune";
  json: boolean;
  maxSize?: string;
  olderThan?: string;
  all: boolean;
}

/** 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** One line per item: kind, key, size, last use, then what it is (tree, patches, config). */
export function formatItems(items: readonly CacheItem[], now: number): string[] {
  const lines: string[] = [];
  for (const i of items) {
    lines.push(`${i.kind.padEnd(9)} ${i.key.slice(0, 12)}  ${formatBytes(i.sizeBytes).padStart(10)}  ${ago(i.lastUsedMs, now).padStart(8)}  ${i.treeDir}`);
    lines.push(`          tree ${i.tree}; config ${i.config}`);
    lines.push(`          ${i.patches.length ? `${i.patches.length} patches: ${i.patches.join(" | ")}` : "no patches"}`);
  }
  return lines;
}

const total = (items: readonly CacheItem[]) => items.reduce((s, i) => s + i.sizeBytes, 0);

/** Runs the command; writes to out. Throws UsageError (exit 2) for an unreadable size or age. */
export async function runCacheCommand(cmd: CacheCommand, root: string, out: { write(s: string): unknown }): Promise<number> {
  const now = Date.now();
  const limit = cacheMaxBytes();
  if (cmd.action === "list") {
    const items = await listCacheItems(root);
    if (cmd.json) {
      out.write(`${JSON.stringify({ cacheRoot: root, limitBytes: limit ?? null, totalBytes: total(items), items }, null, 2)}\n`);
      return 0;
    }
    for (const l of formatItems(items, now)) out.write(`${l}\n`);
    out.write(
      `${items.length} entries, ${formatBytes(total(items))} in ${root} (limit ${limit === undefined ? "none" : formatBytes(limit)}: KHARNESS_CACHE_MAX, default ${formatBytes(DEFAULT_CACHE_MAX)})\n`,
    );
    return 0;
  }
  const maxBytes = cmd.maxSize === undefined ? undefined : parseSize(cmd.maxSize);
  if (cmd.maxSize !== undefined && maxBytes === undefined)
    throw new UsageError(`--max-size ${cmd.maxSize}: not a size`, { fix: "give bytes with an optional unit, e.g. --max-size 10G or 500M" });
  const olderThanMs = cmd.olderThan === undefined ? undefined : parseAge(cmd.olderThan);
  if (cmd.olderThan !== undefined && olderThanMs === undefined)
    throw new UsageError(`--older-than ${cmd.olderThan}: not an age`, { fix: "give a number and a unit s, m, h, d or w, e.g. --older-than 7d" });
  // No option: bring the cache down to its configured limit.
  const byLimit = maxBytes === undefined && olderThanMs === undefined && !cmd.all ? limit : maxBytes;
  const { removed, kept } = await evict(root, { maxBytes: byLimit, olderThanMs, all: cmd.all, nowMs: now });
  if (cmd.json) {
    out.write(`${JSON.stringify({ cacheRoot: root, removed, keptBytes: total(kept) }, null, 2)}\n`);
    return 0;
  }
  for (const [n, l] of formatItems(removed, now).entries()) out.write(`${n % 3 === 0 ? "removed " : "        "}${l}\n`);
  out.write(`removed ${removed.length} entries (${formatBytes(total(removed))}); ${kept.length} remain, ${formatBytes(total(kept))}\n`);
  return 0;
}
