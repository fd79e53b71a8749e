// The run history: a SQLite database (better-sqlite3) of every run and every test's result, with versioned
// migrations, WAL and a busy timeout so that concurrent runs record without losing anything.

import Database from "better-sqlite3";
import type { Status } from "../types.js";

type Db = Database.Database;

/**
 * The schema's migrations, in order; PRAGMA user_version is the number applied. Never edit one that has shipped:
 * add the next. docs/nightly.md ("The history database") describes the resulting schema.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: runs, test names, and one row per (test, run).
  `CREATE TABLE runs (
     id INTEGER PRIMARY KEY,
     run_id TEXT NOT NULL UNIQUE,
     time TEXT NOT NULL,
     host TEXT,
     accel TEXT,
     kernel_release TEXT,
     tree_commit TEXT,
     patch_hash TEXT,
     config_hash TEXT,
     build_key TEXT,
     duration_ms INTEGER,
     boot_ms INTEGER,
     build_ms INTEGER,
     verdict TEXT NOT NULL,
     run_dir TEXT
   );
   CREATE TABLE tests (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
   CREATE TABLE results (
     test INTEGER NOT NULL REFERENCES tests(id),
     run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
     status TEXT NOT NULL,
     reason TEXT,
     duration_ms INTEGER,
     PRIMARY KEY (test, run)
   ) WITHOUT ROWID;`,
  // 2: the test selection (for --baseline last-green) and repeats (--repeat N); indexes for both lookups.
  `ALTER TABLE runs ADD COLUMN selection TEXT;
   ALTER TABLE runs ADD COLUMN repeat_group TEXT;
   ALTER TABLE runs ADD COLUMN repeat_index INTEGER;
   CREATE INDEX runs_by_build_key ON runs(build_key, time);
   CREATE INDEX runs_green ON runs(verdict, selection, time);`,
  // 3: a run's results by run (history.json reads the newest runs whole; deleting a run finds its results).
  `CREATE INDEX results_by_run ON results(run);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** A history database that could not be opened or written; `fix` says what to do. */
export class HistoryError extends Error {
  constructor(
    message: string,
    readonly fix: string,
    opts?: { cause?: unknown },
  ) {
    super(message, opts);
    this.name = "HistoryError";
  }
}

/** Turns a SQLite or file error into a HistoryError naming the file and the fix. */
export function historyError(file: string, e: unknown): HistoryError {
  if (e instanceof HistoryError) return e;
  const code = (e as { code?: string })?.code ?? "";
  const msg = (e as Error)?.message ?? String(e);
  if (/NOTADB|CORRUPT/.test(code) || /not a database|malformed/.test(msg))
    return new HistoryError(
      `history ${file}: the database is damaged (${msg})`,
      `move it aside (mv ${file} ${file}.broken) to start a new history, or pass --no-history`,
      {
        cause: e,
      },
    );
  if (/CANTOPEN|READONLY|PERM|AUTH|EACCES|EROFS/.test(code) || /unable to open|readonly/.test(msg))
    return new HistoryError(
      `history ${file}: cannot open it for writing (${msg})`,
      "make its directory writable, pass --history DB with a writable path, or --no-history",
      {
        cause: e,
      },
    );
  if (/NEWER/.test(msg))
    return new HistoryError(`history ${file}: ${msg}`, "use the kharness that wrote it, or pass --history DB to start another", { cause: e });
  return new HistoryError(`history ${file}: ${msg}`, "pass --no-history to run without it, or --history DB for another file", { cause: e });
}

/** Brings a database to `upTo` migrations (default all), one transaction per migration. */
export function migrate(db: Db, upTo = MIGRATIONS.length): void {
  for (;;) {
    // IMMEDIATE: two processes opening a new database at once must not both apply migration 1.
    const applied = db
      .transaction(() => {
        const v = db.pragma("user_version", { simple: true }) as number;
        if (v > MIGRATIONS.length) throw new Error(`schema version ${v} is NEWER than this kharness knows (${MIGRATIONS.length})`);
        if (v >= upTo) return false;
        db.exec(MIGRATIONS[v] as string);
        db.pragma(`user_version = ${v + 1}`);
        return true;
      })
      .immediate();
    if (!applied) return;
  }
}

/** Opens (creating if needed) and migrates a history database; throws HistoryError. */
export function openHistory(file: string, opts: { readonly?: boolean; upTo?: number } = {}): Db {
  let db: Db | undefined;
  try {
    db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    db.pragma("busy_timeout = 10000");
    if (!opts.readonly) {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      migrate(db, opts.upTo);
    } else {
      const v = db.pragma("user_version", { simple: true }) as number;
      if (v > MIGRATIONS.length) throw new Error(`schema version ${v} is NEWER than this kharness knows (${MIGRATIONS.length})`);
    }
    db.pragma("foreign_keys = ON");
    return db;
  } catch (e) {
    db?.close();
    throw historyError(file, e);
  }
}

/** One run as recorded. */
export interface RunRecord {
  runId: string;
  time: string;
  host?: string;
  accel?: string;
  kernelRelease?: string;
  treeCommit?: string;
  patchHash?: string;
  configHash?: string;
  buildKey?: string;
  durationMs?: number;
  bootMs?: number;
  buildMs?: number;
  /** green (exit 0), failed (a test failed), could-not-test. */
  verdict: "green" | "failed" | "could-not-test";
  runDir?: string;
  /** The test selection, canonical (selectionKey): runs with the same one are comparable. */
  selection?: string;
  repeatGroup?: string;
  repeatIndex?: number;
  tests: { id: string; status: Status; reason?: string; durationMs?: number }[];
}

const n = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

/** Records one run and its tests in one transaction (a run recorded twice replaces its first record). */
export function recordRun(db: Db, r: RunRecord): void {
  const delRun = db.prepare("DELETE FROM runs WHERE run_id = ?");
  const insRun = db.prepare(
    `INSERT INTO runs (run_id, time, host, accel, kernel_release, tree_commit, patch_hash, config_hash, build_key,
       duration_ms, boot_ms, build_ms, verdict, run_dir, selection, repeat_group, repeat_index)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insTest = db.prepare("INSERT INTO tests (name) VALUES (?)");
  const insRes = db.prepare("INSERT OR REPLACE INTO results (test, run, status, reason, duration_ms) VALUES (?, ?, ?, ?, ?)");
  db.transaction(() => {
    delRun.run(r.runId);
    const run = insRun.run(
      r.runId,
      r.time,
      n(r.host),
      n(r.accel),
      n(r.kernelRelease),
      n(r.treeCommit),
      n(r.patchHash),
      n(r.configHash),
      n(r.buildKey),
      n(r.durationMs),
      n(r.bootMs),
      n(r.buildMs),
      r.verdict,
      n(r.runDir),
      n(r.selection),
      n(r.repeatGroup),
      n(r.repeatIndex),
    ).lastInsertRowid;
    // The known tests' ids in a few lookups, not one per test; only a new test is inserted.
    const ids = testIdsByName(
      db,
      r.tests.map((t) => t.id),
    );
    for (const t of r.tests) {
      let id = ids.get(t.id);
      if (id === undefined) ids.set(t.id, (id = Number(insTest.run(t.id).lastInsertRowid)));
      insRes.run(id, run, t.status, n(t.reason), t.durationMs === undefined ? null : Math.round(t.durationMs));
    }
  }).immediate();
}

/** One result of a test in the history. */
export interface TimelineEntry {
  runId: string;
  time: string;
  status: Status;
  reason?: string;
  durationMs?: number;
  buildKey?: string;
  kernelRelease?: string;
}

interface TimelineRow {
  run_id: string;
  time: string;
  status: Status;
  reason: string | null;
  duration_ms: number | null;
  build_key: string | null;
  kernel_release: string | null;
}

const toEntry = (r: TimelineRow): TimelineEntry => ({
  runId: r.run_id,
  time: r.time,
  status: r.status,
  ...(r.reason !== null ? { reason: r.reason } : {}),
  ...(r.duration_ms !== null ? { durationMs: r.duration_ms } : {}),
  ...(r.build_key !== null ? { buildKey: r.build_key } : {}),
  ...(r.kernel_release !== null ? { kernelRelease: r.kernel_release } : {}),
});

/** A test's results, oldest first; `limit` keeps the newest that many. */
export function testTimeline(db: Db, testId: string, limit?: number): TimelineEntry[] {
  const rows = db
    .prepare(
      `SELECT r.run_id, r.time, res.status, res.reason, res.duration_ms, r.build_key, r.kernel_release
       FROM results res JOIN runs r ON r.id = res.run
       WHERE res.test = (SELECT id FROM tests WHERE name = ?)
       ORDER BY res.run DESC ${limit !== undefined ? "LIMIT ?" : ""}`,
    )
    .all(...(limit !== undefined ? [testId, limit] : [testId])) as TimelineRow[];
  return rows.reverse().map(toEntry);
}

/** The ids of the named tests that the history knows (one lookup per 500 names, on the unique index). */
function testIdsByName(db: Db, names: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  const CHUNK = 500;
  for (let i = 0; i < names.length; i += CHUNK) {
    const part = names.slice(i, i + CHUNK);
    const q = db.prepare(`SELECT name, id FROM tests WHERE name IN (${part.map(() => "?").join(",")})`).raw();
    for (const [name, id] of q.iterate(...part) as Iterable<[string, number]>) out.set(name, id);
  }
  return out;
}

/**
 * The newest `limit` results of each test, oldest first (history.json of a large run). One query reads the
 * newest `limit` runs whole, by test id (no name per row: that join was most of a warm run's history time, issue
 * 16); only a test with fewer entries there, in a history with more runs, is looked up alone (it skipped some of
 * those runs). Each run's details are read once.
 */
export function recentResults(db: Db, testIds: readonly string[], limit: number): Map<string, TimelineEntry[]> {
  type RunRow = { run_id: string; time: string; build_key: string | null; kernel_release: string | null };
  type Row = [number, Status, string | null, number | null];
  const runQ = db.prepare("SELECT run_id, time, build_key, kernel_release FROM runs WHERE id = ?");
  const runs = new Map<number, RunRow>();
  const runOf = (id: number): RunRow => {
    let r = runs.get(id);
    if (!r) {
      r = runQ.get(id) as RunRow;
      runs.set(id, r);
    }
    return r;
  };
  const ids = testIdsByName(db, testIds);
  const rows = new Map<number, Row[]>();
  for (const id of ids.values()) rows.set(id, []);
  const bulk = db
    .prepare(
      `SELECT res.test, res.run, res.status, res.reason, res.duration_ms FROM results res
       WHERE res.run IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?) ORDER BY res.run DESC`,
    )
    .raw();
  for (const [test, run, status, reason, duration] of bulk.iterate(limit) as Iterable<[number, number, Status, string | null, number | null]>)
    rows.get(test)?.push([run, status, reason, duration]);
  const moreRuns = (db.prepare("SELECT COUNT(*) FROM runs").pluck().get() as number) > limit;
  const one = db.prepare("SELECT res.run, res.status, res.reason, res.duration_ms FROM results res WHERE res.test = ? ORDER BY res.run DESC LIMIT ?").raw();
  const out = new Map<string, TimelineEntry[]>();
  for (const name of testIds) {
    const id = ids.get(name);
    let list = id === undefined ? [] : (rows.get(id) ?? []);
    if (id !== undefined && list.length < limit && moreRuns) list = one.all(id, limit) as Row[];
    const entries: TimelineEntry[] = [];
    for (let i = list.length - 1; i >= 0; i--) {
      const [run, status, reason, duration] = list[i] as Row;
      // Built field by field: this loop makes every entry of history.json (200,000 for a 10,000-test run).
      const r = runOf(run);
      const e: TimelineEntry = { runId: r.run_id, time: r.time, status };
      if (reason !== null) e.reason = reason;
      if (duration !== null) e.durationMs = duration;
      if (r.build_key !== null) e.buildKey = r.build_key;
      if (r.kernel_release !== null) e.kernelRelease = r.kernel_release;
      entries.push(e);
    }
    out.set(name, entries);
  }
  return out;
}

/** The newest results of the tests of some programs, read before a run's own test ids are known. */
export interface ProgramsRecent {
  /** The programs whose tests were read: test `P` and every `P.<case>`. */
  programs: readonly string[];
  /** Each of their tests' newest `limit` results, oldest first. */
  byTest: Map<string, TimelineEntry[]>;
  /** The newest run's row id then (0 for an empty history): a run recorded later is not in these lists. */
  newestRun: number;
}

/** Whether a test id belongs to one of the programs (the program itself, or one of its cases). */
export function ofPrograms(testId: string, programs: readonly string[]): boolean {
  return programs.some((p) => testId === p || (testId.startsWith(p) && testId[p.length] === "."));
}

/**
 * Every test of the given programs known to the history, with its newest `limit` results: what a run of those
 * programs will show in history.json, read while its guest runs (the process has nothing else to do then).
 */
export function recentOfPrograms(db: Db, programs: readonly string[], limit: number): ProgramsRecent {
  const newestRun = (db.prepare("SELECT MAX(id) FROM runs").pluck().get() as number | null) ?? 0;
  const byTest = new Map<string, TimelineEntry[]>();
  const names = db.prepare("SELECT id, name FROM tests WHERE name = ? OR substr(name, 1, length(?) + 1) = ? || '.'").raw();
  const recent = db
    .prepare(
      `SELECT r.run_id, r.time, res.status, res.reason, res.duration_ms, r.build_key, r.kernel_release
       FROM results res JOIN runs r ON r.id = res.run WHERE res.test = ? ORDER BY res.run DESC LIMIT ?`,
    )
    .raw();
  for (const p of programs)
    for (const [id, name] of names.all(p, p, p) as [number, string][]) {
      const rows = recent.all(id, limit) as [string, string, Status, string | null, number | null, string | null, string | null][];
      const list: TimelineEntry[] = [];
      for (let k = rows.length - 1; k >= 0; k--) {
        const [runId, time, status, reason, duration, buildKey, release] = rows[k] as (typeof rows)[number];
        const e: TimelineEntry = { runId, time, status };
        if (reason !== null) e.reason = reason;
        if (duration !== null) e.durationMs = duration;
        if (buildKey !== null) e.buildKey = buildKey;
        if (release !== null) e.kernelRelease = release;
        list.push(e);
      }
      byTest.set(name, list);
    }
  return { programs: [...programs], byTest, newestRun };
}

/** Whether a run other than `runId` was recorded after the run with row id `after`. */
export function runsRecordedSince(db: Db, after: number, runId: string): boolean {
  return db.prepare("SELECT 1 FROM runs WHERE id > ? AND run_id != ? LIMIT 1").pluck().get(after, runId) !== undefined;
}

/** Test ids in the history that match a predicate (for "did you mean"). */
export function testNames(db: Db): string[] {
  return db.prepare("SELECT name FROM tests ORDER BY name").pluck().all() as string[];
}

/** A test whose status changes between runs of one kernel input (build key). */
export interface Flake {
  id: string;
  buildKey: string;
  kernelRelease?: string;
  runs: number;
  flips: number;
  /** flips / (runs - 1): 0 never flips, 1 flips every run. */
  score: number;
  statuses: Partial<Record<Status, number>>;
  /** The runs where the status differed from the run before (same build key). */
  flipRuns: string[];
}

/** Flakes from one (test, build key) sequence of statuses, oldest first; pure. */
export function flakeOf(id: string, buildKey: string, seq: readonly { runId: string; status: Status; kernelRelease?: string }[]): Flake | undefined {
  if (seq.length < 2) return undefined;
  const flipRuns: string[] = [];
  const statuses: Partial<Record<Status, number>> = {};
  seq.forEach((e, i) => {
    statuses[e.status] = (statuses[e.status] ?? 0) + 1;
    if (i > 0 && seq[i - 1]?.status !== e.status) flipRuns.push(e.runId);
  });
  if (!flipRuns.length) return undefined;
  const k = seq[seq.length - 1]?.kernelRelease;
  return {
    id,
    buildKey,
    ...(k ? { kernelRelease: k } : {}),
    runs: seq.length,
    flips: flipRuns.length,
    score: flipRuns.length / (seq.length - 1),
    statuses,
    flipRuns,
  };
}

/** Every test whose status flips with the same build key, highest score first; optionally only some tests. */
export function findFlakes(db: Db, opts: { tests?: readonly string[] } = {}): Flake[] {
  // First the (test, build key) groups with more than one status, then only their sequences.
  const groups = db
    .prepare(
      `SELECT res.test AS test, r.build_key AS build_key FROM results res JOIN runs r ON r.id = res.run
       WHERE r.build_key IS NOT NULL ${opts.tests ? "AND res.test IN (SELECT value FROM json_each(?) JOIN tests ON tests.name = value)" : ""}
       GROUP BY res.test, r.build_key HAVING COUNT(DISTINCT res.status) > 1`,
    )
    .all(...(opts.tests ? [JSON.stringify(opts.tests)] : [])) as { test: number; build_key: string }[];
  const seqQ = db.prepare(
    `SELECT t.name, r.run_id, res.status, r.kernel_release FROM results res JOIN runs r ON r.id = res.run JOIN tests t ON t.id = res.test
     WHERE res.test = ? AND r.build_key = ? ORDER BY r.time, r.id`,
  );
  const out: Flake[] = [];
  for (const g of groups) {
    const rows = seqQ.all(g.test, g.build_key) as { name: string; run_id: string; status: Status; kernel_release: string | null }[];
    const f = flakeOf(
      rows[0]?.name ?? "",
      g.build_key,
      rows.map((r) => ({ runId: r.run_id, status: r.status, ...(r.kernel_release ? { kernelRelease: r.kernel_release } : {}) })),
    );
    if (f) out.push(f);
  }
  return out.sort((a, b) => b.score - a.score || b.runs - a.runs || (a.id < b.id ? -1 : 1));
}

/** The newest green run with this selection (other than `exceptRunId`), newest first: candidates for last-green. */
export function greenRuns(db: Db, selection: string, exceptRunId?: string): { runId: string; runDir?: string; time: string }[] {
  const rows = db
    .prepare(
      `SELECT run_id, run_dir, time FROM runs WHERE verdict = 'green' AND selection = ? AND run_id != ?
       ORDER BY time DESC, id DESC LIMIT 50`,
    )
    .all(selection, exceptRunId ?? "") as { run_id: string; run_dir: string | null; time: string }[];
  return rows.map((r) => ({ runId: r.run_id, time: r.time, ...(r.run_dir ? { runDir: r.run_dir } : {}) }));
}
