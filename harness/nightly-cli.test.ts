// Process level, through the CLI (no boot): the nightly options' usage errors (exit 2, every problem at once,
// naming the input and the fix), compare's bad input, and history/flakes on a database made here.
import t from "tap";
import { mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { ArgsError, parseCommandLine } from "./cli-args.js";
import { openHistory, recordRun } from "./history/db.js";
import { runCli, tempDir } from "../test/support/cli-run.js";

const problemsOf = (argv: string[]): string[] => {
  try {
    parseCommandLine(argv);
    return [];
  } catch (e) {
    if (e instanceof ArgsError) return e.problems;
    throw e;
  }
};

t.test("option checks", async (t) => {
  t.match(problemsOf(["run", "--repeat", "0"]), [/--repeat 0: expected a number of boots from 1 to 1000/]);
  t.match(problemsOf(["run", "--repeat", "two"]), [/--repeat two/]);
  t.match(problemsOf(["run", "--history", "h.db", "--no-history"]), [/--history and --no-history both given/]);
  t.match(problemsOf(["run", "--baseline", "last-green", "--no-history"]), [/--baseline last-green needs the history/]);
  t.match(problemsOf(["compare", "a"]), [/compare takes two runs, BASE and NEW/]);
  t.match(problemsOf(["compare", "a", "b", "--json", "--markdown"]), [/--json and --markdown both given/]);
  t.match(problemsOf(["history"]), [/history needs one TEST_ID/]);
  t.match(problemsOf(["flakes", "x"]), [/flakes takes no arguments/]);
  const run = parseCommandLine(["run", "--expect", "k.yaml", "--baseline", "last-green", "--repeat", "3", "--history", "h.db"]);
  t.match(run, { cmd: "run", repeat: 3, history: { off: false, path: "h.db" }, req: { expect: "k.yaml", baseline: "last-green" } });
  t.match(parseCommandLine(["run", "--no-history"]), { history: { off: true }, repeat: 1 });
  t.match(parseCommandLine(["compare", "a", "b", "--markdown"]), { cmd: "compare", base: "a", next: "b", format: "markdown" });
});

t.test("run: a bad --expect file and a bad --baseline are refused before anything runs, with every problem", async (t) => {
  const dir = tempDir("kh-nightly-cli-");
  const bad = path.join(dir, "bad.yaml");
  writeFileSync(bad, "- tests: x\n- tests: y\n  reason: r\n  status: PASS\n");
  const out = path.join(dir, "out");
  const r = await runCli(["run", "--expect", bad, "--baseline", path.join(dir, "nowhere"), "--out", out]);
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, `--expect ${bad}: entry 1: no "reason"`);
  t.match(r.stderr, `--expect ${bad}: entry 2: status "PASS"`);
  t.match(r.stderr, `compare --baseline ${path.join(dir, "nowhere")}: no such file or directory`);
  t.match(r.stderr, /3 problems; nothing was built or booted/);
});

t.test("compare: bad input is exit 2 naming the file and the fix", async (t) => {
  const dir = tempDir("kh-nightly-cli-");
  const notJson = path.join(dir, "results.json");
  writeFileSync(notJson, "{nope");
  const empty = path.join(dir, "empty");
  mkdirSync(empty);
  const a = await runCli(["compare", notJson, empty]);
  t.equal(a.code, 2);
  t.match(a.stderr, /compare (BASE|NEW) .*: (not JSON|a directory without results\.json)/);
  t.match(a.stderr, /^fix: pass a run directory/m);
  const other = path.join(dir, "other.json");
  writeFileSync(other, JSON.stringify({ hello: 1 }));
  const b = await runCli(["compare", other, other]);
  t.equal(b.code, 2);
  t.match(b.stderr, `compare BASE ${other}: not a kharness results.json`);
});

t.test("history and flakes read a database; a missing one is exit 2 with the fix", async (t) => {
  const dir = tempDir("kh-nightly-cli-");
  const file = path.join(dir, "h.db");
  const none = await runCli(["flakes", "--history", file]);
  t.equal(none.code, 2);
  t.match(none.stderr, `history ${file}: no such database`);
  const db = openHistory(file);
  ["PASS", "FAIL", "FAIL", "PASS"].forEach((status, i) =>
    recordRun(db, {
      runId: `r${i}`,
      time: `2026-01-01T00:00:0${i}Z`,
      verdict: "green",
      buildKey: "key-one",
      kernelRelease: "6.12.1",
      tests: [
        { id: "prog.case", status: status as "PASS" | "FAIL", durationMs: 10 + i },
        { id: "prog.steady", status: "PASS" },
      ],
    }),
  );
  db.close();
  const f = await runCli(["flakes", "--history", file]);
  t.equal(f.code, 0, f.stderr);
  t.match(f.stdout, /0\.67 {2}prog\.case: 2 flips in 4 runs \(2 PASS, 2 FAIL\) on 6\.12\.1/);
  t.notMatch(f.stdout, /prog\.steady/);
  const h = await runCli(["history", "prog.case", "--history", file]);
  t.equal(h.code, 0, h.stderr);
  t.match(h.stdout, /strip: PFFP/);
  const typo = await runCli(["history", "prog.cas", "--history", file]);
  t.equal(typo.code, 2);
  t.match(typo.stderr, /no results for prog\.cas/);
  t.match(typo.stderr, /did you mean prog\.case/);
});
