// Test helper: runs the built kharness CLI as a user would and reads back its run directory.

import { spawn } from "node:child_process";
import { mkdtempSync, promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { REPO_ROOT } from "../../harness/repo-root.js";
import type { RunResult, TestResult } from "../../harness/types.js";
import { readCpioEntry as readCpioEntryBytes } from "../../harness/results/index.js";

export { REPO_ROOT };
export const KHARNESS_BIN = path.join(REPO_ROOT, "bin", "kharness.js");

export interface CliOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  outDir: string;
  durationMs: number;
}

/** A fresh temporary directory for one test's run. */
export function tempDir(prefix = "kh-test-"): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  onStderr?: (line: string) => NodeJS.Signals | void;
  stdin?: string;
  /** Do not add --out (the run goes to ./kharness-out/<run-id> under cwd). */
  noOut?: boolean;
  /** SIGKILL the process after this long (a hang then shows as signal SIGKILL). */
  killAfterMs?: number;
  /** Close the read end of stdout at once, as `| head -1` does once it has its line. */
  closeStdout?: boolean;
  /** The same for stderr (`2>&1 | head -1`); stderr then reads as empty. */
  closeStderr?: boolean;
}

/**
 * Runs `kharness ARGS` (with --out in a fresh temp dir for `run` unless given). `onStderr` sees progress
 * lines as they come and may return a signal to send to the process (e.g. SIGINT once the boot starts).
 */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliOutcome> {
  const given = args.findIndex((a) => a === "--out" || a.startsWith("--out="));
  const outDir =
    given >= 0
      ? args[given] === "--out"
        ? (args[given + 1] as string)
        : (args[given] as string).slice("--out=".length)
      : opts.noOut
        ? ""
        : tempDir("kh-run-");
  const full = args[0] === "run" && given < 0 && !opts.noOut ? [...args, "--out", outDir] : args;
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KHARNESS_BIN, ...full], {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    if (opts.closeStdout) child.stdout.destroy();
    if (opts.closeStderr) child.stderr.destroy();
    const killer = opts.killAfterMs ? setTimeout(() => child.kill("SIGKILL"), opts.killAfterMs) : undefined;
    child.on("close", () => clearTimeout(killer));
    let stdout = "";
    let stderr = "";
    let pending = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
      pending += b.toString();
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const sig = opts.onStderr?.(line);
        if (sig) child.kill(sig);
      }
    });
    child.stdin.end(opts.stdin ?? "");
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr, outDir, durationMs: Date.now() - t0 }));
  });
}

/** A file's bytes from a cpio newc archive (the run's initramfs.cpio), or undefined when it is not in it. */
export function readCpioEntry(archive: Buffer, name: string): Buffer | undefined {
  const bytes = readCpioEntryBytes(archive, name);
  return bytes && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The guest manifest of a run (name, guest path and arguments per program), read from its initramfs. */
export async function readGuestManifest(outDir: string): Promise<{ name: string; guestPath: string; args: string[] }[]> {
  const cpio = await fs.readFile(path.join(outDir, "initramfs.cpio"));
  const text = readCpioEntry(cpio, "kharness/manifest")?.toString("utf8") ?? "";
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [name, guestPath, , , ...args] = line.split("\t");
      return { name: name as string, guestPath: guestPath as string, args };
    });
}

export async function readResults(outDir: string): Promise<RunResult> {
  return JSON.parse(await fs.readFile(path.join(outDir, "results.json"), "utf8")) as RunResult;
}

/** Every leaf test (a test without children), depth first. */
export function leaves(tests: readonly TestResult[]): TestResult[] {
  const out: TestResult[] = [];
  const walk = (ts: readonly TestResult[]) => {
    for (const t of ts) {
      if (t.children.length) walk(t.children);
      else out.push(t);
    }
  };
  walk(tests);
  return out;
}

/** Counts of leaf statuses, e.g. { PASS: 169, SKIP: 86 }. */
export function statusCounts(tests: readonly TestResult[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const t of leaves(tests)) c[t.status] = (c[t.status] ?? 0) + 1;
  return c;
}
