// VM level, through the CLI: `kharness bisect --patches` on the broken example series over Debian's linux-source-6.12
// names patch 3 and the two layer cases, within ceil(log2(4)) builds beyond the ends; a rerun is all cache hits.
// The ends are the same kernels as harness/tree-run.vm.test.ts builds (the tree, and the tree + the whole series).
import t from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { REPO_ROOT, runCli, tempDir } from "../../test/support/cli-run.js";
import { findLiveProcesses } from "../../test/support/procs.js";
import type { BisectDoc } from "./bisect-doc.js";
import { linuxSourceTree } from "../../test/support/vm-fixture.js";

const BROKEN = path.join(REPO_ROOT, "patches", "landlock-socket-create-broken");
const LAYER_CASES = ["socket_create.layers.disjoint_rules_deny_both", "socket_create.layers.overlap_allows_only_common"];

const tree = await linuxSourceTree(t);
if (tree) {
  const readDoc = async (dir: string) => JSON.parse(await fs.readFile(path.join(dir, "bisect.json"), "utf8")) as BisectDoc;
  const timings = (doc: BisectDoc) =>
    doc.steps
      .map((s) => {
        const r = s.runs[0];
        return `step ${s.step} ${s.label} ${s.verdict}: build ${r?.cacheHit ? "cached" : `${((r?.buildMs ?? 0) / 1000).toFixed(1)} s`}, boot ${((r?.bootMs ?? 0) / 1000).toFixed(1)} s, tests ${((r?.testMs ?? 0) / 1000).toFixed(1)} s, wall ${((r?.wallMs ?? 0) / 1000).toFixed(1)} s`;
      })
      .join("\n");

  t.test("--patches landlock-socket-create-broken: patch 3 is the first bad patch; the two layer cases flipped", async (t) => {
    const out = path.join(tempDir("kh-bisect-"), "b");
    const r = await runCli(["bisect", "--tree", tree, "--patches", BROKEN, "--tests", "socket_create", "--out", out]);
    t.equal(r.code, 0, r.stderr.slice(-3000));
    const doc = await readDoc(out);
    t.comment(`first run: ${(r.durationMs / 1000).toFixed(1)} s\n${timings(doc)}`);
    t.equal(doc.schemaVersion, 1);
    t.equal(doc.state, "done");
    t.same(doc.signature?.tests, LAYER_CASES, "the signature: the tests that pass (skip) at the base and fail with the whole series");
    t.equal(doc.result?.status, "found");
    t.equal(doc.result?.firstBad?.id, "0003-landlock-Restrict-socket-creation.patch");
    t.equal(doc.result?.firstBad?.subject, "landlock: Restrict socket creation");
    t.same(
      doc.result?.flipped?.map((f) => f.id),
      LAYER_CASES,
      "the flipped tests, as the first bad step reported them",
    );
    t.ok(
      doc.result?.flipped?.every((f) => f.status === "FAIL" && f.log.length > 0),
      "each with its status and log lines",
    );
    const probes = doc.steps.filter((s) => s.role === "probe");
    t.ok(probes.length <= 2, `at most ceil(log2(4)) = 2 steps beyond the ends (${probes.length})`);
    t.same(
      doc.steps.map((s) => [s.label, s.verdict]),
      [
        ["base", "good"],
        ["patch 4/4", "bad"],
        ["patch 2/4", "good"],
        ["patch 3/4", "bad"],
      ],
    );
    for (const s of doc.steps) t.ok(await fs.stat(path.join(out, s.runs[0]?.dir ?? "", "results.json")), `step ${s.step} kept its run directory`);
    t.match(r.stdout, /first bad patch:\n {2}patch 3\/4: 0003-landlock-Restrict-socket-creation\.patch\n {2}subject: landlock: Restrict socket creation/);
    t.match(r.stdout, /step +revision +verdict +build +boot +tests/, "the per-step table");
    t.match(r.stderr, /step 3 \(probe\): patch 2\/4 .*3 candidate\(s\) left, about 2 step\(s\) to go/, "live progress names the remaining candidates");

    // The same bisection again: every kernel comes from the build cache.
    const again = path.join(tempDir("kh-bisect-"), "b");
    const r2 = await runCli(["bisect", "--tree", tree, "--patches", BROKEN, "--tests", "socket_create", "--out", again]);
    t.equal(r2.code, 0, r2.stderr.slice(-3000));
    const doc2 = await readDoc(again);
    t.comment(`rerun: ${(r2.durationMs / 1000).toFixed(1)} s\n${timings(doc2)}`);
    t.ok(
      doc2.steps.every((s) => s.runs.every((x) => x.cacheHit === true)),
      "a rerun builds nothing",
    );
    t.equal(doc2.result?.firstBad?.id, doc.result?.firstBad?.id);

    // Done: --resume prints the answer again without a step.
    const r3 = await runCli(["bisect", "--resume", again]);
    t.equal(r3.code, 0, r3.stderr);
    t.match(r3.stdout, /first bad patch:/);
  });

  t.test("--repeat 3 with a coin-flip program: its flips are reported as flaky, never blamed on a patch", async (t) => {
    const dir = tempDir("kh-bisect-coin-");
    const prog = path.join(dir, "coin_flip");
    execFileSync("gcc", ["-static", "-O2", "-o", prog, path.join(REPO_ROOT, "harness", "history", "testdata", "coin_flip.c")]);
    const COIN = "coin_flip.coin";
    // Every kernel is a cache hit by now (the test above); each step is three boots. A fair coin agrees with itself over
    // three tosses at both ends once in 16 tries: such a try shows no flake at the ends, so it is made again (up to twice).
    for (let attempt = 1; attempt <= 3; attempt++) {
      const out = path.join(dir, `b${attempt}`);
      const r = await runCli(["bisect", "--tree", tree, "--patches", BROKEN, "--tests", "socket_create", "--program", prog, "--repeat", "3", "--out", out]);
      const doc = await readDoc(out);
      const ends = doc.steps.filter((s) => s.role !== "probe");
      const endDisagrees = ends.some((s) => new Set(s.runs.map((x) => x.statuses?.[COIN])).size > 1);
      t.comment(`attempt ${attempt}: exit ${r.code}, ${(r.durationMs / 1000).toFixed(1)} s\n${timings(doc)}`);
      if (!endDisagrees && attempt < 3) continue;
      t.ok(endDisagrees, "the coin came up both ways at an end");
      for (const s of doc.steps) t.equal(s.runs.length, 3, `step ${s.step}: three boots`);
      if (doc.signature?.tests.includes(COIN)) {
        // Three passes at the base and three failures with the whole series (1 in 64): then it is judged like the rest.
        t.ok(r.code === 0 || r.code === 1, r.stderr.slice(-3000));
      } else {
        t.equal(r.code, 0, r.stderr.slice(-3000));
        t.ok(doc.signature?.flakyAtEnds.includes(COIN), "the coin is named flaky at the ends, outside the signature");
        t.same(doc.signature?.tests, LAYER_CASES);
        t.equal(doc.result?.firstBad?.id, "0003-landlock-Restrict-socket-creation.patch", "the answer is still patch 3");
        t.match(r.stdout, /flaky at the ends \(not in the signature\): coin_flip\.coin/);
      }
      for (const s of doc.steps.filter((x) => x.verdict === "bad"))
        t.ok(
          s.failing.some((id) => LAYER_CASES.includes(id)),
          `step ${s.step} (${s.label}) is bad by a layer case, not by the coin`,
        );
      return;
    }
  });

  t.test("SIGINT during a step: exit 130, the steps done kept; --resume reuses them and finds patch 3", async (t) => {
    const out = path.join(tempDir("kh-bisect-int-"), "b");
    let sent = false;
    const r = await runCli(["bisect", "--tree", tree, "--patches", BROKEN, "--tests", "socket_create", "--out", out], {
      onStderr: (line) => {
        if (!sent && /step 3 \(probe\)/.test(line)) {
          sent = true;
          return "SIGINT";
        }
      },
    });
    t.equal(r.code, 130, r.stderr.slice(-2000));
    t.match(r.stderr, /continue with: kharness bisect --resume /);
    t.same(findLiveProcesses(new RegExp(out.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))), [], "no QEMU or make left behind");
    const doc = await readDoc(out);
    t.equal(doc.state, "interrupted");
    t.same(
      doc.steps.map((s) => s.role),
      ["good-end", "bad-end"],
      "the ends were done and kept",
    );
    const r2 = await runCli(["bisect", "--resume", out]);
    t.equal(r2.code, 0, r2.stderr.slice(-3000));
    t.match(r2.stderr, /step 1 \(good-end\): base \[from bisect\.json\]/, "the ends are reused, not run again");
    const done = await readDoc(out);
    t.equal(done.state, "done");
    t.equal(done.result?.firstBad?.id, "0003-landlock-Restrict-socket-creation.patch");
    t.same(
      done.steps.map((s) => s.label),
      ["base", "patch 4/4", "patch 2/4", "patch 3/4"],
    );
  });
}
