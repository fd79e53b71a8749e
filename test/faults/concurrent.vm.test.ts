// VM level, fault suite: two runs at once on one fresh cache, building the same kernel key (shared ccache keeps
// it short) and both booting: both finish with correct results, one waited on the build lock, the cache is
// consistent afterwards.
import t from "tap";
import { promises as fs, readdirSync } from "node:fs";
import * as path from "node:path";
import { createExec } from "../../harness/exec/exec.js";
import { cacheRoot } from "../../harness/exec/cache.js";
import { findLiveProcessesUnder } from "../support/procs.js";
import { ensureUnpackedSource } from "../../harness/kernel/source-tree.js";
import { leaves, readResults, runCli, tempDir, type CliOutcome } from "../support/cli-run.js";
import { cacheProblems } from "../support/faults/cache-checks.js";

const TARBALL = process.env.KHARNESS_LINUX_TARBALL ?? "/usr/src/linux-source-6.12.tar.xz";
const haveTarball = await fs.access(TARBALL).then(
  () => true,
  () => false,
);

t.test(
  "two runs building the same key on one cache: both correct, one waited, cache consistent",
  { skip: haveTarball ? false : `no ${TARBALL}` },
  async (t) => {
    const tree = await ensureUnpackedSource(createExec(), TARBALL, cacheRoot());
    const cache = tempDir("kh-cache-two-");
    const args = ["run", "--tree", tree, "--tests", "net_abi", "--accel", "tcg"];
    let startSecond!: () => void;
    const secondMayStart = new Promise<void>((r) => (startSecond = r));
    const first = runCli(args, { env: { KHARNESS_CACHE: cache }, onStderr: (l) => void (/build: (hard-link copy|configuring)/.test(l) && startSecond()) });
    // The second starts once the first holds the build lock (or never, if the first ended before that).
    const second = (async () => {
      const started = await Promise.race([secondMayStart.then(() => true), first.then(() => false)]);
      return started ? runCli(args, { env: { KHARNESS_CACHE: cache } }) : undefined;
    })();
    const [a, b] = (await Promise.all([first, second])) as [CliOutcome, CliOutcome | undefined];
    t.ok(b, "the second run started while the first was building");
    if (!b) return;
    for (const [name, r] of [
      ["first", a],
      ["second", b],
    ] as const) {
      t.equal(r.code, 0, `${name} run: exit 0\n${r.stderr.slice(-1500)}`);
      const run = await readResults(r.outDir);
      const cases = leaves(run.tests);
      t.ok(cases.length > 5 && cases.every((c) => c.status === "PASS"), `${name} run: every net_abi case PASS (${cases.length})`);
      t.equal(run.boot?.end, "poweroff", `${name} run booted and powered off`);
    }
    t.match(a.stderr, /built kernel 6\.12/, "the first built the kernel");
    t.match(b.stderr, /waiting for another kharness building the same kernel/, "the second waited on the lock");
    t.match(b.stderr, /kernel 6\.12\S* from the build cache/, "then used the first's build");
    t.equal((await readResults(a.outDir)).kernel?.path, (await readResults(b.outDir)).kernel?.path, "both booted the same cached image");
    const kernels = readdirSync(path.join(cache, "kernels"));
    t.equal(kernels.length, 1, `one cache entry (${kernels.join(" ")})`);
    t.ok(readdirSync(path.join(cache, "kernels", kernels[0]!)).includes(".complete"), "and it is complete");
    t.same(cacheProblems(cache), [], "no temp names, locks or work directories left");
    t.same(findLiveProcessesUnder(cache), [], "no process left in the cache");
  },
);
