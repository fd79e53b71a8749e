// Reads the two sides of a comparison: a run directory (its results.json) or a results.json file.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { UsageError } from "../errors.js";
import type { RunResult } from "../types.js";
import type { RunRef } from "./classify.js";

/** A loaded side: the run and how to name it. */
export interface LoadedRun {
  run: RunResult;
  ref: RunRef;
  /** The run directory when the argument was one (or the directory of its results.json). */
  runDir?: string;
}

/**
 * Loads `kharness compare` input: a run directory or a results.json. Throws UsageError naming the file and the
 * fix (exit 2) when it is neither, or its results.json is not one.
 */
export async function loadRunForCompare(arg: string, label: string): Promise<LoadedRun> {
  const st = await fs.stat(arg).catch(() => undefined);
  const file = st?.isDirectory() ? path.join(arg, "results.json") : arg;
  const fix = "pass a run directory (kharness-out/<run-id>) or its results.json; `kharness parse RUN_DIR --json-out F` writes one for a run that has none";
  const text = await fs.readFile(file, "utf8").catch((e: NodeJS.ErrnoException) => {
    const why = !st ? "no such file or directory" : st.isDirectory() ? "a directory without results.json" : (e.code ?? e.message);
    throw new UsageError(`compare ${label} ${arg}: ${why}`, { fix, untestable: false });
  });
  let run: RunResult;
  try {
    run = JSON.parse(text) as RunResult;
  } catch (e) {
    throw new UsageError(`compare ${label} ${file}: not JSON (${(e as Error).message})`, { fix, untestable: false });
  }
  if (!run || typeof run !== "object" || !Array.isArray(run.tests) || typeof run.schemaVersion !== "number")
    throw new UsageError(`compare ${label} ${file}: not a kharness results.json (no schemaVersion and tests)`, { fix, untestable: false });
  const runDir = path.dirname(path.resolve(file));
  return {
    run,
    runDir,
    ref: { runId: run.runId ?? path.basename(runDir), path: path.resolve(file), ...(run.kernel?.release ? { kernelRelease: run.kernel.release } : {}) },
  };
}
