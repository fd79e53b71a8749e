// Pure tests of the split: longest first for guests, the shard assignment (deterministic, balanced, stable when a
// test is added), the shard spec and durations file parsers, and the joining of parts into one run.

import t from "tap";
import type { RunResult, TestResult } from "../types.js";
import { joinSplitProgram, mergeBoots, mergeRunParts } from "./merge-runs.js";
import { assignShards, parseDurations, parseShardSpec, splitLongestFirst, stableHash64, testListId } from "./split.js";

const names = (n: number, prefix = "prog_") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

t.test("longest first: the long ones spread over the guests, each guest's share in run order", async (t) => {
  const items = [
    { name: "a", durationMs: 1000 },
    { name: "b", durationMs: 9000 },
    { name: "c", durationMs: 4000 },
    { name: "d", durationMs: 5000 },
    { name: "e", durationMs: 1000 },
  ];
  const bins = splitLongestFirst(items, 2);
  t.same(
    bins,
    [
      [0, 1],
      [2, 3, 4],
    ],
    "b(9) then a(1) | d(5), c(4) then e(1): 10 vs 10; each bin in run order",
  );
  const load = bins.map((b) => b.reduce((s, i) => s + (items[i]?.durationMs ?? 0), 0));
  t.same(load, [10000, 10000]);
  t.same(splitLongestFirst(items, 7).filter((b) => b.length).length, 5, "more guests than items: empty bins, no item twice");
});

t.test("longest first without durations: unknown items weigh the median of the known ones, or are dealt in turn", async (t) => {
  // Equal weights are dealt by name: w, y to the first guest, x, z to the second.
  t.same(splitLongestFirst([{ name: "x" }, { name: "y" }, { name: "z" }, { name: "w" }], 2), [
    [1, 3],
    [0, 2],
  ]);
  const mixed = splitLongestFirst([{ name: "new" }, { name: "a", durationMs: 10 }, { name: "b", durationMs: 30 }, { name: "c", durationMs: 20 }], 2);
  t.same(mixed.flat().sort(), [0, 1, 2, 3], "every item placed once");
  t.throws(() => splitLongestFirst([], 0), RangeError);
});

t.test("shards: every name in exactly one shard, counts balanced to one, the same on every call", async (t) => {
  for (const [n, k] of [
    [7, 3],
    [9, 4],
    [50, 6],
    [3, 3],
    [255, 8],
  ] as const) {
    const list = names(n);
    const a = assignShards(list, k);
    t.same(assignShards([...list], k), a, `${n}/${k}: deterministic`);
    t.same(assignShards([...list].reverse(), k), [...a].reverse(), `${n}/${k}: independent of the list's order`);
    const counts = Array.from({ length: k }, (_, s) => a.filter((x) => x === s).length);
    t.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${n}/${k}: counts ${counts.join(",")} differ by at most one`);
    t.ok(Math.min(...counts) >= 1, `${n}/${k}: no empty shard`);
  }
});

t.test("shards: the split is pinned (a change here changes every CI matrix: say so in docs/ci.md)", async (t) => {
  const bundled = ["net_abi", "net_layers", "net_rules", "net_tcp", "net_unrestricted", "socket_create"];
  t.same(assignShards(bundled, 3), [0, 0, 1, 2, 1, 2], "the bundled suite in three shards");
  t.equal(stableHash64("net_abi").toString(16), stableHash64("net_abi").toString(16));
  t.equal(stableHash64("").toString(16), "f52a15e9a9b5e89b", "the hash of the empty string is fixed");
  t.equal(testListId(bundled), testListId([...bundled].reverse()), "the list id ignores order");
  t.not(testListId(bundled), testListId(bundled.slice(1)), "and sees a missing test");
});

t.test("shards: adding a test moves that test and few others", async (t) => {
  let worst = 0;
  for (const [n, k] of [
    [20, 3],
    [50, 4],
    [100, 6],
    [255, 8],
  ] as const) {
    const list = names(n);
    const before = assignShards(list, k);
    for (const extra of ["added_a", "added_b", "zz_new", "net_new_case"]) {
      const after = assignShards([...list, extra], k);
      const moved = list.filter((_, i) => before[i] !== after[i]).length;
      worst = Math.max(worst, moved / n);
      t.ok(moved <= Math.ceil(n / 4), `${n}/${k} + ${extra}: ${moved} of ${n} others moved`);
    }
  }
  t.comment(`worst share of old tests moved by one addition: ${(worst * 100).toFixed(0)}%`);
  // Plain modulo hashing would move about (k-1)/k of them when k changes; round-robin over a sorted list shifts
  // every test after the new one. The rendezvous split keeps most in place.
});

t.test("shards by durations: longest first over the file, same file same split", async (t) => {
  const list = ["a", "b", "c", "d", "e", "f"];
  const d = new Map([
    ["a", 60000],
    ["b", 5000],
    ["c", 30000],
    ["d", 30000],
    ["e", 1000],
    ["f", 4000],
  ]);
  const s = assignShards(list, 2, d);
  const load = [0, 1].map((k) => list.filter((_, i) => s[i] === k).reduce((x, n) => x + (d.get(n) ?? 0), 0));
  t.ok(Math.abs((load[0] ?? 0) - (load[1] ?? 0)) <= 5000, `loads ${load.join(" / ")} within the smallest big item`);
  t.equal(s[0] === s[2] && s[2] === s[3], false, "the 60 s program is not stacked with both 30 s ones");
  t.same(assignShards(list, 2, new Map(d)), s, "deterministic");
});

t.test("--shard I/N and --durations FILE are checked", async (t) => {
  t.same(parseShardSpec("2/3"), { index: 2, count: 3 });
  for (const bad of ["0/3", "4/3", "3", "a/b", "1/0", "-1/2", "1/3/4", ""]) t.ok("problem" in parseShardSpec(bad), `${JSON.stringify(bad)} refused`);
  t.match((parseShardSpec("4/3") as { problem: string }).problem, /--shard 4\/3: expected I\/N/);
  t.same(
    [...parseDurations('{"a": 10, "b": 2.5}', "f")],
    [
      ["a", 10],
      ["b", 2.5],
    ],
  );
  t.same([...parseDurations(JSON.stringify({ schemaVersion: 1, tests: [{ id: "net_abi", durationMs: 1200 }, { id: "x" }] }), "f")], [["net_abi", 1200]]);
  t.throws(() => parseDurations("{", "d.json"), /d\.json: not JSON/);
  t.throws(() => parseDurations('{"a": "slow"}', "d.json"), /d\.json: "a" is not a number/);
  t.throws(() => parseDurations("[1]", "d.json"), /want a kharness results\.json/);
});

const leaf = (id: string, status: TestResult["status"]): TestResult => ({ id, name: id, status, log: [], kernelEvents: [], children: [] });
const prog = (name: string, ...kids: TestResult[]): TestResult => ({ ...leaf(name, kids.some((k) => k.status === "FAIL") ? "FAIL" : "PASS"), children: kids });
const runOf = (tests: TestResult[], extra: Partial<RunResult> = {}): RunResult => ({
  schemaVersion: 1,
  tests,
  summary: { pass: 0, fail: 0, skip: 0, xfail: 0, xpass: 0, timeout: 0, crash: 0, error: 0, total: 0 },
  diagnostics: [],
  kernelEvents: [],
  ...extra,
});

t.test("joining parts: run order, counts again, diagnostics and could-not-test kept with their part", async (t) => {
  const g1 = runOf([prog("b", leaf("b.1", "PASS"), leaf("b.2", "SKIP"))], { diagnostics: [{ level: "warning", message: "odd line" }] });
  const g2 = runOf([prog("c", leaf("c.1", "FAIL")), prog("a", leaf("a.1", "PASS"))], {
    couldNotTest: { cause: "boot-end", reason: "the VM stopped producing output" },
  });
  const run = mergeRunParts(
    [
      { label: "guest-1", run: g1 },
      { label: "guest-2", run: g2 },
    ],
    ["a", "b", "c"],
  );
  t.same(
    run.tests.map((x) => x.id),
    ["a", "b", "c"],
    "in the run's order",
  );
  t.same(run.summary, { pass: 2, fail: 1, skip: 1, xfail: 0, xpass: 0, timeout: 0, crash: 0, error: 0, total: 4 });
  t.equal(run.diagnostics[0]?.where, "guest-1");
  t.match(run.couldNotTest?.reason, /^guest-2: the VM stopped/);
  const boot = mergeBoots([
    { label: "guest-1", boot: { end: "poweroff", accel: "tcg", machine: "q35", durations: { bootMs: 3000, totalMs: 9000 } } },
    { label: "guest-2", boot: { end: "panic", endDetail: "Kernel panic", accel: "tcg", machine: "q35", durations: { bootMs: 3500, totalMs: 7000 } } },
  ]);
  t.equal(boot?.end, "panic");
  t.equal(boot?.endDetail, "guest-2: Kernel panic");
  t.same(boot?.durations, { bootMs: 3500, totalMs: 9000 });
});

t.test("a program split by case joins into one entry: its cases in order, the whole program's status", async (t) => {
  const order = ["c1", "c2", "c3", "c4"];
  const part1 = { ...prog("p", leaf("p.c1", "PASS"), leaf("p.c3", "SKIP")), status: "PASS" as const, durationMs: 10 };
  const part2 = { ...prog("p", leaf("p.c2", "SKIP"), leaf("p.c4", "SKIP")), status: "SKIP" as const, durationMs: 5 };
  for (const c of [...part1.children, ...part2.children]) c.name = c.id.slice(2);
  const joined = joinSplitProgram(part1, part2, order);
  t.same(
    joined.children.map((c) => c.id),
    ["p.c1", "p.c2", "p.c3", "p.c4"],
  );
  t.equal(joined.status, "PASS", "a program with a passing case and skips exits 0: PASS");
  t.equal(joined.durationMs, 15);
  const failing = joinSplitProgram(part2, { ...part1, status: "FAIL", reason: "exit=1" }, order);
  t.equal(failing.status, "FAIL");
  t.equal(failing.reason, "exit=1");
  const run = mergeRunParts(
    [
      { label: "guest-1", run: runOf([part1]) },
      { label: "guest-2", run: runOf([part2]) },
    ],
    ["p"],
    (n) => (n === "p" ? order : undefined),
  );
  t.equal(run.tests.length, 1, "one entry for the program");
  t.same(run.summary.total, 4);
  const twoNoOutput = mergeRunParts(
    [
      { label: "guest-1", run: runOf([leaf("no_tap_output", "CRASH")]) },
      { label: "guest-2", run: runOf([leaf("no_tap_output", "CRASH")]) },
    ],
    [],
  );
  t.equal(twoNoOutput.tests.length, 2, "entries that were not split stay apart");
});
