// Pure: init's console lines about a root file system it could not use, found as the console streams, and the exit
// code each case gets (DESIGN.md: 3 for our image or a kernel without the disk, 2 for a user's image).
import t from "tap";
import { InfraError, UsageError } from "../errors.js";
import { parseRootfsFailure, RootfsConsoleWatch, rootfsFailureError } from "./guest-failure.js";

const MOUNT_EINVAL =
  "kharness-init: rootfs /dev/vda: mount failed: Invalid argument (every program is an ERROR; is virtio_blk in the kernel or the initramfs, and the image ext4?)";

t.test("init's lines are recognised; others are not", async (t) => {
  t.same(parseRootfsFailure(MOUNT_EINVAL), { step: "mount", reason: "Invalid argument", line: "rootfs /dev/vda: mount failed: Invalid argument" });
  t.same(parseRootfsFailure("kharness-init: rootfs: bind of /sys failed: Permission denied\r"), {
    step: "bind",
    reason: "Permission denied",
    line: "rootfs: bind of /sys failed: Permission denied",
  });
  t.match(parseRootfsFailure("kharness-init: rootfs: cannot install /rootfs/opt/kselftest/exec/x into it: No space left on device (every program ...)"), {
    step: "install",
    reason: "No space left on device",
  });
  t.equal(parseRootfsFailure("kharness-init: rootfs /dev/vda mounted; programs run chrooted in it"), undefined, "success is no failure");
  t.equal(parseRootfsFailure("# rootfs /dev/vda: mount failed: Invalid argument"), undefined, "a test's own output is not init's");
});

t.test("the watch finds a line split across chunks, and only the first failure", async (t) => {
  const w = new RootfsConsoleWatch();
  const text = `[    1.0] virtio_blk virtio1: [vda] 4096 512-byte logical blocks\n${MOUNT_EINVAL}\nkharness-init: rootfs: bind of /dev failed: No such device\n`;
  for (let i = 0; i < text.length; i += 7) w.push(Buffer.from(text.slice(i, i + 7)));
  t.equal(w.failure?.step, "mount");
  t.equal(w.failure?.reason, "Invalid argument");
  const quiet = new RootfsConsoleWatch();
  quiet.push(Buffer.from("kharness-init: rootfs /dev/vda mounted; programs run chrooted in it\n"));
  t.equal(quiet.failure, undefined);
});

t.test("exit codes: a user's image is bad input, ours or a kernel without the disk is infrastructure", async (t) => {
  const user = { spec: "./img.raw", base: "/abs/img.raw" };
  const debian = { spec: "debian", base: "/cache/rootfs/k/base.qcow2" };
  const einval = parseRootfsFailure(MOUNT_EINVAL);
  if (!einval) throw new Error("unparsed");
  const u = rootfsFailureError(user, einval);
  t.ok(u instanceof UsageError, "user image that does not mount: exit 2");
  t.match(u.message, /^--rootfs \.\/img\.raw: the guest kernel cannot mount its file system/);
  t.match(u.fix, /e2fsck -f \.\/img\.raw/);
  const d = rootfsFailureError(debian, einval);
  t.ok(d instanceof InfraError, "our own image that does not mount: exit 3");
  t.match(d.message, /base\.qcow2/);
  t.match(d.fix, /kharness rootfs prune --all, then kharness rootfs build/);
  const nodev = { step: "mount" as const, reason: "No such device", line: "rootfs /dev/vda: mount failed: No such device" };
  t.ok(rootfsFailureError(user, nodev) instanceof InfraError, "no ext4 in the kernel is not the user's image's fault");
  t.match(rootfsFailureError(user, nodev).fix, /rootfs\.config/);
  const full = { step: "install" as const, reason: "No space left on device", line: "rootfs: cannot install x into it: No space left on device" };
  t.ok(rootfsFailureError(user, full) instanceof UsageError, "a user image too full for the install tree: exit 2");
  t.match(rootfsFailureError(user, full).fix, /qemu-img resize/);
  t.ok(rootfsFailureError(debian, full) instanceof InfraError);
});
