// Re-emits a run as KTAP that kharness and the kernel's kunit.py both read back to the same counts.

import type { RunResult, Status, TestResult } from "../types.js";
import { parentAddsEntry } from "../results/index.js";

const INDENT = "    ";
// A parent reported FAIL/TIMEOUT/ERROR/CRASH while its subtests look fine gets one extra subtest carrying that status,
// because kunit.py counts only the subtests of a parent.

/** A name safe on a result line: no `#` (it would start a directive), no line breaks, never empty. */
function lineName(t: TestResult): string {
  const n = UNSAFE.test(t.name)
    ? t.name
        .replace(/#/g, "_")
        .replace(/[\r\n]+/g, " ")
        .trim()
    : t.name;
  return n || t.id.slice(t.id.lastIndexOf(".") + 1);
}

const UNSAFE = /[#\r\n]|^\s|\s$/;

function oneLine(text: string | undefined): string {
  if (text === undefined) return "";
  return UNSAFE.test(text)
    ? text
        .replace(/[\r\n]+/g, " ")
        .replace(/#/g, "_")
        .trim()
    : text;
}

/** The result line for a status: failures are `not ok` so kunit.py counts them as failed too. */
function resultLine(num: number, name: string, status: Status, reason: string | undefined): string {
  const why = oneLine(reason);
  const tail = why ? ` ${why}` : "";
  switch (status) {
    case "PASS":
      return `ok ${num} ${name}`;
    case "SKIP":
      return `ok ${num} ${name} # SKIP${tail}`;
    case "XFAIL":
      return `ok ${num} ${name} # XFAIL${tail}`;
    case "FAIL":
      return why ? `not ok ${num} ${name} # ${why.replace(/^(skip|todo|xfail|xpass|timeout|error|crash|exit=)/i, "_$1")}` : `not ok ${num} ${name}`;
    case "XPASS":
      return `not ok ${num} ${name} # XPASS${tail}`;
    case "TIMEOUT":
      return `not ok ${num} ${name} # TIMEOUT${tail}`;
    case "CRASH":
      return `not ok ${num} ${name} # CRASH${tail}`;
    case "ERROR":
      return `not ok ${num} ${name} # error${tail}`;
  }
}

function emit(out: string[], t: TestResult, num: number, depth: number): void {
  const pad = INDENT.repeat(depth);
  const name = lineName(t);
  if (t.children.length > 0) {
    const sub = INDENT.repeat(depth + 1);
    const addsOwnResult = parentAddsEntry(t);
    out.push(`${sub}KTAP version 1`, `${sub}# Subtest: ${name}`, `${sub}1..${t.children.length + (addsOwnResult ? 1 : 0)}`);
    t.children.forEach((c, i) => emit(out, c, i + 1, depth + 1));
    if (addsOwnResult) out.push(sub + resultLine(t.children.length + 1, `${name}_own_result`, t.status, t.reason));
  }
  for (const e of t.kernelEvents) out.push(`${pad}# kernel ${e.kind}: ${oneLine(e.title)}`);
  out.push(pad + resultLine(num, name, t.status, t.reason));
}

/** Renders KTAP version 1 with nested subtests (4-space indentation and `# Subtest:` headers). */
export function renderTap(run: RunResult): string {
  const out = ["KTAP version 1", `1..${run.tests.length}`];
  run.tests.forEach((t, i) => emit(out, t, i + 1, 0));
  // Reports outside every test that did not fail the run (those that did belong to the `kernel` entry above).
  for (const e of run.kernelEvents) out.push(`# kernel ${e.kind} outside any test: ${oneLine(e.title)}`);
  return out.join("\n") + "\n";
}
