// `kharness list`: the bundled selftest programs and their cases (each binary's --list, run on the host).

import type { Exec } from "./exec/exec.js";
import { listBundledCatalog } from "./payload/payload.js";

/** Prints programs and cases; the binaries are static and --list touches no kernel feature. */
export async function listSelftests(exec: Exec, repoRoot: string, cacheRoot: string, json: boolean, out: NodeJS.WritableStream): Promise<void> {
  const listing = await listBundledCatalog({ exec, cacheRoot, repoRoot });
  if (json) {
    out.write(JSON.stringify(listing, null, 2) + "\n");
    return;
  }
  let total = 0;
  const lines: string[] = [];
  for (const { program, cases } of listing) {
    lines.push(`${program} (${cases.length} cases)`);
    for (const c of cases) lines.push(`  ${program}.${c}`);
    total += cases.length;
  }
  lines.push(`${listing.length} programs, ${total} cases`);
  out.write(lines.join("\n") + "\n");
}
