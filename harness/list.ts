// `kharness list`: the bundled selftest programs and their cases (each binary's --list, run on the host).

import * as path from "node:path";
import type { Exec } from "./exec/exec.js";
import { runChecked } from "./exec/exec.js";
import { compileBundledSelftests, listBundledPrograms } from "./payload/payload.js";

/** Prints programs and cases; the binaries are static and --list touches no kernel feature. */
export async function listSelftests(exec: Exec, repoRoot: string, cacheRoot: string, json: boolean, out: NodeJS.WritableStream): Promise<void> {
  const [dir, programs] = await Promise.all([compileBundledSelftests({ exec, cacheRoot, repoRoot }), listBundledPrograms(exec, repoRoot)]);
  const listing: { program: string; cases: string[] }[] = [];
  for (const p of programs) {
    const res = await runChecked(exec, [path.join(dir, p), "--list"], { what: `${p} --list` });
    listing.push({ program: p, cases: res.stdout.split("\n").map((s) => s.trim()).filter(Boolean) });
  }
  if (json) {
    out.write(JSON.stringify(listing, null, 2) + "\n");
    return;
  }
  let total = 0;
  for (const { program, cases } of listing) {
    out.write(`${program} (${cases.length} cases)\n`);
    for (const c of cases) out.write(`  ${program}.${c}\n`);
    total += cases.length;
  }
  out.write(`${listing.length} programs, ${total} cases\n`);
}
