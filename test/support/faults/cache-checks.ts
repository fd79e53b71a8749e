// Test helper: what a cache directory must never hold after a failed, interrupted or concurrent run.

import { readdirSync, statSync } from "node:fs";
import * as path from "node:path";

/** Every path under dir (files and directories), relative. */
function walk(dir: string, rel = ""): string[] {
  let out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = path.join(rel, e.name);
    out.push(p);
    if (e.isDirectory()) out = out.concat(walk(dir, p));
  }
  return out;
}

/** Problems with a cache after a failed run: temp names, locks, entries without their completion mark. */
export function cacheProblems(cache: string): string[] {
  const all = walk(cache);
  const bad = all.filter((p) => /\.tmp-|\.lock$/.test(p));
  for (const top of ["kernels", "selftests", "vm", "sources"]) {
    const dir = path.join(cache, top);
    const entries = (() => {
      try {
        return readdirSync(dir);
      } catch {
        return [];
      }
    })();
    for (const e of entries) {
      if (statSync(path.join(dir, e)).isDirectory() && !all.includes(path.join(top, e, ".complete"))) bad.push(`${top}/${e} (no .complete)`);
    }
  }
  const work = path.join(cache, "work");
  if (all.some((p) => p.startsWith("work/"))) bad.push(`work/ not empty: ${readdirSync(work).join(" ")}`);
  return bad;
}
