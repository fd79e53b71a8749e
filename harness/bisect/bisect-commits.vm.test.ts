// VM level, through the CLI: `kharness bisect --good BASE --bad HEAD` over a git repository made from Debian's
// linux-source-6.12 with a dozen commits (the broken series' patches among harmless ones, one that does not build)
// names the broken commit, reports the unbuildable one as skipped, leaves the repository as it was, and writes a
// log that `git bisect replay` accepts.
import t from "tap";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { REPO_ROOT, runCli, tempDir } from "../../test/support/cli-run.js";
import type { BisectDoc } from "./bisect-doc.js";
import { linuxSourceTree } from "../../test/support/vm-fixture.js";
import { bisectRepo, gitIn } from "../../test/support/bisect-repo.js";

const BROKEN = path.join(REPO_ROOT, "patches", "landlock-socket-create-broken");
const LAYER_CASES = ["socket_create.layers.disjoint_rules_deny_both", "socket_create.layers.overlap_allows_only_common"];

const tree = await linuxSourceTree(t);
if (tree) {
  t.test("--good BASE --bad HEAD: the broken commit is named, the unbuildable one skipped, the repository untouched", async (t) => {
    const t0 = Date.now();
    // The repository is made once into the test cache (about 30 s) and checked when taken; this test works in its
    // own copy (hard links of the files and objects: removing it leaves the cache and the unpacked tree alone).
    const work = tempDir("kh-bisect-repo-");
    t.teardown(() => fs.rm(work, { recursive: true, force: true }));
    const { repo, hit, base, unbuildable, culprit, head } = await bisectRepo(tree, BROKEN, work);
    const git = gitIn(repo);
    t.equal(git("rev-list", "--count", `${base}..HEAD`), "12", "a dozen commits");
    t.equal(git("rev-parse", "HEAD"), head);
    t.comment(`repository ${hit ? "copied from the test cache" : "made"} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const statusBefore = git("status", "--porcelain");
    const branchBefore = git("symbolic-ref", "HEAD");

    // The repository's base commit holds the same sources as the plain tree the other tree-level files build, with
    // the same config. Having that kernel first (a cache hit when another file built it, a wait on its lock while one
    // builds it) makes this bisection's first build a ccache hit, not a second cold compile of the same kernel beside
    // the other (19 minutes for both at once on CI's 2 cores, against about 11 for one).
    const plain = await runCli(["run", "--tree", tree, "--tests", "net_abi", "--out", path.join(tempDir("kh-bisect-plain-"), "r")]);
    t.equal(plain.code, 0, plain.code === 0 ? "the plain tree's kernel is built and passes net_abi" : plain.stderr.slice(-4000));

    const out = path.join(tempDir("kh-bisect-"), "b");
    const r = await runCli(["bisect", "--tree", repo, "--good", base, "--bad", "HEAD", "--tests", "socket_create", "--out", out]);
    t.equal(r.code, 0, r.stderr.slice(-4000));
    const doc = JSON.parse(await fs.readFile(path.join(out, "bisect.json"), "utf8")) as BisectDoc;
    t.comment(
      `bisection: ${(r.durationMs / 1000).toFixed(1)} s\n${doc.steps
        .map((s) => {
          const x = s.runs[0];
          return `step ${s.step} ${s.label} ${s.verdict}: build ${x?.cacheHit ? "cached" : `${((x?.buildMs ?? x?.wallMs ?? 0) / 1000).toFixed(1)} s`}, boot ${((x?.bootMs ?? 0) / 1000).toFixed(1)} s, tests ${((x?.testMs ?? 0) / 1000).toFixed(1)} s`;
        })
        .join("\n")}`,
    );
    t.same(doc.signature?.tests, LAYER_CASES);
    t.equal(doc.result?.status, "found");
    t.equal(doc.result?.firstBad?.id, culprit, "the commit made from patch 3");
    t.equal(doc.result?.firstBad?.subject, "landlock: Restrict socket creation");
    t.ok(doc.result?.firstBad?.author && doc.result?.firstBad?.date, "with its author and date");
    t.same(
      doc.result?.flipped?.map((f) => f.id),
      LAYER_CASES,
    );
    t.ok(
      doc.steps.some((s) => s.revision === unbuildable && s.verdict === "skip"),
      "the unbuildable commit was tested and skipped",
    );
    t.same(
      doc.result?.skipped?.map((s) => s.id),
      [unbuildable],
      "and reported as skipped",
    );
    t.match(r.stdout, new RegExp(`first bad commit:\\n {2}${culprit}`));
    t.match(r.stdout, /could not be tested \(skipped\): /);

    // The user's repository: same HEAD, branch, status; no worktree left registered; no bisect state of its own.
    t.equal(git("rev-parse", "HEAD"), head);
    t.equal(git("symbolic-ref", "HEAD"), branchBefore);
    t.equal(git("status", "--porcelain"), statusBefore);
    t.equal(
      git("worktree", "list", "--porcelain")
        .split("\n")
        .filter((l) => l.startsWith("worktree ")).length,
      1,
      "no worktree left registered",
    );
    t.notOk(
      await fs.stat(path.join(repo, ".git", "BISECT_LOG")).then(
        () => true,
        () => false,
      ),
      "the repository's own git bisect state untouched",
    );

    // git-bisect.log replays (without a checkout, in the test's own repository) to the same answer.
    const log = await fs.readFile(path.join(out, "git-bisect.log"), "utf8");
    const replay = path.join(tempDir("kh-bisect-"), "replay.log");
    await fs.writeFile(replay, log.replace("git bisect start ", "git bisect start '--no-checkout' "));
    const replayed = git("bisect", "replay", replay);
    t.match(replayed, new RegExp(`${culprit} is the first bad commit`), "git bisect replay accepts the log and finds the same commit");
    git("bisect", "reset");

    // Nothing is built twice: a step either comes from the cache or is a remembered failure.
    const builtNothing = (d: BisectDoc) => d.steps.filter((s) => !s.runs.every((x) => x.cacheHit || x.remembered)).map((s) => s.label);
    const stepTable = (d: BisectDoc) =>
      d.steps
        .map((s) => `step ${s.step} ${s.label} ${s.verdict}: ${s.runs[0]?.cacheHit ? "cached" : s.runs[0]?.remembered ? "failed before" : "built"}`)
        .join("\n");

    // The same bisection again: every kernel from the cache, the unbuildable commit skipped as a remembered failure.
    const again = path.join(tempDir("kh-bisect-"), "b");
    const r2 = await runCli(["bisect", "--tree", repo, "--good", base, "--bad", "HEAD", "--tests", "socket_create", "--out", again]);
    t.equal(r2.code, 0, r2.stderr.slice(-4000));
    const doc2 = JSON.parse(await fs.readFile(path.join(again, "bisect.json"), "utf8")) as BisectDoc;
    t.comment(`rerun: ${(r2.durationMs / 1000).toFixed(1)} s\n${stepTable(doc2)}`);
    t.equal(doc2.result?.firstBad?.id, culprit, "the rerun names the same commit");
    t.same(builtNothing(doc2), [], "the rerun built nothing");
    t.match(
      doc2.steps.find((s) => s.revision === unbuildable),
      {
        verdict: "skip",
        reason: /^remembered build failure \(KernelBuildError, .*#error "kharness bisect test: this commit does not build".*--retry-untestable/,
      },
      "the unbuildable commit is a remembered failure, with its error and the way to retry",
    );
    t.match(r2.stdout, /could not be tested \(skipped\): /);

    // From another good commit (the first bisection's earliest good probe) to the culprit: each commit between them was
    // tested by the first bisection from the base; its kernel is found by its git tree, the unbuildable one is a
    // remembered failure, so nothing new is built.
    const firstGoodProbe = Math.min(...doc.steps.filter((s) => s.verdict === "good" && s.index > 0).map((s) => s.index));
    const good2 = doc.revisions[firstGoodProbe]?.id as string;
    t.not(good2, base, "a good commit other than the base");
    const other = path.join(tempDir("kh-bisect-"), "b");
    const r3 = await runCli(["bisect", "--tree", repo, "--good", good2, "--bad", culprit, "--tests", "socket_create", "--out", other]);
    t.equal(r3.code, 0, r3.stderr.slice(-4000));
    const doc3 = JSON.parse(await fs.readFile(path.join(other, "bisect.json"), "utf8")) as BisectDoc;
    t.comment(`another good commit: ${(r3.durationMs / 1000).toFixed(1)} s\n${stepTable(doc3)}`);
    t.equal(doc3.result?.firstBad?.id, culprit);
    t.same(builtNothing(doc3), [], "a bisection from another good commit built nothing new");
    t.ok(
      doc3.steps.some((s) => s.role === "probe" && s.runs[0]?.cacheHit),
      "a probe between the ends came from the cache",
    );
  });
}
