// VM level: the default kernel run locally, then the same kernel and payload run by LAVA's own dispatcher (Debian's
// lava-run, as TuxRun runs it) from the job `kharness lava-job` wrote; `kharness parse` of the dispatcher's log and
// of the console it carries gives the local run's verdicts, id by id. The local run's KCIDB output is checked
// against kcidb-io's v5.3 schema.
import t from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { createLavaLogDecoder } from "./index.js";
import { leaves, readResults, runCli, tempDir } from "../../test/support/cli-run.js";
import { kcidbSchemaErrors } from "../../test/support/kcidb-schema.js";
import type { RunResult } from "../types.js";

const LAVA_RUN = "/usr/bin/lava-run";
const verdicts = (run: RunResult) => Object.fromEntries(leaves(run.tests).map((c) => [c.id, `${c.status}${c.reason ? ` ${c.reason}` : ""}`]));

const runKcidb = path.join(tempDir("kh-kcidb-"), "kcidb.json");
const local = await runCli(["run", "--kcidb", runKcidb]);

t.test("the local run of the default kernel", async (t) => {
  t.equal(local.code, 0, local.stderr.slice(-3000));
});

t.test("KCIDB: the default kernel's run validates against the v5.3 schema, as written by run --kcidb and by kharness kcidb", async (t) => {
  const validate = kcidbSchemaErrors();
  const run = await readResults(local.outDir);
  t.same(validate(JSON.parse(await fs.readFile(runKcidb, "utf8"))), [], "run --kcidb FILE validates");
  const out = tempDir("kh-kcidb-");
  const r = await runCli(["kcidb", local.outDir, "--origin", "kharness_ci", "-o", path.join(out, "k.json")]);
  t.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(await fs.readFile(path.join(out, "k.json"), "utf8"));
  t.same(validate(doc), [], "kharness kcidb RUN_DIR validates");
  t.equal(doc.tests.length, leaves(run.tests).length, "one test per result");
  t.ok(
    doc.tests.every((x: { id: string; duration?: number }) => x.id.startsWith(`kharness_ci:${run.runId}:`) && typeof x.duration === "number"),
    "ids are origin:run-id:test, each with a duration",
  );
  t.match(doc.builds[0], { architecture: "x86_64", compiler: /gcc/, config_name: /^debian-/ });
  t.match(doc.builds[0].misc.config_sha256, /^[0-9a-f]{64}$/);
  t.match(doc.tests[0].environment.misc, { accelerator: run.boot?.accel, machine: run.boot?.machine, qemu_version: /^\d+\.\d+/ });
});

// lava-run refuses to run unless root; skipped only then, saying so.
const notRoot = process.getuid?.() !== 0 ? "not root: lava-run (LAVA's dispatcher) refuses to run unless root" : false;
if (notRoot) t.comment(`SKIP lava-run test: ${notRoot}`);

t.test("lava-run runs the job kharness lava-job wrote; kharness parse of its log gives the local run's verdicts", { skip: notRoot }, async (t) => {
  const localRun = await readResults(local.outDir);
  const expected = verdicts(localRun);
  t.ok(
    Object.values(expected).some((v) => v.startsWith("PASS")),
    "the local run has passes to compare",
  );

  const jobDir = tempDir("kh-lava-job-");
  const made = await runCli(["lava-job", "--out", jobDir, "--device-dict"]);
  t.equal(made.code, 0, made.stderr.slice(-3000));
  const job = parseYaml(await fs.readFile(path.join(jobDir, "job.yaml"), "utf8"));
  t.equal(job.device_type, "qemu");
  t.match(job.actions[0].deploy.images.kernel.url, /^file:\/\//);
  t.match(job.actions[0].deploy.images.kernel.image_arg, /kharness\.console_results=1/);

  // A job id of this process's own, and the dispatcher prefix lava-job wrote (the run id), keep parallel jobs apart.
  const outDir = tempDir("kh-lava-out-");
  const logFile = path.join(outDir, "lava.log");
  const t0 = Date.now();
  let code = 0;
  try {
    execFileSync(
      "sh",
      [
        "-c",
        `exec ${LAVA_RUN} --device "$1" --dispatcher "$2" --job-id "$3" --output-dir "$4" "$5" 2> "$6"`,
        "sh",
        path.join(jobDir, "device.yaml"),
        path.join(jobDir, "dispatcher.yaml"),
        String(process.pid),
        path.join(outDir, "output"),
        path.join(jobDir, "job.yaml"),
        logFile,
      ],
      { stdio: "ignore", timeout: 15 * 60_000 },
    );
  } catch (e) {
    code = (e as { status?: number }).status ?? -1;
  }
  t.comment(`lava-run took ${((Date.now() - t0) / 1000).toFixed(1)} s (exit ${code})`);
  const log = await fs.readFile(logFile, "utf8");
  t.equal(code, 0, `lava-run exit 0\n${log.split("\n").slice(-15).join("\n")}`);
  t.match(await fs.readFile(path.join(outDir, "output", "result.yaml"), "utf8"), /result: pass/, "the dispatcher's job verdict is pass");

  // The dispatcher's log, read by kharness parse.
  const parsedJson = path.join(outDir, "parsed.json");
  const p = await runCli(["parse", logFile, "--json-out", parsedJson]);
  t.equal(p.code, 0, p.stderr.slice(-2000));
  const fromLog = JSON.parse(await fs.readFile(parsedJson, "utf8")) as RunResult;
  t.same(verdicts(fromLog), expected, "the dispatcher's log: every test id with the local run's status and reason");
  t.same(fromLog.summary, localRun.summary, "the same counts");

  // The plain console the log carries, parsed as a console file.
  const d = createLavaLogDecoder();
  const consoleText = d.push(log) + d.finish();
  t.equal(d.stats.badLines, 0, "every line of the log is a dispatcher record");
  const consoleFile = path.join(outDir, "console.txt");
  await fs.writeFile(consoleFile, consoleText);
  const c = await runCli(["parse", consoleFile, "--json-out", path.join(outDir, "console.json")]);
  t.equal(c.code, 0, c.stderr.slice(-2000));
  t.same(verdicts(JSON.parse(await fs.readFile(path.join(outDir, "console.json"), "utf8"))), expected, "the plain console: the same verdicts");

  // LAVA's own monitor saw the results too (informational for LAVA's UI; the verdicts above are kharness's).
  const monitor = d.stats.monitorResults.filter((m) => m.definition === "kharness");
  const localSkips = Object.values(expected).filter((v) => v.startsWith("SKIP")).length;
  t.ok(monitor.length >= Object.keys(expected).length, `the monitor reported every result line (${monitor.length})`);
  t.ok(monitor.filter((m) => m.result === "skip").length >= localSkips, "the monitor's pattern reads # SKIP as skip");
  t.notOk(
    monitor.some((m) => m.result === "fail"),
    "no result the monitor read is a failure",
  );
});
