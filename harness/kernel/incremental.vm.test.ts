// VM level: a kernel built from an earlier build's directory (incremental) behaves like a cold build of
// the same key, and two incremental builds started at once from the same kept build directory neither
// corrupt each other nor the directory they started from.
//
// CI cost: it reuses the keys harness/tree-run.vm.test.ts builds (linux-source-6.12 + the socket creation
// series, good and broken; whichever test runs first builds them for both). On top: copying one kept
// build directory, two concurrent incremental builds (a few changed files each), and three runs of the
// bundled suite.
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
import { ensureUnpackedSource } from "./source-tree.js";
import { buildKernelFromTree, type TreeKernelRequest } from "./tree-build.js";
import { BUILD_SUBDIR, cloneKeptBuild, listKeptBuilds, ownSize, walk, type KeptBuild } from "./build-cache.js";

const TARBALL = process.env.KHARNESS_LINUX_TARBALL ?? "/usr/src/linux-source-6.12.tar.xz";
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const GOOD = path.join(repoRoot, "patches", "landlock-socket-create");
const BROKEN = path.join(repoRoot, "patches", "landlock-socket-create-broken");

const haveTarball = await fs.access(TARBALL).then(
  () => true,
  () => false,
);
if (!haveTarball) t.plan(0, `no ${TARBALL} (npm run setup -- --tests installs linux-source-6.12)`);
else {
  const exec = createExec();
  const shared = cacheRoot();
  const tree = await ensureUnpackedSource(exec, TARBALL, shared);
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
    // The shared cache's keys (tree-run.vm.test.ts builds the same two): the good series, then the broken one.
    const goodShared = await build([path.join(GOOD, "series")], shared);
    const brokenShared = await build([BROKEN], shared);
    const goodRecord = goodShared.build!.record!;
    t.comment(
      `shared good key ${goodShared.build!.cacheKey.slice(0, 12)}: ${goodRecord.startedFrom ? `built from ${goodRecord.startedFrom.key.slice(0, 12)}` : "built cold"}; broken ${brokenShared.build!.cacheKey.slice(0, 12)}`,
    );

    // A kept build of the same lineage other than the good series, to start from (normally the broken series').
    // Same tree, base config and fragments (the lineage's other inputs, compiler and linker, are this machine's).
    const sameInputs = (k: KeptBuild) =>
      k.meta.treeIdentity === goodRecord.tree.identity &&
      k.meta.baseConfig === goodRecord.baseConfig &&
      k.meta.arch === X86_64.linuxArch &&
      k.meta.fragments.join("\n") === goodRecord.fragments.join("\n");
    const candidates = (await listKeptBuilds(shared)).filter((k) => sameInputs(k) && k.meta.key !== goodShared.build!.cacheKey);
    const seedShared = candidates.find((k) => k.meta.key === brokenShared.build!.cacheKey) ?? candidates[0];
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

    // The good series (same key as the shared one) and the good series with one line changed, at once.
    const edited = path.join(scratch, "edited");
    await fs.mkdir(edited);
    for (const f of await fs.readdir(GOOD)) await fs.copyFile(path.join(GOOD, f), path.join(edited, f));
    const p3 = path.join(edited, "0003-landlock-Restrict-socket-creation.patch");
    const line = "+\tsize_t num_keys = 0, i;";
    const text = await fs.readFile(p3, "utf8");
    t.ok(text.includes(`\n${line}\n`), "the line to edit is in patch 3");
    await fs.writeFile(p3, text.replace(`\n${line}\n`, `\n${line} static const char kh_incr[] __used = "incremental.vm.test";\n`));
    const t0 = Date.now();
    const [good, edit] = await Promise.all([build([path.join(GOOD, "series")], root), build([path.join(edited, "series")], root)]);
    t.comment(`two concurrent incremental builds: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    for (const [name, k] of [
      ["good", good],
      ["edited", edit],
    ] as const) {
      t.notOk(k.build!.cacheHit, `${name}: built`);
      t.equal(k.build!.record!.startedFrom?.key, seed.meta.key, `${name}: started from the kept build directory`);
      t.comment(`${name}: changed files ${k.build!.record!.startedFrom?.changedFiles.join(" ")}`);
    }
    t.ok((good.build!.record!.startedFrom?.changedFiles.length ?? 0) > 0, "the good series differs from the kept one in some files");
    t.ok(edit.build!.record!.startedFrom?.changedFiles.includes("security/landlock/socket.c"), "the edited file was replaced");
    t.equal(good.build!.cacheKey, goodShared.build!.cacheKey, "the same key as the shared build");
    t.equal(good.release, goodShared.release);
    t.equal(await fs.readFile(good.configPath!, "utf8"), await fs.readFile(goodShared.configPath!, "utf8"), "the same resolved .config");
    t.same(await snapshot(path.join(seedDir, "src", BUILD_SUBDIR)), before, "the kept build directory they started from is unchanged");

    // The reference must be a cold build (an empty build directory). The shared one is, unless that cache
    // lost it and rebuilt it from a kept directory; then build one cold here (a full make, ccache warm).
    const coldKernel = goodRecord.startedFrom
      ? await buildKernelFromTree(req([path.join(GOOD, "series")]), {
          exec,
          cacheRoot: path.join(scratch, "cold-cache"),
          runDir: path.join(scratch, "run-cold"),
          repoRoot,
          profile: X86_64,
          incremental: false,
        })
      : goodShared;
    t.notOk(coldKernel.build!.record!.startedFrom, "the reference build is cold");
    const cold = await verdicts(coldKernel);
    const incr = await verdicts(good);
    const other = await verdicts(edit);
    t.equal(cold.code, 0, cold.stderr.slice(-2000));
    t.ok(Object.keys(cold.map).length > 100, "the bundled suite ran");
    t.ok(
      Object.entries(cold.map).some(([id, s]) => id.startsWith("socket_create.") && s === "PASS"),
      "socket creation cases pass: the series is in the kernel",
    );
    t.same(incr.map, cold.map, "incremental build: every verdict as the shared build's");
    t.same(other.map, cold.map, "the concurrent edited build: the same verdicts (the edit changes no behaviour)");
    t.equal(incr.code, cold.code);
    t.equal(other.code, cold.code);
  });
}
