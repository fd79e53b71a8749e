#!/usr/bin/env node
// Setup: installs the Debian packages kharness needs (as root; otherwise prints the apt-get line), the
// default kernel into the cache, and builds the TypeScript. Idempotent; silent when nothing is to do.
//   node scripts/setup.mjs            what `kharness run` needs
//   node scripts/setup.mjs --tests    also what the test suite needs (kernel source, build tools, the 6.1 kernel)
import { $, fs, path, os } from "zx";

$.quiet = true;
$.verbose = false;
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const forTests = process.argv.includes("--tests");
const cache = process.env.KHARNESS_CACHE || path.join(os.homedir(), ".cache", "kharness");
const say = (msg) => process.stderr.write(`setup: ${msg}\n`);

// Package -> why we need it. The run needs QEMU, a static C toolchain and xz (kernel modules are .ko.xz).
const RUN_PACKAGES = {
  "qemu-system-x86": "boots the guest",
  gcc: "compiles the selftests and /init",
  make: "builds the selftests",
  "libc6-dev": "static libc for guest programs",
  "xz-utils": "decompresses kernel modules",
  "qemu-utils": "qemu-img: the per-run overlays of --rootfs and the qcow2 base image",
  mmdebstrap: "builds the Debian root filesystem image of --rootfs debian",
  e2fsprogs: "mke2fs -d makes that image's ext4 file system without mounting anything",
};
const TEST_PACKAGES = {
  "linux-source-6.12": "kernel tree for build tests and kunit.py's recorded logs",
  cpio: "checks our cpio writer",
  flex: "kernel build",
  bison: "kernel build",
  bc: "kernel build",
  "libelf-dev": "kernel build",
  "libssl-dev": "kernel build",
  ccache: "faster kernel rebuilds",
  "libcap-dev": "the kernel's own landlock selftests link libcap statically",
  python3: "kunit.py parse",
  git: "patch series are applied with git am",
  "busybox-static": "sh and ip for a tree's own kselftests in the guest",
  rsync: "kselftest install",
  "libxml2-utils": "xmllint checks JUnit output against a strict XML parser",
  chromium: "report.html is checked in headless Chromium (driven by playwright-core)",
  "lava-dispatcher": "the LAVA job kharness writes is run by LAVA's own dispatcher (lava-run)",
};

async function missingPackages(pkgs) {
  const out = [];
  for (const p of pkgs) {
    const r = await $`dpkg-query -W ${"-f=${Status}"} ${p}`.nothrow();
    if (r.exitCode !== 0 || !r.stdout.includes("install ok installed")) out.push(p);
  }
  return out;
}

async function aptUpdateIfStale() {
  const lists = await fs.readdir("/var/lib/apt/lists").catch(() => []);
  const stamp = await fs.stat("/var/lib/apt/lists/partial").catch(() => null);
  const fresh = stamp && Date.now() - stamp.mtimeMs < 6 * 3600 * 1000 && lists.some((f) => f.endsWith("_Packages"));
  if (!fresh) {
    say("apt-get update");
    await $`apt-get update -q`;
  }
}

async function installPackages(pkgs) {
  const missing = await missingPackages(pkgs);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    say(`missing packages: ${missing.join(" ")}`);
    say(`install them as root, then run setup again:\n  sudo apt-get update && sudo apt-get install -y ${missing.join(" ")}`);
    process.exit(1);
  }
  await aptUpdateIfStale();
  say(`installing ${missing.join(" ")}`);
  await $({ env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } })`apt-get install -y -q --no-install-recommends ${missing}`;
}

/** Newest candidate of a Debian kernel image package family, e.g. linux-image-6.12.N+deb12-cloud-amd64-unsigned. */
async function newestKernelPackage(pattern) {
  let r = await $`apt-cache search --names-only ${pattern}`.nothrow();
  if (!r.stdout.trim() && process.getuid?.() === 0) {
    await aptUpdateIfStale();
    r = await $`apt-cache search --names-only ${pattern}`.nothrow();
  }
  const names = r.stdout
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter(Boolean);
  if (names.length === 0) throw new Error(`no package matches ${pattern}; run apt-get update`);
  const versions = [];
  for (const n of names) {
    const pol = await $`apt-cache policy ${n}`.nothrow();
    const cand = /Candidate:\s*(\S+)/.exec(pol.stdout)?.[1];
    if (cand && cand !== "(none)") versions.push({ name: n, version: cand });
  }
  if (versions.length === 0) throw new Error(`no installable candidate for ${pattern}`);
  versions.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  return versions[versions.length - 1];
}

/** Downloads and unpacks a kernel image package into the cache; records it under kernels/NAME.json. */
async function installKernel(recordName, pattern) {
  const recPath = path.join(cache, "kernels", `${recordName}.json`);
  const rec = await fs.readJson(recPath).catch(() => null);
  if (rec && (await fs.pathExists(rec.vmlinuz))) return rec;
  const pkg = await newestKernelPackage(pattern);
  say(`installing kernel ${pkg.name} ${pkg.version} into ${cache}`);
  const dest = path.join(cache, "kernels", `${pkg.name}_${pkg.version}`);
  const tmp = `${dest}.tmp-${process.pid}`;
  await fs.remove(tmp);
  await fs.mkdirp(tmp);
  await $({ cwd: tmp })`apt-get download ${`${pkg.name}=${pkg.version}`}`;
  const deb = (await fs.readdir(tmp)).find((f) => f.endsWith(".deb"));
  await $`dpkg-deb -x ${path.join(tmp, deb)} ${path.join(tmp, "root")}`;
  await fs.remove(path.join(tmp, deb));
  await fs.remove(dest);
  await fs.rename(tmp, dest);
  const boot = path.join(dest, "root", "boot");
  const vmlinuz = (await fs.readdir(boot)).find((f) => f.startsWith("vmlinuz-"));
  const release = vmlinuz.slice("vmlinuz-".length);
  const record = {
    package: pkg.name,
    version: pkg.version,
    release,
    vmlinuz: path.join(boot, vmlinuz),
    config: path.join(boot, `config-${release}`),
    modulesDir: path.join(dest, "root", "lib", "modules", release),
  };
  await fs.writeJson(`${recPath}.tmp`, record, { spaces: 2 });
  await fs.rename(`${recPath}.tmp`, recPath);
  return record;
}

async function buildTypescript() {
  const stampFile = path.join(repo, "dist", ".build-stamp");
  const newest = async (dir) => {
    let m = 0;
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      m = Math.max(m, e.isDirectory() ? await newest(p) : (await fs.stat(p)).mtimeMs);
    }
    return m;
  };
  const src = Math.max(await newest(path.join(repo, "harness")), (await fs.stat(path.join(repo, "tsconfig.json"))).mtimeMs);
  const built = (await fs.stat(stampFile).catch(() => null))?.mtimeMs ?? 0;
  if (built >= src) return;
  say("building TypeScript (tsc)");
  await $({ cwd: repo })`npx tsc -p tsconfig.json`;
  await fs.writeFile(stampFile, new Date().toISOString());
}

try {
  await installPackages(Object.keys(RUN_PACKAGES).concat(forTests ? Object.keys(TEST_PACKAGES) : []));
  await fs.mkdirp(path.join(cache, "kernels"));
  const def = await installKernel("default", "^linux-image-6\\.12\\.[0-9]+\\+deb12-cloud-amd64-unsigned$");
  if (forTests) await installKernel("debian-6.1", "^linux-image-6\\.1\\.0-[0-9]+-cloud-amd64-unsigned$");
  await buildTypescript();
  if (process.argv.includes("--verbose")) say(`ready: default kernel ${def.release}`);
} catch (e) {
  say(`failed: ${e.stderr || e.message}`);
  process.exit(1);
}
