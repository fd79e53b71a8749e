// Pure: the boot supervisor's verdicts. Given what has been seen of the guest (times of init, poweroff, panic and
// the last sign of life) and the limits, says whether the boot goes on or ends, with which BootEnd and why.
// boot.ts feeds it the clock and the facts; tests feed it numbers, without QEMU.

import type { BootEnd } from "../types.js";

/** After a panic line, how long the rest of the report may take before QEMU is killed. */
export const PANIC_GRACE_MS = 1000;
/** After init's `poweroff`, how long QEMU may take to exit on its own (e.g. no ACPI power-off). */
export const POWEROFF_GRACE_MS = 5000;
/** After init starts on the console, how long its control-port line may lag before "control port missing" is said. */
export const CONTROL_PORT_GRACE_MS = 5000;

/** What the supervisor has seen of the guest so far (host clock, ms). */
export interface GuestFacts {
  /** When QEMU was started. */
  startedAt: number;
  /** When init said it started (control port or console), if it did. */
  initAt?: number;
  /** When init said `poweroff`, if it did. */
  poweroffAt?: number;
  /** When a `Kernel panic - not syncing` line arrived, and that line. */
  panicAt?: number;
  panicLine: string;
  /** Last console output (before the control port speaks), results bytes or control line. */
  lastActivity: number;
  /** Init has spoken on the control port at least once. */
  controlSeen: boolean;
  /** The last control line other than a heartbeat, for the idle message. */
  lastEvent: string;
}

/** The limits the watchdog enforces. */
export interface WatchdogLimits {
  /** Seconds from QEMU's start until init must start. */
  bootTimeoutSec: number;
  /** Milliseconds without a sign of life after init. */
  idleMs: number;
}

/** How a boot ends, and the one-line reason kept as its endDetail. */
export interface BootEnding {
  end: BootEnd;
  detail: string;
}

/** One watchdog tick: undefined = keep going; otherwise QEMU is killed and the boot ends this way. */
export function watchdogVerdict(f: GuestFacts, limits: WatchdogLimits, now: number): BootEnding | undefined {
  if (f.panicAt !== undefined) return now - f.panicAt > PANIC_GRACE_MS ? { end: "panic", detail: f.panicLine } : undefined;
  if (f.poweroffAt !== undefined)
    return now - f.poweroffAt > POWEROFF_GRACE_MS ? { end: "poweroff", detail: "QEMU did not exit after the guest powered off; killed it" } : undefined;
  if (f.initAt === undefined)
    return now - f.startedAt > limits.bootTimeoutSec * 1000
      ? { end: "boot-timeout", detail: `the guest did not start init within ${limits.bootTimeoutSec} s (see the end of console.log)` }
      : undefined;
  if (now - f.lastActivity > limits.idleMs)
    return { end: "idle", detail: `no console output, results or heartbeat for ${Math.round(limits.idleMs / 1000)} s; last guest event: ${f.lastEvent}` };
  return undefined;
}

/**
 * True when init started (its kmsg line reached the console) but its control port has stayed silent for longer
 * than the control line may lag: the guest runs without heartbeats.
 */
export function controlPortMissing(f: GuestFacts, now: number): boolean {
  return f.initAt !== undefined && !f.controlSeen && now - f.initAt > CONTROL_PORT_GRACE_MS;
}

/** What is known once QEMU has exited. */
export interface ExitFacts {
  /** The user (or the caller's signal) stopped the boot. */
  aborted: boolean;
  /** The watchdog's or a panic end line's verdict, if one killed QEMU. */
  killedFor?: BootEnding;
  /** QEMU's exit code (undefined when a signal ended it) and the signal's name. */
  exitCode: number | undefined;
  signal?: string;
  accel: "kvm" | "tcg";
  /** The last lines QEMU wrote to stderr. */
  stderrTail: readonly string[];
}

/** The boot's end once QEMU is gone: interrupted, panic, the watchdog's verdict, poweroff, or a QEMU error. */
export function endAfterExit(f: GuestFacts, x: ExitFacts): { end: BootEnd; detail?: string } {
  if (x.aborted) return { end: "interrupted", detail: "interrupted: QEMU was stopped" };
  if (f.panicAt !== undefined) return { end: "panic", detail: f.panicLine };
  if (x.killedFor) return x.killedFor;
  if (f.poweroffAt !== undefined) return { end: "poweroff" };
  let tail = x.stderrTail.length ? `; QEMU said:\n${x.stderrTail.join("\n")}` : "";
  // The nested-virtualization failure the accel probe exists for; if it slipped past the probe, say what to do.
  if (x.accel === "kvm" && x.stderrTail.some((l) => /KVM internal error/.test(l))) tail += "\nKVM cannot run this guest on this host: rerun with --accel tcg";
  if (x.exitCode !== 0) {
    const how = x.signal ? `was killed by ${x.signal}` : `exited with code ${x.exitCode}`;
    return { end: "qemu-error", detail: `QEMU ${how} before the guest powered off${tail}` };
  }
  return { end: "qemu-error", detail: `QEMU exited before the guest powered off (the guest reset or triple-faulted?)${tail}` };
}
