// Process tier with a fake Exec: the build flow's decisions (cache hit skips make, patch and build
// failures name the culprit, lost options are listed together, inputs are validated at once).
import t, { type Test } from "tap";
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "../errors.js";
import type { ProgressEvent } from "../types.js";
import { createFakeExec, type FakeResult } from "../../test/support/fake-exec.js";
import { KernelBuildError } from "./kbuild.js";
import { PatchApplyError } from "./patch-apply.js";
import {
  buildCacheKey,
  buildKernelFromTree,
  KernelConfigError,
  prepareKernelSource,
  resolveFragments,
  resolvePatches,
  sweepStaleWork,
  type TreeKernelRequest,
} from "./tree-build.js";
import { X86_64 } from "../qemu/profiles.js";
import { listKeptBuilds } from "./build-cache.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const GOOD_PATCH = `From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: Dev <dev@example.org>
Subject: [PATCH v2 1/2] landlock: add socket creation control

---
diff --git a/security/landlock/net.c b/security/landlock/net.c
--- a/security/landlock/net.c
+++ b/security/landlock/net.c
@@ -5,3 +5,3 @@
 a
-b
+c
`;
const BAD_PATCH = GOOD_PATCH.replace("1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222")
  .replace("[PATCH v2 1/2] landlock: add socket creation control", "[PATCH v2 2/2] selftests/landlock: test socket creation")
  .replace("@@ -5,3 +5,3 @@", "@@ -42,3 +42,3 @@");

interface World {
  dir: string;
  cache: string;
  runDir: string;
  /** Options the fake olddefconfig drops (their dependencies are "not met"). */
  drop: Set<string>;
  /** make bzImage fails with these lines. */
  buildFails?: string[];
  /** git am fails on the patch whose subject contains this. */
  amFailsOn?: string;
  listing: string;
}

async function makeWorld(t: Test): Promise<World> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), "kharness-tree-test-"));
  t.teardown(() => fs.rm(root, { recursive: true, force: true }));
  const dir = path.join(root, "linux");
  await fs.mkdir(path.join(dir, "arch/x86"), { recursive: true });
  await fs.mkdir(path.join(dir, "net"), { recursive: true });
  await fs.writeFile(path.join(dir, "Makefile"), "VERSION = 6\n");
  await fs.writeFile(path.join(dir, "Kconfig"), "");
  await fs.writeFile(path.join(dir, "net/Kconfig"), 'config MPTCP_IPV6\n\tbool "MPTCP IPv6"\n\tdepends on IPV6=y\n');
  return { dir, cache: path.join(root, "cache"), runDir: path.join(root, "run"), drop: new Set(), listing: "Makefile\t12\t1.0\n" };
}

function worldExec(w: World) {
  return createFakeExec(async (argv, opts): Promise<FakeResult | undefined> => {
    const [cmd, ...args] = argv;
    const joined = argv.join(" ");
    if (cmd === "git" && joined.includes("rev-parse --show-toplevel")) return { exitCode: 128, lines: ["fatal: not a git repository"] };
    if (cmd === "bash" && joined.includes("find . ")) return { stdout: `${createHash("sha256").update(w.listing).digest("hex")}  -\n` };
    if (cmd === "bash" && joined.includes("find '"))
      return {
        stdout: `${createHash("sha256")
          .update("fingerprint " + w.listing)
          .digest("hex")}  -\n`,
      };
    if (cmd === "gcc") return { stdout: "gcc (Debian 12.2.0-14+deb12u1) 12.2.0\n" };
    if (cmd === "ld") return { stdout: "GNU ld (GNU Binutils for Debian) 2.40\n" };
    if (cmd === "ccache") return { stdout: "ccache version 4.8\n" };
    if (cmd === "cp" && args[0] === "-al" && args[1] === "-t") {
      // cloneKeptBuild: `cp -al -t DEST -- NAMES...` in the kept source.
      for (const n of args.slice(4)) await fs.cp(path.join(opts.cwd!, n), path.join(args[2]!, n), { recursive: true });
      return {};
    }
    if (cmd === "cp" && (args[0] === "-al" || args[0] === "-a")) {
      await fs.cp(args[args.length - 2]!, args[args.length - 1]!, { recursive: true });
      return {};
    }
    if (cmd === "git" && (joined.includes(" init ") || joined.includes(" add ") || joined.includes(" commit "))) return {};
    if (cmd === "git" && joined.includes(" am --abort")) return {};
    if (cmd === "git" && joined.includes(" am -3 ")) {
      const text = await fs.readFile(argv[argv.length - 1]!, "utf8");
      if (w.amFailsOn && text.includes(w.amFailsOn))
        return {
          exitCode: 128,
          lines: [
            `Applying: ${w.amFailsOn}`,
            "error: sha1 information is lacking or useless (security/landlock/net.c).",
            "error: could not build fake ancestor",
            "Patch failed at 0002",
          ],
        };
      return { lines: ["Applying: ok"] };
    }
    if (cmd === "git" && joined.includes(" apply --check -v ")) {
      return {
        exitCode: 1,
        lines: [
          "Checking patch security/landlock/net.c...",
          "error: while searching for:",
          "a",
          "b",
          "",
          "error: patch failed: security/landlock/net.c:42",
          "error: security/landlock/net.c: patch does not apply",
        ],
      };
    }
    if (cmd === "grep") return { stdout: "./net/Kconfig\n" };
    if (cmd === "make") {
      const out = argv.find((a) => a.startsWith("O="))!.slice(2);
      const target = argv[argv.length - 1];
      const dotConfig = path.join(out, ".config");
      if (target === "tinyconfig" || target === "defconfig") {
        await fs.writeFile(dotConfig, "CONFIG_64BIT=y\n# CONFIG_PRINTK is not set\n");
        return { lines: ["#", "# configuration written to .config", "#"] };
      }
      if (target === "olddefconfig") {
        const kept = (await fs.readFile(dotConfig, "utf8")).split("\n").filter((l) => ![...w.drop].some((d) => l.startsWith(`CONFIG_${d}=`)));
        await fs.writeFile(dotConfig, kept.join("\n"));
        return { lines: ["#", "# configuration written to .config", "#"] };
      }
      if (target === "bzImage") {
        if (w.buildFails) return { exitCode: 2, lines: w.buildFails };
        await fs.mkdir(path.join(out, "arch/x86/boot"), { recursive: true });
        await fs.mkdir(path.join(out, "include/config"), { recursive: true });
        await fs.writeFile(path.join(out, "arch/x86/boot/bzImage"), "kernel");
        await fs.writeFile(path.join(out, "include/config/kernel.release"), "6.12.117\n");
        return { lines: ["  CC      init/main.o", "Kernel: arch/x86/boot/bzImage is ready  (#1)"] };
      }
    }
    return undefined;
  });
}

function request(w: World, over: Partial<TreeKernelRequest> = {}): TreeKernelRequest {
  return { kind: "tree", dir: w.dir, patches: [], configs: [], baseConfig: "tiny", debug: false, ...over };
}

function depsFor(w: World, exec: ReturnType<typeof worldExec>, events: ProgressEvent[] = []) {
  return { exec, cacheRoot: w.cache, runDir: w.runDir, repoRoot, jobs: 2, onProgress: (e: ProgressEvent) => events.push(e), profile: X86_64 };
}

const makeCalls = (exec: ReturnType<typeof worldExec>) => exec.calls.filter((c) => c.argv[0] === "make").map((c) => c.argv[c.argv.length - 1]);

async function entries(dir: string): Promise<string[]> {
  return fs.readdir(dir).catch(() => []);
}

t.test("a cold build runs tinyconfig, olddefconfig and bzImage; the same inputs again never run make", async (t) => {
  const w = await makeWorld(t);
  const exec = worldExec(w);
  const events: ProgressEvent[] = [];
  const first = await buildKernelFromTree(request(w), depsFor(w, exec, events));
  t.same(makeCalls(exec), ["tinyconfig", "olddefconfig", "bzImage"]);
  t.equal(first.build?.cacheHit, false);
  t.equal(first.release, "6.12.117");
  t.equal(await fs.readFile(first.path, "utf8"), "kernel");
  t.match(await fs.readFile(first.configPath!, "utf8"), /CONFIG_SECURITY_LANDLOCK=y/);
  t.match(await fs.readFile(path.join(w.runDir, "build.log"), "utf8"), /bzImage is ready/);
  t.ok(
    events.some((e) => e.kind === "build-line" && e.line.includes("init/main.o")),
    "make lines become progress events",
  );
  const bz = exec.calls.find((c) => c.argv.includes("bzImage"))!.argv;
  t.ok(bz.includes("CC=ccache gcc") && bz.includes("-j2") && bz.includes("ARCH=x86_64"), "ccache, -j and ARCH");
  t.same(await entries(path.join(w.cache, "work")), [], "work area cleaned up");

  const again = worldExec(w);
  const second = await buildKernelFromTree(request(w), depsFor(w, again));
  t.same(makeCalls(again), [], "no make on a cache hit");
  t.notOk(
    again.calls.some((c) => c.argv.join(" ").includes("find . ")),
    "the memoized fingerprint spares the full listing",
  );
  t.equal(second.build?.cacheHit, true);
  t.equal(second.build?.cacheKey, first.build?.cacheKey);
  t.equal(second.path, first.path);

  w.listing += "net/new.c\t5\t2.0\n";
  const changed = worldExec(w);
  const third = await buildKernelFromTree(request(w), depsFor(w, changed));
  t.not(third.build?.cacheKey, first.build?.cacheKey, "a changed plain tree is a new key");
  t.same(makeCalls(changed), ["tinyconfig", "olddefconfig", "bzImage"]);
});

t.test("the key covers patches in order, the config request, the base config and the compiler", async (t) => {
  const base = {
    treeIdentity: "plain:abc",
    patches: ["p1", "p2"],
    baseConfig: "tiny" as const,
    mergedConfig: "CONFIG_A=y\n",
    compiler: "gcc 12",
    linker: "ld 2.40",
  };
  const k = buildCacheKey(base);
  t.equal(buildCacheKey({ ...base }), k);
  t.not(buildCacheKey({ ...base, patches: ["p2", "p1"] }), k);
  t.not(buildCacheKey({ ...base, mergedConfig: "CONFIG_A=n\n" }), k);
  t.not(buildCacheKey({ ...base, baseConfig: "defconfig" }), k);
  t.not(buildCacheKey({ ...base, compiler: "gcc 13" }), k);
  t.not(buildCacheKey({ ...base, treeIdentity: "plain:abd" }), k);
});

t.test("a patch that does not apply names the patch, its subject and the failing hunk; nothing is cached", async (t) => {
  const w = await makeWorld(t);
  w.amFailsOn = "selftests/landlock: test socket creation";
  const series = path.join(w.dir, "..", "series.mbx");
  await fs.writeFile(series, GOOD_PATCH + "\n" + BAD_PATCH);
  const exec = worldExec(w);
  const err = await buildKernelFromTree(request(w, { patches: [series] }), depsFor(w, exec)).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof PatchApplyError, "a PatchApplyError");
  const e = err as PatchApplyError;
  t.equal(e.kind, "usage", "exit 2: the series does not fit the tree");
  t.ok(e.untestable, "bisect skips it");
  t.match(e.message, /patch 2\/2 does not apply to .*linux: "selftests\/landlock: test socket creation" \(.*series\.mbx#2\)/);
  t.match(e.message, /failing hunk: security\/landlock\/net\.c:42\n {4}@@ -42,3 \+42,3 @@\n {5}a\n {4}-b/);
  t.same(makeCalls(exec), [], "make never ran");
  t.same(await entries(path.join(w.cache, "kernels")), [], "no cache entry, no temp entry");
  t.same(await entries(path.join(w.cache, "work")), [], "the copy is removed");
  t.equal(await fs.readFile(path.join(w.dir, "Makefile"), "utf8"), "VERSION = 6\n", "the user's tree is untouched");
});

t.test("a failed build shows the compiler's error lines and the log tail, exit 3, nothing cached", async (t) => {
  const w = await makeWorld(t);
  const noise = Array.from({ length: 60 }, (_, i) => `  CC      kernel/file${i}.o`);
  w.buildFails = [
    ...noise.slice(0, 30),
    "security/landlock/net.c: In function 'hook_socket_create':",
    "security/landlock/net.c:210:9: error: 'sock' undeclared (first use in this function)",
    ...noise.slice(30),
    "make[4]: *** [scripts/Makefile.build:229: security/landlock/net.o] Error 1",
    "make[1]: *** [/src/Makefile:224: __sub-make] Error 2",
  ];
  const exec = worldExec(w);
  const err = await buildKernelFromTree(request(w), depsFor(w, exec)).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof KernelBuildError, "a KernelBuildError");
  const e = err as KernelBuildError;
  t.equal(e.kind, "infra", "exit 3");
  t.ok(e.untestable);
  t.same(e.errorLines, ["security/landlock/net.c:210:9: error: 'sock' undeclared (first use in this function)"]);
  t.match(e.message, /kernel build \(make -j2 bzImage\) failed \(exit 2\)\ncompiler errors:\n {2}security\/landlock\/net\.c:210:9: error: 'sock' undeclared/);
  t.equal(e.tail?.length, 40);
  t.equal(e.tail?.[39], "make[1]: *** [/src/Makefile:224: __sub-make] Error 2");
  t.match(e.fix, /build\.log/);
  t.match(await fs.readFile(path.join(w.runDir, "build.log"), "utf8"), /kernel\/file0\.o[\s\S]*Error 2/);
  t.same(await entries(path.join(w.cache, "kernels")), []);
});

t.test("every requested option olddefconfig dropped is listed, with its fragment and the missing dependency", async (t) => {
  const w = await makeWorld(t);
  w.drop = new Set(["MPTCP_IPV6", "VIRTIO_CONSOLE"]);
  const exec = worldExec(w);
  const err = await buildKernelFromTree(request(w, { configs: ["# CONFIG_IPV6 is not set"] }), depsFor(w, exec)).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof KernelConfigError);
  const e = err as KernelConfigError;
  t.equal(e.kind, "usage");
  t.ok(e.untestable);
  t.same(
    e.lost.map((l) => [l.name, l.origin]),
    [
      ["VIRTIO_CONSOLE", "kernel-config/qemu-guest.config"],
      ["MPTCP_IPV6", "kernel-config/landlock.config"],
    ],
  );
  t.match(e.message, /^2 requested kernel options did not survive olddefconfig:/);
  t.match(e.message, /CONFIG_MPTCP_IPV6=y \(asked by kernel-config\/landlock\.config:\d+\) ended up unset: missing dependency: CONFIG_IPV6 not enabled/);
  t.match(e.message, /CONFIG_VIRTIO_CONSOLE=y .*no `config VIRTIO_CONSOLE`/);
  t.same(makeCalls(exec), ["tinyconfig", "olddefconfig"], "stops before the build");
  t.match(await fs.readFile(path.join(w.runDir, "kernel.config"), "utf8"), /CONFIG_64BIT=y/, "the resolved config is kept for inspection");
  t.same(await entries(path.join(w.cache, "kernels")), []);
});

t.test("bad inputs are reported together before anything runs", async (t) => {
  const w = await makeWorld(t);
  const exec = worldExec(w);
  const err = await buildKernelFromTree(
    request(w, { dir: path.join(w.dir, "net"), patches: [path.join(w.dir, "nope.patch")], configs: [path.join(w.dir, "nope.config")] }),
    depsFor(w, exec),
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof UsageError);
  const msg = (err as UsageError).message;
  t.match(msg, /^3 problems with the --tree request:/);
  t.match(msg, /net is not a Linux source tree \(no Makefile, arch\/x86\)/);
  t.match(msg, /--patches .*nope\.patch: no such file or directory/);
  t.match(msg, /--config .*nope\.config: no such file; pass a fragment file or one option/);
  t.same(exec.calls, []);
});

t.test("resolveFragments: ours first, debug on request, then --config files and inline options in order", async (t) => {
  const w = await makeWorld(t);
  const frag = path.join(w.dir, "..", "mine.config");
  await fs.writeFile(frag, "CONFIG_KASAN=y\n");
  const { fragments, problems } = await resolveFragments({ configs: [frag, "CONFIG_DEBUG_LIST=y"], debug: true }, repoRoot);
  t.same(problems, []);
  t.same(
    fragments.map((f) => f.name),
    ["kernel-config/qemu-guest.config", "kernel-config/landlock.config", "kernel-config/debug.config", frag, "--config CONFIG_DEBUG_LIST=y"],
  );
});

t.test("resolvePatches reads a *.patch directory in name order and a quilt series", async (t) => {
  const w = await makeWorld(t);
  const d = path.join(w.dir, "..", "pdir");
  await fs.mkdir(d);
  await fs.writeFile(path.join(d, "0002-b.patch"), BAD_PATCH);
  await fs.writeFile(path.join(d, "0001-a.patch"), GOOD_PATCH);
  await fs.writeFile(path.join(d, "notes.txt"), "ignored");
  const dir = await resolvePatches([d]);
  t.same(
    dir.patches.map((p) => p.subject),
    ["landlock: add socket creation control", "selftests/landlock: test socket creation"],
  );
  const q = path.join(w.dir, "..", "quilt");
  await fs.mkdir(q);
  await fs.writeFile(path.join(q, "bare.diff"), "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n");
  await fs.writeFile(path.join(q, "series"), "# comment\nbare.diff -p1\n");
  const quilt = await resolvePatches([q]);
  t.equal(quilt.patches.length, 1);
  t.equal(quilt.patches[0]?.subject, "bare.diff");
  t.match(quilt.patches[0]?.text, /^From: kharness <kharness@localhost>\nSubject: bare\.diff\n\n--- a\/x\.c/, "a bare diff gets mail headers for git am");
  const none = await resolvePatches([path.join(d, "..", "linux", "Makefile")]);
  t.match(none.problems[0], /holds no diff/);
});

t.test("two concurrent builds of one key build once: the second waits on the lock and reuses the entry", async (t) => {
  const w = await makeWorld(t);
  const exec = worldExec(w);
  const slow = createFakeExec(async (argv, opts) => {
    if (argv[0] === "make" && argv[argv.length - 1] === "bzImage") await new Promise((r) => setTimeout(r, 400));
    return exec.run(argv, opts);
  });
  const [a, b] = await Promise.all([buildKernelFromTree(request(w), depsFor(w, slow)), buildKernelFromTree(request(w), depsFor(w, slow))]);
  t.equal(makeCalls(exec).filter((x) => x === "bzImage").length, 1, "make bzImage ran once");
  t.same([a.build?.cacheHit, b.build?.cacheHit].sort(), [false, true]);
  t.equal(a.path, b.path);
});

t.test("sweepStaleWork removes work dirs and temp entries of dead builds only", async (t) => {
  const w = await makeWorld(t);
  const { createExec } = await import("../exec/exec.js");
  const dead = Number((await createExec().run(["sh", "-c", "echo $$"])).stdout.trim());
  const work = path.join(w.cache, "work");
  await fs.mkdir(path.join(work, `abcd-${dead}-x1`), { recursive: true });
  await fs.mkdir(path.join(work, `ksft-abcd-${process.ppid}-x2`), { recursive: true });
  await fs.mkdir(path.join(w.cache, "kernels", `k1.tmp-${dead}-ab12`), { recursive: true });
  await fs.mkdir(path.join(w.cache, "kernels", `k2.tmp-${process.ppid}-ab12`), { recursive: true });
  await fs.mkdir(path.join(w.cache, "kernels", "k3"), { recursive: true });
  await sweepStaleWork(worldExec(w), w.cache);
  t.same(await entries(work), [`ksft-abcd-${process.ppid}-x2`]);
  t.same((await entries(path.join(w.cache, "kernels"))).sort(), ["k2.tmp-" + process.ppid + "-ab12", "k3"], "only a dead build's temp entry goes");
});

t.test("the kernel hands over what it was built from; prepareKernelSource makes that source again (kselftests)", async (t) => {
  const w = await makeWorld(t);
  const patch = path.join(w.dir, "..", "0001-good.patch");
  await fs.writeFile(patch, GOOD_PATCH);
  const first = await buildKernelFromTree(request(w, { patches: [patch] }), depsFor(w, worldExec(w)));
  // A cache hit (no build ran) hands over the same record: later stages never read build.json by key.
  const again = worldExec(w);
  const kernel = await buildKernelFromTree(request(w, { patches: [patch] }), depsFor(w, again));
  t.same(makeCalls(again), [], "a cache hit");
  for (const k of [first, kernel]) {
    t.equal(k.build?.record?.tree.dir, w.dir);
    t.equal(k.build?.record?.usesWorkingTree, false);
    t.same(
      k.build?.patches?.map((p) => [p.subject, p.text]),
      [["landlock: add socket creation control", GOOD_PATCH]],
    );
  }
  const exec = worldExec(w);
  const workDir = path.join(w.cache, "work", "ksft-test");
  await fs.mkdir(workDir, { recursive: true });
  const logged: string[] = [];
  const build = kernel.build!;
  const prepared = await prepareKernelSource(exec, { record: build.record!, patches: build.patches! }, workDir, { log: (l) => logged.push(l) });
  t.not(prepared.srcDir, w.dir, "a copy of the tree, not the user's own");
  t.ok(
    await fs.stat(path.join(prepared.srcDir, "Makefile")).then(
      () => true,
      () => false,
    ),
    "the tree's files are there",
  );
  t.equal(exec.calls.filter((c) => c.argv[0] === "git" && c.argv.includes("am")).length, 1, "the series is applied again");
  await prepared.cleanup();
  // Built in place (no patches, no --base): the user's tree itself, nothing to copy or apply.
  const inPlace = await buildKernelFromTree(request(w), depsFor(w, worldExec(w)));
  const own = await prepareKernelSource(worldExec(w), { record: inPlace.build!.record!, patches: inPlace.build!.patches! }, workDir, { log: () => undefined });
  t.equal(own.srcDir, w.dir);
});

t.test("a tree without a series is built from a copy and kept; it starts from a kept build and gets the touched files' own content back", async (t) => {
  const w = await makeWorld(t);
  await fs.mkdir(path.join(w.dir, "security/landlock"), { recursive: true });
  await fs.writeFile(path.join(w.dir, "security/landlock/net.c"), "a\nb\n");
  // An in-tree build in a plain tree no longer stops a build without a series: the copy sheds it.
  await fs.writeFile(path.join(w.dir, ".config"), "CONFIG_X=y\n");
  const patch = path.join(w.dir, "..", "0001-good.patch");
  await fs.writeFile(patch, GOOD_PATCH);
  const patched = await buildKernelFromTree(request(w, { patches: [patch] }), depsFor(w, worldExec(w)));
  t.notOk(patched.build!.record!.startedFrom, "the lineage's first build is cold");
  const [kept, ...more] = await listKeptBuilds(w.cache);
  t.same(more, [], "one kept build");
  // The fake `git am` writes nothing: give the kept source the patched content, as a new file (never through a link).
  const keptNet = path.join(kept!.dir, "src/security/landlock/net.c");
  await fs.rm(keptNet);
  await fs.writeFile(keptNet, "a\nc\n");

  const exec = worldExec(w);
  const events: ProgressEvent[] = [];
  const own = await buildKernelFromTree(request(w), depsFor(w, exec, events));
  const record = own.build!.record!;
  t.equal(record.startedFrom?.key, patched.build!.cacheKey, "started from the series' kept build");
  t.same(record.startedFrom?.changedFiles, ["security/landlock/net.c"], "only the file the series touched changed");
  t.equal(record.usesWorkingTree, true, "the working tree's own content");
  t.notOk(
    exec.calls.some((c) => c.argv[0] === "cp" && c.argv.includes(w.dir)),
    "the whole tree was not copied",
  );
  t.same(makeCalls(exec).slice(-1), ["bzImage"], "make ran in the copy");
  t.ok(
    exec.calls.filter((c) => c.argv[0] === "make").every((c) => !c.argv.includes(`-C${w.dir}`) && c.cwd !== w.dir),
    "nothing ran in the user's tree",
  );
  const mine = (await listKeptBuilds(w.cache)).find((k) => k.meta.key === own.build!.cacheKey);
  t.ok(mine, "the build without a series is kept for the next one");
  t.equal(await fs.readFile(path.join(mine!.dir, "src/security/landlock/net.c"), "utf8"), "a\nb\n", "with the tree's own content of that file");
  t.equal(await fs.readFile(path.join(w.dir, "security/landlock/net.c"), "utf8"), "a\nb\n", "the user's file is untouched");
  // prepareKernelSource still hands the kselftest stage the user's tree for a build without a series.
  const src = await prepareKernelSource(worldExec(w), { record, patches: own.build!.patches! }, path.join(w.cache, "work", "k"), { log: () => undefined });
  t.equal(src.srcDir, w.dir);
});
