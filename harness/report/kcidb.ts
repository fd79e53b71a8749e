// Renders a run as KCIDB v5 JSON (kernelci/kcidb-io schema): tests with dotted paths, mapped statuses, bounded log excerpts.

import type { RunResult, TestResult } from "../types.js";
import { listReportedTests } from "../results/index.js";

/** The schema's maxLength of test.log_excerpt. */
export const KCIDB_LOG_EXCERPT_MAX = 16384;

/** Identity of the submission; ids must start with `origin:`. */
export interface KcidbOptions {
  /** CI system name, `[a-z0-9_]+` (other characters are replaced with `_`). */
  origin: string;
  /** Unique run id used to build object ids when checkoutId/buildId are not given. */
  runId: string;
  /** An existing checkout id; when absent a minimal checkout object is emitted. */
  checkoutId?: string;
  /** An existing build id; when absent a minimal build object is emitted. */
  buildId?: string;
  /** Path prefix of every test, e.g. "kharness" (dotted, sanitised). */
  pathPrefix?: string;
  /** URL of the console log, when published. */
  logUrl?: string;
}

type KcidbStatus = "PASS" | "FAIL" | "ERROR" | "MISS" | "SKIP";

/** Maps a kharness status to KCIDB: tests that never ran are MISS; XFAIL passes; a timeout is an ERROR. */
export function toKcidbStatus(t: TestResult): KcidbStatus {
  const notRun = t.reason?.startsWith("not run") ?? false;
  switch (t.status) {
    case "PASS":
    case "XFAIL":
      return "PASS";
    case "FAIL":
    case "XPASS":
      return "FAIL";
    case "SKIP":
      return "SKIP";
    case "TIMEOUT":
      return "ERROR";
    case "CRASH":
      return notRun ? "MISS" : "FAIL";
    case "ERROR":
      return notRun ? "MISS" : "ERROR";
  }
}

/** Makes a dotted id match the schema's test path pattern `[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*`. */
export function toKcidbPath(id: string): string {
  return id
    .split(".")
    .map((seg) => seg.replace(/[^a-zA-Z0-9_-]/g, "_") || "_")
    .join(".");
}

function excerpt(t: TestResult): string | undefined {
  const lines = [...t.kernelEvents.flatMap((e) => e.lines), ...t.log];
  if (lines.length === 0) return undefined;
  // Keep the tail: the end of a log is where the failure shows. Count UTF-16 units, which never undercounts code points.
  const kept: string[] = [];
  let size = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (size + l.length + 1 > KCIDB_LOG_EXCERPT_MAX) break;
    kept.unshift(l);
    size += l.length + 1;
  }
  return kept.length > 0 ? kept.join("\n") + "\n" : lines[lines.length - 1]!.slice(-(KCIDB_LOG_EXCERPT_MAX - 1)) + "\n";
}

/** Renders a KCIDB v5.0 submission with one test object per reported leaf test. */
export function renderKcidb(run: RunResult, opts: KcidbOptions): string {
  const origin = opts.origin.toLowerCase().replace(/[^a-z0-9_]/g, "_") || "kharness";
  const checkoutId = opts.checkoutId ?? `${origin}:${opts.runId}:checkout`;
  const buildId = opts.buildId ?? `${origin}:${opts.runId}:build`;
  const prefix = opts.pathPrefix ? toKcidbPath(opts.pathPrefix) + "." : "";
  const tests = listReportedTests(run.tests).map((t) => {
    const o: Record<string, unknown> = {
      id: `${origin}:${opts.runId}:${t.id}`,
      origin,
      build_id: buildId,
      path: prefix + toKcidbPath(t.id),
      status: toKcidbStatus(t),
    };
    if (t.reason) o.comment = t.reason;
    const ex = excerpt(t);
    if (ex !== undefined) o.log_excerpt = ex;
    if (opts.logUrl) o.log_url = opts.logUrl;
    if (t.durationMs !== undefined) o.duration = t.durationMs / 1000;
    if (run.startedAt) o.start_time = run.startedAt;
    o.misc = { kharness_status: t.status, kernel_events: t.kernelEvents.map((e) => `${e.kind}: ${e.title}`) };
    return o;
  });
  const doc: Record<string, unknown> = { version: { major: 5, minor: 0 } };
  if (!opts.checkoutId) doc.checkouts = [{ id: checkoutId, origin }];
  if (!opts.buildId) {
    const build: Record<string, unknown> = { id: buildId, origin, checkout_id: checkoutId };
    if (run.kernel?.release) build.comment = `kernel ${run.kernel.release}`;
    doc.builds = [build];
  }
  doc.tests = tests;
  return JSON.stringify(doc, null, 2) + "\n";
}
