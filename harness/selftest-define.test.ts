// --selftest-define (a test-only build of the bundled selftests) is documented in `kharness run --help`, recorded
// in results.json as payloadBuild and shown under the verdict, so a mutated run is never read as a normal one.
// Process level with a stand-in QEMU that reports a version and exits (no guest boots), plus the pure renderers.
import t from "tap";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { cacheRoot } from "./exec/cache.js";
import { resolveDefaultKernel } from "./kernel/default.js";
import { renderJson, renderTerminal } from "./report/index.js";
import type { RunResult } from "./types.js";
import { readResults, runCli, tempDir } from "../test/support/cli-run.js";

const kernel = (await resolveDefaultKernel(cacheRoot()).catch(() => undefined))?.path;
const needKernel = kernel ? false : "default kernel not installed (npm run setup)";

async function fakeQemu(): Promise<string> {
  const f = path.join(tempDir("kh-fakeqemu-"), "qemu-system-x86_64");
  await fs.writeFile(f, ["#!/bin/sh", 'if [ "$1" = --version ]; then echo "QEMU emulator version 8.2.0"; exit 0; fi', "exit 1", ""].join("\n"), {
    mode: 0o755,
  });
  return f;
}

t.test("kharness run --help documents --selftest-define as test-only and where it is recorded", async (t) => {
  const r = await runCli(["run", "--help"]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /--selftest-define D\.\.\. test-only: build the bundled selftests with -DD/);
  t.match(r.stdout, /Recorded in results\.json \(payloadBuild\)/);
});

t.test("a run with --selftest-define records the defines in results.json and says so under the verdict", { skip: needKernel }, async (t) => {
  const QEMU = await fakeQemu();
  const run = (extra: string[]) =>
    runCli(["run", "--kernel", kernel as string, "--accel", "tcg", "--tests", "net_abi", ...extra], { env: { KHARNESS_QEMU: QEMU } });
  const mutated = await run(["--selftest-define", "KH_FLIP_ERRNO"]);
  const doc = await readResults(mutated.outDir);
  t.same(doc.payloadBuild, { selftestDefines: ["KH_FLIP_ERRNO"] }, `results.json records the test-only build\n${mutated.stderr.slice(-1500)}`);
  t.match(mutated.stdout + mutated.stderr, /TEST-ONLY SELFTEST BUILD \(--selftest-define KH_FLIP_ERRNO\)/, "the terminal summary says so");

  const normal = await run([]);
  const plain = await readResults(normal.outDir);
  t.ok(plain.summary, "the normal run wrote results.json");
  t.notOk("payloadBuild" in plain, "a normal run has no payloadBuild");
  t.notMatch(normal.stdout + normal.stderr, /TEST-ONLY/, "and no test-only line");
});

/** A one-test run result, as the pipeline hands it to the reports. */
function result(extra: Partial<RunResult> = {}): RunResult {
  return {
    schemaVersion: 1,
    tests: [{ id: "net_abi", name: "net_abi", status: "FAIL", children: [], log: [], kernelEvents: [] }],
    summary: { total: 1, pass: 0, fail: 1, skip: 0, xfail: 0, xpass: 0, timeout: 0, crash: 0, error: 0 },
    diagnostics: [],
    kernelEvents: [],
    ...extra,
  };
}

t.test("the renderers carry payloadBuild: JSON field and terminal line, and neither without it", async (t) => {
  const mutated = result({ payloadBuild: { selftestDefines: ["KH_FLIP_ERRNO", "X=1"] } });
  t.same(JSON.parse(renderJson(mutated)).payloadBuild, { selftestDefines: ["KH_FLIP_ERRNO", "X=1"] });
  t.match(
    renderTerminal(mutated, { color: false }),
    /\nTEST-ONLY SELFTEST BUILD \(--selftest-define KH_FLIP_ERRNO X=1\): these verdicts check the selftests, not the kernel\n$/,
  );
  t.notOk("payloadBuild" in JSON.parse(renderJson(result())), "absent from a normal run's JSON");
  t.notMatch(renderTerminal(result(), { color: false }), /TEST-ONLY/);
});
