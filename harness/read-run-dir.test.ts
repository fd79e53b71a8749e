// `kharness parse RUN_DIR` (issue 10, item 8): a run directory parsed again from console.log + results.log gives
// the run's own verdicts, with program names from manifest.json and the boot's end from results.json.
import t, { type Test } from "tap";
import { promises as fs, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { findRunDir, parseRunDir } from "./read-run-dir.js";
import { createRunParser, makeRunManifest, nameUnstartedPrograms, runFailed } from "./results/index.js";
import { renderJson } from "./report/index.js";
import { writeRunManifest } from "./write-reports.js";
import { writeCpio } from "./payload/cpio.js";
import { UsageError } from "./errors.js";
import type { RunResult, TestResult } from "./types.js";
import type { StreamEnd } from "./results/index.js";

const testdata = path.join(path.dirname(fileURLToPath(import.meta.url)), "results", "testdata");
const flat = (ts: readonly TestResult[]): TestResult[] => ts.flatMap((x) => [x, ...flat(x.children)]);
/** What a verdict is: every entry's id, status and reason. */
const verdicts = (run: RunResult) => flat(run.tests).map((x) => [x.id, x.status, x.reason ?? ""]);

/** A run directory holding the two logs of a recorded run (and whatever else the test adds). */
async function runDir(t: Test, consoleLog: string, resultsLog: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "kh-rundir-"));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  await fs.copyFile(path.join(testdata, consoleLog), path.join(dir, "console.log"));
  await fs.copyFile(path.join(testdata, resultsLog), path.join(dir, "results.log"));
  return dir;
}

/** The live path over the same logs: the two streams interleaved in chunks, then the boot's end. */
function live(consoleLog: string, resultsLog: string, end: StreamEnd, failOnWarn = false): RunResult {
  const results = readFileSync(path.join(testdata, resultsLog));
  const con = readFileSync(path.join(testdata, consoleLog));
  const p = createRunParser({ failOnWarn });
  for (let i = 0; i < Math.max(results.length, con.length); i += 97) {
    p.pushResults(results.subarray(i, i + 97));
    p.pushConsole(con.subarray(i, i + 97));
  }
  return p.finish(end);
}

/** The error a promise rejects with (undefined when it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

const REAL = ["real/debian-6.12-default-run.console.log", "real/debian-6.12-default-run.results.log"] as const;

t.test("the real Debian 6.12 run: 169 pass, 86 skip, the same verdicts and times as the live parse", async (t) => {
  const dir = await runDir(t, ...REAL);
  const run = await parseRunDir(dir);
  t.match(run.summary, { pass: 169, skip: 86, fail: 0, crash: 0, error: 0, total: 255 });
  t.notOk(runFailed(run));
  const livRun = live(...REAL, { end: "poweroff" });
  t.same(verdicts(run), verdicts(livRun), "every id, status and reason as in the run");
  t.same(
    flat(run.tests).map((x) => [x.startMs, x.durationMs]),
    flat(livRun.tests).map((x) => [x.startMs, x.durationMs]),
    "the markers' times too",
  );
  // `kharness parse RUN_DIR` today: the console log alone has no KTAP, so it reports `no_tap_output`.
  t.notOk(run.tests.some((x) => x.id === "no_tap_output"));
});

t.test("a crashed run: never-started programs named from manifest.json, the boot's end from results.json", async (t) => {
  const logs = ["outside-tests/panic-in-first-program.console.log", "outside-tests/panic-in-first-program.results.log"] as const;
  const dir = await runDir(t, ...logs);
  const programs = [{ name: "net_tcp" }, { name: "net_rules" }];
  const end: StreamEnd = { end: "panic", detail: "Kernel panic - not syncing: Fatal exception" };
  const liveRun = nameUnstartedPrograms(live(...logs, end), programs);
  const bare = await parseRunDir(dir);
  t.same(
    bare.tests.map((x) => x.id),
    ["net_tcp", "test_2"],
    "without any manifest the program that never started has only its number",
  );
  // The guest's own manifest, in the initramfs the run booted (a run directory from before manifest.json).
  const guestManifest = "net_tcp\t/kharness/bin/net_tcp\t45\t-\nnet_rules\t/kharness/bin/net_rules\t45\t-\n";
  await fs.writeFile(
    path.join(dir, "initramfs.cpio"),
    Buffer.concat(
      writeCpio([
        { type: "dir", path: "kharness" },
        { type: "file", path: "kharness/manifest", data: Buffer.from(guestManifest) },
      ]),
    ),
  );
  t.same(
    (await parseRunDir(dir)).tests.map((x) => x.id),
    ["net_tcp", "net_rules"],
    "named from initramfs.cpio's kharness/manifest",
  );
  await fs.rm(path.join(dir, "initramfs.cpio"));
  await writeRunManifest(dir, makeRunManifest(programs, { failOnWarn: false }));
  const previous = {
    ...liveRun,
    runId: "20261120-091502-ab12",
    startedAt: "2026-11-20T09:15:02.123Z",
    boot: {
      end: "panic" as const,
      endDetail: "Kernel panic - not syncing: Fatal exception",
      accel: "tcg" as const,
      machine: "pc",
      durations: { totalMs: 9000 },
    },
  };
  await fs.writeFile(path.join(dir, "results.json"), renderJson(previous));
  const run = await parseRunDir(dir);
  t.same(verdicts(run), verdicts(liveRun), "the run's verdicts");
  t.match(
    run.tests.find((x) => x.id === "net_rules"),
    { status: "CRASH", reason: "not run: kernel crashed" },
  );
  t.match(run, { runId: "20261120-091502-ab12", startedAt: "2026-11-20T09:15:02.123Z", boot: { end: "panic" } });
});

t.test("the manifest's --fail-on-warn is the run's; an explicit option wins", async (t) => {
  const logs = ["outside-tests/warning-between-programs.console.log", "outside-tests/warning-between-programs.results.log"] as const;
  const dir = await runDir(t, ...logs);
  t.notOk(runFailed(await parseRunDir(dir)), "no manifest: a WARNING outside the tests does not fail");
  await writeRunManifest(dir, makeRunManifest([{ name: "net_tcp" }, { name: "net_rules" }], { failOnWarn: true }));
  const run = await parseRunDir(dir);
  t.same(verdicts(run), verdicts(live(...logs, { end: "poweroff" }, true)));
  t.equal(run.tests.find((x) => x.id === "kernel")?.status, "FAIL", "the run had --fail-on-warn");
  t.notOk(runFailed(await parseRunDir(dir, { failOnWarn: false })));
});

t.test("findRunDir: a run directory, or a console.log / results.log inside one; anything else is a plain log", async (t) => {
  const dir = await runDir(t, ...REAL);
  t.equal(await findRunDir(dir), dir);
  t.equal(await findRunDir(path.join(dir, "console.log")), dir);
  t.equal(await findRunDir(path.join(dir, "results.log")), dir);
  const lone = await fs.mkdtemp(path.join(os.tmpdir(), "kh-lone-"));
  t.teardown(() => fs.rm(lone, { recursive: true, force: true }));
  await fs.copyFile(path.join(testdata, REAL[0]), path.join(lone, "console.log"));
  t.equal(await findRunDir(path.join(lone, "console.log")), undefined, "a console.log without results.log");
  t.equal(await findRunDir(path.join(testdata, REAL[0])), undefined, "a log with another name");
  t.equal(await findRunDir(os.tmpdir()), undefined, "a directory without console.log");
  t.equal(await findRunDir(path.join(lone, "nope")), undefined);
});

t.test("not a run directory, or a damaged manifest: a usage error naming the path and the fix", async (t) => {
  const empty = await fs.mkdtemp(path.join(os.tmpdir(), "kh-empty-"));
  t.teardown(() => fs.rm(empty, { recursive: true, force: true }));
  const e1 = await rejection(parseRunDir(empty));
  t.ok(e1 instanceof UsageError, "a UsageError (exit 2)");
  t.match((e1 as UsageError).message, `parse ${empty}: not a kharness run directory (no console.log)`);
  t.match((e1 as UsageError).fix, /pass a run directory/);
  const dir = await runDir(t, ...REAL);
  await fs.writeFile(path.join(dir, "manifest.json"), '{"programs": 3}');
  const e2 = await rejection(parseRunDir(dir));
  t.ok(e2 instanceof UsageError);
  t.match((e2 as UsageError).message, `${path.join(dir, "manifest.json")}: not a kharness manifest`);
  await fs.writeFile(path.join(dir, "manifest.json"), "{");
  const e3 = await rejection(parseRunDir(dir));
  t.ok(e3 instanceof UsageError);
  t.match((e3 as UsageError).message, /manifest\.json: not JSON/);
  await fs.writeFile(path.join(dir, "manifest.json"), "{}");
  await fs.writeFile(path.join(dir, "results.json"), "not json");
  await fs.rm(path.join(dir, "manifest.json"));
  t.match((await parseRunDir(dir)).summary, { pass: 169, skip: 86 }, "a damaged results.json costs only the boot's end");
});
