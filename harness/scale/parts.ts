// A run directory made of parts (guests of --jobs, shards joined by `kharness merge`): reading its part list
// from manifest.json and parsing it again part by part, for `kharness parse RUN_DIR`.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { bootFromResultsJson } from "../results/index.js";
import type { RunResult } from "../types.js";
import type { RunPartRecord } from "./jobs.js";
import { mergeRunParts } from "./merge-runs.js";

/** The parts manifest.json names, or undefined for a run of one guest (or no readable manifest). */
export async function readRunParts(runDir: string): Promise<{ parts: RunPartRecord[]; programs: string[]; splitCases?: Record<string, string[]> } | undefined> {
  const text = await fs.readFile(path.join(runDir, "manifest.json"), "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  let doc: { parts?: unknown; programs?: { name?: unknown }[]; splitCases?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    return undefined;
  }
  if (!Array.isArray(doc.parts)) return undefined;
  const parts = doc.parts.filter(
    (p): p is RunPartRecord =>
      !!p &&
      typeof (p as RunPartRecord).dir === "string" &&
      !(p as RunPartRecord).dir.includes("..") &&
      Array.isArray((p as RunPartRecord).programs) &&
      (p as RunPartRecord).programs.every((n) => typeof n === "string"),
  );
  if (parts.length === 0) return undefined;
  const programs = Array.isArray(doc.programs) ? doc.programs.map((p) => p?.name).filter((n): n is string => typeof n === "string") : [];
  const split = doc.splitCases && typeof doc.splitCases === "object" ? (doc.splitCases as Record<string, unknown>) : {};
  const splitCases = Object.fromEntries(
    Object.entries(split).filter((e): e is [string, string[]] => Array.isArray(e[1]) && e[1].every((c) => typeof c === "string")),
  );
  return { parts, programs, ...(Object.keys(splitCases).length ? { splitCases } : {}) };
}

/**
 * Parses each part's directory again with `parseOne` (the ordinary run-directory parse, which recurses into a
 * part that has parts of its own) and joins them as the run did; the run's identity and boot come from its
 * results.json, as for a run of one guest.
 */
export async function parsePartedRunDir(
  runDir: string,
  layout: { parts: RunPartRecord[]; programs: string[]; splitCases?: Record<string, string[]> },
  parseOne: (dir: string) => Promise<RunResult>,
): Promise<RunResult> {
  const runs = [];
  for (const p of layout.parts) runs.push({ label: p.dir, run: await parseOne(path.join(runDir, p.dir)) });
  const order = layout.programs.length ? layout.programs : layout.parts.flatMap((p) => p.programs);
  const run = mergeRunParts(runs, order, (name) => layout.splitCases?.[name]);
  const previous = bootFromResultsJson(
    await fs.readFile(path.join(runDir, "results.json"), "utf8").then(
      (t): unknown => {
        try {
          return JSON.parse(t);
        } catch {
          return undefined;
        }
      },
      () => undefined,
    ),
  );
  return {
    ...run,
    ...(previous.runId !== undefined ? { runId: previous.runId } : {}),
    ...(previous.startedAt !== undefined ? { startedAt: previous.startedAt } : {}),
    ...(previous.durationMs !== undefined ? { durationMs: previous.durationMs } : {}),
    ...(previous.kernel ? { kernel: previous.kernel } : {}),
    ...(previous.boot ? { boot: previous.boot } : {}),
  };
}
