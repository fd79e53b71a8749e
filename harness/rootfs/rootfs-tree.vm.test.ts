// VM level (issue 15's headline): `kharness run --tree linux-source-6.12 --kselftest landlock --rootfs debian`.
// The tree's kernel is built with kernel-config/rootfs.config (virtio-blk and ext4 built in), the tree's Landlock
// selftests are linked dynamically and installed into the run's overlay, and every upstream case passes, with no
// busybox shim in the initramfs. The two fs_test cases that need pivot_root (the initramfs root has no parent
// mount: docs/rootfs.md) pass here.
//
// CI cost: one kernel key of its own (the tree + our fragments + rootfs.config, a full build from ccache after the
// other tree tests' builds), the dynamic kselftest build, one boot. The Debian image is the one rootfs.vm.test.ts
// uses (built once per cache).
import t from "tap";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { leaves, readCpioEntry, readResults, runCli } from "../../test/support/cli-run.js";
import { linuxSourceTree } from "../../test/support/vm-fixture.js";

const UPSTREAM = ["base_test", "fs_test", "net_test", "ptrace_test", "scoped_abstract_unix_test", "scoped_signal_test", "scoped_test"];
// layout3_fs.hostfs.*: there is no hostfs (UML's host file system) in a QEMU guest, so fs_test skips those itself.
const EXPECTED_SKIP = /^kselftest\.landlock\.fs_test\.layout3_fs\.hostfs\./;

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
if (!isRoot) t.plan(0, "building the Debian image needs root");
else {
  const tree = await linuxSourceTree(t);
  if (tree !== undefined) {
    t.test("--tree --kselftest landlock --rootfs debian: every upstream Landlock case passes, installed in the overlay", async (t) => {
      const started = Date.now();
      const r = await runCli(["run", "--tree", tree, "--kselftest", "landlock", "--rootfs", "debian"]);
      t.comment(`run: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      t.equal(r.code, 0, "exit 0", { stderr: r.stderr.slice(-3000) });
      t.match(r.stderr, /installed into the root file system at \/opt\/kselftest/, "the kselftests went into the overlay");

      const all = leaves((await readResults(r.outDir)).tests);
      const ksft = all.filter((c) => c.id.startsWith("kselftest.landlock."));
      for (const prog of UPSTREAM)
        t.ok(
          ksft.some((c) => c.id.startsWith(`kselftest.landlock.${prog}.`)),
          `${prog} reported its cases`,
        );
      t.same(
        ksft.filter((c) => c.status !== "PASS" && !(c.status === "SKIP" && EXPECTED_SKIP.test(c.id))).map((c) => `${c.id} ${c.status}`),
        [],
        "every upstream case passes (only fs_test's hostfs layout skips)",
      );
      t.ok(ksft.filter((c) => c.status === "PASS").length > 350, `${ksft.filter((c) => c.status === "PASS").length} upstream cases pass`);
      for (const id of ["kselftest.landlock.fs_test.layout1.rule_inside_mount_ns", "kselftest.landlock.fs_test.layout1.topology_changes_with_net_only"])
        t.equal(all.find((c) => c.id === id)?.status, "PASS", `${id}: pivot_root works from the root file system`);

      const cpio = await fs.readFile(path.join(r.outDir, "initramfs.cpio"));
      for (const shim of ["bin/busybox", "bin/sh", "bin/ip"]) t.notOk(readCpioEntry(cpio, shim), `no ${shim} in the initramfs`);
      t.notOk(
        await fs.stat(path.join(r.outDir, "rootfs.qcow2")).then(
          () => true,
          () => false,
        ),
        "the overlay is removed after the run",
      );
    });
  }
}
