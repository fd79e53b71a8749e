// Logs recorded from real kharness runs (QEMU, TCG), replayed through the streaming parser in small chunks.
import t from "tap";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as path from "node:path";
import { createRunParser, parseLog } from "./index.js";
import type { RunResult, TestResult } from "../types.js";

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata", "real");
const read = (name: string) => readFileSync(path.join(dir, name));

function leaves(ts: readonly TestResult[]): TestResult[] {
  return ts.flatMap((x) => (x.children.length ? leaves(x.children) : [x]));
}

/** Feeds both streams interleaved in 97-byte chunks, as they arrive from QEMU. */
function replay(results: Buffer, consoleLog: Buffer): RunResult {
  const p = createRunParser();
  const step = 97;
  for (let i = 0; i < Math.max(results.length, consoleLog.length); i += step) {
    if (i < results.length) p.pushResults(results.subarray(i, i + step));
    if (i < consoleLog.length) p.pushConsole(consoleLog.subarray(i, i + step));
  }
  return p.finish({ end: "poweroff" });
}

t.test("Debian 6.12 default run: 169 pass, socket_create's 86 skip with the probe's reason", async (t) => {
  const run = replay(read("debian-6.12-default-run.results.log"), read("debian-6.12-default-run.console.log"));
  t.match(run.summary, { pass: 169, skip: 86, fail: 0, crash: 0, error: 0, total: 255 });
  t.same(
    run.tests.map((x) => x.id),
    ["net_abi", "net_rules", "net_tcp", "net_unrestricted", "net_layers", "socket_create"],
  );
  const sock = leaves(run.tests).filter((x) => x.id.startsWith("socket_create."));
  t.ok(sock.every((x) => x.status === "SKIP" && x.reason === "socket creation control not supported by this kernel"));
  t.same(run.kernelEvents, [], "a clean boot has no kernel reports");
  t.ok(
    leaves(run.tests).every((x) => !x.log.some((l) => l.includes("kharness: start"))),
    "kmsg markers stay out of test logs",
  );
});

t.test("the same run's console log alone has no KTAP: a failure to run, never a pass", async (t) => {
  const run = parseLog(read("debian-6.12-default-run.console.log"));
  t.equal(run.summary.pass, 0);
  t.ok(run.summary.error + run.summary.crash > 0);
});
