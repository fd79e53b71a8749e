// Pure: choose bundled selftest programs by glob; an unknown glob is an error listing what exists.

import { UsageError } from "../errors.js";

/** Converts a shell-style glob (* ? [..]) into an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/**
 * Programs matching any glob, in bundled order. A glob may also name a case inside a program
 * ("net_tcp.*"): the program part before the first dot selects the program.
 */
export function selectPrograms(available: readonly string[], globs: readonly string[]): string[] {
  if (globs.length === 0) return [...available];
  const unknown: string[] = [];
  const chosen = new Set<string>();
  for (const g of globs) {
    const programGlob = g.split(".")[0] ?? g;
    const re = globToRegExp(programGlob);
    const hits = available.filter((p) => re.test(p));
    if (hits.length === 0) unknown.push(g);
    for (const h of hits) chosen.add(h);
  }
  if (unknown.length) {
    throw new UsageError(`--tests ${unknown.join(" ")}: no bundled selftest matches`, { fix: `choose from: ${available.join(", ")} (globs like 'net_*' work; \`kharness list\` shows the cases)`, untestable: false });
  }
  return available.filter((p) => chosen.has(p));
}
