// Process level: the base image's key and package list, the file listing's path lookup, the interpreter of a
// --program, and a user's --rootfs IMAGE checked with the real qemu-img and mke2fs (no guest boots here).
import t from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { KharnessError, UsageError } from "../errors.js";
import { createFakeExec } from "../../test/support/fake-exec.js";
import { createExec } from "../exec/exec.js";
import { readHead } from "../exec/cache.js";
import { programInterpreter } from "../payload/elf.js";
import { buildQemuArgv } from "../qemu/argv.js";
import { defaultMachine, X86_64 } from "../qemu/profiles.js";
import { parseCommandLine } from "../cli-args.js";
import { resolveFragments } from "../kernel/tree-build.js";
import { REPO_ROOT } from "../repo-root.js";
import { ensureBaseImage, parsePackageList, rootfsKey } from "./image.js";
import { lookupInListing, parseListing } from "./listing.js";
import { checkUserImage, createOverlay, hasExtMagic } from "./overlay.js";

const spec = { suite: "bookworm", arch: "amd64", packages: ["bash", "python3"], mirror: "http://deb.debian.org/debian" };

t.test("the cache key changes with what the image holds, not with the order packages were named in", async (t) => {
  t.equal(rootfsKey(spec), rootfsKey({ ...spec, packages: ["python3", "bash"] }));
  t.not(rootfsKey(spec), rootfsKey({ ...spec, packages: ["bash"] }));
  t.not(rootfsKey(spec), rootfsKey({ ...spec, suite: "trixie" }));
  t.not(rootfsKey(spec), rootfsKey({ ...spec, arch: "arm64" }));
  t.not(rootfsKey(spec), rootfsKey({ ...spec, mirror: "http://mirror.example/debian" }));
  t.same(parsePackageList("python3, bash bash,iproute2"), ["bash", "iproute2", "python3"]);
  t.throws(() => parsePackageList("bash,Not_A_Package"), /--packages: 'Not_A_Package' is not a Debian package name/);
});

t.test("listing lookup follows links as the guest would (usrmerge, the loader's link), and finds what is missing", async (t) => {
  const l = parseListing(
    [
      "l\tlib64\tusr/lib64",
      "l\tbin\tusr/bin",
      "d\tusr",
      "d\tusr/bin",
      "d\tusr/lib64",
      "d\tusr/lib",
      "d\tusr/lib/x86_64-linux-gnu",
      "f\tusr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      "l\tusr/lib64/ld-linux-x86-64.so.2\t/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      "l\tlib\tusr/lib",
      "f\tusr/bin/bash",
      "l\tusr/bin/sh\tdash",
      "l\tloop\tloop",
    ].join("\n"),
  );
  t.equal(lookupInListing(l, "/lib64/ld-linux-x86-64.so.2"), "file");
  t.equal(lookupInListing(l, "/bin/bash"), "file");
  t.equal(lookupInListing(l, "/bin/sh"), "missing", "a link to a file that is not there");
  t.equal(lookupInListing(l, "/usr/bin/python3"), "missing");
  t.equal(lookupInListing(l, "/usr/bin/bash/x"), "missing", "a file is no directory");
  t.equal(lookupInListing(l, "/usr/lib"), "dir");
  t.equal(lookupInListing(l, "/loop"), "loop");
});

t.test("a --program's interpreter: a dynamic ELF's loader, a script's #! line, none for a static ELF", async (t) => {
  t.equal(programInterpreter(Buffer.from("#!/usr/bin/env python3\nprint(1)\n")), "/usr/bin/env");
  t.equal(programInterpreter(Buffer.from("#! /bin/bash -e\n")), "/bin/bash");
  t.match(programInterpreter(await readHead("/bin/true", 65536)) ?? "", /^\/lib64\/ld-linux-x86-64\.so\.2$/, "the host's /bin/true is dynamic");
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "kh-rootfs-"));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  await fs.writeFile(path.join(dir, "s.c"), "int main(void){return 0;}\n");
  execFileSync("gcc", ["-static", "-o", path.join(dir, "s"), path.join(dir, "s.c")]);
  t.equal(programInterpreter(await readHead(path.join(dir, "s"), 65536)), undefined, "a static ELF needs none");
});

t.test("QEMU gets the overlay as a virtio disk and init the kernel argument, before the user's --append", async (t) => {
  const o = {
    profile: X86_64,
    machine: defaultMachine(X86_64),
    accel: "tcg" as const,
    kernelPath: "/k",
    initrdPath: "/i",
    append: ["quiet"],
    ports: { kind: "file" as const, results: "/r", control: "/c" },
  };
  const plain = buildQemuArgv(o);
  t.notOk(
    plain.some((a) => a.includes("virtio-blk")),
    "no disk without --rootfs",
  );
  const argv = buildQemuArgv({ ...o, rootfsDisk: "/run/rootfs.qcow2" });
  t.ok(argv.includes("file=/run/rootfs.qcow2,format=qcow2,if=none,id=rootfs,cache=unsafe"));
  t.ok(argv.includes("virtio-blk-pci,drive=rootfs"));
  const cmdline = argv[argv.indexOf("-append") + 1] ?? "";
  t.match(cmdline, /kharness\.rootfs=\/dev\/vda quiet$/);
  t.throws(() => buildQemuArgv({ ...o, rootfsDisk: "/a,b/rootfs.qcow2" }), /comma/);
});

t.test("run --rootfs and --keep-rootfs parse; --keep-rootfs alone and a bad rootfs action are refused", async (t) => {
  const c = parseCommandLine(["run", "--rootfs", "debian", "--keep-rootfs"]);
  t.equal(c.cmd === "run" && c.req.rootfs, "debian");
  t.equal(c.cmd === "run" && c.req.keepRootfs, true);
  t.throws(() => parseCommandLine(["run", "--keep-rootfs"]), /--keep-rootfs needs --rootfs/);
  const jobs = parseCommandLine(["run", "--rootfs", "debian", "--jobs", "2"]);
  t.equal(jobs.cmd === "run" && jobs.req.rootfs, "debian", "--rootfs with --jobs: each guest gets its own overlay");
  t.throws(() => parseCommandLine(["rootfs", "make"]), /rootfs needs build, list or prune/);
  t.throws(() => parseCommandLine(["rootfs", "list", "--packages", "bash"]), /belong to `rootfs build`/);
  const tree = parseCommandLine(["run", "--tree", "/src/linux", "--rootfs", "debian"]);
  t.equal(tree.cmd === "run" && tree.req.kernel.kind === "tree" && tree.req.kernel.rootfs, true, "a tree kernel for --rootfs is marked");
  const b = parseCommandLine(["rootfs", "build", "--packages", "bash,python3"]);
  t.same(b.cmd === "rootfs" && [b.action, b.packages], ["build", "bash,python3"]);
});

t.test("a tree kernel built for --rootfs merges kernel-config/rootfs.config: virtio-blk and ext4 built in", async (t) => {
  const plain = await resolveFragments({ configs: [], debug: false }, REPO_ROOT);
  const withDisk = await resolveFragments({ configs: [], debug: false, rootfs: true }, REPO_ROOT);
  t.notOk(plain.fragments.some((f) => f.name === "kernel-config/rootfs.config"));
  const f = withDisk.fragments.find((x) => x.name === "kernel-config/rootfs.config");
  for (const opt of ["CONFIG_BLOCK=y", "CONFIG_VIRTIO_BLK=y", "CONFIG_EXT4_FS=y"]) t.match(f?.text ?? "", opt);
});

t.test("--rootfs IMAGE: each bad image is one UsageError naming it; a good one gets an overlay and stays unchanged", async (t) => {
  const exec = createExec();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "kh-rootfs-"));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const bad = async (file: string, re: RegExp, what: string) => {
    const e = await checkUserImage(exec, file).catch((x: unknown) => x);
    t.ok(e instanceof UsageError, `${what}: a usage error`);
    t.match((e as Error).message, re, what);
    t.match((e as Error).message, file, `${what}: names the file`);
    t.ok((e as UsageError).fix, `${what}: says what to do`);
  };
  await bad(path.join(dir, "nope.qcow2"), /no such file/, "missing");
  await bad(dir, /not a regular file/, "a directory");
  const text = path.join(dir, "notes.txt");
  await fs.writeFile(text, "not a disk image\n".repeat(200));
  await bad(text, /no ext2\/3\/4 file system/, "a text file (qemu-img calls it raw)");

  // A real ext4 file system: raw, then as qcow2.
  const tree = path.join(dir, "tree");
  await fs.mkdir(path.join(tree, "bin"), { recursive: true });
  await fs.writeFile(path.join(tree, "bin", "hello"), "hi\n");
  const raw = path.join(dir, "root.ext4");
  execFileSync("mke2fs", ["-q", "-F", "-t", "ext4", "-d", tree, raw, "8M"]);
  t.equal(await checkUserImage(exec, raw), "raw");
  const qcow = path.join(dir, "root.qcow2");
  execFileSync("qemu-img", ["convert", "-q", "-f", "raw", "-O", "qcow2", raw, qcow]);
  t.equal(await checkUserImage(exec, qcow), "qcow2");
  t.ok(hasExtMagic(await readHead(raw, 2048)));

  // A qcow2 holding no file system.
  const empty = path.join(dir, "empty.qcow2");
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", empty, "16M"]);
  await bad(empty, /no ext2\/3\/4 file system/, "an empty qcow2");

  // A corrupt qcow2: its L1 table offset points past the end of the file.
  const corrupt = path.join(dir, "corrupt.qcow2");
  await fs.copyFile(qcow, corrupt);
  const fh = await fs.open(corrupt, "r+");
  await fh.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00]), 0, 8, 40);
  await fh.close();
  await bad(corrupt, /corrupt qcow2|not a disk image qemu-img can open/, "a corrupt qcow2");

  // The overlay: a new qcow2 in the run directory backed by the image, which is not written.
  const before = execFileSync("sha256sum", [qcow]).toString();
  const runDir = path.join(dir, "run");
  await fs.mkdir(runDir);
  const o = await createOverlay(exec, qcow, "qcow2", runDir);
  t.equal(o.overlay, path.join(runDir, "rootfs.qcow2"));
  const info = JSON.parse(execFileSync("qemu-img", ["info", "--output=json", o.overlay]).toString()) as { "backing-filename"?: string; format: string };
  t.equal(info.format, "qcow2");
  t.equal(info["backing-filename"], qcow);
  t.equal(execFileSync("sha256sum", [qcow]).toString(), before, "the image is unchanged");
});

t.test(
  "a base image build that fails (archive unreachable, disk full) is one clear error and leaves nothing in the cache",
  { skip: process.getuid?.() === 0 ? false : "the build refuses to start without root" },
  async (t) => {
    const cases: { name: string; lines: string[]; re: RegExp }[] = [
      {
        name: "archive unreachable",
        lines: ["E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'"],
        re: /cannot reach the package archive http:\/\/deb\.debian\.org\/debian/,
      },
      { name: "disk full", lines: ["tar: ./usr/lib/x: Cannot write: No space left on device"], re: /no space left on device/ },
      { name: "unknown package", lines: ["E: Unable to locate package nosuchpkg"], re: /is not in bookworm/ },
    ];
    for (const c of cases) {
      const cache = await fs.mkdtemp(path.join(os.tmpdir(), "kh-rootfs-cache-"));
      t.teardown(() => fs.rm(cache, { recursive: true, force: true }));
      const exec = createFakeExec((argv) => (argv[0] === "mmdebstrap" ? { exitCode: 1, lines: ["I: running apt-get update...", ...c.lines] } : undefined));
      const e = await ensureBaseImage(spec, { exec, cacheRoot: cache }).catch((x: unknown) => x);
      t.ok(e instanceof KharnessError, `${c.name}: a kharness error`);
      t.match((e as Error).message, c.re, c.name);
      t.ok((e as KharnessError).fix, `${c.name}: with a fix`);
      t.same(await fs.readdir(path.join(cache, "rootfs")), [], `${c.name}: no entry, no temp directory, no lock left`);
    }
  },
);
