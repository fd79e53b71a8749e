// Renders a run as a KCIDB v5 submission (kernelci/kcidb-io schema v5.3): the checkout (tree, commit, patch set),
// the build (compiler, architecture, config, duration, log excerpt) and one test per reported result (path,
// status, start time, duration, environment). Pure: the provenance is read and hashed by the caller.

import type { RunResult, TestResult } from "../types.js";
import { listReportedTests } from "../results/index.js";

/** The schema's maxLength of every log_excerpt. */
export const KCIDB_LOG_EXCERPT_MAX = 16384;
/** The schema version written (kcidb-io's v5.3: builds carry a status, checkouts a patchset_hash). */
export const KCIDB_VERSION = { major: 5, minor: 3 } as const;

/** Where the kernel came from and how it was built, as far as the run directory and the build cache know. */
export interface KcidbProvenance {
  checkout?: {
    /** The tree's git remote, when it is (or maps to) an https:// URL. */
    treeUrl?: string;
    treeName?: string;
    /** The commit the patches applied to (a git tree). */
    commit?: string;
    branch?: string;
    /** The patch series in order of application, each with a URL of the text applied and its sha256. */
    patches?: { name: string; url: string; sha256: string }[];
    /** KCIDB's patchset_hash: sha256 over the newline-terminated sha256 of each patch, in order ("" = none). */
    patchsetHash?: string;
    /** Anything else worth keeping (tree kind, content identity, uncommitted changes). */
    misc?: Record<string, unknown>;
  };
  build?: {
    compiler?: string;
    architecture?: string;
    configName?: string;
    configSha256?: string;
    configUrl?: string;
    durationMs?: number;
    startTime?: string;
    logExcerpt?: string;
    logUrl?: string;
    command?: string;
    misc?: Record<string, unknown>;
  };
  environment?: { qemuVersion?: string; qemuBinary?: string; machine?: string; accel?: string; comment?: string };
}

/** Identity of the submission; ids must start with `origin:`. */
export interface KcidbOptions {
  /** CI system name, `[a-z0-9_]+` (other characters are replaced with `_`). */
  origin: string;
  /** Unique run id: every object id is `origin:runId...`, so two runs never share an id. */
  runId: string;
  /** An existing checkout id; when absent the checkout object is emitted. */
  checkoutId?: string;
  /** An existing build id; when absent the build object is emitted. */
  buildId?: string;
  /** Path prefix of every test, e.g. "kharness" (dotted, sanitised). */
  pathPrefix?: string;
  /** URL of the console log, when published. */
  logUrl?: string;
  provenance?: KcidbProvenance;
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

/** The schema forbids NUL anywhere in text. */
const noNul = (s: string) => s.replace(/\0/g, "");

/** The tail of some lines within the schema's excerpt limit (the end of a log is where a failure shows). */
export function kcidbExcerpt(lines: readonly string[]): string | undefined {
  if (lines.length === 0) return undefined;
  // Count UTF-16 units, which never undercounts code points (the schema's maxLength).
  const kept: string[] = [];
  let size = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = noNul(lines[i]!);
    if (size + l.length + 1 > KCIDB_LOG_EXCERPT_MAX) break;
    kept.unshift(l);
    size += l.length + 1;
  }
  return kept.length > 0 ? kept.join("\n") + "\n" : noNul(lines[lines.length - 1]!).slice(-(KCIDB_LOG_EXCERPT_MAX - 1)) + "\n";
}

function excerpt(t: TestResult): string | undefined {
  return kcidbExcerpt([...t.kernelEvents.flatMap((e) => e.lines), ...t.log]);
}

/**
 * A test's start as an ISO time: when QEMU started (or, in older results, the run's start plus the boot stage's
 * offset), plus the test's start on the guest's clock (ms since the kernel started). Approximate by the time QEMU
 * takes to start the kernel.
 */
function testStart(run: RunResult, t: TestResult): string | undefined {
  const qemuAt = run.boot?.qemuStartedAt ? Date.parse(run.boot.qemuStartedAt) : Number.NaN;
  const runAt = run.startedAt ? Date.parse(run.startedAt) : Number.NaN;
  const bootAt = Number.isNaN(qemuAt) ? runAt + (run.stages?.find((s) => s.stage === "boot")?.startMs ?? 0) : qemuAt;
  if (Number.isNaN(bootAt)) return undefined;
  if (t.startMs === undefined) return new Date(Number.isNaN(runAt) ? bootAt : runAt).toISOString();
  return new Date(bootAt + t.startMs).toISOString();
}

/** Drops undefined fields (the schema allows no nulls, and absent means unknown). */
function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Renders a KCIDB v5.3 submission: a checkout, a build and one test object per reported leaf test. */
export function renderKcidb(run: RunResult, opts: KcidbOptions): string {
  const origin = opts.origin.toLowerCase().replace(/[^a-z0-9_]/g, "_") || "kharness";
  const runKey = `${origin}:${opts.runId}`;
  const checkoutId = opts.checkoutId ?? runKey;
  const buildId = opts.buildId ?? `${runKey}:build`;
  const prefix = opts.pathPrefix ? toKcidbPath(opts.pathPrefix) + "." : "";
  const p = opts.provenance ?? {};
  const env = p.environment;
  const environment =
    env || run.boot
      ? defined({
          comment: env?.comment ?? (run.boot ? `QEMU ${env?.qemuVersion ?? ""} -M ${run.boot.machine}, ${run.boot.accel}`.replace(/ {2,}/g, " ") : undefined),
          misc: defined({
            qemu_version: env?.qemuVersion,
            qemu_binary: env?.qemuBinary,
            machine: env?.machine ?? run.boot?.machine,
            accelerator: env?.accel ?? run.boot?.accel,
            kernel_cmdline: run.kernel?.cmdline,
          }),
        })
      : undefined;
  const tests = listReportedTests(run.tests).map((t) =>
    defined({
      id: `${runKey}:${t.id}`,
      origin,
      build_id: buildId,
      path: prefix + toKcidbPath(t.id),
      status: toKcidbStatus(t),
      comment: t.reason ? noNul(t.reason) : undefined,
      log_excerpt: excerpt(t),
      log_url: opts.logUrl,
      start_time: testStart(run, t),
      duration: t.durationMs !== undefined ? t.durationMs / 1000 : undefined,
      environment,
      misc: { kharness_status: t.status, kernel_events: t.kernelEvents.map((e) => `${e.kind}: ${e.title}`) },
    }),
  );
  const doc: Record<string, unknown> = { version: { ...KCIDB_VERSION } };
  if (!opts.checkoutId) {
    const c = p.checkout ?? {};
    doc.checkouts = [
      defined({
        id: checkoutId,
        origin,
        tree_name: c.treeName,
        git_repository_url: c.treeUrl,
        git_commit_hash: c.commit,
        git_repository_branch: c.branch,
        patchset_files: c.patches?.map((f) => ({ name: f.name, url: f.url })),
        patchset_hash: c.patchsetHash,
        start_time: run.startedAt,
        valid: true,
        misc: c.misc && Object.keys(c.misc).length ? c.misc : undefined,
      }),
    ];
  }
  if (!opts.buildId) {
    const b = p.build ?? {};
    doc.builds = [
      defined({
        id: buildId,
        origin,
        checkout_id: checkoutId,
        comment: run.kernel?.release ? `kernel ${run.kernel.release}` : undefined,
        start_time: b.startTime,
        duration: b.durationMs !== undefined ? b.durationMs / 1000 : undefined,
        architecture: b.architecture,
        compiler: b.compiler,
        config_name: b.configName,
        config_url: b.configUrl,
        command: b.command,
        log_url: b.logUrl,
        log_excerpt: b.logExcerpt,
        // The kernel was there to boot: a build that failed never reaches a report with tests.
        status: "PASS",
        misc: defined({ config_sha256: b.configSha256, kernel_release: run.kernel?.release, kernel_source: run.kernel?.source, ...b.misc }),
      }),
    ];
  }
  doc.tests = tests;
  return JSON.stringify(doc, null, 2) + "\n";
}
