// Test helper (run as a child process by db.test.ts): records COUNT runs of TESTS tests into DB, as one kharness
// process would, each in its own transaction, so that several of these at once exercise WAL and the busy timeout.
import { openHistory, recordRun } from "../db.js";

const [db, prefix, count, tests] = process.argv.slice(2) as [string, string, string, string];
const h = openHistory(db);
for (let i = 0; i < Number(count); i++) {
  recordRun(h, {
    runId: `${prefix}-${i}`,
    time: new Date().toISOString(),
    verdict: "green",
    buildKey: "k",
    tests: Array.from({ length: Number(tests) }, (_, j) => ({ id: `t.${j}`, status: "PASS" as const, durationMs: j })),
  });
}
h.close();
