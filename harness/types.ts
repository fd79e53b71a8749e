// The data that passes between stages: request -> kernel -> payload -> boot -> results -> reports.

import type { ExpectFile } from "./expect/expectations.js";
import type { BuildRecord, Patch } from "./kernel/tree-build.js";

/** Statuses of one test, as reported everywhere (JSON, JUnit, terminal). */
export type Status = "PASS" | "FAIL" | "SKIP" | "XFAIL" | "XPASS" | "TIMEOUT" | "CRASH" | "ERROR";

/** Statuses that make a run (and its exit code) a failure. */
export const FAILING_STATUSES: ReadonlySet<Status> = new Set(["FAIL", "XPASS", "TIMEOUT", "CRASH", "ERROR"]);

export type Accel = "auto" | "kvm" | "tcg";

/** What the user asked for, validated once at the edge (cli.ts). */
export interface RunRequest {
  /** Where the kernel comes from. */
  kernel:
    | { kind: "default" }
    | { kind: "image"; path: string }
    | {
        kind: "tree";
        dir: string;
        base?: string;
        patches: string[];
        configs: string[];
        /** "tiny" = tinyconfig + fragments (fast), "defconfig" = the tree's defconfig + fragments. */
        baseConfig: "tiny" | "defconfig";
        /** Also merge kernel-config/debug.config. */
        debug: boolean;
        /** Also merge kernel-config/rootfs.config (virtio-blk and ext4 built in): set for `run --rootfs`. */
        rootfs?: boolean;
      };
  /** Globs over bundled selftest program names (empty = all). */
  tests: string[];
  /** A user's own static test programs. */
  programs: string[];
  /** Targets under the tree's tools/testing/selftests to build and run. */
  kselftests: string[];
  append: string[];
  /** Per-test timeout in seconds. */
  timeoutSec: number;
  bootTimeoutSec: number;
  accel: Accel;
  /** Run directory; undefined = ./kharness-out/<run-id>. */
  outDir?: string;
  reports: { json?: string; junit?: string; tap?: string; kcidb?: string };
  /** Map "could not test" to exit 125 for git bisect run. */
  bisect: boolean;
  /** Kernel WARNING/lockdep reports also fail the running test (Oops/BUG/KASAN always do), or the run when no test owns them. */
  failOnWarn: boolean;
  /** Extra preprocessor defines for the bundled selftests (test-only builds). */
  selftestDefines: string[];
  /** --jobs: guests booted at once, each running a share of the programs (harness/scale/); undefined = 1. */
  jobs?: number | "auto";
  /** --shard I/N (1-based): run only this machine's part of the test list (harness/scale/split.ts). */
  shard?: { index: number; count: number };
  /** --durations FILE: program durations every shard is given (a results.json or {"name": ms}). */
  durationsFile?: string;
  /** --expect FILE: known failures (docs/expect.md); checked by the validation pass. */
  expect?: string;
  /** The --expect file as the validation pass read it; the pipeline applies it before results.json is written. */
  expectations?: ExpectFile;
  /** --baseline RUN_DIR|last-green: compared after the run (harness/after-run.ts), checked by the validation pass. */
  baseline?: string;
  /** --rootfs debian|IMAGE: programs run chrooted in this root file system, booted from a per-run overlay (docs/rootfs.md). */
  rootfs?: string;
  /** --keep-rootfs: the run's overlay stays in the run directory. */
  keepRootfs?: boolean;
}

/** A kernel ready to boot. */
export interface KernelImage {
  /** bzImage / vmlinuz path. */
  path: string;
  /** `uname -r` of the kernel when known. */
  release?: string;
  /** Path of its .config when known. */
  configPath?: string;
  /** Directory holding its modules (lib/modules/<release>) when it has any. */
  modulesDir?: string;
  source: "default" | "image" | "tree";
  /** Build details when it came from a tree. */
  build?: {
    cacheKey: string;
    cacheHit: boolean;
    durationMs: number;
    logPath?: string;
    treeDir: string;
    /** What it was built from (tree, patches, config), handed to stages that build against the same tree. */
    record?: BuildRecord;
    /** The patch series applied, in order. */
    patches?: Patch[];
  };
}

/** One program the guest init runs. */
export interface GuestProgram {
  /** Name used as the first part of test ids (program.fixture.variant.case). */
  name: string;
  /** Path on the host of the static binary. */
  hostPath: string;
  /** Path inside the guest. */
  guestPath: string;
  /** Seconds before init kills the program's process group. */
  timeoutSec: number;
  /** Arguments passed to the program. */
  args: string[];
  /** Working directory in the guest (kselftest programs expect their own dir). */
  cwd?: string;
}

/** Programs to run and every file they need, placed in the initramfs beside the bundled ones (a tree's kselftests). */
export interface GuestFiles {
  programs: GuestProgram[];
  files: { hostPath: string; guestPath: string; mode?: number }[];
  /** Directories to create even when empty (an install tree's, e.g. exec's `subdir`). */
  dirs?: { guestPath: string; mode?: number }[];
  /** Symbolic links to create (an install tree's, e.g. exec's `execveat.symlink`). */
  symlinks?: { guestPath: string; target: string }[];
}

/** The initramfs and what it will run. */
export interface Payload {
  initramfsPath: string;
  programs: GuestProgram[];
  /** Kernel modules the init loads first, in order (guest paths). */
  modules: string[];
}

export type BootEnd = "poweroff" | "panic" | "timeout" | "idle" | "boot-timeout" | "qemu-error" | "interrupted";

/** What one QEMU boot produced. */
export interface BootResult {
  consoleLogPath: string;
  resultsLogPath: string;
  end: BootEnd;
  /** Human-readable why, for ends other than poweroff. */
  endDetail?: string;
  qemuExitCode?: number | null;
  accel: "kvm" | "tcg";
  machine: string;
  durations: { bootMs?: number; totalMs: number };
  /**
   * Host clock (ISO 8601, ms) when the QEMU process was started and when it exited: with the run's start and the
   * command's end they split a run into the harness's own time before and after QEMU (scripts/bench-boot.mjs).
   */
  qemuStartedAt?: string;
  qemuExitedAt?: string;
}

export interface KernelEvent {
  kind: "panic" | "oops" | "bug" | "warning" | "kasan" | "lockdep" | "hung-task" | "rcu-stall";
  /** The headline line. */
  title: string;
  /** The whole report (bounded). */
  lines: string[];
  /** Id of the test that was running, when known. */
  testId?: string;
  /** When its headline was printed: the kernel clock (printk time) in ms since the kernel started, when shown. */
  atMs?: number;
}

export interface Diagnostic {
  level: "info" | "warning" | "error";
  message: string;
  /** Where: test id or line number. */
  where?: string;
}

export interface TestResult {
  /** Stable dotted id: program.fixture.variant.case. */
  id: string;
  /** The name as printed on its result line. */
  name: string;
  status: Status;
  reason?: string;
  /** How long it ran, when measured (docs/results-schema.md says by which clock); 0 for a test that never started. */
  durationMs?: number;
  /** When it started, in ms since the kernel started (the guest's printk clock), when known. */
  startMs?: number;
  /** The test's own log lines (bounded). */
  log: string[];
  /** Kernel events attached to this test. */
  kernelEvents: KernelEvent[];
  children: TestResult[];
  /** True when no result line was seen for it: a plan placeholder, or the test running when the output stopped. */
  unreported?: boolean;
}

export interface Summary {
  pass: number;
  fail: number;
  skip: number;
  xfail: number;
  xpass: number;
  timeout: number;
  crash: number;
  error: number;
  total: number;
}

export interface KernelInfo {
  release?: string;
  path?: string;
  source?: KernelImage["source"];
  cmdline?: string;
  /** The subjects of the patches applied to the tree, in order (a tree build with patches only). */
  patches?: string[];
}

/** The parsed outcome of a run (or of `kharness parse`). */
export interface RunResult {
  schemaVersion: number;
  runId?: string;
  tests: TestResult[];
  summary: Summary;
  diagnostics: Diagnostic[];
  /** Kernel events not attributable to any test (e.g. at boot). */
  kernelEvents: KernelEvent[];
  kernel?: KernelInfo;
  boot?: Omit<BootResult, "consoleLogPath" | "resultsLogPath">;
  startedAt?: string;
  durationMs?: number;
  /** The harness process itself (not QEMU): its peak resident memory. */
  host?: { peakRssKiB: number };
  /**
   * The host-side stages that ended before the results were written (kernel, payload, boot, ...), in order:
   * when each started (ms since the run started, host clock) and how long it took. For the report's timeline.
   */
  stages?: { stage: ProgressStage; startMs: number; durationMs: number }[];
  /**
   * Set only when the guest programs were built the test-only way: `selftestDefines` are the preprocessor
   * defines given with --selftest-define (e.g. KH_FLIP_ERRNO, which makes chosen cases expect the wrong
   * errno). Such a run's verdicts test the selftests, not the kernel.
   */
  payloadBuild?: { selftestDefines: string[] };
  /**
   * Set by the results stage when the run could not test the kernel (no test output at all, or a boot that
   * ended in a watchdog or QEMU error without a kernel fault report): exit 3, or 125 with --bisect.
   */
  couldNotTest?: CouldNotTest;
}

/** Why a run could not test the kernel (see RunResult.couldNotTest). */
export interface CouldNotTest {
  /** "no-tests": no test output, or output that announced no tests; "boot-end": the boot ended in a watchdog or QEMU error. */
  cause: "no-tests" | "boot-end";
  reason: string;
}

/** Progress events: the pipeline emits, the terminal reporter subscribes. */
export type ProgressEvent =
  | { kind: "stage"; stage: "kernel" | "build" | "payload" | "boot" | "results" | "report"; detail?: string }
  | { kind: "build-line"; line: string }
  | { kind: "plan"; programs: string[] }
  | { kind: "guest"; event: "init" | "heartbeat" | "poweroff" }
  | { kind: "test-start"; id: string }
  | { kind: "test-end"; id: string; status: Status }
  | { kind: "kernel-event"; event: KernelEvent }
  | { kind: "info"; message: string }
  /** The run owns this directory now (absolute path); every file of the run goes there. */
  | { kind: "run-dir"; path: string }
  /** The kernel stage is done: which kernel, and for a tree whether it came from the build cache. */
  | { kind: "kernel-ready"; release?: string; source: KernelImage["source"]; cacheHit?: boolean; cacheKey?: string; buildMs?: number }
  /** A pipeline stage (as announced by a `stage` event) ended, after durationMs. */
  | { kind: "stage-end"; stage: ProgressStage; durationMs: number };

/** The stages named in progress events. */
export type ProgressStage = "kernel" | "build" | "payload" | "boot" | "results" | "report";

export type ProgressSink = (e: ProgressEvent) => void;
