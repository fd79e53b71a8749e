// --shard I/N: this machine's part of the test list (the same on every machine), and the identity a shard
// records in manifest.json so that `kharness merge` can check it is joining parts of one run.

import { promises as fs } from "node:fs";
import { UsageError } from "../errors.js";
import type { GuestFiles, KernelImage } from "../types.js";
import { assignShards, parseDurations, stableHash64, testListId, type ShardAlgorithm } from "./split.js";

/** What --shard and --durations asked for, with the durations file read. */
export interface ShardPlan {
  index: number;
  count: number;
  durations?: Map<string, number>;
  /** Identity of the durations file's content, when given. */
  durationsId?: string;
}

/** A shard's identity, as manifest.json records it (`shard`). */
export interface ShardRecord {
  /** 1-based. */
  index: number;
  count: number;
  algorithm: ShardAlgorithm;
  /** testListId of the whole list (every shard of one run has the same). */
  listId: string;
  /** The whole list, in run order; this shard ran `programs` of manifest.json. */
  tests: string[];
  durationsId?: string;
  /** The kernel it ran on: shards of one run share it. */
  kernel: { release?: string; source: KernelImage["source"]; cacheKey?: string };
}

/** Reads --durations FILE for a --shard run; a bad file is a usage error naming it. */
export async function loadShardPlan(shard: { index: number; count: number }, durationsFile: string | undefined): Promise<ShardPlan> {
  if (!durationsFile) return { ...shard };
  const text = await fs.readFile(durationsFile, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`--durations ${durationsFile}: cannot read it (${e.code ?? e.message})`, {
      fix: 'give a results.json of an earlier run, or a JSON object {"program": milliseconds}',
      untestable: false,
    });
  });
  try {
    const durations = parseDurations(text, `--durations ${durationsFile}`);
    return { ...shard, durations, durationsId: stableHash64(text).toString(16).padStart(16, "0") };
  } catch (e) {
    throw new UsageError((e as Error).message, { fix: 'give a results.json of an earlier run, or a JSON object {"program": milliseconds}', untestable: false });
  }
}

/** The programs a shard keeps, by name, and its record (the kernel filled in by the caller). */
export function selectShard(plan: ShardPlan, names: readonly string[]): { keep: Set<string>; record: Omit<ShardRecord, "kernel"> } {
  const of = assignShards(names, plan.count, plan.durations);
  const keep = new Set(names.filter((_, i) => of[i] === plan.index - 1));
  if (keep.size === 0)
    throw new UsageError(`--shard ${plan.index}/${plan.count}: the test list has ${names.length} program(s), so this shard has none`, {
      fix: `use at most ${names.length} shards`,
      untestable: false,
    });
  return {
    keep,
    record: {
      index: plan.index,
      count: plan.count,
      algorithm: plan.durations ? "durations" : "rendezvous",
      listId: testListId(names),
      tests: [...names],
      ...(plan.durationsId ? { durationsId: plan.durationsId } : {}),
    },
  };
}

/** Applies a shard to the run's programs: the bundled selection, the user's programs and a tree's kselftests. */
export function shardPrograms<B extends { program: string }, U extends { name: string }>(
  plan: ShardPlan,
  sel: { bundled: B[]; users: U[]; kselftests?: GuestFiles },
): { bundled: B[]; users: U[]; kselftests?: GuestFiles; record: Omit<ShardRecord, "kernel"> } {
  const names = [...sel.bundled.map((b) => b.program), ...sel.users.map((u) => u.name), ...(sel.kselftests?.programs.map((p) => p.name) ?? [])];
  const { keep, record } = selectShard(plan, names);
  return {
    bundled: sel.bundled.filter((b) => keep.has(b.program)),
    users: sel.users.filter((u) => keep.has(u.name)),
    ...(sel.kselftests ? { kselftests: { ...sel.kselftests, programs: sel.kselftests.programs.filter((p) => keep.has(p.name)) } } : {}),
    record,
  };
}
