// Pure: --tests globs -> which bundled programs run, and which of their cases (the globs the program gets).
// The globs follow the selftest framework's own rules (selftests/kh_test.c: fnmatch(3) with no flags, against
// the case name and against "program.case"), so the host knows exactly which cases the guest will run.

/** A glob compiled once: either a matcher, or why it is not a valid glob. */
export type CompiledGlob = { ok: true; glob: string; test: (name: string) => boolean } | { ok: false; glob: string; problem: string };

/** POSIX character classes in the C locale (the guest has no locale), as RegExp class bodies. */
const CLASSES: Record<string, string> = {
  alnum: "A-Za-z0-9",
  alpha: "A-Za-z",
  blank: " \\t",
  cntrl: "\\x00-\\x1f\\x7f",
  digit: "0-9",
  graph: "\\x21-\\x7e",
  lower: "a-z",
  print: "\\x20-\\x7e",
  punct: "!-\\/:-@\\[-`{-~",
  space: " \\t\\n\\v\\f\\r",
  upper: "A-Z",
  xdigit: "0-9A-Fa-f",
};

const reChar = (c: string) => `\\u{${(c.codePointAt(0) as number).toString(16)}}`;

/**
 * Parses a bracket expression starting after its `[`; returns the RegExp class and the index after its `]`,
 * undefined when there is no closing `]` (then fnmatch takes the `[` literally), or a problem.
 */
function parseBracket(glob: string, start: number): { re: string; end: number } | { problem: string } | undefined {
  let i = start;
  let negate = false;
  if (glob[i] === "!" || glob[i] === "^") {
    negate = true;
    i++;
  }
  const parts: string[] = [];
  let first = true;
  for (;;) {
    if (i >= glob.length) return undefined;
    let c = glob[i] as string;
    if (c === "]" && !first) break;
    first = false;
    if (c === "[" && glob[i + 1] === ":") {
      const close = glob.indexOf(":]", i + 2);
      if (close < 0) return undefined;
      const name = glob.slice(i + 2, close);
      const cls = CLASSES[name];
      if (!cls) return { problem: `[:${name}:] is not a character class (known: ${Object.keys(CLASSES).join(", ")})` };
      parts.push(cls);
      i = close + 2;
      continue;
    }
    if (c === "[" && (glob[i + 1] === "=" || glob[i + 1] === "."))
      return { problem: `collating elements and equivalence classes ([${glob[i + 1]}...${glob[i + 1]}]) are not supported` };
    if (c === "\\") {
      if (i + 1 >= glob.length) return undefined;
      c = glob[++i] as string;
    }
    let lo = c;
    i++;
    if (glob[i] === "-" && glob[i + 1] !== undefined && glob[i + 1] !== "]") {
      let hi = glob[i + 1] as string;
      i += 2;
      if (hi === "\\") {
        if (i >= glob.length) return undefined;
        hi = glob[i++] as string;
      }
      if ((hi.codePointAt(0) as number) < (lo.codePointAt(0) as number))
        return { problem: `the range ${lo}-${hi} is empty (its end sorts before its start); write [${hi}-${lo}]` };
      parts.push(`${reChar(lo)}-${reChar(hi)}`);
      continue;
    }
    lo = reChar(lo);
    parts.push(lo);
  }
  return { re: `[${negate ? "^" : ""}${parts.join("")}]`, end: i + 1 };
}

/** Compiles an fnmatch(3) glob (flags 0: `*` and `?` also match `.` and `/`, `\` quotes the next character). */
export function compileGlob(glob: string): CompiledGlob {
  if (glob === "") return { ok: false, glob, problem: "an empty glob" };
  // The guest's manifest is one line per program with tab-separated arguments.
  if (/[\t\n\r\0]/.test(glob)) return { ok: false, glob, problem: "a glob cannot hold a tab, newline or NUL" };
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "\\") {
      if (i + 1 >= glob.length) return { ok: false, glob, problem: "it ends with a lone backslash" };
      re += reChar(glob[++i] as string);
    } else if (c === "[") {
      const b = parseBracket(glob, i + 1);
      if (b === undefined) re += reChar("[");
      else if ("problem" in b) return { ok: false, glob, problem: b.problem };
      else {
        re += b.re;
        i = b.end - 1;
      }
    } else re += reChar(c);
  }
  const rx = new RegExp(`^${re}$`, "su");
  return { ok: true, glob, test: (name) => rx.test(name) };
}

/** True when the glob matches the name under fnmatch(3) rules (an invalid glob matches nothing). */
export function fnmatch(glob: string, name: string): boolean {
  const g = compileGlob(glob);
  return g.ok && g.test(name);
}

/** One bundled program and its cases (`fixture.variant.case`, as `PROGRAM --list` prints them). */
export interface CatalogEntry {
  program: string;
  /** Undefined when the cases were not listed (every glob matched whole programs). */
  cases?: readonly string[];
}

/** A bundled program chosen to run: `args` are the globs its own command line gets (none = every case). */
export interface BundledSelection {
  program: string;
  args: string[];
  /** The cases it will run, when known. */
  cases?: string[];
}

/** What --tests selects, or every problem with it. */
export interface TestSelection {
  selected: BundledSelection[];
  problems: string[];
}

/**
 * Edit distance from a glob to a name where `*` absorbs any run of characters and `?` or a bracket any one
 * character at no cost: how far a typo is from matching.
 */
export function globDistance(glob: string, name: string): number {
  const g = glob.replace(/\[[^\]]*\]/g, "?");
  const n = name;
  let prev = Array.from({ length: n.length + 1 }, (_, j) => j);
  for (let i = 1; i <= g.length; i++) {
    const gc = g[i - 1];
    const cur = new Array<number>(n.length + 1);
    cur[0] = gc === "*" ? (prev[0] as number) : (prev[0] as number) + 1;
    for (let j = 1; j <= n.length; j++) {
      if (gc === "*") cur[j] = Math.min(prev[j] as number, cur[j - 1] as number);
      else {
        const same = gc === "?" || gc === n[j - 1] ? 0 : 1;
        cur[j] = Math.min((prev[j - 1] as number) + same, (prev[j] as number) + 1, (cur[j - 1] as number) + 1);
      }
    }
    prev = cur;
  }
  return prev[n.length] as number;
}

/**
 * The known names closest to a glob that matched nothing: programs, and `program.case` ids when listed. When
 * the glob names a program before its first dot (`net_abi.no_such_case`), only that program's cases compete.
 */
export function nearMatches(catalog: readonly CatalogEntry[], glob: string, max = 5): string[] {
  const head = compileGlob(glob.split(".")[0] as string);
  const own = glob.includes(".") && head.ok ? catalog.filter((e) => e.cases?.length && head.test(e.program)) : [];
  const names = own.length
    ? own.flatMap((e) => (e.cases ?? []).map((c) => `${e.program}.${c}`))
    : catalog.flatMap((e) => [e.program, ...(e.cases ?? []).map((c) => `${e.program}.${c}`)]);
  return names
    .map((name) => ({ name, d: globDistance(glob, name) }))
    .sort((a, b) => a.d - b.d || a.name.length - b.name.length)
    .slice(0, max)
    .map((x) => x.name);
}

/** Globs that match no program name as a whole: only the case lists can tell whether they match anything. */
export function globsNeedingCases(programs: readonly string[], globs: readonly string[]): string[] {
  return globs.filter((g) => {
    const c = compileGlob(g);
    return c.ok && !programs.some((p) => c.test(p));
  });
}

/**
 * Chooses bundled programs and cases. A glob that matches a program's name selects the whole program; one
 * that matches `program.case` (or the case name alone, as the framework also accepts) selects those cases,
 * and is passed to that program. A glob that matches nothing, or is not a valid glob, is a problem that
 * names the closest known tests. No globs select every program.
 */
export function selectBundled(catalog: readonly CatalogEntry[], globs: readonly string[]): TestSelection {
  if (globs.length === 0) return { selected: catalog.map((e) => ({ program: e.program, args: [], cases: e.cases ? [...e.cases] : undefined })), problems: [] };
  const problems: string[] = [];
  const compiled: { glob: string; test: (s: string) => boolean }[] = [];
  for (const g of globs) {
    const c = compileGlob(g);
    if (c.ok) compiled.push(c);
    else problems.push(`--tests ${g}: not a valid glob: ${c.problem}`);
  }
  const whole = new Set<string>();
  const caseGlobs = new Map<string, string[]>();
  const matchedSomething = new Set<string>();
  for (const e of catalog) {
    for (const g of compiled) {
      if (g.test(e.program)) {
        whole.add(e.program);
        matchedSomething.add(g.glob);
        continue;
      }
      if (!e.cases?.some((c) => g.test(c) || g.test(`${e.program}.${c}`))) continue;
      matchedSomething.add(g.glob);
      const list = caseGlobs.get(e.program) ?? [];
      if (!list.includes(g.glob)) list.push(g.glob);
      caseGlobs.set(e.program, list);
    }
  }
  for (const g of compiled) {
    if (matchedSomething.has(g.glob)) continue;
    const near = nearMatches(catalog, g.glob);
    problems.push(`--tests ${g.glob}: matches no bundled program or case${near.length ? `; closest: ${near.join(", ")}` : ""}`);
  }
  const selected: BundledSelection[] = [];
  for (const e of catalog) {
    if (whole.has(e.program)) selected.push({ program: e.program, args: [], cases: e.cases ? [...e.cases] : undefined });
    else {
      const args = caseGlobs.get(e.program);
      if (!args) continue;
      const tests = args.map((a) => compileGlob(a)).filter((c): c is Extract<CompiledGlob, { ok: true }> => c.ok);
      const cases = (e.cases ?? []).filter((c) => tests.some((g) => g.test(c) || g.test(`${e.program}.${c}`)));
      selected.push({ program: e.program, args, cases });
    }
  }
  return { selected, problems };
}
