// Writes the run directory's report files (and any the user asked for) atomically, from the pure renderers.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "./exec/cache.js";
import type { RunManifest } from "./results/index.js";
import type { RunRequest, RunResult } from "./types.js";

/**
 * The renderers and report.html's writer, loaded on first use: the pipeline needs this module before QEMU starts
 * (for manifest.json), the renderers only after it exits. Loading them before the boot cost a warm run about 7 ms
 * before QEMU started (issue 16); preloadReportWriters loads them while the guest runs instead.
 */
let writers: Promise<[typeof import("./report/index.js"), typeof import("./html-report.js")]> | undefined;
function reportWriters() {
  writers ??= Promise.all([import("./report/index.js"), import("./html-report.js")]);
  return writers;
}

/** Starts loading the report renderers (the pipeline calls it once the guest runs, when the process is idle). */
export function preloadReportWriters(): void {
  void reportWriters().catch(() => undefined);
}

/** report.html in runDir, from its results.json (and comparison.json / history.json when there). */
export async function writeHtmlReport(...a: Parameters<typeof import("./html-report.js").writeHtmlReport>): Promise<string> {
  const [, html] = await reportWriters();
  return html.writeHtmlReport(...a);
}

/**
 * Writes manifest.json into the run directory: the programs init will run, in order, and the options that change
 * verdicts. The pipeline writes it before the boot, so `kharness parse RUN_DIR` can name programs that never
 * started even when the run was interrupted or crashed (docs/results-schema.md).
 */
export async function writeRunManifest(runDir: string, manifest: RunManifest): Promise<void> {
  await writeFileAtomic(path.join(runDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
}

/**
 * results.json, junit.xml, results.tap and report.html in runDir; plus --json/--junit/--tap/--kcidb targets.
 * `html: false` leaves report.html to the caller, which writes it once the history and comparison exist.
 */
export async function writeReports(
  run: RunResult,
  runDir: string | undefined,
  reportPaths: RunRequest["reports"],
  ids: { runId?: string },
  opts: { html?: boolean } = {},
): Promise<void> {
  // Rendered once, and only when some file wants it (`kharness parse` with no report options renders none).
  const once = (render: () => string) => {
    let text: string | undefined;
    return () => (text ??= render());
  };
  const [{ renderJson, renderJunit, renderTap }] = await reportWriters();
  const json = once(() => renderJson(run));
  const junit = once(() => renderJunit(run));
  const tap = once(() => renderTap(run));
  const writes: Promise<void>[] = [];
  if (runDir) {
    const results = writeFileAtomic(path.join(runDir, "results.json"), json());
    writes.push(results, writeFileAtomic(path.join(runDir, "junit.xml"), junit()), writeFileAtomic(path.join(runDir, "results.tap"), tap()));
    // report.html is rendered from the results.json just written (and comparison.json / history.json when there).
    if (opts.html !== false) writes.push(results.then(() => writeHtmlReport(runDir)).then(() => undefined));
  }
  const put = async (file: string | undefined, text: () => string | Promise<string>) => {
    if (!file) return;
    await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
    await writeFileAtomic(path.resolve(file), await text());
  };
  writes.push(
    put(reportPaths.json, json),
    put(reportPaths.junit, junit),
    put(reportPaths.tap, tap),
    // With the provenance the run directory and the build cache hold (tree, patches, compiler, config, QEMU).
    // Loaded only for --kcidb: the provenance reader brings the process runner (for QEMU's version) with it.
    put(reportPaths.kcidb, async () => {
      const [{ renderKcidbForRun }, { createExec }] = await Promise.all([import("./kcidb-provenance.js"), import("./exec/exec.js")]);
      return renderKcidbForRun(run, runDir, { origin: "kharness", runId: ids.runId ?? run.runId ?? "run" }, createExec());
    }),
  );
  await Promise.all(writes);
}
