// A root file system the guest could not use: init says so on the console (vm/init.c mount_rootfs) and reports
// every program as an ERROR. The run then ends with the error that names the image: infrastructure (exit 3) when
// the image is ours (--rootfs debian) or the kernel lacks the disk or ext4, bad input (exit 2) when a user's image
// passed the host-side check but holds no file system the guest can mount or no room for the install tree.

import { promises as fs } from "node:fs";
import { InfraError, UsageError } from "../errors.js";
import type { RunRootfs } from "./overlay.js";

/** What init said went wrong with the root file system. */
export interface RootfsGuestFailure {
  /** mount: the disk could not be mounted; bind: a bind mount into it failed; install: the install tree did not fit. */
  step: "mount" | "bind" | "install";
  /** strerror text as init printed it, e.g. "Invalid argument". */
  reason: string;
  /** The console line, without init's prefix. */
  line: string;
}

// init's lines (vm/init.c): "rootfs DEV: mount failed: WHY (...", "rootfs: bind of DIR failed: WHY",
// "rootfs: cannot install PATH into it: WHY (...".
const PATTERNS: readonly [RootfsGuestFailure["step"], RegExp][] = [
  ["mount", /^kharness-init: (rootfs \S+: mount failed: ([^(\r\n]+?))\s*(?:\(.*)?$/],
  ["bind", /^kharness-init: (rootfs: bind of \S+ failed: ([^(\r\n]+?))\s*$/],
  ["install", /^kharness-init: (rootfs: cannot install \S+ into it: ([^(\r\n]+?))\s*(?:\(.*)?$/],
];

/** The failure a console line reports, if it is one of init's root file system failures. */
export function parseRootfsFailure(line: string): RootfsGuestFailure | undefined {
  const l = line.replace(/\r$/, "");
  for (const [step, re] of PATTERNS) {
    const m = re.exec(l);
    if (m?.[1] && m[2]) return { step, reason: m[2], line: m[1].trim() };
  }
  return undefined;
}

/** Watches the console as it streams for init's first root file system failure (lines may span chunks). */
export class RootfsConsoleWatch {
  failure: RootfsGuestFailure | undefined;
  private partial = "";

  push(chunk: Buffer): void {
    if (this.failure) return;
    const text = this.partial + chunk.toString("latin1");
    const lines = text.split("\n");
    // Keep an unfinished last line, but not without bound (a console that never ends a line).
    this.partial = (lines.pop() ?? "").slice(-4096);
    for (const line of lines) {
      this.failure = parseRootfsFailure(line);
      if (this.failure) return;
    }
  }
}

// The kernel found no disk (virtio-blk missing) or no ext4 driver: the image is not to blame.
const KERNEL_REASONS = /^(No such file or directory|No such device|No such device or address)$/;

/** The error a run ends with when the guest could not use its root file system. */
export function rootfsFailureError(r: Pick<RunRootfs, "spec" | "base">, f: RootfsGuestFailure): InfraError | UsageError {
  const said = `the guest said: ${f.line}`;
  if (f.step === "mount" && KERNEL_REASONS.test(f.reason))
    return new InfraError(`--rootfs ${r.spec}: the guest kernel found no disk or no ext4 to mount it (${said})`, {
      fix: "boot a kernel with virtio-blk and ext4 (a --tree kernel built for --rootfs merges kernel-config/rootfs.config; Debian's loads virtio_blk from the initramfs)",
    });
  if (r.spec === "debian")
    return new InfraError(`--rootfs debian: the guest could not use the base image ${r.base} (${said})`, {
      fix:
        f.step === "install"
          ? "the image has too little free space for the kselftest install tree: rebuild it (kharness rootfs prune --all, then kharness rootfs build)"
          : "rebuild the base image: kharness rootfs prune --all, then kharness rootfs build",
    });
  if (f.step === "install")
    return new UsageError(`--rootfs ${r.spec}: no room in the image for the kselftest install tree (${said})`, {
      fix: `grow it: qemu-img resize ${r.spec} +1G, then resize2fs on it (on a copy), or use --rootfs debian`,
    });
  if (f.step === "bind")
    return new UsageError(`--rootfs ${r.spec}: the guest could not set up /dev, /sys or /kharness in it (${said})`, {
      fix: "pass an image whose root holds ordinary directories for /dev, /sys and /kharness (or none), or --rootfs debian",
    });
  return new UsageError(`--rootfs ${r.spec}: the guest kernel cannot mount its file system (${said})`, {
    fix: `check it with e2fsck -f ${r.spec} (on a copy), or make one with mke2fs -t ext4 -d DIR IMAGE SIZE; or use --rootfs debian`,
  });
}

/** The first root file system failure in the given console logs (a --jobs run's guests'); missing files are skipped. */
export async function rootfsFailureInLogs(files: readonly string[]): Promise<RootfsGuestFailure | undefined> {
  for (const file of files) {
    const text = await fs.readFile(file, "latin1").catch(() => "");
    for (const line of text.split("\n")) {
      const f = parseRootfsFailure(line);
      if (f) return f;
    }
  }
  return undefined;
}
