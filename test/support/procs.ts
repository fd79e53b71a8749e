// Process table queries for cleanup checks: a zombie counts as gone (some PID 1s never reap them).

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { processAlive } from "../../harness/exec/cache.js";

/** State letter from /proc/PID/stat, or undefined when the process does not exist. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name is in parentheses and may contain spaces; the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

/** True when pid is a live process: the product's check (exec/cache.ts), and not a zombie. */
export function isAlive(pid: number): boolean {
  if (!processAlive(pid)) return false;
  const s = procState(pid);
  return s !== undefined && s !== "Z" && s !== "X";
}

/** Live processes whose command line matches the pattern (for "nothing left behind" checks). */
export function findLiveProcesses(pattern: RegExp): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const ent of readdirSync("/proc")) {
    const pid = Number(ent);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
    } catch {
      continue;
    }
    if (pattern.test(cmdline) && isAlive(pid)) out.push({ pid, cmdline });
  }
  return out;
}

/**
 * findLiveProcesses after giving the matches up to withinMs to finish dying: a process sent SIGKILL (it cannot
 * catch it) may still need a moment of CPU to exit on a loaded machine, after the parent that killed it returned.
 * Use it only with patterns for processes that would never end by themselves that soon (e.g. a long sleep).
 */
export async function liveProcessesAfter(pattern: RegExp, withinMs: number): Promise<{ pid: number; cmdline: string }[]> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const live = findLiveProcesses(pattern);
    if (live.length === 0 || Date.now() >= deadline) return live;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Live processes that run inside dir (their working directory is in it) or name it on their command line:
 * catches a build's make and gcc, whose command lines use paths relative to the build directory.
 */
export function findLiveProcessesUnder(dir: string): { pid: number; cmdline: string; cwd: string }[] {
  const out: { pid: number; cmdline: string; cwd: string }[] = [];
  const root = dir.replace(/\/+$/, "");
  for (const ent of readdirSync("/proc")) {
    const pid = Number(ent);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let cmdline = "";
    let cwd = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      /* gone, or a kernel thread */
    }
    const inside = cwd === root || cwd.startsWith(`${root}/`) || cmdline.includes(root);
    if (inside && isAlive(pid)) out.push({ pid, cmdline: cmdline.slice(0, 200), cwd });
  }
  return out;
}
