// Builds the result tree from classified KTAP lines: nesting by width, plans, placeholders for missing tests, per-test logs.

import type { Diagnostic, KernelEvent, ProgressEvent, Status, TestResult } from "../types.js";
import { BoundedLog } from "./bounded-log.js";
import { ownCopy } from "./lines.js";
import { classifyKtapLine, looksLikeCutResult, statusOfResult, type ResultLine, type TotalsKey } from "./ktap-line.js";

/** Placeholders created for one plan at most; a corrupt `1..99999999` must not exhaust memory. */
const MAX_PLACEHOLDERS = 10_000;
/** Diagnostics kept; later ones are counted in a final summary diagnostic. */
const MAX_DIAGNOSTICS = 500;

/** The next test at one level: collects its log, kernel events and nested results until its result line. */
export interface Pending {
  headerName?: string;
  log?: BoundedLog;
  /** Allocated on first use: most tests have no kernel events and no subtests. */
  events?: KernelEvent[];
  children?: TestResult[];
  /** A nested document was opened under it, or its header was seen: it is known to have started. */
  started: boolean;
  /** The stream was cut in the middle of what looked like its result line. */
  cut?: string;
  provisionalId: string;
  /** Host clock when it became the next test at its level (its document opened, or the previous sibling ended). */
  hostStart?: number;
}

interface Doc {
  width: number;
  owner: Pending;
  pending: Pending;
  plan?: { count: number; skip?: string };
  /** Result numbers seen: 1..seenUpTo all were (the usual in-order stream costs no set); others in seenOther. */
  seenUpTo: number;
  seenOther?: Set<number>;
  lastNum: number;
  resultCount: number;
  hasContent: boolean;
  bailed?: string;
  totals?: Partial<Record<TotalsKey, number>>;
  counts: Record<TotalsKey, number>;
}

/** How a document ended: `normal` when the stream went on past it, `abnormal` when the stream died inside it. */
type CloseMode = { kind: "normal"; why?: string } | { kind: "abnormal"; why: string };
/** The common mode, shared: documents are looked up on most lines, and a fresh object each time is garbage. */
const NORMAL: CloseMode = Object.freeze({ kind: "normal" });

function hasSeen(doc: Doc, n: number): boolean {
  return (n >= 1 && n <= doc.seenUpTo) || (doc.seenOther?.has(n) ?? false);
}

function markSeen(doc: Doc, n: number): void {
  if (n === doc.seenUpTo + 1) {
    doc.seenUpTo = n;
    // Numbers that came early now join the contiguous run.
    const other = doc.seenOther;
    if (other) while (other.delete(doc.seenUpTo + 1)) doc.seenUpTo++;
  } else if (n > doc.seenUpTo || n < 1) (doc.seenOther ??= new Set()).add(n);
}

/** The empty log, event list and child list that finished tests share; frozen, so a stray push fails loudly. */
export const NO_ITEMS: never[] = Object.freeze([]) as unknown as never[];

/** Options of the tree builder. */
export interface TreeOptions {
  maxLogLinesPerTest: number;
  onEvent?: (e: ProgressEvent) => void;
  /** The host clock of the line being fed (when its chunk arrived); without it no host times are kept. */
  stamp?: () => number | undefined;
}

/** Host clock readings of one test: when it became the next test, and when its result line arrived. */
export interface HostTimes {
  start?: number;
  end?: number;
}

/** The tree builder's interface, fed clean lines one by one. */
export interface KtapTree {
  /** Feeds one clean line; `complete` is false for a line cut off at the end of the stream. */
  pushLine(text: string, complete: boolean): void;
  /** The innermost test known to be running, to attribute kernel events to. */
  runningTest(): Pending | undefined;
  /** True once any KTAP structure (version, plan, result, header) was seen. */
  readonly sawTap: boolean;
  /** Closes every open document and returns the top-level tests. `abnormalWhy` set = the stream died. */
  finish(abnormalWhy: string | undefined): { tests: TestResult[]; events: KernelEvent[]; skipAll?: string; hostTimes?: Map<TestResult, HostTimes> };
  /** Name of the last top-level test that printed its result line, if any. */
  lastTopLevel(): string | undefined;
  /**
   * Takes the finished top-level tests out of the tree, oldest first (finish() returns only those not taken). The
   * tree never changes a top-level test once it is finished; what the run's end does to the tests is the caller's.
   */
  takeTopLevel(): TestResult[];
  readonly diagnostics: Diagnostic[];
}

function newPending(provisionalId: string, hostStart?: number): Pending {
  return hostStart === undefined ? { started: false, provisionalId } : { started: false, provisionalId, hostStart };
}

/** Longest id segment kept whole; a longer name keeps its head and a hash of the whole (ids stay unique). */
export const MAX_ID_SEGMENT = 200;
/** What an id never carries, whatever a test prints as its name: control characters (dropped) and path separators (`_`). */
const ID_CONTROL = /[\x00-\x1f\x7f-\x9f]/g;
const ID_SEPARATOR = /[/\\]/g;
const NEEDS_WORK = /[\s\x00-\x1f\x7f-\x9f/\\]|^selftests:/;

/**
 * True when a name is its own id segment: printable ASCII other than space, `/` and a backslash, and not a runner name.
 * A loop over the characters (this runs once per test); anything outside ASCII is left to NEEDS_WORK, which knows
 * every whitespace and control character.
 */
function isPlainSegment(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 32 || c === 47 /* / */ || c === 92 /* \\ */) return false;
    if (c >= 127) return !NEEDS_WORK.test(name);
  }
  return !(name.charCodeAt(0) === 115 /* s */ && name.startsWith("selftests:"));
}

/** FNV-1a, 32 bits, as 8 hex digits: a short stable tag for a cut name. */
function shortHash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/**
 * Makes one id segment from a test name: whitespace -> `_`; runner names `selftests: dir: prog` -> `dir:prog`;
 * control characters dropped and `/`, `\` -> `_` (a hostile name like `../../x` must not become a path or reach a
 * terminal or XML raw); names longer than MAX_ID_SEGMENT are cut and tagged with a hash.
 */
export function toIdSegment(name: string, num: number): string {
  if (name.length > 0 && name.length <= MAX_ID_SEGMENT && isPlainSegment(name)) return name;
  let s = name.trim();
  const m = /^selftests:\s*([^:\s]+):\s*(.+)$/.exec(s);
  if (m) s = m[1] === "kharness" ? (m[2] ?? "") : `${m[1]}:${m[2]}`;
  s = s.replace(/\s+/g, "_").replace(ID_CONTROL, "").replace(ID_SEPARATOR, "_");
  if (s.length > MAX_ID_SEGMENT) s = `${s.slice(0, MAX_ID_SEGMENT - 9)}~${shortHash(s)}`;
  return s.length > 0 ? s : `test_${num}`;
}

/** Why a program's promised tests were never reported, judged from the program's own result line. */
function whyUnreported(r: ResultLine): string {
  const { status, reason } = statusOfResult(r);
  if (status === "TIMEOUT") return "the program timed out";
  if (r.exitCode !== undefined && r.exitCode > 128) return `the program was ${reason ?? "killed"}`;
  if (status === "CRASH") return "the program crashed";
  return "the program ended without reporting it";
}

/** Removes up to `width` columns of nesting (indentation and runner `# ` prefixes) from a log line. */
function stripNesting(line: string, width: number): string {
  let i = 0;
  let w = 0;
  while (w < width && i < line.length) {
    const c = line.charCodeAt(i);
    if (c === 32) w++;
    else if (c === 9) w = (w + 8) & ~7;
    else if (c === 35 && (line.charCodeAt(i + 1) === 32 || line.charCodeAt(i + 1) === 9) && w + 2 <= width) {
      i++;
      w += 2;
    } else break;
    i++;
  }
  return line.slice(i);
}

function joinId(prefix: string, seg: string): string {
  return prefix ? `${prefix}.${seg}` : seg;
}

/** Counts a status as a `# Totals:` line would (a switch: a keyed store per result showed in the parse's profile). */
function countStatus(counts: Record<TotalsKey, number>, status: Status): void {
  switch (status) {
    case "PASS":
      counts.pass++;
      break;
    case "FAIL":
    case "TIMEOUT":
      counts.fail++;
      break;
    case "XFAIL":
      counts.xfail++;
      break;
    case "XPASS":
      counts.xpass++;
      break;
    case "SKIP":
      counts.skip++;
      break;
    case "ERROR":
      counts.error++;
      break;
  }
}

/**
 * Everything the tree builder knows between two lines. One plain object, passed to each step below: the steps are
 * pure functions of (state, line), so each line kind has its own named handler and the whole stays streaming.
 */
interface TreeState {
  readonly maxLogLinesPerTest: number;
  readonly onEvent: ((e: ProgressEvent) => void) | undefined;
  /** The host clock of the line being fed; undefined = no host times are kept (`kharness parse`). */
  readonly stamp: (() => number | undefined) | undefined;
  /** The invisible owner of the top-level documents: its children are the top-level tests. */
  readonly root: Pending;
  /** Open documents, outermost first. */
  readonly docs: Doc[];
  readonly diagnostics: Diagnostic[];
  /** Diagnostics past MAX_DIAGNOSTICS, counted for the final summary. */
  droppedDiagnostics: number;
  sawTap: boolean;
  /** Set when the top-level document is `1..0 # SKIP reason` with no results. */
  skipAll: string | undefined;
  /** Number of the line being fed, 1-based, for diagnostics. */
  lineNo: number;
  /** Host times per test, kept only when a clock is given (a live run); `kharness parse` pays nothing for them. */
  readonly hostTimes: Map<TestResult, HostTimes> | undefined;
}

/** Creates a tree builder. Pure: it only accumulates what it is fed. */
export function createKtapTree(opts: TreeOptions): KtapTree {
  const root = newPending("");
  root.started = true;
  const state: TreeState = {
    maxLogLinesPerTest: opts.maxLogLinesPerTest,
    onEvent: opts.onEvent,
    stamp: opts.stamp,
    root,
    docs: [],
    diagnostics: [],
    droppedDiagnostics: 0,
    sawTap: false,
    skipAll: undefined,
    lineNo: 0,
    hostTimes: opts.stamp ? new Map<TestResult, HostTimes>() : undefined,
  };
  // The name of the last top-level test taken out by takeTopLevel, for lastTopLevel once the list is empty.
  let lastTaken: string | undefined;
  return {
    diagnostics: state.diagnostics,
    get sawTap() {
      return state.sawTap;
    },
    pushLine(text, complete) {
      state.lineNo++;
      if (complete) onCompleteLine(state, text);
      else onCutLine(state, text);
    },
    runningTest: () => runningTest(state),
    finish: (abnormalWhy) => finishTree(state, abnormalWhy),
    lastTopLevel() {
      const done = root.children;
      return done && done.length > 0 ? done[done.length - 1]!.name : lastTaken;
    },
    takeTopLevel() {
      const done = root.children;
      if (!done || done.length === 0) return [];
      root.children = undefined;
      lastTaken = done[done.length - 1]!.name;
      return done;
    },
  };
}

// ---- one handler per line kind -------------------------------------------------------------------------------

/** Dispatches a complete line to the handler of its kind. */
function onCompleteLine(s: TreeState, text: string): void {
  const k = classifyKtapLine(text);
  switch (k.kind) {
    case "other":
      if (text.length > 0) addLog(s, text, k.width);
      return;
    case "totals":
      onTotals(s, text, k.width, k.counts);
      return;
    case "version":
      onVersion(s, k.width);
      return;
    case "plan":
      onPlan(s, text, k.width, k.count, k.skip);
      return;
    case "subtest":
      onSubtestHeader(s, text, k.width, k.name);
      return;
    case "selftest":
      onSelftestHeader(s, text, k.width, k.name);
      return;
    case "bail":
      onBail(s, text, k.width, k.reason);
      return;
    case "result": {
      s.sawTap = true;
      // The program's own result line closes its nested documents; their unreported tests say why, judged from it.
      // Only worth computing when there is a deeper document to close.
      const top = s.docs[s.docs.length - 1];
      const mode: CloseMode = top && top.width > k.width ? { kind: "normal", why: whyUnreported(k.result) } : NORMAL;
      addResult(s, docAt(s, k.width, mode), k.result, false);
      return;
    }
  }
}

/** The last line of a stream that ended mid-line: a cut result line is a crash of its test, anything else is log. */
function onCutLine(s: TreeState, text: string): void {
  if (!looksLikeCutResult(text)) {
    if (text.length > 0) addLog(s, text, 0);
    return;
  }
  diag(s, "warning", `output ends in the middle of a result line: "${text.slice(0, 80)}"`, `line ${s.lineNo}`);
  const k = classifyKtapLine(text);
  if (k.kind === "result") {
    s.sawTap = true;
    addResult(s, docAt(s, k.width, NORMAL), k.result, true);
  } else {
    const top = s.docs[s.docs.length - 1];
    if (top) top.pending.cut = text.trim();
  }
}

/** `# Totals: pass:N fail:N ...`: kept as log, and checked against the results when its document closes. */
function onTotals(s: TreeState, text: string, width: number, counts: Partial<Record<TotalsKey, number>>): void {
  addLog(s, text, width);
  for (let i = s.docs.length - 1; i >= 0; i--) {
    const d = s.docs[i]!;
    if (d.width <= width) {
      d.totals = counts;
      break;
    }
  }
}

/** `KTAP version 1` / `TAP version 13`: opens a document, closing a finished one at the same level. */
function onVersion(s: TreeState, width: number): void {
  s.sawTap = true;
  const top = s.docs[s.docs.length - 1];
  if (top && top.width === width && top.hasContent) {
    // A new document at the same level: the previous one is over.
    s.docs.pop();
    closeDoc(s, top, NORMAL);
  }
  docAt(s, width, NORMAL);
}

/** `1..N` (optionally `# SKIP reason`). */
function onPlan(s: TreeState, text: string, width: number, count: number, skip: string | undefined): void {
  s.sawTap = true;
  let doc = docAt(s, width, NORMAL);
  if (doc.plan) {
    if (doc.resultCount > 0 || doc.plan.count === 0) {
      // A second plan after results: a new document without a version line.
      s.docs.pop();
      closeDoc(s, doc, NORMAL);
      doc = openDoc(s, width);
    } else {
      diag(s, "warning", `second plan 1..${count} ignored`, `line ${s.lineNo}`);
      return;
    }
  }
  doc.plan = skip !== undefined ? { count, skip } : { count };
  doc.hasContent = true;
  if (count === 0 && skip !== undefined) addLog(s, text, width);
}

/** `# Subtest: name`: names the test that owns the next nested document. */
function onSubtestHeader(s: TreeState, text: string, width: number, name: string): void {
  s.sawTap = true;
  const docs = s.docs;
  let top = docs[docs.length - 1];
  if (top && top.width === width && !top.hasContent && top.owner !== s.root) {
    // `KTAP version 1` came first; the header names the test that owns this document.
    if (top.owner.headerName === undefined) {
      top.owner.headerName = name;
      const parent = docs[docs.length - 2];
      top.owner.provisionalId = joinId(parent ? parent.owner.provisionalId : "", toIdSegment(name, 0));
      s.onEvent?.({ kind: "test-start", id: top.owner.provisionalId });
    }
    return;
  }
  while (top && top.width > width) {
    closeDoc(s, docs.pop()!, NORMAL);
    top = docs[docs.length - 1];
  }
  if (top && top.width === width && top.owner !== s.root) {
    // The previous sibling's document never got its result line; close it before the next one.
    closeDoc(s, docs.pop()!, NORMAL);
    top = docs[docs.length - 1];
  }
  if (top && top.width < width) {
    if (top.pending.started) retirePending(s, top);
    markStarted(s, top, name);
    openDoc(s, width);
  } else {
    // A header at the outermost level: start a top-level document and keep the name as a log line.
    const doc = docAt(s, width, NORMAL);
    addLog(s, text, doc.width);
  }
}

/** The kselftest runner's `# selftests: dir: prog` header: the next test at its level has started. */
function onSelftestHeader(s: TreeState, text: string, width: number, name: string): void {
  s.sawTap = true;
  const doc = docAt(s, width, NORMAL);
  if (doc.pending.started) retirePending(s, doc);
  markStarted(s, doc, name);
  addLog(s, text, width);
}

/** `Bail out! reason`: the rest of the document's plan is "not run". */
function onBail(s: TreeState, text: string, width: number, reason: string): void {
  s.sawTap = true;
  const doc = docAt(s, width, NORMAL);
  doc.bailed = reason;
  doc.hasContent = true;
  addLog(s, text, width);
  diag(s, "warning", `Bail out! ${reason}`.trim(), doc.owner.provisionalId || "top level");
}

// ---- queries and the end of the stream -----------------------------------------------------------------------

/** The innermost test known to be running, to attribute kernel events to. */
function runningTest(s: TreeState): Pending | undefined {
  const top = s.docs[s.docs.length - 1];
  if (!top) return undefined;
  if (top.pending.started) {
    // Provisional ids are made only when needed: building one per result would cost a string per line.
    top.pending.provisionalId ||= joinId(top.owner.provisionalId, pendingName(top));
    return top.pending;
  }
  return top.owner === s.root ? undefined : top.owner;
}

/** Closes every open document and returns the top-level tests. `abnormalWhy` set = the stream died. */
function finishTree(s: TreeState, abnormalWhy: string | undefined): ReturnType<KtapTree["finish"]> {
  while (s.docs.length > 0) {
    const doc = s.docs.pop()!;
    const nested = s.docs.length > 0;
    // A nested document open at the end never got its program's result line: that is a crash.
    const mode: CloseMode =
      abnormalWhy !== undefined
        ? { kind: "abnormal", why: abnormalWhy }
        : nested
          ? { kind: "abnormal", why: "the output ended before its result line" }
          : NORMAL;
    closeDoc(s, doc, mode);
  }
  if (s.droppedDiagnostics > 0) s.diagnostics.push({ level: "info", message: `${s.droppedDiagnostics} more diagnostics omitted` });
  return {
    tests: s.root.children ?? [],
    events: s.root.events ?? [],
    ...(s.skipAll !== undefined ? { skipAll: s.skipAll } : {}),
    ...(s.hostTimes ? { hostTimes: s.hostTimes } : {}),
  };
}

// ---- the steps the handlers share ----------------------------------------------------------------------------

function diag(s: TreeState, level: Diagnostic["level"], message: string, where?: string): void {
  if (s.diagnostics.length >= MAX_DIAGNOSTICS) {
    s.droppedDiagnostics++;
    return;
  }
  s.diagnostics.push(where === undefined ? { level, message } : { level, message, where });
}

function openDoc(s: TreeState, width: number): Doc {
  const parent = s.docs[s.docs.length - 1];
  const owner = parent ? parent.pending : s.root;
  if (parent) {
    owner.started = true;
    owner.provisionalId ||= joinId(parent.owner.provisionalId, pendingName(parent));
  }
  if (s.stamp && owner.hostStart === undefined) owner.hostStart = s.stamp();
  const doc: Doc = {
    width,
    owner,
    pending: newPending("", s.stamp?.()),
    seenUpTo: 0,
    lastNum: 0,
    resultCount: 0,
    hasContent: false,
    counts: { pass: 0, fail: 0, xfail: 0, xpass: 0, skip: 0, error: 0 },
  };
  s.docs.push(doc);
  return doc;
}

/** The document at exactly `width`, opening one (nested or top-level) when none is. */
function docAt(s: TreeState, width: number, mode: CloseMode): Doc {
  const docs = s.docs;
  while (docs.length > 0 && docs[docs.length - 1]!.width > width) closeDoc(s, docs.pop()!, mode);
  const top = docs[docs.length - 1];
  if (top && top.width === width) return top;
  return openDoc(s, width);
}

function pendingName(doc: Doc): string {
  return doc.pending.headerName ?? `test_${doc.lastNum + 1}`;
}

function markStarted(s: TreeState, doc: Doc, name: string): void {
  const p = doc.pending;
  p.headerName = name;
  p.started = true;
  p.provisionalId = joinId(doc.owner.provisionalId, toIdSegment(name, doc.lastNum + 1));
  // A header is the test announcing its own start: a better reading than when the previous one ended.
  if (s.stamp) p.hostStart = s.stamp();
  s.onEvent?.({ kind: "test-start", id: p.provisionalId });
}

function makeResult(
  s: TreeState,
  doc: Doc,
  num: number,
  name: string,
  status: Status,
  reason: string | undefined,
  p: Pending | undefined,
  unreported = false,
): TestResult {
  const t: TestResult = {
    id: "",
    name: ownCopy(name),
    status,
    // Most tests have no log, no kernel events and no subtests: they share one frozen empty list instead of three
    // arrays each (a third of the heap of a 200,000-test run). Code that adds to a finished test copies first.
    log: p?.log ? p.log.toArray() : NO_ITEMS,
    kernelEvents: p?.events ?? NO_ITEMS,
    children: p?.children ?? NO_ITEMS,
  };
  if (reason !== undefined && reason !== "") t.reason = ownCopy(reason);
  if (unreported) t.unreported = true;
  // A test that started has a host start; only a result line gives it an end.
  if (s.hostTimes && p?.hostStart !== undefined) s.hostTimes.set(t, unreported ? { start: p.hostStart } : { start: p.hostStart, end: s.stamp!() });
  (doc.owner.children ??= []).push(t);
  markSeen(doc, num);
  doc.resultCount++;
  countStatus(doc.counts, status);
  return t;
}

function addResult(s: TreeState, doc: Doc, r: ResultLine, cutOff: boolean): void {
  const where = doc.owner.provisionalId || "top level";
  if (hasSeen(doc, r.num)) diag(s, "warning", `test number ${r.num} reported again (counted both times)`, where);
  else if (r.num !== doc.lastNum + 1) diag(s, "warning", `test number ${r.num} out of order (expected ${doc.lastNum + 1})`, where);
  if (doc.plan && r.num > doc.plan.count) diag(s, "warning", `test ${r.num} is beyond the plan 1..${doc.plan.count} (counted anyway)`, where);
  if (doc.bailed !== undefined) diag(s, "warning", `result ${r.num} after "Bail out!" (counted anyway)`, where);
  const p = doc.pending;
  const name = r.name || p.headerName || `test_${r.num}`;
  // A plain `ok N name` / `not ok N name` (nearly every line of a big run) needs no directive reading.
  let status: Status;
  let reason: string | undefined;
  if (r.directive === undefined && r.exitCode === undefined) {
    status = r.ok ? "PASS" : "FAIL";
    reason = r.ok ? undefined : r.comment;
  } else ({ status, reason } = statusOfResult(r));
  if (cutOff) {
    status = "CRASH";
    reason = "its result line was cut off at the end of the output";
  }
  const t = makeResult(s, doc, r.num, name, status, reason, p);
  if (r.comment && r.directive === undefined && r.exitCode === undefined) t.log = [...t.log, `# ${r.comment}`];
  doc.lastNum = Math.max(doc.lastNum, r.num);
  doc.hasContent = true;
  // Building the id costs two strings per result: only when someone listens (not in `kharness parse`).
  if (s.onEvent) s.onEvent({ kind: "test-end", id: joinId(doc.owner.provisionalId, toIdSegment(name, r.num)), status });
  // The finished test took the pending's log, events and children; reuse the object for the next test.
  p.headerName = undefined;
  p.log = undefined;
  p.events = undefined;
  p.children = undefined;
  p.started = false;
  p.cut = undefined;
  p.provisionalId = "";
  // The next test at this level starts when this one ends.
  if (s.stamp) p.hostStart = s.stamp();
}

/** The reason of the test that was running when its document closed without its result line. */
function whyPendingUnfinished(doc: Doc, mode: CloseMode, pendingHasWork: boolean): string {
  if (mode.kind === "normal")
    return doc.bailed !== undefined ? `not run: Bail out! ${doc.bailed}`.trim() : "no result line: the program went on without reporting it";
  if (doc.pending.cut !== undefined) return `its result line was cut off: ${doc.pending.cut}`;
  return pendingHasWork ? `no result line: ${mode.why}` : `not run: ${mode.why}`;
}

/** The reason of a planned test that was never reported. */
function whyPlannedMissing(doc: Doc, mode: CloseMode): string {
  if (mode.kind === "abnormal") return `not run: ${mode.why}`;
  return doc.bailed !== undefined ? `not run: Bail out! ${doc.bailed}`.trim() : `not run: ${mode.why ?? "the program ended without reporting it"}`;
}

/** Removes a finished document: retires its pending test and adds placeholders for promised tests never reported. */
function closeDoc(s: TreeState, doc: Doc, mode: CloseMode): void {
  const where = doc.owner.provisionalId || "top level";
  const missingStatus: Status = mode.kind === "normal" ? "ERROR" : "CRASH";
  const p = doc.pending;
  const planCount = doc.plan?.count ?? 0;
  const next = doc.lastNum + 1;
  const pendingHasWork = p.started || (p.children?.length ?? 0) > 0 || p.cut !== undefined;
  if (pendingHasWork || (p.log && next <= planCount)) {
    // The test that was running: its result line never came.
    makeResult(s, doc, next, p.headerName ?? `test_${next}`, missingStatus, whyPendingUnfinished(doc, mode, pendingHasWork), p, true);
    doc.lastNum = next;
  } else {
    // Lines after the last result belong to the enclosing test; kernel events go up too.
    if (p.log && doc.owner !== s.root) {
      const parentLog = (doc.owner.log ??= new BoundedLog(s.maxLogLinesPerTest));
      for (const l of p.log.toArray()) parentLog.push(l);
    }
    if (p.events) (doc.owner.events ??= []).push(...p.events);
  }
  if (doc.plan) addMissingPlanned(s, doc, mode, missingStatus, where);
  if (doc.totals) checkTotals(s, doc, where);
}

/** Placeholders for the planned tests that never printed a result line, and the plan diagnostics. */
function addMissingPlanned(s: TreeState, doc: Doc, mode: CloseMode, missingStatus: Status, where: string): void {
  const plan = doc.plan!;
  const planCount = plan.count;
  let made = 0;
  for (let n = 1; n <= planCount; n++) {
    if (hasSeen(doc, n)) continue;
    if (made >= MAX_PLACEHOLDERS) {
      diag(s, "error", `more than ${MAX_PLACEHOLDERS} planned tests never reported; stopped listing them`, where);
      break;
    }
    made++;
    makeResult(s, doc, n, `test_${n}`, missingStatus, whyPlannedMissing(doc, mode), undefined, true);
  }
  if (made > 0) diag(s, mode.kind === "normal" ? "error" : "warning", `${made} of ${planCount} planned tests never reported (marked ${missingStatus})`, where);
  else if (doc.resultCount !== planCount) diag(s, "warning", `plan 1..${planCount} but ${doc.resultCount} results`, where);
  if (planCount === 0 && plan.skip !== undefined && doc.owner === s.root && doc.resultCount === 0) s.skipAll = plan.skip || "all tests skipped";
}

/** A printed `# Totals:` line that disagrees with the parsed results is a warning; the results stand. */
function checkTotals(s: TreeState, doc: Doc, where: string): void {
  const totals = doc.totals!;
  const bad = (Object.keys(totals) as TotalsKey[]).filter((k) => totals[k] !== doc.counts[k]);
  if (bad.length > 0)
    diag(
      s,
      "warning",
      `Totals line disagrees with the results (${bad.map((k) => `${k}: printed ${totals[k]}, parsed ${doc.counts[k]}`).join(", ")}); the results are used`,
      where,
    );
}

function addLog(s: TreeState, text: string, width: number): void {
  const docs = s.docs;
  for (let i = docs.length - 1; i >= 0; i--) {
    const d = docs[i]!;
    if (d.width <= width || i === 0) {
      // Lines between a document's header and its plan (KUnit attributes, a program's preamble) describe the owner.
      const target = d.plan === undefined && d.resultCount === 0 && d.owner !== s.root ? d.owner : d.pending;
      (target.log ??= new BoundedLog(s.maxLogLinesPerTest)).push(d.width > 0 ? stripNesting(text, d.width) : text);
      return;
    }
  }
}

/** Turns a pending test that started but never got a result line into an ERROR entry (the stream went on). */
function retirePending(s: TreeState, doc: Doc): void {
  const next = doc.lastNum + 1;
  const p = doc.pending;
  makeResult(s, doc, next, p.headerName ?? `test_${next}`, "ERROR", "no result line: the output went on to the next test", p, true);
  diag(s, "error", `test ${next} (${p.headerName ?? "unnamed"}) has no result line`, doc.owner.provisionalId || "top level");
  doc.lastNum = next;
  doc.pending = newPending("", s.stamp?.());
}
