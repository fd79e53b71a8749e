// VM level, through the CLI: the nightly features on real runs. The default kernel against the broken socket
// creation series (the kernel tree-run.vm.test.ts builds, same cache key), known failures (--expect) on the broken
// and the good series, --baseline RUN_DIR and last-green, a damaged history, and a coin-flip program booted ten
// times (--repeat 10) that `kharness flakes` and `kharness compare` call flaky.
import t from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs, writeFileSync } from "node:fs";
import * as path from "node:path";
import { createExec } from "./exec/exec.js";
import { cacheRoot } from "./exec/cache.js";
import { ensureUnpackedSource } from "./kernel/source-tree.js";
import { leaves, readResults, REPO_ROOT, runCli, tempDir } from "../test/support/cli-run.js";
import type { Comparison } from "./compare/classify.js";

const TARBALL = process.env.KHARNESS_LINUX_TARBALL ?? "/usr/src/linux-source-6.12.tar.xz";
const GOOD = path.join(REPO_ROOT, "patches", "landlock-socket-create");
const BROKEN = path.join(REPO_ROOT, "patches", "landlock-socket-create-broken");
// patches/README.md: the broken series fails exactly these two cases.
const LAYERS = ["socket_create.layers.disjoint_rules_deny_both", "socket_create.layers.overlap_allows_only_common"];

const work = tempDir("kh-nightly-");
const HISTORY = path.join(work, "history.db");
const hist = ["--history", HISTORY];
const readJson = async <T>(file: string): Promise<T> => JSON.parse(await fs.readFile(file, "utf8")) as T;
const ids = (c: Comparison, cls: string) => c.tests.filter((x) => x.class === cls).map((x) => x.id);

const KNOWN = path.join(work, "known.yaml");
writeFileSync(
  KNOWN,
  `# The two layer cases the broken series is known to fail (patches/README.md).
expectations:
  - tests: ["socket_create.layers.disjoint_rules_deny_both", "socket_create.layers.overlap_*"]
    status: FAIL
    reason: layered rulesets merge socket rules wrongly in the broken series
    link: https://example.invalid/landlock-socket-create-broken
    kernel: ">=6.12, <6.13"
    config: [CONFIG_SECURITY_LANDLOCK=y]
`,
);

// The default kernel's run of socket_create: every case SKIPs (no socket creation control); the base of the rest.
const base = await runCli(["run", "--tests", "socket_create", ...hist]);

t.test("the default kernel's socket_create run is green and recorded", async (t) => {
  t.equal(base.code, 0, base.stderr.slice(-2000));
  const h = await readJson<{ version: number; tests: Record<string, { recent: { status: string }[] }> }>(path.join(base.outDir, "history.json"));
  t.equal(h.version, 1);
  t.equal(Object.keys(h.tests).length, 86);
  t.same(
    h.tests[LAYERS[0] as string]?.recent.map((e) => e.status),
    ["SKIP"],
  );
});

t.test("--baseline last-green finds that run; nothing changed, exit 0", async (t) => {
  const r = await runCli(["run", "--tests", "socket_create", "--baseline", "last-green", ...hist]);
  t.equal(r.code, 0, r.stderr.slice(-2000));
  const c = await readJson<Comparison>(path.join(r.outDir, "comparison.json"));
  t.equal(c.base.runId, (await readResults(base.outDir)).runId, "the baseline is the earlier green run with the same --tests");
  t.equal(c.verdict, "clean");
  t.equal(c.summary.unchanged, 86);
  t.match(r.stdout, /CLEAN: 0 regressions/);
});

t.test("a damaged history: a one-line warning naming the file and the fix; the run's results in full, exit code unchanged", async (t) => {
  const bad = path.join(work, "damaged.db");
  writeFileSync(bad, "not a SQLite database\n".repeat(200));
  const r = await runCli(["run", "--tests", "socket_create", "--history", bad]);
  t.equal(r.code, 0, r.stderr.slice(-2000));
  const warning = r.stderr.split("\n").filter((l) => l.includes("warning"));
  t.same(warning.length, 1, r.stderr);
  t.match(warning[0], `kharness: warning: history ${bad}: the database is damaged`);
  t.match(warning[0], `fix: move it aside (mv ${bad} ${bad}.broken)`);
  t.equal((await readResults(r.outDir)).summary.total, 86, "results.json complete");
  t.ok(await fs.stat(path.join(r.outDir, "junit.xml")), "junit.xml written");
});

const haveTarball = await fs.access(TARBALL).then(
  () => true,
  () => false,
);
t.test("the broken and good socket creation series against the default kernel", { skip: haveTarball ? false : `no ${TARBALL}` }, async (t) => {
  const tree = await ensureUnpackedSource(createExec(), TARBALL, cacheRoot());
  // The same arguments as tree-run.vm.test.ts: the same kernel cache key, so no new kernel build.
  const broken = await runCli(["run", "--tree", tree, "--patches", BROKEN, "--tests", "socket_create", "--baseline", base.outDir, ...hist]);
  t.equal(broken.code, 1, broken.stderr.slice(-3000));

  t.test("run --baseline: comparison.json lists exactly the two layer cases as regressions", async (t) => {
    const c = await readJson<Comparison>(path.join(broken.outDir, "comparison.json"));
    t.same(ids(c, "regression"), LAYERS);
    t.equal(c.verdict, "regressed");
    t.match(broken.stdout, /REGRESSED: 2 regressions/);
  });

  t.test("kharness compare: two regressions, the other socket_create cases changed from SKIP; exit 1; against itself exit 0", async (t) => {
    const r = await runCli(["compare", base.outDir, broken.outDir, "--json", ...hist]);
    t.equal(r.code, 1, r.stderr);
    const c = JSON.parse(r.stdout) as Comparison;
    t.same(ids(c, "regression"), LAYERS, "exactly the two layer cases regressed");
    const changed = c.tests.filter((x) => x.class === "skip-reason-changed");
    t.equal(changed.length, 84, "every other socket_create case changed from SKIP");
    t.ok(
      changed.every((x) => x.id.startsWith("socket_create.") && x.base?.status === "SKIP" && x.new?.status === "PASS"),
      "SKIP -> PASS",
    );
    t.same(
      c.tests.filter((x) => !["regression", "skip-reason-changed"].includes(x.class)).map((x) => x.id),
      [],
      "nothing else changed",
    );
    t.equal(c.summary.newKernelReports, 0);
    const md = await runCli(["compare", base.outDir, broken.outDir, "--markdown", ...hist]);
    t.equal(md.code, 1);
    t.match(md.stdout, /^### kharness: REGRESSED$/m);
    t.match(md.stdout, /^#### Regressions: 2$/m);
    t.match(md.stdout, /^- socket\\?_create\.layers\.disjoint\\?_rules\\?_deny\\?_both: SKIP \(.*\) → FAIL/m);
    const self = await runCli(["compare", broken.outDir, path.join(broken.outDir, "results.json")]);
    t.equal(self.code, 0, self.stdout);
    t.match(self.stdout, /^CLEAN: 0 regressions, 0 missing, 0 new kernel reports/m);
  });

  t.test("--expect marks the two known: the broken series exits 0 with two XFAILs", async (t) => {
    const r = await runCli(["run", "--tree", tree, "--patches", BROKEN, "--tests", "socket_create", "--expect", KNOWN, ...hist]);
    t.equal(r.code, 0, r.stderr.slice(-3000));
    const run = await readResults(r.outDir);
    t.same(
      leaves(run.tests)
        .filter((x) => x.status === "XFAIL")
        .map((x) => x.id)
        .sort(),
      LAYERS,
    );
    t.equal(run.summary.xfail, 2);
    t.equal(run.summary.fail, 0);
    t.match(leaves(run.tests).find((x) => x.id === LAYERS[0])?.reason, /^known failure \(FAIL.*\): layered rulesets merge socket rules wrongly/);
    // parse --expect reproduces the run's verdicts from its logs.
    const parsed = await runCli(["parse", r.outDir, "--json", "--expect", KNOWN]);
    t.equal(parsed.code, 0, parsed.stderr);
    t.equal((JSON.parse(parsed.stdout) as { summary: { xfail: number } }).summary.xfail, 2);
  });

  t.test("--expect on the good series: the two become XPASS, are reported, and fail the run", async (t) => {
    const r = await runCli(["run", "--tree", tree, "--patches", path.join(GOOD, "series"), "--tests", "socket_create", "--expect", KNOWN, ...hist]);
    t.equal(r.code, 1, r.stderr.slice(-3000));
    const run = await readResults(r.outDir);
    t.same(
      leaves(run.tests)
        .filter((x) => x.status === "XPASS")
        .map((x) => x.id)
        .sort(),
      LAYERS,
    );
    for (const id of LAYERS) t.match(r.stdout, id, `the terminal report names ${id}`);
    t.match(r.stdout, /XPASS/);
    t.match(leaves(run.tests).find((x) => x.id === LAYERS[1])?.reason, /but passed: the entry in .*known\.yaml is stale/);
  });

  t.test("an expectation limited to another kernel release does not apply", async (t) => {
    const other = path.join(work, "other-release.yaml");
    writeFileSync(other, (await fs.readFile(KNOWN, "utf8")).replace('">=6.12, <6.13"', '"<6.2"'));
    const r = await runCli(["parse", broken.outDir, "--json", "--expect", other]);
    t.equal(r.code, 1);
    t.equal((JSON.parse(r.stdout) as { summary: { fail: number; xfail: number } }).summary.fail, 2);
  });
});

t.test("--repeat 10 with a program that fails at random: flakes shows it, compare calls its flip flaky", async (t) => {
  const dir = tempDir("kh-coin-");
  const prog = path.join(dir, "coin_flip");
  execFileSync("gcc", ["-static", "-O2", "-o", prog, path.join(REPO_ROOT, "harness", "history", "testdata", "coin_flip.c")]);
  // A fair coin gives ten equal tosses once in 512 tries; such a try shows no flake to look at, so it is done again
  // (with a fresh history) up to twice more: the test then fails by chance once in 512^3 runs, not once in 512.
  let db = "";
  let out = "";
  let statuses: string[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    db = path.join(dir, `flaky-${attempt}.db`);
    out = path.join(dir, `runs-${attempt}`);
    const r = await runCli(["run", "--program", prog, "--repeat", "10", "--history", db, "--out", out]);
    t.ok(r.code === 0 || r.code === 1, r.stderr.slice(-3000));
    statuses = [];
    for (let i = 1; i <= 10; i++) {
      const run = await readResults(path.join(out, `repeat-${i}`));
      statuses.push(leaves(run.tests).find((x) => x.id === "coin_flip.coin")?.status ?? "none");
    }
    t.comment(`try ${attempt}, the ten tosses: ${statuses.join(" ")}`);
    t.ok(
      statuses.every((s) => s === "PASS" || s === "FAIL"),
      "each repeat is a full run directory with the coin's verdict",
    );
    if (statuses.includes("PASS") && statuses.includes("FAIL")) break;
  }
  t.ok(statuses.includes("PASS") && statuses.includes("FAIL"), `the coin came up both ways (${statuses.join(" ")})`);
  const flips = statuses.filter((s, i) => i > 0 && s !== statuses[i - 1]).length;

  const f = await runCli(["flakes", "--json", "--history", db]);
  t.equal(f.code, 0, f.stderr);
  const flakes = (JSON.parse(f.stdout) as { flakes: { id: string; score: number; runs: number; flips: number; flipRuns: string[] }[] }).flakes;
  const coin = flakes.find((x) => x.id === "coin_flip.coin");
  t.ok(coin, "coin_flip.coin is listed");
  t.equal(coin?.runs, 10);
  t.equal(coin?.flips, flips, "its flips are the status changes between the repeats");
  t.equal(coin?.score, flips / 9);
  t.equal(coin?.flipRuns.length, flips);
  const text = await runCli(["flakes", "--history", db]);
  t.match(text.stdout, /coin_flip\.coin: \d+ flips in 10 runs/);

  const history = await runCli(["history", "coin_flip.coin", "--json", "--history", db]);
  t.same(
    (JSON.parse(history.stdout) as { results: { status: string }[] }).results.map((x) => x.status),
    statuses,
    "history TEST_ID shows the ten results in order",
  );

  const pass = statuses.indexOf("PASS") + 1;
  const fail = statuses.indexOf("FAIL") + 1;
  const c = await runCli(["compare", path.join(out, `repeat-${pass}`), path.join(out, `repeat-${fail}`), "--json", "--history", db]);
  t.equal(c.code, 0, `a flaky flip is not a regression\n${c.stdout}`);
  const cmp = JSON.parse(c.stdout) as Comparison;
  t.same(ids(cmp, "flaky"), ["coin_flip.coin"]);
  t.same(ids(cmp, "regression"), []);
  t.match(cmp.tests[0]?.note, /flaky in history \(flake score/);
  const term = await runCli(["compare", path.join(out, `repeat-${pass}`), path.join(out, `repeat-${fail}`), "--history", db]);
  t.match(term.stdout, /Flaky .*:\n {2}coin_flip\.coin: PASS -> FAIL; flaky in history \(flake score/);
  const noHistory = await runCli(["compare", path.join(out, `repeat-${pass}`), path.join(out, `repeat-${fail}`), "--no-history"]);
  t.equal(noHistory.code, 1, "without the history the same flip is a regression");
});
