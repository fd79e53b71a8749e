// Every `make` of a kernel build: argv with O=, ARCH, CC (ccache when present), the log into
// build.log, each line as a progress event, and on failure the compiler's error lines.

import { createWriteStream, type WriteStream } from "node:fs";
import { once } from "node:events";
import * as os from "node:os";
import { CommandFailedError, lastLines } from "../errors.js";
import type { Exec } from "../exec/exec.js";
import type { ProgressSink } from "../types.js";
import type { ArchProfile } from "../qemu/profiles.js";

/** How make is invoked for one build: the same CC everywhere, or kbuild re-runs Kconfig. */
export interface MakeSetup {
  srcDir: string;
  buildDir: string;
  /** "gcc" or "ccache gcc": the host's compiler (HOSTCC); the target's is the same with the profile's CROSS_COMPILE prefix. */
  cc: string;
  jobs: number;
  env: Record<string, string>;
  /** The architecture built for (ARCH=, CROSS_COMPILE=). */
  profile: ArchProfile;
}

/** A make that failed: the compiler's `error:` lines are in the message, the log tail in `tail`. */
export class KernelBuildError extends CommandFailedError {
  readonly errorLines: string[];
  constructor(opts: { argv: string[]; cwd?: string; exitCode?: number; tail: string[]; errorLines: string[]; what: string; logPath?: string }) {
    super({
      argv: opts.argv,
      cwd: opts.cwd,
      exitCode: opts.exitCode,
      tail: opts.tail,
      what: opts.what,
      fix: opts.logPath
        ? `the whole log is ${opts.logPath}; fix the error (or the patch that caused it) and run again`
        : "fix the error (or the patch that caused it) and run again",
    });
    this.name = "KernelBuildError";
    this.errorLines = opts.errorLines;
    if (opts.errorLines.length) this.message += `\ncompiler errors:\n${opts.errorLines.map((l) => `  ${l}`).join("\n")}`;
  }
}

const ERROR_LINE = /(\berror:|\bError:|undefined reference to|\*\*\* .*Stop\.|fatal error)/;

/** Compiler/linker/make error lines, first ones first (the first error is usually the cause), bounded. */
export function compilerErrorLines(lines: string[], max = 20): string[] {
  const out: string[] = [];
  for (const l of lines) {
    if (!ERROR_LINE.test(l) || /^make(\[\d+\])?: \*\*\* \[.*\] Error \d+$/.test(l)) continue;
    if (!out.includes(l)) out.push(l);
    if (out.length >= max) break;
  }
  return out;
}

/** make's argv for a kernel target, for the profile's architecture (ARCH=, and CROSS_COMPILE= when it has a prefix). */
export function kernelMakeArgv(setup: MakeSetup, targets: string[], parallel: boolean): string[] {
  return [...kernelMakeHead(setup), `HOSTCC=${setup.cc}`, ...(parallel ? [`-j${setup.jobs}`] : []), ...targets];
}

/** The target's C compiler: setup.cc with the profile's CROSS_COMPILE prefix on gcc. */
export function targetCc(setup: Pick<MakeSetup, "cc" | "profile">): string {
  const prefix = setup.profile.toolchain.crossCompile;
  return prefix ? setup.cc.replace(/\bgcc$/, `${prefix}gcc`) : setup.cc;
}

/** `make -C src O=build ARCH= [CROSS_COMPILE=] CC=`: the part of a kbuild command line every build shares. */
function kernelMakeHead(setup: MakeSetup): string[] {
  return [
    "make",
    "-C",
    setup.srcDir,
    `O=${setup.buildDir}`,
    `ARCH=${setup.profile.linuxArch}`,
    ...(setup.profile.toolchain.crossCompile ? [`CROSS_COMPILE=${setup.profile.toolchain.crossCompile}`] : []),
    `CC=${targetCc(setup)}`,
  ];
}

/** Default parallelism: every CPU the process may use. */
export function defaultJobs(): number {
  return os.availableParallelism();
}

/** Environment that makes builds reproducible (and so ccache-friendly) across runs and paths. */
export function buildEnv(ccacheBaseDir: string): Record<string, string> {
  return {
    KBUILD_BUILD_USER: "kharness",
    KBUILD_BUILD_HOST: "kharness",
    // Paths under the cache's work area are rewritten relative, so a new worktree still hits ccache.
    CCACHE_BASEDIR: ccacheBaseDir,
    CCACHE_NOHASHDIR: "true",
    // The cache key covers the inputs; a stray LOCALVERSION from the user's shell would not be.
    LOCALVERSION: "",
  };
}

/** An append-only build log shared by the make steps of one build; it also keeps the current step's lines for error extraction. */
export class BuildLog {
  private readonly stream: WriteStream;
  private step: string[] = [];
  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { flags: "a" });
  }
  /** Writes a line to the file only (commands, kharness notes). */
  write(line: string): void {
    this.stream.write(line + "\n");
  }
  /** Starts a new step: its output lines are what a failure reports. */
  beginStep(): void {
    this.step = [];
  }
  /** Writes one output line of the current step. */
  output(line: string): void {
    this.write(line);
    // Bounded: a runaway build cannot eat memory; the file keeps everything.
    if (this.step.length < 200_000) this.step.push(line);
  }
  stepLines(): readonly string[] {
    return this.step;
  }
  async close(): Promise<void> {
    this.stream.end();
    await once(this.stream, "close");
  }
}

/** Runs one make step, streaming its lines to the log and the progress sink; throws KernelBuildError on failure. */
export async function runMake(
  exec: Exec,
  argv: string[],
  opts: { env: Record<string, string>; log: BuildLog; what: string; signal?: AbortSignal; onProgress?: ProgressSink },
): Promise<void> {
  opts.log.write(`$ ${argv.join(" ")}`);
  opts.log.beginStep();
  const res = await exec.run(argv, {
    env: opts.env,
    signal: opts.signal,
    tailLines: 40,
    onLine: (line) => {
      opts.log.output(line);
      opts.onProgress?.({ kind: "build-line", line });
    },
  });
  if (res.aborted) opts.signal?.throwIfAborted();
  if (res.exitCode !== 0) {
    opts.log.write(`# exit ${res.exitCode ?? res.signal ?? "?"}`);
    const step = opts.log.stepLines();
    const lines = step.length ? [...step] : res.tail;
    throw new KernelBuildError({
      argv,
      exitCode: res.exitCode,
      tail: lastLines(lines.join("\n"), 40),
      errorLines: compilerErrorLines(lines),
      what: opts.what,
      logPath: opts.log.path,
    });
  }
}
