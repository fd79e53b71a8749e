// Pure: bisect.json (its types and schema version, docs/bisect.md) and what is rendered from it: the terminal
// answer with the per-step table, and the `git bisect log`-style file that `git bisect replay` accepts.

import type { RunRequest, Status } from "../types.js";
import type { Revision } from "./revisions.js";
import type { Verdict } from "./search.js";

/** Bumped on any incompatible change to bisect.json (docs/bisect.md). */
export const BISECT_SCHEMA_VERSION = 1;

/** One boot of one step. */
export interface RunRecord {
  /** The run directory, relative to the bisection's directory. */
  dir: string;
  outcome: "tested" | "untestable";
  /** Why it could not be tested (patch, build or boot). */
  error?: string;
  /** The kernel came from the build cache (no make ran). */
  cacheHit?: boolean;
  /** The kernel's cache key. */
  cacheKey?: string;
  /** Not built: an earlier build of the same source failed (build-memory.ts; --retry-untestable builds it). */
  remembered?: boolean;
  buildMs?: number;
  bootMs?: number;
  testMs?: number;
  wallMs: number;
  /** Test statuses: every test at the ends, the signature's at other steps. */
  statuses?: Record<string, Status>;
}

/** A signature test failing at a bad step, as the guest reported it. */
export interface Failure {
  id: string;
  status: Status;
  reason?: string;
  log: string[];
}

export interface StepRecord {
  step: number;
  index: number;
  revision: string;
  label: string;
  role: "good-end" | "bad-end" | "probe";
  verdict: Verdict;
  reason?: string;
  failing: string[];
  flaky: string[];
  failures?: Failure[];
  runs: RunRecord[];
}

export interface BisectResult {
  /** found: one first bad revision; ambiguous/flaky: several candidates (skipped or flaky ones hide it); bad-ends: stopped at the ends. */
  status: "found" | "ambiguous" | "flaky" | "bad-ends";
  message: string;
  firstBad?: Revision;
  candidates?: Revision[];
  skipped?: Revision[];
  flaky?: Revision[];
  /** The last good or the first bad step had signature tests whose repeats disagreed. */
  restsOnFlaky?: boolean;
  flipped?: Failure[];
}

export interface BisectDoc {
  schemaVersion: number;
  mode: "patches" | "commits";
  state: "running" | "done" | "interrupted" | "failed";
  startedAt: string;
  request: { mode: "patches" | "commits"; good?: string; bad?: string; pinned: string[]; repeat: number; run: RunRequest };
  revisions: Revision[];
  signature: { tests: string[]; pinned: boolean; flakyAtEnds: string[] } | null;
  steps: StepRecord[];
  result?: BisectResult;
  /** Wall time of the whole bisection (over every resume), ms. */
  wallMs: number;
}

const secs = (ms: number | undefined) => (ms === undefined ? "-" : `${(ms / 1000).toFixed(1)}s`);

/** One line per step: revision, verdict, build (or cache hit), boot and test time. */
export function renderStepTable(doc: BisectDoc): string {
  const rows = [["step", "revision", "verdict", "build", "boot", "tests", "subject"]];
  for (const s of doc.steps) {
    const rev = doc.revisions[s.index];
    const build = s.runs
      .map((r) =>
        r.cacheHit ? "cached" : r.remembered ? "failed before" : r.buildMs !== undefined ? secs(r.buildMs) : r.outcome === "untestable" ? "failed" : "-",
      )
      .join("/");
    const sum = (f: (r: RunRecord) => number | undefined) => {
      const xs = s.runs.map(f).filter((x): x is number => x !== undefined);
      return xs.length ? secs(xs.reduce((a, b) => a + b, 0)) : "-";
    };
    rows.push([
      String(s.step),
      s.label,
      s.verdict + (s.flaky.length && s.verdict !== "flaky" ? "*" : ""),
      build,
      sum((r) => r.bootMs),
      sum((r) => r.testMs),
      (rev?.subject ?? "").slice(0, 60),
    ]);
  }
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  return (
    rows
      .map((r) =>
        r
          .map((x, c) => (c === r.length - 1 ? x : x.padEnd(widths[c] ?? 0)))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

/** The answer for the terminal: the first bad revision (or the candidates), the flipped tests, the table. */
export function renderBisectSummary(doc: BisectDoc): string {
  const r = doc.result;
  const out: string[] = [];
  const what = doc.mode === "commits" ? "commit" : "patch";
  const describe = (rev: Revision) =>
    [
      `  ${doc.mode === "commits" ? rev.id : `${rev.label}: ${rev.id}`}`,
      rev.subject ? `  subject: ${rev.subject}` : "",
      rev.author ? `  author:  ${rev.author}` : "",
      rev.date ? `  date:    ${rev.date}` : "",
    ].filter(Boolean);
  if (doc.signature) out.push(`signature (${doc.signature.pinned ? "pinned by --test" : "fails at the bad end only"}): ${doc.signature.tests.join(", ")}`);
  if (doc.signature?.flakyAtEnds.length) out.push(`flaky at the ends (not in the signature): ${doc.signature.flakyAtEnds.join(", ")}`);
  out.push("", renderStepTable(doc).trimEnd(), "");
  if (r?.status === "found" && r.firstBad) {
    out.push(`first bad ${what}:`, ...describe(r.firstBad));
    if (r.restsOnFlaky) out.push("  NOTE: this answer rests on steps whose repeats disagreed (marked * above)");
  } else if (r && r.status !== "bad-ends") {
    out.push(`no single first bad ${what}: ${r.message}`);
    for (const c of r.candidates ?? []) out.push(...describe(c));
  } else if (r) out.push(r.message);
  if (r?.skipped?.length) out.push(`could not be tested (skipped): ${r.skipped.map((x) => x.label).join(", ")}`);
  if (r?.flaky?.length) out.push(`flaky (repeats disagreed, not used to steer): ${r.flaky.map((x) => x.label).join(", ")}`);
  if (r?.flipped?.length) {
    out.push(`tests that flipped (at ${r.firstBad?.label ?? "the first bad step"}):`);
    for (const f of r.flipped) {
      out.push(`  ${f.status} ${f.id}${f.reason ? `: ${f.reason}` : ""}`);
      for (const l of f.log.slice(-8)) out.push(`      ${l}`);
    }
  }
  return out.join("\n") + "\n";
}

/**
 * A `git bisect log` for commit bisection, which `git bisect replay FILE` accepts: the start with both ends, then
 * each probe as good, bad or skip (a flaky step is a skip: it was not used to steer), and the answer as a comment.
 */
export function renderGitBisectLog(doc: BisectDoc): string {
  const rev = (i: number) => doc.revisions[i];
  const good = rev(0);
  const bad = rev(doc.revisions.length - 1);
  if (doc.mode !== "commits" || !good || !bad) return "";
  const lines: string[] = [
    `# bad: [${bad.id}] ${bad.subject ?? ""}`,
    `# good: [${good.id}] ${good.subject ?? ""}`,
    `git bisect start '${bad.id}' '${good.id}'`,
  ];
  for (const s of doc.steps) {
    if (s.role !== "probe") continue;
    const r = rev(s.index);
    const cmd = s.verdict === "good" ? "good" : s.verdict === "bad" ? "bad" : "skip";
    lines.push(`# ${cmd}: [${s.revision}] ${r?.subject ?? ""}${s.verdict === "flaky" ? " (flaky)" : ""}`, `git bisect ${cmd} ${s.revision}`);
  }
  const res = doc.result;
  if (res?.status === "found" && res.firstBad) lines.push(`# first bad commit: [${res.firstBad.id}] ${res.firstBad.subject ?? ""}`);
  else if (res?.candidates?.length) {
    lines.push("# only skipped commits left to test");
    for (const c of res.candidates) lines.push(`# possible first bad commit: [${c.id}] ${c.subject ?? ""}`);
  }
  return lines.join("\n") + "\n";
}
