// VM level (issue 15): `kharness run --rootfs debian` on the default kernel (Debian's 6.12: virtio_blk is a module,
// loaded from the initramfs) boots the cached Debian base image behind a per-run overlay. The bundled selftests give
// the same verdicts as without it, a dynamically linked program and a bash script run there, and the base image is
// byte for byte the same after a normal run, one interrupted by SIGINT, a guest panic and two runs at once. The base image is built once
// (mmdebstrap, about a minute) into $KHARNESS_CACHE and reused.
import t from "tap";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, promises as fs, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { findLiveProcesses } from "../../test/support/procs.js";
import { leaves, readResults, runCli, tempDir } from "../../test/support/cli-run.js";
import { findTestKernel } from "../../test/support/vm-fixture.js";

const SOCKET_SKIP = "socket creation control not supported by this kernel";

async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** A dynamically linked C test and a bash script, in a fresh directory. */
function userPrograms(): { dyn: string; script: string } {
  const dir = tempDir("kh-rootfs-prog-");
  const src = path.join(dir, "dyn_hello.c");
  writeFileSync(
    src,
    '#include <stdio.h>\n#include <gnu/libc-version.h>\nint main(void) {\n\tprintf("TAP version 13\\n1..1\\n# glibc %s\\nok 1 loaded_by_ld_so\\n", gnu_get_libc_version());\n\treturn 0;\n}\n',
  );
  const dyn = path.join(dir, "dyn_hello");
  execFileSync("gcc", ["-O2", "-o", dyn, src]);
  const script = path.join(dir, "bash_arrays.sh");
  // Arrays are bash, not POSIX sh: busybox's sh would fail this.
  writeFileSync(
    script,
    `#!/bin/bash\na=(x y z)\necho "TAP version 13"\necho "1..1"\n[ "\${#a[@]}" = 3 ] && echo "ok 1 bash_arrays" || echo "not ok 1 bash_arrays"\n`,
    { mode: 0o755 },
  );
  return { dyn, script };
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const haveKernel = (await findTestKernel("default")) !== undefined;

t.test("the base image builds once (or is cached); list names it", { skip: isRoot ? false : "building the Debian image needs root" }, async (t) => {
  const r = await runCli(["rootfs", "build"]);
  t.equal(r.code, 0, r.stderr.slice(-3000));
  t.match(r.stdout, /(built|already built:) \S+base\.qcow2/);
  const l = await runCli(["rootfs", "list", "--json"]);
  t.equal(l.code, 0, l.stderr);
  const items = JSON.parse(l.stdout) as { image: string; default: boolean; meta: { packages: string[] } }[];
  const d = items.find((i) => i.default);
  t.ok(d, "the default image is listed");
  t.ok(d?.meta.packages.includes("python3") && d.meta.packages.includes("bash"), "with bash and python3");
});

t.test(
  "--rootfs debian: the bundled verdicts of a run without it, a dynamic program and a bash script pass, the base is unchanged",
  { skip: !isRoot ? "building the Debian image needs root" : haveKernel ? false : "the default kernel is not installed (npm run setup)" },
  async (t) => {
    const l = await runCli(["rootfs", "list", "--json"]);
    const base = (JSON.parse(l.stdout) as { image: string; default: boolean }[]).find((i) => i.default)?.image as string;
    t.ok(base, "the default base image exists");
    const before = await sha256File(base);

    const { dyn, script } = userPrograms();
    const refused = await runCli(["run", "--program", dyn]);
    t.equal(refused.code, 2, "without --rootfs a dynamically linked program is refused (exit 2)");
    t.match(refused.stderr, /dynamically linked.*--rootfs debian/);

    const r = await runCli(["run", "--rootfs", "debian", "--tests", "*", "--program", dyn, script]);
    t.equal(r.code, 0, `exit 0\n${r.stderr.slice(-3000)}`);
    const run = await readResults(r.outDir);
    t.same(
      run.tests.map((x) => x.id),
      ["net_abi", "net_rules", "net_tcp", "net_unrestricted", "net_layers", "socket_create", "dyn_hello", "bash_arrays_sh"],
    );
    const bundled = leaves(run.tests).filter((c) => !/^(dyn_hello|bash_arrays_sh)/.test(c.id));
    let pass = 0;
    let skip = 0;
    for (const c of bundled) {
      if (c.id.startsWith("socket_create.")) {
        if (c.status === "SKIP" && c.reason === SOCKET_SKIP) skip++;
        else t.fail(`${c.id}: ${c.status} ${c.reason ?? ""}`);
      } else if (c.status === "PASS") pass++;
      else t.fail(`${c.id}: expected PASS, got ${c.status}\n${c.log.join("\n")}`);
    }
    t.same([pass, skip], [169, 86], "169 pass / 86 skip, as without --rootfs (run.vm.test.ts)");
    for (const id of ["dyn_hello", "bash_arrays_sh"]) t.equal(run.tests.find((x) => x.id === id)?.status, "PASS", `${id} passed in the image`);
    const log = readFileSync(path.join(r.outDir, "console.log"), "utf8");
    t.match(log, /virtio_blk virtio\d+: \[vda\]/, "the disk appeared (virtio_blk loaded from the initramfs)");
    t.match(log, /kharness-init: rootfs \/dev\/vda mounted/);
    t.match(readFileSync(path.join(r.outDir, "results.log"), "utf8"), /# glibc 2\.\d+/, "the program ran with the image's glibc");
    await t.rejects(fs.stat(path.join(r.outDir, "rootfs.qcow2")), "the overlay is removed at the end");
    t.equal(await sha256File(base), before, "the base image is byte for byte unchanged after the run");

    // Interrupted once the guest's init runs: exit 130, no QEMU left, the overlay gone, the base unchanged.
    const i = await runCli(["run", "--rootfs", "debian", "--keep-rootfs"], { onStderr: (line) => (/guest init started/.test(line) ? "SIGINT" : undefined) });
    t.equal(i.code, 130, i.code === 130 ? "interrupted: exit 130" : i.stderr.slice(-2000));
    await new Promise((res) => setTimeout(res, 500));
    t.same(
      findLiveProcesses(/qemu-system/).filter((p) => p.cmdline.includes(i.outDir)),
      [],
      "no QEMU of that run left",
    );
    t.match(readFileSync(path.join(i.outDir, "console.log"), "utf8"), /Linux version/, "console.log kept");
    const kept = JSON.parse(execFileSync("qemu-img", ["info", "-U", "--output=json", path.join(i.outDir, "rootfs.qcow2")]).toString()) as {
      "backing-filename"?: string;
    };
    t.equal(kept["backing-filename"], base, "--keep-rootfs kept the overlay, backed by the base image");
    t.equal(await sha256File(base), before, "the base image is unchanged after the interrupted run");

    // A guest panic in the middle of a program (a bash script crashing the kernel through sysrq).
    const dir = tempDir("kh-rootfs-panic-");
    const crash = path.join(dir, "crash_kernel.sh");
    writeFileSync(crash, "#!/bin/bash\necho 'TAP version 13'\necho 1..1\necho c > /proc/sysrq-trigger\n", { mode: 0o755 });
    const p = await runCli(["run", "--rootfs", "debian", "--program", crash]);
    t.equal(p.code, 1, `a panic is exit 1\n${p.stderr.slice(-2000)}`);
    t.equal((await readResults(p.outDir)).boot?.end, "panic", "the run ended in the panic");
    await t.rejects(fs.stat(path.join(p.outDir, "rootfs.qcow2")), "the overlay is removed after a panic too");
    t.equal(await sha256File(base), before, "the base image is unchanged after the guest panicked");

    // Two runs on the same base at once: each its own overlay, both pass.
    const both = await Promise.all([runCli(["run", "--rootfs", "debian", "--tests", "net_abi"]), runCli(["run", "--rootfs", "debian", "--tests", "net_abi"])]);
    for (const [k, b] of both.entries()) {
      t.equal(b.code, 0, `concurrent run ${k + 1} passed\n${b.stderr.slice(-2000)}`);
      t.equal((await readResults(b.outDir)).summary.pass, 24, `concurrent run ${k + 1}: net_abi's 24 cases pass`);
    }
    t.equal(await sha256File(base), before, "the base image is unchanged after two runs at once");
  },
);

t.test(
  "--rootfs IMAGE the guest cannot mount (ext4 magic, a broken superblock): exit 2 naming the image, console and results kept, the image unchanged",
  { skip: haveKernel ? false : "the default kernel is not installed (npm run setup)" },
  async (t) => {
    const dir = tempDir("kh-rootfs-unmountable-");
    t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
    const image = path.join(dir, "broken.raw");
    execFileSync("truncate", ["-s", "16M", image]);
    execFileSync("mke2fs", ["-q", "-t", "ext4", "-F", image]);
    // s_log_block_size (superblock offset 24) = 20: the magic stays, so the host-side check passes; the kernel refuses it.
    const fh = await fs.open(image, "r+");
    await fh.write(Buffer.from([20, 0, 0, 0]), 0, 4, 1024 + 24);
    await fh.close();
    const before = await sha256File(image);
    const r = await runCli(["run", "--rootfs", image, "--tests", "net_abi"]);
    t.equal(r.code, 2, `bad input: exit 2\n${r.stderr.slice(-2000)}`);
    t.match(
      r.stderr,
      new RegExp(`--rootfs ${image.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: the guest kernel cannot mount its file system .*mount failed: Invalid argument`),
    );
    t.match(r.stderr, /fix: check it with e2fsck -f/);
    t.match(readFileSync(path.join(r.outDir, "console.log"), "utf8"), /kharness-init: rootfs \/dev\/vda: mount failed/, "console.log kept");
    t.equal((await readResults(r.outDir)).tests.find((x) => x.id === "net_abi")?.status, "ERROR", "results.json kept: the program did not run");
    await t.rejects(fs.stat(path.join(r.outDir, "rootfs.qcow2")), "the overlay is removed");
    t.equal(await sha256File(image), before, "the image is unchanged");
  },
);

t.test(
  "--rootfs IMAGE with --jobs 2: an overlay per guest (kept with --keep-rootfs), the image unchanged; an unmountable image is exit 2 there too",
  { skip: haveKernel ? false : "the default kernel is not installed (npm run setup)" },
  async (t) => {
    // An empty ext4 file system is root enough for the static bundled programs (init binds /kharness into it).
    const dir = tempDir("kh-rootfs-jobs-");
    t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
    const image = path.join(dir, "empty.raw");
    execFileSync("truncate", ["-s", "16M", image]);
    execFileSync("mke2fs", ["-q", "-t", "ext4", "-F", image]);
    const before = await sha256File(image);
    const r = await runCli(["run", "--rootfs", image, "--keep-rootfs", "--jobs", "2", "--tests", "net_abi", "--tests", "net_rules"]);
    t.equal(r.code, 0, `exit 0\n${r.stderr.slice(-2000)}`);
    const run = await readResults(r.outDir);
    t.same(
      run.tests.map((x) => [x.id, x.status]),
      [
        ["net_abi", "PASS"],
        ["net_rules", "PASS"],
      ],
    );
    for (const g of ["guest-1", "guest-2"]) {
      t.match(readFileSync(path.join(r.outDir, g, "console.log"), "utf8"), /kharness-init: rootfs \/dev\/vda mounted/, `${g} ran in the image`);
      const info = JSON.parse(execFileSync("qemu-img", ["info", "-U", "--output=json", path.join(r.outDir, g, "rootfs.qcow2")]).toString()) as {
        "backing-filename"?: string;
      };
      t.equal(info["backing-filename"], image, `${g} kept its own overlay on the image`);
    }
    t.equal(await sha256File(image), before, "the image is unchanged after two guests wrote to their overlays");

    const broken = path.join(dir, "broken.raw");
    await fs.copyFile(image, broken);
    const fh = await fs.open(broken, "r+");
    await fh.write(Buffer.from([20, 0, 0, 0]), 0, 4, 1024 + 24);
    await fh.close();
    const b = await runCli(["run", "--rootfs", broken, "--jobs", "2", "--tests", "net_abi", "--tests", "net_rules"]);
    t.equal(b.code, 2, `an unmountable image: exit 2\n${b.stderr.slice(-2000)}`);
    t.match(b.stderr, /the guest kernel cannot mount its file system/);
    t.same(
      (await readResults(b.outDir)).tests.map((x) => x.status),
      ["ERROR", "ERROR"],
      "the joined results.json is written: no program ran",
    );
    for (const g of ["guest-1", "guest-2"]) await t.rejects(fs.stat(path.join(b.outDir, g, "rootfs.qcow2")), `${g}'s overlay is removed`);
  },
);
