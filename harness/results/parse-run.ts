// Streams -> RunResult: the results port (pure KTAP) and the console (kernel log), or one mixed log for `kharness parse`.

import type { BootEnd, Diagnostic, KernelEvent, ProgressEvent, RunResult, TestResult } from "../types.js";
import { createLineSplitter, findSplice, stripAnsi, stripPrintk, type LineSplitter } from "./lines.js";
import { createKernelScanner, type KernelScanner } from "./kernel-events.js";
import { createKtapTree, toIdSegment, type KtapTree, type Pending } from "./ktap-tree.js";
import { summarize } from "./summary.js";

/** Version of the RunResult JSON schema (docs/results-schema.md). */
export const RESULTS_SCHEMA_VERSION = 1;

/** Options of a run parser. */
export interface RunParserOptions {
  /** Receives test-start, test-end and kernel-event progress events. */
  onEvent?: (e: ProgressEvent) => void;
  /** Log lines kept per test (first half and last half); default 400. */
  maxLogLinesPerTest?: number;
  /** Kernel WARN/Oops/BUG/KASAN/lockdep reports turn a passing test into FAIL. */
  failOnWarn?: boolean;
}

/** How the stream ended: a boot end from the supervisor, or "eof" for a file. */
export interface StreamEnd {
  end: BootEnd | "eof";
  detail?: string;
}

/** A streaming parser for one boot. */
export interface RunParser {
  /** A chunk of the results port (pure KTAP). */
  pushResults(chunk: string | Uint8Array): void;
  /** A chunk of the serial console (kernel log, kharness markers, maybe KTAP when the results port is missing). */
  pushConsole(chunk: string | Uint8Array): void;
  /** Ends both streams and builds the result; kernel, boot and runId are left for the caller. */
  finish(end: StreamEnd): RunResult;
}

/** Why tests were never reported, per way the stream ended; undefined = the stream ended normally. */
export function describeAbnormalEnd(end: StreamEnd): string | undefined {
  const detail = end.detail ? ` (${end.detail})` : "";
  switch (end.end) {
    case "poweroff":
      return undefined;
    case "panic":
      return `kernel crashed${detail}`;
    case "timeout":
      return `the VM hit the run timeout${detail}`;
    case "idle":
      return `the VM stopped producing output${detail}`;
    case "boot-timeout":
      return `the kernel did not finish booting${detail}`;
    case "qemu-error":
      return `QEMU failed${detail}`;
    case "interrupted":
      return `the run was interrupted${detail}`;
    case "eof":
      return `the output ended early${detail}`;
  }
}

/** One line source: splitter + tree, with kernel-message splice repair. */
interface Lane {
  splitter: LineSplitter;
  tree: KtapTree;
  cut: boolean;
}

interface Shared {
  scanner: KernelScanner;
  markers: string[];
  byMarker: KernelEvent[];
  unattributed: KernelEvent[];
  sawMarker: boolean;
  sawPanic: boolean;
  /** The tree kernel events are attributed to when no marker says otherwise. */
  structure: () => KtapTree | undefined;
}

function createLane(opts: RunParserOptions, scan: ((text: string) => boolean) | undefined): Lane {
  const tree = createKtapTree({ maxLogLinesPerTest: opts.maxLogLinesPerTest ?? 400, ...(opts.onEvent ? { onEvent: opts.onEvent } : {}) });
  let spliceHead: string | undefined;
  let spliceWait = 0;
  /** A whole kernel line: scanned, then kept as log unless it was a kharness marker (protocol, not output). */
  const pushKernelLine = (text: string): void => {
    if (!scan?.(text)) tree.pushLine(text, true);
  };
  const lane: Lane = {
    tree,
    cut: false,
    splitter: createLineSplitter((raw, complete) => {
      // Inlined cleanLine: this runs once per console line, so it avoids allocating a result object.
      const noAnsi = stripAnsi(raw);
      const text = stripPrintk(noAnsi);
      const kernel = text.length !== noAnsi.length;
      const splice = scan ? findSplice(text) : undefined;
      if (splice) {
        // User-space output interrupted by a kernel message: keep the head, the tail comes on a later line.
        spliceHead = (spliceHead ?? "") + splice.head;
        spliceWait = 0;
        pushKernelLine(splice.kernelLine);
        if (!complete) {
          tree.pushLine(spliceHead, false);
          lane.cut = true;
          spliceHead = undefined;
        }
        return;
      }
      if (spliceHead !== undefined) {
        if (kernel && spliceWait < 8) {
          spliceWait++;
          pushKernelLine(text);
          return;
        }
        const joined = spliceHead + (kernel ? "" : text);
        spliceHead = undefined;
        if (kernel) pushKernelLine(text);
        if (!complete) lane.cut = true;
        tree.pushLine(joined, complete || kernel);
        return;
      }
      if (scan?.(text)) return;
      if (!complete) lane.cut = true;
      tree.pushLine(text, complete);
    }),
  };
  return lane;
}

function createShared(opts: RunParserOptions, structure: () => KtapTree | undefined): Shared {
  const shared: Shared = {
    markers: [],
    byMarker: [],
    unattributed: [],
    sawMarker: false,
    sawPanic: false,
    structure,
    scanner: createKernelScanner((e) => opts.onEvent?.({ kind: "kernel-event", event: e })),
  };
  return shared;
}

/** Scans one console line; returns true when it was a kharness marker, which is protocol and not test output. */
function scanKernelLine(shared: Shared, text: string, opts: RunParserOptions): boolean {
  const out = shared.scanner.scanLine(text);
  if (out.kind === "marker") {
    shared.sawMarker = true;
    if (out.action === "start") {
      shared.markers.push(out.id);
      opts.onEvent?.({ kind: "test-start", id: out.id });
    } else {
      // Pop up to and including the matching start; an unmatched end is ignored.
      const at = shared.markers.lastIndexOf(out.id);
      if (at !== -1) shared.markers.length = at;
    }
    return true;
  }
  if (out.kind !== "event-start") return false;
  const ev = out.event;
  if (ev.kind === "panic") shared.sawPanic = true;
  const marker = shared.markers[shared.markers.length - 1];
  if (marker !== undefined) {
    ev.testId = marker;
    shared.byMarker.push(ev);
    return false;
  }
  const running: Pending | undefined = shared.structure()?.runningTest();
  if (running) {
    if (running.provisionalId) ev.testId = running.provisionalId;
    (running.events ??= []).push(ev);
  } else shared.unattributed.push(ev);
  return false;
}

/** Assigns final dotted ids (parent id + "." + id-safe name; a suffix `~N` for duplicates among siblings). */
function assignIds(tests: TestResult[], prefix: string, index: Map<string, TestResult> | undefined): void {
  // Sibling ids are unique and the parent's id is unique, so checking siblings makes ids unique run-wide.
  const used = new Set<string>();
  for (let i = 0; i < tests.length; i++) {
    const t = tests[i]!;
    const seg = toIdSegment(t.name, i + 1);
    let id = prefix ? `${prefix}.${seg}` : seg;
    if (used.has(id)) {
      let k = 2;
      while (used.has(`${id}~${k}`)) k++;
      id = `${id}~${k}`;
    }
    used.add(id);
    t.id = id;
    index?.set(id, t);
    for (const e of t.kernelEvents) e.testId = id;
    if (t.children.length > 0) assignIds(t.children, id, index);
  }
}

/** Every test of the tree, depth first. */
function walkTests(tests: readonly TestResult[], visit: (t: TestResult) => void): void {
  for (const t of tests) {
    visit(t);
    if (t.children.length > 0) walkTests(t.children, visit);
  }
}

/**
 * Finds the test a kmsg marker names. When only an ancestor exists (the case never printed its result line), the
 * first unnamed placeholder under that ancestor is the case that was running: it takes the marker's name.
 */
function claimByMarker(index: Map<string, TestResult>, id: string): TestResult | undefined {
  const exact = index.get(id);
  if (exact) return exact;
  let cur = id;
  let parent: TestResult | undefined;
  while (!parent) {
    const dot = cur.lastIndexOf(".");
    if (dot === -1) return undefined;
    cur = cur.slice(0, dot);
    parent = index.get(cur);
  }
  const placeholder = parent.children.find((c) => c.unreported && c.children.length === 0 && /^test_\d+$/.test(c.name));
  if (!placeholder) return parent;
  index.delete(placeholder.id);
  placeholder.name = id.slice(cur.length + 1);
  placeholder.id = id;
  index.set(id, placeholder);
  return placeholder;
}

const WARN_KINDS: ReadonlySet<KernelEvent["kind"]> = new Set(["oops", "bug", "warning", "kasan", "lockdep"]);

/** Applies attached kernel events to statuses: a panic makes the test CRASH; with failOnWarn, reports make a pass FAIL. */
function applyEvents(tests: readonly TestResult[], failOnWarn: boolean): void {
  walkTests(tests, (t) => {
    for (const e of t.kernelEvents) {
      if (e.kind === "panic" && (t.status !== "CRASH" || !t.reason || t.reason.startsWith("no result line") || t.reason.startsWith("not run"))) {
        t.status = "CRASH";
        t.reason = `kernel panic while it ran: ${e.title}`;
      } else if (failOnWarn && WARN_KINDS.has(e.kind) && (t.status === "PASS" || t.status === "XFAIL")) {
        t.status = "FAIL";
        t.reason = `kernel ${e.kind} report while it ran: ${e.title}`;
      }
    }
  });
}

function buildRun(tree: KtapTree, shared: Shared, end: StreamEnd, cut: boolean, opts: RunParserOptions, extraDiags: Diagnostic[]): RunResult {
  shared.scanner.flush();
  // A file that shows a panic ended because the kernel crashed, not because the file was short.
  let why = describeAbnormalEnd(end.end === "eof" && shared.sawPanic ? { ...end, end: "panic" } : end);
  if (why === undefined && cut) why = "the output was cut off";
  const built = tree.finish(why);
  const diagnostics: Diagnostic[] = [...extraDiags, ...tree.diagnostics];
  const kernelEvents: KernelEvent[] = [...shared.unattributed, ...built.events];
  const tests = built.tests;
  // The id index is needed only to resolve kmsg markers; 200k tests should not pay for it otherwise.
  const needIndex = shared.byMarker.length > 0 || (why !== undefined && shared.markers.length > 0);
  const index = new Map<string, TestResult>();
  assignIds(tests, "", needIndex ? index : undefined);
  // Markers still open when the stream died name the tests that were running.
  if (why !== undefined) {
    for (const id of shared.markers) {
      const t = claimByMarker(index, id);
      if (t?.unreported && t.reason?.startsWith("not run")) t.reason = `no result line: ${why}`;
    }
  }
  for (const e of shared.byMarker) {
    const t = e.testId !== undefined ? claimByMarker(index, e.testId) : undefined;
    if (t) {
      e.testId = t.id;
      t.kernelEvents.push(e);
    } else {
      kernelEvents.push(e);
      diagnostics.push({ level: "info", message: `kernel ${e.kind} report during ${e.testId ?? "?"}, which has no result entry` });
    }
  }
  applyEvents(tests, opts.failOnWarn ?? false);
  if (tests.length === 0) {
    if (built.skipAll !== undefined) {
      tests.push({ id: "skip_all", name: "all tests skipped by the plan", status: "SKIP", reason: built.skipAll, log: [], kernelEvents: [], children: [] });
    } else {
      // No results at all is a failure to run, never a pass.
      const crashed = why !== undefined && (end.end !== "eof" || shared.sawPanic);
      const reason = tree.sawTap ? "the output announced no tests" : `no test output (KTAP) was found${why ? `: ${why}` : ""}`;
      const id = tree.sawTap ? "no_tests" : "no_tap_output";
      tests.push({ id, name: id, status: crashed ? "CRASH" : "ERROR", reason, log: [], kernelEvents: kernelEvents.splice(0), children: [] });
      for (const e of tests[0]!.kernelEvents) e.testId = id;
      diagnostics.push({ level: "error", message: reason });
    }
  }
  if (shared.scanner.dropped > 0) diagnostics.push({ level: "warning", message: `${shared.scanner.dropped} further kernel reports were not kept` });
  if (end.end !== "poweroff" && end.end !== "eof") diagnostics.push({ level: "error", message: `the boot ended with ${end.end}${end.detail ? `: ${end.detail}` : ""}` });
  return { schemaVersion: RESULTS_SCHEMA_VERSION, tests, summary: summarize(tests), diagnostics, kernelEvents };
}

/**
 * Creates a streaming parser for one boot: the results port carries KTAP, the console carries the kernel log
 * (scanned for panics/oopses/WARN/BUG/KASAN and kharness markers). If the results port stays silent, the KTAP
 * that init wrote to the console is used instead.
 */
export function createRunParser(opts: RunParserOptions = {}): RunParser {
  let results: Lane | undefined;
  let consoleLane: Lane | undefined;
  const structure = (): KtapTree | undefined => (results?.tree.sawTap ? results.tree : consoleLane?.tree);
  const shared = createShared(opts, structure);
  results = createLane(opts, undefined);
  consoleLane = createLane({ ...opts, onEvent: undefined }, (text) => scanKernelLine(shared, text, opts));
  let finished = false;
  return {
    pushResults(chunk) {
      results!.splitter.push(chunk);
    },
    pushConsole(chunk) {
      consoleLane!.splitter.push(chunk);
    },
    finish(end) {
      if (finished) throw new Error("createRunParser: finish() called twice");
      finished = true;
      results!.splitter.end();
      consoleLane!.splitter.end();
      const useConsole = !results!.tree.sawTap && consoleLane!.tree.sawTap;
      const lane = useConsole ? consoleLane! : results!;
      const extra: Diagnostic[] = useConsole ? [{ level: "info", message: "no KTAP on the results port; used the KTAP found in the console log" }] : [];
      return buildRun(lane.tree, shared, end, lane.cut, opts, extra);
    },
  };
}

/** A parser for one mixed stream (a console log carrying KTAP, or a plain KTAP file). */
export interface LogParser {
  push(chunk: string | Uint8Array): void;
  finish(end?: StreamEnd): RunResult;
}

/** Creates a streaming parser for one stream in which KTAP and kernel lines are mixed. */
export function createLogParser(opts: RunParserOptions = {}): LogParser {
  let lane: Lane | undefined;
  const shared = createShared(opts, () => lane?.tree);
  lane = createLane(opts, (text) => scanKernelLine(shared, text, opts));
  return {
    push(chunk) {
      lane!.splitter.push(chunk);
    },
    finish(end = { end: "eof" }) {
      lane!.splitter.end();
      return buildRun(lane!.tree, shared, end, lane!.cut, opts, []);
    },
  };
}

/** Parses a whole mixed log (console log or KTAP file) given as text, bytes or chunks; the end is "eof". */
export function parseLog(input: string | Uint8Array | Iterable<string | Uint8Array>, opts: RunParserOptions = {}): RunResult {
  const p = createLogParser(opts);
  if (typeof input === "string" || input instanceof Uint8Array) p.push(input);
  else for (const c of input) p.push(c);
  return p.finish({ end: "eof" });
}

/** Parses a mixed log from an async stream of chunks (e.g. a file read stream) without holding it whole. */
export async function parseFileToRun(chunks: AsyncIterable<string | Uint8Array>, opts: RunParserOptions = {}): Promise<RunResult> {
  const p = createLogParser(opts);
  for await (const c of chunks) p.push(c);
  return p.finish({ end: "eof" });
}
