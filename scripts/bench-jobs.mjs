#!/usr/bin/env node
// Benchmark: wall time of `kharness run --jobs 2` against `--jobs 1` on the bundled suite and the default kernel,
// side by side (interleaved, the order alternating per round), with the verdicts of both checked equal each round.
//   node scripts/bench-jobs.mjs [--rounds N] [--jobs N] [-- extra kharness run args]
// Prints each round, the host's load average before and after, and the median ratio jobs1/jobsN.
// Goal (issue 14): >= 1.6 with 2 jobs on 2 cores under TCG. Exit 1 when the median misses it.
import { $, fs, path, os } from "zx";

$.quiet = true;
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const argv = process.argv.slice(2);
const sep = argv.indexOf("--");
const extra = sep >= 0 ? argv.slice(sep + 1) : [];
const own = sep >= 0 ? argv.slice(0, sep) : argv;
const opt = (name, dflt) => (own.includes(name) ? Number(own[own.indexOf(name) + 1]) || dflt : dflt);
const rounds = opt("--rounds", 5);
const jobs = opt("--jobs", 2);
const GOAL = 1.6;

const work = await fs.mkdtemp(path.join(os.tmpdir(), "kh-bench-jobs-"));
// Each side reuses its own run directory, so from the second round on --jobs N splits by the last run's durations.
const run = (n) => $`node ${path.join(repo, "bin/kharness.js")} run --quiet --jobs ${n} --out ${path.join(work, `jobs-${n}`)} ${extra}`.nothrow();
const verdicts = async (n) => {
  const r = await fs.readJson(path.join(work, `jobs-${n}`, "results.json"));
  const out = [];
  const walk = (ts) => {
    for (const t of ts) {
      out.push(`${t.id} ${t.status}`);
      walk(t.children);
    }
  };
  walk(r.tests);
  return { list: out.join("\n"), summary: r.summary };
};
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");

// Warm-up: fills the caches (compiled selftests, modules, accel verdict) and gives --jobs N its first durations.
for (const n of [1, jobs]) {
  const w = await run(n);
  if (![0, 1].includes(w.exitCode)) {
    console.error(`warm-up --jobs ${n} failed (exit ${w.exitCode}):\n${w.stderr}`);
    process.exit(3);
  }
}
console.log(`host: ${os.cpus().length} CPUs, load average before: ${load()}`);

const secs = (t0) => (performance.now() - t0) / 1000;
const rows = [];
for (let i = 0; i < rounds; i++) {
  const order = i % 2 === 0 ? [1, jobs] : [jobs, 1];
  const row = {};
  for (const n of order) {
    const t0 = performance.now();
    const r = await run(n);
    if (![0, 1].includes(r.exitCode)) throw new Error(`--jobs ${n} failed (exit ${r.exitCode}): ${r.stderr}`);
    row[n] = secs(t0);
  }
  const [a, b] = [await verdicts(1), await verdicts(jobs)];
  if (a.list !== b.list) throw new Error(`round ${i + 1}: --jobs ${jobs} gave other verdicts than --jobs 1`);
  row.ratio = row[1] / row[jobs];
  rows.push(row);
  console.log(
    `round ${i + 1}: --jobs 1 ${row[1].toFixed(2)} s, --jobs ${jobs} ${row[jobs].toFixed(2)} s, ratio ${row.ratio.toFixed(3)} (same verdicts: ${a.summary.pass} pass, ${a.summary.skip} skip)`,
  );
}
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const m = { one: median(rows.map((r) => r[1])), n: median(rows.map((r) => r[jobs])), ratio: median(rows.map((r) => r.ratio)) };
console.log(`load average after: ${load()}`);
console.log(
  `median over ${rounds} rounds: --jobs 1 ${m.one.toFixed(2)} s, --jobs ${jobs} ${m.n.toFixed(2)} s, ratio ${m.ratio.toFixed(3)} (goal >= ${GOAL} for 2 jobs on 2 cores)`,
);
await fs.remove(work);
process.exit(m.ratio >= GOAL ? 0 : 1);
