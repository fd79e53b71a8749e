#!/usr/bin/env node
// Benchmark: `kharness parse FILE --json` against the kernel's `kunit.py parse FILE` on one generated console log.
//   node scripts/bench-parse.mjs [--suites 2000] [--cases 100] [--runs 5] [--no-build] [--keep] [--generate-only FILE]
//                                [--against DIR]
// Generates a KUnit-style console log (printk prefixes, nested suites, interleaved kernel lines) with
// suites*(cases+1) result lines, times both parsers (wall time, peak RSS via /usr/bin/time -v when present),
// and checks that they count the same passed/failed/skipped. Rounds are interleaved; wall and CPU are medians, peak
// RSS is the highest seen. --against DIR also times DIR/bin/kharness.js (another built checkout, e.g. the commit
// before a change) in the same rounds, for a before/after under the same load.
import { spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const TARBALL = "/usr/src/linux-source-6.12.tar.xz";

function parseArgs(argv) {
  const o = { suites: 2000, cases: 100, runs: 5, build: true, keep: false, generateOnly: undefined, against: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--suites") o.suites = Number(argv[++i]);
    else if (a === "--cases") o.cases = Number(argv[++i]);
    else if (a === "--runs") o.runs = Number(argv[++i]);
    else if (a === "--no-build") o.build = false;
    else if (a === "--keep") o.keep = true;
    else if (a === "--generate-only") o.generateOnly = argv[++i];
    else if (a === "--against") o.against = argv[++i];
    else {
      console.error(
        `bench-parse: unknown argument ${a}\nusage: node scripts/bench-parse.mjs [--suites N] [--cases N] [--runs N] [--no-build] [--keep] [--generate-only FILE] [--against DIR]`,
      );
      process.exit(2);
    }
  }
  if (!(o.suites > 0 && o.cases > 0 && o.runs > 0)) {
    console.error("bench-parse: --suites, --cases and --runs must be positive numbers, e.g. --suites 2000 --cases 100");
    process.exit(2);
  }
  if (o.against !== undefined && !existsSync(path.join(o.against, "bin", "kharness.js"))) {
    console.error(`bench-parse: --against ${o.against}: no bin/kharness.js there\nfix: give a built kharness checkout (npm run build in it)`);
    process.exit(2);
  }
  return o;
}

/** Writes the log; returns the counts a correct parser must report. */
async function writeLog(file, suites, cases) {
  const out = createWriteStream(file);
  const want = { pass: 0, fail: 0, skip: 0, results: 0 };
  let buf = "";
  let clock = 0;
  // The printk timestamp grows, so its width changes during the run.
  const ts = () => {
    clock += 0.000731;
    return `[${clock.toFixed(6).padStart(12)}] `;
  };
  const put = async (line) => {
    buf += ts() + line + "\n";
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise((r) => out.once("drain", r));
      buf = "";
    }
  };
  await put("Linux version 6.12.0 (bench) #1 SMP");
  await put("KTAP version 1");
  await put(`1..${suites}`);
  for (let s = 1; s <= suites; s++) {
    await put("    KTAP version 1");
    await put(`    # Subtest: suite_${s}`);
    await put(`    1..${cases}`);
    let suiteFailed = false;
    for (let c = 1; c <= cases; c++) {
      const n = (s - 1) * cases + c;
      if (n % 5 === 0) await put(`    # case_${c}: initializing`);
      if (n % 10 === 0) await put(`random: kernel message ${n} interleaved with the results`);
      if (n % 97 === 0) {
        await put(`    # case_${c}: EXPECTATION FAILED at lib/bench.c:${n}`);
        await put(`    not ok ${c} case_${c}`);
        want.fail++;
        suiteFailed = true;
      } else if (n % 101 === 0) {
        await put(`    ok ${c} case_${c} # SKIP not applicable`);
        want.skip++;
      } else {
        await put(`    ok ${c} case_${c}`);
        want.pass++;
      }
      want.results++;
    }
    await put(`${suiteFailed ? "not ok" : "ok"} ${s} suite_${s}`);
    want.results++;
  }
  await put("reboot: Power down");
  out.end(buf);
  await new Promise((r) => out.on("close", r));
  return want;
}

/** Runs a command under /usr/bin/time -v when available; returns wall seconds, peak RSS (MB) and output. */
function measure(argv, opts = {}) {
  const timeBin = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;
  const full = timeBin ? [timeBin, "-v", ...argv] : argv;
  const t0 = process.hrtime.bigint();
  // Bytes, decoded after the clock stops: decoding a parser's whole output (kharness's JSON is 23 MB, kunit.py's
  // text 6 MB) is the benchmark's work, not the parser's, and it took 15-20 ms of kharness's measured time.
  const res = spawnSync(full[0], full.slice(1), { maxBuffer: 1 << 30, ...opts });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (res.error) throw res.error;
  const stdout = res.stdout.toString("utf8");
  const stderr = res.stderr.toString("utf8");
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  const user = /User time \(seconds\): ([\d.]+)/.exec(stderr);
  const sys = /System time \(seconds\): ([\d.]+)/.exec(stderr);
  // CPU time is reported too: on a loaded host wall time mostly measures the wait for a CPU.
  const cpu = user && sys ? Number(user[1]) + Number(sys[1]) : undefined;
  return { wall, cpu, rssMb: rss ? Number(rss[1]) / 1024 : undefined, stdout, stderr, status: res.status };
}

function unpackKunit() {
  if (!existsSync(TARBALL)) {
    console.error(`bench-parse: ${TARBALL} is missing\nfix: apt-get install linux-source-6.12 (or node scripts/setup.mjs --tests)`);
    process.exit(3);
  }
  const cache = path.join(process.env.KHARNESS_CACHE ?? path.join(os.homedir(), ".cache", "kharness"), "test");
  const dest = path.join(cache, "linux-source-6.12-kunit");
  const kunitPy = path.join(dest, "linux-source-6.12", "tools", "testing", "kunit", "kunit.py");
  if (existsSync(kunitPy)) return kunitPy;
  mkdirSync(cache, { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  const r = spawnSync("tar", ["-xJf", TARBALL, "-C", tmp, "--wildcards", "linux-source-6.12/tools/testing/kunit/*"], { stdio: "inherit" });
  if (r.status !== 0) {
    console.error("bench-parse: extracting kunit from the linux-source tarball failed");
    process.exit(3);
  }
  try {
    renameSync(tmp, dest);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
  return kunitPy;
}

const opts = parseArgs(process.argv.slice(2));
if (opts.generateOnly) {
  const want = await writeLog(opts.generateOnly, opts.suites, opts.cases);
  console.log(`${opts.generateOnly}: ${want.results} result lines; expect pass ${want.pass}, fail ${want.fail}, skip ${want.skip}`);
  process.exit(0);
}
if (opts.build) {
  // Type errors elsewhere in the tree must not stop the benchmark; tsc still emits.
  spawnSync("npx", ["tsc", "-p", path.join(root, "tsconfig.json")], { cwd: root, stdio: "ignore" });
}
const cli = path.join(root, "bin", "kharness.js");
if (!existsSync(path.join(root, "dist", "harness", "cli.js"))) {
  console.error("bench-parse: dist/harness/cli.js is missing\nfix: npm run build");
  process.exit(3);
}
const kunitPy = unpackKunit();
const dir = mkdtempSync(path.join(os.tmpdir(), "kharness-bench-"));
const log = path.join(dir, "console.log");
const want = await writeLog(log, opts.suites, opts.cases);
const mb = statSync(log).size / 1e6;
console.log(`log: ${log} (${mb.toFixed(1)} MB, ${want.results} result lines; expect pass ${want.pass}, fail ${want.fail}, skip ${want.skip})`);

// The median round by wall time (issue 16: median of several rounds), and the median of each figure on its own.
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const best = (ms) => {
  const byWall = [...ms].sort((a, b) => a.wall - b.wall);
  const mid = byWall[Math.floor((byWall.length - 1) / 2)];
  const cpus = ms.map((m) => m.cpu).filter((c) => c !== undefined);
  const rsss = ms.map((m) => m.rssMb).filter((r) => r !== undefined);
  return { ...mid, wall: median(ms.map((m) => m.wall)), cpu: cpus.length ? median(cpus) : undefined, rssMb: rsss.length ? Math.max(...rsss) : undefined };
};
// The library alone (read the file, parse, render the JSON) as the CLI does it: what the CLI costs beyond its own
// start-up and reports. parseToJsonPieces writes a run as it is parsed when it can, else the file is parsed whole.
const libScript = [
  `import { openSync, readSync, closeSync, writeSync } from "node:fs";`,
  `import { parseFileToRun } from ${JSON.stringify(path.join(root, "dist", "harness", "results", "index.js"))};`,
  `import { parseToJsonPieces, renderJsonChunks } from ${JSON.stringify(path.join(root, "dist", "harness", "report", "json.js"))};`,
  `async function* chunks(file) { const fd = openSync(file, "r"); for (;;) { const b = Buffer.allocUnsafe(65536); const n = readSync(fd, b, 0, b.length, null); if (n === 0) break; yield n === b.length ? b : b.subarray(0, n); } closeSync(fd); }`,
  `const taken = await parseToJsonPieces(chunks(process.argv[1]));`,
  `const run = taken ? taken.run : await parseFileToRun(chunks(process.argv[1]));`,
  `const fd = openSync("/dev/null", "w");`,
  `for (const piece of taken ? taken.pieces : renderJsonChunks(run)) writeSync(fd, piece);`,
  `process.stdout.write(JSON.stringify(run.summary));`,
].join("\n");
const ours = [];
const lib = [];
const theirs = [];
const before = [];
const loads = [];
for (let i = 0; i < opts.runs; i++) {
  // Interleaved, and the order turns each round, so drift in the machine's load hits all three alike.
  const steps = [
    () => ours.push(measure(["node", cli, "parse", log, "--json"])),
    () => lib.push(measure(["node", "--input-type=module", "-e", libScript, log])),
    () => theirs.push(measure(["python3", kunitPy, "parse", log])),
  ];
  if (opts.against) steps.push(() => before.push(measure(["node", path.join(opts.against, "bin", "kharness.js"), "parse", log, "--json"])));
  for (let k = 0; k < steps.length; k++) steps[(i + k) % steps.length]();
  loads.push(os.loadavg()[0]);
  const r = (m) => `${m[m.length - 1].wall.toFixed(2)} s`;
  console.log(
    `round ${i + 1}: kharness ${r(ours)}, library ${r(lib)}, kunit.py ${r(theirs)}${opts.against ? `, --against ${r(before)}` : ""}; load ${loads[loads.length - 1].toFixed(1)}`,
  );
}
const o = best(ours);
const l = best(lib);
const k = best(theirs);
let ourCounts;
try {
  const doc = JSON.parse(o.stdout);
  ourCounts = { pass: doc.summary.pass, fail: doc.summary.fail, skip: doc.summary.skip, total: doc.summary.total };
} catch (e) {
  console.error(`bench-parse: kharness parse did not print JSON (exit ${o.status}): ${String(e)}\n${o.stderr.slice(-2000)}`);
  process.exit(1);
}
const summaryLine = k.stdout.split("\n").find((l) => l.includes("Testing complete.")) ?? "";
const kn = (key) => Number(new RegExp(`${key}: (\\d+)`).exec(summaryLine)?.[1] ?? 0);
const kunitCounts = { pass: kn("passed"), fail: kn("failed") + kn("crashed"), skip: kn("skipped") };

const fmt = (m) =>
  `median wall ${m.wall.toFixed(2)} s, cpu ${m.cpu === undefined ? "n/a" : `${m.cpu.toFixed(2)} s`}, peak RSS ${m.rssMb === undefined ? "n/a" : `${m.rssMb.toFixed(0)} MB`}`;
console.log(`kharness parse --json : ${fmt(o)} (exit ${o.status}) counts ${JSON.stringify(ourCounts)}`);
console.log(`library parse+json    : ${fmt(l)} counts ${l.stdout.trim()}`);
console.log(`kunit.py parse        : ${fmt(k)} (exit ${k.status}) counts ${JSON.stringify(kunitCounts)}`);
if (opts.against) {
  const b = best(before);
  const same = b.stdout === o.stdout;
  console.log(`--against ${opts.against}: ${fmt(b)} (exit ${b.status}); output ${same ? "identical to" : "DIFFERS from"} this checkout's`);
  console.log(`  its speed-up against kunit.py: wall ${(k.wall / b.wall).toFixed(1)}x; this checkout against it: wall ${(b.wall / o.wall).toFixed(2)}x`);
}
const ratio = k.wall / o.wall;
const cpuRatio = k.cpu !== undefined && o.cpu ? k.cpu / o.cpu : undefined;
console.log(
  `speed-up (CLI): wall ${ratio.toFixed(1)}x, cpu ${cpuRatio === undefined ? "n/a" : `${cpuRatio.toFixed(1)}x`} (goal >= 10x, peak RSS at most kunit.py's); ${opts.runs} rounds, load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)} on ${os.cpus().length} CPUs`,
);
if (l.cpu !== undefined && k.cpu !== undefined) console.log(`speed-up (library): wall ${(k.wall / l.wall).toFixed(1)}x, cpu ${(k.cpu / l.cpu).toFixed(1)}x`);
const agree = ourCounts.pass === kunitCounts.pass && ourCounts.fail === kunitCounts.fail && ourCounts.skip === kunitCounts.skip;
const expected = ourCounts.pass === want.pass && ourCounts.fail === want.fail && ourCounts.skip === want.skip;
console.log(`counts agree with kunit.py: ${agree ? "yes" : "NO"}; with the generator: ${expected ? "yes" : "NO"}`);
if (!opts.keep) rmSync(dir, { recursive: true, force: true });
process.exitCode = agree && expected ? 0 : 1;
