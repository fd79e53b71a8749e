#!/usr/bin/env node
// Benchmark: wall time from a one-line change to one patch of the socket creation series to the verdict
// (`kharness run --tree <linux-source-6.12> --patches <series>`, the whole bundled suite), for
//   incremental          the build starts from the nearest kept build directory, ccache on
//   incremental-noccache the same with CCACHE_DISABLE=1 (ccache passes every compile through)
//   cold-ccache          KHARNESS_INCREMENTAL=0: an empty build directory, ccache warm
// interleaved round by round, median of the rounds. With --cold-no-ccache, first one cold build with
// neither (empty build directory, CCACHE_DISABLE=1): about a quarter of an hour on 2 cores, run once.
//
// Each measurement edits patch 0003 (one line of the added hook_socket_create gets a `static const char
// ... __used = "<nonce>"`: the object changes, behaviour does not), so every measurement is a new cache
// key: nothing is a kernel cache hit. Needs `npm run build` and /usr/src/linux-source-6.12.tar.xz.
//
//   node scripts/bench-rebuild.mjs [--rounds N] [--cold-no-ccache] [--modes a,b] [--json FILE]

import { execFileSync, spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SERIES = path.join(REPO, "patches", "landlock-socket-create");
const TARBALL = process.env.KHARNESS_LINUX_TARBALL ?? "/usr/src/linux-source-6.12.tar.xz";
const EDITED_PATCH = "0003-landlock-Restrict-socket-creation.patch";
const EDITED_LINE = "+\tsize_t num_keys = 0, i;";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const rounds = Number(opt("--rounds", "3"));
const coldNoCcache = args.includes("--cold-no-ccache");
const MODES = {
  incremental: {},
  "incremental-noccache": { CCACHE_DISABLE: "1" },
  "cold-ccache": { KHARNESS_INCREMENTAL: "0" },
};
const modes = opt("--modes", Object.keys(MODES).join(",")).split(",");
for (const m of modes) if (!MODES[m]) throw new Error(`--modes: no mode ${m} (have ${Object.keys(MODES).join(", ")})`);

const { ensureUnpackedSource } = await import(path.join(REPO, "dist/harness/kernel/source-tree.js"));
const { createExec } = await import(path.join(REPO, "dist/harness/exec/exec.js"));
const { cacheRoot } = await import(path.join(REPO, "dist/harness/exec/cache.js"));
const tree = await ensureUnpackedSource(createExec(), TARBALL, cacheRoot());

const work = await fs.mkdtemp(path.join(os.tmpdir(), "kh-bench-rebuild-"));

/** A copy of the series whose patch 0003 has one line changed (unique per nonce). */
async function editedSeries(nonce) {
  const dir = path.join(work, `series-${nonce}`);
  await fs.mkdir(dir);
  for (const f of await fs.readdir(SERIES)) await fs.copyFile(path.join(SERIES, f), path.join(dir, f));
  const p = path.join(dir, EDITED_PATCH);
  const text = await fs.readFile(p, "utf8");
  if (!text.includes(`\n${EDITED_LINE}\n`)) throw new Error(`${p}: the line to edit (${EDITED_LINE}) is gone; update bench-rebuild.mjs`);
  await fs.writeFile(p, text.replace(`\n${EDITED_LINE}\n`, `\n${EDITED_LINE} static const char kh_bench[] __used = "${nonce}";\n`));
  return path.join(dir, "series");
}

/** One `kharness run` from command to verdict: wall seconds, exit code, what the build did. */
async function measure(label, env) {
  const nonce = `${label}-${Date.now().toString(36)}`;
  const series = await editedSeries(nonce);
  const out = path.join(work, `out-${nonce}`);
  const argv = [path.join(REPO, "bin/kharness.js"), "run", "--tree", tree, "--patches", series, "--out", out, "--quiet"];
  const t0 = process.hrtime.bigint();
  const { code, stderr } = await new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (c) => resolve({ code: c, stderr: err }));
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const results = JSON.parse(await fs.readFile(path.join(out, "results.json"), "utf8").catch(() => "{}"));
  // results.json names the kernel by its path in the cache: kernels/<key>/bzImage.
  const key = /kernels\/([0-9a-f]{64})\//.exec(results.kernel?.path ?? "")?.[1] ?? "none";
  const build = JSON.parse(await fs.readFile(path.join(cacheRoot(), "kernels", key, "build.json"), "utf8").catch(() => "{}"));
  const row = {
    mode: label,
    seconds: Number(seconds.toFixed(1)),
    exit: code,
    key: key.slice(0, 12),
    buildSeconds: build.durationMs ? Number((build.durationMs / 1000).toFixed(1)) : null,
    startedFrom: build.startedFrom ? `${build.startedFrom.key.slice(0, 12)} (${build.startedFrom.changedFiles.length} files changed)` : "empty build dir",
    summary: results.summary
      ? `${results.summary.pass ?? results.summary.passed ?? "?"} pass / ${results.summary.fail ?? results.summary.failed ?? "?"} fail`
      : "?",
  };
  if (code !== 0) row.stderrTail = stderr.split("\n").slice(-8).join("\n");
  process.stderr.write(`${JSON.stringify(row)}\n`);
  return row;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rows = [];
const cpus = os.availableParallelism();
process.stderr.write(`bench-rebuild: ${cpus} CPUs, tree ${tree}, ccache ${execFileSync("sh", ["-c", "command -v ccache || echo none"]).toString().trim()}\n`);
if (coldNoCcache) rows.push(await measure("cold-noccache", { KHARNESS_INCREMENTAL: "0", CCACHE_DISABLE: "1" }));
for (let r = 0; r < rounds; r++) {
  // Interleaved: each round runs every mode once, the order rotating so no mode always goes first.
  const order = modes.map((_, i) => modes[(i + r) % modes.length]);
  for (const m of order) rows.push(await measure(m, MODES[m]));
}
const summary = {};
for (const m of [...(coldNoCcache ? ["cold-noccache"] : []), ...modes]) {
  const xs = rows.filter((x) => x.mode === m && x.exit === 0).map((x) => x.seconds);
  summary[m] = { n: xs.length, medianSeconds: xs.length ? median(xs) : null, all: xs };
}
const report = { cpus, rounds, tree, summary, rows };
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
const jsonOut = opt("--json");
if (jsonOut) await fs.writeFile(jsonOut, JSON.stringify(report, null, 2) + "\n");
await fs.rm(work, { recursive: true, force: true });
