// Live progress on the terminal: subscribes to pipeline events and prints stages, programs and failures.

import * as path from "node:path";
import type { ProgressEvent, ProgressSink, Status } from "./types.js";

const PASSING: ReadonlySet<Status> = new Set(["PASS", "SKIP", "XFAIL"]);

/** A progress sink writing to a stream; stage changes and each finished program, failures as they happen. */
export function createProgressPrinter(
  out: NodeJS.WritableStream,
  opts: { color: boolean; programs?: () => ReadonlySet<string>; cwd?: string },
): ProgressSink & { counts: () => Record<string, number> } {
  const t0 = Date.now();
  const counts: Record<string, number> = {};
  const c = (code: string, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const stamp = () => c("2", `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`);
  const line = (s: string) => out.write(`${stamp()} ${s}\n`);
  let lastBuildLine = 0;
  // The supervisor (control port) and the parser (results stream) both announce a program's start.
  const started = new Set<string>();
  const sink = (e: ProgressEvent) => {
    switch (e.kind) {
      case "stage":
        line(c("1", `${e.stage}${e.detail ? `: ${e.detail}` : ""}`));
        break;
      case "build-line":
        // make prints thousands of lines: show one every 2 s so the user sees it moving.
        if (Date.now() - lastBuildLine > 2000) {
          lastBuildLine = Date.now();
          line(c("2", `  ${e.line.trim().slice(0, 120)}`));
        }
        break;
      case "plan":
        line(`${e.programs.length} program(s): ${e.programs.join(" ")}`);
        break;
      case "guest":
        if (e.event === "init") line("guest init started");
        break;
      case "test-start":
        if (opts.programs?.().has(e.id) && !started.has(e.id)) {
          started.add(e.id);
          line(`  running ${e.id}`);
        }
        break;
      case "test-end": {
        counts[e.status] = (counts[e.status] ?? 0) + 1;
        const isProgram = opts.programs?.().has(e.id) ?? false;
        if (!PASSING.has(e.status)) line(`  ${c("31", e.status.padEnd(7))} ${e.id}`);
        else if (isProgram) line(`  ${c("32", e.status.padEnd(7))} ${e.id}`);
        break;
      }
      case "kernel-event":
        line(c("33", `  kernel ${e.event.kind}: ${e.event.title}${e.event.testId ? ` (during ${e.event.testId})` : ""}`));
        break;
      case "info":
        line(c("2", e.message));
        break;
      case "run-dir":
        line(c("2", `run directory ${path.relative(opts.cwd ?? process.cwd(), e.path) || "."}`));
        break;
      case "kernel-ready": {
        const name = `kernel ${e.release ?? "(release unknown)"}`;
        if (e.cacheHit === true) line(c("2", `${name} from the build cache (${e.cacheKey?.slice(0, 12) ?? "?"}, ${e.buildMs ?? 0} ms)`));
        else if (e.cacheHit === false) line(c("2", `built ${name} in ${((e.buildMs ?? 0) / 1000).toFixed(0)} s`));
        else line(c("2", `${name} (${e.source})`));
        break;
      }
      case "stage-end":
        // Builds and boots take long enough for their duration to matter; the short stages stay quiet.
        if (e.durationMs >= 1000) line(c("2", `${e.stage} done in ${(e.durationMs / 1000).toFixed(1)} s`));
        break;
    }
  };
  return Object.assign(sink, { counts: () => ({ ...counts }) });
}
