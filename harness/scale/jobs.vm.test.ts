// VM level (default kernel): --jobs 2 gives the verdicts of --jobs 1 (programs shared out, or one program's
// cases split), a panic in one guest keeps the other's results, and three --shard runs joined by
// `kharness merge` give the unsharded run's verdicts and counts.

import t from "tap";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { faultPrograms } from "../../test/support/faults/fault-programs.js";
import { findLiveProcesses } from "../../test/support/procs.js";
import { leaves, readResults, runCli, tempDir } from "../../test/support/cli-run.js";
import type { RunResult } from "../types.js";

/** Every test id (leaves and programs) with its status and reason: what "the same verdicts" means. */
function verdicts(run: RunResult): string[] {
  const out: string[] = [];
  const walk = (ts: RunResult["tests"]) => {
    for (const x of ts) {
      out.push(`${x.id} ${x.status}${x.reason ? ` ${x.reason}` : ""}`);
      walk(x.children);
    }
  };
  walk(run.tests);
  return out;
}

let single: RunResult | undefined;

t.test("--jobs 2: the verdicts of --jobs 1, each guest with its own logs, parse RUN_DIR agrees", async (t) => {
  const one = await runCli(["run", "--jobs", "1"]);
  t.equal(one.code, 0, one.stderr.slice(-2000));
  single = await readResults(one.outDir);
  const two = await runCli(["run", "--jobs", "2"]);
  t.equal(two.code, 0, two.stderr.slice(-2000));
  const run = await readResults(two.outDir);
  t.same(verdicts(run), verdicts(single), "every test id and status as with one guest");
  t.same(run.summary, single.summary, `the same counts (${run.summary.pass} pass, ${run.summary.skip} skip)`);
  t.equal(run.boot?.end, "poweroff");
  const manifest = JSON.parse(readFileSync(path.join(two.outDir, "manifest.json"), "utf8")) as { jobs: number; parts: { dir: string; programs: string[] }[] };
  t.equal(manifest.jobs, 2);
  t.same(
    manifest.parts.map((p) => p.dir),
    ["guest-1", "guest-2"],
  );
  t.same(manifest.parts.flatMap((p) => p.programs).sort(), run.tests.map((x) => x.id).sort(), "each program in exactly one guest");
  for (const p of manifest.parts) {
    const log = readFileSync(path.join(two.outDir, p.dir, "console.log"), "utf8");
    t.match(log, /Linux version 6\.12/, `${p.dir}/console.log holds its kernel log`);
    for (const prog of p.programs) t.match(log, new RegExp(`kharness: start ${prog}\\b`), `${p.dir} ran ${prog}`);
    for (const f of ["results.log", "replay.sh", "qemu-argv.txt", "initramfs.cpio", "manifest.json"])
      t.ok(existsSync(path.join(two.outDir, p.dir, f)), `${p.dir}/${f}`);
  }
  t.match(readFileSync(path.join(two.outDir, "console.log"), "utf8"), /^==> guest-1\/console\.log/, "console.log joins the guests' logs under headers");
  const parsed = await runCli(["parse", two.outDir, "--json"]);
  t.equal(parsed.code, 0, parsed.stderr);
  t.same(verdicts(JSON.parse(parsed.stdout) as RunResult), verdicts(run), "kharness parse RUN_DIR re-parses each guest and joins them the same way");
});

t.test("--jobs 2 with one program: its cases split over the guests, joined into the one-guest verdicts", async (t) => {
  const r = await runCli(["run", "--jobs", "2", "--tests", "net_tcp"]);
  t.equal(r.code, 0, r.stderr.slice(-2000));
  const run = await readResults(r.outDir);
  const manifest = JSON.parse(readFileSync(path.join(r.outDir, "manifest.json"), "utf8")) as {
    parts: { programs: string[] }[];
    splitCases: Record<string, string[]>;
  };
  t.same(
    manifest.parts.map((p) => p.programs),
    [["net_tcp"], ["net_tcp"]],
    "net_tcp ran in both guests",
  );
  const base = single?.tests.find((x) => x.id === "net_tcp");
  t.ok(base, "the --jobs 1 run has net_tcp");
  t.same(verdicts(run), verdicts({ ...run, tests: base ? [base] : [] }), "the same cases, order and verdicts as in one guest");
  t.equal(manifest.splitCases.net_tcp?.length, base?.children.length, "manifest.json keeps its whole case list");
  const parsed = await runCli(["parse", r.outDir, "--json"]);
  t.same(verdicts(JSON.parse(parsed.stdout) as RunResult), verdicts(run), "and kharness parse joins it the same way");
});

t.test("--jobs 2 with a kernel panic in one guest: the other guest's results stand", async (t) => {
  const progs = faultPrograms("fault_panic", "fault_ok_after");
  const r = await runCli(["run", "--jobs", "2", "--tests", "net_abi", "--program", ...progs]);
  t.equal(r.code, 1, `exit 1: a kernel fault\n${r.stderr.slice(-2000)}`);
  const run = await readResults(r.outDir);
  const byId = new Map(leaves(run.tests).map((x) => [x.id, x]));
  const crashed = run.tests.find((x) => x.id === "fault_panic");
  t.equal(crashed?.status, "CRASH");
  t.ok(
    crashed?.kernelEvents.some((e) => e.kind === "panic"),
    "the panic is attached to the test that ran in that guest",
  );
  t.equal(run.tests.find((x) => x.id === "fault_ok_after")?.status, "PASS", "a program of the other guest passed");
  t.ok(
    [...byId.values()].filter((x) => x.id.startsWith("net_abi.")).every((x) => x.status === "PASS"),
    "net_abi's cases passed in the other guest",
  );
  t.equal(run.boot?.end, "panic");
  const manifest = JSON.parse(readFileSync(path.join(r.outDir, "manifest.json"), "utf8")) as { parts: { dir: string; programs: string[] }[] };
  const panicked = manifest.parts.find((p) => p.programs.includes("fault_panic"));
  const other = manifest.parts.find((p) => !p.programs.includes("fault_panic"));
  t.ok(panicked && other, "the panic and the others ran in different guests");
  t.match(
    readFileSync(path.join(r.outDir, panicked?.dir ?? "", "console.log"), "utf8"),
    /Kernel panic - not syncing/,
    "the panicking guest's console log is kept",
  );
  t.notMatch(readFileSync(path.join(r.outDir, other?.dir ?? "", "console.log"), "utf8"), /Kernel panic/, "the other guest did not panic");
});

t.test("--jobs 2 interrupted (SIGINT) while the guests run: exit 130, no QEMU left, every guest's log kept", async (t) => {
  let inits = 0;
  const r = await runCli(["run", "--jobs", "2"], {
    // Once both guests' init has started, the tests are running in both.
    onStderr: (line) => (/guest init started/.test(line) && ++inits === 2 ? "SIGINT" : undefined),
  });
  t.equal(r.code, 130, r.code === 130 ? "exit 130" : r.stderr.slice(-2000));
  await new Promise((res) => setTimeout(res, 500));
  t.same(
    findLiveProcesses(/qemu-system/).filter((p) => p.cmdline.includes(r.outDir)),
    [],
    "no QEMU of this run left",
  );
  for (const g of ["guest-1", "guest-2"]) t.match(readFileSync(path.join(r.outDir, g, "console.log"), "utf8"), /Linux version/, `${g}/console.log kept`);
  const run = await readResults(r.outDir);
  t.equal(run.boot?.end, "interrupted", "results.json written, the end says interrupted");
});

t.test("three shards merged: the unsharded verdicts and counts; a missing or duplicated shard is refused", async (t) => {
  const base = single ?? (await readResults((await runCli(["run"])).outDir));
  const dirs: string[] = [];
  const shardPrograms: string[][] = [];
  for (const i of [1, 2, 3]) {
    const r = await runCli(["run", "--shard", `${i}/3`]);
    t.equal(r.code, 0, `shard ${i}/3\n${r.stderr.slice(-2000)}`);
    dirs.push(r.outDir);
    const m = JSON.parse(readFileSync(path.join(r.outDir, "manifest.json"), "utf8")) as {
      programs: { name: string }[];
      shard: { index: number; count: number; tests: string[] };
    };
    t.same([m.shard.index, m.shard.count], [i, 3], "manifest.json records the shard");
    t.same(
      m.shard.tests,
      base.tests.map((x) => x.id),
      "and the whole list",
    );
    shardPrograms.push(m.programs.map((p) => p.name));
  }
  t.same(shardPrograms.flat().sort(), base.tests.map((x) => x.id).sort(), "each program in exactly one shard");
  t.ok(
    shardPrograms.every((p) => p.length > 0),
    `no empty shard: ${shardPrograms.map((p) => p.join(",")).join(" | ")}`,
  );

  const out = path.join(tempDir("kh-merge-"), "merged");
  const junit = path.join(path.dirname(out), "merged.junit.xml");
  const m = await runCli(["merge", dirs[2] as string, dirs[0] as string, dirs[1] as string, "--out", out, "--junit", junit]);
  t.equal(m.code, 0, m.stderr);
  const merged = await readResults(out);
  t.same(verdicts(merged), verdicts(base), "the unsharded run's verdicts, in its order");
  t.same(merged.summary, base.summary, "and its counts");
  for (const f of ["results.json", "junit.xml", "results.tap", "console.log", "shard-1/console.log", "shard-3/results.json"])
    t.ok(existsSync(path.join(out, f)), f);
  t.match(readFileSync(junit, "utf8"), /<testsuites/, "--junit F written too");
  const parsed = await runCli(["parse", out, "--json"]);
  t.equal(parsed.code, 0, parsed.stderr);
  t.same(verdicts(JSON.parse(parsed.stdout) as RunResult), verdicts(base), "kharness parse of the merged directory agrees");

  const missing = await runCli(["merge", dirs[0] as string, dirs[2] as string, "--out", path.join(path.dirname(out), "m2")]);
  t.equal(missing.code, 2, "a missing shard: exit 2");
  t.match(missing.stderr, /shard 2\/3 is missing/);
  const dup = await runCli(["merge", dirs[0] as string, dirs[1] as string, dirs[1] as string, dirs[2] as string, "--out", path.join(path.dirname(out), "m3")]);
  t.equal(dup.code, 2, "a duplicated shard: exit 2");
  t.match(dup.stderr, new RegExp(`shard 2/3 given 2 times: ${(dirs[1] as string).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  const notShard = await runCli(["merge", dirs[0] as string, path.dirname(out), "--out", path.join(path.dirname(out), "m4")]);
  t.equal(notShard.code, 2, "a directory that is not a shard: exit 2");
  // A shard of another list, and one run on another kernel: copies of shard 2 with their record changed.
  for (const [what, change, message] of [
    ["another test list", (s: Record<string, unknown>) => (s.listId = "0000000000000000"), /split another test list than .*: other tests/],
    ["another kernel", (s: Record<string, unknown>) => (s.kernel = { release: "6.1.0-test", source: "image" }), /ran kernel 6\.1\.0-test/],
  ] as const) {
    const copy = path.join(tempDir("kh-shard-copy-"), "shard2");
    cpSync(dirs[1] as string, copy, { recursive: true });
    const mf = path.join(copy, "manifest.json");
    const doc = JSON.parse(readFileSync(mf, "utf8")) as { shard: Record<string, unknown> };
    change(doc.shard);
    writeFileSync(mf, JSON.stringify(doc));
    const r = await runCli(["merge", dirs[0] as string, copy, dirs[2] as string, "--out", path.join(path.dirname(out), `m-${what.replace(/ /g, "-")}`)]);
    t.equal(r.code, 2, `a shard from ${what}: exit 2`);
    t.match(r.stderr, message, "named");
  }
});
