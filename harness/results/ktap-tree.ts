// Builds the result tree from classified KTAP lines: nesting by width, plans, placeholders for missing tests, per-test logs.

import type { Diagnostic, KernelEvent, ProgressEvent, Status, TestResult } from "../types.js";
import { BoundedLog } from "./bounded-log.js";
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
  seen: Set<number>;
  lastNum: number;
  resultCount: number;
  hasContent: boolean;
  bailed?: string;
  totals?: Partial<Record<TotalsKey, number>>;
  counts: Record<TotalsKey, number>;
}

/** How a document ended: `normal` when the stream went on past it, `abnormal` when the stream died inside it. */
type CloseMode = { kind: "normal"; why?: string } | { kind: "abnormal"; why: string };

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
  if (name.length > 0 && name.length <= MAX_ID_SEGMENT && !NEEDS_WORK.test(name)) return name;
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

const COUNT_KEY: Partial<Record<Status, TotalsKey>> = { PASS: "pass", FAIL: "fail", XFAIL: "xfail", XPASS: "xpass", SKIP: "skip", ERROR: "error", TIMEOUT: "fail" };

/** Creates a tree builder. Pure: it only accumulates what it is fed. */
export function createKtapTree(opts: TreeOptions): KtapTree {
  const root = newPending("");
  root.started = true;
  const stack: Doc[] = [];
  const diagnostics: Diagnostic[] = [];
  let droppedDiags = 0;
  let sawTap = false;
  let skipAll: string | undefined;
  let lineNo = 0;
  // Host times per test, kept only when a clock is given (a live run); `kharness parse` pays nothing for them.
  const hostTimes = opts.stamp ? new Map<TestResult, HostTimes>() : undefined;
  const stamp = opts.stamp;

  function diag(level: Diagnostic["level"], message: string, where?: string): void {
    if (diagnostics.length >= MAX_DIAGNOSTICS) {
      droppedDiags++;
      return;
    }
    diagnostics.push(where === undefined ? { level, message } : { level, message, where });
  }

  function openDoc(width: number): Doc {
    const parent = stack[stack.length - 1];
    const owner = parent ? parent.pending : root;
    if (parent) {
      owner.started = true;
      owner.provisionalId ||= joinId(parent.owner.provisionalId, pendingName(parent));
    }
    if (stamp && owner.hostStart === undefined) owner.hostStart = stamp();
    const doc: Doc = {
      width,
      owner,
      pending: newPending("", stamp?.()),
      seen: new Set(),
      lastNum: 0,
      resultCount: 0,
      hasContent: false,
      counts: { pass: 0, fail: 0, xfail: 0, xpass: 0, skip: 0, error: 0 },
    };
    stack.push(doc);
    return doc;
  }

  /** The document at exactly `width`, opening one (nested or top-level) when none is. */
  function docAt(width: number, mode: CloseMode): Doc {
    while (stack.length > 0 && stack[stack.length - 1]!.width > width) closeDoc(stack.pop()!, mode);
    const top = stack[stack.length - 1];
    if (top && top.width === width) return top;
    return openDoc(width);
  }

  function pendingName(doc: Doc): string {
    return doc.pending.headerName ?? `test_${doc.lastNum + 1}`;
  }

  function markStarted(doc: Doc, name: string): void {
    const p = doc.pending;
    p.headerName = name;
    p.started = true;
    p.provisionalId = joinId(doc.owner.provisionalId, toIdSegment(name, doc.lastNum + 1));
    // A header is the test announcing its own start: a better reading than when the previous one ended.
    if (stamp) p.hostStart = stamp();
    opts.onEvent?.({ kind: "test-start", id: p.provisionalId });
  }

  function makeResult(doc: Doc, num: number, name: string, status: Status, reason: string | undefined, p: Pending | undefined, unreported = false): TestResult {
    const t: TestResult = {
      id: "",
      name,
      status,
      log: p?.log ? p.log.toArray() : [],
      kernelEvents: p?.events ?? [],
      children: p?.children ?? [],
    };
    if (reason !== undefined && reason !== "") t.reason = reason;
    if (unreported) t.unreported = true;
    // A test that started has a host start; only a result line gives it an end.
    if (hostTimes && p?.hostStart !== undefined) hostTimes.set(t, unreported ? { start: p.hostStart } : { start: p.hostStart, end: stamp!() });
    (doc.owner.children ??= []).push(t);
    doc.seen.add(num);
    doc.resultCount++;
    const key = COUNT_KEY[status];
    if (key) doc.counts[key]++;
    return t;
  }

  function addResult(doc: Doc, r: ResultLine, cutOff: boolean): void {
    const where = doc.owner.provisionalId || "top level";
    if (doc.seen.has(r.num)) diag("warning", `test number ${r.num} reported again (counted both times)`, where);
    else if (r.num !== doc.lastNum + 1) diag("warning", `test number ${r.num} out of order (expected ${doc.lastNum + 1})`, where);
    if (doc.plan && r.num > doc.plan.count) diag("warning", `test ${r.num} is beyond the plan 1..${doc.plan.count} (counted anyway)`, where);
    if (doc.bailed !== undefined) diag("warning", `result ${r.num} after "Bail out!" (counted anyway)`, where);
    const p = doc.pending;
    const name = r.name || p.headerName || `test_${r.num}`;
    let { status, reason } = statusOfResult(r);
    if (cutOff) {
      status = "CRASH";
      reason = "its result line was cut off at the end of the output";
    }
    const t = makeResult(doc, r.num, name, status, reason, p);
    if (r.comment && r.directive === undefined && r.exitCode === undefined) t.log.push(`# ${r.comment}`);
    doc.lastNum = Math.max(doc.lastNum, r.num);
    doc.hasContent = true;
    // Building the id costs two strings per result: only when someone listens (not in `kharness parse`).
    if (opts.onEvent) opts.onEvent({ kind: "test-end", id: joinId(doc.owner.provisionalId, toIdSegment(name, r.num)), status });
    // The finished test took the pending's log, events and children; reuse the object for the next test.
    p.headerName = undefined;
    p.log = undefined;
    p.events = undefined;
    p.children = undefined;
    p.started = false;
    p.cut = undefined;
    p.provisionalId = "";
    // The next test at this level starts when this one ends.
    if (stamp) p.hostStart = stamp();
  }

  /** Removes a finished document: retires its pending test and adds placeholders for promised tests never reported. */
  function closeDoc(doc: Doc, mode: CloseMode): void {
    const where = doc.owner.provisionalId || "top level";
    const missingStatus: Status = mode.kind === "normal" ? "ERROR" : "CRASH";
    const p = doc.pending;
    const planCount = doc.plan?.count ?? 0;
    const next = doc.lastNum + 1;
    const pendingHasWork = p.started || (p.children?.length ?? 0) > 0 || p.cut !== undefined;
    if (pendingHasWork || (p.log && next <= planCount)) {
      // The test that was running: its result line never came.
      const reason =
        mode.kind === "normal"
          ? doc.bailed !== undefined
            ? `not run: Bail out! ${doc.bailed}`.trim()
            : "no result line: the program went on without reporting it"
          : p.cut !== undefined
            ? `its result line was cut off: ${p.cut}`
            : pendingHasWork
              ? `no result line: ${mode.why}`
              : `not run: ${mode.why}`;
      makeResult(doc, next, p.headerName ?? `test_${next}`, missingStatus, reason, p, true);
      doc.lastNum = next;
    } else {
      // Lines after the last result belong to the enclosing test; kernel events go up too.
      if (p.log && doc.owner !== root) {
        const parentLog = (doc.owner.log ??= new BoundedLog(opts.maxLogLinesPerTest));
        for (const l of p.log.toArray()) parentLog.push(l);
      }
      if (p.events) (doc.owner.events ??= []).push(...p.events);
    }
    if (doc.plan) {
      let made = 0;
      for (let n = 1; n <= planCount; n++) {
        if (doc.seen.has(n)) continue;
        if (made >= MAX_PLACEHOLDERS) {
          diag("error", `more than ${MAX_PLACEHOLDERS} planned tests never reported; stopped listing them`, where);
          break;
        }
        made++;
        const reason =
          mode.kind === "normal"
            ? doc.bailed !== undefined
              ? `not run: Bail out! ${doc.bailed}`.trim()
              : `not run: ${mode.why ?? "the program ended without reporting it"}`
            : `not run: ${mode.why}`;
        makeResult(doc, n, `test_${n}`, missingStatus, reason, undefined, true);
      }
      if (made > 0) diag(mode.kind === "normal" ? "error" : "warning", `${made} of ${planCount} planned tests never reported (marked ${missingStatus})`, where);
      else if (doc.resultCount !== planCount) diag("warning", `plan 1..${planCount} but ${doc.resultCount} results`, where);
      if (planCount === 0 && doc.plan.skip !== undefined && doc.owner === root && doc.resultCount === 0) skipAll = doc.plan.skip || "all tests skipped";
    }
    if (doc.totals) {
      const bad = (Object.keys(doc.totals) as TotalsKey[]).filter((k) => doc.totals?.[k] !== doc.counts[k]);
      if (bad.length > 0)
        diag(
          "warning",
          `Totals line disagrees with the results (${bad.map((k) => `${k}: printed ${doc.totals?.[k]}, parsed ${doc.counts[k]}`).join(", ")}); the results are used`,
          where,
        );
    }
  }

  function addLog(text: string, width: number): void {
    for (let i = stack.length - 1; i >= 0; i--) {
      const d = stack[i]!;
      if (d.width <= width || i === 0) {
        // Lines between a document's header and its plan (KUnit attributes, a program's preamble) describe the owner.
        const target = d.plan === undefined && d.resultCount === 0 && d.owner !== root ? d.owner : d.pending;
        (target.log ??= new BoundedLog(opts.maxLogLinesPerTest)).push(d.width > 0 ? stripNesting(text, d.width) : text);
        return;
      }
    }
  }

  return {
    diagnostics,
    get sawTap() {
      return sawTap;
    },
    pushLine(text, complete) {
      lineNo++;
      if (!complete) {
        if (!looksLikeCutResult(text)) {
          if (text.length > 0) addLog(text, 0);
          return;
        }
        diag("warning", `output ends in the middle of a result line: "${text.slice(0, 80)}"`, `line ${lineNo}`);
        const k = classifyKtapLine(text);
        if (k.kind === "result") {
          sawTap = true;
          addResult(docAt(k.width, { kind: "normal" }), k.result, true);
        } else {
          const top = stack[stack.length - 1];
          if (top) top.pending.cut = text.trim();
        }
        return;
      }
      const k = classifyKtapLine(text);
      switch (k.kind) {
        case "other":
          if (text.length > 0) addLog(text, k.width);
          return;
        case "totals": {
          addLog(text, k.width);
          for (let i = stack.length - 1; i >= 0; i--) {
            const d = stack[i]!;
            if (d.width <= k.width) {
              d.totals = k.counts;
              break;
            }
          }
          return;
        }
        case "version": {
          sawTap = true;
          const top = stack[stack.length - 1];
          if (top && top.width === k.width && top.hasContent) {
            // A new document at the same level: the previous one is over.
            stack.pop();
            closeDoc(top, { kind: "normal" });
          }
          docAt(k.width, { kind: "normal" });
          return;
        }
        case "plan": {
          sawTap = true;
          let doc = docAt(k.width, { kind: "normal" });
          if (doc.plan) {
            if (doc.resultCount > 0 || doc.plan.count === 0) {
              // A second plan after results: a new document without a version line.
              stack.pop();
              closeDoc(doc, { kind: "normal" });
              doc = openDoc(k.width);
            } else {
              diag("warning", `second plan 1..${k.count} ignored`, `line ${lineNo}`);
              return;
            }
          }
          doc.plan = k.skip !== undefined ? { count: k.count, skip: k.skip } : { count: k.count };
          doc.hasContent = true;
          if (k.count === 0 && k.skip !== undefined) addLog(text, k.width);
          return;
        }
        case "subtest": {
          sawTap = true;
          let top = stack[stack.length - 1];
          if (top && top.width === k.width && !top.hasContent && top.owner !== root) {
            // `KTAP version 1` came first; the header names the test that owns this document.
            if (top.owner.headerName === undefined) {
              top.owner.headerName = k.name;
              const parent = stack[stack.length - 2];
              top.owner.provisionalId = joinId(parent ? parent.owner.provisionalId : "", toIdSegment(k.name, 0));
              opts.onEvent?.({ kind: "test-start", id: top.owner.provisionalId });
            }
            return;
          }
          while (top && top.width > k.width) {
            closeDoc(stack.pop()!, { kind: "normal" });
            top = stack[stack.length - 1];
          }
          if (top && top.width === k.width && top.owner !== root) {
            // The previous sibling's document never got its result line; close it before the next one.
            closeDoc(stack.pop()!, { kind: "normal" });
            top = stack[stack.length - 1];
          }
          if (top && top.width < k.width) {
            if (top.pending.started) retirePending(top);
            markStarted(top, k.name);
            openDoc(k.width);
          } else {
            // A header at the outermost level: start a top-level document and keep the name as a log line.
            const doc = docAt(k.width, { kind: "normal" });
            addLog(text, doc.width);
          }
          return;
        }
        case "selftest": {
          sawTap = true;
          const doc = docAt(k.width, { kind: "normal" });
          if (doc.pending.started) retirePending(doc);
          markStarted(doc, k.name);
          addLog(text, k.width);
          return;
        }
        case "bail": {
          sawTap = true;
          const doc = docAt(k.width, { kind: "normal" });
          doc.bailed = k.reason;
          doc.hasContent = true;
          addLog(text, k.width);
          diag("warning", `Bail out! ${k.reason}`.trim(), doc.owner.provisionalId || "top level");
          return;
        }
        case "result": {
          sawTap = true;
          addResult(docAt(k.width, { kind: "normal", why: whyUnreported(k.result) }), k.result, false);
          return;
        }
      }
    },
    runningTest() {
      const top = stack[stack.length - 1];
      if (!top) return undefined;
      if (top.pending.started) {
        // Provisional ids are made only when needed: building one per result would cost a string per line.
        top.pending.provisionalId ||= joinId(top.owner.provisionalId, pendingName(top));
        return top.pending;
      }
      return top.owner === root ? undefined : top.owner;
    },
    finish(abnormalWhy) {
      while (stack.length > 0) {
        const doc = stack.pop()!;
        const nested = stack.length > 0;
        // A nested document open at the end never got its program's result line: that is a crash.
        const mode: CloseMode =
          abnormalWhy !== undefined ? { kind: "abnormal", why: abnormalWhy } : nested ? { kind: "abnormal", why: "the output ended before its result line" } : { kind: "normal" };
        closeDoc(doc, mode);
      }
      if (droppedDiags > 0) diagnostics.push({ level: "info", message: `${droppedDiags} more diagnostics omitted` });
      return { tests: root.children ?? [], events: root.events ?? [], ...(skipAll !== undefined ? { skipAll } : {}), ...(hostTimes ? { hostTimes } : {}) };
    },
    lastTopLevel() {
      const done = root.children;
      return done && done.length > 0 ? done[done.length - 1]!.name : undefined;
    },
  };

  /** Turns a pending test that started but never got a result line into an ERROR entry (the stream went on). */
  function retirePending(doc: Doc): void {
    const next = doc.lastNum + 1;
    const p = doc.pending;
    makeResult(doc, next, p.headerName ?? `test_${next}`, "ERROR", "no result line: the output went on to the next test", p, true);
    diag("error", `test ${next} (${p.headerName ?? "unnamed"}) has no result line`, doc.owner.provisionalId || "top level");
    doc.lastNum = next;
    doc.pending = newPending("", stamp?.());
  }
}
