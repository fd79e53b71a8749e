// Pure: how a test list is divided between the guests of a --jobs run and between the shards of a CI matrix.

/** One unit of work (a guest program) and how long it took last time, when known. */
export interface WorkItem {
  name: string;
  durationMs?: number;
}

/** The weight of an item whose duration is unknown: the median of the known ones, or 1 when none is known. */
function weights(items: readonly WorkItem[]): number[] {
  const known = items
    .map((i) => i.durationMs)
    .filter((d): d is number => typeof d === "number" && Number.isFinite(d) && d >= 0)
    .sort((a, b) => a - b);
  const median = known.length ? (known[Math.floor((known.length - 1) / 2)] as number) : 1;
  return items.map((i) => (typeof i.durationMs === "number" && Number.isFinite(i.durationMs) && i.durationMs >= 0 ? i.durationMs : median));
}

/**
 * Longest processing time first: items sorted by weight (longest first; equal weights by name), each given to
 * the bin with the least total so far (the lowest index on a tie). Returns, per bin, the indices of its items in
 * the order of `items` (a guest runs its programs in the run's order). Bins may stay empty when there are fewer
 * items than bins. Deterministic for the same items and weights.
 */
export function splitLongestFirst(items: readonly WorkItem[], bins: number): number[][] {
  if (!Number.isSafeInteger(bins) || bins < 1) throw new RangeError(`bins must be a whole number >= 1, got ${bins}`);
  const w = weights(items);
  const order = items.map((_, i) => i).sort((a, b) => (w[b] as number) - (w[a] as number) || cmp(items[a]!.name, items[b]!.name) || a - b);
  const load = new Array<number>(bins).fill(0);
  const out: number[][] = Array.from({ length: bins }, () => []);
  for (const i of order) {
    let best = 0;
    for (let b = 1; b < bins; b++) if ((load[b] as number) < (load[best] as number)) best = b;
    load[best] = (load[best] as number) + (w[i] as number);
    out[best]!.push(i);
  }
  for (const bin of out) bin.sort((a, b) => a - b);
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** 64-bit FNV-1a over the UTF-16 code units, then the splitmix64 finaliser: the same value on every machine. */
export function stableHash64(text: string): bigint {
  const M = (1n << 64n) - 1n;
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & M;
  }
  h = ((h ^ (h >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  h = ((h ^ (h >> 27n)) * 0x94d049bb133111ebn) & M;
  return h ^ (h >> 31n);
}

/** The shards in the order a test prefers them (rendezvous hashing: the highest hash of name and shard first). */
function preference(name: string, count: number): number[] {
  const score = Array.from({ length: count }, (_, s) => stableHash64(`${name}\u0000${s}`));
  return score.map((_, s) => s).sort((a, b) => (score[b]! > score[a]! ? 1 : score[b]! < score[a]! ? -1 : a - b));
}

/** How a test list is divided between shards: by names alone, or by a durations file shared by every shard. */
export type ShardAlgorithm = "rendezvous" | "durations";

/**
 * The shard (0-based) of every name, the same on every machine for the same list (and durations file).
 *
 * Without durations ("rendezvous"): the names are taken in the order of their hash, and each goes to the first
 * shard in its own rendezvous preference that still has room. Room is what keeps the counts balanced: with T
 * names and N shards, T mod N shards may hold ceil(T/N) names and the rest floor(T/N), so no shard is empty
 * while T >= N. Adding a name moves that name and, through the room it takes, only the few names displaced by it.
 *
 * With durations ("durations"): longest first (splitLongestFirst) over the durations given; a name the file does
 * not know weighs the median of those it knows. Every shard must be given the same file (commit it, or take the
 * merged results.json of an earlier run), since machines do not share their last run.
 */
export function assignShards(names: readonly string[], count: number, durations?: ReadonlyMap<string, number>): number[] {
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`count must be a whole number >= 1, got ${count}`);
  if (new Set(names).size !== names.length) throw new RangeError("names must be distinct");
  const out = new Array<number>(names.length).fill(0);
  if (durations) {
    const bins = splitLongestFirst(
      names.map((name) => ({ name, ...(durations.has(name) ? { durationMs: durations.get(name) } : {}) })),
      count,
    );
    bins.forEach((bin, s) => {
      for (const i of bin) out[i] = s;
    });
    return out;
  }
  const small = Math.floor(names.length / count);
  let bigLeft = names.length % count;
  const load = new Array<number>(count).fill(0);
  const hash = names.map((n) => stableHash64(n));
  const order = names.map((_, i) => i).sort((a, b) => (hash[a]! < hash[b]! ? -1 : hash[a]! > hash[b]! ? 1 : cmp(names[a]!, names[b]!)));
  for (const i of order) {
    for (const s of preference(names[i] as string, count)) {
      const l = load[s] as number;
      if (l < small || (l === small && bigLeft > 0)) {
        if (l === small) bigLeft--;
        load[s] = l + 1;
        out[i] = s;
        break;
      }
    }
  }
  return out;
}

/** `I/N` (1-based): which shard of how many; a one-line problem when it is not one. */
export function parseShardSpec(text: string): { index: number; count: number } | { problem: string } {
  const m = /^([0-9]+)\/([0-9]+)$/.exec(text);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(count) || count < 1 || count > 1000 || index < 1 || index > count)
    return { problem: `--shard ${text}: expected I/N with 1 <= I <= N <= 1000 (e.g. --shard 2/4 for the second of four shards)` };
  return { index, count };
}

/**
 * Durations per test name from a durations file: a kharness results.json (each top-level test's durationMs)
 * or a plain JSON object {"name": milliseconds}. Throws an Error naming `source` when it is neither.
 */
export function parseDurations(text: string, source: string): Map<string, number> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: not JSON (${(e as Error).message})`);
  }
  const out = new Map<string, number>();
  const ok = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0;
  if (doc && typeof doc === "object" && Array.isArray((doc as { tests?: unknown }).tests)) {
    for (const t of (doc as { tests: unknown[] }).tests) {
      const r = t as { id?: unknown; durationMs?: unknown };
      if (r && typeof r.id === "string" && ok(r.durationMs)) out.set(r.id, r.durationMs);
    }
    return out;
  }
  if (doc && typeof doc === "object" && !Array.isArray(doc)) {
    for (const [k, v] of Object.entries(doc)) {
      if (!ok(v)) throw new Error(`${source}: ${JSON.stringify(k)} is not a number of milliseconds`);
      out.set(k, v);
    }
    return out;
  }
  throw new Error(`${source}: want a kharness results.json or a JSON object {"test name": milliseconds}`);
}

/** An identity of a test list (order does not matter), for checking that shards split the same list. */
export function testListId(names: readonly string[]): string {
  const sorted = [...names].sort(cmp);
  return stableHash64(sorted.join("\n")).toString(16).padStart(16, "0");
}
