// Known failures (--expect FILE): parse and check an expectation file, and apply it to a run (FAIL -> XFAIL,
// an expected failure that passed -> XPASS). The logic is pure; the file is read by readExpectFile only.

import { readFileSync, promises as fs } from "node:fs";
import { compileGlob } from "../payload/payload.js";
import { summarize } from "../results/index.js";
import type { KernelImage, RunResult, Status, TestResult } from "../types.js";
import { FAILING_STATUSES } from "../types.js";

/** The failing statuses an entry may expect. */
const EXPECTABLE: readonly Status[] = ["FAIL", "TIMEOUT", "CRASH", "ERROR"];
const KEYS = new Set(["tests", "status", "reason", "link", "kernel", "config"]);

/** One comparator of a kernel release range: `>=6.12`, `<6.13`, `=6.12.118`, or a bare `6.12` (that series). */
interface ReleaseCmp {
  op: ">=" | ">" | "<=" | "<" | "=" | "prefix";
  version: number[];
}

/** One known failure, checked. */
export interface Expectation {
  /** fnmatch(3) globs over test ids (the same rules as --tests). */
  tests: string[];
  /** The statuses that count as this known failure (default FAIL). */
  status: Status[];
  reason: string;
  link?: string;
  /** The kernel release range as written, and parsed; absent = every release. */
  kernel?: string;
  releaseRange?: ReleaseCmp[];
  /** CONFIG_X=value conditions that must all hold in the run's kernel.config (=n also matches an unset option). */
  config: { name: string; value: string }[];
  /** Where it was written: "FILE: entry N". */
  where: string;
}

export interface ExpectFile {
  file: string;
  entries: Expectation[];
}

/** The leading dotted numbers of a release (`6.12.118+deb12-cloud-amd64` -> [6, 12, 118]), or undefined. */
export function releaseNumbers(release: string): number[] | undefined {
  const m = /^(\d+(?:\.\d+)*)/.exec(release.trim());
  return m ? (m[1] as string).split(".").map(Number) : undefined;
}

function cmpVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Parses `>=6.1, <6.13` (comparators separated by commas or spaces, all must hold); a problem string on bad input. */
export function parseReleaseRange(text: string): ReleaseCmp[] | string {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (!parts.length) return "an empty kernel range";
  const out: ReleaseCmp[] = [];
  for (const p of parts) {
    const m = /^(>=|<=|>|<|=)?(\d+(?:\.\d+)*)$/.exec(p);
    if (!m) return `${JSON.stringify(p)} is not a release comparator (write e.g. ">=6.1, <6.13" or "6.12")`;
    out.push({ op: (m[1] as ReleaseCmp["op"] | undefined) ?? "prefix", version: (m[2] as string).split(".").map(Number) });
  }
  return out;
}

/** True when the release satisfies every comparator. */
export function releaseInRange(release: string, range: readonly ReleaseCmp[]): boolean {
  const v = releaseNumbers(release);
  if (!v) return false;
  return range.every(({ op, version }) => {
    const c = cmpVersions(v, version);
    switch (op) {
      case ">=":
        return c >= 0;
      case ">":
        return c > 0;
      case "<=":
        return c <= 0;
      case "<":
        return c < 0;
      case "=":
        return c === 0;
      default:
        // "prefix": a bare version names that series.
        return version.every((n, i) => v[i] === n);
    }
  });
}

/** CONFIG_X=value lines of a .config; `# CONFIG_X is not set` reads as absent. */
export function parseKernelConfig(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const x = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line.trim());
    if (x) m.set(x[1] as string, (x[2] as string).replace(/^"(.*)"$/, "$1"));
  }
  return m;
}

const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

/**
 * Checks an expectation file's text (YAML or JSON; JSON is YAML). Returns the entries and every problem, each
 * naming the file and the entry. Accepts `{version: 1, expectations: [...]}` or a bare list of entries.
 */
export async function parseExpectText(text: string, file: string): Promise<{ entries: Expectation[]; problems: string[] }> {
  const problems: string[] = [];
  // The YAML parser (about 70 modules) loads only when a file is given: a run without --expect never needs it.
  const { parse: parseYaml } = await import("yaml");
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    return { entries: [], problems: [`--expect ${file}: not valid YAML or JSON: ${(e as Error).message.split("\n")[0]}`] };
  }
  let list: unknown;
  if (Array.isArray(doc)) list = doc;
  else if (doc && typeof doc === "object") {
    const o = doc as Record<string, unknown>;
    if (o.version !== undefined && o.version !== 1)
      problems.push(`--expect ${file}: version ${JSON.stringify(o.version)} is not supported (this kharness reads version 1)`);
    for (const k of Object.keys(o))
      if (k !== "version" && k !== "expectations")
        problems.push(`--expect ${file}: unknown top-level key ${JSON.stringify(k)} (expected version, expectations)`);
    list = o.expectations;
  }
  if (!Array.isArray(list))
    return { entries: [], problems: [...problems, `--expect ${file}: no list of expectations (write "expectations:" followed by entries)`] };
  const entries: Expectation[] = [];
  list.forEach((raw, i) => {
    const where = `--expect ${file}: entry ${i + 1}`;
    if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
      problems.push(`${where}: not a mapping (each entry has tests, reason and optionally status, link, kernel, config)`);
      return;
    }
    const e = raw as Record<string, unknown>;
    const before = problems.length;
    for (const k of Object.keys(e)) if (!KEYS.has(k)) problems.push(`${where}: unknown key ${JSON.stringify(k)} (expected ${[...KEYS].join(", ")})`);
    const tests = asList(e.tests);
    if (!tests.length) problems.push(`${where}: no "tests" (a test id glob or a list of them, as \`kharness list\` names tests)`);
    for (const g of tests) {
      if (typeof g !== "string") problems.push(`${where}: tests: ${JSON.stringify(g)} is not a string`);
      else {
        const c = compileGlob(g);
        if (!c.ok) problems.push(`${where}: tests: ${JSON.stringify(g)}: ${c.problem}`);
      }
    }
    const status = asList(e.status ?? "FAIL");
    for (const s of status)
      if (typeof s !== "string" || !EXPECTABLE.includes(s.toUpperCase() as Status))
        problems.push(`${where}: status ${JSON.stringify(s)}: expected one of ${EXPECTABLE.join(", ")} (or a list of them)`);
    if (typeof e.reason !== "string" || !e.reason.trim()) problems.push(`${where}: no "reason" (say why the failure is known)`);
    if (e.link !== undefined && typeof e.link !== "string") problems.push(`${where}: link must be a string (a URL)`);
    let releaseRange: ReleaseCmp[] | undefined;
    if (e.kernel !== undefined) {
      const r = typeof e.kernel === "string" || typeof e.kernel === "number" ? parseReleaseRange(String(e.kernel)) : "not a string";
      if (typeof r === "string") problems.push(`${where}: kernel: ${r}`);
      else releaseRange = r;
    }
    const config: { name: string; value: string }[] = [];
    for (const c of asList(e.config)) {
      const m = typeof c === "string" ? /^(CONFIG_[A-Za-z0-9_]+)=(.+)$/.exec(c.trim()) : null;
      if (!m) problems.push(`${where}: config ${JSON.stringify(c)}: expected CONFIG_NAME=value (e.g. CONFIG_KASAN=y, CONFIG_X=n for unset)`);
      else config.push({ name: m[1] as string, value: m[2] as string });
    }
    if (problems.length > before) return;
    entries.push({
      tests: tests as string[],
      status: (status as string[]).map((s) => s.toUpperCase() as Status),
      reason: (e.reason as string).trim(),
      ...(typeof e.link === "string" ? { link: e.link } : {}),
      ...(releaseRange ? { kernel: String(e.kernel), releaseRange } : {}),
      config,
      where,
    });
  });
  return { entries, problems };
}

/** Reads and checks an expectation file; the problems name the file (and say why it could not be read). */
export async function readExpectFile(file: string): Promise<{ expect?: ExpectFile; problems: string[] }> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { problems: [`--expect ${file}: cannot read it (${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "a directory" : code})`] };
  }
  const r = await parseExpectText(text, file);
  return r.problems.length ? { problems: r.problems } : { expect: { file, entries: r.entries }, problems: [] };
}

/** What the run's kernel is, for the entries limited to releases or config options. */
export interface KernelFacts {
  release?: string;
  /** The run's kernel.config, parsed; undefined when unknown (then entries with config conditions do not apply). */
  config?: Map<string, string>;
}

/** True when the entry applies to this kernel (its release range and config conditions hold). */
export function entryApplies(e: Expectation, k: KernelFacts): boolean {
  if (e.releaseRange && (k.release === undefined || !releaseInRange(k.release, e.releaseRange))) return false;
  if (e.config.length && !k.config) return false;
  return e.config.every(({ name, value }) => {
    const v = k.config?.get(name);
    return value === "n" ? v === undefined || v === "n" : v === value;
  });
}

/** The first applying entry whose globs match the id. */
function findEntry(id: string, entries: readonly { e: Expectation; globs: ((s: string) => boolean)[] }[]) {
  return entries.find(({ globs }) => globs.some((g) => g(id)))?.e;
}

const explain = (e: Expectation) => `${e.reason}${e.link ? ` (${e.link})` : ""}`;

/** True when some test at any depth below has a failing status. Iterative: nesting depth comes from the guest. */
function hasBad(tests: readonly TestResult[]): boolean {
  const work = [...tests];
  while (work.length) {
    const c = work.pop() as TestResult;
    if (FAILING_STATUSES.has(c.status)) return true;
    work.push(...c.children);
  }
  return false;
}

/** Rebuilds a test tree bottom-up: visit gets each test and its rebuilt children. Iterative, like hasBad. */
function rebuildTree(roots: readonly TestResult[], visit: (t: TestResult, children: TestResult[]) => TestResult): TestResult[] {
  const out: TestResult[] = [];
  const stack: { t: TestResult; i: number; kids: TestResult[]; sink: TestResult[] }[] = [];
  for (const root of roots) {
    stack.push({ t: root, i: 0, kids: [], sink: out });
    while (stack.length) {
      const f = stack[stack.length - 1] as (typeof stack)[number];
      if (f.i < f.t.children.length) stack.push({ t: f.t.children[f.i++] as TestResult, i: 0, kids: [], sink: f.kids });
      else {
        stack.pop();
        f.sink.push(visit(f.t, f.kids));
      }
    }
  }
  return out;
}

/** Counts of what applying an expectation file changed. */
export interface ExpectOutcome {
  run: RunResult;
  xfail: string[];
  xpass: string[];
}

/**
 * Applies the entries to a run: a verdict entry (a leaf, or a parent whose failure no child shows) whose id
 * matches an applying entry becomes XFAIL when its status is one the entry expects, and XPASS when it passed.
 * A parent whose failures below all became XFAIL becomes XFAIL too (its FAIL only said "a case failed").
 * The summary is counted again. Pure.
 */
export function applyExpectations(run: RunResult, expect: ExpectFile, kernel: KernelFacts): ExpectOutcome {
  const live = expect.entries
    .filter((e) => entryApplies(e, kernel))
    .map((e) => ({ e, globs: e.tests.map((g) => compileGlob(g)).flatMap((c) => (c.ok ? [c.test] : [])) }));
  const xfail: string[] = [];
  const xpass: string[] = [];
  const judge = (t: TestResult): TestResult => {
    const e = findEntry(t.id, live);
    if (!e) return t;
    if (e.status.includes(t.status)) {
      xfail.push(t.id);
      return { ...t, status: "XFAIL", reason: `known failure (${t.status}${t.reason ? `: ${t.reason}` : ""}): ${explain(e)}` };
    }
    if (t.status === "PASS") {
      xpass.push(t.id);
      return { ...t, status: "XPASS", reason: `expected to ${e.status.join("/")} (${explain(e)}) but passed: the entry in ${expect.file} is stale` };
    }
    return t;
  };
  const visit = (t: TestResult, children: TestResult[]): TestResult => {
    if (t.children.length === 0) return judge(t);
    const next = { ...t, children };
    if (!FAILING_STATUSES.has(t.status)) return next;
    const before = hasBad(t.children);
    if (before && !hasBad(children)) return { ...next, status: "XFAIL", reason: `every failure below is a known failure${t.reason ? ` (${t.reason})` : ""}` };
    // A parent whose own failure no child shows carries a verdict of its own.
    return before ? next : judge(next);
  };
  const tests = rebuildTree(run.tests, visit);
  const diagnostics = [...run.diagnostics];
  if (xfail.length || xpass.length)
    diagnostics.push({
      level: xpass.length ? "warning" : "info",
      message: `--expect ${expect.file}: ${xfail.length} known failure${xfail.length === 1 ? "" : "s"} (XFAIL), ${xpass.length} stale entr${xpass.length === 1 ? "y" : "ies"} (XPASS)`,
    });
  return { run: { ...run, tests, summary: summarize(tests), diagnostics }, xfail, xpass };
}

/**
 * The pipeline's hook: the run with the --expect file applied (unchanged without one). The kernel's config is
 * read from the kernel stage's configPath (the file the run directory's kernel.config copies).
 */
export function withExpectations(expect: ExpectFile | undefined, kernel: Pick<KernelImage, "release" | "configPath">, run: RunResult): RunResult {
  if (!expect) return run;
  let config: Map<string, string> | undefined;
  try {
    config = kernel.configPath ? parseKernelConfig(readFileSync(kernel.configPath, "utf8")) : undefined;
  } catch {
    config = undefined;
  }
  return applyExpectations(run, expect, { release: kernel.release, config }).run;
}

/** The kernel facts of a parsed run: its release, and the kernel.config of its run directory when there is one. */
export async function kernelFactsOf(run: RunResult, runDir: string | undefined): Promise<KernelFacts> {
  const text = runDir ? await fs.readFile(`${runDir}/kernel.config`, "utf8").catch(() => undefined) : undefined;
  return { ...(run.kernel?.release ? { release: run.kernel.release } : {}), ...(text !== undefined ? { config: parseKernelConfig(text) } : {}) };
}
