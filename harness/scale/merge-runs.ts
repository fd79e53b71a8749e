// Pure: the parsed results of several parts of one test list (guests of a --jobs run, shards) -> one RunResult.

import { summarize } from "../results/index.js";
import type { BootResult, RunResult, Status, TestResult } from "../types.js";

/** One part: its label (guest-1, shard-2) and its parsed run. */
export interface RunPart {
  label: string;
  run: RunResult;
}

/**
 * Joins parts into one run, as one guest running the whole list would have reported it: top-level tests in the
 * order of `order` (the run's program names; names it lacks go last, in part order), the summary counted again
 * from them, diagnostics and unattributed kernel events kept with the part they came from (`where`), and "could
 * not test" when any part could not test (a part of the list went untested). Kernel events attached to tests
 * stay on those tests. Run identity, kernel and boot are left to the caller (mergeBoots for boot).
 */
export function mergeRunParts(parts: readonly RunPart[], order: readonly string[], caseOrder?: (program: string) => readonly string[] | undefined): RunResult {
  const rank = new Map(order.map((n, i) => [n, i]));
  const tests: { t: TestResult; key: number; seq: number }[] = [];
  let seq = 0;
  for (const p of parts) for (const t of p.run.tests) tests.push({ t, key: rank.get(t.id) ?? Number.MAX_SAFE_INTEGER, seq: seq++ });
  tests.sort((a, b) => a.key - b.key || a.seq - b.seq);
  // A program split by case over several guests (caseOrder knows its cases) comes back once per guest: one entry again.
  const merged: TestResult[] = [];
  for (const x of tests) {
    const last = merged[merged.length - 1];
    const cases = caseOrder?.(x.t.id);
    if (last && cases && last.id === x.t.id) merged[merged.length - 1] = joinSplitProgram(last, x.t, cases);
    else merged.push(x.t);
  }
  const first = parts[0]?.run;
  const untested = parts.filter((p) => p.run.couldNotTest);
  const cnt = untested[0]?.run.couldNotTest;
  const selftestDefines = parts.find((p) => p.run.payloadBuild)?.run.payloadBuild;
  return {
    schemaVersion: first?.schemaVersion ?? 1,
    tests: merged,
    summary: summarize(merged),
    diagnostics: parts.flatMap((p) => p.run.diagnostics.map((d) => ({ ...d, where: d.where ? `${p.label}: ${d.where}` : p.label }))),
    kernelEvents: parts.flatMap((p) => p.run.kernelEvents),
    ...(selftestDefines ? { payloadBuild: selftestDefines } : {}),
    ...(cnt ? { couldNotTest: { cause: cnt.cause, reason: untested.map((p) => `${p.label}: ${p.run.couldNotTest?.reason}`).join("; ") } } : {}),
  };
}

/** Failing statuses, the one that best explains a program's failure first. */
const WORST_FIRST: readonly Status[] = ["CRASH", "TIMEOUT", "ERROR", "FAIL", "XPASS"];

/**
 * Two results of one program that ran in parts (each part a subset of its cases): its cases in the program's
 * own order (`cases`, else as they came), the status the whole program would have had (the worst failure;
 * else PASS when a part passed, since a program exits 0 when some case passed and the rest skipped; else
 * the first part's), logs and kernel reports of both, and the parts' durations added up.
 */
export function joinSplitProgram(a: TestResult, b: TestResult, cases?: readonly string[]): TestResult {
  const rank = new Map((cases ?? []).map((c, i) => [c, i]));
  const key = (t: TestResult) => rank.get(t.name) ?? Number.MAX_SAFE_INTEGER;
  const children = [...a.children, ...b.children].map((t, seq) => ({ t, seq })).sort((x, y) => key(x.t) - key(y.t) || x.seq - y.seq);
  const worst = WORST_FIRST.find((st) => a.status === st || b.status === st);
  const from = worst ? (a.status === worst ? a : b) : a.status === "PASS" || b.status !== "PASS" ? a : b;
  const status: Status = worst ?? (a.status === "PASS" || b.status === "PASS" ? "PASS" : a.status);
  const durationMs = a.durationMs !== undefined || b.durationMs !== undefined ? (a.durationMs ?? 0) + (b.durationMs ?? 0) : undefined;
  const out: TestResult = {
    ...a,
    status,
    log: [...a.log, ...b.log],
    kernelEvents: [...a.kernelEvents, ...b.kernelEvents],
    children: children.map((x) => x.t),
  };
  if (from.reason !== undefined) out.reason = from.reason;
  else delete out.reason;
  if (durationMs !== undefined) out.durationMs = durationMs;
  if (!(a.unreported && b.unreported)) delete out.unreported;
  return out;
}

/** One guest's boot, as the parts report it. */
export type PartBoot = Omit<BootResult, "consoleLogPath" | "resultsLogPath">;

/**
 * The boot of a run made of parts: the first part that did not power off gives the end (its label in the
 * detail), otherwise poweroff; the longest boot and total times; the accelerator and machine of the first.
 */
export function mergeBoots(parts: readonly { label: string; boot: PartBoot }[]): PartBoot | undefined {
  const first = parts[0]?.boot;
  if (!first) return undefined;
  const bad = parts.find((p) => p.boot.end !== "poweroff");
  const max = (xs: (number | undefined)[]) => {
    const known = xs.filter((x): x is number => typeof x === "number");
    return known.length ? Math.max(...known) : undefined;
  };
  const bootMs = max(parts.map((p) => p.boot.durations.bootMs));
  return {
    end: bad ? bad.boot.end : "poweroff",
    ...(bad ? { endDetail: `${bad.label}${bad.boot.endDetail ? `: ${bad.boot.endDetail}` : ""}` } : {}),
    ...(bad && bad.boot.qemuExitCode !== undefined ? { qemuExitCode: bad.boot.qemuExitCode } : {}),
    accel: first.accel,
    machine: first.machine,
    durations: { ...(bootMs !== undefined ? { bootMs } : {}), totalMs: max(parts.map((p) => p.boot.durations.totalMs)) ?? 0 },
  };
}
