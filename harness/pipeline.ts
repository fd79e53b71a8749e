// request -> RunResult: kernel -> payload -> boot -> results -> reports, emitting progress events.
// Whatever happens (crash, timeout, interrupt), the run directory keeps the console log and what was parsed.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { KharnessError, UsageError } from "./errors.js";
import type { Exec } from "./exec/exec.js";
import { writeFileAtomic } from "./exec/files.js";
import { resolveDefaultKernel, resolveImageKernel } from "./kernel/default.js";
import { buildKernelFromTree, buildKselftests } from "./kernel/tree.js";
import { checkQemu } from "./doctor.js";
import { buildPayload, type ExtraGuestFiles } from "./payload/payload.js";
import { resolveAccel } from "./qemu/accel.js";
import { bootGuest } from "./qemu/boot.js";
import { defaultMachine, timeoutScale, X86_64 } from "./qemu/profiles.js";
import { writeReports } from "./write-reports.js";
import { createRunParser, RESULTS_SCHEMA_VERSION } from "./results/index.js";
import type { BootResult, KernelImage, ProgressSink, RunRequest, RunResult } from "./types.js";

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
}

export interface PipelineOutcome {
  run: RunResult;
  runDir: string;
  boot?: BootResult;
  /** Writing results.json/junit.xml/... failed (e.g. ENOSPC); the run itself is complete. */
  reportError?: unknown;
}

/** Modules the guest needs for its virtio console when the kernel has them as modules (Debian 6.1). */
function guestModules(): string[] {
  const transport = defaultMachine(X86_64).virtioTransport;
  return [transport === "pci" ? "virtio_pci" : "virtio_mmio", "virtio_console"];
}

/**
 * A tree's kselftest `settings` timeouts are written for real hardware, so they stretch with the emulation
 * (x3 under TCG). --timeout, which the user chose on this machine, is taken as given.
 */
function scaleKselftestTimeouts(extra: ExtraGuestFiles | undefined, accel: "kvm" | "tcg"): ExtraGuestFiles | undefined {
  if (!extra) return undefined;
  const k = timeoutScale(X86_64, accel);
  return { ...extra, programs: extra.programs.map((p) => ({ ...p, timeoutSec: Math.ceil(p.timeoutSec * k) })) };
}

/** A run id that sorts by time and is safe as a directory name. */
export function makeRunId(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}-${Math.random().toString(36).slice(2, 6)}`;
}

/**
 * The real reason a directory cannot be made: a recursive mkdir on a read-only filesystem reports ENOENT,
 * so ask the nearest existing ancestor (EROFS, EACCES, ENOTDIR for a regular file).
 */
async function explainUnwritable(dir: string, err: unknown): Promise<string> {
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  if (code !== "ENOENT") return code;
  let p = path.dirname(dir);
  for (;;) {
    const st = await fs.stat(p).catch(() => undefined);
    if (st) {
      if (!st.isDirectory()) return "ENOTDIR";
      return fs.access(p, fs.constants.W_OK).then(() => code, (e: NodeJS.ErrnoException) => e.code ?? code);
    }
    if (path.dirname(p) === p) return code;
    p = path.dirname(p);
  }
}

/** Creates the run directory (checking it is writable) and points ./kharness-out/latest at it. */
export async function prepareRunDir(req: RunRequest, cwd: string, runId: string): Promise<string> {
  const runDir = req.outDir ? path.resolve(cwd, req.outDir) : path.join(cwd, "kharness-out", runId);
  try {
    await fs.mkdir(runDir, { recursive: true });
    await fs.access(runDir, fs.constants.W_OK);
    const probe = path.join(runDir, `.write-test-${process.pid}`);
    await fs.writeFile(probe, "");
    await fs.rm(probe);
  } catch (e) {
    const code = await explainUnwritable(runDir, e);
    throw new UsageError(`--out ${req.outDir ?? runDir}: cannot write there (${code})`, { fix: "pass --out with a writable directory", cause: e, untestable: false });
  }
  if (!req.outDir) {
    const latest = path.join(cwd, "kharness-out", "latest");
    const tmp = `${latest}.tmp-${process.pid}`;
    await fs.rm(tmp, { force: true });
    await fs.symlink(runId, tmp);
    await fs.rename(tmp, latest);
  }
  return runDir;
}

async function getKernel(req: RunRequest, deps: PipelineDeps, runDir: string): Promise<{ kernel: KernelImage; extra?: ExtraGuestFiles }> {
  deps.onProgress({ kind: "stage", stage: "kernel" });
  const k = req.kernel;
  switch (k.kind) {
    case "default":
      return { kernel: await resolveDefaultKernel(deps.cacheRoot) };
    case "image":
      return { kernel: await resolveImageKernel(path.resolve(deps.cwd, k.path)) };
    case "tree": {
      const abs = { ...k, dir: path.resolve(deps.cwd, k.dir), patches: k.patches.map((p) => path.resolve(deps.cwd, p)), configs: k.configs.map((c) => (/^CONFIG_/.test(c) ? c : path.resolve(deps.cwd, c))) };
      const stageDeps = { exec: deps.exec, cacheRoot: deps.cacheRoot, runDir, signal: deps.signal, onProgress: deps.onProgress, repoRoot: deps.repoRoot };
      const kernel = await buildKernelFromTree(abs, stageDeps);
      const extra = req.kselftests.length ? await buildKselftests(kernel, req.kselftests, stageDeps) : undefined;
      return { kernel, extra };
    }
  }
}

/** Runs one request end to end. Throws KharnessError for usage/infra problems before the boot. */
export async function runPipeline(req: RunRequest, deps: PipelineDeps): Promise<PipelineOutcome> {
  const started = (deps.now ?? (() => new Date()))();
  const runId = makeRunId(started);
  const runDir = await prepareRunDir(req, deps.cwd, runId);
  deps.onProgress({ kind: "info", message: `run directory ${path.relative(deps.cwd, runDir) || "."}` });

  // A missing or too old QEMU must fail in a second, not after a 7-minute kernel build.
  const qemuBinary = deps.qemuBinary ?? X86_64.qemuBinary;
  await checkQemu(deps.exec, qemuBinary);
  const [{ kernel, extra }, accel] = await Promise.all([getKernel(req, deps, runDir), resolveAccel(req.accel, { exec: deps.exec, cacheDir: deps.cacheRoot, qemuBinary })]);
  if (kernel.configPath) await fs.copyFile(kernel.configPath, path.join(runDir, "kernel.config")).catch(() => undefined);
  deps.signal.throwIfAborted();

  const payload = await buildPayload(
    { exec: deps.exec, cacheRoot: deps.cacheRoot, repoRoot: deps.repoRoot, signal: deps.signal, onProgress: deps.onProgress },
    { kernel, tests: req.tests, programs: req.programs.map((p) => path.resolve(deps.cwd, p)), extra: scaleKselftestTimeouts(extra, accel.accel), timeoutSec: req.timeoutSec, selftestDefines: req.selftestDefines, wantedModules: guestModules(), outDir: runDir },
  );
  deps.signal.throwIfAborted();
  deps.onProgress({ kind: "plan", programs: payload.programs.map((p) => p.name) });

  deps.onProgress({ kind: "stage", stage: "boot", detail: `${kernel.release ?? path.basename(kernel.path)} (${accel.accel})` });
  const parser = createRunParser({ onEvent: deps.onProgress, failOnWarn: req.failOnWarn });
  let boot: BootResult;
  try {
    boot = await bootGuest(
      { exec: deps.exec, signal: deps.signal, onProgress: deps.onProgress },
      {
        kernel,
        payload,
        runDir,
        accel: accel.accel,
        qemuBinary: deps.qemuBinary,
        append: req.append,
        bootTimeoutSec: req.bootTimeoutSec,
        onConsole: (c) => parser.pushConsole(c),
        onResults: (c) => parser.pushResults(c),
      },
    );
  } catch (e) {
    // Even when the boot itself failed to start, keep what the parser saw.
    const run = finishRun(nameUnstartedPrograms(parser.finish({ end: "qemu-error", detail: (e as Error).message }), payload.programs), { runId, started, kernel, req });
    await writeReports(run, runDir, req.reports, { runId }).catch(() => undefined);
    throw e;
  }

  deps.onProgress({ kind: "stage", stage: "results" });
  const run = finishRun(nameUnstartedPrograms(parser.finish({ end: boot.end, detail: boot.endDetail }), payload.programs), { runId, started, kernel, req, boot });
  deps.onProgress({ kind: "stage", stage: "report" });
  // A full disk here must not hide the verdicts already parsed: the caller shows them, then the error.
  const reportError = await writeReports(run, runDir, req.reports, { runId }).then(() => undefined, (e: unknown) => e);
  return { run, runDir, boot, reportError };
}

/**
 * The guest's plan line only counts programs, so a program that never started (the kernel crashed
 * first) reaches the parser as a placeholder `test_N`. The host knows the manifest: name it after the
 * N-th program, so "not run: kernel crashed" says which test did not run.
 */
export function nameUnstartedPrograms(run: RunResult, programs: readonly { name: string }[]): RunResult {
  const taken = new Set(run.tests.map((t) => t.id));
  for (const [i, t] of run.tests.entries()) {
    const m = /^test_(\d+)$/.exec(t.name);
    const program = m ? programs[Number(m[1]) - 1] : undefined;
    if (!program || !t.unreported || t.children.length || taken.has(program.name) || Number(m![1]) !== i + 1) continue;
    taken.delete(t.id);
    taken.add(program.name);
    t.name = program.name;
    t.id = program.name;
    for (const e of t.kernelEvents) e.testId = program.name;
  }
  return run;
}

function finishRun(run: RunResult, ctx: { runId: string; started: Date; kernel: KernelImage; req: RunRequest; boot?: BootResult }): RunResult {
  const { consoleLogPath: _c, resultsLogPath: _r, ...bootInfo } = ctx.boot ?? ({} as Partial<BootResult>);
  return {
    ...run,
    schemaVersion: RESULTS_SCHEMA_VERSION,
    runId: ctx.runId,
    startedAt: ctx.started.toISOString(),
    durationMs: Date.now() - ctx.started.getTime(),
    kernel: { release: ctx.kernel.release, path: ctx.kernel.path, source: ctx.kernel.source, cmdline: ctx.req.append.join(" ") || undefined },
    boot: ctx.boot ? (bootInfo as RunResult["boot"]) : undefined,
    host: { peakRssKiB: process.resourceUsage().maxRSS },
  };
}

/** Writes a small marker so a later reader knows the run ended abnormally before results existed. */
export async function writeRunError(runDir: string, err: unknown): Promise<void> {
  const e = err instanceof KharnessError ? { kind: err.kind, message: err.message, fix: err.fix, tail: err.tail } : { kind: "internal", message: String((err as Error)?.message ?? err) };
  await writeFileAtomic(path.join(runDir, "error.json"), JSON.stringify(e, null, 2) + "\n").catch(() => undefined);
}

