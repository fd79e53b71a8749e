// Pure: parse and render .config files and merge_config.sh-style fragments (CONFIG_X=... / # CONFIG_X is not set).

/** One option as written in a .config or fragment; `value` is the raw text after `=`, "n" when not set. */
export interface ConfigEntry {
  /** Symbol name without the CONFIG_ prefix. */
  name: string;
  /** "y", "m", "n", a quoted string literal as written ("\"landlock\""), or a number ("-1", "0x10"). */
  value: string;
  /** 1-based line number in its file. */
  line: number;
}

/** A line that is neither an option, a comment nor blank. */
export interface ConfigParseProblem {
  line: number;
  text: string;
  message: string;
}

const SET = /^CONFIG_([A-Za-z0-9_]+)=(.*)$/;
const UNSET = /^#\s*CONFIG_([A-Za-z0-9_]+) is not set\s*$/;
const VALUE = /^(?:[ymn]|-?\d+|0[xX][0-9a-fA-F]+|"(?:[^"\\]|\\.)*")$/;

/** Parses one line; undefined for comments and blank lines, a problem for anything else. */
export function parseConfigLine(raw: string, line: number): ConfigEntry | ConfigParseProblem | undefined {
  const text = raw.trim();
  const unset = UNSET.exec(text);
  if (unset?.[1]) return { name: unset[1], value: "n", line };
  if (text === "" || text.startsWith("#")) return undefined;
  const set = SET.exec(text);
  if (!set?.[1]) {
    return { line, text: raw, message: "not an option line; expected CONFIG_NAME=value or `# CONFIG_NAME is not set`, e.g. CONFIG_SECURITY_LANDLOCK=y" };
  }
  const value = (set[2] ?? "").trim();
  if (!VALUE.test(value)) {
    return { line, text: raw, message: `bad value \`${value}\` for CONFIG_${set[1]}; expected y, m, n, a number or a "quoted string"` };
  }
  return { name: set[1], value, line };
}

function isProblem(x: ConfigEntry | ConfigParseProblem): x is ConfigParseProblem {
  return "message" in x;
}

/** Parses a whole .config or fragment; every bad line is reported, none stops the parse. */
export function parseConfig(text: string): { entries: ConfigEntry[]; problems: ConfigParseProblem[] } {
  const entries: ConfigEntry[] = [];
  const problems: ConfigParseProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const r = parseConfigLine(raw, i + 1);
    if (r === undefined) return;
    if (isProblem(r)) problems.push(r);
    else entries.push(r);
  });
  return { entries, problems };
}

/** The final value of each symbol in a .config (later lines win, as in Kconfig's reader). */
export function configValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of parseConfig(text).entries) out.set(e.name, e.value);
  return out;
}

/** Renders one option the way Kconfig writes it. */
export function renderConfigLine(name: string, value: string): string {
  return value === "n" ? `# CONFIG_${name} is not set` : `CONFIG_${name}=${value}`;
}
