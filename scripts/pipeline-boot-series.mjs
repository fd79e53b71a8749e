#!/usr/bin/env node
// Reliability evidence for the machine choice: boots a tree-built kernel through the real pipeline (`kharness run
// --tree`, a build-cache hit) many times on microvm (the default for it) and on pc (KHARNESS_MACHINE=pc),
// interleaved, then in pairs of two runs at once (as CI runs two test files at once), and writes each boot's
// outcome and boot-to-first-test to a text file.
//   node scripts/pipeline-boot-series.mjs --tree DIR [--rounds 80] [--pair-rounds 25] [--tests net_abi] [--out FILE]
// Boot-to-first-test: from QEMU's start (results.json boot.qemuStartedAt) to the moment the run's live progress
// line "running <program>" reaches this script (init's first `start` on the control port), like
// vm/measure-boot.sh. A hang is a run whose boot ended by boot timeout or idleness; every end but poweroff is
// listed with its run directory kept (console.log).
import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : dflt;
};
const tree = opt("--tree");
if (!tree) {
  process.stderr.write("pipeline-boot-series: --tree DIR is required (a kernel tree whose build is in the cache)\n");
  process.exit(2);
}
const rounds = Number(opt("--rounds", "80"));
const pairRounds = Number(opt("--pair-rounds", "25"));
const tests = opt("--tests", "net_abi");
const outFile = path.resolve(opt("--out", path.join(repo, "vm", "boot-times-ours-pipeline.txt")));
const work = await fs.mkdtemp(path.join(os.tmpdir(), "kh-boot-series-"));
const loadavg = async () => (await fs.readFile("/proc/loadavg", "utf8")).split(" ").slice(0, 3).join(" ");

let seq = 0;
/** One `kharness run`; resolves to its record once it has exited. */
function runOnce(machine, mode) {
  const n = ++seq;
  const out = path.join(work, `run-${n}-${machine}`);
  const env = { ...process.env, KHARNESS_MACHINE: machine };
  return new Promise((resolve) => {
    const child = spawn("node", [path.join(repo, "bin/kharness.js"), "run", "--tree", tree, "--tests", tests, "--out", out], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let firstTestAt;
    let buf = "";
    // Live progress goes to stderr.
    child.stderr.on("data", (c) => {
      buf += c.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      if (firstTestAt === undefined && lines.some((l) => /\] {3}running /.test(l))) firstTestAt = Date.now();
    });
    child.stdout.resume();
    child.on("exit", async (code) => {
      let boot = {};
      try {
        boot = JSON.parse(await fs.readFile(path.join(out, "results.json"), "utf8")).boot ?? {};
      } catch {}
      const started = boot.qemuStartedAt ? Date.parse(boot.qemuStartedAt) : undefined;
      const rec = {
        n,
        mode,
        asked: machine,
        machine: boot.machine ?? "?",
        end: boot.end ?? `no results.json (exit ${code})`,
        exit: code,
        firstTestMs: started !== undefined && firstTestAt !== undefined ? firstTestAt - started : undefined,
        load: await loadavg(),
        out,
      };
      if (rec.end === "poweroff" && rec.exit === 0) await fs.rm(out, { recursive: true, force: true });
      resolve(rec);
    });
  });
}

// The commit whose dist/ runs (taken before the runs, so a commit made meanwhile is not credited).
const commit = await new Promise((resolve) => {
  const c = spawn("git", ["-C", repo, "rev-parse", "--short", "HEAD"], { stdio: ["ignore", "pipe", "ignore"] });
  let s = "";
  c.stdout.on("data", (d) => (s += d));
  c.on("exit", () => resolve(s.trim()));
});
const records = [];
const began = new Date();
const loadBefore = await loadavg();
// Warm-up: the build-cache hit and the compiled selftests, so every counted run is a warm one.
const warm = await runOnce("pc", "warm-up");
if (warm.end !== "poweroff") {
  process.stderr.write(`warm-up run failed: ${warm.end} (${warm.out})\n`);
  process.exit(3);
}
for (let r = 0; r < rounds; r++) {
  // Alternate which machine goes first, so neither always follows the other.
  for (const m of r % 2 ? ["pc", "microvm"] : ["microvm", "pc"]) records.push(await runOnce(m, "alone"));
  process.stderr.write(`\ralone ${r + 1}/${rounds}`);
}
for (let r = 0; r < pairRounds; r++) {
  for (const m of r % 2 ? ["pc", "microvm"] : ["microvm", "pc"]) records.push(...(await Promise.all([runOnce(m, "pair"), runOnce(m, "pair")])));
  process.stderr.write(`\rpairs ${r + 1}/${pairRounds}`);
}
process.stderr.write("\n");

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const qemu = await new Promise((resolve) => {
  const c = spawn("qemu-system-x86_64", ["--version"], { stdio: ["ignore", "pipe", "ignore"] });
  let s = "";
  c.stdout.on("data", (d) => (s += d));
  c.on("exit", () => resolve(s.split("\n")[0]));
});
const lines = [
  "# Boots of a tree-built kernel through the real pipeline: kharness run --tree (build-cache hit)",
  `# command: node scripts/pipeline-boot-series.mjs --tree ${tree} --rounds ${rounds} --pair-rounds ${pairRounds} --tests ${tests}`,
  `# kharness ${commit}; ${qemu}; TCG; host ${os.cpus().length} cores, shared with other work (load below)`,
  `# began ${began.toISOString()}, ended ${new Date().toISOString()}; load average before: ${loadBefore}, after: ${await loadavg()}`,
  "# alone: one run at a time, microvm and pc interleaved; pair: two runs of the same machine at once",
  "# boot-to-first-test: QEMU start (results.json boot.qemuStartedAt) -> the live 'running <program>' progress line",
  "# n mode machine end exit first_test_ms load1 load5 load15",
  ...records.map(
    (r) => `${r.n} ${r.mode} ${r.machine} ${r.end} ${r.exit} ${r.firstTestMs ?? "-"} ${r.load}${r.end === "poweroff" && r.exit === 0 ? "" : ` kept: ${r.out}`}`,
  ),
  "#",
  "# summary: machine mode boots hangs(boot-timeout|idle) other_failures median_first_test_ms",
];
for (const m of ["microvm", "pc"])
  for (const mode of ["alone", "pair", "all"]) {
    const rs = records.filter((r) => r.asked === m && (mode === "all" || r.mode === mode));
    const hangs = rs.filter((r) => r.end === "boot-timeout" || r.end === "idle").length;
    const other = rs.filter((r) => !(r.end === "poweroff" && r.exit === 0) && r.end !== "boot-timeout" && r.end !== "idle").length;
    const wrong = rs.filter((r) => r.machine !== m).length;
    const med = median(rs.filter((r) => r.firstTestMs !== undefined).map((r) => r.firstTestMs));
    lines.push(
      `# ${m} ${mode} ${rs.length} ${hangs} ${other} ${Number.isNaN(med) ? "-" : Math.round(med)}${wrong ? ` (${wrong} booted another machine!)` : ""}`,
    );
  }
await fs.writeFile(outFile, lines.join("\n") + "\n");
process.stdout.write(
  lines
    .filter((l) => l.startsWith("# "))
    .slice(-7)
    .join("\n") + `\nwritten: ${outFile}\n`,
);
// Failed runs' directories stay for their console logs.
if (records.every((r) => r.end === "poweroff" && r.exit === 0)) await fs.rm(work, { recursive: true, force: true }).catch(() => undefined);
