// Scans kernel log lines for panics, oopses, BUG/WARN, KASAN, lockdep, hung tasks and RCU stalls, and tracks kharness markers.

import type { KernelEvent } from "../types.js";

/** Lines kept per kernel report; a report longer than this is cut with a marker line. */
export const MAX_EVENT_LINES = 120;
/** Reports kept per run; later ones are only counted, so a WARN storm cannot exhaust memory. */
export const MAX_EVENTS = 200;

interface Rule {
  kind: KernelEvent["kind"];
  re: RegExp;
}

// Order matters: the more specific forms (KASAN, lockdep, page-fault oops) come before BUG:/WARNING:.
const RULES: Rule[] = [
  { kind: "panic", re: /Kernel panic - not syncing/ },
  { kind: "kasan", re: /BUG: KASAN:/ },
  {
    kind: "lockdep",
    re: /WARNING: (?:possible (?:circular|recursive) locking|inconsistent lock state|suspicious RCU usage|possible irq lock inversion|lock held when returning|bad unlock balance|held lock freed|nested lock)/,
  },
  { kind: "oops", re: /^Oops:|\bOops: \d|general protection fault|BUG: unable to handle (?:page fault|kernel)|BUG: kernel NULL pointer dereference/ },
  { kind: "bug", re: /^BUG:|kernel BUG at / },
  { kind: "warning", re: /^WARNING:/ },
  { kind: "hung-task", re: /INFO: task .+ blocked for more than \d+ seconds/ },
  { kind: "rcu-stall", re: /rcu: INFO: \S+ (?:self-)?detected stalls?|rcu_(?:sched|preempt|bh) (?:self-)?detected stall/ },
];

// One cheap test per line before the specific rules: nearly every console line matches none of them.
const ANY_RULE = /Kernel panic|BUG|WARNING:|Oops|general protection|INFO: task|detected stall/;
// The same, or a kharness kmsg marker: one search over an ordinary line instead of two.
const ANY_RULE_OR_MARKER = /Kernel panic|BUG|WARNING:|Oops|general protection|INFO: task|detected stall|kharness: /;
const END_OF_REPORT = /---\[ end (?:trace|Kernel panic)/;
const MARKER = /^kharness: (start|end) (\S+)\s*$/;
const OOPS_LINE = /^Oops: /;
const KASAN_RULE = /^={20,}\s*$/;
// Init's own kmsg lines: `init N` says markers are in use from here on, `poweroff` that the tests are over.
const LIFECYCLE = /^kharness: (?:init \d+|poweroff)\s*$/;

/** True for a KTAP diagnostic (`#` then a blank or nothing) or result line (`ok ` / `not ok `), nesting removed. */
function isKtapLine(trimmed: string): boolean {
  const c = trimmed.charCodeAt(0);
  if (c === 35 /* # */) return trimmed.length === 1 || trimmed.charCodeAt(1) === 32 || trimmed.charCodeAt(1) === 9;
  return (c === 111 /* o */ && trimmed.startsWith("ok ")) || (c === 110 /* n */ && trimmed.startsWith("not ok "));
}

/** What the scanner reports back for one line. */
export type ScanOutcome =
  | { kind: "marker"; action: "start" | "end"; id: string }
  | { kind: "marker"; action: "init" | "poweroff" }
  /** A new report began on this line; `attach` receives the event so the caller can attribute it. */
  | { kind: "event-start"; event: KernelEvent }
  | { kind: "none" };

/** A scanner over kernel log lines (printk prefix already removed). */
export interface KernelScanner {
  scanLine(line: string): ScanOutcome;
  /** Closes a report still open at the end of the stream. */
  flush(): void;
  /** Reports dropped after MAX_EVENTS. */
  readonly dropped: number;
}

// The answer for a line that is neither a marker nor the start of a report: one shared object, not one per line.
const NONE: ScanOutcome = Object.freeze({ kind: "none" });

/** Creates a scanner; `onClose` receives each report when it ends (end-of-trace line, a new report, the cap, or flush). */
export function createKernelScanner(onClose: (e: KernelEvent) => void): KernelScanner {
  let open: KernelEvent | undefined;
  let kept = 0;
  let dropped = 0;

  function close(): void {
    if (open) onClose(open);
    open = undefined;
  }

  return {
    get dropped() {
      return dropped;
    },
    scanLine(line) {
      // Nearly every console line matches no rule, is no marker, and no report is open: answer at once, allocating nothing.
      const hit = ANY_RULE_OR_MARKER.test(line);
      if (!hit && !open) return NONE;
      // Markers are written by init and the C framework through /dev/kmsg; they may follow a "kmsg" tag.
      if (hit && line.includes("kharness: ")) {
        const at = line.indexOf("kharness: ");
        if (at !== -1) {
          const rest = line.slice(at);
          const m = MARKER.exec(rest);
          if (m) return { kind: "marker", action: m[1] as "start" | "end", id: m[2] ?? "" };
          // Only a kmsg line (nothing but an optional tag before it), never a KTAP line naming a program "poweroff".
          if (LIFECYCLE.test(rest) && !line.slice(0, at).includes("#"))
            return { kind: "marker", action: rest.startsWith("kharness: init") ? "init" : "poweroff" };
        }
      }
      const anyRule = hit && ANY_RULE.test(line);
      if (!anyRule && !open) return NONE;
      const trimmed = line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9 ? line.trimStart() : line;
      // The closing line of a report repeats its headline; it ends the report, it does not start one.
      const isEnd = END_OF_REPORT.test(trimmed);
      // A KTAP diagnostic or result line is test output, not a kernel report: a test that prints "# WARNING: x",
      // or kharness's own TAP naming the reports and reasons it saw, must not start one (no report headline
      // begins with "# ", "ok " or "not ok ").
      if (anyRule && !isEnd && !isKtapLine(trimmed)) {
        for (const rule of RULES) {
          if (!rule.re.test(trimmed)) continue;
          // A panic that follows an oops is its own report; anything else inside an open report is part of it, and
          // so is the `Oops:` line that x86 prints a few lines below its "BUG: unable to handle..." headline.
          if (open && rule.kind !== "panic" && (open.lines.length < 3 || (open.kind === "oops" && open.lines.length < 8 && OOPS_LINE.test(trimmed)))) break;
          close();
          if (kept >= MAX_EVENTS) {
            dropped++;
            return NONE;
          }
          kept++;
          open = { kind: rule.kind, title: trimmed, lines: [trimmed] };
          return { kind: "event-start", event: open };
        }
      }
      if (open) {
        if (open.lines.length < MAX_EVENT_LINES) open.lines.push(line);
        else if (open.lines.length === MAX_EVENT_LINES) open.lines.push("[kharness: report truncated]");
        // KASAN ends its report with a rule of `=` instead of an end-of-trace line.
        const ruleEnd = open.kind === "kasan" && open.lines.length > 2 && KASAN_RULE.test(trimmed);
        if (isEnd || ruleEnd || open.lines.length > MAX_EVENT_LINES) close();
      }
      return NONE;
    },
    flush() {
      close();
    },
  };
}
