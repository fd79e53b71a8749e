// The only code that starts processes: each child leads its own process group so that the whole
// group (make -j, gcc, QEMU) is killed on abort, timeout or interrupt.

import { spawn as spawnProcess, type ChildProcess } from "node:child_process";
import { CommandFailedError, InfraError, lastLines } from "../errors.js";
// One line splitter for the whole harness: the parser's (UTF-8 across chunks, \r\n and lone \r, bounded lines).
import { createLineSplitter } from "../results/index.js";

export interface RunOpts {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Cancels the command: its whole process group gets SIGTERM, then SIGKILL. */
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Called for each complete output line as it arrives. */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  input?: string | Buffer;
  /** How many trailing lines of combined output to keep (default 200). */
  tailLines?: number;
}

export interface RunOutput {
  argv: string[];
  cwd?: string;
  exitCode: number | undefined;
  /** Name of the signal that ended the process, if one did. */
  signal?: string;
  timedOut: boolean;
  aborted: boolean;
  /** The last lines of stdout+stderr interleaved (bounded). */
  tail: string[];
  /** Whole stdout when it was small (<= 4 MiB), else its tail (then stdoutTruncated is true). */
  stdout: string;
  /** stdout passed 4 MiB and only its tail is in `stdout`: hash or parse big outputs in a pipeline instead. */
  stdoutTruncated: boolean;
}

/** A long-running child (QEMU): streams are the caller's to consume. */
export interface Spawned {
  pid: number;
  /** Its stdout, unless SpawnOpts.stdoutFd sent that straight to a file. */
  stdout: NodeJS.ReadableStream | undefined;
  stderr: NodeJS.ReadableStream;
  /** Resolves when the process has exited. */
  done: Promise<{ exitCode: number | undefined; signal?: string }>;
  /** Kill the whole process group. */
  kill(signal?: NodeJS.Signals): void;
}

export interface Exec {
  /** Run to completion; never throws for a non-zero exit (see runChecked). */
  run(argv: string[], opts?: RunOpts): Promise<RunOutput>;
  /** Start a long-running process in its own process group. */
  spawn(argv: string[], opts?: SpawnOpts): Spawned;
  /** Kill every process group still alive (used on interrupt). */
  killAll(signal?: NodeJS.Signals): void;
  /** How many children are alive. */
  liveCount(): number;
}

export interface SpawnOpts extends Omit<RunOpts, "onLine" | "input" | "tailLines" | "timeoutMs"> {
  /**
   * An open file the child writes its stdout to directly, instead of a pipe to this process (the caller keeps and
   * closes its own descriptor): for output that comes in tiny writes the harness need not see at once.
   */
  stdoutFd?: number;
}

const STDOUT_KEEP = 4 * 1024 * 1024;

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** The real Exec, backed by node:child_process. */
export function createExec(): Exec {
  // Process group leaders still running, for killAll on interrupt.
  const live = new Set<number>();
  return {
    run: (argv, opts = {}) => runToEnd(live, argv, opts),
    spawn: (argv, opts = {}) => spawnChild(live, argv, opts),
    killAll(signal = "SIGKILL") {
      for (const pid of live) killGroup(pid, signal);
    },
    liveCount: () => live.size,
  };
}

/** How a child ended: its exit code or signal, or `error` when it never started (a missing command: ENOENT). */
interface Ended {
  exitCode: number | undefined;
  signal: string | undefined;
  error?: NodeJS.ErrnoException;
}

/** A started child and the promise of its end (the process exited and its output pipes closed). */
interface Started {
  child: ChildProcess;
  ended: Promise<Ended>;
}

/**
 * Starts a child as the leader of its own process group, tracked in `live` until it exits; abort kills the group.
 * node:child_process itself, not a wrapper library: a warm `kharness run` starts no process but QEMU, and loading
 * execa (about 100 modules) was a third of the harness's time before QEMU started (issue 16: 76 of 243 ms).
 */
function startChild(live: Set<number>, argv: string[], opts: RunOpts & Pick<SpawnOpts, "stdoutFd">): Started {
  const [file, ...args] = argv;
  if (!file) throw new InfraError("empty command line");
  const child = spawnProcess(file, args, {
    cwd: opts.cwd,
    // The caller's variables on top of ours; one set to undefined is left out (child_process skips it).
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
    detached: true, // own process group: kill(-pid) reaches make's and QEMU's children
    stdio: [opts.input !== undefined ? "pipe" : "ignore", opts.stdoutFd ?? "pipe", "pipe"],
  });
  const ended = new Promise<Ended>((resolve) => {
    // A child that could not start reports an error, then a close with a negative code: the error is the answer.
    child.on("error", (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) resolve({ exitCode: undefined, signal: undefined, error });
    });
    child.once("close", (code, signal) => resolve({ exitCode: code ?? undefined, signal: signal ?? undefined }));
  });
  // A child that exits before reading all its input must not take the harness down with EPIPE.
  child.stdin?.on("error", () => {});
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  const pid = child.pid;
  if (pid) live.add(pid);
  // What the leader left behind in its group goes when it exits: a member still holding the output pipes would
  // otherwise keep `ended` (which waits for the pipes to close) from ever settling.
  child.once("exit", () => killGroup(pid, "SIGKILL"));
  const onAbort = () => {
    killGroup(pid, "SIGTERM");
    setTimeout(() => killGroup(pid, "SIGKILL"), 3000).unref();
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  void ended.then(() => {
    if (pid) live.delete(pid);
    opts.signal?.removeEventListener("abort", onAbort);
  });
  return { child, ended };
}

/** Exec.run: streams lines to onLine, keeps the tail and (bounded) stdout, enforces the timeout. */
async function runToEnd(live: Set<number>, argv: string[], opts: RunOpts): Promise<RunOutput> {
  let started: Started;
  try {
    started = startChild(live, argv, opts);
  } catch (e) {
    throw new InfraError(`cannot start \`${argv.join(" ")}\``, { cause: e });
  }
  const child = started.child;
  const keep = opts.tailLines ?? 200;
  const tail: string[] = [];
  let stdout = "";
  let stdoutBig = false;
  const add = (stream: "stdout" | "stderr") => (line: string) => {
    tail.push(line);
    if (tail.length > keep) tail.shift();
    opts.onLine?.(line, stream);
  };
  const outSplit = createLineSplitter(add("stdout"));
  const errSplit = createLineSplitter(add("stderr"));
  child.stdout?.on("data", (b: Buffer) => {
    if (!stdoutBig) {
      stdout += b.toString("utf8");
      if (stdout.length > STDOUT_KEEP) stdoutBig = true;
    }
    outSplit.push(b);
  });
  child.stderr?.on("data", (b: Buffer) => errSplit.push(b));
  let timedOut = false;
  const timer =
    opts.timeoutMs !== undefined
      ? setTimeout(() => {
          timedOut = true;
          killGroup(child.pid, "SIGKILL");
        }, opts.timeoutMs)
      : undefined;
  const res = await started.ended;
  if (timer) clearTimeout(timer);
  outSplit.end();
  errSplit.end();
  if (res.error?.code === "ENOENT")
    throw new InfraError(`command not found: ${argv[0]}`, { fix: "run `npm run setup` (or `kharness doctor`) to install what is missing" });
  return {
    argv,
    cwd: opts.cwd,
    exitCode: res.exitCode,
    signal: res.signal,
    timedOut,
    aborted: opts.signal?.aborted ?? false,
    tail,
    stdout: stdoutBig ? lastLines(stdout, keep).join("\n") : stdout,
    stdoutTruncated: stdoutBig,
  };
}

/** Exec.spawn: a long-running child whose output streams the caller consumes. */
function spawnChild(live: Set<number>, argv: string[], opts: SpawnOpts): Spawned {
  const { child, ended } = startChild(live, argv, opts);
  if (!child.pid) throw new InfraError(`cannot start \`${argv.join(" ")}\``);
  const pid = child.pid;
  const done = ended.then((r) => ({ exitCode: r.exitCode, signal: r.signal }));
  if ((opts.stdoutFd === undefined && !child.stdout) || !child.stderr) throw new InfraError(`no output pipes for \`${argv.join(" ")}\``);
  return { pid, stdout: child.stdout ?? undefined, stderr: child.stderr, done, kill: (sig = "SIGKILL") => killGroup(pid, sig) };
}

/** Run and throw a CommandFailedError with the output tail if it fails. */
export async function runChecked(exec: Exec, argv: string[], opts: RunOpts & { what?: string; fix?: string } = {}): Promise<RunOutput> {
  const res = await exec.run(argv, opts);
  if (res.exitCode !== 0) {
    throw new CommandFailedError({ argv, cwd: opts.cwd, exitCode: res.exitCode, tail: res.tail.slice(-40), what: opts.what, fix: opts.fix });
  }
  return res;
}

/**
 * The first line of a command's stdout, trimmed (a tool's `--version`); undefined when the command is missing
 * or fails. The one probe the kernel stage (gcc/ld identity in the cache key), the payload and doctor share.
 */
export async function firstLineOf(exec: Exec, argv: string[]): Promise<string | undefined> {
  const res = await exec.run(argv).catch(() => undefined);
  return res && res.exitCode === 0 ? (res.stdout.split("\n")[0] ?? "").trim() : undefined;
}

/** True when ccache runs on this host: kernel and kselftest builds then compile with `ccache gcc`. */
export async function ccacheAvailable(exec: Exec): Promise<boolean> {
  return (await firstLineOf(exec, ["ccache", "--version"])) !== undefined;
}
