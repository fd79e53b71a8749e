// VM level: a kernel built from an earlier build's directory (incremental) behaves like a cold build of
// the same key, and two incremental builds started at once from the same kept build directory neither
// corrupt each other nor the directory they started from.
//
// CI cost: it reuses the keys the other tree tests build (linux-source-6.12 alone, and with the socket creation
// series, good and broken; whichever test runs first builds them). The cold reference is whichever of those the
// shared cache built cold (the lineage's first build there), so no build of its own is needed. On top: copying
// one kept build directory, two concurrent incremental builds (a few changed files each), and up to four runs of
// the bundled suite.
import t from "tap";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createExec } from "../exec/exec.js";
import { cacheRoot } from "../exec/cache.js";
import type { KernelImage, ProgressEvent } from "../types.js";
import { X86_64 } from "../qemu/profiles.js";
import { leaves, readResults, runCli } from "../../test/support/cli-run.js";
import { linuxSourceTree } from "../../test/support/vm-fixture.js";
import { buildKernelFromTree, type TreeKernelRequest } from "./tree-build.js";
import { BUILD_SUBDIR, cloneKeptBuild, listKeptBuilds, ownSize, walk, type KeptBuild } from "./build-cache.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const GOOD = path.join(repoRoot, "patches", "landlock-socket-create");
const BROKEN = path.join(repoRoot, "patches", "landlock-socket-create-broken");

const tree = await linuxSourceTree(t);
if (tree !== undefined) {
  const exec = createExec();
  const shared = cacheRoot();
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), "kh-incr-"));
  t.teardown(() => fs.rm(scratch, { recursive: true, force: true }));
  const req = (patches: string[]): TreeKernelRequest => ({ kind: "tree", dir: tree, patches, configs: [], baseConfig: "tiny", debug: false });
  const build = (patches: string[], root: string, events: ProgressEvent[] = []) =>
    buildKernelFromTree(req(patches), {
      exec,
      cacheRoot: root,
      runDir: path.join(scratch, `run-${Math.random().toString(36).slice(2)}`),
      repoRoot,
      profile: X86_64,
      onProgress: (e) => events.push(e),
    });

  /** The bundled suite on a kernel: id -> status (and the run's exit code). */
  const verdicts = async (k: KernelImage) => {
    const r = await runCli(["run", "--kernel", k.path, "--quiet"]);
    const all = leaves((await readResults(r.outDir)).tests);
    return { code: r.code, map: Object.fromEntries(all.map((c) => [c.id, c.status])), stderr: r.stderr };
  };

  /** path, size, mtime of every file under dir: a kept build directory must not change while builds start from it. */
  const snapshot = async (dir: string) => {
    const out: string[] = [];
    for (const f of (await walk(dir)).sort()) {
      const st = await fs.lstat(path.join(dir, f));
      if (st.isFile()) out.push(`${f}\t${st.size}\t${st.mtimeMs}`);
    }
    return out;
  };

  t.test("an incremental build gives the cold build's verdicts; two at once from one kept directory do not interfere", async (t) => {
    // The shared cache's keys (the tree-run, tree-build and bisect tests build the same ones).
    const goodSeries = [path.join(GOOD, "series")];
    const goodShared = await build(goodSeries, shared);
    const brokenShared = await build([BROKEN], shared);
    const baseShared = await build([], shared);
    const goodRecord = goodShared.build!.record!;
    const keyOf = (k: KernelImage) => k.build!.cacheKey;
    t.comment(
      `shared keys: ${[
        ["good", goodShared],
        ["broken", brokenShared],
        ["tree alone", baseShared],
      ]
        .map(([n, k]) => {
          const from = (k as KernelImage).build!.record!.startedFrom;
          return `${n} ${keyOf(k as KernelImage).slice(0, 12)} ${from ? `built from ${from.key.slice(0, 12)}` : "built cold"}`;
        })
        .join("; ")}`,
    );

    // The reference must be a cold build (an empty build directory): one of the shared keys is, the lineage's first
    // build in that cache. Only if none is (a cache that lost it and rebuilt it from a kept directory) is the good
    // series built cold here (a full make, ccache warm).
    const coldShared = (
      [
        [goodSeries, goodShared],
        [[], baseShared],
        [[BROKEN], brokenShared],
      ] as const
    ).find(([, k]) => !k.build!.record!.startedFrom);
    const refPatches: string[] = coldShared ? [...coldShared[0]] : goodSeries;
    const coldKernel =
      coldShared?.[1] ??
      (await buildKernelFromTree(req(goodSeries), {
        exec,
        cacheRoot: path.join(scratch, "cold-cache"),
        runDir: path.join(scratch, "run-cold"),
        repoRoot,
        profile: X86_64,
        incremental: false,
      }));
    t.notOk(coldKernel.build!.record!.startedFrom, "the reference build is cold");
    t.comment(`cold reference: ${keyOf(coldKernel).slice(0, 12)} (${refPatches.length ? path.basename(path.dirname(refPatches[0]!)) : "the tree alone"})`);

    // A kept build of the same lineage other than the reference, to start from (the broken series', else the good one's).
    // Same tree, base config and fragments (the lineage's other inputs, compiler and linker, are this machine's).
    const sameInputs = (k: KeptBuild) =>
      k.meta.treeIdentity === goodRecord.tree.identity &&
      k.meta.baseConfig === goodRecord.baseConfig &&
      k.meta.arch === X86_64.linuxArch &&
      k.meta.fragments.join("\n") === goodRecord.fragments.join("\n");
    const candidates = (await listKeptBuilds(shared)).filter((k) => sameInputs(k) && k.meta.key !== keyOf(coldKernel));
    const seedShared = candidates.find((k) => k.meta.key === keyOf(brokenShared)) ?? candidates.find((k) => k.meta.key === keyOf(goodShared)) ?? candidates[0];
    if (!seedShared) {
      t.fail(
        `no kept build directory of this tree and config in ${shared}/builds (a cache from before kept builds: \`kharness cache prune --all\` and run again)`,
      );
      return;
    }
    // A private cache holding only that kept build (copied as a build would copy it).
    const root = path.join(scratch, "cache");
    const seedDir = path.join(root, "builds", seedShared.meta.lineage, seedShared.meta.key);
    await cloneKeptBuild(exec, seedShared, path.join(seedDir, "src"));
    await fs.writeFile(
      path.join(seedDir, "meta.json"),
      JSON.stringify({ ...seedShared.meta, builtAtPath: path.join(seedDir, "src"), sizeBytes: await ownSize(path.join(seedDir, "src", BUILD_SUBDIR)) }),
    );
    await fs.writeFile(path.join(seedDir, ".complete"), "");
    const [seed] = (await listKeptBuilds(root)) as [KeptBuild];
    t.equal(seed.meta.key, seedShared.meta.key, "the private cache holds the one kept build");
    t.comment(`starting point: the kept build ${seed.meta.key.slice(0, 12)} (${seed.meta.patches.length} patches)`);
    const before = await snapshot(path.join(seedDir, "src", BUILD_SUBDIR));

    // The reference's key and the good series with one line changed, at once.
    const edited = path.join(scratch, "edited");
    await fs.mkdir(edited);
    for (const f of await fs.readdir(GOOD)) await fs.copyFile(path.join(GOOD, f), path.join(edited, f));
    const p3 = path.join(edited, "0003-landlock-Restrict-socket-creation.patch");
    const line = "+\tsize_t num_keys = 0, i;";
    const text = await fs.readFile(p3, "utf8");
    t.ok(text.includes(`\n${line}\n`), "the line to edit is in patch 3");
    await fs.writeFile(p3, text.replace(`\n${line}\n`, `\n${line} static const char kh_incr[] __used = "incremental.vm.test";\n`));
    const t0 = Date.now();
    const [incr, edit] = await Promise.all([build(refPatches, root), build([path.join(edited, "series")], root)]);
    t.comment(`two concurrent incremental builds: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    for (const [name, k] of [
      ["reference key", incr],
      ["edited", edit],
    ] as const) {
      t.notOk(k.build!.cacheHit, `${name}: built`);
      t.equal(k.build!.record!.startedFrom?.key, seed.meta.key, `${name}: started from the kept build directory`);
      t.comment(`${name}: changed files ${k.build!.record!.startedFrom?.changedFiles.join(" ")}`);
    }
    t.ok((incr.build!.record!.startedFrom?.changedFiles.length ?? 0) > 0, "the reference differs from the kept build in some files");
    t.ok(edit.build!.record!.startedFrom?.changedFiles.includes("security/landlock/socket.c"), "the edited file was replaced");
    t.equal(keyOf(incr), keyOf(coldKernel), "the same key as the cold build");
    t.equal(incr.release, coldKernel.release);
    t.equal(await fs.readFile(incr.configPath!, "utf8"), await fs.readFile(coldKernel.configPath!, "utf8"), "the same resolved .config");
    t.same(await snapshot(path.join(seedDir, "src", BUILD_SUBDIR)), before, "the kept build directory they started from is unchanged");

    const cold = await verdicts(coldKernel);
    const incrV = await verdicts(incr);
    const other = await verdicts(edit);
    const good = keyOf(coldKernel) === keyOf(goodShared) ? cold : await verdicts(goodShared);
    t.equal(cold.code, 0, "the cold build's run passes", { stderr: cold.stderr.slice(-2000) });
    t.ok(Object.keys(cold.map).length > 100, "the bundled suite ran");
    t.same(incrV.map, cold.map, "incremental build: every verdict as the cold build's");
    t.equal(incrV.code, cold.code);
    t.ok(
      Object.entries(good.map).some(([id, s]) => id.startsWith("socket_create.") && s === "PASS"),
      "socket creation cases pass on the good series: the series is in the kernel",
    );
    t.same(other.map, good.map, "the concurrent edited build: the good series' verdicts (the edit changes no behaviour)");
    t.equal(other.code, good.code);
  });
}
