// Test support (not shipped): the import rules of docs/architecture.md as data, and a pure checker that
// reads TypeScript sources (import, export-from, dynamic import()) and lists every import that breaks them.

import ts from "typescript";

/** One source file, by its repository-relative path (forward slashes). */
export interface SourceText {
  path: string;
  text: string;
}

/** A stage directory and the files other code may import from it (its API). */
export interface StageApi {
  dir: string;
  api: string[];
}

/**
 * The rules, as data. Paths and globs are repository-relative; `**` spans directories, `*` does not.
 * When a file moves (a stage gaining an index.ts, a helper into test/support/), update the paths here.
 */
export interface ImportRules {
  /** Every file the rules look at (the product and the tests beside it). */
  scanned: string[];
  /** Test files: exempt from the product's rules. */
  tests: string[];
  /** Test support: may do anything a test does; the product never imports it. */
  testSupport: string[];
  /** Outside the product but not test support (scripts); the product never imports these either. */
  notProduct: string[];
  /** Pure modules by path; a product file whose header comment starts with `// Pure` is pure as well. */
  pure: string[];
  /** Built-in modules a pure module may import: they compute, they do not touch the system. */
  pureBuiltins: string[];
  /** Modules that start processes, and where they may be imported. */
  spawnModules: string[];
  spawnAllowed: string[];
  /** Stages and their APIs: code outside a stage imports only its API files. */
  stages: StageApi[];
  /** Subcommand modules, and the only product files that may import them. */
  subcommands: string[];
  subcommandImporters: string[];
}

/** The project's rules (docs/architecture.md, "Import rules"). */
export const RULES: ImportRules = {
  scanned: ["harness/**/*.ts"],
  tests: ["**/*.test.ts"],
  // All test support lives under test/ (test/support/ helpers, test/faults/ suites); testdata/ folders hold data.
  testSupport: ["**/testdata/**", "test/**"],
  notProduct: ["scripts/**", "bin/**", "selftests/**", "vm/**"],
  pure: [
    "harness/types.ts",
    "harness/errors.ts",
    "harness/kconfig/**",
    "harness/results/**",
    "harness/report/**",
    "harness/payload/cpio.ts",
    "harness/qemu/argv.ts",
    "harness/qemu/profiles.ts",
  ],
  // yaml (the npm package) only parses and prints text, so pure modules may use it (LAVA jobs and logs).
  pureBuiltins: ["node:path", "node:url", "node:util", "node:string_decoder", "node:buffer", "node:events", "node:assert", "yaml"],
  spawnModules: ["node:child_process", "execa", "zx"],
  spawnAllowed: ["harness/exec/**"],
  stages: [
    { dir: "harness/kernel", api: ["harness/kernel/default.ts", "harness/kernel/tree-build.ts"] },
    {
      dir: "harness/kconfig",
      api: ["harness/kconfig/config-file.ts", "harness/kconfig/kconfig-deps.ts", "harness/kconfig/merge.ts", "harness/kconfig/survival.ts"],
    },
    { dir: "harness/payload", api: ["harness/payload/payload.ts"] },
    // argv.ts is the pure half of the stage, used on its own (the replay script, scripts/bench-boot.mjs).
    { dir: "harness/qemu", api: ["harness/qemu/accel.ts", "harness/qemu/argv.ts", "harness/qemu/boot.ts", "harness/qemu/profiles.ts"] },
    { dir: "harness/results", api: ["harness/results/index.ts"] },
    // json.ts and terminal.ts alone: `kharness parse` loads only the renderers it uses, not the HTML report's (issue 16).
    { dir: "harness/report", api: ["harness/report/index.ts", "harness/report/json.ts", "harness/report/terminal.ts"] },
    // Parallel guests and CI shards: the pipeline, cli.ts and `parse` use these; split.ts and merge-runs.ts are pure.
    {
      dir: "harness/scale",
      api: ["harness/scale/jobs.ts", "harness/scale/shard.ts", "harness/scale/merge-dirs.ts", "harness/scale/parts.ts", "harness/scale/split.ts"],
    },
    // console.ts apart from index.ts: `kharness parse` loads the sniffer without the YAML parser (issue 16).
    { dir: "harness/lava", api: ["harness/lava/index.ts", "harness/lava/console.ts"] },
    // Nightly (issue 13): compare two runs (classify.ts and render.ts are pure), known failures, the run history.
    { dir: "harness/compare", api: ["harness/compare/classify.ts", "harness/compare/render.ts", "harness/compare/load.ts"] },
    { dir: "harness/expect", api: ["harness/expect/expectations.ts"] },
    { dir: "harness/history", api: ["harness/history/db.ts", "harness/history/record.ts"] },
    // Bisection (issue 12): the command line (args.ts, pure), the driver, bisect.json and its renderings (pure).
    { dir: "harness/bisect", api: ["harness/bisect/args.ts", "harness/bisect/run-bisect.ts", "harness/bisect/bisect-doc.ts"] },
    // Debian root filesystem images and per-run overlays (issue 15).
    { dir: "harness/rootfs", api: ["harness/rootfs/image.ts", "harness/rootfs/overlay.ts", "harness/rootfs/guest-failure.ts"] },
  ],
  subcommands: ["harness/cache-cmd.ts", "harness/doctor.ts", "harness/list.ts", "harness/cmd-nightly.ts", "harness/cmd-bisect.ts", "harness/cmd-rootfs.ts"],
  subcommandImporters: ["harness/cli.ts"],
};

/** One import as written in a file. */
export interface ImportRef {
  /** The specifier as written (`./x.js`, `node:fs`, `execa`); undefined for a computed dynamic import. */
  specifier?: string;
  /** Erased by the compiler (`import type`, all-`type` named imports, `import("x").T` types). */
  typeOnly: boolean;
  /** `import("...")` as an expression. */
  dynamic: boolean;
  line: number;
}

export type RuleName =
  | "pure-imports-system"
  | "spawn-outside-exec"
  | "stage-internals"
  | "product-imports-test-support"
  | "subcommand-import"
  | "unresolved-import"
  | "computed-dynamic-import";

export interface Violation {
  rule: RuleName;
  from: string;
  /** The resolved file, or the bare module name. */
  to: string;
  line: number;
  /** For transitive purity violations: the chain down to the system module. */
  via?: string[];
}

/** `rule: from -> to`, with the chain for transitive purity violations; stable, so tests can list them. */
export function formatViolation(v: Violation): string {
  return `${v.rule}: ${v.from} -> ${v.to}${v.via?.length ? ` (via ${v.via.join(" -> ")})` : ""}`;
}

/** Reads the imports of one TypeScript source: static, export-from, dynamic, and import types. */
export function findImports(path: string, text: string): ImportRef[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const refs: ImportRef[] = [];
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const literal = (e: ts.Node | undefined) => (e && (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) ? e.text : undefined);
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const c = node.importClause;
      const typeOnly =
        !!c &&
        (c.isTypeOnly ||
          (!c.name &&
            !!c.namedBindings &&
            ts.isNamedImports(c.namedBindings) &&
            c.namedBindings.elements.length > 0 &&
            c.namedBindings.elements.every((e) => e.isTypeOnly)));
      refs.push({ specifier: literal(node.moduleSpecifier), typeOnly, dynamic: false, line: lineOf(node) });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      const b = node.exportClause;
      const typeOnly = node.isTypeOnly || (!!b && ts.isNamedExports(b) && b.elements.length > 0 && b.elements.every((e) => e.isTypeOnly));
      refs.push({ specifier: literal(node.moduleSpecifier), typeOnly, dynamic: false, line: lineOf(node) });
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      refs.push({ specifier: literal(node.moduleReference.expression), typeOnly: node.isTypeOnly, dynamic: false, line: lineOf(node) });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      refs.push({ specifier: literal(node.arguments[0]), typeOnly: false, dynamic: true, line: lineOf(node) });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      refs.push({ specifier: literal(node.argument.literal), typeOnly: true, dynamic: false, line: lineOf(node) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return refs;
}

/** Matches a repository-relative path against a glob: `**` spans directories, `*` and `?` stay within one. */
export function matchesGlob(path: string, glob: string): boolean {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === "*" && glob[i + 1] === "*") {
      // `**/` may match nothing; a trailing `**` matches the rest.
      if (glob[i + 2] === "/") {
        re += "(?:.*/)?";
        i += 2;
      } else {
        re += ".*";
        i += 1;
      }
    } else if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`).test(path);
}

const matchesAny = (path: string, globs: readonly string[]) => globs.some((g) => matchesGlob(path, g));

/** `fs` and `node:fs` are one module; other bare names stay as written (package subpaths keep their package). */
function normalizeBare(spec: string): string {
  if (spec.startsWith("node:")) return spec.split("/")[0]!;
  const builtin = spec.split("/")[0]!;
  if (NODE_BUILTINS.has(builtin)) return `node:${builtin}`;
  return spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : builtin;
}

const NODE_BUILTINS = new Set([
  "assert",
  "async_hooks",
  "buffer",
  "child_process",
  "cluster",
  "console",
  "crypto",
  "dgram",
  "diagnostics_channel",
  "dns",
  "events",
  "fs",
  "http",
  "http2",
  "https",
  "inspector",
  "module",
  "net",
  "os",
  "path",
  "perf_hooks",
  "process",
  "querystring",
  "readline",
  "repl",
  "stream",
  "string_decoder",
  "timers",
  "tls",
  "tty",
  "url",
  "util",
  "v8",
  "vm",
  "worker_threads",
  "zlib",
]);

/** Joins a relative specifier onto the importer's directory, collapsing `.` and `..`. */
function joinRelative(from: string, spec: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const seg of spec.split("/")) {
    if (seg === "..") parts.pop();
    else if (seg !== "." && seg !== "") parts.push(seg);
  }
  return parts.join("/");
}

/** The file a relative specifier names: `./x.js` is `./x.ts` in the sources; a directory means its index.ts. */
function resolveRelative(from: string, spec: string, known: ReadonlySet<string>): string {
  const joined = joinRelative(from, spec);
  const candidates = [joined.replace(/\.js$/, ".ts"), joined.replace(/\.mjs$/, ".mts"), joined, `${joined}.ts`, `${joined}/index.ts`];
  return candidates.find((c) => known.has(c)) ?? joined.replace(/\.js$/, ".ts");
}

interface Edge {
  to: string;
  local: boolean;
  typeOnly: boolean;
  line: number;
}

/** Lists every import in `files` that breaks `rules`, sorted by file and line. */
export function checkImports(files: readonly SourceText[], rules: ImportRules = RULES): Violation[] {
  const known = new Set(files.map((f) => f.path));
  const violations: Violation[] = [];
  const edges = new Map<string, Edge[]>();

  for (const f of files) {
    const list: Edge[] = [];
    for (const ref of findImports(f.path, f.text)) {
      if (ref.specifier === undefined) {
        violations.push({ rule: "computed-dynamic-import", from: f.path, to: "import(<computed>)", line: ref.line });
        continue;
      }
      const local = ref.specifier.startsWith(".") || ref.specifier.startsWith("/");
      const to = local ? resolveRelative(f.path, ref.specifier, known) : normalizeBare(ref.specifier);
      list.push({ to, local, typeOnly: ref.typeOnly, line: ref.line });
    }
    edges.set(f.path, list);
  }

  const isTest = (p: string) => matchesAny(p, rules.tests);
  const isTestSupport = (p: string) => matchesAny(p, rules.testSupport);
  const isProduct = (p: string) => matchesAny(p, rules.scanned) && !isTest(p) && !isTestSupport(p);
  const headerSaysPure = (f: SourceText) => /^\s*\/\/\s*Pure\b/.test(f.text);
  const pure = new Set(files.filter((f) => isProduct(f.path) && (matchesAny(f.path, rules.pure) || headerSaysPure(f))).map((f) => f.path));

  // Which files touch the system, directly or through what they import at run time: the chain for each.
  const systemChain = new Map<string, string[]>();
  let changed = true;
  while (changed) {
    changed = false;
    for (const [from, list] of edges) {
      if (systemChain.has(from)) continue;
      for (const e of list) {
        if (e.typeOnly) continue;
        const chain = e.local
          ? systemChain.has(e.to)
            ? [e.to, ...systemChain.get(e.to)!]
            : undefined
          : rules.pureBuiltins.includes(e.to)
            ? undefined
            : [e.to];
        if (chain) {
          systemChain.set(from, chain);
          changed = true;
          break;
        }
      }
    }
  }

  const stageOf = (p: string) => rules.stages.find((s) => p.startsWith(`${s.dir}/`));

  for (const [from, list] of edges) {
    if (!isProduct(from)) continue;
    for (const e of list) {
      const v = (rule: RuleName, via?: string[]) => violations.push({ rule, from, to: e.to, line: e.line, ...(via ? { via } : {}) });
      // One violation per import: a broken import, or test support, says enough on its own.
      // Outside the scanned tree only the path can be judged; inside it, a missing file is a broken import.
      if (e.local && !known.has(e.to) && matchesAny(e.to, rules.scanned)) {
        v("unresolved-import");
        continue;
      }
      if (e.local && (isTest(e.to) || isTestSupport(e.to) || matchesAny(e.to, rules.notProduct))) {
        v("product-imports-test-support");
        continue;
      }
      if (pure.has(from) && !e.typeOnly) {
        if (!e.local && !rules.pureBuiltins.includes(e.to)) v("pure-imports-system");
        else if (e.local && systemChain.has(e.to)) v("pure-imports-system", systemChain.get(e.to));
      }
      if (!e.local && !e.typeOnly && rules.spawnModules.includes(e.to) && !matchesAny(from, rules.spawnAllowed)) v("spawn-outside-exec");
      const target = e.local ? stageOf(e.to) : undefined;
      if (target && stageOf(from) !== target && !target.api.includes(e.to)) v("stage-internals");
      if (e.local && rules.subcommands.includes(e.to) && !rules.subcommandImporters.includes(from)) v("subcommand-import");
    }
  }
  return violations.sort((a, b) => a.from.localeCompare(b.from) || a.line - b.line || a.rule.localeCompare(b.rule));
}

/** Paths named in the rules that no scanned file matches: a rename that silently switched a rule off. */
export function staleRulePaths(files: readonly SourceText[], rules: ImportRules = RULES): string[] {
  const paths = files.map((f) => f.path);
  const named = [...rules.stages.flatMap((s) => s.api), ...rules.subcommands, ...rules.subcommandImporters];
  const globs = [...rules.pure, ...rules.spawnAllowed, ...rules.testSupport.filter((g) => g.startsWith("harness/"))];
  return [...named.filter((p) => !paths.includes(p)), ...globs.filter((g) => !paths.some((p) => matchesGlob(p, g)))];
}
