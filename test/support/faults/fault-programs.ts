// Test helper: compiles faults.c (static) once per test process and names a copy per fault, since the
// guest's program name (and so the fault it runs) is the file's basename.

import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../cli-run.js";

export const FAULTS_SOURCE = path.join(REPO_ROOT, "test", "support", "faults", "faults.c");

export type FaultName =
  | "fault_panic"
  | "fault_hang"
  | "fault_check_hang_gone"
  | "fault_segv"
  | "fault_abort"
  | "fault_spew"
  | "fault_spew_4mb"
  | "fault_hostile"
  | "fault_silent"
  | "fault_sleep_forever"
  | "fault_lkdtm_warning"
  | "fault_lkdtm_bug"
  | "fault_lkdtm_exception"
  | "fault_init_poll_error"
  | "fault_traced_stop"
  | "fault_panic_at_shutdown"
  | "fault_ok"
  | "fault_ok_after";

let built: string | undefined;

/** Paths of static fault programs, in the order asked (each a copy named after its fault). */
export function faultPrograms(...names: FaultName[]): string[] {
  if (!built) {
    const dir = mkdtempSync(path.join(tmpdir(), "kh-faults-"));
    built = path.join(dir, "faults");
    execFileSync("gcc", ["-static", "-O1", "-Wall", "-o", built, FAULTS_SOURCE], { stdio: "inherit" });
  }
  const dir = path.dirname(built);
  return names.map((n) => {
    const p = path.join(dir, n);
    if (!existsSync(p)) {
      mkdirSync(dir, { recursive: true });
      copyFileSync(built!, p);
      chmodSync(p, 0o755);
    }
    return p;
  });
}

/** A RegExp matching a path literally (for process command lines). */
export function literal(p: string): RegExp {
  return new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
}

/** Stderr progress lines with the host time each arrived, for timing bounds measured on the host. */
export function stampedLines(): { lines: { at: number; line: string }[]; onStderr: (line: string) => void; firstAt: (re: RegExp) => number | undefined } {
  const lines: { at: number; line: string }[] = [];
  return {
    lines,
    onStderr: (line) => void lines.push({ at: Date.now(), line }),
    firstAt: (re) => lines.find((l) => re.test(l.line))?.at,
  };
}

/** Undefined when this process may mount a tmpfs (root, outside a locked-down container), else why not. */
export function tmpfsMountProblem(): string | undefined {
  const dir = mkdtempSync(path.join(tmpdir(), "kh-mount-probe-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir], { stdio: "pipe" });
    execFileSync("umount", [dir], { stdio: "pipe" });
    return undefined;
  } catch (e) {
    return `cannot mount a tmpfs here (${(e as Error).message.split("\n")[0]})`;
  }
}
