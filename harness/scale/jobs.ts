// --jobs N: one payload booted in N guests at once, each running its share of the programs (longest first by the
// last run's durations), their results joined into one run. Each guest keeps its own directory (guest-K/).

import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { InfraError } from "../errors.js";
import { writeFileAtomic } from "../exec/cache.js";
import { guestManifestOverlay } from "../payload/payload.js";
import { bootGuest, type BootDeps, type BootOpts } from "../qemu/boot.js";
import type { ArchProfile } from "../qemu/profiles.js";
// json.ts alone: report/index.js would load every renderer (HTML, JUnit, KCIDB) before QEMU starts (issue 16).
import { renderJson } from "../report/json.js";
import { createRunParser, makeRunManifest, type RunManifest } from "../results/index.js";
import type { BootResult, GuestProgram, Payload, RunResult } from "../types.js";
import { mergeBoots, mergeRunParts, type PartBoot } from "./merge-runs.js";
import { splitLongestFirst } from "./split.js";

/** QEMU's own memory beside the guest's RAM, per guest, in MiB (a generous TCG figure: code cache, devices). */
const QEMU_OVERHEAD_MIB = 160;

/** A part of a run kept in its own directory (a guest of --jobs, a shard joined by `kharness merge`). */
export interface RunPartRecord {
  /** Directory relative to the run directory (guest-1, shard-2). */
  dir: string;
  /** Its programs, in the order it ran them. */
  programs: string[];
}

/** The fields manifest.json gains in a run made of parts (read by `kharness parse` and `kharness merge`). */
export interface PartsManifest extends RunManifest {
  /** Set when the run was split: each part's directory holds its own console.log, results.log and manifest.json. */
  parts?: RunPartRecord[];
  /** --jobs N as run (after being capped at the number of programs). */
  jobs?: number;
  /** Programs split by case over several guests: each one's whole case list, in its order. */
  splitCases?: Record<string, string[]>;
}

/** The number of guests for --jobs: "auto" is the host's CPU count; never more than the programs to run. */
export function resolveJobs(jobs: number | "auto", programs: number, cpus = os.availableParallelism()): number {
  const n = jobs === "auto" ? cpus : jobs;
  return Math.max(1, Math.min(n, programs));
}

/** MemAvailable from /proc/meminfo in MiB (os.freemem() where there is none). */
async function availableMiB(): Promise<number> {
  const text = await fs.readFile("/proc/meminfo", "utf8").catch(() => "");
  const m = /^MemAvailable:\s+(\d+)\s+kB/m.exec(text);
  return m ? Number(m[1]) / 1024 : os.freemem() / 1024 / 1024;
}

/** Refuses to start guests the host cannot hold: each needs the profile's RAM plus QEMU's own. */
export async function checkGuestMemory(jobs: number, profile: ArchProfile, available?: number): Promise<void> {
  const per = profile.memoryMiB + QEMU_OVERHEAD_MIB;
  const have = available ?? (await availableMiB());
  if (jobs * per > have) {
    const fit = Math.max(1, Math.floor(have / per));
    throw new InfraError(
      `--jobs ${jobs}: ${jobs} guests need about ${jobs * per} MiB (${profile.memoryMiB} MiB RAM + ${QEMU_OVERHEAD_MIB} MiB QEMU each), the host has ${Math.floor(have)} MiB available`,
      { fix: `use --jobs ${fit} or fewer, or free memory`, untestable: false },
    );
  }
}

/**
 * Durations of the last run, by program: the run directory's own results.json when it is reused, else (for a
 * default run directory) the newest sibling run's. Empty when none is readable.
 */
export async function lastRunDurations(runDir: string, defaultLayout: boolean): Promise<Map<string, number>> {
  const candidates = [path.join(runDir, "results.json")];
  if (defaultLayout) {
    const parent = path.dirname(runDir);
    const names = await fs.readdir(parent).catch(() => [] as string[]);
    const runs = names.filter((n) => /^\d{8}-\d{6}-/.test(n) && n !== path.basename(runDir)).sort();
    for (const n of runs.reverse()) candidates.push(path.join(parent, n, "results.json"));
  }
  for (const file of candidates.slice(0, 20)) {
    const text = await fs.readFile(file, "utf8").catch(() => undefined);
    if (text === undefined) continue;
    try {
      const doc = JSON.parse(text) as { tests?: { id?: unknown; durationMs?: unknown }[] };
      const out = new Map<string, number>();
      for (const t of doc.tests ?? []) if (typeof t.id === "string" && typeof t.durationMs === "number") out.set(t.id, t.durationMs);
      if (out.size) return out;
    } catch {
      // A damaged results.json only costs the balance: try the next one.
    }
  }
  return new Map();
}

/**
 * The guests' shares of the programs: longest first by the given durations, each share in the run's order.
 * With fewer programs than guests, the longest program whose cases are known (`casesOf`, a bundled program's)
 * is split by case into as many parts as the spare guests allow: each part runs the program with its cases
 * (dealt in turn, so each part gets some of every fixture) as arguments, and the results join them again.
 */
export function planGuests(
  programs: readonly GuestProgram[],
  jobs: number,
  durations: ReadonlyMap<string, number>,
  casesOf?: (name: string) => readonly string[] | undefined,
): GuestProgram[][] {
  const items: { prog: GuestProgram; key: string; durationMs?: number }[] = programs.map((p) => ({
    prog: p,
    key: p.name,
    ...(durations.has(p.name) ? { durationMs: durations.get(p.name) } : {}),
  }));
  const candidates =
    casesOf && programs.length < jobs ? programs.map((p, i) => ({ p, i, cases: casesOf(p.name) ?? [] })).filter((c) => c.cases.length >= 2) : [];
  const longest = candidates.sort(
    (a, b) => (durations.get(b.p.name) ?? -1) - (durations.get(a.p.name) ?? -1) || b.cases.length - a.cases.length || a.i - b.i,
  )[0];
  if (longest) {
    const k = Math.min(jobs - programs.length + 1, longest.cases.length);
    const total = durations.get(longest.p.name);
    const parts = Array.from({ length: k }, (_, j) => longest.cases.filter((_, c) => c % k === j));
    items.splice(
      longest.i,
      1,
      ...parts.map((cases, j) => ({
        prog: { ...longest.p, args: [...cases] },
        key: `${longest.p.name}#${j}`,
        ...(total !== undefined ? { durationMs: (total * cases.length) / longest.cases.length } : {}),
      })),
    );
  }
  return splitLongestFirst(
    items.map((x) => ({ name: x.key, ...(x.durationMs !== undefined ? { durationMs: x.durationMs } : {}) })),
    jobs,
  )
    .filter((bin) => bin.length > 0)
    .map((bin) => bin.map((i) => (items[i] as (typeof items)[number]).prog));
}

/** What bootGuests needs beyond bootGuest's options. */
export interface GuestsOpts extends Omit<BootOpts, "runDir" | "payload" | "onConsole" | "onResults"> {
  payload: Payload;
  runDir: string;
  shares: GuestProgram[][];
  failOnWarn: boolean;
  /** Programs split by case over several guests, with their whole case list (PartsManifest.splitCases). */
  splitCases?: Record<string, string[]>;
  /** --rootfs: guest K boots rootfsDisks[K], its own overlay (made and removed by the caller). */
  rootfsDisks?: readonly string[];
}

/**
 * Boots one guest per share at once, each from the payload's initramfs with its share's manifest appended, in
 * guest-K/ (console.log, results.log, qemu-argv.txt, replay.sh, initramfs.cpio, manifest.json). A guest that
 * crashes or hangs ends alone; the others run on. Abort (Ctrl-C) stops every guest; logs are kept. Writes the
 * run directory's console.log (every guest's, each under a header). Returns the joined run (identity, kernel
 * and times left to the caller) and the joined boot.
 */
export async function bootGuests(deps: BootDeps, opts: GuestsOpts): Promise<{ run: RunResult; boot: BootResult; parts: RunPartRecord[] }> {
  const base = await fs.readFile(opts.payload.initramfsPath);
  const parts: RunPartRecord[] = opts.shares.map((share, k) => ({ dir: `guest-${k + 1}`, programs: share.map((p) => p.name) }));
  const outcomes = await Promise.all(
    opts.shares.map(async (share, k) => {
      const label = (parts[k] as RunPartRecord).dir;
      const dir = path.join(opts.runDir, label);
      await fs.mkdir(dir, { recursive: true });
      const initramfsPath = path.join(dir, "initramfs.cpio");
      await writeFileAtomic(initramfsPath, Buffer.concat([base, guestManifestOverlay(share)]));
      await writeFileAtomic(path.join(dir, "manifest.json"), JSON.stringify(makeRunManifest(share, { failOnWarn: opts.failOnWarn }), null, 2) + "\n");
      const parser = createRunParser({
        ...(deps.onProgress ? { onEvent: deps.onProgress } : {}),
        failOnWarn: opts.failOnWarn,
        now: Date.now,
        programs: share,
      });
      const { shares: _s, failOnWarn: _f, splitCases: _sc, rootfsDisks, ...bootOpts } = opts;
      let boot: BootResult;
      try {
        boot = await bootGuest(deps, {
          ...bootOpts,
          payload: { ...opts.payload, initramfsPath, programs: share },
          runDir: dir,
          ...(rootfsDisks?.[k] ? { rootfsDisk: rootfsDisks[k] } : {}),
          onConsole: (c) => parser.pushConsole(c),
          onResults: (c) => parser.pushResults(c),
        });
      } catch (e) {
        // QEMU could not even start for this guest: its programs are reported as not run, the others stand.
        const detail = (e as Error).message;
        const run = parser.finish({ end: "qemu-error", detail });
        const failed: PartBoot = { end: "qemu-error", endDetail: detail, accel: opts.accel, machine: opts.machine ?? "", durations: { totalMs: 0 } };
        return { label, run, boot: failed };
      }
      const run = parser.finish({ end: boot.end, ...(boot.endDetail ? { detail: boot.endDetail } : {}) });
      const { consoleLogPath: _c, resultsLogPath: _r, ...info } = boot;
      // This guest's own verdicts and how it ended (`kharness parse guest-K` reads the end from here).
      await writeFileAtomic(path.join(dir, "results.json"), renderJson({ ...run, boot: info })).catch(() => undefined);
      return { label, run, boot: info as PartBoot };
    }),
  );
  await writeJoinedConsole(opts.runDir, parts);
  const run = mergeRunParts(
    outcomes.map((o) => ({ label: o.label, run: o.run })),
    opts.payload.programs.map((p) => p.name),
    (name) => opts.splitCases?.[name],
  );
  const boot = mergeBoots(outcomes) as PartBoot;
  return {
    run,
    boot: { ...boot, consoleLogPath: path.join(opts.runDir, "console.log"), resultsLogPath: path.join(opts.runDir, "guest-1", "results.log") },
    parts,
  };
}

/** The run directory's console.log for a run of parts: each part's console.log under a `==> DIR <==` header. */
export async function writeJoinedConsole(runDir: string, parts: readonly RunPartRecord[]): Promise<void> {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`==> ${p.dir}/console.log (${p.programs.join(" ")}) <==\n`));
    const log = await fs.readFile(path.join(runDir, p.dir, "console.log")).catch(() => Buffer.from("(no console log)\n"));
    chunks.push(log);
    if (log.length && log[log.length - 1] !== 0x0a) chunks.push(Buffer.from("\n"));
  }
  await writeFileAtomic(path.join(runDir, "console.log"), Buffer.concat(chunks));
}
