// Pure: a grep-level reader of Kconfig files: for each `config SYM`, its `depends on` conditions
// (including enclosing `if` and `menu ... depends on` blocks) and whether it has a prompt.

/** What a Kconfig file says about one symbol (merged over all its definitions). */
export interface KconfigSymbol {
  name: string;
  /** file:line of each definition. */
  definedAt: string[];
  /** Conditions that must hold for the symbol to be settable: its `depends on` and enclosing if/menu ones. */
  dependsOn: string[];
  /** False when no definition has a prompt: the user cannot set it, only `select` or defaults can. */
  hasPrompt: boolean;
}

interface Frame {
  kind: "if" | "menu" | "choice";
  conds: string[];
}

const TYPES = /^(bool|tristate|string|int|hex)\b\s*(.*)$/;

/** Strips `# comment` (outside quotes) and surrounding space. */
function stripComment(line: string): string {
  let inQuote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inQuote) {
      if (c === "\\") i++;
      else if (c === inQuote) inQuote = undefined;
    } else if (c === '"' || c === "'") inQuote = c;
    else if (c === "#") return line.slice(0, i).trim();
  }
  return line.trim();
}

/**
 * Reads the symbols defined in one Kconfig file. Help text is skipped by indentation, like Kconfig
 * does; `source` lines are ignored (the caller reads every file that defines a symbol it cares about),
 * so conditions from an `if` in a parent file that sources this one are not seen.
 */
export function parseKconfigSymbols(text: string, file: string, into: Map<string, KconfigSymbol> = new Map()): Map<string, KconfigSymbol> {
  const stack: Frame[] = [];
  // What `depends on` lines currently attach to: a symbol being defined, or a menu/choice header.
  let current: { sym: KconfigSymbol; deps: string[]; prompt: boolean } | undefined;
  let header: Frame | undefined;
  let helpIndent: number | undefined;

  const flush = () => {
    if (!current) return;
    current.sym.dependsOn.push(...current.deps.filter((d) => !current!.sym.dependsOn.includes(d)));
    if (current.prompt) current.sym.hasPrompt = true;
    current = undefined;
  };
  const enclosing = () => stack.flatMap((f) => f.conds);

  text.split(/\r?\n/).forEach((raw, i) => {
    const indent = /^[\t ]*/.exec(raw)?.[0].replace(/\t/g, "        ").length ?? 0;
    if (helpIndent !== undefined) {
      if (raw.trim() === "" || indent > helpIndent) return;
      helpIndent = undefined;
    }
    const line = stripComment(raw);
    if (line === "") return;
    let m: RegExpExecArray | null;
    if ((m = /^(?:menu)?config\s+([A-Za-z0-9_]+)$/.exec(line)) && m[1]) {
      flush();
      header = undefined;
      const name = m[1];
      const sym = into.get(name) ?? { name, definedAt: [], dependsOn: [], hasPrompt: false };
      into.set(name, sym);
      sym.definedAt.push(`${file}:${i + 1}`);
      current = { sym, deps: [...enclosing()], prompt: false };
    } else if ((m = /^if\s+(.+)$/.exec(line)) && m[1]) {
      flush();
      header = undefined;
      stack.push({ kind: "if", conds: [m[1].trim()] });
    } else if (/^menu\s/.test(line) || line === "choice" || /^choice\s/.test(line)) {
      flush();
      header = { kind: line.startsWith("menu") ? "menu" : "choice", conds: [] };
      stack.push(header);
    } else if (line === "endif" || line === "endmenu" || line === "endchoice") {
      flush();
      header = undefined;
      stack.pop();
    } else if ((m = /^depends\s+on\s+(.+)$/.exec(line)) && m[1]) {
      if (current) current.deps.push(m[1].trim());
      else if (header) header.conds.push(m[1].trim());
    } else if ((m = TYPES.exec(line))) {
      if (current && m[2] && /^["']/.test(m[2])) current.prompt = true;
    } else if (/^prompt\s/.test(line)) {
      if (current) current.prompt = true;
    } else if (line === "help" || line === "---help---") {
      helpIndent = indent;
    } else if (/^(source|rsource|osource|orsource|comment|mainmenu|endmenu)\b/.test(line)) {
      flush();
      header = undefined;
    }
  });
  flush();
  return into;
}

/**
 * Symbol names a Kconfig expression requires, each with whether it must be off (`!SYM`, `SYM=n`,
 * `SYM!=y`). Comparisons with strings, numbers or other symbols are left out: they are not simple
 * on/off requirements, and the hint stays honest by not guessing.
 */
export function expressionSymbols(expr: string): { name: string; negated: boolean }[] {
  let e = expr.replace(/"[^"]*"/g, '""');
  // Macro calls like $(cc-option,-foo) are about the toolchain, not symbols.
  for (let prev = ""; prev !== e; ) {
    prev = e;
    e = e.replace(/\$\([^()]*\)/g, "");
  }
  const out: { name: string; negated: boolean }[] = [];
  const re = /(!\s*)?\b([A-Za-z_][A-Za-z0-9_]*)\b(?:\s*(!=|=|<=|>=|<|>)\s*("[^"]*"|[A-Za-z0-9_]+))?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(e))) {
    const [, bang, name, op, rhs] = m;
    if (!name || name === "y" || name === "m" || name === "n") continue;
    let negated = Boolean(bang);
    if (op) {
      const on = rhs === "y" || rhs === "m";
      if ((op === "=" || op === "!=") && (on || rhs === "n")) negated = negated !== ((op === "=") !== on);
      else continue;
    }
    if (!out.some((o) => o.name === name)) out.push({ name, negated });
  }
  return out;
}
