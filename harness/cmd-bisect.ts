// The `bisect` subcommand: a bisection's directory, its live progress on stderr, its answer on stdout and its
// exit code (0 found, 1 no single answer, 2 bad input or ends, 3 infrastructure, 130/143 interrupted).

import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { BisectCommand } from "./bisect/args.js";
import { renderBisectSummary, renderGitBisectLog, type BisectDoc } from "./bisect/bisect-doc.js";
import { BisectInputError, runBisect, type BisectEvent, type BisectRequest } from "./bisect/run-bisect.js";
import { KharnessError, UsageError } from "./errors.js";
import { writeFileAtomic } from "./exec/cache.js";
import type { Exec } from "./exec/exec.js";
import { EXIT, exitCodeForError } from "./exit-codes.js";
import { makeRunId, runPipeline } from "./pipeline.js";
import { absoluteRequest } from "./validate.js";
import type { ProgressEvent } from "./types.js";

export interface BisectIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  color: boolean;
}

export interface BisectCommandDeps {
  exec: Exec;
  signal: AbortSignal;
  interrupted: () => "SIGINT" | "SIGTERM" | undefined;
  cacheRoot: string;
  repoRoot: string;
  cwd: string;
  qemuBinary?: string;
}

const secs = (ms: number | undefined) => (ms === undefined ? "-" : `${(ms / 1000).toFixed(1)} s`);

/** Progress lines for the terminal: each step, what it tests, what is left, and its verdict. */
function printEvent(io: BisectIo, quiet: boolean, t0: number) {
  const c = (code: string, s: string) => (io.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const line = (s: string) => {
    if (!quiet) io.stderr.write(`${c("2", `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s]`)} ${s}\n`);
  };
  return {
    onEvent(e: BisectEvent) {
      switch (e.kind) {
        case "revisions":
          line(
            `bisect: ${e.count - 2} ${e.mode === "patches" ? "patch prefix(es)" : "commit(s)"} between the ends; directory ${path.relative(process.cwd(), e.dir) || "."}`,
          );
          break;
        case "step-start": {
          const what = `${e.revision.label}${e.revision.subject ? ` ${e.revision.subject}` : ""}`;
          const left = e.role === "probe" ? `; ${e.remaining} candidate(s) left, about ${e.stepsLeft} step(s) to go` : "";
          line(c("1", `step ${e.step} (${e.role}): ${what}${left}${e.reused ? " [from bisect.json]" : ""}`));
          break;
        }
        case "repeat":
          line(`  repeat ${e.repeat} of ${e.of}`);
          break;
        case "signature":
          line(
            `signature (${e.pinned ? "--test" : "derived"}): ${e.tests.join(", ")}${e.flakyAtEnds.length ? `; flaky at the ends: ${e.flakyAtEnds.join(", ")}` : ""}`,
          );
          break;
        case "step-end": {
          const r = e.record;
          const build = r.runs[0]?.cacheHit ? "build cached" : r.runs[0]?.remembered ? "no build (failed before)" : `build ${secs(r.runs[0]?.buildMs)}`;
          line(`  -> ${r.verdict}${r.reason ? ` (${r.reason})` : ""}; ${build}, boot ${secs(r.runs[0]?.bootMs)}, tests ${secs(r.runs[0]?.testMs)}`);
          break;
        }
      }
    },
    onStepProgress(e: ProgressEvent) {
      if (e.kind === "kernel-ready")
        line(c("2", e.cacheHit ? `  kernel from the build cache (${e.cacheKey?.slice(0, 12)})` : `  built the kernel in ${secs(e.buildMs)}`));
    },
  };
}

/** Runs `kharness bisect`; returns the exit code. */
export async function runBisectCommand(cmd: BisectCommand, io: BisectIo, deps: BisectCommandDeps): Promise<number> {
  const t0 = Date.now();
  let req: BisectRequest;
  let dir: string;
  let resume: BisectDoc | undefined;
  if ("resume" in cmd) {
    dir = path.resolve(deps.cwd, cmd.resume);
    const text = await fs.readFile(path.join(dir, "bisect.json"), "utf8").catch(() => undefined);
    try {
      if (text === undefined) throw new Error("no bisect.json there");
      resume = JSON.parse(text) as BisectDoc;
      if (resume.schemaVersion !== 1) throw new Error(`bisect.json has schemaVersion ${resume.schemaVersion}, this kharness reads 1`);
    } catch (e) {
      io.stderr.write(
        `kharness: error: --resume ${cmd.resume}: ${(e as Error).message}\nfix: pass the directory of an interrupted bisection (it holds bisect.json)\n`,
      );
      return EXIT.usage;
    }
    req = resume.request;
    if (resume.state === "done") {
      io.stdout.write(renderBisectSummary(resume));
      return exitFor(resume);
    }
  } else {
    req = cmd.req;
    dir = path.resolve(deps.cwd, cmd.outDir ?? path.join("kharness-out", `bisect-${await makeRunId(new Date())}`));
    if (
      await fs.stat(path.join(dir, "bisect.json")).then(
        () => true,
        () => false,
      )
    ) {
      io.stderr.write(`kharness: error: --out ${dir} already holds a bisection (bisect.json)\nfix: continue it with --resume ${dir}, or give a new --out\n`);
      return EXIT.usage;
    }
  }
  // Relative paths of the request are the caller's: resolve them once, so steps and --resume agree.
  req = { ...req, run: absoluteRequest(req.run, deps.cwd) };
  const printer = printEvent(io, "quiet" in cmd && cmd.quiet, t0);
  try {
    const outcome = await runBisect(
      req,
      dir,
      {
        exec: deps.exec,
        signal: deps.signal,
        runStep: (r, onProgress) =>
          runPipeline(r, {
            exec: deps.exec,
            cacheRoot: deps.cacheRoot,
            repoRoot: deps.repoRoot,
            cwd: deps.cwd,
            signal: deps.signal,
            onProgress,
            ...(deps.qemuBinary ? { qemuBinary: deps.qemuBinary } : {}),
          }),
        onStepProgress: printer.onStepProgress,
        onEvent: printer.onEvent,
        memory: { cacheRoot: deps.cacheRoot, repoRoot: deps.repoRoot },
      },
      resume,
    );
    if (outcome.interrupted) {
      const sig = deps.interrupted();
      io.stderr.write(`kharness: interrupted; the steps done so far are in ${path.join(dir, "bisect.json")}; continue with: kharness bisect --resume ${dir}\n`);
      return sig === "SIGTERM" ? EXIT.sigterm : EXIT.sigint;
    }
    const doc = outcome.doc;
    if (doc.mode === "commits") await writeFileAtomic(path.join(dir, "git-bisect.log"), renderGitBisectLog(doc));
    io.stdout.write(renderBisectSummary(doc));
    io.stdout.write(`bisection: ${path.relative(deps.cwd, dir) || "."}/bisect.json (${secs(doc.wallMs)})\n`);
    return exitFor(doc);
  } catch (e) {
    if (deps.signal.aborted) {
      io.stderr.write(`kharness: interrupted; continue with: kharness bisect --resume ${dir}\n`);
      return deps.interrupted() === "SIGTERM" ? EXIT.sigterm : EXIT.sigint;
    }
    const red = (s: string) => (io.color ? `\x1b[31m${s}\x1b[0m` : s);
    if (e instanceof KharnessError) {
      io.stderr.write(`${red("kharness: error:")} ${e.message}\n`);
      if (e.tail?.length) io.stderr.write(`--- last lines ---\n${e.tail.join("\n")}\n------------------\n`);
      if (e.fix) io.stderr.write(`fix: ${e.fix}\n`);
    } else io.stderr.write(`${red("kharness: internal error:")} ${(e as Error)?.stack ?? String(e)}\n`);
    if (e instanceof BisectInputError || e instanceof UsageError) {
      // Refused before any step finished (a bad series, tree or test glob): no bisection directory is left behind.
      if (!("resume" in cmd) && !(e instanceof BisectInputError)) await removeIfNoSteps(dir);
      return EXIT.usage;
    }
    return exitCodeForError(e, { bisect: false, fromCommit: false });
  }
}

/** 0 when one first bad revision was found, 1 when the search ended without one, 2 when it stopped at the ends. */
function exitFor(doc: BisectDoc): number {
  const s = doc.result?.status;
  return s === "found" ? EXIT.ok : s === "bad-ends" ? EXIT.usage : EXIT.testFailed;
}

/** Removes a bisection directory that holds no finished step (its bisect.json, if any, lists none). */
async function removeIfNoSteps(dir: string): Promise<void> {
  const text = await fs.readFile(path.join(dir, "bisect.json"), "utf8").catch(() => undefined);
  const steps = text === undefined ? 0 : ((JSON.parse(text) as BisectDoc).steps?.length ?? 0);
  if (steps === 0) await fs.rm(dir, { recursive: true, force: true });
}
