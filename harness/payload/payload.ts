// Payload stage: compile /init and the bundled selftests (cached by source hash), pick the tests, add the
// user's programs and the modules the guest needs, and write the initramfs with our cpio writer.

import { promises as fs, constants as fsc } from "node:fs";
import * as path from "node:path";
import { InfraError, UsageError } from "../errors.js";
import type { Exec } from "../exec/exec.js";
import { runChecked } from "../exec/exec.js";
import { cachedVersionLine } from "../exec/tool-version.js";
import { ensureCacheEntry, exists, readHead, sha256, writeFileAtomic } from "../exec/cache.js";
import { KERNEL_ENTRY_ID } from "../results/index.js";
import type { GuestFiles, GuestProgram, KernelImage, Payload, ProgressSink } from "../types.js";
import { type CpioEntry, withParentDirs, writeCpio } from "./cpio.js";
import { checkStaticElf, programInterpreter } from "./elf.js";
import type { ArchProfile } from "../qemu/profiles.js";
import { parseModulesDep, parseModulesOrder, resolveModuleLoadOrder } from "./modules.js";
import type { BundledSelection, CatalogEntry } from "./select.js";

export { compileGlob, fnmatch, globsNeedingCases, nearMatches, selectBundled, type BundledSelection, type CatalogEntry, type CompiledGlob } from "./select.js";

export interface PayloadDeps {
  exec: Exec;
  cacheRoot: string;
  /** The kharness checkout (holds vm/ and selftests/). */
  repoRoot: string;
  signal?: AbortSignal;
  onProgress?: ProgressSink;
  /** The architecture the bundled programs are compiled for (its CROSS_COMPILE prefix); default: the host's gcc. */
  profile?: ArchProfile;
}

/** Extra files for the guest (e.g. a tree's kselftests), with the programs that use them. */

export interface PayloadRequest {
  kernel: KernelImage;
  /** The bundled programs to run, with the case globs each gets (validated: see harness/validate.ts). */
  bundled: readonly BundledSelection[];
  /** The user's own static programs (checked by checkUserPrograms). */
  users: readonly UserProgram[];
  /** A tree's own kselftests (built by buildKselftests), run after the bundled and user programs. */
  kselftests?: GuestFiles;
  /**
   * How much slower this guest runs than real hardware (the accelerator's factor, ArchProfile.timeoutScale).
   * A tree's kselftest `settings` timeouts are written for real hardware, so they stretch by it; --timeout,
   * which the user chose on this machine, is taken as given.
   */
  timeoutFactor: number;
  timeoutSec: number;
  /** Preprocessor defines for a test-only selftest build (e.g. KH_FLIP_ERRNO). */
  selftestDefines: string[];
  /** Modules the machine profile needs when the kernel has them as modules. */
  wantedModules: string[];
  /** Where to write initramfs.cpio. */
  outDir: string;
  /** The guest's architecture: the ELF machine its programs must be built for. */
  profile: ArchProfile;
  /** --rootfs: programs run chrooted in a real userland, so a tree's kselftests need no busybox shims. */
  rootfs?: boolean;
}

/** Version of how we turn sources into cached binaries; bump to invalidate the caches. */
const RECIPE = "guest-bins-v1";

/**
 * A hash of every file under dir (names and contents; `skip` leaves out build output). The walk lists the tree,
 * then reads the files all at once: read one after another, the two source trees took a warm run 15 ms before QEMU
 * started (issue 16).
 */
async function hashTree(dir: string, skip: (rel: string) => boolean): Promise<string> {
  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const ents = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
    const subdirs: Promise<void>[] = [];
    for (const e of ents) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (skip(r)) continue;
      if (e.isDirectory()) subdirs.push(walk(r));
      else if (e.isFile()) files.push(r);
    }
    await Promise.all(subdirs);
  };
  await walk("");
  // The order of the walk's answers varies; the hash must not. Sorted by UTF-16 code units: localeCompare's first
  // call loads ICU's collator, about 8 ms of a warm run before QEMU started (issue 16).
  files.sort();
  const hashes = await Promise.all(files.map(async (r) => sha256(await fs.readFile(path.join(dir, r)))));
  return sha256(...files.flatMap((r, i) => [r, hashes[i] as string]));
}

/**
 * The compiler's identity in the cache key: checked on every build (no module-wide memo: a changed gcc changes the
 * key), but gcc itself is started only when its binary changed on disk since it last answered.
 */
async function compilerVersion(exec: Exec, cc: string, cacheRoot: string): Promise<string> {
  return (await cachedVersionLine(exec, cc, cacheRoot)) ?? "unknown";
}

/** Compiles a directory with `make OUT=...` into a cache entry keyed by its sources; returns the entry dir. */
async function compileCached(deps: PayloadDeps, what: "vm" | "selftests", extraCflags: string[]): Promise<string> {
  const src = path.join(deps.repoRoot, what);
  const srcHash = await hashTree(src, (r) => r === "build" || r.startsWith("build/") || r.endsWith(".o"));
  const prefix = deps.profile?.toolchain.crossCompile ?? "";
  const key = sha256(RECIPE, srcHash, extraCflags.join(" "), await compilerVersion(deps.exec, `${prefix}gcc`, deps.cacheRoot)).slice(0, 24);
  const dir = path.join(deps.cacheRoot, what, key);
  const { hit } = await ensureCacheEntry(dir, async (tmp) => {
    deps.onProgress?.({ kind: "info", message: `compiling ${what}/ (static)` });
    await runChecked(
      deps.exec,
      ["make", "-s", "-C", src, `OUT=${tmp}`, ...(prefix ? [`CC=${prefix}gcc`] : []), ...(extraCflags.length ? [`EXTRA_CFLAGS=${extraCflags.join(" ")}`] : [])],
      {
        signal: deps.signal,
        what: `compiling ${what}/`,
        fix: "check that gcc and static libc (libc6-dev) are installed: `npm run setup`",
      },
    );
  });
  if (!hit) deps.onProgress?.({ kind: "info", message: `${what}/ compiled` });
  return dir;
}

/** Compiles the bundled selftests (cached); returns the directory holding one binary per program. */
export async function compileBundledSelftests(deps: PayloadDeps, defines: string[] = []): Promise<string> {
  return compileCached(
    deps,
    "selftests",
    defines.map((d) => `-D${d}`),
  );
}

/**
 * Names of the bundled selftest programs (asks the Makefile, so the list has one source of truth). With a cache
 * root the answer is kept under the Makefile's hash, so a warm run starts no make for it.
 */
export async function listBundledPrograms(exec: Exec, repoRoot: string, cacheRoot?: string): Promise<string[]> {
  const makefile = path.join(repoRoot, "selftests", "Makefile");
  const kept =
    cacheRoot === undefined
      ? undefined
      : // The directory's names too: a Makefile that lists programs by wildcard would change its answer with them.
        path.join(
          cacheRoot,
          "selftests",
          `programs-${sha256(await fs.readFile(makefile).catch(() => Buffer.alloc(0)), ((await fs.readdir(path.dirname(makefile)).catch(() => [])) as string[]).sort().join("\n")).slice(0, 24)}.json`,
        );
  if (kept) {
    const list = await fs
      .readFile(kept, "utf8")
      .then((t) => JSON.parse(t) as unknown)
      .catch(() => undefined);
    if (Array.isArray(list) && list.every((n) => typeof n === "string")) return list as string[];
  }
  const res = await runChecked(exec, ["make", "-s", "--no-print-directory", "-C", path.join(repoRoot, "selftests"), "list-programs"], {
    what: "listing the bundled selftests",
  });
  const programs = res.stdout
    .split("\n")
    .map((s) => s.trim())
    .filter(Boolean);
  if (kept) {
    await fs.mkdir(path.dirname(kept), { recursive: true });
    await writeFileAtomic(kept, `${JSON.stringify(programs)}\n`).catch(() => undefined);
  }
  return programs;
}

/**
 * Every bundled program with its cases: each binary's own `--list` (static, and touching no kernel feature,
 * so it runs on the host). Compiles the selftests first (cached), with the defines the run will use.
 */
export async function listBundledCatalog(deps: PayloadDeps, defines: readonly string[] = []): Promise<Required<CatalogEntry>[]> {
  const [dir, programs] = await Promise.all([compileBundledSelftests(deps, [...defines]), listBundledPrograms(deps.exec, deps.repoRoot, deps.cacheRoot)]);
  const out: Required<CatalogEntry>[] = [];
  for (const program of programs) {
    const res = await runChecked(deps.exec, [path.join(dir, program), "--list"], { what: `${program} --list`, signal: deps.signal });
    out.push({
      program,
      cases: res.stdout
        .split("\n")
        .map((s) => s.trim())
        .filter(Boolean),
    });
  }
  return out;
}

/** A user's program that passed the checks: its test-id name and where it is. */
export interface UserProgram {
  name: string;
  hostPath: string;
  /** With --rootfs: the loader (a dynamic ELF's PT_INTERP) or a script's `#!` interpreter, which the root file system must have. */
  interpreter?: string;
}

/** Names the results use for their own entries (and a tree's kselftests' prefix); a program so named would be mistaken for them. */
const RESERVED_NAMES: ReadonlySet<string> = new Set([KERNEL_ENTRY_ID, "kselftest", "no_tap_output", "no_tests", "skip_all"]);

/** The test-id name of a --program file: its base name, kept to characters that are safe in ids and paths. */
export function userProgramName(file: string): string {
  return path.basename(file).replace(/[^A-Za-z0-9_-]/g, "_") || "program";
}

/**
 * Checks --program paths (all problems at once): each must be a static x86-64 executable, and its name must
 * be its own. Test ids start with the program name, and history, baselines and known-failure files key on
 * them: a user's `net_abi` reporting as `net_abi.*` would pass for the bundled program, and a silent rename
 * (`net_abi~2`, `t_`) would change with the other programs of the run. So a clash is refused, naming both.
 */
export async function checkUserPrograms(
  paths: readonly string[],
  bundled: readonly string[],
  profile: ArchProfile,
  /** --rootfs given: dynamically linked programs and scripts run there (their interpreter is checked against the image later). */
  opts: { rootfs?: boolean } = {},
): Promise<{ programs: UserProgram[]; problems: string[] }> {
  const problems: string[] = [];
  const programs: UserProgram[] = [];
  const byName = new Map<string, string>();
  const bundledNames = new Set(bundled);
  for (const p of paths) {
    const abs = path.resolve(p);
    const st = await fs.stat(abs).catch(() => undefined);
    if (!st?.isFile()) {
      problems.push(`--program ${p}: ${st ? "not a regular file" : "no such file"}`);
      continue;
    }
    const head = await readHead(abs, 64 * 1024).catch((e: NodeJS.ErrnoException) => e);
    if (!Buffer.isBuffer(head)) {
      problems.push(`--program ${p}: cannot read it (${head.code ?? head.message})`);
      continue;
    }
    const interpreter = programInterpreter(head);
    const verdict = checkStaticElf(head, profile.elfMachine);
    // A dynamic ELF or a script is fine in a root file system: only the loader or interpreter must be there.
    const needsRootfs = !verdict.ok && interpreter !== undefined && (head.toString("latin1", 0, 2) === "#!" || verdict.problem.startsWith("dynamically"));
    if (!verdict.ok && !(needsRootfs && opts.rootfs)) {
      problems.push(`--program ${p}: ${verdict.problem}; ${verdict.fix}${needsRootfs ? ", or run it in a real userland with --rootfs debian" : ""}`);
      continue;
    }
    const name = userProgramName(abs);
    const other = byName.get(name);
    if (bundledNames.has(name)) {
      problems.push(
        `--program ${p}: its name ${name} is the bundled selftest ${name} (selftests/${name}.c), so its results would read as the bundled program's; copy it under another name, e.g. my_${name}`,
      );
    } else if (RESERVED_NAMES.has(name)) {
      problems.push(`--program ${p}: ${name} is a name kharness uses for its own result entries; copy it under another name, e.g. my_${name}`);
    } else if (other !== undefined) {
      problems.push(`--program ${p} and --program ${other}: both would report as ${name}; give them different file names`);
    } else {
      byName.set(name, p);
      programs.push({ name, hostPath: abs, ...(interpreter && opts.rootfs ? { interpreter } : {}) });
    }
  }
  return { programs, problems };
}

/** Decompressed module files (cached by source path and size), as guest paths -> host paths. */
async function prepareModules(deps: PayloadDeps, kernel: KernelImage, wanted: string[]): Promise<{ hostPath: string; guestPath: string }[]> {
  if (!kernel.modulesDir || wanted.length === 0) return [];
  const depText = await fs.readFile(path.join(kernel.modulesDir, "modules.dep"), "utf8").catch(() => "");
  const depMap = depText
    ? parseModulesDep(depText)
    : parseModulesOrder(await fs.readFile(path.join(kernel.modulesDir, "modules.order"), "utf8").catch(() => ""));
  const order = resolveModuleLoadOrder(depMap, wanted);
  const modulesDir = kernel.modulesDir;
  // Each module's file found and decompressed at once (a warm run only stats them), kept in load order.
  return Promise.all(order.map((listed) => cachedModule(deps, modulesDir, listed, !depText)));
}

/** One module of a kernel's modules directory, uncompressed in the cache; `probe`: its name lacks the compression suffix. */
async function cachedModule(deps: PayloadDeps, modulesDir: string, listed: string, probe: boolean): Promise<{ hostPath: string; guestPath: string }> {
  // modules.order names the uncompressed file; the package holds it compressed.
  let rel = listed;
  if (probe) {
    const found = await Promise.all(
      ["", ".xz", ".zst", ".gz"].map(async (ext) => ((await exists(path.join(modulesDir, listed + ext))) ? listed + ext : undefined)),
    );
    rel = found.find((f) => f !== undefined) ?? listed;
  }
  const src = path.join(modulesDir, rel);
  const st = await fs.stat(src);
  const plainName = path.basename(rel).replace(/\.(xz|gz|zst)$/, "");
  const cached = path.join(deps.cacheRoot, "modules", sha256(src, String(st.size), String(st.mtimeMs)).slice(0, 24), plainName);
  if (!(await exists(cached))) {
    await fs.mkdir(path.dirname(cached), { recursive: true });
    const tool = rel.endsWith(".xz") ? ["xz", "-dc"] : rel.endsWith(".gz") ? ["gzip", "-dc"] : rel.endsWith(".zst") ? ["zstd", "-dc"] : undefined;
    if (tool) {
      // Decompressed straight to a file: run() keeps stdout as text, and modules are binary.
      await runChecked(deps.exec, ["sh", "-c", `${tool.join(" ")} "$1" > "$2.tmp" && mv "$2.tmp" "$2"`, "sh", src, cached], {
        what: `decompressing module ${rel}`,
      });
    } else {
      await fs.copyFile(src, cached);
    }
  }
  return { hostPath: cached, guestPath: `/lib/modules/${plainName}` };
}

/** Debian's busybox-static: one static binary that is both a shell and `ip`. */
const BUSYBOX = "/bin/busybox";

/**
 * A tree's own kselftests call system("ip link set dev lo up") and shell helpers, which our shell-less
 * guest cannot run: they would FAIL for a reason that is not the kernel's. With a tree's kselftests in the
 * payload, a static busybox goes in as /bin/sh and /bin/ip (the bundled selftests need neither).
 */
async function kselftestShell(deps: PayloadDeps, profile: ArchProfile): Promise<CpioEntry[]> {
  const head = await readHead(BUSYBOX, 64 * 1024).catch(() => undefined);
  if (!head || !checkStaticElf(head, profile.elfMachine).ok) {
    deps.onProgress?.({
      kind: "info",
      message: `no static ${BUSYBOX}: kselftests that run shell commands (e.g. landlock's net_test) will fail; fix: apt-get install busybox-static`,
    });
    return [];
  }
  return [
    { type: "file", path: "bin/busybox", mode: 0o755, data: await fs.readFile(BUSYBOX) },
    { type: "symlink", path: "bin/sh", target: "busybox" },
    { type: "symlink", path: "bin/ip", target: "busybox" },
  ];
}

/** Programs whose timeouts were written for real hardware, stretched by the guest's slowdown (whole seconds, rounded up). */
export function stretchTimeouts(programs: readonly GuestProgram[], factor: number): GuestProgram[] {
  return programs.map((p) => ({ ...p, timeoutSec: Math.ceil(p.timeoutSec * factor) }));
}

// A tree's own kselftests are guest programs too: built against the kernel stage's build record. Loaded on first use:
// the kselftest builder brings the kernel tree builder with it, which a run of a packaged kernel never needs (issue
// 16: modules loaded before QEMU starts).
export type { KselftestDeps } from "./kselftest.js";
export async function buildKselftests(...a: Parameters<typeof import("./kselftest.js").buildKselftests>): Promise<GuestFiles> {
  return (await import("./kselftest.js")).buildKselftests(...a);
}

/** The guest's /kharness/manifest: one program per line, tab-separated (docs/guest-protocol.md). */
export function renderGuestManifest(programs: readonly GuestProgram[]): string {
  return programs.map((p) => [p.name, p.guestPath, String(p.timeoutSec), p.cwd ?? "-", ...p.args].join("\t")).join("\n") + "\n";
}

/**
 * A cpio archive that replaces /kharness/manifest with these programs. Appended to a payload's initramfs (the
 * kernel unpacks concatenated archives in order, a later file replacing an earlier one), it makes one guest of
 * a --jobs run execute its share of the programs from the same payload.
 */
export function guestManifestOverlay(programs: readonly GuestProgram[]): Buffer {
  return Buffer.concat(writeCpio([{ type: "file", path: "kharness/manifest", data: Buffer.from(renderGuestManifest(programs)) }]));
}

/** Builds the initramfs for one run. */
export async function buildPayload(deps: PayloadDeps, req: PayloadRequest): Promise<Payload> {
  const defines = req.selftestDefines.map((d) => `-D${d}`);
  const [vmDir, testsDir] = await Promise.all([compileCached(deps, "vm", []), req.bundled.length ? compileCached(deps, "selftests", defines) : undefined]);
  const programs: GuestProgram[] = [];
  const files: { hostPath: string; guestPath: string; mode?: number }[] = [];
  for (const { program: name, args } of req.bundled) {
    const hostPath = path.join(testsDir as string, name);
    if (!(await exists(hostPath))) throw new InfraError(`the selftest build did not produce ${name}`, { fix: "run `make -C selftests` to see why" });
    programs.push({ name, hostPath, guestPath: `/kharness/bin/${name}`, timeoutSec: req.timeoutSec, args: [...args] });
  }
  for (const u of req.users) programs.push({ name: u.name, hostPath: u.hostPath, guestPath: `/kharness/bin/${u.name}`, timeoutSec: req.timeoutSec, args: [] });
  for (const p of programs) {
    // One guest path for two programs would put one binary in and run it under both names (a user's
    // net_abi once ran as the bundled one): checkUserPrograms refuses such names, and this keeps it so.
    if (files.some((f) => f.guestPath === p.guestPath))
      throw new InfraError(`two programs want the guest path ${p.guestPath}`, { fix: "this is a kharness bug: please report it with the command line" });
    files.push({ hostPath: p.hostPath, guestPath: p.guestPath, mode: 0o755 });
  }
  if (req.kselftests) {
    programs.push(...stretchTimeouts(req.kselftests.programs, req.timeoutFactor));
    files.push(...req.kselftests.files);
  }
  if (programs.length === 0)
    throw new UsageError("nothing to run: no bundled selftest selected and no --program given", { fix: "drop --tests or pass --program PATH" });
  const modules = await prepareModules(deps, req.kernel, req.wantedModules);

  const manifest = renderGuestManifest(programs);
  // Entries made here (small, in memory) and files copied from the host (read only when the archive is built).
  const made: CpioEntry[] = [
    { type: "file", path: "kharness/manifest", data: Buffer.from(manifest) },
    { type: "file", path: "kharness/modules", data: Buffer.from(modules.map((m) => m.guestPath).join("\n") + (modules.length ? "\n" : "")) },
  ];
  for (const dir of ["dev", "proc", "sys", "tmp", "run"]) made.push({ type: "dir", path: dir });
  if (req.kselftests && !req.rootfs) made.push(...(await kselftestShell(deps, req.profile)));
  // An install tree's empty directories and symbolic links (with --rootfs, init moves it into the overlay).
  for (const d of req.kselftests?.dirs ?? []) made.push({ type: "dir", path: d.guestPath.replace(/^\/+/, ""), mode: d.mode });
  for (const l of req.kselftests?.symlinks ?? []) made.push({ type: "symlink", path: l.guestPath.replace(/^\/+/, ""), target: l.target });
  // The kernel opens /dev/console before running init; devtmpfs is not mounted yet at that point.
  made.push({ type: "chardev", path: "dev/console", mode: 0o600, major: 5, minor: 1 });
  const copied: HostFile[] = [{ hostPath: path.join(vmDir, "init"), guestPath: "init", mode: 0o755 }];
  const seen = new Set<string>();
  for (const f of [...files, ...modules] as { hostPath: string; guestPath: string; mode?: number }[]) {
    if (seen.has(f.guestPath)) continue;
    seen.add(f.guestPath);
    copied.push({ hostPath: f.hostPath, guestPath: f.guestPath, mode: f.mode ?? 0o644 });
  }
  await fs.mkdir(req.outDir, { recursive: true });
  const initramfsPath = path.join(req.outDir, "initramfs.cpio");
  await writeInitramfs(deps, made, copied, initramfsPath);
  return { initramfsPath, programs, modules: modules.map((m) => m.guestPath) };
}

/** A file of the host that goes into the initramfs. */
interface HostFile {
  hostPath: string;
  guestPath: string;
  mode: number;
}

/** Bump when the archive's layout changes: old cached archives then stop matching. */
const INITRAMFS_RECIPE = "initramfs-v1";

/**
 * Writes the initramfs (init first, then the entries made here, then the host files, in that order) to `dest`. The
 * archive is cached under a key of everything it holds: the made entries' bytes and each host file's identity on
 * disk (path, inode, size, mtime; the bundled binaries and modules live in content-addressed cache directories, and
 * a --program edited in place changes its mtime). A warm run with an unchanged payload copies the cached archive
 * instead of reading every binary and module and writing them again (issue 16: overhead before QEMU starts).
 */
async function writeInitramfs(deps: PayloadDeps, made: CpioEntry[], copied: HostFile[], dest: string): Promise<void> {
  const ids = await Promise.all(
    copied.map(async (f) => {
      const st = await fs.stat(f.hostPath);
      return `${f.guestPath}\0${f.mode}\0${path.resolve(f.hostPath)}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    }),
  );
  const madeIds = made.map((e) => JSON.stringify(e.type === "file" ? { ...e, data: sha256(e.data) } : e));
  const key = sha256(INITRAMFS_RECIPE, ...madeIds, "\0files\0", ...ids).slice(0, 32);
  // A file made for this run alone (inside its run directory) would make every run's archive new: not cached then.
  const runOwn = copied.some((f) => !path.relative(path.dirname(dest), path.resolve(f.hostPath)).startsWith(".."));
  const cached = runOwn ? undefined : path.join(deps.cacheRoot, "initramfs", `${key}.cpio`);
  const tmp = `${dest}.tmp-${process.pid}`;
  if (cached)
    try {
      // A hard link: no bytes copied or written back (a copy of Debian's 6.6 MB archive took a warm run 4-7 ms before
      // QEMU started, issue 16). Safe because nothing writes to a file in place: the cache and the run directory are
      // only ever given new files by rename (writeFileAtomic), which leaves the other name's bytes as they were.
      // Across file systems, a clone where the file system can, else a plain copy.
      await fs.link(cached, tmp).catch(() => fs.copyFile(cached, tmp, fsc.COPYFILE_FICLONE));
      await fs.rename(tmp, dest);
      return;
    } catch {
      await fs.rm(tmp, { force: true });
    }
  const [init, ...rest] = copied;
  const entries: CpioEntry[] = [];
  for (const f of init ? [init] : []) entries.push({ type: "file", path: f.guestPath, mode: f.mode, data: await fs.readFile(f.hostPath) });
  entries.push(...made);
  for (const f of rest) entries.push({ type: "file", path: f.guestPath, mode: f.mode, data: await fs.readFile(f.hostPath) });
  const archive = Buffer.concat(writeCpio(withParentDirs(entries)));
  await writeFileAtomic(dest, archive);
  if (!cached) return;
  await fs.mkdir(path.dirname(cached), { recursive: true });
  await writeFileAtomic(cached, archive).catch(() => undefined);
}
