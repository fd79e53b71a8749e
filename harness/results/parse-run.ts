// Streams -> RunResult: the results port (pure KTAP) and the console (kernel log), or one mixed log for `kharness parse`.

import type { BootEnd, CouldNotTest, Diagnostic, KernelEvent, ProgressEvent, RunResult, Status, Summary, TestResult } from "../types.js";
import { createLineSplitter, findSplice, printkMicros, stripAnsi, stripPrintk, type LineSplitter } from "./lines.js";
import { createKernelScanner, type KernelScanner } from "./kernel-events.js";
import { createKtapTree, toIdSegment, type HostTimes, type KtapTree, type Pending } from "./ktap-tree.js";
import { addSummary, emptySummary, summarize } from "./summary.js";

/** Version of the RunResult JSON schema (docs/results-schema.md). */
export const RESULTS_SCHEMA_VERSION = 1;

/** Options of a run parser. */
export interface RunParserOptions {
  /** Receives test-start, test-end and kernel-event progress events. */
  onEvent?: (e: ProgressEvent) => void;
  /** Log lines kept per test (first half and last half); default 400. */
  maxLogLinesPerTest?: number;
  /**
   * Kernel WARN/Oops/BUG/KASAN/lockdep reports turn a passing test into FAIL, and a WARNING or lockdep report
   * outside every test fails the run (an Oops, BUG, KASAN report or panic there always does).
   */
  failOnWarn?: boolean;
  /**
   * The host clock in ms (e.g. Date.now), read once per pushed chunk. Given in a live run, it times the tests
   * that the guest's kmsg markers do not (a tree's kselftest cases, a user's program's cases); without it only
   * the markers' printk times are used, so a re-parse of a log gives the same times as far as they go.
   */
  now?: () => number;
  /**
   * The programs the guest runs, in order (the run's manifest). The guest's plan line only counts them, so a
   * program that never started (the kernel crashed first) would be a placeholder `test_N`: with the manifest,
   * finish() names it after the N-th program.
   */
  programs?: readonly { name: string }[];
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
interface LineSource {
  /** Feeds one chunk, stamped with the host clock when there is one. */
  push(chunk: string | Uint8Array): void;
  splitter: LineSplitter;
  tree: KtapTree;
  cut: boolean;
}

/** Where the scanner stood when a report outside every test began. */
interface OutsidePlace {
  /** The last top-level test that had ended (marker id, or the name on its result line). */
  after?: string;
  /** Init had said `kharness: poweroff`. */
  shutdown: boolean;
  /** Neither markers nor a structure in the same stream said where it was (the console before init's first marker). */
  unknown?: boolean;
}

/** Start and end of one marked test on the kernel clock, in microseconds. */
interface MarkedSpan {
  start: number;
  end?: number;
}

/** What the scan of the kernel log has found so far (markers, reports, panic, poweroff), shared by both line sources. */
interface KernelLogState {
  scanner: KernelScanner;
  markers: string[];
  byMarker: KernelEvent[];
  unattributed: KernelEvent[];
  sawPanic: boolean;
  /**
   * Init's kmsg markers are in use (`kharness: init` or a start marker was seen): from then on a report while no
   * marker is open happened outside every test, whatever the results stream (which runs ahead of the slower
   * serial console) shows as running.
   */
  markersInUse: boolean;
  /** Init said `kharness: poweroff`: what follows is the guest shutting down. */
  poweredOff: boolean;
  /** The last top-level test whose end marker was seen. */
  lastEnded?: string;
  outside: Map<KernelEvent, OutsidePlace>;
  /** Reports attached to the running test by the structure (not by a marker): with none, and none by marker, no test has any. */
  attachedToTests: number;
  /** Printk times of the start and end markers, per marked id, in the order the starts came. */
  spans: Map<string, MarkedSpan[]>;
  /**
   * The tree kernel events are attributed to when no marker says otherwise: only KTAP in the same stream as the
   * kernel log, whose order is the order things happened. The results port runs ahead of the slower serial
   * console, so its tree cannot say what was running when a console line was printed.
   */
  structure: () => KtapTree | undefined;
}

function createLineSource(opts: RunParserOptions, scan: ((text: string, raw: string) => boolean) | undefined): LineSource {
  // The host clock of the chunk being split: every line completed by it was seen at that moment.
  let stampNow: number | undefined;
  const now = opts.now;
  const tree = createKtapTree({
    maxLogLinesPerTest: opts.maxLogLinesPerTest ?? 400,
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    ...(now ? { stamp: () => stampNow } : {}),
  });
  let spliceHead: string | undefined;
  let spliceWait = 0;
  /** A whole kernel line: scanned, then kept as log unless it was a kharness marker (protocol, not output). */
  const pushKernelLine = (text: string, raw: string): void => {
    if (!scan?.(text, raw)) tree.pushLine(text, true);
  };
  const source: LineSource = {
    push(chunk) {
      if (now) stampNow = now();
      source.splitter.push(chunk);
    },
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
        pushKernelLine(splice.kernelLine, splice.kernelRaw);
        if (!complete) {
          tree.pushLine(spliceHead, false);
          source.cut = true;
          spliceHead = undefined;
        }
        return;
      }
      if (spliceHead !== undefined) {
        if (kernel && spliceWait < 8) {
          spliceWait++;
          pushKernelLine(text, noAnsi);
          return;
        }
        const joined = spliceHead + (kernel ? "" : text);
        spliceHead = undefined;
        if (kernel) pushKernelLine(text, noAnsi);
        if (!complete) source.cut = true;
        tree.pushLine(joined, complete || kernel);
        return;
      }
      if (scan?.(text, noAnsi)) return;
      if (!complete) source.cut = true;
      tree.pushLine(text, complete);
    }),
  };
  return source;
}

function createKernelLogState(opts: RunParserOptions, structure: () => KtapTree | undefined): KernelLogState {
  const kernelLog: KernelLogState = {
    markers: [],
    byMarker: [],
    unattributed: [],
    sawPanic: false,
    markersInUse: false,
    poweredOff: false,
    outside: new Map(),
    attachedToTests: 0,
    spans: new Map(),
    structure,
    scanner: createKernelScanner((e) => opts.onEvent?.({ kind: "kernel-event", event: e })),
  };
  return kernelLog;
}

/**
 * Scans one console line (`text` without, `raw` with its printk prefix); returns true when it was a kharness
 * marker, which is protocol and not test output.
 */
function scanKernelLine(kernelLog: KernelLogState, text: string, raw: string, opts: RunParserOptions): boolean {
  const out = kernelLog.scanner.scanLine(text);
  if (out.kind === "marker") {
    switch (out.action) {
      case "init":
        kernelLog.markersInUse = true;
        break;
      case "poweroff":
        kernelLog.poweredOff = true;
        break;
      case "start": {
        kernelLog.markersInUse = true;
        kernelLog.markers.push(out.id);
        const us = printkMicros(raw);
        if (us !== undefined) {
          const list = kernelLog.spans.get(out.id);
          if (list) list.push({ start: us });
          else kernelLog.spans.set(out.id, [{ start: us }]);
        }
        opts.onEvent?.({ kind: "test-start", id: out.id });
        break;
      }
      case "end": {
        // Pop up to and including the matching start; an unmatched end is ignored.
        const at = kernelLog.markers.lastIndexOf(out.id);
        if (at === -1) break;
        kernelLog.markers.length = at;
        if (at === 0) kernelLog.lastEnded = out.id;
        const us = printkMicros(raw);
        const list = kernelLog.spans.get(out.id);
        const span = list?.[list.length - 1];
        if (us !== undefined && span && span.end === undefined) span.end = us;
        break;
      }
    }
    return true;
  }
  if (out.kind !== "event-start") return false;
  const ev = out.event;
  const us = printkMicros(raw);
  if (us !== undefined) ev.atMs = us / 1000;
  if (ev.kind === "panic") kernelLog.sawPanic = true;
  const marker = kernelLog.markers[kernelLog.markers.length - 1];
  if (marker !== undefined) {
    ev.testId = marker;
    kernelLog.byMarker.push(ev);
    return false;
  }
  const running: Pending | undefined = kernelLog.markersInUse ? undefined : kernelLog.structure()?.runningTest();
  if (running) {
    if (running.provisionalId) ev.testId = running.provisionalId;
    (running.events ??= []).push(ev);
    kernelLog.attachedToTests++;
    return false;
  }
  kernelLog.unattributed.push(ev);
  const tree = kernelLog.markersInUse ? undefined : kernelLog.structure();
  kernelLog.outside.set(ev, {
    after: kernelLog.markersInUse ? kernelLog.lastEnded : tree?.lastTopLevel(),
    shutdown: kernelLog.poweredOff,
    ...(kernelLog.markersInUse || tree ? {} : { unknown: true }),
  });
  return false;
}

/**
 * Assigns final dotted ids (parent id + "." + id-safe name; a suffix `~N` for duplicates among siblings). Sibling ids
 * are unique and the parent's id is unique, so checking siblings makes ids unique run-wide. Siblings share the
 * prefix, so their segments are compared, not the joined ids (hashing a joined id would flatten it). One map serves
 * the lists below the top level: a segment is taken in a sibling list when the map holds that list's number for it
 * (one entry per distinct segment in the run, not one set per list); each list is checked whole before the walk goes
 * below it. The top-level list has a set of its own, because it may be given in parts (a parse that takes finished
 * top-level tests out as it goes, see createTakingLogParser): each part's ids are then the ones the whole list gets.
 * Loops are indexed: a for-of over the shared frozen empty lists allocated an iterator per test.
 */
function createIdAssigner(index: Map<string, TestResult> | undefined): (topLevel: readonly TestResult[]) => void {
  const takenIn = new Map<string, number>();
  let lists = 0;
  const topTaken = new Set<string>();
  let topCount = 0;
  const setId = (t: TestResult, id: string): void => {
    t.id = id;
    index?.set(id, t);
    const events = t.kernelEvents;
    for (let j = 0; j < events.length; j++) events[j]!.testId = id;
  };
  const walk = (list: TestResult[], prefix: string): void => {
    const serial = ++lists;
    // One "parent." string for all siblings: each id is then one concatenation, not two (200,000 strings fewer).
    const dotted = prefix ? `${prefix}.` : "";
    for (let i = 0; i < list.length; i++) {
      const t = list[i]!;
      let seg = toIdSegment(t.name, i + 1);
      if (takenIn.get(seg) === serial) {
        let k = 2;
        while (takenIn.get(`${seg}~${k}`) === serial) k++;
        seg = `${seg}~${k}`;
      }
      takenIn.set(seg, serial);
      setId(t, dotted + seg);
    }
    for (let i = 0; i < list.length; i++) {
      const t = list[i]!;
      if (t.children.length > 0) walk(t.children, t.id);
    }
  };
  return (topLevel) => {
    for (let i = 0; i < topLevel.length; i++) {
      const t = topLevel[i]!;
      let seg = toIdSegment(t.name, ++topCount);
      if (topTaken.has(seg)) {
        let k = 2;
        while (topTaken.has(`${seg}~${k}`)) k++;
        seg = `${seg}~${k}`;
      }
      topTaken.add(seg);
      setId(t, seg);
    }
    for (let i = 0; i < topLevel.length; i++) {
      const t = topLevel[i]!;
      if (t.children.length > 0) walk(t.children, t.id);
    }
  };
}

/** Every test of the tree, depth first. */
function walkTests(tests: readonly TestResult[], visit: (t: TestResult) => void): void {
  for (let i = 0; i < tests.length; i++) {
    const t = tests[i]!;
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

// Reports that fail a passing test, or the run outside every test, only under failOnWarn.
const WARN_ONLY_KINDS: ReadonlySet<KernelEvent["kind"]> = new Set(["warning", "lockdep"]);
// Reports that fail a test or the run wherever they happen, --fail-on-warn or not: the kernel itself broke.
const CRASH_KINDS: ReadonlySet<KernelEvent["kind"]> = new Set(["panic", "oops", "bug", "kasan"]);

/**
 * Applies attached kernel events to statuses: a panic makes the test CRASH; an Oops, BUG or KASAN report makes a
 * test that passed, xfailed or skipped FAIL (the kernel broke while it ran: never a pass); with failOnWarn a
 * WARNING or lockdep report makes a pass FAIL too.
 */
function applyEvents(tests: readonly TestResult[], failOnWarn: boolean): void {
  walkTests(tests, (t) => {
    const events = t.kernelEvents;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.kind === "panic" && (t.status !== "CRASH" || !t.reason || t.reason.startsWith("no result line") || t.reason.startsWith("not run"))) {
        t.status = "CRASH";
        t.reason = `kernel panic while it ran: ${e.title}`;
      } else if (
        (CRASH_KINDS.has(e.kind) && (t.status === "PASS" || t.status === "XFAIL" || t.status === "SKIP")) ||
        (failOnWarn && WARN_ONLY_KINDS.has(e.kind) && (t.status === "PASS" || t.status === "XFAIL"))
      ) {
        t.status = "FAIL";
        t.reason = `kernel ${e.kind} report while it ran: ${e.title}`;
      }
    }
  });
}

/** Id of the run-level entry for kernel faults outside every test (docs/results-schema.md). */
export const KERNEL_ENTRY_ID = "kernel";

// The worst cause names the entry's status.
const SEVERITY: Record<Status, number> = { CRASH: 5, TIMEOUT: 4, ERROR: 3, FAIL: 2, XPASS: 1, PASS: 0, SKIP: 0, XFAIL: 0 };

/** Where a report outside every test happened, in words: before, between or after the top-level tests, or at shutdown. */
function describePlace(e: KernelEvent, place: OutsidePlace | undefined, tests: readonly TestResult[], markersInUse: boolean): string {
  if (!place) return e.testId !== undefined ? `during ${e.testId}, which has no result entry` : "outside any test";
  if (place.shutdown) return "during shutdown, after the last test";
  // Printed before init's first kmsg line: before init ran anything. Without any marker, nothing says where it was.
  if (place.unknown) return markersInUse ? "before the first test" : "outside the known tests (init wrote no kmsg markers to tell)";
  if (place.after === undefined) return "before the first test";
  const i = tests.findIndex((t) => t.id === place.after || t.name === place.after);
  if (i === -1) return `after ${place.after}`;
  const next = tests[i + 1];
  return next ? `between ${tests[i]!.id} and ${next.id}` : `after ${tests[i]!.id}, the last test`;
}

/** True when the abnormal end already shows in the tree: a test it cut short (CRASH, never reported), or a panic on a test. */
function endIsRecorded(tests: readonly TestResult[]): boolean {
  let seen = false;
  walkTests(tests, (t) => {
    if ((t.unreported && t.status === "CRASH") || t.kernelEvents.some((e) => e.kind === "panic")) seen = true;
  });
  return seen;
}

/** The status an abnormal end gives the run-level entry when every test had already reported. */
function statusOfEnd(end: StreamEnd["end"]): Status {
  return end === "panic" ? "CRASH" : end === "timeout" || end === "idle" ? "TIMEOUT" : "ERROR";
}

/**
 * The run-level entry `kernel`: a leaf test that fails the run for what happened outside every test. CRASH for a
 * panic, Oops, BUG or KASAN report there, or for a boot that died after the last result line; FAIL for a WARNING
 * or lockdep report there under failOnWarn. It carries every report outside the tests (moved out of the run's
 * own list). Undefined when nothing outside the tests fails the run: such reports stay in `run.kernelEvents`.
 */
function buildKernelEntry(
  tests: readonly TestResult[],
  outsideEvents: KernelEvent[],
  kernelLog: KernelLogState,
  end: StreamEnd,
  failOnWarn: boolean,
): TestResult | undefined {
  const causes: { status: Status; reason: string }[] = [];
  const lines: string[] = [];
  for (const e of outsideEvents) {
    const place = describePlace(e, kernelLog.outside.get(e), tests, kernelLog.markersInUse);
    lines.push(`[kernel ${e.kind}] ${place}: ${e.title}`);
    if (CRASH_KINDS.has(e.kind)) causes.push({ status: "CRASH", reason: `kernel ${e.kind} ${place}: ${e.title}` });
    else if (failOnWarn && WARN_ONLY_KINDS.has(e.kind)) causes.push({ status: "FAIL", reason: `kernel ${e.kind} ${place} (fail-on-warn): ${e.title}` });
  }
  // A boot that died (panic, watchdog, QEMU error) after every test had reported would otherwise leave no trace;
  // a panic report outside the tests already is that trace. A file that merely ends is not a boot that died.
  const panicShown = outsideEvents.some((e) => e.kind === "panic");
  const died = end.end === "eof" ? undefined : describeAbnormalEnd(end);
  if (died !== undefined && !(end.end === "panic" && panicShown) && !endIsRecorded(tests)) {
    const reason = `${died}, after the last result line`;
    causes.push({ status: statusOfEnd(end.end), reason });
    lines.push(`[kharness] ${reason}`);
  }
  if (causes.length === 0) return undefined;
  let worst = causes[0]!;
  for (const c of causes) if (SEVERITY[c.status] > SEVERITY[worst.status]) worst = c;
  const more = causes.length > 1 ? ` (and ${causes.length - 1} more: see its log)` : "";
  let id = KERNEL_ENTRY_ID;
  for (let k = 2; tests.some((t) => t.id === id); k++) id = `${KERNEL_ENTRY_ID}~${k}`;
  const events = outsideEvents.splice(0);
  for (const e of events) e.testId = id;
  const entry: TestResult = {
    id,
    name: KERNEL_ENTRY_ID,
    status: worst.status,
    reason: worst.reason + more,
    log: lines,
    kernelEvents: events,
    children: [],
    durationMs: 0,
  };
  const first = events.find((e) => e.atMs !== undefined);
  if (first?.atMs !== undefined) entry.startMs = first.atMs;
  return entry;
}

/** Rounds ms to whole microseconds, the resolution of the printk clock (and hides float noise). */
function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * Gives each test its start (ms since the kernel started) and duration. The kmsg markers' printk times are the
 * measure where a test has them (exact, and the same when a log is parsed again). Otherwise, in a live run, the
 * host clock: the duration from when the test became the next one to when its result line arrived, and a start
 * placed on the kernel clock through the nearest enclosing test that has both a marker and a host reading.
 * A test that never started takes 0 ms; a test that started and never ended has no duration.
 */
function applyTimes(tests: readonly TestResult[], spans: Map<string, MarkedSpan[]>, hostTimes: Map<TestResult, HostTimes> | undefined): void {
  if (spans.size === 0 && !hostTimes) {
    walkTests(tests, (t) => {
      if (t.unreported && t.reason?.startsWith("not run")) t.durationMs = 0;
    });
    return;
  }
  /** The marker span of a test: `id~N` (the N-th sibling of that name) takes the N-th span of `id`. */
  const spanOf = (id: string): MarkedSpan | undefined => {
    const m = /^(.*)~(\d+)$/.exec(id);
    const own = spans.get(id);
    if (own || !m) return own?.[0];
    return spans.get(m[1]!)?.[Number(m[2]) - 1];
  };
  const visit = (list: readonly TestResult[], anchor: { kernelMs: number; hostMs: number } | undefined): void => {
    for (const t of list) {
      const span = spanOf(t.id);
      const host = hostTimes?.get(t);
      if (span) {
        t.startMs = span.start / 1000;
        if (span.end !== undefined) t.durationMs = (span.end - span.start) / 1000;
      } else if (host?.start !== undefined && anchor) t.startMs = roundMs(anchor.kernelMs + (host.start - anchor.hostMs));
      if (t.durationMs === undefined && host?.start !== undefined && host.end !== undefined) t.durationMs = roundMs(host.end - host.start);
      if (t.durationMs === undefined && t.unreported && t.reason?.startsWith("not run")) t.durationMs = 0;
      if (t.children.length > 0) visit(t.children, span && host?.start !== undefined ? { kernelMs: span.start / 1000, hostMs: host.start } : anchor);
    }
  };
  visit(tests, undefined);
}

/** What a taking parser (createTakingLogParser) took out of the tree before the end. */
interface Taken {
  /** Gives top-level tests their ids: the taken ones as they were taken, then the rest at the end. */
  readonly assign: (topLevel: readonly TestResult[]) => void;
  count: number;
  readonly summary: Summary;
  /** Every taken test is a no-tests stand-in by its id (true while none was taken), as couldNotTestOf asks. */
  allNoTests: boolean;
  /** Set by buildRun: nothing at the end changed, or would have changed, a taken test. */
  final?: boolean;
}

function buildRun(
  tree: KtapTree,
  kernelLog: KernelLogState,
  end: StreamEnd,
  cut: boolean,
  opts: RunParserOptions,
  sourceNotes: Diagnostic[],
  taken?: Taken,
): RunResult {
  kernelLog.scanner.flush();
  // A file that shows a panic ended because the kernel crashed, not because the file was short; one that reaches
  // init's `poweroff` (and no panic) ended as a run does.
  const effective: StreamEnd =
    end.end !== "eof" ? end : kernelLog.sawPanic ? { ...end, end: "panic" } : kernelLog.poweredOff ? { ...end, end: "poweroff" } : end;
  let why = describeAbnormalEnd(effective);
  if (why === undefined && cut) why = "the output was cut off";
  const built = tree.finish(why);
  const diagnostics: Diagnostic[] = [...sourceNotes, ...tree.diagnostics];
  const kernelEvents: KernelEvent[] = [...kernelLog.unattributed, ...built.events];
  const tests = built.tests;
  // The taken tests already have their ids and times; they are final when none of the steps below that reach
  // earlier tests has anything to do: no kmsg markers (an abnormal end names the tests they left open), no kernel
  // reports, no marker spans or host times, a plain end of the file, no programs to name placeholders after.
  if (taken) taken.final = end.end === "eof" && kernelEvents.length === 0 && !spoilsTaken(kernelLog) && !built.hostTimes && opts.programs === undefined;
  // The id index is needed only to resolve kmsg markers; 200k tests should not pay for it otherwise.
  const needIndex = kernelLog.byMarker.length > 0 || (why !== undefined && kernelLog.markers.length > 0);
  const index = new Map<string, TestResult>();
  (taken?.assign ?? createIdAssigner(needIndex ? index : undefined))(tests);
  // Markers still open when the stream died name the tests that were running.
  if (why !== undefined) {
    for (const id of kernelLog.markers) {
      const t = claimByMarker(index, id);
      if (t?.unreported && t.reason?.startsWith("not run")) t.reason = `no result line: ${why}`;
    }
  }
  for (const e of kernelLog.byMarker) {
    const t = e.testId !== undefined ? claimByMarker(index, e.testId) : undefined;
    if (t) {
      e.testId = t.id;
      // Finished tests may share one frozen empty list (ktap-tree's NO_ITEMS): add by copying.
      t.kernelEvents = [...t.kernelEvents, e];
    } else {
      kernelEvents.push(e);
      diagnostics.push({ level: "info", message: `kernel ${e.kind} report during ${e.testId ?? "?"}, which has no result entry` });
    }
  }
  // Only a test with a kernel report can change status here: a run without any skips the walk over every test.
  if (kernelLog.attachedToTests > 0 || kernelLog.byMarker.length > 0) applyEvents(tests, opts.failOnWarn ?? false);
  applyTimes(tests, kernelLog.spans, built.hostTimes);
  const tookSome = (taken?.count ?? 0) > 0;
  if (tests.length === 0 && built.skipAll === undefined && !tookSome) {
    // No results at all is a failure to run, never a pass; the reports outside tests go with it.
    const crashed = why !== undefined && effective.end !== "eof";
    const reason = tree.sawTap ? "the output announced no tests" : `no test output (KTAP) was found${why ? `: ${why}` : ""}`;
    const id = tree.sawTap ? "no_tests" : "no_tap_output";
    tests.push({ id, name: id, status: crashed ? "CRASH" : "ERROR", reason, log: [], kernelEvents: kernelEvents.splice(0), children: [] });
    for (const e of tests[0]!.kernelEvents) e.testId = id;
    diagnostics.push({ level: "error", message: reason });
  } else {
    if (tests.length === 0 && !tookSome)
      tests.push({
        id: "skip_all",
        name: "all tests skipped by the plan",
        status: "SKIP",
        reason: built.skipAll,
        log: [],
        kernelEvents: [],
        children: [],
        durationMs: 0,
      });
    const entry = buildKernelEntry(tests, kernelEvents, kernelLog, end, opts.failOnWarn ?? false);
    if (entry) tests.push(entry);
  }
  if (kernelLog.scanner.dropped > 0) diagnostics.push({ level: "warning", message: `${kernelLog.scanner.dropped} further kernel reports were not kept` });
  if (end.end !== "poweroff" && end.end !== "eof")
    diagnostics.push({ level: "error", message: `the boot ended with ${end.end}${end.detail ? `: ${end.detail}` : ""}` });
  if (opts.programs) nameUnstartedTests(tests, opts.programs);
  const couldNotTest = couldNotTestOf(tests, end, taken?.allNoTests ?? true);
  const summary = summarize(tests);
  if (tookSome) addSummary(summary, taken!.summary);
  return { schemaVersion: RESULTS_SCHEMA_VERSION, tests, summary, diagnostics, kernelEvents, ...(couldNotTest ? { couldNotTest } : {}) };
}

/**
 * Names placeholder `test_N` entries (programs that never started) after the N-th program of the manifest, so
 * "not run: kernel crashed" says which test did not run. Mutates `tests`.
 */
export function nameUnstartedTests(tests: TestResult[], programs: readonly { name: string }[]): void {
  const taken = new Set(tests.map((t) => t.id));
  for (const [i, t] of tests.entries()) {
    const m = /^test_(\d+)$/.exec(t.name);
    const program = m ? programs[Number(m[1]) - 1] : undefined;
    if (!program || !t.unreported || t.children.length || taken.has(program.name) || Number(m![1]) !== i + 1) continue;
    taken.delete(t.id);
    taken.add(program.name);
    t.name = program.name;
    t.id = program.name;
    for (const e of t.kernelEvents) e.testId = program.name;
  }
}

function isNoTestsEntry(t: TestResult): boolean {
  return t.id === "no_tap_output" || t.id === "no_tests";
}

/** Boot ends that mean the harness could not test the kernel, rather than a test failing. */
const INFRA_ENDS: ReadonlySet<StreamEnd["end"]> = new Set(["boot-timeout", "idle", "qemu-error"]);

/** Kernel reports that fail a run wherever they land (a WARNING alone does not). */
const FAULT_KINDS: ReadonlySet<string> = new Set(["panic", "oops", "bug", "kasan"]);

function hasKernelFault(t: TestResult): boolean {
  return t.kernelEvents.some((e) => FAULT_KINDS.has(e.kind)) || t.children.some(hasKernelFault);
}

/**
 * Whether the run could not test the kernel: no test output at all, or a boot that ended in a watchdog or a
 * QEMU error. A kernel that reported a fault (panic, Oops, BUG, KASAN) and then went silent was tested, and
 * failed: the watchdog's end must not turn that evidence into "could not test" (git bisect would skip it).
 */
function couldNotTestOf(tests: readonly TestResult[], end: StreamEnd, takenAllNoTests: boolean): CouldNotTest | undefined {
  if (tests.some((t) => t.status === "CRASH" && hasKernelFault(t))) return undefined;
  if (takenAllNoTests && tests.every(isNoTestsEntry)) return { cause: "no-tests", reason: tests[0]?.reason ?? "no test output" };
  if (INFRA_ENDS.has(end.end)) return { cause: "boot-end", reason: `the boot ended with ${end.end}${end.detail ? `: ${end.detail}` : ""}` };
  return undefined;
}

/**
 * Creates a streaming parser for one boot: the results port carries KTAP, the console carries the kernel log
 * (scanned for panics/oopses/WARN/BUG/KASAN and kharness markers). If the results port stays silent, the KTAP
 * that init wrote to the console is used instead.
 */
export function createRunParser(opts: RunParserOptions = {}): RunParser {
  let resultsSource: LineSource | undefined;
  let consoleSource: LineSource | undefined;
  // Only the console's own KTAP (no results port) shares the kernel log's order; see KernelLogState.structure.
  const structure = (): KtapTree | undefined => (resultsSource?.tree.sawTap ? undefined : consoleSource?.tree);
  const kernelLog = createKernelLogState(opts, structure);
  resultsSource = createLineSource(opts, undefined);
  consoleSource = createLineSource({ ...opts, onEvent: undefined }, (text, raw) => scanKernelLine(kernelLog, text, raw, opts));
  let finished = false;
  return {
    pushResults(chunk) {
      resultsSource!.push(chunk);
    },
    pushConsole(chunk) {
      consoleSource!.push(chunk);
    },
    finish(end) {
      if (finished) throw new Error("createRunParser: finish() called twice");
      finished = true;
      resultsSource!.splitter.end();
      consoleSource!.splitter.end();
      const useConsole = !resultsSource!.tree.sawTap && consoleSource!.tree.sawTap;
      const source = useConsole ? consoleSource! : resultsSource!;
      const fallbackNote: Diagnostic[] = useConsole ? [{ level: "info", message: "no KTAP on the results port; used the KTAP found in the console log" }] : [];
      return buildRun(source.tree, kernelLog, end, source.cut, opts, fallbackNote);
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
  let source: LineSource | undefined;
  const kernelLog = createKernelLogState(opts, () => source?.tree);
  source = createLineSource(opts, (text, raw) => scanKernelLine(kernelLog, text, raw, opts));
  return {
    push(chunk) {
      source!.push(chunk);
    },
    finish(end = { end: "eof" }) {
      source!.splitter.end();
      return buildRun(source!.tree, kernelLog, end, source!.cut, opts, []);
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

/**
 * Whether the kernel log holds anything that the run's end applies to tests that finished earlier (kmsg markers and
 * their spans, reports attached to tests or waiting for a marker's test, reports outside every test): then tests
 * taken out early may not be final.
 */
function spoilsTaken(kernelLog: KernelLogState): boolean {
  return (
    kernelLog.markers.length > 0 ||
    kernelLog.spans.size > 0 ||
    kernelLog.byMarker.length > 0 ||
    kernelLog.attachedToTests > 0 ||
    kernelLog.unattributed.length > 0
  );
}

/**
 * A mixed-log parser that hands out each top-level test once it is finished, so a caller can write it out and let
 * its memory go instead of holding the whole tree to the end (issue 16: the garbage collector's copying of the tree
 * was a third of the time of a 200,000-result parse). Only a run that needs nothing at the end can be read this way:
 * `spoiled` says early that it cannot (then parse again with createLogParser), and finish() says it for certain.
 */
export interface TakingLogParser {
  push(chunk: string | Uint8Array): void;
  /** The top-level tests finished since the last call, oldest first, with their final ids and times. */
  take(): TestResult[];
  /** True once the log showed something that the end may apply to taken tests (kernel reports, kmsg markers). */
  readonly spoiled: boolean;
  /**
   * The run: `tests` holds the tests not taken (they follow the taken ones), `summary` counts them all.
   * `takenFinal` false: the taken tests may differ from what createLogParser gives; parse again.
   */
  finish(end?: StreamEnd): { run: RunResult; takenFinal: boolean };
}

/** Creates a parser that hands out finished top-level tests as it goes; see TakingLogParser. */
export function createTakingLogParser(opts: RunParserOptions = {}): TakingLogParser {
  let source: LineSource | undefined;
  const kernelLog = createKernelLogState(opts, () => source?.tree);
  source = createLineSource(opts, (text, raw) => scanKernelLine(kernelLog, text, raw, opts));
  const taken: Taken = { assign: createIdAssigner(undefined), count: 0, summary: emptySummary(), allNoTests: true };
  return {
    push(chunk) {
      source!.push(chunk);
    },
    get spoiled() {
      return spoilsTaken(kernelLog) || opts.programs !== undefined || opts.now !== undefined;
    },
    take() {
      const list = source!.tree.takeTopLevel();
      if (list.length === 0) return list;
      taken.assign(list);
      // What applyTimes does at the end of a run without marker spans or host times.
      walkTests(list, (t) => {
        if (t.unreported && t.reason?.startsWith("not run")) t.durationMs = 0;
      });
      taken.count += list.length;
      addSummary(taken.summary, summarize(list));
      if (taken.allNoTests) taken.allNoTests = list.every(isNoTestsEntry);
      return list;
    },
    finish(end = { end: "eof" }) {
      source!.splitter.end();
      const run = buildRun(source!.tree, kernelLog, end, source!.cut, opts, [], taken);
      return { run, takenFinal: taken.final === true };
    },
  };
}
