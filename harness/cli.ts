// argv -> typed request -> stage calls; the only place that sets exit codes and installs signal handlers.

import { createReadStream, promises as fs } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { ArgsError, HELP, parseCommandLine, type Command } from "./cli-args.js";
import { createProgressPrinter } from "./cli-progress.js";
import { InterruptedError, KharnessError } from "./errors.js";
import { createExec, type Exec } from "./exec/exec.js";
import { cacheRoot } from "./exec/files.js";
import { EXIT, exitCodeForRun } from "./exit-codes.js";
import { runDoctor } from "./doctor.js";
import { listSelftests } from "./list.js";
import { runPipeline, writeRunError } from "./pipeline.js";
import { renderJson, renderTerminal } from "./report/index.js";
import { parseFileToRun, RESULTS_SCHEMA_VERSION } from "./results/index.js";
import { writeReports } from "./write-reports.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  isTty: boolean;
}

function printError(io: Io, e: unknown, color: boolean): void {
  const red = (s: string) => (color ? `\x1b[31m${s}\x1b[0m` : s);
  if (e instanceof KharnessError) {
    io.stderr.write(`${red("kharness: error:")} ${e.message}\n`);
    if (e.tail?.length) io.stderr.write(`--- last lines ---\n${e.tail.join("\n")}\n------------------\n`);
    if (e.fix) io.stderr.write(`fix: ${e.fix}\n`);
  } else {
    io.stderr.write(`${red("kharness: internal error:")} ${(e as Error)?.stack ?? String(e)}\n`);
  }
}

async function cmdRun(c: Extract<Command, { cmd: "run" }>, exec: Exec, io: Io, signal: AbortSignal, interrupted: () => "SIGINT" | "SIGTERM" | undefined): Promise<number> {
  const color = c.color ?? io.isTty;
  const programs = new Set<string>();
  const printer = createProgressPrinter(io.stderr, { color, programs: () => programs });
  const onProgress = c.quiet ? () => undefined : printer;
  let runDir: string | undefined;
  try {
    const outcome = await runPipeline(c.req, {
      exec,
      cacheRoot: cacheRoot(),
      repoRoot: REPO_ROOT,
      cwd: process.cwd(),
      qemuBinary: qemuBinaryFromEnv(),
      signal,
      onProgress: (e) => {
        if (e.kind === "info" && e.message.startsWith("run directory ")) runDir = path.resolve(e.message.slice("run directory ".length));
        if (e.kind === "plan") for (const name of e.programs) programs.add(name);
        onProgress(e);
      },
    });
    runDir = outcome.runDir;
    io.stdout.write(renderTerminal(outcome.run, { color }));
    const sig = interrupted();
    if (outcome.reportError !== undefined && !sig) {
      printError(io, outcome.reportError, color);
      return EXIT.infra;
    }
    io.stdout.write(`results: ${path.relative(process.cwd(), outcome.runDir) || "."}/results.json\n`);
    if (sig) return sig === "SIGINT" ? EXIT.sigint : EXIT.sigterm;
    if (outcome.boot && outcome.boot.end !== "poweroff" && outcome.boot.end !== "panic") {
      io.stderr.write(`kharness: the guest did not finish: ${outcome.boot.end}${outcome.boot.endDetail ? ` (${outcome.boot.endDetail})` : ""}; console log: ${path.join(outcome.runDir, "console.log")}\n`);
    }
    return exitCodeForRun(outcome.run, { bisect: c.req.bisect });
  } catch (e) {
    const sig = interrupted();
    if (runDir) await writeRunError(runDir, e);
    if (sig || e instanceof InterruptedError || (e as Error)?.name === "AbortError") {
      io.stderr.write(`kharness: interrupted${runDir ? `; kept ${runDir}` : ""}\n`);
      return sig === "SIGTERM" ? EXIT.sigterm : EXIT.sigint;
    }
    printError(io, e, color);
    if (e instanceof KharnessError) {
      if (c.req.bisect && e.untestable) return EXIT.bisectSkip;
      return e.kind === "usage" ? EXIT.usage : EXIT.infra;
    }
    return EXIT.infra;
  }
}

/** KHARNESS_QEMU: a QEMU binary to use instead of qemu-system-x86_64 from PATH (read only here, at the edge). */
function qemuBinaryFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.KHARNESS_QEMU?.trim() || undefined;
}

async function cmdParse(c: Extract<Command, { cmd: "parse" }>, io: Io): Promise<number> {
  const color = c.color ?? io.isTty;
  let input: AsyncIterable<string | Uint8Array>;
  if (c.file === "-") input = process.stdin;
  else {
    const st = await fs.stat(c.file).catch(() => undefined);
    if (!st?.isFile()) {
      printError(io, new KharnessError("usage", `parse ${c.file}: no such file`, { fix: "pass a console log or TAP file, or - to read stdin" }), color);
      return EXIT.usage;
    }
    input = createReadStream(c.file);
  }
  const run = { ...(await parseFileToRun(input, { failOnWarn: c.failOnWarn })), schemaVersion: RESULTS_SCHEMA_VERSION };
  await writeReports(run, undefined, c.reports, {});
  io.stdout.write(c.json ? renderJson(run) : renderTerminal(run, { color }));
  return exitCodeForRun(run, { bisect: false });
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr, isTty: Boolean(process.stderr.isTTY) }): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(argv);
  } catch (e) {
    if (e instanceof ArgsError) {
      for (const p of e.problems) io.stderr.write(`kharness: ${p}\n`);
      return EXIT.usage;
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
      return listSelftests(createExec(), REPO_ROOT, cacheRoot(), command.json, io.stdout).then(
        () => 0,
        (e) => {
          printError(io, e, io.isTty);
          return e instanceof KharnessError && e.kind === "usage" ? EXIT.usage : EXIT.infra;
        },
      );
    case "doctor":
      return runDoctor(createExec(), cacheRoot(), io.stdout, { qemuBinary: qemuBinaryFromEnv() });
    case "run": {
      const exec = createExec();
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
        return await cmdRun(command, exec, io, ac.signal, () => caught);
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
