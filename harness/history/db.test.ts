// The history database: migrations (a version-1 database is upgraded in place), flake scores, last-green,
// several processes recording at once (nothing lost), and a damaged or unwritable database (a one-line warning
// naming the file and the fix; the run's own files untouched).
import t from "tap";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { tempDir } from "../../test/support/cli-run.js";
import { summarize } from "../results/index.js";
import type { RunRequest, RunResult, Status } from "../types.js";
import { afterRunSteps } from "../after-run.js";
import { findFlakes, flakeOf, MIGRATIONS, openHistory, recentResults, recordRun, SCHEMA_VERSION, testTimeline } from "./db.js";
import { findLastGreen, preloadHistory, recordAndDescribe, selectionKey } from "./record.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
type RunRecordTests = Parameters<typeof recordRun>[1]["tests"];

t.test("a version-1 database is upgraded to the current schema, keeping its runs", async (t) => {
  const file = path.join(tempDir("kh-hist-"), "h.db");
  const v1 = openHistory(file, { upTo: 1 });
  t.equal(v1.pragma("user_version", { simple: true }), 1);
  // A v1 row, written as version 1 of kharness wrote it (no selection column yet).
  v1.prepare("INSERT INTO runs (run_id, time, verdict, build_key) VALUES ('old', '2026-01-01T00:00:00Z', 'green', 'k')").run();
  v1.prepare("INSERT INTO tests (name) VALUES ('a.b')").run();
  v1.prepare("INSERT INTO results (test, run, status) VALUES (1, 1, 'PASS')").run();
  t.throws(() => v1.prepare("SELECT selection FROM runs").all(), /no such column/, "v1 has no selection column");
  v1.close();
  const now = openHistory(file);
  t.equal(now.pragma("user_version", { simple: true }), SCHEMA_VERSION);
  t.equal(SCHEMA_VERSION, MIGRATIONS.length);
  t.equal(now.pragma("journal_mode", { simple: true }), "wal");
  t.same(
    testTimeline(now, "a.b").map((e) => [e.runId, e.status]),
    [["old", "PASS"]],
    "the old run survived",
  );
  t.same(now.prepare("SELECT selection FROM runs").all(), [{ selection: null }]);
  now.close();
  // A database from a newer kharness is refused, not damaged.
  const raw = new Database(file);
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  raw.close();
  t.throws(() => openHistory(file), /NEWER than this kharness knows/);
});

t.test("recentResults: each test's newest results, the same as its own timeline, whichever runs it skipped", async (t) => {
  const db = openHistory(path.join(tempDir("kh-hist-"), "h.db"));
  const statuses: Status[] = ["PASS", "FAIL", "SKIP"];
  // 30 runs; "every" is in each, "odd" only in odd runs (other selections), "rare" in runs 0 and 29; "gone" in none.
  for (let i = 0; i < 30; i++) {
    const tests = [{ id: "every", status: statuses[i % 3] as Status, durationMs: i }];
    if (i % 2) tests.push({ id: "odd", status: statuses[(i + 1) % 3] as Status, durationMs: 100 + i });
    if (i === 0 || i === 29) tests.push({ id: "rare", status: "FAIL", durationMs: 7 });
    recordRun(db, { runId: `r${i}`, time: `2026-01-01T00:00:${String(i).padStart(2, "0")}Z`, verdict: "green", buildKey: i < 15 ? "A" : "B", tests });
  }
  // Three tests whose ids are recorded in an order unlike their names', and one unknown to the history.
  const got = recentResults(db, ["odd", "every", "rare", "gone"], 20);
  for (const name of ["every", "odd", "rare"]) {
    const want = testTimeline(db, name, 20);
    t.same(got.get(name), want, `${name}: as testTimeline says`);
  }
  t.equal(got.get("every")?.length, 20);
  t.same(
    got.get("odd")?.map((e) => e.runId),
    Array.from({ length: 15 }, (_, k) => `r${2 * k + 1}`).slice(-20),
    "odd: its 15 runs, found beyond the newest 20",
  );
  t.same(
    got.get("rare")?.map((e) => [e.runId, e.buildKey]),
    [
      ["r0", "A"],
      ["r29", "B"],
    ],
  );
  t.same(got.get("gone"), [], "a test the history never saw: no entries");
  db.close();
});

t.test("history.json from the results read during the boot is what reading after recording gives", async (t) => {
  const dir = tempDir("kh-hist-");
  const statuses: Status[] = ["PASS", "FAIL", "SKIP"];
  // Two identical histories: 30 runs, net_a's cases in every run, net_b's only in odd ones, and a test of no program.
  const fill = (file: string) => {
    const db = openHistory(file);
    for (let i = 0; i < 30; i++) {
      const tests: RunRecordTests = [
        { id: "net_a.x", status: statuses[i % 3] as Status, durationMs: i + 0.4 },
        { id: "net_a.y", status: "PASS", reason: i % 2 ? "why" : undefined },
      ];
      if (i % 2) tests.push({ id: "net_b.z", status: statuses[(i + 1) % 3] as Status });
      if (i === 3) tests.push({ id: "kernel.warning", status: "FAIL" });
      recordRun(db, { runId: `r${i}`, time: `2026-01-01T00:00:${String(i).padStart(2, "0")}Z`, verdict: "green", buildKey: i < 20 ? "A" : "B", tests });
    }
    db.close();
  };
  const run = (runId: string): Parameters<typeof recordAndDescribe>[1] => ({
    runId,
    time: "2026-01-02T00:00:00Z",
    verdict: "failed",
    buildKey: "B",
    kernelRelease: "6.12",
    tests: [
      { id: "net_a.x", status: "FAIL", reason: "boom", durationMs: 12.6 },
      { id: "net_a.y", status: "PASS" },
      { id: "net_b.z", status: "PASS" },
      { id: "net_b.new", status: "SKIP" },
      { id: "kernel.warning", status: "FAIL" },
    ],
  });
  const plain = path.join(dir, "plain.db");
  const pre = path.join(dir, "pre.db");
  fill(plain);
  fill(pre);
  const want = await recordAndDescribe(plain, run("mine"));
  const preload = await preloadHistory(pre, ["net_a", "net_b"]);
  const got = await recordAndDescribe(pre, run("mine"), preload);
  t.same({ ...got, db: plain }, want, "the same recent results and flake scores");
  t.equal(want.tests["net_b.z"]?.recent.length, 16, "net_b.z: its 15 runs and this one");
  t.same(
    want.tests["net_b.new"]?.recent.map((e) => e.runId),
    ["mine"],
  );
  t.equal(preload.db.open, false, "the preloaded database is closed once the run is recorded");

  // Another run recorded between the preload and this run's recording shows up too.
  fill(path.join(dir, "other.db"));
  const late = path.join(dir, "other.db");
  const early = await preloadHistory(late, ["net_a", "net_b"]);
  const other = openHistory(late);
  recordRun(other, { runId: "concurrent", time: "2026-01-01T12:00:00Z", verdict: "green", tests: [{ id: "net_a.x", status: "PASS" }] });
  other.close();
  const h = await recordAndDescribe(late, run("mine"), early);
  t.same(
    h.tests["net_a.x"]?.recent.slice(-2).map((e) => e.runId),
    ["concurrent", "mine"],
  );
});

t.test("flake scores: flips / (runs - 1) per build key; a change of kernel is no flip", async (t) => {
  const seq = (s: string) => [...s].map((c, i) => ({ runId: `r${i}`, status: (c === "P" ? "PASS" : "FAIL") as Status }));
  t.equal(flakeOf("x", "k", seq("PPPP")), undefined);
  t.same(flakeOf("x", "k", seq("PFPF")), { id: "x", buildKey: "k", runs: 4, flips: 3, score: 1, statuses: { PASS: 2, FAIL: 2 }, flipRuns: ["r1", "r2", "r3"] });
  t.equal(flakeOf("x", "k", seq("PPPFF"))?.score, 0.25);
  const db = openHistory(path.join(tempDir("kh-hist-"), "h.db"));
  const rec = (runId: string, buildKey: string, status: Status, time: string) =>
    recordRun(db, {
      runId,
      time,
      verdict: status === "PASS" ? "green" : "failed",
      buildKey,
      tests: [
        { id: "coin", status },
        { id: "steady", status: "PASS" },
      ],
    });
  rec("a1", "A", "PASS", "2026-01-01T00:00:01Z");
  rec("b1", "B", "FAIL", "2026-01-01T00:00:02Z");
  rec("b2", "B", "FAIL", "2026-01-01T00:00:03Z");
  t.same(findFlakes(db), [], "PASS on kernel A then FAIL on kernel B: a regression, not a flake");
  rec("b3", "B", "PASS", "2026-01-01T00:00:04Z");
  rec("b4", "B", "FAIL", "2026-01-01T00:00:05Z");
  const f = findFlakes(db);
  t.same(
    f.map((x) => [x.id, x.buildKey, x.runs, x.flips, x.flipRuns]),
    [["coin", "B", 4, 2, ["b3", "b4"]]],
  );
  t.equal(f[0]?.score, 2 / 3);
  db.close();
});

t.test("last-green: the newest green run with the same selection whose run directory still has results.json", async (t) => {
  const dir = tempDir("kh-hist-");
  const file = path.join(dir, "h.db");
  const req = (tests: string[]): Pick<RunRequest, "tests" | "programs" | "kselftests"> => ({ tests, programs: [], kselftests: [] });
  t.equal(selectionKey(req(["b", "a"])), selectionKey(req(["a", "b"])), "order does not matter");
  const db = openHistory(file);
  const mk = (runId: string, verdict: "green" | "failed", tests: string[], time: string, keep = true) => {
    const runDir = path.join(dir, runId);
    mkdirSync(runDir);
    if (keep) writeFileSync(path.join(runDir, "results.json"), "{}");
    recordRun(db, { runId, time, verdict, runDir, selection: selectionKey(req(tests)), tests: [] });
  };
  mk("g1", "green", ["net_*"], "2026-01-01T00:00:01Z");
  mk("g2", "green", ["net_*"], "2026-01-01T00:00:02Z");
  mk("f3", "failed", ["net_*"], "2026-01-01T00:00:03Z");
  mk("o4", "green", ["other"], "2026-01-01T00:00:04Z");
  mk("g5", "green", ["net_*"], "2026-01-01T00:00:05Z", false);
  db.close();
  t.same(
    await findLastGreen(file, selectionKey(req(["net_*"]))),
    { runId: "g2", runDir: path.join(dir, "g2") },
    "g5's directory is gone, f3 failed, o4 ran other tests",
  );
  t.same(await findLastGreen(file, selectionKey(req(["net_*"])), "g2"), { runId: "g1", runDir: path.join(dir, "g1") }, "never the run itself");
  t.equal(await findLastGreen(file, selectionKey(req(["nothing"]))), undefined);
});

t.test("several processes recording at once lose nothing", async (t) => {
  const file = path.join(tempDir("kh-hist-"), "h.db");
  const PROCS = 6;
  const RUNS = 15;
  const TESTS = 200;
  const child = (i: number) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const p = spawn(process.execPath, [...process.execArgv, path.join(HERE, "testdata", "record-runs.ts"), file, `p${i}`, String(RUNS), String(TESTS)], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      p.stderr.on("data", (b: Buffer) => (err += b.toString()));
      p.on("close", (code) => resolve({ code, err }));
    });
  // Every process opens the new database at the same time: the first migration must run exactly once.
  const results = await Promise.all(Array.from({ length: PROCS }, (_, i) => child(i)));
  t.same(
    results.map((r) => r.code),
    Array(PROCS).fill(0),
    results.map((r) => r.err).join("\n"),
  );
  const db = openHistory(file, { readonly: true });
  t.equal(db.prepare("SELECT COUNT(*) FROM runs").pluck().get(), PROCS * RUNS, "every run recorded");
  t.equal(db.prepare("SELECT COUNT(*) FROM results").pluck().get(), PROCS * RUNS * TESTS, "every result recorded");
  t.equal(db.prepare("SELECT COUNT(*) FROM tests").pluck().get(), TESTS, "each test name once");
  t.equal(testTimeline(db, "t.7").length, PROCS * RUNS);
  db.close();
});

t.test("a damaged or unwritable database: one warning naming the file and the fix; the run's files untouched", async (t) => {
  const dir = tempDir("kh-hist-");
  const runDir = path.join(dir, "run");
  mkdirSync(runDir);
  const tests = [{ id: "a", name: "a", status: "PASS" as Status, log: [], kernelEvents: [], children: [] }];
  const run: RunResult = { schemaVersion: 1, runId: "r1", tests, summary: summarize(tests), diagnostics: [], kernelEvents: [] };
  writeFileSync(path.join(runDir, "results.json"), JSON.stringify(run));
  const req = { tests: [], programs: [], kselftests: [] } as unknown as RunRequest;
  const corrupt = path.join(dir, "corrupt.db");
  writeFileSync(corrupt, "this is not a database, it is a text file that is long enough to have a header\n".repeat(100));
  const a = await afterRunSteps(run, { runDir, req, cacheRoot: dir, history: { off: false, path: corrupt }, kernel: {} });
  t.equal(a.warnings.length, 1);
  t.match(a.warnings[0]?.message, `history ${corrupt}: the database is damaged`);
  t.match(a.warnings[0]?.fix, `mv ${corrupt} ${corrupt}.broken`);
  t.notOk(a.warnings[0]?.message.includes("\n"), "one line");
  t.notOk(existsSync(path.join(runDir, "history.json")));
  t.equal(readFileSync(path.join(runDir, "results.json"), "utf8"), JSON.stringify(run), "results.json as it was");

  if (process.getuid?.() !== 0) {
    const ro = path.join(dir, "ro");
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    const b = await afterRunSteps(run, { runDir, req, cacheRoot: dir, history: { off: false, path: path.join(ro, "h.db") }, kernel: {} });
    t.match(b.warnings[0]?.message, /cannot open it for writing/);
  }
  // A path under a regular file cannot be created, whoever we are (root included).
  const under = path.join(runDir, "results.json", "h.db");
  const c = await afterRunSteps(run, { runDir, req, cacheRoot: dir, history: { off: false, path: under }, kernel: {} });
  t.match(c.warnings[0]?.message, `history ${under}: cannot open it for writing`);
  t.match(c.warnings[0]?.fix, /--history DB with a writable path, or --no-history/);

  const ok = await afterRunSteps(run, { runDir, req, cacheRoot: dir, history: { off: false, path: path.join(dir, "good.db") }, kernel: {} });
  t.same(ok.warnings, []);
  const h = JSON.parse(readFileSync(path.join(runDir, "history.json"), "utf8"));
  t.same(
    h.tests.a.recent.map((e: { runId: string; status: string }) => [e.runId, e.status]),
    [["r1", "PASS"]],
  );
});
