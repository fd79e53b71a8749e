// What KCIDB wants to know beyond the verdicts, read from a run directory and the build cache: the tree, commit and
// patch series (with KCIDB's patchset_hash), the compiler and config, and the QEMU the guest ran in.

import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import type { Exec } from "./exec/exec.js";
import { firstLineOf } from "./exec/exec.js";
import type { BuildRecord } from "./kernel/tree-build.js";
import { X86_64 } from "./qemu/profiles.js";
import { kcidbExcerpt, renderKcidb, type KcidbOptions, type KcidbProvenance } from "./report/index.js";
import type { RunResult } from "./types.js";

/** A plain sha256 in hex, as sha256sum prints it (exec/cache.ts' sha256 separates parts, so it is not that). */
const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

const readText = (file: string) => fs.readFile(file, "utf8").catch(() => undefined);

/** KCIDB's patchset_hash: sha256 over each patch's sha256 (hex) plus a newline, in order; "" for no patches. */
export function kcidbPatchsetHash(patchSha256s: readonly string[]): string {
  return patchSha256s.length === 0 ? "" : sha256(patchSha256s.map((h) => `${h}\n`).join(""));
}

/** An https:// form of a git remote (`git@host:a/b.git`, `ssh://git@host/a/b`), or undefined when there is none. */
export function httpsRemote(url: string): string | undefined {
  const u = url.trim();
  if (/^https:\/\/[^\s]+$/.test(u)) return u;
  const scp = /^[\w.-]+@([\w.-]+):(.+)$/.exec(u);
  if (scp) return `https://${scp[1]}/${scp[2]}`;
  const ssh = /^(?:ssh|git):\/\/(?:[\w.-]+@)?([\w.-]+)(?::\d+)?\/(.+)$/.exec(u);
  if (ssh) return `https://${ssh[1]}/${ssh[2]}`;
  return undefined;
}

/** The `origin` remote's URL from a git tree's .git/config (read as text: no git process). */
async function originUrl(treeDir: string): Promise<string | undefined> {
  const text = await readText(path.join(treeDir, ".git", "config"));
  if (!text) return undefined;
  const section = /\[remote "origin"\]([^[]*)/.exec(text)?.[1];
  return section ? /^\s*url\s*=\s*(.+)$/m.exec(section)?.[1]?.trim() : undefined;
}

/** The build record of a tree kernel, when its cache entry (the directory of the booted image) still has it. */
async function buildRecordOf(run: RunResult): Promise<{ record: BuildRecord; entry: string } | undefined> {
  if (run.kernel?.source !== "tree" || !run.kernel.path) return undefined;
  const entry = path.dirname(run.kernel.path);
  const text = await readText(path.join(entry, "build.json"));
  if (!text) return undefined;
  try {
    return { record: JSON.parse(text) as BuildRecord, entry };
  } catch {
    return undefined;
  }
}

async function checkoutOf(built: { record: BuildRecord; entry: string } | undefined): Promise<KcidbProvenance["checkout"]> {
  if (!built) return undefined;
  const { record, entry } = built;
  const dir = path.join(entry, "patches");
  const files = (await fs.readdir(dir).catch(() => [] as string[])).sort();
  const patches: NonNullable<NonNullable<KcidbProvenance["checkout"]>["patches"]> = [];
  for (const [i, f] of files.entries()) {
    const file = path.join(dir, f);
    const text = await fs.readFile(file);
    // Named after the file the user gave (the Nth mail of an mbox gets -N); the URL is the text that was applied.
    const source = record.patches[i]?.source;
    const m = source ? /^(.*?)(?:#(\d+))?$/.exec(path.basename(source)) : null;
    const name = m?.[1] ? (m[2] ? `${m[1]}-${m[2]}` : m[1]) : f;
    patches.push({ name, url: pathToFileURL(file).href, sha256: sha256(text) });
  }
  const remote = record.tree.kind === "git" ? await originUrl(record.tree.dir) : undefined;
  return {
    treeUrl: remote ? httpsRemote(remote) : undefined,
    commit: record.tree.commit && /^[0-9a-f]{40}$/.test(record.tree.commit) ? record.tree.commit : undefined,
    patches,
    patchsetHash: kcidbPatchsetHash(patches.map((p) => p.sha256)),
    misc: {
      tree_kind: record.tree.kind,
      tree_identity: record.tree.identity,
      tree_dirty: record.tree.dirty,
      ...(remote && !httpsRemote(remote) ? { git_remote: remote } : {}),
      patch_subjects: record.patches.map((p) => p.subject),
    },
  };
}

/** The compiler a kernel was built with, from its own config (CONFIG_CC_VERSION_TEXT), for kernels kharness did not build. */
function ccFromConfig(config: string | undefined): string | undefined {
  return config ? /^CONFIG_CC_VERSION_TEXT="(.*)"$/m.exec(config)?.[1] : undefined;
}

/** Reads the provenance of a run: its directory (kernel.config, build.log, qemu-argv.txt) and its kernel's cache entry. */
export async function readKcidbProvenance(run: RunResult, runDir: string | undefined, exec?: Exec): Promise<KcidbProvenance> {
  const file = (name: string) => (runDir ? path.join(runDir, name) : undefined);
  const configPath = file("kernel.config");
  const config = configPath ? await readText(configPath) : undefined;
  const buildLogPath = file("build.log");
  const buildLog = buildLogPath ? await readText(buildLogPath) : undefined;
  const built = await buildRecordOf(run);
  const r = built?.record;
  const configName = r
    ? [r.baseConfig === "tiny" ? "tinyconfig" : "defconfig", ...r.fragments.map((f) => path.basename(f).replace(/\.config$/, ""))].join("+")
    : run.kernel?.source === "default"
      ? `debian-${run.kernel.release ?? "default"}`
      : undefined;
  const startTime = r ? new Date(Date.parse(r.builtAt) - r.durationMs).toISOString() : undefined;
  const argvPath = file("qemu-argv.txt");
  const qemuBinary = argvPath ? (await readText(argvPath))?.trim().split(/\s+/)[0] : undefined;
  let qemuVersion: string | undefined;
  if (exec && qemuBinary) {
    const line = await firstLineOf(exec, [qemuBinary, "--version"]).catch(() => undefined);
    qemuVersion = line ? (/version\s+(\S+)/i.exec(line)?.[1] ?? line) : undefined;
  }
  return {
    checkout:
      (await checkoutOf(built)) ??
      (run.kernel?.source === "default" ? { treeName: "debian", misc: { kernel_package_release: run.kernel.release } } : undefined),
    build: {
      compiler: r?.compiler ?? ccFromConfig(config),
      architecture: X86_64.arch,
      configName,
      configSha256: config !== undefined ? sha256(config) : undefined,
      configUrl: config !== undefined && configPath ? pathToFileURL(configPath).href : undefined,
      durationMs: r?.durationMs,
      startTime: startTime && !startTime.startsWith("Invalid") ? startTime : undefined,
      logExcerpt: buildLog ? kcidbExcerpt(buildLog.split("\n").filter(Boolean).slice(-200)) : undefined,
      logUrl: buildLog !== undefined && buildLogPath ? pathToFileURL(buildLogPath).href : undefined,
      misc: r
        ? {
            cache_key: r.key,
            // build.log is written only when this run ran make; without it the kernel came from the cache.
            cache_hit: buildLog === undefined,
            linker: r.linker,
            fragments: r.fragments,
            ...(r.startedFrom ? { incremental_from: r.startedFrom.key } : {}),
          }
        : undefined,
    },
    environment: run.boot ? { qemuVersion, qemuBinary, machine: run.boot.machine, accel: run.boot.accel } : undefined,
  };
}

/** The KCIDB submission of a run, with its provenance. */
export async function renderKcidbForRun(run: RunResult, runDir: string | undefined, opts: KcidbOptions, exec?: Exec): Promise<string> {
  return renderKcidb(run, { ...opts, provenance: opts.provenance ?? (await readKcidbProvenance(run, runDir, exec)) });
}
