// A run's two logs (console + results port) and its manifest -> RunResult, with the same parser as the live run.

import type { BootResult, RunResult } from "../types.js";
import { createRunParser, nameUnstartedTests, type RunParserOptions, type StreamEnd } from "./parse-run.js";

/** Version of manifest.json (docs/results-schema.md). */
export const MANIFEST_VERSION = 1;

/**
 * What the host knew about a run before the boot and the logs do not say: the programs in the order init runs
 * them (the guest's plan only counts them), and the run's options that change verdicts. Written as manifest.json.
 */
export interface RunManifest {
  schemaVersion: number;
  /** The programs init runs, in order. */
  programs: { name: string; guestPath?: string; timeoutSec?: number; args?: string[] }[];
  /** The run's --fail-on-warn. */
  failOnWarn?: boolean;
}

/** A problem with a manifest.json, worded for the user; thrown by parseRunManifest. */
export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ManifestError";
  }
}

/** Reads manifest.json text; throws ManifestError naming `source` when it is not one. */
export function parseRunManifest(text: string, source: string): RunManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${source}: not JSON (${(e as Error).message})`);
  }
  const m = doc as Partial<RunManifest> | null;
  if (
    !m ||
    typeof m !== "object" ||
    m.schemaVersion !== MANIFEST_VERSION ||
    !Array.isArray(m.programs) ||
    !m.programs.every((p) => p && typeof p.name === "string")
  )
    throw new ManifestError(`${source}: not a kharness manifest (want {"schemaVersion": ${MANIFEST_VERSION}, "programs": [{"name": ...}, ...]})`);
  return { schemaVersion: m.schemaVersion, programs: m.programs, ...(typeof m.failOnWarn === "boolean" ? { failOnWarn: m.failOnWarn } : {}) };
}

/** The manifest of a payload's programs, as the pipeline writes it before the boot. */
export function makeRunManifest(
  programs: readonly { name: string; guestPath?: string; timeoutSec?: number; args?: string[] }[],
  opts: { failOnWarn: boolean },
): RunManifest {
  return {
    schemaVersion: MANIFEST_VERSION,
    programs: programs.map((p) => ({
      name: p.name,
      ...(p.guestPath ? { guestPath: p.guestPath } : {}),
      ...(p.timeoutSec !== undefined ? { timeoutSec: p.timeoutSec } : {}),
      ...(p.args?.length ? { args: p.args } : {}),
    })),
    failOnWarn: opts.failOnWarn,
  };
}

/**
 * The programs of a run, from its initramfs.cpio (a cpio "newc" archive): the guest's own `kharness/manifest`,
 * one program per line, name first, tab-separated (docs/guest-protocol.md). Undefined when the archive has no
 * manifest or is not a newc archive: a run directory written before manifest.json existed still has this one.
 */
export function programsFromInitramfs(archive: Uint8Array): RunManifest["programs"] | undefined {
  const manifest = readCpioEntry(archive, "kharness/manifest");
  if (!manifest) return undefined;
  const lines = Buffer.from(manifest.buffer, manifest.byteOffset, manifest.byteLength)
    .toString("utf8")
    .split("\n")
    .filter((l) => l.length > 0);
  return lines.map((l) => {
    const [name = "", guestPath, timeout] = l.split("\t");
    const timeoutSec = Number(timeout);
    return { name, ...(guestPath ? { guestPath } : {}), ...(Number.isFinite(timeoutSec) && timeout ? { timeoutSec } : {}) };
  });
}

/**
 * A file's bytes from a cpio "newc" archive (such as a run's initramfs.cpio; `./name` matches too), or undefined
 * when it is not there or the archive is not newc. The reading half of payload/cpio.ts's writer, kept pure.
 */
export function readCpioEntry(archive: Uint8Array, name: string): Uint8Array | undefined {
  const buf = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  const align = (n: number) => (n + 3) & ~3;
  let at = 0;
  while (at + 110 <= buf.length && buf.toString("latin1", at, at + 6) === "070701") {
    // Header fields are 8 hex digits each after the 6-byte magic: the 7th is the file size, the 12th the name size.
    const hex = (i: number) => Number.parseInt(buf.toString("latin1", at + 6 + i * 8, at + 14 + i * 8), 16);
    const size = hex(6);
    const nameSize = hex(11);
    if (!Number.isFinite(size) || !Number.isFinite(nameSize) || nameSize < 1) return undefined;
    const entry = buf.toString("utf8", at + 110, at + 110 + nameSize - 1);
    const data = align(at + 110 + nameSize);
    if (entry === "TRAILER!!!") return undefined;
    if (entry === name || entry === `./${name}`) return archive.subarray(data, data + size);
    at = align(data + size);
  }
  return undefined;
}

/**
 * Names a finished run's never-started programs from a manifest (the parser does this itself when given
 * `programs`; this is for a run parsed without them). Mutates and returns `run`.
 */
export function nameUnstartedPrograms(run: RunResult, programs: readonly { name: string }[]): RunResult {
  nameUnstartedTests(run.tests, programs);
  return run;
}

/** A log as chunks: one string or Buffer, or a (possibly async) sequence of them, e.g. a file read stream. */
export type LogChunks = string | Uint8Array | Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>;

/** The logs of one boot. */
export interface RunLogs {
  console: LogChunks;
  results?: LogChunks;
  manifest?: RunManifest;
  /** How the boot ended, when known (a run's results.json `boot.end`); default: end of file. */
  end?: StreamEnd;
}

async function feed(input: LogChunks | undefined, push: (c: string | Uint8Array) => void): Promise<void> {
  if (input === undefined) return;
  if (typeof input === "string" || input instanceof Uint8Array) push(input);
  else if (Symbol.asyncIterator in input) for await (const c of input) push(c);
  else for (const c of input) push(c);
}

/**
 * Parses one boot's console log and results-port log with the two-stream parser the pipeline uses, then names
 * never-started programs from the manifest. The results come first: with init's kmsg markers (every kharness
 * run) attribution does not depend on how the two streams interleaved. failOnWarn defaults to the manifest's.
 */
export async function parseRunLogs(logs: RunLogs, opts: RunParserOptions = {}): Promise<RunResult> {
  const failOnWarn = opts.failOnWarn ?? logs.manifest?.failOnWarn ?? false;
  const programs = opts.programs ?? logs.manifest?.programs;
  const p = createRunParser({ ...opts, failOnWarn, ...(programs ? { programs } : {}) });
  await feed(logs.results, (c) => p.pushResults(c));
  await feed(logs.console, (c) => p.pushConsole(c));
  return p.finish(logs.end ?? { end: "eof" });
}

/** The boot fields of a previous results.json worth keeping when its run is parsed again. */
export function bootFromResultsJson(doc: unknown): {
  end?: StreamEnd;
  boot?: RunResult["boot"];
  runId?: string;
  startedAt?: string;
  durationMs?: number;
  kernel?: RunResult["kernel"];
} {
  if (!doc || typeof doc !== "object") return {};
  const d = doc as Partial<RunResult>;
  const out: ReturnType<typeof bootFromResultsJson> = {};
  const boot = d.boot as Partial<BootResult> | undefined;
  const ENDS: readonly string[] = ["poweroff", "panic", "timeout", "idle", "boot-timeout", "qemu-error", "interrupted"];
  if (boot && typeof boot.end === "string" && ENDS.includes(boot.end)) {
    out.end = { end: boot.end, ...(typeof boot.endDetail === "string" ? { detail: boot.endDetail } : {}) };
    out.boot = boot as RunResult["boot"];
  }
  if (typeof d.runId === "string") out.runId = d.runId;
  if (typeof d.startedAt === "string") out.startedAt = d.startedAt;
  if (typeof d.durationMs === "number") out.durationMs = d.durationMs;
  if (d.kernel && typeof d.kernel === "object") out.kernel = d.kernel;
  return out;
}
