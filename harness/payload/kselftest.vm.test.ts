// Slow tier: build the unpacked linux-source-6.12's own Landlock kselftests statically (after the
// kernel from kernel/tree-build.vm.test.ts, normally a cache hit) and check what goes into the initramfs.
import t from "tap";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createExec } from "../exec/exec.js";
import { cacheRoot } from "../exec/cache.js";
import { elfKind } from "./kselftest.js";
import { ensureUnpackedSource } from "../kernel/source-tree.js";
import { buildKernelFromTree } from "../kernel/tree-build.js";
import { buildKselftests } from "./kselftest.js";
import { X86_64 } from "../qemu/profiles.js";

const TARBALL = process.env.KHARNESS_LINUX_TARBALL ?? "/usr/src/linux-source-6.12.tar.xz";
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

if (
  !(await fs.access(TARBALL).then(
    () => true,
    () => false,
  ))
) {
  t.plan(0, `no ${TARBALL} (apt-get install linux-source-6.12)`);
} else {
  t.test("--kselftest landlock: static programs named kselftest.landlock.*, with their files", async (t) => {
    const exec = createExec();
    const root = cacheRoot();
    const runDir = await fs.mkdtemp(path.join(os.tmpdir(), "kharness-ksft-vm-"));
    t.teardown(() => fs.rm(runDir, { recursive: true, force: true }));
    const deps = { exec, cacheRoot: root, runDir, repoRoot, profile: X86_64 };
    const dir = await ensureUnpackedSource(exec, TARBALL, root);
    const kernel = await buildKernelFromTree({ kind: "tree", dir, patches: [], configs: [], baseConfig: "tiny", debug: false }, deps);
    const started = Date.now();
    const ksft = await buildKselftests(kernel, ["landlock"], deps);
    t.comment(`kselftest stage: ${Date.now() - started} ms`);
    const names = ksft.programs.map((p) => p.name);
    for (const n of ["base_test", "fs_test", "net_test", "ptrace_test"]) t.ok(names.includes(`kselftest.landlock.${n}`), n);
    t.notOk(names.includes("kselftest.landlock.true"), "helpers are files, not programs");
    for (const p of ksft.programs) {
      t.equal(p.timeoutSec, 45);
      t.equal(p.cwd, "/kharness/kselftest/landlock");
      const head = Buffer.alloc(4096);
      const fh = await fs.open(p.hostPath, "r");
      await fh.read(head, 0, head.length, 0);
      await fh.close();
      t.equal(elfKind(head), "static", `${p.name} is static`);
    }
    t.ok(
      ksft.files.some((f) => f.guestPath === "/kharness/kselftest/landlock/true" && f.mode === 0o755),
      "fs_test's helper `true` is shipped",
    );
  });
}
