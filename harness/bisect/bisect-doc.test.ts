// Pure tests of what is rendered from bisect.json: the git bisect log, the step table and the answer.
import t from "tap";
import type { BisectDoc, StepRecord } from "./bisect-doc.js";
import { renderBisectSummary, renderGitBisectLog, renderStepTable } from "./bisect-doc.js";

const sha = (n: number) => String(n).repeat(40).slice(0, 40);
const step = (step: number, index: number, role: StepRecord["role"], verdict: StepRecord["verdict"], extra: Partial<StepRecord> = {}): StepRecord => ({
  step,
  index,
  revision: sha(index),
  label: sha(index).slice(0, 12),
  role,
  verdict,
  failing: [],
  flaky: [],
  runs: [
    verdict === "skip"
      ? { dir: `steps/${step}`, outcome: "untestable", error: "make failed", wallMs: 9000 }
      : { dir: `steps/${step}`, outcome: "tested", cacheHit: step === 1, buildMs: 21000, bootMs: 1900, testMs: 500, wallMs: 25000 },
  ],
  ...extra,
});

const doc: BisectDoc = {
  schemaVersion: 1,
  mode: "commits",
  state: "done",
  startedAt: "2026-12-03T03:00:00.000Z",
  request: { mode: "commits", good: "v1", bad: "HEAD", pinned: [], repeat: 1, run: {} as BisectDoc["request"]["run"] },
  revisions: [0, 1, 2, 3, 4].map((i) => ({
    index: i,
    id: sha(i),
    label: sha(i).slice(0, 12),
    subject: `commit ${i}`,
    author: "A <a@x>",
    date: "2026-01-0" + (i + 1),
  })),
  signature: { tests: ["p.a"], pinned: false, flakyAtEnds: [] },
  steps: [
    step(1, 0, "good-end", "good"),
    step(2, 4, "bad-end", "bad"),
    step(3, 2, "probe", "skip"),
    step(4, 1, "probe", "good"),
    step(5, 3, "probe", "bad", { failures: [{ id: "p.a", status: "FAIL", reason: "expected 13", log: ["# p.c:1: got 0"] }] }),
  ],
  result: {
    status: "ambiguous",
    message: "the first bad commit is one of 2",
    candidates: [2, 3].map((i) => ({ index: i, id: sha(i), label: sha(i).slice(0, 12), subject: `commit ${i}` })),
    skipped: [{ index: 2, id: sha(2), label: sha(2).slice(0, 12) }],
    flipped: [{ id: "p.a", status: "FAIL", reason: "expected 13", log: ["# p.c:1: got 0"] }],
  },
  wallMs: 1000,
};

t.test("the git bisect log: start with both ends, each probe, the candidates as comments", async (t) => {
  t.equal(
    renderGitBisectLog(doc),
    [
      `# bad: [${sha(4)}] commit 4`,
      `# good: [${sha(0)}] commit 0`,
      `git bisect start '${sha(4)}' '${sha(0)}'`,
      `# skip: [${sha(2)}] commit 2`,
      `git bisect skip ${sha(2)}`,
      `# good: [${sha(1)}] commit 1`,
      `git bisect good ${sha(1)}`,
      `# bad: [${sha(3)}] commit 3`,
      `git bisect bad ${sha(3)}`,
      "# only skipped commits left to test",
      `# possible first bad commit: [${sha(2)}] commit 2`,
      `# possible first bad commit: [${sha(3)}] commit 3`,
      "",
    ].join("\n"),
  );
  t.equal(renderGitBisectLog({ ...doc, mode: "patches" }), "", "patch bisection has no git log");
});

t.test("the step table: one row per step, a cache hit as cached, an untestable build as failed", async (t) => {
  const rows = renderStepTable(doc).trimEnd().split("\n");
  t.equal(rows.length, 6);
  t.match(rows[0], /^step +revision +verdict +build +boot +tests +subject$/);
  t.match(rows[1], /^1 +000000000000 +good +cached +1\.9s +0\.5s +commit 0$/);
  t.match(rows[3], /^3 +222222222222 +skip +failed +- +- +commit 2$/);
});

t.test("no single answer: every candidate is named with its subject", async (t) => {
  const s = renderBisectSummary(doc);
  t.match(s, /no single first bad commit: the first bad commit is one of 2/);
  t.match(s, new RegExp(`${sha(2)}\\n {2}subject: commit 2`));
  t.match(s, /could not be tested \(skipped\): 222222222222/);
  t.match(s, /FAIL p\.a: expected 13\n {6}# p\.c:1: got 0/);
});
