// Test helper: runs the built kharness CLI as a user would and reads back its run directory.

import { spawn } from "node:child_process";
import { mkdtempSync, promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { RunResult, TestResult } from "../types.js";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
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

/**
 * Runs `kharness ARGS` (with --out in a fresh temp dir for `run` unless given). `onStderr` sees progress
 * lines as they come and may return a signal to send to the process (e.g. SIGINT once the boot starts).
 */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; onStderr?: (line: string) => NodeJS.Signals | void; stdin?: string } = {}): Promise<CliOutcome> {
  const outDir = args.includes("--out") ? (args[args.indexOf("--out") + 1] as string) : tempDir("kh-run-");
  const full = args[0] === "run" && !args.includes("--out") ? [...args, "--out", outDir] : args;
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KHARNESS_BIN, ...full], { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
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
