// Slow tier: build Debian's linux-source-6.12 with our fragments for real (cold, then a cache hit), and
// check that an impossible option and a broken patch fail fast with clear errors and no cache entry.
import t from "tap";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createExec } from "../exec/exec.js";
import { cacheRoot } from "../exec/cache.js";
import type { ProgressEvent } from "../types.js";
import { PatchApplyError } from "./patch-apply.js";
import { ensureUnpackedSource } from "./source-tree.js";
import { buildKernelFromTree, KernelConfigError, type TreeKernelRequest } from "./tree-build.js";
import { X86_64 } from "../qemu/profiles.js";

const TARBALL = process.env.KHARNESS_LINUX_TARBALL ?? "/usr/src/linux-source-6.12.tar.xz";
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const haveTarball = await fs.access(TARBALL).then(
  () => true,
  () => false,
);
if (!haveTarball) {
  t.plan(0, `no ${TARBALL} (apt-get install linux-source-6.12)`);
} else {
  const exec = createExec();
  // The real cache: CI machines that keep it reuse both the unpacked tree and the built kernel.
  const root = cacheRoot();
  const treeDir = await ensureUnpackedSource(exec, TARBALL, root);
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), "kharness-tree-vm-"));
  t.teardown(() => fs.rm(runDir, { recursive: true, force: true }));
  const base: TreeKernelRequest = { kind: "tree", dir: treeDir, patches: [], configs: [], baseConfig: "tiny", debug: false };
  const deps = (events: ProgressEvent[] = []) => ({
    exec,
    cacheRoot: root,
    runDir,
    repoRoot,
    onProgress: (e: ProgressEvent) => events.push(e),
    profile: X86_64,
  });

  t.test("the unpacked tarball builds with our fragments, and a second run is a cache hit", async (t) => {
    const first = await buildKernelFromTree(base, deps());
    t.comment(
      `first build: ${first.build?.cacheHit ? "cache hit" : "cold build"} in ${((first.build?.durationMs ?? 0) / 1000).toFixed(1)} s, key ${first.build?.cacheKey}`,
    );
    t.match(first.release, /^6\.12\./);
    t.ok((await fs.stat(first.path)).size > 500_000, "a bzImage");
    const config = await fs.readFile(first.configPath!, "utf8");
    t.match(config, /^CONFIG_SECURITY_LANDLOCK=y$/m);
    t.match(config, /^CONFIG_VIRTIO_CONSOLE=y$/m);
    t.match(config, /^CONFIG_LSM="landlock"$/m);

    const events: ProgressEvent[] = [];
    const second = await buildKernelFromTree(base, deps(events));
    t.comment(`second build stage: ${second.build?.durationMs} ms`);
    t.ok(second.build?.cacheHit, "cache hit");
    t.equal(second.build?.cacheKey, first.build?.cacheKey);
    t.ok((second.build?.durationMs ?? Infinity) < 1000, "build stage under a second");
    t.equal(events.filter((e) => e.kind === "build-line").length, 0, "make never ran");
  });

  t.test("options that cannot be set are listed together with who asked and why", async (t) => {
    const req = { ...base, configs: ["# CONFIG_IPV6 is not set", "CONFIG_KHARNESS_NO_SUCH_OPTION=y"] };
    const err = await buildKernelFromTree(req, deps()).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof KernelConfigError, "a KernelConfigError");
    const e = err as KernelConfigError;
    t.comment(e.message);
    t.equal(e.kind, "usage");
    t.ok(e.untestable);
    t.same(e.lost.map((l) => l.name).sort(), ["KHARNESS_NO_SUCH_OPTION", "MPTCP_IPV6"]);
    t.match(e.message, /CONFIG_MPTCP_IPV6=y \(asked by kernel-config\/landlock\.config:\d+\) ended up unset: missing dependency: CONFIG_IPV6/);
    t.match(e.message, /CONFIG_KHARNESS_NO_SUCH_OPTION=y \(asked by --config CONFIG_KHARNESS_NO_SUCH_OPTION=y:1\).*no `config KHARNESS_NO_SUCH_OPTION`/);
  });

  t.test("a patch that does not apply names its file, subject and hunk; the tree is untouched", async (t) => {
    const target = path.join(treeDir, "security/landlock/net.c");
    const before = await fs.stat(target);
    const patch = path.join(runDir, "0001-broken.patch");
    await fs.writeFile(
      patch,
      [
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001",
        "From: Dev <dev@example.org>",
        "Date: Mon, 1 Jan 2024 00:00:00 +0000",
        "Subject: [PATCH 1/1] landlock: a change written against another tree",
        "",
        "---",
        " security/landlock/net.c | 2 +-",
        "",
        "diff --git a/security/landlock/net.c b/security/landlock/net.c",
        "--- a/security/landlock/net.c",
        "+++ b/security/landlock/net.c",
        "@@ -20,2 +20,2 @@",
        " this context",
        "-is not in",
        "+the real file",
        "--",
        "2.39.5",
        "",
      ].join("\n"),
    );
    const err = await buildKernelFromTree({ ...base, patches: [patch] }, deps()).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.ok(err instanceof PatchApplyError, "a PatchApplyError");
    const e = err as PatchApplyError;
    t.comment(e.message);
    t.match(e.message, /patch 1\/1 does not apply .*"landlock: a change written against another tree" \(.*0001-broken\.patch\)/);
    t.match(e.message, /failing hunk: security\/landlock\/net\.c:20/);
    t.ok(e.untestable);
    const after = await fs.stat(target);
    t.equal(after.mtimeMs, before.mtimeMs, "the user's file is untouched");
    t.equal(after.ino, before.ino);
  });
}
