// Pure tests of the bisection: the signature from the ends, a step's verdict from its repeats, the next step.
import t from "tap";
import type { Status } from "../types.js";
import { deriveSignature, estimateStepsLeft, judgeStep, nextStep, type Verdict } from "./search.js";

const run = (o: Record<string, Status>) => new Map(Object.entries(o));

t.test("the signature: not failing at GOOD (PASS, SKIP, XFAIL) and failing at BAD (FAIL, TIMEOUT, CRASH, ERROR)", async (t) => {
  const good = [run({ a: "PASS", b: "SKIP", c: "XFAIL", d: "FAIL", e: "PASS", f: "PASS", g: "PASS" })];
  const bad = [run({ a: "FAIL", b: "TIMEOUT", c: "CRASH", d: "FAIL", e: "PASS", f: "XPASS", g: "ERROR" })];
  t.same(deriveSignature(good, bad), { tests: ["a", "b", "c", "g"], flakyAtEnds: [] }, "d fails at both ends, e never fails, f is XPASS");
});

t.test("a test that is not in one end's results is not in the signature", async (t) => {
  t.same(deriveSignature([run({ a: "PASS" })], [run({ a: "FAIL", b: "FAIL" })]).tests, ["a"]);
});

t.test("with repeats, a test whose repeats disagree at an end is flaky there, never in the signature", async (t) => {
  const good = [run({ a: "PASS", b: "PASS", c: "PASS" }), run({ a: "PASS", b: "FAIL", c: "PASS" })];
  const bad = [run({ a: "FAIL", b: "FAIL", c: "FAIL" }), run({ a: "FAIL", b: "FAIL", c: "PASS" })];
  t.same(deriveSignature(good, bad), { tests: ["a"], flakyAtEnds: ["b", "c"] });
});

t.test("a step is judged on the signature only", async (t) => {
  const sig = ["a", "b"];
  t.equal(judgeStep(sig, [run({ a: "PASS", b: "SKIP", z: "FAIL" })]).verdict, "good", "an unrelated failure does not make it bad");
  t.match(judgeStep(sig, [run({ a: "PASS", b: "FAIL" })]), { verdict: "bad", failing: ["b"] });
  t.match(judgeStep(sig, [run({ a: "PASS" })]), { verdict: "skip", missing: ["b"] }, "a signature test that never ran: cannot judge");
});

t.test("repeats: failing in every repeat is bad; in some only is flaky (not used to steer)", async (t) => {
  const sig = ["a", "b"];
  t.match(judgeStep(sig, [run({ a: "FAIL", b: "PASS" }), run({ a: "FAIL", b: "PASS" }), run({ a: "FAIL", b: "FAIL" })]), {
    verdict: "bad",
    failing: ["a"],
    flaky: ["b"],
  });
  t.match(judgeStep(sig, [run({ a: "FAIL", b: "PASS" }), run({ a: "PASS", b: "PASS" })]), { verdict: "flaky", flaky: ["a"], failing: [] });
  t.match(judgeStep(sig, [run({ a: "PASS", b: "PASS" }), run({ a: "PASS", b: "PASS" })]), { verdict: "good" });
});

/** Runs the search against a truth (first bad index) and an oracle of verdicts; returns the probes and the end. */
function simulate(last: number, oracle: (i: number) => Verdict) {
  const verdicts = new Map<number, Verdict>([
    [0, "good"],
    [last, "bad"],
  ]);
  const probes: number[] = [];
  for (;;) {
    const s = nextStep(last, verdicts);
    if (s.kind === "done") return { probes, end: s };
    probes.push(s.index);
    verdicts.set(s.index, oracle(s.index));
  }
}

t.test("four patches, patch 3 bad: base+2 then base+3, two steps beyond the ends", async (t) => {
  const { probes, end } = simulate(4, (i) => (i >= 3 ? "bad" : "good"));
  t.same(probes, [2, 3]);
  t.match(end, { firstBad: 3, lastGood: 2, candidates: [3], hidden: [] });
});

t.test("every first bad position over 1..64 revisions is found in at most ceil(log2(n)) probes", async (t) => {
  for (let last = 1; last <= 64; last++) {
    for (let bad = 1; bad <= last; bad++) {
      const { probes, end } = simulate(last, (i) => (i >= bad ? "bad" : "good"));
      if (end.firstBad !== bad || end.candidates.length !== 1 || probes.length > Math.ceil(Math.log2(last))) {
        t.fail(`last ${last}, first bad ${bad}: found ${end.firstBad} after ${probes.length} probes`);
        return;
      }
    }
  }
  t.pass("all found within the bound");
});

t.test("a skipped revision is searched around; when it hides the answer, every candidate is named", async (t) => {
  // 12 commits, 6 does not build, 8 is the first bad: found, 6 skipped on the way.
  const a = simulate(12, (i) => (i === 6 ? "skip" : i >= 8 ? "bad" : "good"));
  t.same(a.probes, [6, 5, 8, 7]);
  t.match(a.end, { firstBad: 8, candidates: [8] });
  // The first bad one right after a skipped one: it could be either.
  const b = simulate(12, (i) => (i === 6 ? "skip" : i >= 7 ? "bad" : "good"));
  t.match(b.end, { lastGood: 5, firstBad: 7, candidates: [6, 7], hidden: [{ index: 6, verdict: "skip" }] });
});

t.test("a flaky step is not used to steer: the answer names it instead of guessing", async (t) => {
  const { end } = simulate(4, (i) => (i === 2 ? "flaky" : i >= 3 ? "bad" : "good"));
  t.match(end, { candidates: [2, 3], hidden: [{ index: 2, verdict: "flaky" }] });
});

t.test("estimated steps left", async (t) => {
  t.same([0, 1, 2, 3, 4, 7, 8].map(estimateStepsLeft), [0, 1, 2, 2, 3, 3, 4]);
});
