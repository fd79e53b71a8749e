// The only code that starts processes: each child leads its own process group so that the whole
// group (make -j, gcc, QEMU) is killed on abort, timeout or interrupt.

import { execa, type ResultPromise } from "execa";
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
  stdout: NodeJS.ReadableStream;
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
  spawn(argv: string[], opts?: Omit<RunOpts, "onLine" | "input" | "tailLines" | "timeoutMs">): Spawned;
  /** Kill every process group still alive (used on interrupt). */
  killAll(signal?: NodeJS.Signals): void;
  /** How many children are alive. */
  liveCount(): number;
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

/** The real Exec, backed by execa. */
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

/** Starts a child as the leader of its own process group, tracked in `live` until it exits; abort kills the group. */
function startChild(live: Set<number>, argv: string[], opts: RunOpts): ResultPromise {
  const [file, ...args] = argv;
  if (!file) throw new InfraError("empty command line");
  const child = execa(file, args, {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: true,
    detached: true, // own process group: kill(-pid) reaches make's and QEMU's children
    cleanup: true,
    reject: false,
    buffer: false,
    stdin: opts.input !== undefined ? "pipe" : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    forceKillAfterDelay: 3000,
  });
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  const pid = child.pid;
  if (pid) live.add(pid);
  const onAbort = () => {
    killGroup(pid, "SIGTERM");
    setTimeout(() => killGroup(pid, "SIGKILL"), 3000).unref();
  };
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  void child.finally(() => {
    if (pid) live.delete(pid);
    opts.signal?.removeEventListener("abort", onAbort);
    // Anything the leader left behind in its group goes too.
    killGroup(pid, "SIGKILL");
  });
  return child;
}

/** Exec.run: streams lines to onLine, keeps the tail and (bounded) stdout, enforces the timeout. */
async function runToEnd(live: Set<number>, argv: string[], opts: RunOpts): Promise<RunOutput> {
  let child: ResultPromise;
  try {
    child = startChild(live, argv, opts);
  } catch (e) {
    throw new InfraError(`cannot start \`${argv.join(" ")}\``, { cause: e });
  }
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
  const res = await child;
  if (timer) clearTimeout(timer);
  outSplit.end();
  errSplit.end();
  if (res.failed && res.exitCode === undefined && !res.signal && !res.isCanceled && res.cause) {
    const code = (res.cause as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new InfraError(`command not found: ${argv[0]}`, { fix: "run `npm run setup` (or `kharness doctor`) to install what is missing" });
  }
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
function spawnChild(live: Set<number>, argv: string[], opts: Omit<RunOpts, "onLine" | "input" | "tailLines" | "timeoutMs">): Spawned {
  const child = startChild(live, argv, opts);
  if (!child.pid) throw new InfraError(`cannot start \`${argv.join(" ")}\``);
  const pid = child.pid;
  const done = child.then((r) => ({ exitCode: r.exitCode, signal: r.signal }));
  if (!child.stdout || !child.stderr) throw new InfraError(`no output pipes for \`${argv.join(" ")}\``);
  return { pid, stdout: child.stdout, stderr: child.stderr, done, kill: (sig = "SIGKILL") => killGroup(pid, sig) };
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
