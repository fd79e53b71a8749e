// argv -> typed request -> stage calls; the only place that sets exit codes and installs signal handlers.

import { closeSync, openSync, promises as fs, readSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import { ArgsError, HELP, parseCommandLine, type Command } from "./cli-args.js";
import { InterruptedError, KharnessError, RequestError, type RequestProblem } from "./errors.js";
import type { Exec } from "./exec/exec.js";
// The cache path alone: exec/cache.js loads node:crypto, which `kharness parse` never needs.
import { cacheRoot } from "./exec/cache-root.js";
import { EXIT, exitCodeForError, exitCodeForRun, exitCodeForUsage } from "./exit-codes.js";
// The LAVA log sniffer is small and YAML-free; the job writer (and the YAML printer) loads only for lava-job.
import { consoleOfLavaLog } from "./lava/console.js";
// The two renderers parse uses, not report/index.js: that would load every report format (HTML, JUnit, KCIDB).
import { parseToJsonPieces, renderJson, renderJsonChunks } from "./report/json.js";
import { parseFileToRun, runFailed } from "./results/index.js";
import { findRunDir, parseRunDir } from "./read-run-dir.js";
import { REPO_ROOT } from "./repo-root.js";
import type { RunRequest, RunResult } from "./types.js";

// Loaded on first use: `kharness parse`, `help` and `--version` must not pay for what only `run` needs (the
// pipeline, the validators, the history database): module loading was a third of a parse's time (issue 16). Each
// wrapper has the signature of the function it loads.
type Fn<M, K extends keyof M> = M[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<Awaited<R>> : never;
function lazy<M, K extends keyof M>(load: () => Promise<M>, key: K): Fn<M, K> {
  return (async (...a: unknown[]) => ((await load())[key] as (...a: unknown[]) => unknown)(...a)) as Fn<M, K>;
}
const newExec = lazy(() => import("./exec/exec.js"), "createExec");
const runDoctor = lazy(() => import("./doctor.js"), "runDoctor");
const runCacheCommand = lazy(() => import("./cache-cmd.js"), "runCacheCommand");
const runRootfsCommand = lazy(() => import("./cmd-rootfs.js"), "runRootfsCommand");
const listSelftests = lazy(() => import("./list.js"), "listSelftests");
const prepareGuest = lazy(() => import("./pipeline.js"), "prepareGuest");
const runPipeline = lazy(() => import("./pipeline.js"), "runPipeline");
const writeRunError = lazy(() => import("./pipeline.js"), "writeRunError");
const makeRunId = lazy(() => import("./pipeline.js"), "makeRunId");
const renderKcidbForRun = lazy(() => import("./kcidb-provenance.js"), "renderKcidbForRun");
const writeLavaJob = lazy(() => import("./lava/index.js"), "writeLavaJob");
const runReportCommand = lazy(() => import("./html-report.js"), "runReportCommand");
const writeHtmlReport = lazy(() => import("./html-report.js"), "writeHtmlReport");
const mergeShardDirs = lazy(() => import("./scale/merge-dirs.js"), "mergeShardDirs");
const checkReportPaths = lazy(() => import("./validate.js"), "reportPathProblems");
const afterRunSteps = lazy(() => import("./after-run.js"), "afterRunSteps");
const preloadRunHistory = lazy(() => import("./after-run.js"), "preloadRunHistory");
const runCompareCommand = lazy(() => import("./cmd-nightly.js"), "runCompareCommand");
const runFlakesCommand = lazy(() => import("./cmd-nightly.js"), "runFlakesCommand");
const runHistoryCommand = lazy(() => import("./cmd-nightly.js"), "runHistoryCommand");
const renderComparisonTerminal = lazy(() => import("./compare/render.js"), "renderComparisonTerminal");
const applyExpectations = lazy(() => import("./expect/expectations.js"), "applyExpectations");
const kernelFactsOf = lazy(() => import("./expect/expectations.js"), "kernelFactsOf");
const readExpectFile = lazy(() => import("./expect/expectations.js"), "readExpectFile");
const writeReportFiles = lazy(() => import("./write-reports.js"), "writeReports");
const runBisectCommand = lazy(() => import("./cmd-bisect.js"), "runBisectCommand");
const writeFileAtomic = lazy(() => import("./exec/cache.js"), "writeFileAtomic");
const createProgressPrinter = lazy(() => import("./cli-progress.js"), "createProgressPrinter");
// `kharness parse --json` never prints the terminal summary.
const renderTerminal = lazy(() => import("./report/terminal.js"), "renderTerminal");

/** Problems with the report paths; the validators are loaded only when a path is given. */
async function reportPathProblems(reports: Record<string, string | undefined>): Promise<RequestProblem[]> {
  return Object.values(reports).some((f) => f !== undefined) ? checkReportPaths(reports) : [];
}

/** Writes the reports; with no run directory and no report path there is nothing to write, and nothing is loaded. */
async function writeReports(...a: Parameters<typeof writeReportFiles>): Promise<void> {
  const [, runDir, paths] = a;
  if (runDir !== undefined || Object.values(paths).some((f) => f !== undefined)) await writeReportFiles(...a);
}

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  isTty: boolean;
}

function printError(io: Io, e: unknown, color: boolean): void {
  const red = (s: string) => (color ? `\x1b[31m${s}\x1b[0m` : s);
  if (e instanceof RequestError && e.problems.length > 1) {
    // Each problem on its own lines, in the same form as a single one.
    for (const p of e.problems) io.stderr.write(`${red("kharness: error:")} ${p.message}\n${p.fix ? `fix: ${p.fix}\n` : ""}`);
    io.stderr.write(`kharness: ${e.problems.length} problems; nothing was built or booted\n`);
  } else if (e instanceof KharnessError) {
    io.stderr.write(`${red("kharness: error:")} ${e.message}\n`);
    if (e.tail?.length) io.stderr.write(`--- last lines ---\n${e.tail.join("\n")}\n------------------\n`);
    if (e.fix) io.stderr.write(`fix: ${e.fix}\n`);
  } else {
    io.stderr.write(`${red("kharness: internal error:")} ${(e as Error)?.stack ?? String(e)}\n`);
  }
}

async function cmdRun(
  c: Extract<Command, { cmd: "run" }>,
  exec: Exec,
  io: Io,
  signal: AbortSignal,
  interrupted: () => "SIGINT" | "SIGTERM" | undefined,
  repeat?: { group: string; index: number },
): Promise<number> {
  let kernelInput: { cacheKey?: string; buildMs?: number } = {};
  // The history, opened and read while the guest runs (the process is idle then), not after QEMU exits.
  let preload: ReturnType<typeof preloadRunHistory> | undefined;
  const color = c.color ?? io.isTty;
  const programs = new Set<string>();
  const printer = await createProgressPrinter(io.stderr, { color, programs: () => programs, cwd: process.cwd() });
  const onProgress = c.quiet ? () => undefined : printer;
  const outcome = await runPipeline(c.req, {
    exec,
    cacheRoot: cacheRoot(),
    repoRoot: REPO_ROOT,
    cwd: process.cwd(),
    qemuBinary: qemuBinaryFromEnv(),
    signal,
    // Written below, once: after the history and the comparison it shows.
    deferHtmlReport: true,
    onProgress: (e) => {
      if (e.kind === "plan") for (const name of e.programs) programs.add(name);
      if (e.kind === "kernel-ready") kernelInput = { cacheKey: e.cacheKey, buildMs: e.buildMs };
      // Once init runs, not at the boot stage's start: loading the history's modules there delayed QEMU's start by
      // about 15 ms (issue 16).
      if (e.kind === "guest" && e.event === "init") preload ??= preloadRunHistory(cacheRoot(), c.history, [...programs]).catch(() => undefined);
      onProgress(e);
    },
  });
  const sig = interrupted();
  // Awaited: bin/kharness.js ends the process with process.exit as soon as main returns.
  const closePreload = async () => void (await preload)?.db.close();
  if (!outcome.ok) {
    await closePreload();
    const e = outcome.error;
    if (outcome.runDir) await writeRunError(outcome.runDir, e);
    if (sig || e instanceof InterruptedError || (e as Error)?.name === "AbortError") {
      io.stderr.write(`kharness: interrupted${outcome.runDir ? `; kept ${outcome.runDir}` : ""}\n`);
      return sig === "SIGTERM" || (e instanceof InterruptedError && e.signal === "SIGTERM") ? EXIT.sigterm : EXIT.sigint;
    }
    printError(io, e, color);
    const code = exitCodeForError(e, { bisect: c.req.bisect, fromCommit: outcome.stage === "kernel" });
    if (code === EXIT.bisectAbort) io.stderr.write(`kharness: --bisect: exit ${code} stops \`git bisect run\`: this problem is not the commit's\n`);
    return code;
  }
  io.stdout.write(await renderTerminal(outcome.run, { color }));
  if (outcome.reportError !== undefined && !sig) {
    await closePreload();
    printError(io, outcome.reportError, color);
    return c.req.bisect ? EXIT.bisectAbort : EXIT.infra;
  }
  io.stdout.write(`results: ${path.relative(process.cwd(), outcome.runDir) || "."}/results.json\n`);
  if (sig) {
    await closePreload();
    // Interrupted: no history, but the report of what ran.
    await writeHtmlReport(outcome.runDir).catch(() => undefined);
    return sig === "SIGINT" ? EXIT.sigint : EXIT.sigterm;
  }
  if (outcome.boot.end !== "poweroff" && outcome.boot.end !== "panic") {
    io.stderr.write(
      `kharness: the guest did not finish: ${outcome.boot.end}${outcome.boot.endDetail ? ` (${outcome.boot.endDetail})` : ""}; console log: ${path.join(outcome.runDir, "console.log")}\n`,
    );
  }
  // History and --baseline (issue 13): their problems are warnings; a regression makes a passing run exit 1.
  const after = await afterRunSteps(outcome.run, {
    runDir: outcome.runDir,
    req: c.req,
    cacheRoot: cacheRoot(),
    history: c.history,
    kernel: kernelInput,
    htmlReport: true,
    ...(preload ? { preload: await preload } : {}),
    ...(repeat ? { repeatGroup: repeat.group, repeatIndex: repeat.index } : {}),
  });
  for (const w of after.warnings) io.stderr.write(`kharness: warning: ${w.message} (fix: ${w.fix})\n`);
  if (after.comparison)
    io.stdout.write(
      `\n${await renderComparisonTerminal(after.comparison, { color })}comparison: ${path.relative(process.cwd(), outcome.runDir) || "."}/comparison.json\n`,
    );
  const runCode = exitCodeForRun(outcome.run, { bisect: c.req.bisect, failOnSkip: c.failOnSkip });
  const code = runCode === EXIT.ok && after.comparison?.verdict === "regressed" ? EXIT.testFailed : runCode;
  if (c.failOnSkip && runCode === EXIT.testFailed && !runFailed(outcome.run))
    io.stderr.write("kharness: --fail-on-skip: no test passed (everything skipped)\n");
  return code;
}

/** `kharness kcidb RUN_DIR`: the run's results.json with its provenance, as a KCIDB submission. */
async function cmdKcidb(c: Extract<Command, { cmd: "kcidb" }>, io: Io): Promise<number> {
  const problems: RequestProblem[] = await reportPathProblems({ "-o": c.output && path.resolve(c.output) });
  const text = await fs.readFile(path.join(c.runDir, "results.json"), "utf8").catch(() => undefined);
  if (text === undefined)
    problems.unshift({ message: `kcidb ${c.runDir}: no results.json there`, fix: "pass the run directory of a finished run (kharness-out/<run-id>)" });
  let run: RunResult | undefined;
  try {
    if (text !== undefined) run = JSON.parse(text) as RunResult;
  } catch (e) {
    problems.unshift({
      message: `kcidb ${c.runDir}: results.json is not JSON: ${(e as Error).message}`,
      fix: "run the test again, or kharness parse the directory to rewrite it",
    });
  }
  if (problems.length || !run) {
    printError(io, new RequestError(problems), io.isTty);
    return EXIT.usage;
  }
  const doc = await renderKcidbForRun(run, c.runDir, { origin: c.origin, runId: run.runId ?? path.basename(path.resolve(c.runDir)) }, await newExec());
  if (c.output) await writeFileAtomic(path.resolve(c.output), doc);
  else io.stdout.write(doc);
  return 0;
}

/** `kharness lava-job`: the run's kernel and payload stages, then the LAVA job that boots them. */
async function cmdLavaJob(c: Extract<Command, { cmd: "lava-job" }>, io: Io): Promise<number> {
  const color = c.color ?? io.isTty;
  const exec = await newExec();
  const ac = new AbortController();
  const onSignal = (sig: "SIGINT" | "SIGTERM") => ac.abort(new InterruptedError(sig));
  const onInt = () => onSignal("SIGINT");
  const onTerm = () => onSignal("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    const printer = await createProgressPrinter(io.stderr, { color, programs: () => new Set(), cwd: process.cwd() });
    const outcome = await prepareGuest(c.req, {
      exec,
      cacheRoot: cacheRoot(),
      repoRoot: REPO_ROOT,
      cwd: process.cwd(),
      qemuBinary: qemuBinaryFromEnv(),
      signal: ac.signal,
      onProgress: c.quiet ? () => undefined : printer,
    });
    if (!outcome.ok) {
      if (outcome.runDir) await writeRunError(outcome.runDir, outcome.error);
      if (ac.signal.aborted) return ac.signal.reason instanceof InterruptedError && ac.signal.reason.signal === "SIGTERM" ? EXIT.sigterm : EXIT.sigint;
      printError(io, outcome.error, color);
      return exitCodeForError(outcome.error, { bisect: false, fromCommit: false });
    }
    const files = await writeLavaJob(outcome.guest, {
      append: c.req.append,
      bootTimeoutSec: c.req.bootTimeoutSec,
      deviceDict: c.deviceDict,
      artifactUrl: c.artifactUrl,
      qemuBinary: qemuBinaryFromEnv(),
    });
    const rel = (p: string) => path.relative(process.cwd(), p) || ".";
    io.stdout.write(`job: ${rel(files.job)}\nkernel: ${rel(files.kernel)}\ninitramfs: ${rel(files.initrd)}\n`);
    if (files.device && files.dispatcher) {
      io.stdout.write(`device: ${rel(files.device)}\n`);
      io.stdout.write(
        `run it (as root): lava-run --device ${rel(files.device)} --dispatcher ${rel(files.dispatcher)} --job-id 1 --output-dir OUT ${rel(files.job)} 2> lava.log; kharness parse lava.log\n`,
      );
    }
    return 0;
  } catch (e) {
    printError(io, e, color);
    return exitCodeForError(e, { bisect: false, fromCommit: false });
  } finally {
    exec.killAll("SIGKILL");
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}

/**
 * --repeat N: N runs on the same kernel (a cache hit after the first), in RUN_DIR/repeat-1 .. repeat-N, each a full
 * run directory recorded in the history under one repeat group. The exit code is the worst of the repeats';
 * an interrupt stops at once.
 */
async function cmdRunRepeated(
  c: Extract<Command, { cmd: "run" }>,
  exec: Exec,
  io: Io,
  signal: AbortSignal,
  interrupted: () => "SIGINT" | "SIGTERM" | undefined,
): Promise<number> {
  if (c.repeat <= 1) return cmdRun(c, exec, io, signal, interrupted);
  const group = await makeRunId(new Date());
  const parent = path.resolve(c.req.outDir ?? path.join("kharness-out", group));
  let worst = 0;
  for (let i = 1; i <= c.repeat; i++) {
    io.stderr.write(`kharness: --repeat: boot ${i} of ${c.repeat} -> ${path.relative(process.cwd(), path.join(parent, `repeat-${i}`))}\n`);
    const code = await cmdRun({ ...c, req: { ...c.req, outDir: path.join(parent, `repeat-${i}`) } }, exec, io, signal, interrupted, { group, index: i });
    if (code === EXIT.sigint || code === EXIT.sigterm || code === EXIT.usage) return code;
    worst = Math.max(worst, code);
  }
  io.stdout.write(
    `repeats: ${c.repeat} runs in ${path.relative(process.cwd(), parent) || "."}/repeat-1 .. repeat-${c.repeat}; \`kharness flakes\` shows tests that flipped\n`,
  );
  return worst;
}

/** KHARNESS_QEMU: a QEMU binary to use instead of qemu-system-x86_64 from PATH (read only here, at the edge). */
function qemuBinaryFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.KHARNESS_QEMU?.trim() || undefined;
}

/** The young generation's size (both semi-spaces) at which a parse stops growing it; see youngGenerationCapped. */
const PARSE_YOUNG_BYTES = 8 << 20;

/**
 * Passes the chunks through, and stops V8's young generation from growing once it reaches PARSE_YOUNG_BYTES. A parse
 * keeps one long-lived tree of results: left to grow to 16 MiB per semi-space the young generation cost 10-15 MB of
 * peak memory (issue 16: at most kunit.py's); kept at its 1 MiB start size it was scavenged about 180 times in the
 * 200,000-result bench parse (a third of the parse's time). 4 MiB semi-spaces: about 45 scavenges, and no more peak
 * memory than the start size (fewer results are promoted and then copied again).
 */
async function* youngGenerationCapped(chunks: AsyncIterable<string | Uint8Array>): AsyncIterable<string | Uint8Array> {
  let capped = false;
  for await (const chunk of chunks) {
    yield chunk;
    if (!capped && (v8.getHeapSpaceStatistics().find((sp) => sp.space_name === "new_space")?.space_size ?? 0) >= PARSE_YOUNG_BYTES) {
      v8.setFlagsFromString("--semi-space-growth-factor=1");
      capped = true;
    }
  }
}

/**
 * A regular file's bytes in 64 KiB pieces, read synchronously: a read stream hands each piece over through the
 * thread pool and an event-loop turn, and the profile of the 200,000-result bench parse showed the main thread idle
 * for a tenth of its time waiting for them (issue 16). A parse has nothing else to do meanwhile; memory stays one
 * piece at a time. Each piece is a new buffer (the LAVA sniffer keeps the first ones). Async only for its callers:
 * the reads themselves never wait for the event loop.
 */
async function* readFileChunks(file: string): AsyncGenerator<Uint8Array> {
  const fd = openSync(file, "r");
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(64 * 1024);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) return;
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

async function cmdParse(c: Extract<Command, { cmd: "parse" }>, io: Io): Promise<number> {
  const color = c.color ?? io.isTty;
  // Every problem with the input and the report paths at once, before reading anything.
  const reports = absoluteReports(c.reports);
  const problems: RequestProblem[] = await reportPathProblems({
    "--json-out": reports.json,
    "--junit": reports.junit,
    "--tap": reports.tap,
    "--kcidb": reports.kcidb,
  });
  const expect = c.expect !== undefined ? await readExpectFile(path.resolve(c.expect)) : undefined;
  problems.push(...(expect?.problems ?? []).map((message) => ({ message, fix: "fix the entry; docs/expect.md gives the file's form" })));
  let input: AsyncIterable<string | Uint8Array> | undefined;
  // A run directory, or its console.log beside results.log: parsed again from both logs, as the run was.
  const runDir = c.file === "-" ? undefined : await findRunDir(c.file);
  if (c.file === "-") input = process.stdin;
  else if (!runDir) {
    const st = await fs.stat(c.file).catch(() => undefined);
    if (!st?.isFile())
      problems.unshift({
        message: `parse ${c.file}: ${st?.isDirectory() ? "a directory without console.log, not a run directory" : st ? "not a regular file" : "no such file"}`,
        fix: "pass a run directory, a console log or TAP file, or - to read stdin",
      });
  }
  if (problems.length) {
    printError(io, new RequestError(problems), color);
    return EXIT.usage;
  }
  let run: RunResult;
  // `--json` of a file and nothing else: written as the parse goes where the run allows (parseToJsonPieces); a
  // file can be read again when it does not.
  let pieces: Iterable<string | Uint8Array> | undefined;
  try {
    // --fail-on-warn given here wins; otherwise a run directory's manifest says what the run used.
    // A run directory's logs are read inside parseRunDir: its young generation stays at the start size.
    if (runDir) v8.setFlagsFromString("--semi-space-growth-factor=1");
    const plain = c.json && !runDir && input === undefined && !expect?.expect && Object.values(reports).every((r) => r === undefined);
    const taken = plain ? await parseToJsonPieces(youngGenerationCapped(consoleOfLavaLog(readFileChunks(c.file))), { failOnWarn: c.failOnWarn }) : undefined;
    pieces = taken?.pieces;
    run = taken
      ? taken.run
      : runDir
        ? await parseRunDir(runDir, c.failOnWarn ? { failOnWarn: true } : {})
        : // A LAVA dispatcher's log is turned back into the console it carries; any other file passes through.
          await parseFileToRun(youngGenerationCapped(consoleOfLavaLog(input ?? readFileChunks(c.file))), { failOnWarn: c.failOnWarn });
  } catch (e) {
    printError(io, e, color);
    return exitCodeForError(e, { bisect: false, fromCommit: false });
  }
  if (expect?.expect) run = (await applyExpectations(run, expect.expect, await kernelFactsOf(run, runDir))).run;
  const written = await writeReports(run, undefined, reports, {}).then(
    () => undefined,
    (e: unknown) => e,
  );
  // In pieces: a huge run's JSON is never one string (the memory peak of a parse).
  // Each piece waits for the reader (a pipe is written asynchronously): otherwise they all queue in memory. A reader
  // that went away ends the wait too (quietOnClosedPipes has said nothing, as for any closed pipe).
  if (c.json) {
    for (const piece of pieces ?? renderJsonChunks(run)) {
      if (io.stdout.write(piece)) continue;
      await new Promise<void>((resolve) => {
        const done = () => {
          io.stdout.off("drain", done).off("error", done).off("close", done);
          resolve();
        };
        io.stdout.on("drain", done).on("error", done).on("close", done);
      });
      if ((io.stdout as { destroyed?: boolean }).destroyed) break;
    }
  } else io.stdout.write(await renderTerminal(run, { color }));
  if (written !== undefined) {
    printError(io, written, color);
    return EXIT.infra;
  }
  const code = exitCodeForRun(run, { bisect: false, failOnSkip: c.failOnSkip });
  if (c.failOnSkip && code === EXIT.testFailed && !runFailed(run)) io.stderr.write("kharness: --fail-on-skip: no test passed (everything skipped)\n");
  return code;
}

/** Report paths resolved against the working directory, as run requests have them. */
function absoluteReports(r: RunRequest["reports"]): RunRequest["reports"] {
  const abs = (p: string | undefined) => (p === undefined ? undefined : path.resolve(p));
  return { json: abs(r.json), junit: abs(r.junit), tap: abs(r.tap), kcidb: abs(r.kcidb) };
}

/** `kharness merge DIR...`: shard run directories joined into one run directory, with every report. */
async function cmdMerge(c: Extract<Command, { cmd: "merge" }>, io: Io): Promise<number> {
  const color = c.color ?? io.isTty;
  const reports = absoluteReports(c.reports);
  const problems = await reportPathProblems({ "--json-out": reports.json, "--junit": reports.junit, "--tap": reports.tap, "--kcidb": reports.kcidb });
  if (problems.length) {
    printError(io, new RequestError(problems), color);
    return EXIT.usage;
  }
  const runId = await makeRunId(new Date());
  const outDir = path.resolve(c.outDir ?? path.join("kharness-out", runId));
  let run: RunResult;
  try {
    run = await mergeShardDirs(c.dirs, outDir, runId);
  } catch (e) {
    printError(io, e, color);
    return exitCodeForError(e, { bisect: false, fromCommit: false });
  }
  const written = await writeReports(run, outDir, reports, { runId }).then(
    () => undefined,
    (e: unknown) => e,
  );
  io.stdout.write(c.json ? renderJson(run) : await renderTerminal(run, { color }));
  if (written !== undefined) {
    printError(io, written, color);
    return EXIT.infra;
  }
  if (!c.json) io.stdout.write(`results: ${path.relative(process.cwd(), outDir) || "."}/results.json\n`);
  return exitCodeForRun(run, { bisect: false, failOnSkip: c.failOnSkip });
}

/**
 * A reader that went away (`kharness list | head -1`, `kharness run 2>&1 | head`) closes our stdout or
 * stderr: EPIPE. That output is no longer wanted, so the command goes on quietly and ends with its own exit
 * code instead of dying with a stack trace. Any other write error on stdout (a full disk under a redirect)
 * is said on stderr once.
 */
function quietOnClosedPipes(io: Io): void {
  const closed = (e: NodeJS.ErrnoException) => e.code === "EPIPE" || e.code === "ERR_STREAM_DESTROYED";
  let told = false;
  io.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (closed(e) || told) return;
    told = true;
    io.stderr.write(`kharness: cannot write the output: ${e.code ?? e.message}\n`);
  });
  io.stderr.on("error", () => undefined);
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr, isTty: Boolean(process.stderr.isTTY) }): Promise<number> {
  quietOnClosedPipes(io);
  let command: Command;
  try {
    command = parseCommandLine(argv);
  } catch (e) {
    if (e instanceof ArgsError) {
      for (const p of e.problems) io.stderr.write(`kharness: ${p}\n`);
      if (e.bisect) io.stderr.write(`kharness: --bisect: exit ${EXIT.bisectAbort} stops \`git bisect run\`: this problem is not the commit's\n`);
      return exitCodeForUsage({ bisect: e.bisect });
    }
    throw e;
  }
  switch (command.cmd) {
    case "help":
      io.stdout.write(`${HELP[command.topic ?? "main"] ?? HELP.main}\n`);
      return 0;
    case "version": {
      const pkg = JSON.parse(await fs.readFile(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
      io.stdout.write(`kharness ${pkg.version}\n`);
      return 0;
    }
    case "parse":
      return cmdParse(command, io);
    case "list":
      return listSelftests(await newExec(), REPO_ROOT, cacheRoot(), command.json, io.stdout).then(
        () => 0,
        (e) => {
          printError(io, e, io.isTty);
          return e instanceof KharnessError && e.kind === "usage" ? EXIT.usage : EXIT.infra;
        },
      );
    case "lava-job":
      return cmdLavaJob(command, io);
    case "kcidb":
      return cmdKcidb(command, io);
    case "report":
      return runReportCommand(command.runDir).then(
        (file) => {
          io.stdout.write(`report: ${path.relative(process.cwd(), file) || file}\n`);
          return EXIT.ok;
        },
        (e: unknown) => {
          printError(io, e, io.isTty);
          return e instanceof KharnessError && e.kind === "usage" ? EXIT.usage : EXIT.infra;
        },
      );
    case "merge":
      return cmdMerge(command, io);
    case "cache":
      return runCacheCommand(command, cacheRoot(), io.stdout).catch((e: unknown) => {
        printError(io, e, io.isTty);
        return e instanceof KharnessError && e.kind === "usage" ? EXIT.usage : EXIT.infra;
      });
    case "rootfs": {
      // Ctrl-C stops mmdebstrap; the half-made image directory is removed (harness/rootfs/image.ts).
      const ac = new AbortController();
      const onInt = () => ac.abort(new InterruptedError("SIGINT"));
      process.once("SIGINT", onInt);
      try {
        return await runRootfsCommand(command, { exec: await newExec(), cacheRoot: cacheRoot(), signal: ac.signal }, io.stdout);
      } catch (e) {
        printError(io, e, io.isTty);
        if (ac.signal.aborted) return EXIT.sigint;
        return e instanceof KharnessError && e.kind === "usage" ? EXIT.usage : EXIT.infra;
      } finally {
        process.off("SIGINT", onInt);
      }
    }
    case "compare":
      return runCompareCommand(command, { stdout: io.stdout, color: command.color ?? io.isTty, cacheRoot: cacheRoot() }).then(
        (cmp) => (cmp.verdict === "regressed" ? EXIT.testFailed : EXIT.ok),
        (e: unknown) => {
          printError(io, e, io.isTty);
          return e instanceof KharnessError && e.kind === "usage" ? EXIT.usage : EXIT.infra;
        },
      );
    case "history":
    case "flakes":
      return (
        command.cmd === "history"
          ? runHistoryCommand(command, { stdout: io.stdout, color: io.isTty, cacheRoot: cacheRoot() })
          : runFlakesCommand(command, { stdout: io.stdout, color: io.isTty, cacheRoot: cacheRoot() })
      ).then(
        () => EXIT.ok,
        (e: unknown) => {
          printError(io, e, io.isTty);
          return e instanceof KharnessError && e.kind === "usage" ? EXIT.usage : EXIT.infra;
        },
      );
    case "doctor":
      return runDoctor(await newExec(), cacheRoot(), io.stdout, { qemuBinary: qemuBinaryFromEnv() });
    case "bisect":
    case "run": {
      // The pipeline's modules (about 60) start loading now, alongside the process runner and the progress printer.
      void import("./pipeline.js").catch(() => undefined);
      const exec = await newExec();
      const ac = new AbortController();
      let caught: "SIGINT" | "SIGTERM" | undefined;
      const onSignal = (sig: "SIGINT" | "SIGTERM") => {
        if (caught) {
          // Second signal: stop waiting for a clean shutdown.
          exec.killAll("SIGKILL");
          process.exit(sig === "SIGINT" ? EXIT.sigint : EXIT.sigterm);
        }
        caught = sig;
        io.stderr.write(`\nkharness: ${sig}: stopping (QEMU and builds are killed; the run directory is kept)\n`);
        ac.abort(new InterruptedError(sig));
      };
      const onInt = () => onSignal("SIGINT");
      const onTerm = () => onSignal("SIGTERM");
      process.on("SIGINT", onInt);
      process.on("SIGTERM", onTerm);
      try {
        if (command.cmd === "bisect")
          return await runBisectCommand(
            command,
            { stdout: io.stdout, stderr: io.stderr, color: command.color ?? io.isTty },
            {
              exec,
              signal: ac.signal,
              interrupted: () => caught,
              cacheRoot: cacheRoot(),
              repoRoot: REPO_ROOT,
              cwd: process.cwd(),
              qemuBinary: qemuBinaryFromEnv(),
            },
          );
        return await cmdRunRepeated(command, exec, io, ac.signal, () => caught);
      } finally {
        exec.killAll("SIGKILL");
        process.off("SIGINT", onInt);
        process.off("SIGTERM", onTerm);
      }
    }
  }
}

const invokedDirectly = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`kharness: internal error: ${(e as Error)?.stack ?? e}\n`);
      process.exitCode = EXIT.infra;
    },
  );
}
