// Reads a run directory's files and parses the run again (`kharness parse RUN_DIR`): the thin shell over the pure
// parseRunLogs (results/run-logs.ts), which decides everything.

import { createReadStream, promises as fs } from "node:fs";
import * as path from "node:path";
import { UsageError } from "./errors.js";
import {
  bootFromResultsJson,
  MANIFEST_VERSION,
  ManifestError,
  parseRunLogs,
  parseRunManifest,
  programsFromInitramfs,
  type RunManifest,
  type RunParserOptions,
} from "./results/index.js";
import type { RunResult } from "./types.js";

/** Files of a run directory that a re-parse reads (boot.ts and the pipeline write them). */
export const RUN_DIR_FILES = {
  console: "console.log",
  results: "results.log",
  manifest: "manifest.json",
  initramfs: "initramfs.cpio",
  previous: "results.json",
} as const;

/**
 * The run directory a `kharness parse` argument names: the directory itself when it holds console.log, or the
 * directory of a console.log or results.log that has its sibling results.log / console.log. Undefined for any
 * other file (a plain console log or TAP file, parsed as one stream).
 */
export async function findRunDir(arg: string): Promise<string | undefined> {
  const st = await fs.stat(arg).catch(() => undefined);
  if (!st) return undefined;
  const has = (dir: string, name: string) =>
    fs.stat(path.join(dir, name)).then(
      (s) => s.isFile(),
      () => false,
    );
  if (st.isDirectory()) return (await has(arg, RUN_DIR_FILES.console)) ? arg : undefined;
  const dir = path.dirname(arg);
  const base = path.basename(arg);
  if (base === RUN_DIR_FILES.console && (await has(dir, RUN_DIR_FILES.results))) return dir;
  if (base === RUN_DIR_FILES.results && (await has(dir, RUN_DIR_FILES.console))) return dir;
  return undefined;
}

/** Options of parseRunDir: the parser's, plus a manifest to use instead of the directory's manifest.json. */
export interface ParseRunDirOptions extends RunParserOptions {
  manifest?: RunManifest;
}

/**
 * Parses a run directory again from console.log and results.log with the parser the run used, so the verdicts
 * are the run's. manifest.json (when present) names programs that never started and gives the run's
 * --fail-on-warn (opts.failOnWarn wins); without it the programs come from the guest's own manifest in
 * initramfs.cpio. A previous results.json gives how the boot ended and the run's
 * identity (runId, startedAt, kernel, boot), none of which the logs hold. Throws UsageError naming the
 * directory when it is not a run directory or its manifest.json is damaged.
 */
export async function parseRunDir(dir: string, opts: ParseRunDirOptions = {}): Promise<RunResult> {
  const file = (name: string) => path.join(dir, name);
  const consoleSt = await fs.stat(file(RUN_DIR_FILES.console)).catch(() => undefined);
  if (!consoleSt?.isFile())
    throw new UsageError(`parse ${dir}: not a kharness run directory (no ${RUN_DIR_FILES.console})`, {
      fix: "pass a run directory (kharness-out/<run-id>), or a console log or TAP file",
      untestable: false,
    });
  const { manifest: given, ...parserOpts } = opts;
  // A run of several guests (--jobs) or merged shards: each part's logs are parsed as its own run, then joined.
  // Loaded here, not with this module: `kharness parse` of a plain log reads no run directory (issue 16).
  const parts = given ? undefined : await import("./scale/parts.js");
  const layout = await parts?.readRunParts(dir);
  if (parts && layout) return parts.parsePartedRunDir(dir, layout, (part) => parseRunDir(part, parserOpts));
  let manifest = given;
  if (!manifest) {
    const text = await fs.readFile(file(RUN_DIR_FILES.manifest), "utf8").catch(() => undefined);
    if (text !== undefined) {
      try {
        manifest = parseRunManifest(text, file(RUN_DIR_FILES.manifest));
      } catch (e) {
        if (!(e instanceof ManifestError)) throw e;
        throw new UsageError(e.message, {
          fix: `remove ${file(RUN_DIR_FILES.manifest)} (the programs are then read from ${RUN_DIR_FILES.initramfs}), or restore it`,
          cause: e,
          untestable: false,
        });
      }
    }
  }
  if (!manifest) {
    const cpio = await fs.readFile(file(RUN_DIR_FILES.initramfs)).catch(() => undefined);
    const programs = cpio ? programsFromInitramfs(cpio) : undefined;
    if (programs) manifest = { schemaVersion: MANIFEST_VERSION, programs };
  }
  // A damaged or absent results.json only costs the boot's end and identity: the verdicts come from the logs.
  const previous = bootFromResultsJson(
    await fs.readFile(file(RUN_DIR_FILES.previous), "utf8").then(
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
  const hasResults = await fs.stat(file(RUN_DIR_FILES.results)).then(
    (s) => s.isFile(),
    () => false,
  );
  const run = await parseRunLogs(
    {
      console: createReadStream(file(RUN_DIR_FILES.console)),
      ...(hasResults ? { results: createReadStream(file(RUN_DIR_FILES.results)) } : {}),
      ...(manifest ? { manifest } : {}),
      ...(previous.end ? { end: previous.end } : {}),
    },
    parserOpts,
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
