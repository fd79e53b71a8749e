// request -> RunResult: validate -> kernel -> payload -> boot -> results -> reports, emitting progress events.
// Whatever happens (crash, timeout, interrupt), the run directory keeps the console log and what was parsed.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { KharnessError, UsageError } from "./errors.js";
import type { Exec } from "./exec/exec.js";
import { withLock, writeFileAtomic } from "./exec/cache.js";
import { resolveDefaultKernel, resolveImageKernel } from "./kernel/default.js";
import { createOverlay, prepareRunRootfs, removeOverlay, resolveRootfsImage, ROOTFS_MODULES, type RootfsImage, type RunRootfs } from "./rootfs/overlay.js";
import { RootfsConsoleWatch, rootfsFailureError, rootfsFailureInLogs } from "./rootfs/guest-failure.js";
import { buildKselftests, buildPayload, listBundledCatalog } from "./payload/payload.js";
import { absoluteRequest, validateRunRequest, type ValidatedRun } from "./validate.js";
import { withExpectations } from "./expect/expectations.js";
import { checkQemu, resolveAccel } from "./qemu/accel.js";
import { bootGuest, chooseBootMachine, type MachineChoice } from "./qemu/boot.js";
import { defaultMachine, timeoutScale, X86_64, type ArchProfile, type MachineProfile } from "./qemu/profiles.js";
import { preloadReportWriters, writeHtmlReport, writeReports, writeRunManifest } from "./write-reports.js";
import { createRunParser, makeRunManifest } from "./results/index.js";
import type { AccelChoice } from "./qemu/accel.js";
import { bootGuests, checkGuestMemory, lastRunDurations, planGuests, resolveJobs, type PartsManifest } from "./scale/jobs.js";
import { loadShardPlan, shardPrograms, type ShardPlan, type ShardRecord } from "./scale/shard.js";
import type { BootResult, GuestProgram, KernelImage, Payload, ProgressSink, ProgressStage, RunRequest, RunResult } from "./types.js";

export interface PipelineDeps {
  exec: Exec;
  cacheRoot: string;
  /** The kharness checkout (vm/, selftests/, kernel-config/). */
  repoRoot: string;
  /** Where relative paths and ./kharness-out are resolved. */
  cwd: string;
  signal: AbortSignal;
  onProgress: ProgressSink;
  now?: () => Date;
  /** The QEMU binary (KHARNESS_QEMU, read by cli.ts); default: the architecture profile's. */
  qemuBinary?: string;
  /** The guest architecture; default x86_64 (the only one so far). Every stage receives it from here. */
  profile?: ArchProfile;
  /**
   * The caller writes report.html itself, once, after what it adds to the run directory (history.json,
   * comparison.json): rendering it twice cost a warm run about 10 ms after QEMU exits (issue 16).
   */
  deferHtmlReport?: boolean;
}

/** The stages of a run, in order; a failure says in which one it happened. */
export type PipelineStage = "validate" | "preflight" | "run-dir" | "kernel" | "payload" | "boot";

/** What runPipeline returns: the run, or the error and the stage it came from (never thrown). */
export type PipelineOutcome =
  | {
      ok: true;
      run: RunResult;
      runDir: string;
      boot: BootResult;
      /** Writing results.json/junit.xml/... failed (e.g. ENOSPC); the run itself is complete. */
      reportError?: unknown;
    }
  | {
      ok: false;
      /** Only "kernel" can mean "this commit cannot be tested"; see exit-codes.ts. */
      stage: PipelineStage;
      error: unknown;
      /** Set once the run directory exists (the caller records the error there). */
      runDir?: string;
    };

/** An error with the stage it came from, inside runPipeline only. */
class StageFailure {
  constructor(
    readonly stage: PipelineStage,
    readonly error: unknown,
  ) {}
}

/** Runs one step; its error is tagged with the stage. */
async function inStage<T>(stage: PipelineStage, step: Promise<T> | (() => Promise<T>)): Promise<T> {
  try {
    return await (typeof step === "function" ? step() : step);
  } catch (e) {
    throw e instanceof StageFailure ? e : new StageFailure(stage, e);
  }
}

/** Modules the guest needs for its virtio console (and a --rootfs disk) when the kernel has them as modules (Debian's). */
function guestModules(machine: MachineProfile, rootfs: boolean): string[] {
  const transport = machine.virtioTransport;
  return [transport === "pci" ? "virtio_pci" : "virtio_mmio", "virtio_console", ...(rootfs ? ROOTFS_MODULES : [])];
}

/** BootOpts' machine and, for microvm, the host's TSC rate. */
function bootMachine(choice: MachineChoice): { machine: string; hostTscKhz?: number } {
  return { machine: choice.machine.name, ...(choice.hostTscKhz !== undefined ? { hostTscKhz: choice.hostTscKhz } : {}) };
}

/** A run id that sorts by time and is safe as a directory name. */
export function makeRunId(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}-${Math.random().toString(36).slice(2, 6)}`;
}

/** The run directory of a request (absolute paths): --out, or ./kharness-out/<run-id>. */
export function runDirFor(req: RunRequest, cwd: string, runId: string): string {
  return req.outDir ?? path.join(cwd, "kharness-out", runId);
}

/** Lock file inside a run directory while a run owns it. */
const RUN_LOCK = ".kharness.lock";

/**
 * Runs fn while this process owns runDir. A second run given the same --out refuses at once (exit 2)
 * rather than interleaving its files with the first's; a lock whose owner died is taken over.
 */
async function withRunDirLock<T>(runDir: string, label: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
  const refuse = new AbortController();
  return withLock(path.join(runDir, RUN_LOCK), fn, {
    signal: AbortSignal.any([signal, refuse.signal]),
    onWait: (owner) =>
      refuse.abort(
        new UsageError(`${label} ${runDir}: another kharness run (pid ${owner}) is writing to this run directory`, {
          fix: "wait for it to finish, or give this run its own --out",
          untestable: false,
        }),
      ),
  });
}

/** Points kharness-out/latest (beside a default run directory) at it, atomically. */
async function pointLatestAt(runDir: string): Promise<void> {
  const latest = path.join(path.dirname(runDir), "latest");
  const tmp = `${latest}.tmp-${process.pid}`;
  await fs.rm(tmp, { force: true });
  await fs.symlink(path.basename(runDir), tmp);
  await fs.rename(tmp, latest);
}

/** Runs one stage between its `stage` and `stage-end` progress events (no end event when it fails). */
async function timedStage<T>(onProgress: ProgressSink, stage: ProgressStage, detail: string | undefined, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  onProgress({ kind: "stage", stage, ...(detail !== undefined ? { detail } : {}) });
  const r = await fn();
  onProgress({ kind: "stage-end", stage, durationMs: Date.now() - t0 });
  return r;
}

async function getKernel(req: RunRequest, deps: PipelineDeps & { profile: ArchProfile }, runDir: string, image: KernelImage | undefined): Promise<KernelImage> {
  const got = await timedStage(deps.onProgress, "kernel", undefined, () => resolveKernel(req, deps, runDir, image));
  const b = got.build;
  deps.onProgress({
    kind: "kernel-ready",
    release: got.release,
    source: got.source,
    ...(b ? { cacheHit: b.cacheHit, cacheKey: b.cacheKey, buildMs: b.durationMs } : {}),
  });
  return got;
}

async function resolveKernel(
  req: RunRequest,
  deps: PipelineDeps & { profile: ArchProfile },
  runDir: string,
  image: KernelImage | undefined,
): Promise<KernelImage> {
  const k = req.kernel;
  switch (k.kind) {
    case "default":
      return resolveDefaultKernel(deps.cacheRoot);
    case "image":
      return image ?? (await resolveImageKernel(k.path, deps.profile));
    case "tree": {
      // Loaded for a tree only: a run of a packaged kernel never needs the tree builder (issue 16: modules before QEMU).
      const { buildKernelFromTree } = await import("./kernel/tree-build.js");
      return buildKernelFromTree(k, {
        exec: deps.exec,
        cacheRoot: deps.cacheRoot,
        runDir,
        signal: deps.signal,
        onProgress: deps.onProgress,
        repoRoot: deps.repoRoot,
        profile: deps.profile,
      });
    }
  }
}

/**
 * Runs one request end to end: validate (every problem at once, nothing written) and the QEMU preflight,
 * then under the run directory's lock: kernel -> payload -> boot -> results -> reports. Never throws:
 * the outcome carries the run, or the error with its stage.
 */
export async function runPipeline(request: RunRequest, deps: PipelineDeps): Promise<PipelineOutcome> {
  return inOwnedRunDir(request, deps, runStages);
}

/** What a boot needs, ready in a run directory (initramfs.cpio, manifest.json, kernel.config). */
export interface PreparedGuest {
  runId: string;
  runDir: string;
  profile: ArchProfile;
  kernel: KernelImage;
  accel: AccelChoice;
  payload: Payload;
}

export type PrepareOutcome = { ok: true; guest: PreparedGuest } | Extract<PipelineOutcome, { ok: false }>;

/**
 * A run's validate, kernel and payload stages without the boot, for a guest that another machine boots
 * (`kharness lava-job`): the same kernel and payload a local run of the request would boot. Never throws.
 */
export async function prepareGuest(request: RunRequest, deps: PipelineDeps): Promise<PrepareOutcome> {
  return inOwnedRunDir(request, deps, async (req, v, d, ctx) => ({
    ok: true as const,
    guest: { runId: ctx.runId, runDir: ctx.runDir, profile: d.profile, ...(await kernelAndPayload(req, v, d, ctx.runDir, "lava")) },
  }));
}

/** Validates and preflights a request, then runs body while this process owns the run directory. */
async function inOwnedRunDir<T>(
  request: RunRequest,
  deps: PipelineDeps,
  body: (
    req: RunRequest,
    v: Validated,
    deps: PipelineDeps & { qemuBinary: string; profile: ArchProfile },
    ctx: { runId: string; runDir: string; started: Date },
  ) => Promise<T>,
): Promise<T | Extract<PipelineOutcome, { ok: false }>> {
  const started = (deps.now ?? (() => new Date()))();
  const runId = makeRunId(started);
  const req = absoluteRequest(request, deps.cwd);
  const runDir = runDirFor(req, deps.cwd, runId);
  let owned = false;
  try {
    // A missing or too old QEMU must fail in a second, not after a 7-minute kernel build; a usage problem
    // is reported first (and with all the others), since fixing it is the user's next step either way.
    // The one place the architecture is chosen; the stages get it as a parameter.
    const profile = deps.profile ?? X86_64;
    const qemuBinary = deps.qemuBinary ?? profile.qemuBinary;
    const [validated, qemu, shardPlan] = await Promise.allSettled([
      validateRunRequest(req, runDir, {
        exec: deps.exec,
        cacheRoot: deps.cacheRoot,
        repoRoot: deps.repoRoot,
        profile,
        signal: deps.signal,
        onProgress: deps.onProgress,
      }),
      checkQemu(deps.exec, qemuBinary, deps.cacheRoot),
      // --shard's --durations file: read here, so a bad one leaves no run directory.
      req.shard ? loadShardPlan(req.shard, req.durationsFile === undefined ? undefined : path.resolve(deps.cwd, req.durationsFile)) : undefined,
    ]);
    if (validated.status === "rejected") throw new StageFailure("validate", validated.reason);
    if (qemu.status === "rejected") throw new StageFailure("preflight", qemu.reason);
    if (shardPlan.status === "rejected") throw new StageFailure("validate", shardPlan.reason);
    const v: Validated = { ...validated.value, ...(shardPlan.value ? { shardPlan: shardPlan.value } : {}) };
    deps.signal.throwIfAborted();

    // Validation probed that this can be created (a recursive mkdir on /proc would spin forever).
    await inStage("run-dir", fs.mkdir(runDir, { recursive: true }));
    return await inStage("run-dir", () =>
      withRunDirLock(runDir, req.outDir ? "--out" : "run directory", deps.signal, async () => {
        // Only now is the directory this run's: an error before this must not be written into another run's.
        owned = true;
        if (!req.outDir) await inStage("run-dir", pointLatestAt(runDir));
        deps.onProgress({ kind: "run-dir", path: runDir });
        // --expect, as validated, travels with the request to finishRun (applied before results.json is written).
        return body(v.expect ? { ...req, expectations: v.expect } : req, v, { ...deps, qemuBinary, profile }, { runId, runDir, started });
      }),
    );
  } catch (e) {
    const f = e instanceof StageFailure ? e : new StageFailure("run-dir", e);
    return { ok: false, stage: f.stage, error: f.error, runDir: owned ? runDir : undefined };
  }
}

/** What validation learned, and the --shard plan with its --durations file read. */
type Validated = ValidatedRun & { shardPlan?: ShardPlan };

/** The kernel stage and the accelerator, then the payload for them; writes kernel.config and manifest.json. */
async function kernelAndPayload(
  req: RunRequest,
  v: Validated,
  deps: PipelineDeps & { qemuBinary: string; profile: ArchProfile },
  runDir: string,
  bootsOn: "here" | "lava" = "here",
): Promise<{ kernel: KernelImage; accel: AccelChoice; machine: MachineChoice; payload: Payload; manifest: PartsManifest }> {
  const shardPlan = v.shardPlan;
  const [kernel, accel] = await Promise.all([
    inStage("kernel", getKernel(req, deps, runDir, v.image)),
    inStage("preflight", resolveAccel(req.accel, { exec: deps.exec, cacheDir: deps.cacheRoot, qemuBinary: deps.qemuBinary, profile: deps.profile })),
  ]);
  if (kernel.configPath) await fs.copyFile(kernel.configPath, path.join(runDir, "kernel.config")).catch(() => undefined);
  deps.signal.throwIfAborted();
  // The machine follows from the kernel and the accelerator (microvm for our own kernels under TCG); its
  // virtio transport decides which modules a modular kernel needs.
  const machine: MachineChoice =
    bootsOn === "lava"
      ? { machine: defaultMachine(deps.profile), reason: "machine pc: a LAVA job boots pc (harness/lava/job.ts)" }
      : await inStage("preflight", chooseBootMachine(deps.profile, kernel, accel.accel));
  deps.onProgress({ kind: "info", message: machine.reason });

  // The tree's own kselftests, built by the payload stage from the kernel stage's build record. They are built
  // from the commit's tree, so a failure counts as the kernel stage's (the commit's: --bisect skips it, 125).
  const kselftests = req.kselftests.length
    ? await inStage(
        "kernel",
        buildKselftests(kernel, req.kselftests, {
          exec: deps.exec,
          cacheRoot: deps.cacheRoot,
          runDir,
          signal: deps.signal,
          onProgress: deps.onProgress,
          profile: deps.profile,
          rootfs: !!req.rootfs,
        }),
      )
    : undefined;
  deps.signal.throwIfAborted();
  // This machine's part of the whole list (bundled, --program and kselftest programs alike), the same on every machine.
  const shard = shardPlan ? await inStage("validate", async () => shardPrograms(shardPlan, { bundled: v.bundled, users: v.users, kselftests })) : undefined;

  const payload = await inStage("payload", () =>
    timedStage(deps.onProgress, "payload", undefined, () =>
      buildPayload(
        { exec: deps.exec, cacheRoot: deps.cacheRoot, repoRoot: deps.repoRoot, signal: deps.signal, onProgress: deps.onProgress, profile: deps.profile },
        {
          kernel,
          bundled: shard?.bundled ?? v.bundled,
          users: shard?.users ?? v.users,
          kselftests: shard ? shard.kselftests : kselftests,
          timeoutFactor: timeoutScale(deps.profile, accel.accel),
          profile: deps.profile,
          timeoutSec: req.timeoutSec,
          selftestDefines: req.selftestDefines,
          wantedModules: guestModules(machine.machine, !!req.rootfs),
          rootfs: !!req.rootfs,
          outDir: runDir,
        },
      ),
    ),
  );
  deps.signal.throwIfAborted();
  deps.onProgress({ kind: "plan", programs: payload.programs.map((p) => p.name) });

  // Before the boot, so that `kharness parse RUN_DIR` names the programs even of a run that crashed.
  const manifest: PartsManifest & { shard?: ShardRecord } = {
    ...makeRunManifest(payload.programs, { failOnWarn: req.failOnWarn }),
    ...(shard ? { shard: { ...shard.record, kernel: { release: kernel.release, source: kernel.source, cacheKey: kernel.build?.cacheKey } } } : {}),
  };
  await inStage("payload", writeRunManifest(runDir, manifest));

  return { kernel, accel, machine, payload, manifest };
}

/** kernel -> payload -> boot -> results -> reports, in a locked run directory. */
async function runStages(
  req: RunRequest,
  v: Validated,
  deps: PipelineDeps & { qemuBinary: string; profile: ArchProfile },
  ctx: { runId: string; runDir: string; started: Date },
): Promise<PipelineOutcome> {
  const { runId, runDir, started } = ctx;
  // Each stage's start and duration go into results.json (`stages`), for the timeline of report.html.
  const stages: NonNullable<RunResult["stages"]> = [];
  const sink = deps.onProgress;
  deps = {
    ...deps,
    onProgress: (e) => {
      if (e.kind === "stage-end") stages.push({ stage: e.stage, startMs: Date.now() - started.getTime() - e.durationMs, durationMs: e.durationMs });
      sink(e);
    },
  };
  const { kernel, accel, machine, payload, manifest } = await kernelAndPayload(req, v, deps, runDir);
  const jobs = resolveJobs(req.jobs ?? 1, Number.MAX_SAFE_INTEGER);
  const interpreters = v.users.flatMap((u) => (u.interpreter ? [{ program: u.name, interpreter: u.interpreter }] : []));
  const plan = jobs > 1 ? await inStage("payload", planShares(req, v, deps, runDir, payload, jobs)) : undefined;
  const { parsed, boot, rootfsError } =
    plan && plan.shares.length > 1
      ? await bootInGuests(req, deps, { runDir, kernel, accel, machine, payload, manifest, interpreters, ...plan })
      : await bootOneGuest(req, deps, {
          runId,
          runDir,
          started,
          kernel,
          accel,
          machine,
          payload,
          stages,
          interpreters,
        });
  const run = await timedStage(deps.onProgress, "results", undefined, async () => finishRun(parsed, { runId, started, kernel, req, boot, stages }));
  // A full disk here must not hide the verdicts already parsed: the caller shows them, then the error.
  const reportError = await timedStage(deps.onProgress, "report", undefined, () =>
    writeReports(run, runDir, req.reports, { runId }, { html: !deps.deferHtmlReport }).then(
      () => undefined,
      (e: unknown) => e,
    ),
  );
  // A root file system the guest could not use (every program an ERROR): the run ends with the image's error,
  // after its reports and console log are written (docs/rootfs.md).
  if (rootfsError) {
    if (deps.deferHtmlReport) await writeHtmlReport(runDir).catch(() => undefined);
    throw new StageFailure("boot", rootfsError);
  }
  return { ok: true, run, runDir, boot, reportError };
}

/** One guest runs every program: the boot, with the results parsed as they stream. */
async function bootOneGuest(
  req: RunRequest,
  deps: PipelineDeps & { qemuBinary: string; profile: ArchProfile },
  ctx: {
    runId: string;
    runDir: string;
    started: Date;
    kernel: KernelImage;
    accel: AccelChoice;
    machine: MachineChoice;
    payload: Payload;
    stages: NonNullable<RunResult["stages"]>;
    /** --program files run with --rootfs that need an interpreter from the image. */
    interpreters: { program: string; interpreter: string }[];
  },
): Promise<{ parsed: RunResult; boot: BootResult; rootfsError?: KharnessError }> {
  const { runId, runDir, started, kernel, accel, payload, stages } = ctx;
  const parser = createRunParser({ onEvent: deps.onProgress, failOnWarn: req.failOnWarn, now: Date.now, programs: payload.programs });
  // --rootfs: a fresh overlay on the (read-only) image, removed after the boot unless --keep-rootfs.
  const rootfs: RunRootfs | undefined = req.rootfs
    ? await inStage("payload", () => prepareRunRootfs(req.rootfs as string, { ...deps, profile: deps.profile }, runDir, ctx.interpreters))
    : undefined;
  if (rootfs) deps.onProgress({ kind: "info", message: `rootfs: ${rootfs.base} behind the overlay ${rootfs.overlay} (made in ${rootfs.overlayMs} ms)` });
  // init says on the console when it cannot use the root file system (every program is then an ERROR).
  const rootfsWatch = rootfs ? new RootfsConsoleWatch() : undefined;
  let boot: BootResult;
  try {
    boot = await timedStage(deps.onProgress, "boot", `${kernel.release ?? path.basename(kernel.path)} (${accel.accel})`, () =>
      bootGuest(
        {
          exec: deps.exec,
          signal: deps.signal,
          onProgress: (e) => {
            // The reports' modules load while the guest runs, not before QEMU starts or after it exits.
            if (e.kind === "guest" && e.event === "init") preloadReportWriters();
            deps.onProgress(e);
          },
        },
        {
          kernel,
          payload,
          runDir,
          accel: accel.accel,
          ...bootMachine(ctx.machine),
          qemuBinary: deps.qemuBinary,
          profile: deps.profile,
          append: req.append,
          bootTimeoutSec: req.bootTimeoutSec,
          rootfsDisk: rootfs?.overlay,
          onConsole: (c) => {
            parser.pushConsole(c);
            rootfsWatch?.push(c);
          },
          onResults: (c) => parser.pushResults(c),
        },
      ),
    );
  } catch (e) {
    // Even when the boot itself failed to start, keep what the parser saw.
    const run = finishRun(parser.finish({ end: "qemu-error", detail: (e as Error).message }), { runId, started, kernel, req, stages });
    await writeReports(run, runDir, req.reports, { runId }).catch(() => undefined);
    throw new StageFailure("boot", e);
  } finally {
    if (!req.keepRootfs) await removeOverlay(rootfs);
  }
  const parsed = parser.finish({ end: boot.end, detail: boot.endDetail });
  return { parsed, boot, ...(rootfs && rootfsWatch?.failure ? { rootfsError: rootfsFailureError(rootfs, rootfsWatch.failure) } : {}) };
}

/** What the --jobs boots share: the run's kernel and payload, and each guest's programs. */
interface GuestsContext {
  runDir: string;
  kernel: KernelImage;
  accel: AccelChoice;
  machine: MachineChoice;
  payload: Payload;
  shares: GuestProgram[][];
  splitCases: Record<string, string[]>;
}

/** The joined run of the --jobs guests, and the error of a root file system a guest could not use. */
type GuestsBoot = { parsed: RunResult; boot: BootResult; rootfsError?: KharnessError };

/**
 * --jobs N: the payload's programs shared between N guests booted at once (harness/scale/jobs.ts), longest
 * first by the last run's durations; their results joined into this run's reports. manifest.json names each
 * guest's directory and programs, so `kharness parse RUN_DIR` parses each guest's logs and joins them again.
 */
async function bootInGuests(
  req: RunRequest,
  deps: PipelineDeps & { qemuBinary: string; profile: ArchProfile },
  ctx: GuestsContext & {
    manifest: PartsManifest;
    /** --program files run with --rootfs that need an interpreter from the image. */
    interpreters: { program: string; interpreter: string }[];
  },
): Promise<GuestsBoot> {
  const { runDir, shares, splitCases } = ctx;
  await inStage("preflight", checkGuestMemory(shares.length, deps.profile));
  const parts = shares.map((share, k) => ({ dir: `guest-${k + 1}`, programs: share.map((p) => p.name) }));
  const manifest: PartsManifest = { ...ctx.manifest, jobs: shares.length, parts, ...(Object.keys(splitCases).length ? { splitCases } : {}) };
  await inStage("payload", writeRunManifest(runDir, manifest));
  // --rootfs: one image, an overlay of its own per guest (guest-K/rootfs.qcow2), removed after the boots unless --keep-rootfs.
  const overlays: string[] = [];
  const rootfsImage = req.rootfs
    ? await inStage("payload", () => resolveRootfsImage(req.rootfs as string, { ...deps, profile: deps.profile }, ctx.interpreters))
    : undefined;
  try {
    if (rootfsImage)
      await inStage("payload", async () => {
        for (const part of parts) {
          await fs.mkdir(path.join(runDir, part.dir), { recursive: true });
          const made = await createOverlay(deps.exec, rootfsImage.base, rootfsImage.baseFormat, path.join(runDir, part.dir));
          overlays.push(made.overlay);
          deps.onProgress({ kind: "info", message: `rootfs: ${rootfsImage.base} behind the overlay ${made.overlay} (made in ${made.overlayMs} ms)` });
        }
      });
    return await bootGuestsWithRootfs(req, deps, { ...ctx, overlays, rootfsImage });
  } finally {
    if (!req.keepRootfs) for (const o of overlays) await fs.rm(o, { force: true });
  }
}

/** bootInGuests' boots, each guest with its overlay; a root file system a guest could not use ends the run as with one guest. */
async function bootGuestsWithRootfs(
  req: RunRequest,
  deps: PipelineDeps & { qemuBinary: string; profile: ArchProfile },
  ctx: GuestsContext & { overlays: string[]; rootfsImage?: RootfsImage },
): Promise<GuestsBoot> {
  const { runDir, kernel, accel, payload, shares, splitCases } = ctx;
  const { run: parsed, boot } = await inStage("boot", () =>
    timedStage(deps.onProgress, "boot", `${kernel.release ?? path.basename(kernel.path)} (${accel.accel}, ${shares.length} guests)`, () =>
      bootGuests(
        { exec: deps.exec, signal: deps.signal, onProgress: deps.onProgress },
        {
          kernel,
          payload,
          runDir,
          shares,
          accel: accel.accel,
          ...bootMachine(ctx.machine),
          qemuBinary: deps.qemuBinary,
          profile: deps.profile,
          append: req.append,
          bootTimeoutSec: req.bootTimeoutSec,
          failOnWarn: req.failOnWarn,
          splitCases,
          ...(ctx.overlays.length ? { rootfsDisks: ctx.overlays } : {}),
        },
      ),
    ),
  );
  const failure = ctx.rootfsImage ? await rootfsFailureInLogs(shares.map((_, k) => path.join(runDir, `guest-${k + 1}`, "console.log"))) : undefined;
  return { parsed, boot, ...(ctx.rootfsImage && failure ? { rootfsError: rootfsFailureError(ctx.rootfsImage, failure) } : {}) };
}

/**
 * The guests' shares: longest first by the last run's durations; with fewer programs than guests, the longest
 * bundled program is split by case (its case list from the selection, or from the compiled program's --list).
 * splitCases keeps a split program's whole case list, in its order, for joining its parts again.
 */
async function planShares(
  req: RunRequest,
  v: Validated,
  deps: PipelineDeps & { profile: ArchProfile },
  runDir: string,
  payload: Payload,
  jobs: number,
): Promise<{ shares: GuestProgram[][]; splitCases: Record<string, string[]> }> {
  const durations = await lastRunDurations(runDir, !req.outDir);
  const bundled = new Set(v.bundled.map((b) => b.program));
  const cases = new Map<string, string[]>();
  for (const b of v.bundled) if (b.cases?.length) cases.set(b.program, b.cases);
  if (payload.programs.length < jobs && payload.programs.some((p) => bundled.has(p.name) && !cases.has(p.name))) {
    const catalog = await listBundledCatalog(
      { exec: deps.exec, cacheRoot: deps.cacheRoot, repoRoot: deps.repoRoot, signal: deps.signal, profile: deps.profile },
      req.selftestDefines,
    );
    for (const e of catalog) if (!cases.has(e.program)) cases.set(e.program, [...e.cases]);
  }
  const shares = planGuests(payload.programs, jobs, durations, (name) => (bundled.has(name) ? cases.get(name) : undefined));
  const splitCases: Record<string, string[]> = {};
  for (const p of payload.programs) if (shares.filter((s) => s.some((x) => x.name === p.name)).length > 1) splitCases[p.name] = cases.get(p.name) ?? [];
  return { shares, splitCases };
}

function finishRun(
  run: RunResult,
  ctx: { runId: string; started: Date; kernel: KernelImage; req: RunRequest; boot?: BootResult; stages?: RunResult["stages"] },
): RunResult {
  const { consoleLogPath: _c, resultsLogPath: _r, ...bootInfo } = ctx.boot ?? ({} as Partial<BootResult>);
  return withExpectations(ctx.req.expectations, ctx.kernel, {
    ...run,
    runId: ctx.runId,
    startedAt: ctx.started.toISOString(),
    durationMs: Date.now() - ctx.started.getTime(),
    kernel: {
      release: ctx.kernel.release,
      path: ctx.kernel.path,
      source: ctx.kernel.source,
      cmdline: ctx.req.append.join(" ") || undefined,
      // The series under test, by subject, so report.html can say what was tested.
      ...(ctx.kernel.build?.patches?.length ? { patches: ctx.kernel.build.patches.map((p) => p.subject) } : {}),
    },
    boot: ctx.boot ? (bootInfo as RunResult["boot"]) : undefined,
    host: { peakRssKiB: process.resourceUsage().maxRSS },
    ...(ctx.stages?.length ? { stages: [...ctx.stages] } : {}),
    // A test-only selftest build (--selftest-define) is on record, so its verdicts are never read as the kernel's.
    ...(ctx.req.selftestDefines.length ? { payloadBuild: { selftestDefines: [...ctx.req.selftestDefines] } } : {}),
  });
}

/** Writes a small marker so a later reader knows the run ended abnormally before results existed. */
export async function writeRunError(runDir: string, err: unknown): Promise<void> {
  const e =
    err instanceof KharnessError
      ? { kind: err.kind, message: err.message, fix: err.fix, tail: err.tail }
      : { kind: "internal", message: String((err as Error)?.message ?? err) };
  await writeFileAtomic(path.join(runDir, "error.json"), JSON.stringify(e, null, 2) + "\n").catch(() => undefined);
}
