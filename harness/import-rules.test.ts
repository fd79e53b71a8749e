// The import rules of docs/architecture.md hold on the real tree, except for a listed set of known
// violations that may only shrink; the checker itself is proven to catch each kind of violation.
import t from "tap";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { checkImports, findImports, formatViolation, matchesGlob, RULES, staleRulePaths, type SourceText } from "../test/support/import-rules.js";
import { REPO_ROOT as root } from "./repo-root.js";

/** Every TypeScript file the rules cover, read from the work tree. */
function readTree(): SourceText[] {
  return readdirSync(path.join(root, "harness"), { recursive: true, encoding: "utf8" })
    .map((rel) => `harness/${rel.split(path.sep).join("/")}`)
    .filter((p) => p.endsWith(".ts") && RULES.scanned.some((g) => matchesGlob(p, g)))
    .sort()
    .map((p) => ({ path: p, text: readFileSync(path.join(root, p), "utf8") }));
}

/**
 * Violations the tree is allowed to keep for now, each to be fixed by the owner of the importing file. The
 * list is empty: the tree follows every rule, and a new violation fails this test.
 */
const KNOWN_VIOLATIONS: string[] = [];

t.test("the real tree breaks the import rules exactly where the known list says", async (t) => {
  const found = checkImports(readTree()).map(formatViolation);
  const added = found.filter((v) => !KNOWN_VIOLATIONS.includes(v));
  const fixed = KNOWN_VIOLATIONS.filter((v) => !found.includes(v));
  t.same(added, [], `new violations (fix the import, see docs/architecture.md "Import rules"):\n${added.join("\n")}`);
  t.same(fixed, [], `fixed violations: delete them from KNOWN_VIOLATIONS in ${path.relative(root, fileURLToPath(import.meta.url))}:\n${fixed.join("\n")}`);
});

t.test("every path the rules name exists, so a rename cannot switch a rule off silently", async (t) => {
  t.same(staleRulePaths(readTree()), [], "update RULES in test/support/import-rules.ts when files move");
});

/** A small tree that keeps every rule, so each planted import below is the only violation. */
const CLEAN: SourceText[] = [
  { path: "harness/types.ts", text: "export type Status = 'PASS';\n" },
  { path: "harness/errors.ts", text: "export class UsageError extends Error {}\n" },
  { path: "harness/exec/exec.ts", text: "import { execa } from 'execa';\nexport const run = execa;\n" },
  { path: "harness/exec/cache.ts", text: "import { promises as fs } from 'node:fs';\nexport const read = fs.readFile;\n" },
  { path: "test/support/procs.ts", text: "import { readdirSync } from 'node:fs';\nexport const procs = () => readdirSync('/proc');\n" },
  { path: "harness/results/index.ts", text: "export { summarize } from './summary.js';\n" },
  {
    path: "harness/results/summary.ts",
    text: "import type { Status } from '../types.js';\nimport * as path from 'node:path';\nexport const summarize = (s: Status) => path.join(s);\n",
  },
  { path: "harness/report/index.ts", text: "import { summarize } from '../results/index.js';\nexport const render = summarize;\n" },
  {
    path: "harness/kernel/tree-build.ts",
    text: "import { run } from '../exec/exec.js';\nimport { read } from '../exec/cache.js';\nexport const build = [run, read];\n",
  },
  { path: "harness/kernel/kbuild.ts", text: "export const make = 1;\n" },
  { path: "harness/qemu/argv.ts", text: "// Pure QEMU argv builder.\nimport type { Exec } from '../exec/exec.js';\nexport const argv = (e?: Exec) => [e];\n" },
  { path: "harness/qemu/boot.ts", text: "import { argv } from './argv.js';\nexport const boot = argv;\n" },
  { path: "harness/doctor.ts", text: "import { boot } from './qemu/boot.js';\nexport const doctor = boot;\n" },
  {
    path: "harness/pipeline.ts",
    text: "import { build } from './kernel/tree-build.js';\nimport { boot } from './qemu/boot.js';\nimport { render } from './report/index.js';\nexport const run = [build, boot, render];\n",
  },
  { path: "harness/cli.ts", text: "import { doctor } from './doctor.js';\nimport { run } from './pipeline.js';\nexport const main = [doctor, run];\n" },
  { path: "test/support/cli-run.ts", text: "import { spawn } from 'node:child_process';\nexport const runCli = spawn;\n" },
  {
    path: "harness/kernel/tree-build.test.ts",
    text: "import { make } from './kbuild.js';\nimport { summarize } from '../results/summary.js';\nimport { runCli } from '../../test/support/cli-run.js';\nimport { doctor } from '../doctor.js';\nimport { execFileSync } from 'node:child_process';\nconsole.log(make, summarize, runCli, doctor, execFileSync);\n",
  },
];
const TEST_RULES = { ...RULES, stages: RULES.stages.map((s) => ({ ...s, api: s.dir === "harness/kernel" ? ["harness/kernel/tree-build.ts"] : s.api })) };

/** The violations of CLEAN with one file added or replaced. */
function plant(path: string, text: string): string[] {
  return checkImports([...CLEAN.filter((f) => f.path !== path), { path, text }], TEST_RULES).map(formatViolation);
}

t.test("the checker fails on planted violations, one rule at a time", async (t) => {
  t.same(checkImports(CLEAN, TEST_RULES).map(formatViolation), [], "the clean tree (tests and test support may reach anywhere) passes");
  t.same(
    plant("harness/results/lines.ts", "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n"),
    ["pure-imports-system: harness/results/lines.ts -> node:fs"],
    "a pure module importing node:fs",
  );
  t.same(
    plant("harness/report/json.ts", "import * as os from 'os';\nexport const x = os;\n"),
    ["pure-imports-system: harness/report/json.ts -> node:os"],
    "a bare builtin name is the node: one",
  );
  t.same(
    plant("harness/kconfig/merge.ts", "export async function load() { return import('node:fs/promises'); }\n"),
    ["pure-imports-system: harness/kconfig/merge.ts -> node:fs"],
    "a dynamic import() counts",
  );
  t.same(
    plant("harness/qemu/argv.ts", "import { read } from '../exec/cache.js';\nexport const argv = read;\n"),
    ["pure-imports-system: harness/qemu/argv.ts -> harness/exec/cache.ts (via node:fs)"],
    "importing a module that touches the system counts, with the chain",
  );
  t.same(
    plant("harness/kernel/bzimage.ts", "// Pure: tell what a kernel image is.\nexport { build } from './tree-build.js';\n"),
    ["pure-imports-system: harness/kernel/bzimage.ts -> harness/kernel/tree-build.ts (via harness/exec/exec.ts -> execa)"],
    "a file whose header says Pure is held to it, and export-from counts",
  );
  t.same(
    plant("harness/results/summary.ts", "import type { Exec } from '../exec/exec.js';\nexport type { Exec };\nexport const summarize = 1;\n"),
    [],
    "a type-only import is erased, so it keeps a module pure",
  );
  t.same(
    plant("harness/kernel/kbuild.ts", "import { execa } from 'execa';\nexport const make = execa;\n"),
    ["spawn-outside-exec: harness/kernel/kbuild.ts -> execa"],
    "execa outside exec/",
  );
  t.same(
    plant("harness/qemu/boot.ts", "import { spawn } from 'child_process';\nexport const boot = spawn;\n"),
    ["spawn-outside-exec: harness/qemu/boot.ts -> node:child_process"],
    "child_process outside exec/",
  );
  t.same(
    plant("harness/pipeline.ts", "import { make } from './kernel/kbuild.js';\nexport const run = make;\n"),
    ["stage-internals: harness/pipeline.ts -> harness/kernel/kbuild.ts"],
    "a file outside the kernel stage importing one of its internals",
  );
  t.same(
    plant("harness/report/index.ts", "export { summarize as render } from '../results/summary.js';\n"),
    ["stage-internals: harness/report/index.ts -> harness/results/summary.ts"],
    "a stage re-exporting another stage's internals",
  );
  t.same(plant("harness/kernel/tree-build.ts", "export { make as build } from './kbuild.js';\n"), [], "a stage reaches its own internals");
  t.same(
    plant("harness/cli.ts", "import { runCli } from '../test/support/cli-run.js';\nexport const main = runCli;\n"),
    ["product-imports-test-support: harness/cli.ts -> test/support/cli-run.ts"],
    "the CLI importing a test helper",
  );
  t.same(
    plant("harness/exec/cache.ts", "import type { Procs } from '../../test/support/procs.js';\nexport type { Procs };\n"),
    ["product-imports-test-support: harness/exec/cache.ts -> test/support/procs.ts"],
    "even a type-only import of test support",
  );
  t.same(
    plant("harness/pipeline.ts", "import { x } from './kernel/tree-build.test.js';\nexport const run = x;\n"),
    ["product-imports-test-support: harness/pipeline.ts -> harness/kernel/tree-build.test.ts"],
    "the pipeline importing a test file",
  );
  t.same(
    plant("harness/pipeline.ts", "import { y } from '../test/support/fixtures.js';\nexport const run = y;\n"),
    ["product-imports-test-support: harness/pipeline.ts -> test/support/fixtures.ts"],
    "anything under test/",
  );
  t.same(
    plant("harness/pipeline.ts", "import { doctor } from './doctor.js';\nexport const run = doctor;\n"),
    ["subcommand-import: harness/pipeline.ts -> harness/doctor.ts"],
    "the pipeline importing a subcommand",
  );
  t.same(
    plant("harness/pipeline.ts", "import { gone } from './kernel/gone.js';\nexport const run = gone;\n"),
    ["unresolved-import: harness/pipeline.ts -> harness/kernel/gone.ts"],
    "an import of a file that does not exist",
  );
  t.same(
    plant("harness/pipeline.ts", "export const load = (m: string) => import(m);\n"),
    ["computed-dynamic-import: harness/pipeline.ts -> import(<computed>)"],
    "an import() whose target cannot be read",
  );
});

t.test("a violation planted in the real tree is reported on top of the tree's own", async (t) => {
  const real = readTree();
  const before = checkImports(real).map(formatViolation);
  const planted = { path: "harness/results/planted.ts", text: "import { statSync } from 'node:fs';\nexport const planted = statSync;\n" };
  const after = checkImports([...real, planted]).map(formatViolation);
  t.same(
    after.filter((v) => !before.includes(v)),
    ["pure-imports-system: harness/results/planted.ts -> node:fs"],
    "exactly the planted one is new",
  );
});

t.test("findImports reads every form of import and tells type-only ones apart", async (t) => {
  const refs = findImports(
    "x.ts",
    [
      "import type { A } from 'a';",
      "import { type B, C } from 'b';",
      "import { type D } from 'd';",
      "export * from 'e';",
      "export type { F } from 'f';",
      "const g = await import('g');",
      "let h: import('h').T;",
      "import 'i';",
      "import j = require('j');",
    ].join("\n"),
  );
  t.same(
    refs.map((r) => [r.specifier, r.typeOnly, r.dynamic, r.line]),
    [
      ["a", true, false, 1],
      ["b", false, false, 2],
      ["d", true, false, 3],
      ["e", false, false, 4],
      ["f", true, false, 5],
      ["g", false, true, 6],
      ["h", true, false, 7],
      ["i", false, false, 8],
      ["j", false, false, 9],
    ],
    "specifier, type-only, dynamic, line",
  );
});
