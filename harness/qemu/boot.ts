// The boot supervisor: the one function that starts QEMU, streams console and ports to the run
// directory as they arrive, and ends the boot on poweroff, panic, boot timeout, idleness or abort.

import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { promises as fs } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { Exec, Spawned } from "../exec/exec.js";
import { writeFileAtomic } from "../exec/cache.js";
import { UsageError } from "../errors.js";
import { createLineSplitter } from "../results/index.js";
import type { BootEnd, BootResult, KernelImage, Payload, ProgressSink } from "../types.js";
import { bootCmdline, buildQemuArgv, type PortBackend, renderReplayScript, REPLAY_PORTS, shellQuote, withHostTsc } from "./argv.js";

// The stage's answer to "does this --append fit the kernel command line?", for the request validation.
export { appendTooLong, appendTooLongOnAnyMachine } from "./argv.js";
// The pipeline's choice of machine for a boot (microvm for our own kernels under TCG, pc otherwise).
export { chooseBootMachine, MACHINE_ENV, parseMachineOverride, type MachineChoice } from "./boot-machine.js";
import { defaultMachine, findMachine, type ArchProfile, type KernelArg, type MachineProfile } from "./profiles.js";
import { controlPortMissing, endAfterExit, watchdogVerdict, type BootEnding, type GuestFacts, type WatchdogLimits } from "./watchdog.js";

export interface BootDeps {
  exec: Exec;
  /** Aborting kills QEMU's process group; the result is end=interrupted with the logs flushed. */
  signal?: AbortSignal;
  onProgress?: ProgressSink;
}

export interface BootOpts {
  kernel: KernelImage;
  payload: Payload;
  /** Where console.log, results.log and qemu-argv.txt go (created if missing). */
  runDir: string;
  accel: "kvm" | "tcg";
  /** The user's extra kernel arguments (appended last). */
  append: string[];
  /** Seconds from QEMU's start until init must say `init` on the control port. */
  bootTimeoutSec: number;
  /** Seconds without console output, results or heartbeat after init; default from the profile per accel. */
  idleTimeoutSec?: number;
  /** Each chunk of serial console output as it arrives. */
  onConsole?: (chunk: Buffer) => void;
  /** Each chunk of the results stream as it arrives. */
  onResults?: (chunk: Buffer) => void;
  /** Architecture profile: the pipeline picks it once (see qemu/profiles.ts). */
  profile: ArchProfile;
  /** Machine candidate by name (default: the profile's first); the pipeline's comes from qemu/machine-choice.ts. */
  machine?: string;
  /** The host's TSC rate in kHz: needed by a machine that puts `tsc_early_khz=` on the command line (microvm). */
  hostTscKhz?: number;
  /** Replaces the profile's QEMU binary (tests pass a fake QEMU script here). */
  qemuBinary?: string;
  /** Firmware directory for machines that name a -bios file. */
  firmwareDir?: string;
  /** --rootfs: the run's qcow2 overlay, booted as a virtio disk that init mounts. */
  rootfsDisk?: string;
}

/** After QEMU exits, how long to wait for the last buffered port bytes. */
const FLUSH_MS = 2000;
const WATCHDOG_TICK_MS = 100;
/** How often console.log, which QEMU writes itself, is read for what it added (see tailConsole). */
const CONSOLE_POLL_MS = 25;
const STDERR_TAIL = 30;

const PANIC_RE = /Kernel panic - not syncing/;
/** The last line of a panic report: nothing more will come, so QEMU can go at once. */
const PANIC_END_RE = /---\[ end Kernel panic - not syncing/;
/** The kmsg twin of the control `init` event: lets a boot whose control port is missing still count as booted. */
const CONSOLE_INIT_RE = /kharness: init \d+/;
/** Likewise for `poweroff`. */
const CONSOLE_POWEROFF_RE = /kharness: poweroff/;

/**
 * Boots the kernel with the payload as initramfs and supervises the guest until it ends. Never throws for
 * guest or QEMU failures (they are ends); leaves no QEMU process behind.
 */
export async function bootGuest(deps: BootDeps, opts: BootOpts): Promise<BootResult> {
  const profile = opts.profile;
  // A machine that needs the host's TSC rate gets its tsc_early_khz here, so every argv and command line below has it.
  const machine: MachineProfile = withHostTsc(opts.machine ? findMachineOrThrow(profile, opts.machine) : defaultMachine(profile), opts.hostTscKhz);
  const runDir = path.resolve(opts.runDir);
  await fs.mkdir(runDir, { recursive: true });
  const consoleLogPath = path.join(runDir, "console.log");
  const resultsLogPath = path.join(runDir, "results.log");
  const limits: WatchdogLimits = { bootTimeoutSec: opts.bootTimeoutSec, idleMs: (opts.idleTimeoutSec ?? profile.idleTimeoutSec[opts.accel]) * 1000 };
  const progress = deps.onProgress ?? (() => undefined);
  const startedAt = Date.now();
  const session: BootSession = {
    facts: { startedAt, panicLine: "", lastActivity: startedAt, controlSeen: false, lastEvent: "none" },
    aborted: false,
    toldNoControl: false,
    progress,
  };

  const bootResult = (end: BootEnd, more: Partial<BootResult> = {}): BootResult => ({
    consoleLogPath,
    resultsLogPath,
    end,
    accel: opts.accel,
    machine: machine.name,
    durations: { totalMs: Date.now() - startedAt },
    ...more,
  });

  const logs = openLogFiles(consoleLogPath, resultsLogPath, progress);
  const consoleTail = tailConsole(consoleLogPath, progress);
  // Unix socket paths are limited to 108 bytes, and run directories can be deep: sockets live in a short temp dir.
  const sockDir = await fs.mkdtemp(path.join(os.tmpdir().length < 60 ? os.tmpdir() : "/tmp", "kh-"));
  const sockets = { results: path.join(sockDir, "results.sock"), control: path.join(sockDir, "control.sock") };
  const ports: GuestPorts = { servers: [], flushed: [] };
  const streams = routeGuestStreams(session, logs, opts);
  let watchdog: NodeJS.Timeout | undefined;
  let consolePoll: NodeJS.Timeout | undefined;
  const onAbort = () => {
    session.aborted = true;
    endBoot(session, { end: "interrupted", detail: "interrupted: QEMU was stopped" });
  };

  try {
    if (deps.signal?.aborted) return bootResult("interrupted", { endDetail: "interrupted before QEMU started" });
    await listenPorts(ports, sockets, streams);
    const argv = qemuArgvFor(opts, profile, machine, path.resolve(opts.payload.initramfsPath), { kind: "socket", ...sockets });

    const qemu = startQemu(deps.exec, argv, runDir, logs.consoleFd, streams);
    if ("error" in qemu) {
      await writeBootFiles(runDir, argv, opts, profile, machine);
      return bootResult("qemu-error", { endDetail: `${qemu.error}; install QEMU (Debian: apt-get install qemu-system-x86)`, qemuExitCode: null });
    }
    session.spawned = qemu.spawned;
    const qemuStartedAt = new Date().toISOString();
    deps.signal?.addEventListener("abort", onAbort, { once: true });
    if (deps.signal?.aborted) onAbort();
    consolePoll = setInterval(() => consoleTail.read(streams.console), CONSOLE_POLL_MS);
    watchdog = setInterval(() => watchdogTick(session, limits), WATCHDOG_TICK_MS);
    // While the guest boots, not before: QEMU needs neither file, and they cost about 10 ms (issue 16). A failure
    // to write them still fails the boot (the finally below stops QEMU).
    await writeBootFiles(runDir, argv, opts, profile, machine);

    const exit = await qemu.spawned.done;
    const qemuExitedAt = new Date().toISOString();
    clearInterval(watchdog);
    clearInterval(consolePoll);
    // QEMU is gone: console.log is complete, and its socket ends are closed, so what is still buffered arrives now.
    consoleTail.read(streams.console);
    await Promise.race([Promise.all(ports.flushed.map((f) => f())), sleep(FLUSH_MS)]);
    streams.end();

    const f = session.facts;
    const ending = endAfterExit(f, {
      aborted: session.aborted,
      killedFor: session.killedFor,
      exitCode: exit.exitCode,
      signal: exit.signal,
      accel: opts.accel,
      stderrTail: streams.stderrTail,
    });
    return bootResult(ending.end, {
      qemuExitCode: exit.exitCode ?? null,
      qemuStartedAt,
      qemuExitedAt,
      durations: { bootMs: f.initAt !== undefined ? f.initAt - startedAt : undefined, totalMs: Date.now() - startedAt },
      ...(ending.detail !== undefined ? { endDetail: ending.detail } : {}),
    });
  } finally {
    if (watchdog) clearInterval(watchdog);
    if (consolePoll) clearInterval(consolePoll);
    deps.signal?.removeEventListener("abort", onAbort);
    if (session.spawned) {
      session.spawned.kill("SIGKILL");
      await session.spawned.done.catch(() => undefined);
    }
    for (const server of ports.servers) server.close();
    consoleTail.close();
    logs.close();
    await fs.rm(sockDir, { recursive: true, force: true });
  }
}

// ---- the guest's state and what changes it ----------------------------------------------------------------------

/** The supervisor's view of one boot: the facts the watchdog judges, the QEMU process, and how it was ended. */
interface BootSession {
  facts: GuestFacts;
  spawned?: Spawned;
  /** Set by the first reason to kill QEMU (watchdog, panic end line, abort); later ones do not replace it. */
  killedFor?: BootEnding;
  aborted: boolean;
  /** "control port missing" was said already. */
  toldNoControl: boolean;
  progress: ProgressSink;
}

/** Kills QEMU for a reason; the first reason is the one the boot ends with. */
function endBoot(s: BootSession, why: BootEnding): void {
  s.killedFor ??= why;
  s.spawned?.kill("SIGKILL");
}

function sawInit(s: BootSession): void {
  if (s.facts.initAt !== undefined) return;
  s.facts.initAt = Date.now();
  s.facts.lastActivity = s.facts.initAt;
  s.progress({ kind: "guest", event: "init" });
}

function sawPoweroff(s: BootSession): void {
  if (s.facts.poweroffAt !== undefined) return;
  s.facts.poweroffAt = Date.now();
  s.progress({ kind: "guest", event: "poweroff" });
}

/** One line from init's control port: `init`, `heartbeat`, `poweroff` (start/end come from the KTAP stream instead). */
function onControlLine(s: BootSession, line: string): void {
  const f = s.facts;
  f.lastActivity = Date.now();
  // Once init speaks on the control port, liveness is its heartbeats and the results stream: console
  // output alone (RCU stall or soft-lockup reports from a wedged kernel) must not keep a dead guest "alive".
  f.controlSeen = true;
  const [word] = line.split(" ");
  if (word !== "heartbeat") f.lastEvent = line;
  if (word === "init") sawInit(s);
  else if (word === "heartbeat") s.progress({ kind: "guest", event: "heartbeat" });
  else if (word === "poweroff") sawPoweroff(s);
}

/** One serial console line: the start and end of a panic report, and init's kmsg twins of `init` and `poweroff`. */
function onConsoleLine(s: BootSession, line: string): void {
  const f = s.facts;
  if (f.panicAt === undefined && PANIC_RE.test(line)) {
    f.panicAt = Date.now();
    f.panicLine = line.replace(/^\[[^\]]*\]\s*/, "");
    s.progress({ kind: "info", message: `kernel panic: ${f.panicLine}` });
  } else if (f.panicAt !== undefined && PANIC_END_RE.test(line)) endBoot(s, { end: "panic", detail: f.panicLine });
  // Init's kmsg line often reaches the console before its control-port line: the watchdog tick says
  // "control port missing" only if no control line follows within a few seconds.
  if (f.initAt === undefined && CONSOLE_INIT_RE.test(line)) sawInit(s);
  if (f.poweroffAt === undefined && CONSOLE_POWEROFF_RE.test(line)) sawPoweroff(s);
}

/** One watchdog tick: the pure verdict on the facts, acted on. */
function watchdogTick(s: BootSession, limits: WatchdogLimits): void {
  const now = Date.now();
  if (!s.toldNoControl && controlPortMissing(s.facts, now)) {
    s.toldNoControl = true;
    s.progress({ kind: "info", message: "guest init started, but its control port is missing (no heartbeats)" });
  }
  const ending = watchdogVerdict(s.facts, limits, now);
  if (ending) endBoot(s, ending);
}

/** The guest's four byte streams, each routed to results.log, the caller's callbacks and the line handlers. */
interface GuestStreams {
  results(b: Buffer): void;
  control(b: Buffer): void;
  /** What QEMU added to console.log (the serial console) since the last read. */
  console(b: Buffer): void;
  stderr(b: Buffer): void;
  /** Delivers the last unterminated lines (QEMU is gone). */
  end(): void;
  /** The last lines QEMU wrote to stderr. */
  readonly stderrTail: string[];
}

function routeGuestStreams(s: BootSession, logs: Pick<LogFiles, "appendResults">, opts: Pick<BootOpts, "onConsole" | "onResults">): GuestStreams {
  const controlLines = createLineSplitter((line) => onControlLine(s, line));
  const consoleLines = createLineSplitter((line) => onConsoleLine(s, line));
  const stderrTail: string[] = [];
  const stderrLines = createLineSplitter((line) => {
    stderrTail.push(line);
    if (stderrTail.length > STDERR_TAIL) stderrTail.shift();
  });
  return {
    results(b) {
      s.facts.lastActivity = Date.now();
      logs.appendResults(b);
      opts.onResults?.(b);
    },
    control(b) {
      s.facts.lastActivity = Date.now();
      controlLines.push(b);
    },
    console(b) {
      if (!s.facts.controlSeen) s.facts.lastActivity = Date.now();
      opts.onConsole?.(b);
      consoleLines.push(b);
    },
    stderr: (b) => stderrLines.push(b),
    end() {
      consoleLines.end();
      controlLines.end();
      stderrLines.end();
    },
    stderrTail,
  };
}

// ---- the run directory's files ----------------------------------------------------------------------------------

/** console.log, which QEMU writes as its stdout, and results.log, appended as the bytes arrive. */
interface LogFiles {
  /** console.log, open for writing: QEMU's stdout. */
  consoleFd: number;
  appendResults(b: Buffer): void;
  close(): void;
}

/**
 * Creates console.log for QEMU to write and opens results.log for synchronous appends: each chunk is in the file
 * (page cache) before the next event, so a crash of this process loses nothing QEMU already sent. A full disk or I/O
 * error stops results.log (said once) but not the run.
 */
function openLogFiles(consoleLogPath: string, resultsLogPath: string, progress: ProgressSink): LogFiles {
  const consoleFd = openSync(consoleLogPath, "w");
  const resultsFd = openSync(resultsLogPath, "w");
  let failed = false;
  return {
    consoleFd,
    appendResults(b) {
      if (failed) return;
      try {
        writeSync(resultsFd, b);
      } catch (e) {
        failed = true;
        progress({
          kind: "info",
          message: `cannot write results.log (${(e as NodeJS.ErrnoException).code ?? e}); the rest of it is not saved, parsing goes on`,
        });
      }
    },
    close() {
      closeSync(consoleFd);
      closeSync(resultsFd);
    },
  };
}

/** console.log read from where the last read stopped; `read` hands what was added to its callback, if anything. */
interface ConsoleTail {
  read(onBytes: (b: Buffer) => void): void;
  close(): void;
}

/**
 * The serial console as the supervisor sees it. QEMU writes the console straight into console.log, one byte per
 * write(2) (43,000 of them in a boot of Debian's kernel); on a pipe each byte woke this process, and its per-chunk
 * work took CPU that QEMU's own threads want on a small host (issue 16). Read every CONSOLE_POLL_MS instead, the
 * bytes arrive in a few hundred chunks, and console.log no longer depends on this process to be written at all.
 * A read error is said once and ends the tailing (panic and init lines are then not seen; the watchdog still is).
 */
function tailConsole(consoleLogPath: string, progress: ProgressSink): ConsoleTail {
  let fd: number | undefined;
  const buf = Buffer.allocUnsafe(64 * 1024);
  let failed = false;
  return {
    read(onBytes) {
      if (failed) return;
      try {
        fd ??= openSync(consoleLogPath, "r");
        for (;;) {
          const n = readSync(fd, buf, 0, buf.length, null);
          if (n === 0) return;
          // A copy: the handlers may keep a chunk (an unfinished line) past the next read.
          onBytes(Buffer.from(buf.subarray(0, n)));
        }
      } catch (e) {
        failed = true;
        progress({
          kind: "info",
          message: `cannot read console.log (${(e as NodeJS.ErrnoException).code ?? e}); QEMU still writes it, but panics are no longer seen live`,
        });
      }
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/** Writes qemu-argv.txt (the argv QEMU was started with, and why each kernel argument is there) and replay.sh. */
async function writeBootFiles(runDir: string, argv: string[], opts: BootOpts, profile: ArchProfile, machine: MachineProfile): Promise<void> {
  const cmdline = bootCmdline(profile, machine, opts.append, opts.rootfsDisk);
  const why = cmdline.map((a) => `#   ${a.arg}: ${a.why}`).join("\n");
  await writeFileAtomic(
    path.join(runDir, "qemu-argv.txt"),
    `${shellQuote(argv)}\n# kernel command line:\n${why}\n# the sockets above lived only during the run; replay.sh boots this guest again\n`,
  );
  await writeReplayScript(runDir, cmdline, opts, profile, machine);
}

// ---- the guest's ports ------------------------------------------------------------------------------------------

/** The listening sockets of the guest's virtio ports, and one "all bytes arrived" wait per socket. */
interface GuestPorts {
  servers: net.Server[];
  flushed: (() => Promise<void>)[];
}

/** Listens on the results and control sockets; each server joins `ports` as soon as it listens (so it is closed on any failure). */
async function listenPorts(
  ports: GuestPorts,
  sockets: { results: string; control: string },
  onData: { results: (b: Buffer) => void; control: (b: Buffer) => void },
): Promise<void> {
  for (const which of ["results", "control"] as const) {
    const { server, flushed } = await listenUnix(sockets[which], onData[which]);
    ports.servers.push(server);
    ports.flushed.push(flushed);
  }
}

/** Listens on a unix socket and feeds every byte any client sends to onData; resolves once listening. */
async function listenUnix(sockPath: string, onData: (b: Buffer) => void): Promise<{ server: net.Server; flushed: () => Promise<void> }> {
  const server = net.createServer();
  const open: Promise<void>[] = [];
  server.on("connection", (sock) => {
    open.push(new Promise<void>((resolve) => sock.on("close", () => resolve())));
    sock.on("data", onData);
    sock.on("error", () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(sockPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // Resolves when every client that connected has closed (a QEMU that never connected has nothing to flush).
  return { server, flushed: () => Promise.all(open).then(() => undefined) };
}

// ---- the QEMU process -------------------------------------------------------------------------------------------

/** Starts QEMU with its stdout (the serial console) going to console.log, and feeds its stderr to `on.stderr`. */
function startQemu(
  exec: Exec,
  argv: string[],
  runDir: string,
  consoleFd: number,
  on: { stderr: (b: Buffer) => void },
): { spawned: Spawned } | { error: string } {
  let spawned: Spawned;
  try {
    spawned = exec.spawn(argv, { cwd: runDir, stdoutFd: consoleFd });
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
  spawned.stderr.on("data", on.stderr);
  return { spawned };
}

/** Writes replay.sh: the same boot with the ports on files and the initramfs found beside the script. */
async function writeReplayScript(runDir: string, cmdline: readonly KernelArg[], o: BootOpts, profile: ArchProfile, machine: MachineProfile): Promise<void> {
  const initrd = path.resolve(o.payload.initramfsPath);
  const rel = path.relative(runDir, initrd);
  const argv = qemuArgvFor(o, profile, machine, rel.startsWith("..") || path.isAbsolute(rel) ? initrd : rel, REPLAY_PORTS);
  await writeFileAtomic(path.join(runDir, "replay.sh"), renderReplayScript(argv, cmdline), 0o755);
}

/** The QEMU argv of this boot with the given initramfs path and port backend (the run's sockets, or replay's files). */
function qemuArgvFor(o: BootOpts, profile: ArchProfile, machine: MachineProfile, initrdPath: string, ports: PortBackend): string[] {
  return buildQemuArgv({
    profile: o.qemuBinary ? { ...profile, qemuBinary: o.qemuBinary } : profile,
    machine,
    accel: o.accel,
    kernelPath: path.resolve(o.kernel.path),
    initrdPath,
    append: o.append,
    ports,
    firmwareDir: o.firmwareDir,
    rootfsDisk: o.rootfsDisk,
  });
}

function findMachineOrThrow(profile: ArchProfile, name: string): MachineProfile {
  const m = findMachine(profile, name);
  if (!m) throw new UsageError(`unknown machine ${name} for ${profile.arch}; known: ${profile.machines.map((x) => x.name).join(", ")}`);
  return m;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
