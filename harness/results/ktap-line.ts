// Classifies one clean line as a KTAP/kselftest form (version, plan, result, header, bail out, totals) at its nesting width.

import type { Status } from "../types.js";

/** Directives recognised after ` # ` on a result line (case-insensitive). */
/** CRASH is a kharness extension, so that re-emitted KTAP (report/tap) reads back to the same statuses. */
export type Directive = "SKIP" | "TODO" | "XFAIL" | "XPASS" | "TIMEOUT" | "ERROR" | "CRASH";

/** A parsed result line. */
export interface ResultLine {
  ok: boolean;
  num: number;
  /** The description as printed, trimmed, without a leading `- ` and without the directive. */
  name: string;
  directive?: Directive;
  /** Text after the directive keyword. */
  directiveText?: string;
  /** The N of an `exit=N` after `#`: data, not a directive. */
  exitCode?: number;
  /** A `# comment` that is not a directive; kept for the log. */
  comment?: string;
}

/** What a line is, with its nesting width (columns of indentation and `# ` runner prefixes). */
export type KtapLine =
  | { kind: "version"; width: number }
  | { kind: "plan"; width: number; count: number; skip?: string }
  | { kind: "result"; width: number; result: ResultLine }
  | { kind: "subtest"; width: number; name: string }
  | { kind: "selftest"; width: number; name: string }
  | { kind: "bail"; width: number; reason: string }
  | { kind: "totals"; width: number; counts: Partial<Record<TotalsKey, number>> }
  | { kind: "other"; width: number };

export type TotalsKey = "pass" | "fail" | "xfail" | "xpass" | "skip" | "error";

const VERSION = /^(?:KTAP version \d+|TAP version 1[34])\s*$/;
const PLAN = /^1\.\.(\d+)\s*(?:#\s*(.*))?$/;
const BAIL = /^Bail out!\s*(.*)$/;
const SUBTEST = /^#\s*Subtest:\s*(.*?)\s*$/;
const SELFTEST = /^#\s*selftests:\s*(.*?)\s*$/;
const TOTALS = /^#\s*Totals:\s*(.*)$/;
const DIRECTIVE = /(?:^|\s)#\s*(skip|todo|xfail|xpass|timeout|error|crash)\b:?\s*(.*)$/i;
const EXIT = /(?:^|\s)#\s*exit=(-?\d+)\b\s*(.*)$/i;
const COMMENT = /\s#\s*(.*)$/;

// Shared: callers only read classification results, and most console lines are this one.
const OTHER_AT_0: KtapLine = Object.freeze({ kind: "other", width: 0 });

/** Column width of line[0, end): tabs advance to the next multiple of 8, everything else counts one. */
function measure(line: string, end: number = line.length): number {
  let w = 0;
  for (let i = 0; i < end; i++) w = line.charCodeAt(i) === 9 ? (w + 8) & ~7 : w + 1;
  return w;
}

/**
 * Classifies a clean line. Runner nesting (`# ` prefixes) and indentation are peeled until a KTAP form
 * matches; the first (shallowest) match wins, so `# Subtest:` and `# selftests:` headers keep their `#`.
 */
export function classifyKtapLine(line: string): KtapLine {
  // Fast path: most lines start with a letter and are not KTAP at all.
  const c0 = line.charCodeAt(0);
  if (
    c0 !== 32 &&
    c0 !== 9 &&
    c0 !== 35 /* # */ &&
    c0 !== 111 /* o */ &&
    c0 !== 110 /* n */ &&
    c0 !== 49 /* 1 */ &&
    c0 !== 75 /* K */ &&
    c0 !== 84 /* T */ &&
    c0 !== 66 /* B */
  )
    return OTHER_AT_0;
  let i = 0;
  for (;;) {
    // Skip whitespace.
    while (i < line.length) {
      const c = line.charCodeAt(i);
      if (c !== 32 && c !== 9) break;
      i++;
    }
    if (i >= line.length) return { kind: "other", width: measure(line) };
    const c = line.charCodeAt(i);
    if (c === 35 /* # */) {
      const width = measure(line, i);
      // The headers' regexes run only when the word after `#` can begin one (S, s, T), or when what follows is
      // anything but a plain ASCII character (a space \s matches that the blanks skipped here do not).
      let j = i + 1;
      while (isSpace(line.charCodeAt(j))) j++;
      const h = line.charCodeAt(j);
      if (!((h > 32 && h < 127 && h !== 83 /* S */ && h !== 115 /* s */ && h !== 84) /* T */)) {
        const rest = line.slice(i);
        let m = SUBTEST.exec(rest);
        if (m) return { kind: "subtest", width, name: m[1] ?? "" };
        m = SELFTEST.exec(rest);
        if (m) return { kind: "selftest", width, name: `selftests: ${m[1] ?? ""}` };
        m = TOTALS.exec(rest);
        if (m) return { kind: "totals", width, counts: parseTotals(m[1] ?? "") };
      }
      // `#` followed by whitespace is a runner/diagnostic prefix: peel it and look deeper.
      const next = line.charCodeAt(i + 1);
      if (next === 32 || next === 9) {
        i += 1;
        continue;
      }
      return { kind: "other", width };
    }
    return classifyBody(line, i, measure(line, i));
  }
}

/** Classifies the text of `line` from `at` (nesting removed); a result line is read in place, without a copy. */
function classifyBody(line: string, at: number, width: number): KtapLine {
  const c = line.charCodeAt(at);
  if (c === 111 /* o */ || c === 110 /* n */) {
    const r = scanResultLine(line, at);
    if (r) return { kind: "result", width, result: r };
    return { kind: "other", width };
  }
  if (c !== 49 /* 1 */ && c !== 75 /* K */ && c !== 84 /* T */ && c !== 66 /* B */) return { kind: "other", width };
  const body = at === 0 ? line : line.slice(at);
  if (c === 49 /* 1 */) {
    const m = PLAN.exec(body);
    if (m) {
      const skipM = m[2] !== undefined ? /^skip\b\s*(.*)$/i.exec(m[2]) : null;
      return skipM ? { kind: "plan", width, count: Number(m[1]), skip: skipM[1] ?? "" } : { kind: "plan", width, count: Number(m[1]) };
    }
  } else if (c === 75 /* K */ || c === 84 /* T */) {
    if (VERSION.test(body)) return { kind: "version", width };
  } else if (c === 66 /* B */) {
    const m = BAIL.exec(body);
    if (m) return { kind: "bail", width, reason: m[1] ?? "" };
  }
  return { kind: "other", width };
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * Reads `ok N [desc]` / `not ok N [desc]` (whitespace runs allowed between the parts) from `body` at `at`, by hand:
 * this runs for every result line, and a regex with captures costs a match array and three strings per line.
 */
function scanResultLine(body: string, at: number): ResultLine | undefined {
  let i: number;
  let ok: boolean;
  if (body.charCodeAt(at) === 111 /* o */ && body.charCodeAt(at + 1) === 107 /* k */) {
    ok = true;
    i = at + 2;
  } else if (body.charCodeAt(at) === 110 /* n */ && body.charCodeAt(at + 1) === 111 /* o */ && body.charCodeAt(at + 2) === 116 /* t */) {
    i = at + 3;
    if (!isSpace(body.charCodeAt(i))) return undefined;
    while (isSpace(body.charCodeAt(i))) i++;
    if (body.charCodeAt(i) !== 111 /* o */ || body.charCodeAt(i + 1) !== 107 /* k */) return undefined;
    ok = false;
    i += 2;
  } else return undefined;
  if (!isSpace(body.charCodeAt(i))) return undefined;
  while (isSpace(body.charCodeAt(i))) i++;
  const numAt = i;
  let num = 0;
  for (let c = body.charCodeAt(i); c >= 48 && c <= 57; c = body.charCodeAt(++i)) num = num * 10 + (c - 48);
  if (i === numAt) return undefined;
  if (i === body.length) return parseResult(ok, num, "");
  if (!isSpace(body.charCodeAt(i))) return undefined;
  while (isSpace(body.charCodeAt(i))) i++;
  return parseResult(ok, num, body.slice(i));
}

function parseResult(ok: boolean, num: number, desc: string): ResultLine {
  let text = desc;
  const res: ResultLine = { ok, num, name: "" };
  if (desc.indexOf("#") === -1) {
    // Most result lines carry no directive: skip the directive searches.
    if (text.charCodeAt(0) === 45 /* - */ && (text.length === 1 || text.charCodeAt(1) === 32)) text = text.slice(1);
    res.name = text.trim();
    return res;
  }
  // `\#` is an escaped literal; hide it from the directive search.
  const masked = text.indexOf("\\#") === -1 ? text : text.replace(/\\#/g, "\uE000");
  let dm = DIRECTIVE.exec(masked);
  const em = EXIT.exec(masked);
  // exit=N is data: take the directive search from the text before it, so `# exit=1 # SKIP` stays possible.
  if (em && (!dm || em.index < dm.index)) {
    res.exitCode = Number(em[1]);
    const after = em[2] ?? "";
    text = masked.slice(0, em.index);
    const inner = DIRECTIVE.exec(" " + after);
    if (inner) {
      res.directive = normaliseDirective(inner[1] ?? "");
      res.directiveText = (inner[2] ?? "").trim();
    } else if (after.trim()) res.comment = after.trim();
    dm = null;
  } else if (dm) {
    res.directive = normaliseDirective(dm[1] ?? "");
    res.directiveText = (dm[2] ?? "").trim();
    text = masked.slice(0, dm.index);
  } else {
    const cm = COMMENT.exec(masked);
    text = masked;
    if (cm) {
      res.comment = (cm[1] ?? "").replace(/\uE000/g, "#").trim();
      text = masked.slice(0, cm.index);
    }
  }
  text = text.replace(/\uE000/g, "#").trim();
  if (text.startsWith("- ")) text = text.slice(2).trim();
  else if (text === "-") text = "";
  res.name = text;
  return res;
}

function normaliseDirective(word: string): Directive {
  return word.toUpperCase() as Directive;
}

function parseTotals(text: string): Partial<Record<TotalsKey, number>> {
  const out: Partial<Record<TotalsKey, number>> = {};
  for (const m of text.matchAll(/(pass|fail|xfail|xpass|skip|error):\s*(\d+)/g)) out[m[1] as TotalsKey] = Number(m[2]);
  return out;
}

/** True when a cut-off line could be the start of a result line (`not o`, `ok 2 partial`). */
export function looksLikeCutResult(line: string): boolean {
  const body = line.replace(/^[\s#]*/, "");
  if (body.length === 0) return false;
  return /^(?:ok|not ok)\b/.test(body) || "not ok".startsWith(body) || "ok".startsWith(body);
}

const SIGNALS: Record<number, string> = {
  1: "SIGHUP",
  2: "SIGINT",
  3: "SIGQUIT",
  4: "SIGILL",
  5: "SIGTRAP",
  6: "SIGABRT",
  7: "SIGBUS",
  8: "SIGFPE",
  9: "SIGKILL",
  10: "SIGUSR1",
  11: "SIGSEGV",
  12: "SIGUSR2",
  13: "SIGPIPE",
  14: "SIGALRM",
  15: "SIGTERM",
  16: "SIGSTKFLT",
  17: "SIGCHLD",
  18: "SIGCONT",
  19: "SIGSTOP",
  20: "SIGTSTP",
  21: "SIGTTIN",
  22: "SIGTTOU",
  23: "SIGURG",
  24: "SIGXCPU",
  25: "SIGXFSZ",
  26: "SIGVTALRM",
  27: "SIGPROF",
  28: "SIGWINCH",
  29: "SIGIO",
  30: "SIGPWR",
  31: "SIGSYS",
};

/** Describes a program's exit code as a reason: 128+N means killed by signal N (x86 numbering). */
export function describeExitCode(code: number): string {
  if (code > 128 && code < 128 + 65) {
    const sig = code - 128;
    return `killed by signal ${sig}${SIGNALS[sig] ? ` (${SIGNALS[sig]})` : ""}`;
  }
  if (code === 127) return "exit code 127 (test program not found)";
  if (code === 126) return "exit code 126 (test program not executable)";
  return `exit code ${code}`;
}

/** Maps a result line to a status and a human reason. */
export function statusOfResult(r: ResultLine): { status: Status; reason?: string } {
  const text = r.directiveText ? r.directiveText : undefined;
  const exitReason = r.exitCode !== undefined && r.exitCode !== 0 ? describeExitCode(r.exitCode) : undefined;
  switch (r.directive) {
    case "SKIP":
      return { status: "SKIP", reason: text ?? exitReason };
    case "TODO":
      return r.ok ? { status: "XPASS", reason: text ? `TODO ${text}` : "passed although marked TODO" } : { status: "XFAIL", reason: text };
    case "XFAIL":
      return { status: "XFAIL", reason: text };
    case "XPASS":
      return { status: "XPASS", reason: text ?? "unexpected pass" };
    case "TIMEOUT":
      return { status: "TIMEOUT", reason: text ? `timed out (${text})` : "timed out" };
    case "ERROR":
      return { status: "ERROR", reason: text ?? exitReason ?? "error" };
    case "CRASH":
      return { status: "CRASH", reason: text ?? "crashed" };
    default:
      if (r.ok) return { status: "PASS" };
      return { status: "FAIL", reason: exitReason ?? text ?? r.comment };
  }
}
