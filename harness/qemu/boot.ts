// The boot supervisor: the one function that starts QEMU, streams console and ports to the run
// directory as they arrive, and ends the boot on poweroff, panic, boot timeout, idleness or abort.

import { closeSync, openSync, writeSync } from "node:fs";
import { promises as fs } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { Exec, Spawned } from "../exec/exec.js";
import { lineSplitter } from "../exec/exec.js";
import { writeFileAtomic } from "../exec/files.js";
import { UsageError } from "../errors.js";
import type { BootEnd, BootResult, KernelImage, Payload, ProgressSink } from "../types.js";
import { buildQemuArgv, kernelCmdline, renderReplayScript, REPLAY_PORTS, shellQuote } from "./argv.js";

// The stage's answer to "does this --append fit the kernel command line?", for the request validation.
export { appendTooLong } from "./argv.js";
import { defaultMachine, findMachine, X86_64, type ArchProfile, type KernelArg, type MachineProfile } from "./profiles.js";

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
  /** Architecture profile (default x86_64). */
  profile?: ArchProfile;
  /** Machine candidate by name (default: the profile's first). */
  machine?: string;
  /** Replaces the profile's QEMU binary (tests pass a fake QEMU script here). */
  qemuBinary?: string;
  /** Firmware directory for machines that name a -bios file. */
  firmwareDir?: string;
}

/** After a panic line, how long the rest of the report may take before QEMU is killed. */
const PANIC_GRACE_MS = 1000;
/** After init's `poweroff`, how long QEMU may take to exit on its own (e.g. no ACPI power-off). */
const POWEROFF_GRACE_MS = 5000;
/** After QEMU exits, how long to wait for the last buffered port bytes. */
const FLUSH_MS = 2000;
const WATCHDOG_TICK_MS = 100;
const STDERR_TAIL = 30;

const PANIC_RE = /Kernel panic - not syncing/;
/** The last line of a panic report: nothing more will come, so QEMU can go at once. */
const PANIC_END_RE = /---\[ end Kernel panic - not syncing/;
/** The kmsg twin of the control `init` event: lets a boot whose control port is missing still count as booted. */
const CONSOLE_INIT_RE = /kharness: init \d+/;
/** Likewise for `poweroff`. */
const CONSOLE_POWEROFF_RE = /kharness: poweroff/;

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

/**
 * Boots the kernel with the payload as initramfs and supervises the guest until it ends. Never throws for
 * guest or QEMU failures (they are ends); leaves no QEMU process behind.
 */
export async function bootGuest(deps: BootDeps, opts: BootOpts): Promise<BootResult> {
  const profile = opts.profile ?? X86_64;
  const machine: MachineProfile = opts.machine ? findMachineOrThrow(profile, opts.machine) : defaultMachine(profile);
  const runDir = path.resolve(opts.runDir);
  await fs.mkdir(runDir, { recursive: true });
  const consoleLogPath = path.join(runDir, "console.log");
  const resultsLogPath = path.join(runDir, "results.log");
  const idleMs = (opts.idleTimeoutSec ?? profile.idleTimeoutSec[opts.accel]) * 1000;
  const bootMsLimit = opts.bootTimeoutSec * 1000;
  const progress = deps.onProgress ?? (() => undefined);
  const started = Date.now();

  const base = (end: BootEnd, extra: Partial<BootResult> = {}): BootResult => ({
    consoleLogPath,
    resultsLogPath,
    end,
    accel: opts.accel,
    machine: machine.name,
    durations: { totalMs: Date.now() - started },
    ...extra,
  });

  // Synchronous appends: each chunk is in the file (page cache) before the next event, so a crash of
  // this process loses nothing QEMU already sent.
  const consoleFd = openSync(consoleLogPath, "w");
  const resultsFd = openSync(resultsLogPath, "w");
  // Unix socket paths are limited to 108 bytes, and run directories can be deep: sockets live in a short temp dir.
  const sockDir = await fs.mkdtemp(path.join(os.tmpdir().length < 60 ? os.tmpdir() : "/tmp", "kh-"));
  const sockResults = path.join(sockDir, "results.sock");
  const sockControl = path.join(sockDir, "control.sock");

  let spawned: Spawned | undefined;
  let endBy: { end: BootEnd; detail: string } | undefined;
  let panicAt: number | undefined;
  let panicLine = "";
  let initAt: number | undefined;
  let poweroffAt: number | undefined;
  let lastActivity = Date.now();
  // Once init speaks on the control port, liveness is its heartbeats and the results stream: console
  // output alone (RCU stall or soft-lockup reports from a wedged kernel) must not keep a dead guest "alive".
  let controlSeen = false;
  let toldNoControl = false;
  const logWriteFailed = new Set<number>();
  let lastEvent = "none";
  const stderrTail: string[] = [];
  const servers: net.Server[] = [];
  const portFlushed: (() => Promise<void>)[] = [];
  let watchdog: NodeJS.Timeout | undefined;
  let aborted = false;

  const kill = (end: BootEnd, detail: string) => {
    if (!endBy) endBy = { end, detail };
    spawned?.kill("SIGKILL");
  };
  const onAbort = () => {
    aborted = true;
    kill("interrupted", "interrupted: QEMU was stopped");
  };

  const sawInit = (how: string) => {
    if (initAt !== undefined) return;
    initAt = Date.now();
    lastActivity = initAt;
    progress({ kind: "guest", event: "init" });
    // Init's kmsg line often reaches the console before its control-port line: the watchdog tick says
    // "control port missing" only if no control line follows within a few seconds.
    if (how === "control") controlSeen = true;
  };
  /** Appends to a log file; a full disk or I/O error stops that file (said once) but not the run. */
  const appendLog = (fd: number, b: Buffer, name: string) => {
    if (logWriteFailed.has(fd)) return;
    try {
      writeSync(fd, b);
    } catch (e) {
      logWriteFailed.add(fd);
      progress({ kind: "info", message: `cannot write ${name} (${(e as NodeJS.ErrnoException).code ?? e}); the rest of it is not saved, parsing goes on` });
    }
  };

  const sawPoweroff = () => {
    if (poweroffAt !== undefined) return;
    poweroffAt = Date.now();
    progress({ kind: "guest", event: "poweroff" });
  };

  const control = lineSplitter((line) => {
    lastActivity = Date.now();
    controlSeen = true;
    const [word] = line.split(" ");
    if (word !== "heartbeat") lastEvent = line;
    if (word === "init") sawInit("control");
    else if (word === "heartbeat") progress({ kind: "guest", event: "heartbeat" });
    else if (word === "poweroff") sawPoweroff();
    // start/end are not re-emitted as test events: the results parser emits those from the KTAP stream.
  });
  const consoleLines = lineSplitter((line) => {
    if (panicAt === undefined && PANIC_RE.test(line)) {
      panicAt = Date.now();
      panicLine = line.replace(/^\[[^\]]*\]\s*/, "");
      progress({ kind: "info", message: `kernel panic: ${panicLine}` });
    }
    else if (panicAt !== undefined && PANIC_END_RE.test(line)) kill("panic", panicLine);
    if (initAt === undefined && CONSOLE_INIT_RE.test(line)) sawInit("console");
    if (poweroffAt === undefined && CONSOLE_POWEROFF_RE.test(line)) sawPoweroff();
  });
  const stderrLines = lineSplitter((line) => {
    stderrTail.push(line);
    if (stderrTail.length > STDERR_TAIL) stderrTail.shift();
  });

  try {
    if (deps.signal?.aborted) return base("interrupted", { endDetail: "interrupted before QEMU started" });
    for (const [p, fd, onChunk] of [
      [sockResults, resultsFd, opts.onResults],
      [sockControl, -1, undefined],
    ] as const) {
      const { server, flushed } = await listenUnix(p, (b) => {
        lastActivity = Date.now();
        if (fd >= 0) {
          appendLog(fd, b, "results.log");
          onChunk?.(b);
        } else control.push(b);
      });
      servers.push(server);
      portFlushed.push(flushed);
    }

    const argv = buildQemuArgv({
      profile: opts.qemuBinary ? { ...profile, qemuBinary: opts.qemuBinary } : profile,
      machine,
      accel: opts.accel,
      kernelPath: path.resolve(opts.kernel.path),
      initrdPath: path.resolve(opts.payload.initramfsPath),
      append: opts.append,
      ports: { kind: "socket", results: sockResults, control: sockControl },
      firmwareDir: opts.firmwareDir,
    });
    const cmdline = kernelCmdline(profile, machine, opts.append);
    const why = cmdline.map((a) => `#   ${a.arg}: ${a.why}`).join("\n");
    await writeFileAtomic(path.join(runDir, "qemu-argv.txt"), `${shellQuote(argv)}\n# kernel command line:\n${why}\n# the sockets above lived only during the run; replay.sh boots this guest again\n`);
    await writeReplayScript(runDir, cmdline, opts, profile, machine);

    try {
      spawned = deps.exec.spawn(argv, { cwd: runDir });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      return base("qemu-error", { endDetail: `${msg}; install QEMU (Debian: apt-get install qemu-system-x86)`, qemuExitCode: null });
    }
    deps.signal?.addEventListener("abort", onAbort, { once: true });
    if (deps.signal?.aborted) onAbort();

    const stdoutDone = new Promise<void>((resolve) => {
      spawned!.stdout.on("data", (b: Buffer) => {
        if (!controlSeen) lastActivity = Date.now();
        appendLog(consoleFd, b, "console.log");
        opts.onConsole?.(b);
        consoleLines.push(b);
      });
      spawned!.stdout.on("end", resolve);
      spawned!.stdout.on("error", () => resolve());
    });
    spawned.stderr.on("data", (b: Buffer) => stderrLines.push(b));

    watchdog = setInterval(() => {
      const now = Date.now();
      if (initAt !== undefined && !controlSeen && !toldNoControl && now - initAt > 5000) {
        toldNoControl = true;
        progress({ kind: "info", message: "guest init started, but its control port is missing (no heartbeats)" });
      }
      if (panicAt !== undefined) {
        if (now - panicAt > PANIC_GRACE_MS) kill("panic", panicLine);
      } else if (poweroffAt !== undefined) {
        if (now - poweroffAt > POWEROFF_GRACE_MS) kill("poweroff", "QEMU did not exit after the guest powered off; killed it");
      } else if (initAt === undefined) {
        if (now - started > bootMsLimit)
          kill("boot-timeout", `the guest did not start init within ${opts.bootTimeoutSec} s (see the end of console.log)`);
      } else if (now - lastActivity > idleMs) {
        kill("idle", `no console output, results or heartbeat for ${Math.round(idleMs / 1000)} s; last guest event: ${lastEvent}`);
      }
    }, WATCHDOG_TICK_MS);

    const exit = await spawned.done;
    clearInterval(watchdog);
    // QEMU is gone, so its socket ends are closed: what is still buffered arrives now.
    await Promise.race([Promise.all([stdoutDone, ...portFlushed.map((f) => f())]), sleep(FLUSH_MS)]);
    consoleLines.end();
    control.end();
    stderrLines.end();

    const extra: Partial<BootResult> = {
      qemuExitCode: exit.exitCode ?? null,
      durations: { bootMs: initAt !== undefined ? initAt - started : undefined, totalMs: Date.now() - started },
    };
    if (aborted) return base("interrupted", { ...extra, endDetail: "interrupted: QEMU was stopped" });
    if (panicAt !== undefined) return base("panic", { ...extra, endDetail: panicLine });
    if (endBy) return base(endBy.end, { ...extra, endDetail: endBy.detail });
    if (poweroffAt !== undefined) return base("poweroff", extra);
    let tail = stderrTail.length ? `; QEMU said:\n${stderrTail.join("\n")}` : "";
    // The nested-virtualization failure the accel probe exists for; if it slipped past the probe, say what to do.
    if (opts.accel === "kvm" && stderrTail.some((l) => /KVM internal error/.test(l))) tail += "\nKVM cannot run this guest on this host: rerun with --accel tcg";
    if (exit.exitCode !== 0) {
      const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
      return base("qemu-error", { ...extra, endDetail: `QEMU ${how} before the guest powered off${tail}` });
    }
    return base("qemu-error", { ...extra, endDetail: `QEMU exited before the guest powered off (the guest reset or triple-faulted?)${tail}` });
  } finally {
    if (watchdog) clearInterval(watchdog);
    deps.signal?.removeEventListener("abort", onAbort);
    if (spawned) {
      spawned.kill("SIGKILL");
      await spawned.done.catch(() => undefined);
    }
    for (const s of servers) s.close();
    closeSync(consoleFd);
    closeSync(resultsFd);
    await fs.rm(sockDir, { recursive: true, force: true });
  }
}

/** Writes replay.sh: the same boot with the ports on files and the initramfs found beside the script. */
async function writeReplayScript(runDir: string, cmdline: readonly KernelArg[], o: BootOpts, profile: ArchProfile, machine: MachineProfile): Promise<void> {
  const initrd = path.resolve(o.payload.initramfsPath);
  const rel = path.relative(runDir, initrd);
  const argv = buildQemuArgv({
    profile: o.qemuBinary ? { ...profile, qemuBinary: o.qemuBinary } : profile,
    machine,
    accel: o.accel,
    kernelPath: path.resolve(o.kernel.path),
    initrdPath: rel.startsWith("..") || path.isAbsolute(rel) ? initrd : rel,
    append: o.append,
    ports: REPLAY_PORTS,
    firmwareDir: o.firmwareDir,
  });
  await writeFileAtomic(path.join(runDir, "replay.sh"), renderReplayScript(argv, cmdline), 0o755);
}

function findMachineOrThrow(profile: ArchProfile, name: string): MachineProfile {
  const m = findMachine(profile, name);
  if (!m) throw new UsageError(`unknown machine ${name} for ${profile.arch}; known: ${profile.machines.map((x) => x.name).join(", ")}`);
  return m;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
