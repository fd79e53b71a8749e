#!/usr/bin/env node
// Benchmark: wall time of a warm-cache `kharness run` against a bare qemu-system-x86_64 boot of the same
// kernel and initramfs with the same machine options, measured side by side (interleaved) in one run.
//   node scripts/bench-boot.mjs [--rounds N] [-- extra kharness run args]
// Prints each round and the medians: the ratio kharness/bare (goal <= 1.05, issue 16) with a bootstrap interval, the
// harness's own time before QEMU starts and after it exits (from results.json's boot.qemuStartedAt/qemuExitedAt; goal
// < 300 ms each), QEMU's own lifetime under kharness against the bare boot, and Node's own start in this environment.
import { $, fs, path, os } from "zx";

$.quiet = true;
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const argv = process.argv.slice(2);
const sep = argv.indexOf("--");
const extra = sep >= 0 ? argv.slice(sep + 1) : [];
const own = sep >= 0 ? argv.slice(0, sep) : argv;
const rounds = Number(own[own.indexOf("--rounds") + 1] ?? 0) || 5;

const { buildQemuArgv } = await import(path.join(repo, "dist/harness/qemu/argv.js"));
const { defaultMachine, findMachine, X86_64 } = await import(path.join(repo, "dist/harness/qemu/profiles.js"));
const { resolveAccel } = await import(path.join(repo, "dist/harness/qemu/accel.js"));
const { createExec } = await import(path.join(repo, "dist/harness/exec/exec.js"));

const work = await fs.mkdtemp(path.join(os.tmpdir(), "kh-bench-boot-"));
const kharness = (out) => $`node ${path.join(repo, "bin/kharness.js")} run --quiet --out ${out} ${extra}`.nothrow();

// Warm-up: fills the caches (compiled selftests, modules, accel verdict) and gives the initramfs to replay.
const warm = path.join(work, "warm");
const w = await kharness(warm);
if (![0, 1].includes(w.exitCode)) {
  console.error(`warm-up run failed (exit ${w.exitCode}):\n${w.stderr}`);
  process.exit(3);
}
const results = await fs.readJson(path.join(warm, "results.json"));
const initrd = path.join(work, "initramfs.cpio");
await fs.copy(path.join(warm, "initramfs.cpio"), initrd);
const accel = (
  await resolveAccel("auto", { exec: createExec(), profile: X86_64, cacheDir: process.env.KHARNESS_CACHE || path.join(os.homedir(), ".cache", "kharness") })
).accel;
const append = extra.includes("--append") ? extra[extra.indexOf("--append") + 1].split(/\s+/) : [];
// The machine the warm-up run booted (microvm for a --tree kernel under TCG, with its tsc_early_khz), so both
// sides boot the same machine.
const machine = findMachine(X86_64, results.boot?.machine ?? "") ?? defaultMachine(X86_64);
const tsc = (await fs.readFile(path.join(warm, "qemu-argv.txt"), "utf8")).match(/tsc_early_khz=(\d+)/)?.[1];
const bareArgv = buildQemuArgv({
  profile: X86_64,
  machine,
  ...(tsc ? { hostTscKhz: Number(tsc) } : {}),
  accel,
  kernelPath: results.kernel.path,
  initrdPath: initrd,
  append,
  // Plain files instead of the sockets kharness listens on: the bare boot needs no host process at all.
  ports: { kind: "file", results: path.join(work, "bare-results.log"), control: path.join(work, "bare-control.log") },
});

const secs = (t0) => (performance.now() - t0) / 1000;
// Node's own start, measured beside each round: it is part of kharness's time before QEMU, and it depends on the
// environment (NODE_EXTRA_CA_CERTS makes Node parse every listed certificate at start, before any of our code runs).
const nodeStart = async (env) => {
  const r = await $({ env })`${process.execPath} -e ${"process.stdout.write(String(performance.nodeTiming.bootstrapComplete))"}`;
  return Number(r.stdout);
};
const envWithoutCerts = { ...process.env };
delete envWithoutCerts.NODE_EXTRA_CA_CERTS;
const rows = [];
for (let i = 0; i < rounds; i++) {
  // Alternate which goes first so drift in machine load hits both alike.
  const order = i % 2 === 0 ? ["bare", "kharness"] : ["kharness", "bare"];
  const row = {};
  for (const which of order) {
    const t0 = performance.now();
    const wall0 = Date.now();
    if (which === "bare") {
      const r = await $`${bareArgv[0]} ${bareArgv.slice(1)} > ${path.join(work, "bare-console.log")}`.nothrow();
      if (r.exitCode !== 0) throw new Error(`bare QEMU failed: ${r.stderr}`);
      row.bare = secs(t0);
    } else {
      const r = await kharness(path.join(work, `run-${i}`));
      const wall1 = Date.now();
      if (![0, 1].includes(r.exitCode)) throw new Error(`kharness run failed (exit ${r.exitCode}): ${r.stderr}`);
      row.kharness = secs(t0);
      const boot = (await fs.readJson(path.join(work, `run-${i}`, "results.json"))).boot ?? {};
      // The command's own time around QEMU: from its start to QEMU's, and from QEMU's exit to its own.
      if (boot.qemuStartedAt && boot.qemuExitedAt) {
        row.preMs = Date.parse(boot.qemuStartedAt) - wall0;
        row.postMs = wall1 - Date.parse(boot.qemuExitedAt);
        // QEMU's own lifetime under kharness, to set against the bare boot: what is left of the difference
        // is the guest or QEMU running slower beside kharness, not kharness's own time.
        row.qemuMs = Date.parse(boot.qemuExitedAt) - Date.parse(boot.qemuStartedAt);
      }
    }
  }
  row.ratio = row.kharness / row.bare;
  row.nodeMs = await nodeStart(process.env);
  if (process.env.NODE_EXTRA_CA_CERTS) row.nodeNoCertsMs = await nodeStart(envWithoutCerts);
  rows.push(row);
  const around = row.preMs === undefined ? "" : `; kharness before QEMU ${row.preMs} ms, after QEMU ${row.postMs} ms, QEMU ${(row.qemuMs / 1000).toFixed(2)} s`;
  console.log(
    `round ${i + 1}: bare ${row.bare.toFixed(2)} s, kharness ${row.kharness.toFixed(2)} s, ratio ${row.ratio.toFixed(3)}${around}; load ${os.loadavg()[0].toFixed(1)}`,
  );
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const m = { bare: median(rows.map((r) => r.bare)), kharness: median(rows.map((r) => r.kharness)), ratio: median(rows.map((r) => r.ratio)) };
// How sure the median ratio is: a percentile bootstrap over the rounds (2000 resamples, a fixed seed so that one
// set of rounds always gives the same interval). A TCG boot's length varies by up to 30% from round to round here.
let seed = 0x9e3779b9;
const rand = () => (seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32;
const resampled = Array.from({ length: 2000 }, () => median(rows.map(() => rows[Math.floor(rand() * rows.length)].ratio))).sort((a, b) => a - b);
const interval = [resampled[Math.floor(0.05 * resampled.length)], resampled[Math.floor(0.95 * resampled.length) - 1]];
const timed = rows.filter((r) => r.preMs !== undefined);
const pre = timed.length ? median(timed.map((r) => r.preMs)) : undefined;
const post = timed.length ? median(timed.map((r) => r.postMs)) : undefined;
const qemu = timed.length ? median(timed.map((r) => r.qemuMs)) : undefined;
console.log(
  `median over ${rounds} rounds (${accel}, ${results.summary.total} tests): bare ${m.bare.toFixed(2)} s, kharness ${m.kharness.toFixed(2)} s, ratio ${m.ratio.toFixed(3)} (goal <= 1.05)`,
);
console.log(
  `90% interval of the median ratio (bootstrap over the rounds): ${interval[0].toFixed(3)}-${interval[1].toFixed(3)}; per-round ratios ${Math.min(...rows.map((r) => r.ratio)).toFixed(3)}-${Math.max(...rows.map((r) => r.ratio)).toFixed(3)}`,
);
if (pre !== undefined) {
  console.log(`kharness's own time: before QEMU ${pre.toFixed(0)} ms, after QEMU ${post.toFixed(0)} ms (median; goal < 300 ms each)`);
  console.log(
    `QEMU under kharness: ${(qemu / 1000).toFixed(2)} s (median), against the bare boot's ${m.bare.toFixed(2)} s; per round, QEMU under kharness / bare: ${median(timed.map((r) => r.qemuMs / 1000 / r.bare)).toFixed(3)} (median)`,
  );
}
const certs = rows.filter((r) => r.nodeNoCertsMs !== undefined);
console.log(
  `Node's own start (node -e 0, to bootstrapComplete; part of "before QEMU"): ${median(rows.map((r) => r.nodeMs)).toFixed(0)} ms (median)` +
    (certs.length ? `; ${median(certs.map((r) => r.nodeNoCertsMs)).toFixed(0)} ms without NODE_EXTRA_CA_CERTS, which this environment sets` : ""),
);
await fs.remove(work);
process.exit(m.ratio <= 1.05 && (pre === undefined || (pre < 300 && post < 300)) ? 0 : 1);
