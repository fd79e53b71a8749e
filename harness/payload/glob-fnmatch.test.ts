// Process level: the host's glob matching (select.ts) agrees with glibc's fnmatch(3) with flags 0, which is
// what the selftest framework (selftests/kh_test.c) applies to the globs --tests passes it. A disagreement
// would make the host validate or report one set of cases while the guest runs another.
import t from "tap";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { tempDir } from "../../test/support/cli-run.js";
import { compileGlob } from "./select.js";

const C = `#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
/* stdin: PATTERN TAB NAME per line; stdout: fnmatch(PATTERN, NAME, 0) per line (0 = match). */
int main(void) {
	char line[4096];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\\n")] = 0;
		char *tab = strchr(line, '\\t');
		if (!tab) return 2;
		*tab = 0;
		printf("%d\\n", fnmatch(line, tab + 1, 0));
	}
	return 0;
}
`;

const NAMES = [
  "net_tcp.tcp.ipv4_tcp.bind_denied_without_rule",
  "tcp.ipv4_tcp.bind_denied_without_rule",
  "net_abi.ruleset.empty_enomsg",
  "a.b",
  "axb",
  "a]b",
  "a-b",
  "a[b",
  "a*b",
  "a\\b",
  "A9",
  "net_abi",
  "x",
  "",
];
const PATTERNS = [
  "*",
  "net_*",
  "net_tcp.tcp.ipv4*.bind_*",
  "tcp.*",
  "*.bind_*",
  "a?b",
  "a.b",
  "a[.x]b",
  "a[!.]b",
  "a[^.]b",
  "a[]]b",
  "a[]-]b",
  "a[-]b",
  "a[a-c]b",
  "a[[:punct:]]b",
  "[[:upper:]][[:digit:]]",
  "[[:alpha:]]*",
  "a\\*b",
  "a\\\\b",
  "a[b",
  "a[\\]]b",
  "net_ab?",
  "*_enomsg",
  "?",
];

t.test("select.ts matches exactly where glibc fnmatch(pattern, name, 0) matches", async (t) => {
  const dir = tempDir("kh-fnmatch-");
  const src = path.join(dir, "fnmatch.c");
  writeFileSync(src, C);
  execFileSync("gcc", ["-O1", "-o", path.join(dir, "fnmatch"), src]);
  const pairs = PATTERNS.flatMap((p) => NAMES.map((n) => [p, n] as const));
  const out = execFileSync(path.join(dir, "fnmatch"), { input: pairs.map(([p, n]) => `${p}\t${n}`).join("\n") + "\n", encoding: "utf8" })
    .trim()
    .split("\n");
  t.equal(out.length, pairs.length);
  const disagree: string[] = [];
  for (const p of PATTERNS) t.ok(compileGlob(p).ok, `${p} is a valid glob`);
  pairs.forEach(([p, n], i) => {
    const g = compileGlob(p);
    const ours = g.ok && g.test(n);
    const libc = out[i] === "0";
    if (ours !== libc) disagree.push(`fnmatch(${JSON.stringify(p)}, ${JSON.stringify(n)}): glibc ${libc}, ours ${ours}`);
  });
  t.same(disagree, [], `${pairs.length} pairs compared`);
});
