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
  { kind: "lockdep", re: /WARNING: (?:possible (?:circular|recursive) locking|inconsistent lock state|suspicious RCU usage|possible irq lock inversion|lock held when returning|bad unlock balance|held lock freed|nested lock)/ },
  { kind: "oops", re: /^Oops:|\bOops: \d|general protection fault|BUG: unable to handle (?:page fault|kernel)|BUG: kernel NULL pointer dereference/ },
  { kind: "bug", re: /^BUG:|kernel BUG at / },
  { kind: "warning", re: /^WARNING:/ },
  { kind: "hung-task", re: /INFO: task .+ blocked for more than \d+ seconds/ },
  { kind: "rcu-stall", re: /rcu: INFO: \S+ (?:self-)?detected stalls?|rcu_(?:sched|preempt|bh) (?:self-)?detected stall/ },
];

// One cheap test per line before the specific rules: nearly every console line matches none of them.
const ANY_RULE = /Kernel panic|BUG|WARNING:|Oops|general protection|INFO: task|detected stall/;
const END_OF_REPORT = /---\[ end (?:trace|Kernel panic)/;
const MARKER = /^kharness: (start|end) (\S+)\s*$/;

/** What the scanner reports back for one line. */
export type ScanOutcome =
  | { kind: "marker"; action: "start" | "end"; id: string }
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
      // Markers are written by init and the C framework through /dev/kmsg; they may follow a "kmsg" tag.
      if (line.charCodeAt(0) === 107 /* k */ || line.includes("kharness: ")) {
        const at = line.indexOf("kharness: ");
        if (at !== -1) {
          const m = MARKER.exec(line.slice(at));
          if (m) return { kind: "marker", action: m[1] as "start" | "end", id: m[2] ?? "" };
        }
      }
      const trimmed = line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9 ? line.trimStart() : line;
      // The closing line of a report repeats its headline; it ends the report, it does not start one.
      const isEnd = END_OF_REPORT.test(trimmed);
      for (const rule of isEnd || !ANY_RULE.test(trimmed) ? [] : RULES) {
        if (!rule.re.test(trimmed)) continue;
        // A panic that follows an oops is its own report; anything else inside an open report is part of it.
        if (open && rule.kind !== "panic" && open.lines.length < 3) break;
        close();
        if (kept >= MAX_EVENTS) {
          dropped++;
          return { kind: "none" };
        }
        kept++;
        open = { kind: rule.kind, title: trimmed, lines: [trimmed] };
        return { kind: "event-start", event: open };
      }
      if (open) {
        if (open.lines.length < MAX_EVENT_LINES) open.lines.push(line);
        else if (open.lines.length === MAX_EVENT_LINES) open.lines.push("[kharness: report truncated]");
        if (isEnd || open.lines.length > MAX_EVENT_LINES) close();
      }
      return { kind: "none" };
    },
    flush() {
      close();
    },
  };
}
