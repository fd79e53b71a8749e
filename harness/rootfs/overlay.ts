// The root filesystem a run boots into: `--rootfs debian` (the cached base image, built on first use) or
// `--rootfs IMAGE` (a user's raw or qcow2 image, checked first), always behind a fresh qcow2 overlay in the run
// directory, so the image itself is only ever opened read-only.

import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { InfraError, UsageError } from "../errors.js";
import type { Exec } from "../exec/exec.js";
import type { ArchProfile } from "../qemu/profiles.js";
import type { ProgressSink } from "../types.js";
import { DEFAULT_MIRROR, DEFAULT_PACKAGES, DEFAULT_SUITE, debianArch, ensureBaseImage, LISTING } from "./image.js";
import { lookupInListing, parseListing } from "./listing.js";

/** Modules the guest loads for the disk when the kernel has them as modules (Debian's has virtio_blk as one; ext4 is built in). */
export const ROOTFS_MODULES: readonly string[] = ["virtio_blk", "ext4"];

/** The overlay's name in the run directory. */
export const OVERLAY_NAME = "rootfs.qcow2";

/** A root filesystem ready to boot: the overlay QEMU writes to, and the image under it. */
export interface RunRootfs {
  /** What --rootfs said ("debian" or the user's path). */
  spec: string;
  /** The read-only image under the overlay (absolute). */
  base: string;
  baseFormat: "raw" | "qcow2";
  overlay: string;
  /** Milliseconds `qemu-img create` took for the overlay. */
  overlayMs: number;
}

/** The ext2/3/4 superblock magic at byte 1024 + 56 of the file system. */
export function hasExtMagic(head: Buffer): boolean {
  return head.length >= 1082 && head[1080] === 0x53 && head[1081] === 0xef;
}

/** qemu-img info's format of a file, or a UsageError naming it when qemu-img cannot read it as an image. */
async function imageFormat(exec: Exec, file: string): Promise<string> {
  const res = await exec.run(["qemu-img", "info", "-U", "--output=json", file]);
  if (res.exitCode === undefined && res.tail.some((l) => /ENOENT/.test(l)))
    throw new InfraError("--rootfs: qemu-img is not installed", { fix: "run `npm run setup` (Debian: apt-get install qemu-utils)" });
  if (res.exitCode !== 0)
    throw new UsageError(`--rootfs ${file}: not a disk image qemu-img can open (${res.tail.at(-1)?.trim() ?? "no output"})`, {
      fix: "pass a raw or qcow2 image holding an ext4 root file system, or --rootfs debian",
    });
  try {
    return String((JSON.parse(res.stdout) as { format?: string }).format ?? "");
  } catch {
    throw new UsageError(`--rootfs ${file}: qemu-img info gave no format`, { fix: "pass a raw or qcow2 image, or --rootfs debian" });
  }
}

/**
 * Checks a user's image: a regular file, raw or qcow2, a qcow2 that `qemu-img check` finds intact, and an ext2/3/4
 * file system starting at its first byte (what the guest mounts as /dev/vda). Returns its format.
 */
export async function checkUserImage(exec: Exec, file: string): Promise<"raw" | "qcow2"> {
  const st = await fs.stat(file).catch(() => undefined);
  if (!st) throw new UsageError(`--rootfs ${file}: no such file`, { fix: "pass the path of a raw or qcow2 disk image, or --rootfs debian" });
  if (!st.isFile()) throw new UsageError(`--rootfs ${file}: not a regular file`, { fix: "pass the image file itself, or --rootfs debian" });
  const format = await imageFormat(exec, file);
  if (format !== "raw" && format !== "qcow2")
    throw new UsageError(`--rootfs ${file}: a ${format} image; kharness boots raw and qcow2 images`, {
      fix: `convert it: qemu-img convert -O qcow2 ${file} image.qcow2`,
    });
  let head: Buffer;
  if (format === "qcow2") {
    const check = await exec.run(["qemu-img", "check", "-U", "-q", "-f", "qcow2", file]);
    if (check.exitCode !== 0)
      throw new UsageError(`--rootfs ${file}: a corrupt qcow2 image (qemu-img check exit ${check.exitCode}: ${check.tail.at(-1)?.trim() ?? ""})`, {
        fix: `repair it with qemu-img check -r all ${file} (on a copy), or rebuild it`,
      });
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "kh-rootfs-"));
    try {
      const out = path.join(tmp, "head");
      const dd = await exec.run(["qemu-img", "dd", "-U", "-f", "qcow2", "-O", "raw", "bs=2048", "count=1", `if=${file}`, `of=${out}`]);
      if (dd.exitCode !== 0)
        throw new UsageError(`--rootfs ${file}: cannot read its first bytes (${dd.tail.at(-1)?.trim() ?? ""})`, { fix: "check the image with qemu-img check" });
      head = await fs.readFile(out);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  } else {
    const fh = await fs.open(file, "r");
    try {
      head = Buffer.alloc(2048);
      const { bytesRead } = await fh.read(head, 0, 2048, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }
  if (!hasExtMagic(head))
    throw new UsageError(`--rootfs ${file}: no ext2/3/4 file system at the start of the image (a partitioned disk, or not a root file system)`, {
      fix: "pass an image whose whole disk is one ext4 file system (mke2fs -d DIR image.raw SIZE makes one), or --rootfs debian",
    });
  return format;
}

/** Creates the run's overlay on top of base; the base is only read (qemu-img reads its size). */
export async function createOverlay(exec: Exec, base: string, baseFormat: "raw" | "qcow2", runDir: string): Promise<{ overlay: string; overlayMs: number }> {
  const overlay = path.join(runDir, OVERLAY_NAME);
  if (overlay.includes(",") || base.includes(","))
    throw new UsageError(`--rootfs: the path ${base.includes(",") ? base : overlay} has a comma, which QEMU's -drive option cannot take`, {
      fix: "use a path without commas",
    });
  await fs.rm(overlay, { force: true });
  const started = Date.now();
  const res = await exec.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", baseFormat, overlay]);
  if (res.exitCode !== 0) {
    await fs.rm(overlay, { force: true });
    const tail = res.tail.join("\n");
    if (/No space left/i.test(tail))
      throw new InfraError(`--rootfs: no space left on device for the overlay in ${runDir}`, { fix: "free disk space or pass --out on a larger disk" });
    throw new InfraError(`--rootfs: qemu-img create of the overlay failed: ${res.tail.at(-1)?.trim() ?? ""}`, { tail: res.tail.slice(-10) });
  }
  return { overlay, overlayMs: Date.now() - started };
}

/** The image a run's overlays are made on. */
export type RootfsImage = Pick<RunRootfs, "spec" | "base" | "baseFormat">;

/** Resolves --rootfs to an image (building the Debian base on first use) and makes the run's overlay. */
export async function prepareRunRootfs(
  spec: string,
  deps: { exec: Exec; cacheRoot: string; cwd: string; signal?: AbortSignal; onProgress?: ProgressSink; profile: ArchProfile },
  runDir: string,
  /** --program files that need an interpreter (a dynamic ELF's loader, a script's #! line): it must be in the image. */
  interpreters: readonly { program: string; interpreter: string }[] = [],
): Promise<RunRootfs> {
  const image = await resolveRootfsImage(spec, deps, interpreters);
  const { overlay, overlayMs } = await createOverlay(deps.exec, image.base, image.baseFormat, runDir);
  return { ...image, overlay, overlayMs };
}

/** Resolves --rootfs to an image: the Debian base (built on first use; --program interpreters checked) or a user's, checked. */
export async function resolveRootfsImage(
  spec: string,
  deps: { exec: Exec; cacheRoot: string; cwd: string; signal?: AbortSignal; onProgress?: ProgressSink; profile: ArchProfile },
  interpreters: readonly { program: string; interpreter: string }[] = [],
): Promise<RootfsImage> {
  let base: string;
  let baseFormat: "raw" | "qcow2";
  if (spec === "debian") {
    const got = await ensureBaseImage(
      { suite: DEFAULT_SUITE, arch: debianArch(deps.profile.arch), packages: [...DEFAULT_PACKAGES].sort(), mirror: DEFAULT_MIRROR },
      deps,
    );
    base = got.image;
    baseFormat = "qcow2";
    const listing = parseListing(await fs.readFile(path.join(path.dirname(base), LISTING), "utf8"));
    const missing = interpreters.filter((i) => lookupInListing(listing, i.interpreter) !== "file");
    if (missing.length)
      throw new UsageError(`--program ${missing.map((m) => `${m.program} needs ${m.interpreter}`).join(", ")}, which the Debian image does not have`, {
        fix: "pass a program whose interpreter the image has (bash, python3, the C loader), a static program, or your own --rootfs IMAGE",
      });
  } else {
    base = path.resolve(deps.cwd, spec);
    baseFormat = await checkUserImage(deps.exec, base);
  }
  return { spec, base, baseFormat };
}

/** Removes the overlay at the end of a run (kept with --keep-rootfs). */
export async function removeOverlay(r: RunRootfs | undefined): Promise<void> {
  if (r) await fs.rm(r.overlay, { force: true });
}
