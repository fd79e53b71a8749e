// Test support (not shipped): which source files `tsc -p tsconfig.json` builds into dist/, and which of them
// are test support that the shipped product must not contain.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { findImports } from "./import-rules.js";

/**
 * The project's own source files a tsconfig compiles (tsc --listFilesOnly: what `tsc -p` would emit),
 * repository-relative with forward slashes; library declarations from node_modules and TypeScript left out.
 */
export function buildInputs(projectDir: string, tsconfig = "tsconfig.json"): string[] {
  const tsc = path.join(projectDir, "node_modules", "typescript", "bin", "tsc");
  const out = execFileSync(process.execPath, [tsc, "--listFilesOnly", "-p", path.join(projectDir, tsconfig)], { cwd: projectDir, encoding: "utf8" });
  return out
    .split("\n")
    .map((f) => f.trim())
    .filter((f) => f !== "" && !f.split(/[\\/]/).includes("node_modules"))
    .map((f) => path.relative(projectDir, f).split(path.sep).join("/"))
    .sort();
}

/** One build input that is test support, and how it shows. */
export interface Shipped {
  file: string;
  why: string;
}

/**
 * The build inputs that are test support. A file is test support when it lives outside harness/ (test/,
 * scripts/), is a test (`*.test.ts`), sits in a testdata/ folder, imports tap or anything under test/, or
 * its header comment says it is a test helper or test support. `read` gives a file's text by its path.
 */
export function testSupportInBuild(files: readonly string[], read: (file: string) => string): Shipped[] {
  const found: Shipped[] = [];
  for (const file of files) {
    const why: string[] = [];
    if (!file.startsWith("harness/")) why.push("outside harness/");
    if (/\.test\.[cm]?[jt]s$/.test(file)) why.push("a test file");
    if (file.split("/").includes("testdata")) why.push("in a testdata/ folder");
    const text = read(file);
    for (const ref of findImports(file, text)) {
      const spec = ref.specifier ?? "";
      if (spec === "tap" || spec.startsWith("tap/")) why.push("imports tap");
      else if (spec.startsWith(".") && path.posix.join(path.posix.dirname(file), spec).startsWith("test/")) why.push(`imports ${spec}`);
    }
    if (/^\s*\/\/\s*Test (support|helper)\b/i.test(text)) why.push("its header says it is test support");
    if (why.length) found.push({ file, why: why.join(", ") });
  }
  return found;
}

/** The test support `tsc -p tsconfig` in projectDir would build into its outDir. */
export function testSupportBuilt(projectDir: string, tsconfig = "tsconfig.json"): { inputs: string[]; shipped: Shipped[] } {
  const inputs = buildInputs(projectDir, tsconfig);
  return { inputs, shipped: testSupportInBuild(inputs, (f) => readFileSync(path.join(projectDir, f), "utf8")) };
}
