#!/usr/bin/env node
// Benchmark of the run history (issue 13): recording a 10,000-test run, and querying one test over 1,000 runs.
// Goals: record < 1 s, query < 100 ms. Runs on dist/ (npm run build first). The database is filled first with
// 1,000 earlier runs (RUNS x TESTS_PER_OLD_RUN results, written directly in one transaction), then ROUNDS rounds
// each measure, side by side: recordRun of a 10,000-test run; the same plus history.json (the 20 newest results
// of each of its 10,000 tests, what `kharness run` does after a run); and testTimeline of one test over all runs.
// Prints the median and the spread of each.
//   node scripts/bench-history.mjs [--rounds 7] [--runs 1000] [--old-tests 2000]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { openHistory, recordRun, testTimeline } = await import(path.join(root, "dist/harness/history/db.js"));
const { recordAndDescribe } = await import(path.join(root, "dist/harness/history/record.js"));

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg("rounds", 7);
const RUNS = arg("runs", 1000);
const OLD_TESTS = arg("old-tests", 2000);
const NEW_TESTS = 10000;
const STATUSES = ["PASS", "PASS", "PASS", "SKIP", "FAIL"];

const dir = mkdtempSync(path.join(tmpdir(), "kh-bench-history-"));
const file = path.join(dir, "history.db");
const db = openHistory(file);

// 1,000 earlier runs of the same kernel, each with OLD_TESTS of the same test ids the new runs have.
const t0 = performance.now();
db.transaction(() => {
  const insTest = db.prepare("INSERT INTO tests (id, name) VALUES (?, ?)");
  for (let j = 0; j < NEW_TESTS; j++) insTest.run(j + 1, `prog${j % 50}.fixture.variant${j % 7}.case${j}`);
  const insRun = db.prepare("INSERT INTO runs (id, run_id, time, verdict, build_key, selection) VALUES (?, ?, ?, 'green', 'k', 's')");
  const insRes = db.prepare("INSERT INTO results (test, run, status, reason, duration_ms) VALUES (?, ?, ?, NULL, ?)");
  for (let r = 1; r <= RUNS; r++) {
    insRun.run(r, `old-${r}`, new Date(Date.UTC(2026, 0, 1) + r * 60000).toISOString());
    for (let j = 0; j < OLD_TESTS; j++) insRes.run(j + 1, r, STATUSES[(r + j) % STATUSES.length], j % 100);
  }
})();
process.stdout.write(`filled ${file}: ${RUNS} runs x ${OLD_TESTS} results in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

const makeRun = (id) => ({
  runId: id,
  time: new Date().toISOString(),
  verdict: "failed",
  buildKey: "k",
  selection: "s",
  tests: Array.from({ length: NEW_TESTS }, (_, j) => ({
    id: `prog${j % 50}.fixture.variant${j % 7}.case${j}`,
    status: STATUSES[j % STATUSES.length],
    ...(j % 5 === 4 ? { reason: "exit code 1" } : {}),
    durationMs: j % 300,
  })),
});

const probe = "prog3.fixture.variant3.case3";
const times = { record: [], recordAndHistoryJson: [], query: [] };
for (let round = 0; round < ROUNDS; round++) {
  let t = performance.now();
  recordRun(db, makeRun(`bench-a-${round}`));
  times.record.push(performance.now() - t);

  t = performance.now();
  const tl = testTimeline(db, probe);
  times.query.push(performance.now() - t);
  if (tl.length < RUNS) throw new Error(`the query saw ${tl.length} runs, expected at least ${RUNS}`);

  t = performance.now();
  await recordAndDescribe(file, makeRun(`bench-b-${round}`));
  times.recordAndHistoryJson.push(performance.now() - t);
}
db.close();
rmSync(dir, { recursive: true, force: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (xs) => `median ${median(xs).toFixed(1)} ms (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}; ${xs.length} rounds)`;
process.stdout.write(`record a ${NEW_TESTS}-test run:                    ${fmt(times.record)}   goal < 1000 ms\n`);
process.stdout.write(`record it and build history.json (20 each): ${fmt(times.recordAndHistoryJson)}   goal < 1000 ms\n`);
process.stdout.write(`one test's timeline over ${RUNS}+ runs:        ${fmt(times.query)}   goal < 100 ms\n`);
