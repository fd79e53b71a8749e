// Expectation files: their checks (every problem named with the entry), release ranges, config conditions, and
// what applying them does to a run (XFAIL, XPASS, parents, the summary and exit code).
import t from "tap";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { exitCodeForRun } from "../exit-codes.js";
import { summarize } from "../results/index.js";
import type { RunResult, Status, TestResult } from "../types.js";
import { tempDir } from "../../test/support/cli-run.js";
import { applyExpectations, entryApplies, parseExpectText, parseKernelConfig, parseReleaseRange, readExpectFile, releaseInRange } from "./expectations.js";

const leaf = (id: string, status: Status, reason?: string): TestResult => ({
  id,
  name: id,
  status,
  ...(reason ? { reason } : {}),
  log: [],
  kernelEvents: [],
  children: [],
});
const prog = (id: string, status: Status, children: TestResult[]): TestResult => ({ id, name: id, status, log: [], kernelEvents: [], children });
const run = (tests: TestResult[]): RunResult => ({ schemaVersion: 1, tests, summary: summarize(tests), diagnostics: [], kernelEvents: [] });

t.test("release ranges", async (t) => {
  const r = (spec: string) => {
    const x = parseReleaseRange(spec);
    if (typeof x === "string") throw new Error(x);
    return x;
  };
  t.ok(releaseInRange("6.12.118+deb12-cloud-amd64", r(">=6.12, <6.13")));
  t.notOk(releaseInRange("6.13.0", r(">=6.12, <6.13")));
  t.ok(releaseInRange("6.12.118", r("6.12")), "a bare version is that series");
  t.notOk(releaseInRange("6.1.192", r("6.12")), "6.1 is not 6.12");
  t.ok(releaseInRange("6.1.192-cloud", r("<6.2")));
  t.ok(releaseInRange("6.12", r("=6.12.0")), "a missing part counts as 0");
  t.notOk(releaseInRange("garbage", r(">=1")));
  t.type(parseReleaseRange("~6.1"), "string");
  t.type(parseReleaseRange(""), "string");
});

t.test("config conditions, =n matching an unset option", async (t) => {
  const config = parseKernelConfig('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x y"\nCONFIG_N=n\n');
  const e = async (c: string[], kernel?: string) => {
    const p = await parseExpectText(JSON.stringify([{ tests: "x", reason: "r", config: c, ...(kernel ? { kernel } : {}) }]), "f");
    t.same(p.problems, []);
    return p.entries[0]!;
  };
  t.ok(entryApplies(await e(["CONFIG_A=y"]), { config }));
  t.notOk(entryApplies(await e(["CONFIG_A=m"]), { config }));
  t.ok(entryApplies(await e(["CONFIG_B=n"]), { config }), "not set is n");
  t.ok(entryApplies(await e(["CONFIG_Z=n"]), { config }), "absent is n");
  t.ok(entryApplies(await e(["CONFIG_N=n"]), { config }));
  t.ok(entryApplies(await e(["CONFIG_C=x y"]), { config }));
  t.notOk(entryApplies(await e(["CONFIG_A=y"]), {}), "no known config: an entry with config conditions does not apply");
  t.ok(entryApplies(await e(["CONFIG_A=y"], ">=6.12"), { config, release: "6.12.1" }));
  t.notOk(entryApplies(await e(["CONFIG_A=y"], ">=6.12"), { config, release: "6.1.1" }));
  t.notOk(entryApplies(await e([], ">=6.12"), {}), "unknown release: a range does not apply");
});

t.test("every problem of a file at once, each naming the file and entry", async (t) => {
  const text = `
version: 1
expectations:
  - tests: "a.*"
    reason: fine
  - tests: "[z-a]"
    reason: backwards range
  - tests: b
    status: PASS
    reason: ok
  - tests: c
  - tests: d
    reason: r
    kernel: "~6"
    config: [KASAN=y]
    colour: red
`;
  const p = await parseExpectText(text, "known.yaml");
  t.equal(p.entries.length, 1);
  t.equal(p.problems.length, 6, p.problems.join("\n"));
  t.match(p.problems.join("\n"), /--expect known\.yaml: entry 2: tests: "\[z-a\]"/);
  t.match(p.problems.join("\n"), /entry 3: status "PASS": expected one of FAIL, TIMEOUT, CRASH, ERROR/);
  t.match(p.problems.join("\n"), /entry 4: no "reason"/);
  t.match(p.problems.join("\n"), /entry 5: unknown key "colour"/);
  t.match(p.problems.join("\n"), /entry 5: kernel: "~6" is not a release comparator/);
  t.match(p.problems.join("\n"), /entry 5: config "KASAN=y": expected CONFIG_NAME=value/);
  t.match((await parseExpectText("{[", "bad.json")).problems[0], /--expect bad\.json: not valid YAML or JSON/);
  t.match((await parseExpectText('{"version": 2, "expectations": []}', "v.json")).problems[0], /version 2 is not supported/);
  t.same(await parseExpectText('{"expectations": []}', "e.json"), { entries: [], problems: [] }, "an empty list is fine");
  const dir = tempDir("kh-expect-");
  t.match((await readExpectFile(path.join(dir, "none.yaml"))).problems[0], /none\.yaml: cannot read it \(no such file\)/);
  writeFileSync(
    path.join(dir, "ok.json"),
    JSON.stringify({ expectations: [{ tests: ["x.*", "y"], status: ["FAIL", "timeout"], reason: "r", link: "https://e/1" }] }),
  );
  const ok = await readExpectFile(path.join(dir, "ok.json"));
  t.same(ok.expect?.entries[0]?.status, ["FAIL", "TIMEOUT"]);
  t.same(ok.expect?.entries[0]?.tests, ["x.*", "y"]);
});

t.test("applying: FAIL -> XFAIL, PASS -> XPASS, the parent follows, exit code 0 then 1", async (t) => {
  const p = await parseExpectText(
    `- tests: ["sock.layers.*"]\n  reason: layer bug\n  link: https://lore.example/1\n- tests: other.t\n  status: TIMEOUT\n  reason: slow`,
    "k.yaml",
  );
  t.same(p.problems, []);
  const expect = { file: "k.yaml", entries: p.entries };
  const broken = run([
    prog("sock", "FAIL", [leaf("sock.layers.a", "FAIL", "errno 13"), leaf("sock.layers.b", "FAIL"), leaf("sock.pair.c", "PASS")]),
    prog("other", "PASS", [leaf("other.t", "FAIL")]),
  ]);
  t.equal(exitCodeForRun(broken, { bisect: false }), 1);
  const partial = applyExpectations(broken, expect, {});
  t.same(partial.xfail, ["sock.layers.a", "sock.layers.b"]);
  t.equal(partial.run.tests[0]?.status, "XFAIL", "a parent whose failures are all known is XFAIL");
  t.equal(partial.run.tests[1]?.children[0]?.status, "FAIL", "an entry expecting TIMEOUT does not hide a FAIL");
  t.equal(exitCodeForRun(partial.run, { bisect: false }), 1);
  const onlySock = run([broken.tests[0]!]);
  const r = applyExpectations(onlySock, expect, {});
  t.equal(r.run.summary.xfail, 2);
  t.equal(exitCodeForRun(r.run, { bisect: false }), 0, "every failure known: exit 0");
  t.match(r.run.tests[0]?.children[0]?.reason, /^known failure \(FAIL: errno 13\): layer bug \(https:\/\/lore\.example\/1\)$/);
  const fixedOther = applyExpectations(run([prog("other", "PASS", [leaf("other.t", "PASS")])]), expect, {});
  t.equal(fixedOther.run.tests[0]?.children[0]?.status, "XPASS", "an entry expecting TIMEOUT on a test that passed: XPASS");

  const good = run([prog("sock", "PASS", [leaf("sock.layers.a", "PASS"), leaf("sock.layers.b", "PASS"), leaf("sock.pair.c", "PASS")])]);
  const g = applyExpectations(good, expect, {});
  t.same(g.xpass, ["sock.layers.a", "sock.layers.b"]);
  t.equal(g.run.summary.xpass, 2);
  t.match(g.run.tests[0]?.children[0]?.reason, /expected to FAIL \(layer bug .*\) but passed: the entry in k\.yaml is stale/);
  t.equal(exitCodeForRun(g.run, { bisect: false }), 1, "a stale entry fails the run, so it surfaces");
  t.match(g.run.diagnostics.at(-1)?.message, /0 known failures \(XFAIL\), 2 stale entries \(XPASS\)/);
});

t.test("a hostile nesting depth (100,000 levels) is walked without overflowing the stack", async (t) => {
  let deep = leaf("d", "FAIL");
  for (let i = 0; i < 100000; i++) deep = prog(`p${i}`, "PASS", [deep]);
  const p = await parseExpectText(`- tests: d\n  reason: deep`, "deep.yaml");
  const r = applyExpectations(run([deep]), { file: "deep.yaml", entries: p.entries }, {});
  t.same(r.xfail, ["d"]);
  t.equal(r.run.summary.xfail, 1);
});
