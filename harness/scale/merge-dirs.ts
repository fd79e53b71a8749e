// `kharness merge DIR... --out DIR`: shard run directories (--shard I/N) -> one run directory, after checking that
// they are every shard of one test list on one kernel, each exactly once.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { UsageError } from "../errors.js";
import { writeFileAtomic } from "../exec/cache.js";
import { MANIFEST_VERSION } from "../results/index.js";
import type { RunResult } from "../types.js";
import { writeJoinedConsole, type PartsManifest, type RunPartRecord } from "./jobs.js";
import { mergeBoots, mergeRunParts, type PartBoot } from "./merge-runs.js";
import type { ShardRecord } from "./shard.js";

/** One shard directory as read. */
interface ShardDir {
  dir: string;
  shard: ShardRecord;
  manifest: PartsManifest;
  run: RunResult;
}

function refuse(message: string, fix: string): never {
  throw new UsageError(message, { fix, untestable: false });
}

async function readShardDir(dir: string): Promise<ShardDir> {
  const read = async (name: string) =>
    fs
      .readFile(path.join(dir, name), "utf8")
      .catch((e: NodeJS.ErrnoException) =>
        refuse(`merge ${dir}: no ${name} (${e.code ?? e.message})`, "pass the run directories of `kharness run --shard I/N`, after each finished"),
      );
  let manifest: PartsManifest & { shard?: ShardRecord };
  let run: RunResult;
  try {
    manifest = JSON.parse(await read("manifest.json")) as typeof manifest;
    run = JSON.parse(await read("results.json")) as RunResult;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    return refuse(`merge ${dir}: damaged manifest.json or results.json (${(e as Error).message})`, "run that shard again");
  }
  const s = manifest.shard;
  if (!s || typeof s.index !== "number" || typeof s.count !== "number" || typeof s.listId !== "string" || !Array.isArray(s.tests))
    refuse(`merge ${dir}: not a shard (its manifest.json has no shard record)`, "run it with `kharness run --shard I/N`");
  if (!Array.isArray(run.tests)) refuse(`merge ${dir}: results.json holds no tests`, "run that shard again");
  return { dir, shard: s, manifest, run };
}

/** Every problem with a set of shards, worded for the user: other lists or kernels, duplicates, gaps. */
export function shardSetProblems(shards: readonly { dir: string; shard: ShardRecord }[]): string[] {
  const problems: string[] = [];
  const first = shards[0];
  if (!first) return ["merge needs at least one shard directory"];
  const label = (s: ShardRecord) => `${s.index}/${s.count}`;
  for (const x of shards.slice(1)) {
    const a = first.shard;
    const b = x.shard;
    if (a.count !== b.count || a.listId !== b.listId || a.algorithm !== b.algorithm || a.durationsId !== b.durationsId)
      problems.push(
        `${x.dir} (shard ${label(b)}) split another test list than ${first.dir} (shard ${label(a)}): ${a.count !== b.count ? "another shard count" : a.listId !== b.listId ? "other tests" : "other durations"}`,
      );
    else if (a.kernel?.release !== b.kernel?.release || a.kernel?.source !== b.kernel?.source || a.kernel?.cacheKey !== b.kernel?.cacheKey)
      problems.push(
        `${x.dir} (shard ${label(b)}) ran kernel ${b.kernel?.release ?? "?"}${b.kernel?.cacheKey ? ` [${b.kernel.cacheKey.slice(0, 12)}]` : ""}, ${first.dir} ran ${a.kernel?.release ?? "?"}${a.kernel?.cacheKey ? ` [${a.kernel.cacheKey.slice(0, 12)}]` : ""}`,
      );
  }
  if (problems.length) return problems;
  const byIndex = new Map<number, string[]>();
  for (const x of shards) byIndex.set(x.shard.index, [...(byIndex.get(x.shard.index) ?? []), x.dir]);
  for (const [i, dirs] of [...byIndex].sort((a, b) => a[0] - b[0]))
    if (dirs.length > 1) problems.push(`shard ${i}/${first.shard.count} given ${dirs.length} times: ${dirs.join(", ")}`);
  for (let i = 1; i <= first.shard.count; i++) if (!byIndex.has(i)) problems.push(`shard ${i}/${first.shard.count} is missing`);
  return problems;
}

/**
 * Reads the shard directories, checks them (UsageError listing every problem: exit 2), and writes the joined run
 * directory: manifest.json (the whole list, and each shard's directory as a part), shard-I/ (each shard's logs,
 * manifest and results, without its initramfs) and console.log (every shard's, under headers). Returns the run;
 * the caller writes the reports.
 */
export async function mergeShardDirs(dirs: readonly string[], outDir: string, runId: string): Promise<RunResult> {
  const out = path.resolve(outDir);
  for (const d of dirs) if (path.resolve(d) === out) refuse(`merge --out ${outDir}: it is also one of the shards`, "give --out a new directory");
  const shards = await Promise.all(dirs.map((d) => readShardDir(d)));
  const problems = shardSetProblems(shards);
  if (problems.length)
    throw new UsageError(problems.length === 1 ? `merge: ${problems[0]}` : `merge: ${problems.length} problems:\n  ${problems.join("\n  ")}`, {
      fix: "pass each shard's run directory exactly once, all from the same test list and kernel",
      untestable: false,
    });
  shards.sort((a, b) => a.shard.index - b.shard.index);
  const first = shards[0] as ShardDir;
  await fs.mkdir(out, { recursive: true });
  const parts: RunPartRecord[] = [];
  for (const s of shards) {
    const dir = `shard-${s.shard.index}`;
    await fs.rm(path.join(out, dir), { recursive: true, force: true });
    await fs.cp(s.dir, path.join(out, dir), {
      recursive: true,
      filter: (src) => !/(^|\/)(initramfs\.cpio|\.kharness\.lock)$/.test(src),
    });
    parts.push({ dir, programs: s.manifest.programs.map((p) => p.name) });
  }
  const run = mergeRunParts(
    shards.map((s) => ({ label: `shard-${s.shard.index}`, run: s.run })),
    first.shard.tests,
  );
  const boots = shards.filter((s) => s.run.boot).map((s) => ({ label: `shard-${s.shard.index}`, boot: s.run.boot as PartBoot }));
  const boot = mergeBoots(boots);
  const starts = shards
    .map((s) => s.run.startedAt)
    .filter((x): x is string => typeof x === "string")
    .sort();
  const manifest: PartsManifest = {
    schemaVersion: MANIFEST_VERSION,
    programs: first.shard.tests.map((name) => ({ name })),
    failOnWarn: first.manifest.failOnWarn ?? false,
    parts,
  };
  await writeFileAtomic(path.join(out, "manifest.json"), JSON.stringify({ ...manifest, shards: first.shard.count }, null, 2) + "\n");
  await writeJoinedConsole(out, parts);
  return {
    ...run,
    runId,
    ...(starts[0] ? { startedAt: starts[0] } : {}),
    // The wall clock of the slowest shard: shards run side by side in a CI matrix.
    durationMs: Math.max(0, ...shards.map((s) => s.run.durationMs ?? 0)),
    ...(first.run.kernel ? { kernel: first.run.kernel } : {}),
    ...(boot ? { boot } : {}),
  };
}
