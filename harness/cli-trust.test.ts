// Process level (issue 10, items 3, 4, 6, 7, 10): `node bin/kharness.js` as a user runs it. No test here boots
// a guest: runs that must get as far as the boot use a stand-in QEMU (KHARNESS_QEMU) that reports a version
// and exits, so what kharness put in the initramfs can be read back from the run directory.
import t, { type Test } from "tap";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, promises as fs, readdirSync, readlinkSync } from "node:fs";
import * as path from "node:path";
import { cacheRoot } from "./exec/cache.js";
import { resolveDefaultKernel } from "./kernel/default.js";
import { readCpioEntry, readGuestManifest, REPO_ROOT, runCli, tempDir } from "../test/support/cli-run.js";

const kernel = (await resolveDefaultKernel(cacheRoot()).catch(() => undefined))?.path;
const needKernel = kernel ? false : "default kernel not installed (npm run setup)";
const README = path.join(REPO_ROOT, "README.md");

/**
 * A QEMU stand-in: answers --version like QEMU 8.2, waits while $KH_FAKE_QEMU_HOLD names a file that does not
 * exist yet (at most 60 s), exits 1 (no guest). The hold lets a test keep a run "booting" exactly as long as
 * it needs, instead of sleeping a fixed time long enough for a loaded machine.
 */
async function fakeQemu(): Promise<string> {
  const f = path.join(tempDir("kh-fakeqemu-"), "qemu-system-x86_64");
  const script = [
    "#!/bin/sh",
    'if [ "$1" = --version ]; then echo "QEMU emulator version 8.2.0"; exit 0; fi',
    'if [ -n "$' + '{KH_FAKE_QEMU_HOLD:-}" ]; then',
    '  i=0; while [ ! -e "$KH_FAKE_QEMU_HOLD" ] && [ "$i" -lt 600 ]; do sleep 0.1; i=$((i + 1)); done',
    "fi",
    "exit 1",
    "",
  ];
  await fs.writeFile(f, script.join("\n"), { mode: 0o755 });
  return f;
}
const QEMU = await fakeQemu();

/** A static x86-64 program at dir/name that exits 0. */
function staticProgram(dir: string, name: string): string {
  const src = path.join(dir, `${name}.c`);
  execFileSync("sh", ["-c", `printf 'int main(void){return 0;}\\n' > "$1" && gcc -static -O1 -o "$2" "$1"`, "sh", src, path.join(dir, name)]);
  return path.join(dir, name);
}

/** `kharness run` on the default kernel with the stand-in QEMU and TCG (no accel probe). */
function fakeRun(args: string[], opts: Parameters<typeof runCli>[1] = {}) {
  return runCli(["run", "--kernel", kernel as string, "--accel", "tcg", ...args], { ...opts, env: { KHARNESS_QEMU: QEMU, ...opts.env } });
}

/** Nothing was built or booted: no stage line after validation, and no run directory. */
function assertStoppedEarly(t: Test, r: { stderr: string; outDir: string }) {
  t.notMatch(r.stderr, /\] (kernel|build|payload|boot)\b/, "no kernel, payload or boot stage started");
  t.notOk(r.outDir && existsSync(r.outDir), "no run directory was created");
  t.notMatch(r.stderr, /internal error|\n\s+at /, "no stack trace");
}

t.test("item 3: a --program named like a bundled selftest is refused, naming both", { skip: needKernel }, async (t) => {
  const dir = tempDir("kh-prog-");
  const mine = staticProgram(dir, "net_abi");
  const out = path.join(tempDir(), "run");
  const r = await fakeRun(["--program", mine, "--out", out]);
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, new RegExp(`--program ${mine}: its name net_abi is the bundled selftest net_abi \\(selftests/net_abi\\.c\\)`));
  t.match(r.stderr, /copy it under another name, e\.g\. my_net_abi/);
  assertStoppedEarly(t, r);
});

t.test("item 3: two --program files with one name are refused, naming both (no silent t_ rename)", { skip: needKernel }, async (t) => {
  const a = staticProgram(tempDir("kh-a-"), "probe");
  const b = staticProgram(tempDir("kh-b-"), "probe");
  const r = await fakeRun(["--program", a, b, "--out", path.join(tempDir(), "run")]);
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, new RegExp(`--program ${b} and --program ${a}: both would report as probe`));
});

t.test("item 3/4: the user's program goes in under its own name and bytes; with --tests the bundled ones are added", { skip: needKernel }, async (t) => {
  const mine = staticProgram(tempDir("kh-prog-"), "my_check");
  const r = await fakeRun(["--program", mine, "--tests", "net_abi"]);
  t.equal(r.code, 3, `the stand-in QEMU has no guest: exit 3\n${r.stderr}`);
  const manifest = await readGuestManifest(r.outDir);
  t.same(
    manifest.map((p) => [p.name, p.guestPath, p.args]),
    [
      ["net_abi", "/kharness/bin/net_abi", []],
      ["my_check", "/kharness/bin/my_check", []],
    ],
  );
  const cpio = await fs.readFile(path.join(r.outDir, "initramfs.cpio"));
  t.ok(readCpioEntry(cpio, "kharness/bin/my_check")?.equals(await fs.readFile(mine)), "the guest gets the user's own binary");
});

t.test("item 4: --program without --tests runs only the user's programs", { skip: needKernel }, async (t) => {
  const mine = staticProgram(tempDir("kh-prog-"), "my_only");
  const r = await fakeRun(["--program", mine]);
  t.equal(r.code, 3, r.stderr);
  t.same(
    (await readGuestManifest(r.outDir)).map((p) => p.name),
    ["my_only"],
  );
  t.match(r.stderr, /1 program\(s\): my_only\n/);
});

t.test("item 4: a case glob goes to its program as an argument; other programs do not run", { skip: needKernel }, async (t) => {
  const r = await fakeRun(["--tests", "net_tcp.tcp.ipv4*.bind_*", "socket_create"]);
  t.equal(r.code, 3, r.stderr);
  t.same(
    (await readGuestManifest(r.outDir)).map((p) => [p.name, p.args]),
    [
      ["net_tcp", ["net_tcp.tcp.ipv4*.bind_*"]],
      ["socket_create", []],
    ],
  );
});

t.test("item 4: a --tests case that does not exist is exit 2 before anything is built, listing near matches", { skip: needKernel }, async (t) => {
  const r = await fakeRun(["--tests", "net_abi.no_such_case", "--out", path.join(tempDir(), "run")]);
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /kharness: error: --tests net_abi\.no_such_case: matches no bundled program or case; closest: net_abi\.\w/);
  t.match(r.stderr, /fix: `kharness list` shows every program and case/);
  assertStoppedEarly(t, r);
});

t.test("item 4: an invalid glob is exit 2 saying why, not an internal error", async (t) => {
  const r = await runCli(["run", "--tests", "net_[z-a]", "--out", path.join(tempDir(), "run")], { env: { KHARNESS_QEMU: QEMU } });
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /--tests net_\[z-a\]: not a valid glob: the range z-a is empty/);
  assertStoppedEarly(t, r);
});

t.test("issue 11 item 3: every problem of a request at once, before any build or boot", async (t) => {
  const r = await runCli(
    [
      "run",
      "--tests",
      "no_such*",
      "--program",
      "/nonexistent/prog",
      "--junit",
      `${README}/x.xml`,
      "--kernel",
      "/nonexistent/bzImage",
      "--out",
      path.join(tempDir(), "run"),
    ],
    {
      env: { KHARNESS_QEMU: QEMU },
    },
  );
  t.equal(r.code, 2, r.stderr);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("kharness: error:"));
  t.equal(errors.length, 4, errors.join("\n"));
  t.match(r.stderr, /--kernel \/nonexistent\/bzImage: no such file/);
  t.match(r.stderr, /--program \/nonexistent\/prog: no such file/);
  t.match(r.stderr, /--tests no_such\*: matches no bundled program or case/);
  t.match(r.stderr, /--junit .*README\.md\/x\.xml: cannot write there \(ENOTDIR\)/);
  t.match(r.stderr, /kharness: 4 problems; nothing was built or booted/);
  assertStoppedEarly(t, r);
});

t.test("issue 11 item 3: a --tree that is no kernel tree is reported with the other problems, and leaves no run directory", async (t) => {
  const notATree = tempDir("kh-notree-");
  const r = await runCli(["run", "--tree", notATree, "--tests", "no_such*", "--out", path.join(tempDir(), "run")], { env: { KHARNESS_QEMU: QEMU } });
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, new RegExp(`--tree ${notATree} is not a Linux source tree \\(no Makefile, Kconfig, arch/x86\\)`));
  t.match(r.stderr, /--tests no_such\*: matches no bundled program or case/);
  t.match(r.stderr, /kharness: 2 problems; nothing was built or booted/);
  assertStoppedEarly(t, r);
});

t.test("item 6: with --bisect, a problem that is not the commit's stops the bisection (exit 128)", async (t) => {
  const usage = await runCli(["run", "--bisect", "--accel", "nope"]);
  t.equal(usage.code, 128, `bad usage\n${usage.stderr}`);
  t.match(usage.stderr, /exit 128 stops `git bisect run`/);
  const input = await runCli(["run", "--bisect", "--tests", "no_such_test"], { env: { KHARNESS_QEMU: QEMU } });
  t.equal(input.code, 128, `bad input\n${input.stderr}`);
  const noQemu = await runCli(["run", "--bisect", "--tests", "net_abi"], { env: { KHARNESS_QEMU: "/nonexistent/qemu-system-x86_64" } });
  t.equal(noQemu.code, 128, `QEMU missing\n${noQemu.stderr}`);
  const out = await runCli(["run", "--bisect", "--out", "/proc/kh"], { env: { KHARNESS_QEMU: QEMU }, killAfterMs: 60000 });
  t.equal(out.code, 128, `unwritable --out\n${out.stderr}`);
});

t.test("item 6: with --bisect, a boot that fails is still 125 (skip this commit)", { skip: needKernel }, async (t) => {
  const r = await fakeRun(["--bisect", "--tests", "net_abi"]);
  t.equal(r.code, 125, r.stderr);
});

t.test("item 6: `git bisect run` stops on a usage error instead of blaming the commit", async (t) => {
  const repo = tempDir("kh-bisect-");
  const git = (...args: string[]) =>
    execFileSync("git", ["-C", repo, ...args], {
      encoding: "utf8",
      env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@e", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@e" },
    });
  git("init", "-q");
  for (const n of ["1", "2", "3"]) {
    await fs.writeFile(path.join(repo, "f"), n);
    git("add", "f");
    git("commit", "-q", "-m", `c${n}`);
  }
  git("bisect", "start", "HEAD", "HEAD~2");
  const res = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const kharness = [
      process.execPath,
      path.join(REPO_ROOT, "bin", "kharness.js"),
      "run",
      "--bisect",
      "--tests",
      "no_such_test",
      "--out",
      path.join(tempDir(), "run"),
    ];
    const child = spawn("git", ["-C", repo, "bisect", "run", ...kharness], { env: { ...process.env, KHARNESS_QEMU: QEMU }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout?.on("data", (b: Buffer) => (out += b.toString()));
    child.stderr?.on("data", (b: Buffer) => (out += b.toString()));
    child.on("close", (code) => resolve({ code, out }));
  });
  t.not(res.code, 0, "git bisect run failed");
  t.match(res.out, /bisect run failed:\s*exit code 128/, res.out);
  t.notMatch(res.out, /is the first bad commit/);
  t.notMatch(git("bisect", "log"), /^git bisect bad/m, "no commit was marked bad");
  git("bisect", "reset");
});

t.test("item 7: --out on /proc fails at once (it used to spin forever)", async (t) => {
  const r = await runCli(["run", "--out", "/proc/kh"], { env: { KHARNESS_QEMU: QEMU }, killAfterMs: 60000 });
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /--out \/proc\/kh: cannot write there \(ENOENT\): \/proc takes no new files/);
  t.ok(r.durationMs < 30000, `in ${r.durationMs} ms`);
});

t.test("item 7: report paths below a regular file or on /proc are exit 2 before the boot", { skip: needKernel }, async (t) => {
  const out = path.join(tempDir(), "run");
  const r = await fakeRun(["--tests", "net_abi", "--junit", `${README}/x.xml`, "--tap", "/proc/nope/x.tap", "--out", out], { killAfterMs: 120000 });
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /--junit .*README\.md\/x\.xml: cannot write there \(ENOTDIR\): .*README\.md is a regular file/);
  t.match(r.stderr, /--tap \/proc\/nope\/x\.tap: cannot write there \(ENOENT\)/);
  assertStoppedEarly(t, r);
});

const ALL_SKIP = "TAP version 13\n1..2\nok 1 first # SKIP feature absent\nok 2 second # SKIP feature absent\n";

t.test("item 7: parse refuses bad report paths at once (no hang, not exit 1)", async (t) => {
  const dir = tempDir("kh-parse-");
  const log = path.join(dir, "skip.tap");
  await fs.writeFile(log, ALL_SKIP);
  const proc = await runCli(["parse", log, "--junit", "/proc/nope/x.xml"], { killAfterMs: 60000 });
  t.equal(proc.code, 2, proc.stderr);
  t.match(proc.stderr, /--junit \/proc\/nope\/x\.xml: cannot write there \(ENOENT\)/);
  const below = await runCli(["parse", log, "--junit", `${README}/x.xml`, "--json-out", dir]);
  t.equal(below.code, 2, below.stderr);
  t.match(below.stderr, /--junit .*README\.md\/x\.xml: cannot write there \(ENOTDIR\)/);
  t.match(below.stderr, new RegExp(`--json-out ${dir}: is a directory`));
  t.equal(below.stdout, "", "nothing parsed or printed");
});

t.test("item 7: --append longer than the kernel keeps is exit 2", async (t) => {
  const r = await runCli(["run", "--append", `x=${"y".repeat(5000)}`, "--out", path.join(tempDir(), "run")], { env: { KHARNESS_QEMU: QEMU } });
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /--append: the kernel command line would be \d+ bytes, but x86_64 kernels keep at most 2047 \(COMMAND_LINE_SIZE 2048/);
  assertStoppedEarly(t, r);
});

t.test("item 7: timeouts are whole decimal seconds, as the guest counts them", async (t) => {
  for (const v of ["1.5", "0.5", "0x10", "1e3", "0"]) {
    const r = await runCli(["run", "--timeout", v], { env: { KHARNESS_QEMU: QEMU } });
    t.equal(r.code, 2, `--timeout ${v}: ${r.stderr}`);
    t.match(r.stderr, new RegExp(`--timeout ${v.replace(".", "\\.")}: expected a whole number of seconds from 1 to 86400, in decimal`));
  }
  const boot = await runCli(["run", "--boot-timeout", "2.5"], { env: { KHARNESS_QEMU: QEMU } });
  t.equal(boot.code, 2, boot.stderr);
});

t.test("item 7: --kernel= and --tree= with an empty value are exit 2, not the default kernel", async (t) => {
  for (const opt of ["--kernel=", "--tree="]) {
    const r = await runCli(["run", opt], { env: { KHARNESS_QEMU: QEMU } });
    t.equal(r.code, 2, `${opt}: ${r.stderr}`);
    t.match(r.stderr, new RegExp(`kharness: ${opt.slice(0, -1)} has an empty value`));
  }
});

t.test("item 7: a usage error leaves no run directory behind and does not move kharness-out/latest", { skip: needKernel }, async (t) => {
  const cwd = tempDir("kh-cwd-");
  const first = await fakeRun(["--tests", "net_abi"], { cwd, noOut: true });
  t.equal(first.code, 3, first.stderr);
  const runs = () => readdirSync(path.join(cwd, "kharness-out")).sort();
  const before = runs();
  const latest = readlinkSync(path.join(cwd, "kharness-out", "latest"));
  t.equal(before.length, 2, `one run directory and latest: ${before.join(" ")}`);
  const bad = await fakeRun(["--tests", "net_abi.no_such_case"], { cwd, noOut: true });
  t.equal(bad.code, 2, bad.stderr);
  t.same(runs(), before, "no new run directory");
  t.equal(readlinkSync(path.join(cwd, "kharness-out", "latest")), latest, "latest still points at the first run");
});

t.test(
  "item 7: a second run given the same --out while the first runs refuses (exit 2); a dead owner's lock is taken over",
  { skip: needKernel },
  async (t) => {
    const out = path.join(tempDir(), "shared");
    // The first run's stand-in QEMU holds until this file exists, i.e. until the second run has been refused.
    const release = path.join(tempDir("kh-hold-"), "release");
    let firstBooting!: () => void;
    const booting = new Promise<void>((r) => (firstBooting = r));
    const first = fakeRun(["--tests", "net_abi", "--out", out], {
      env: { KH_FAKE_QEMU_HOLD: release },
      onStderr: (l) => void (/\] boot/.test(l) && firstBooting()),
    });
    await Promise.race([booting, first]);
    const second = await fakeRun(["--tests", "net_abi", "--out", out]);
    t.equal(second.code, 2, second.stderr);
    t.match(second.stderr, new RegExp(`--out ${out}: another kharness run \\(pid \\d+\\) is writing to this run directory`));
    t.notOk(existsSync(path.join(out, "error.json")), "the refused run wrote nothing into the first run's directory");
    await fs.writeFile(release, "");
    const a = await first;
    t.equal(a.code, 3, `the first run went on to its (stand-in) boot: ${a.stderr.slice(-500)}`);
    t.notOk(existsSync(path.join(out, ".kharness.lock")), "the lock is gone with its run");

    await fs.writeFile(path.join(out, ".kharness.lock"), "999999999");
    const third = await fakeRun(["--tests", "net_abi", "--out", out]);
    t.equal(third.code, 3, `a stale lock (no such pid) does not block: ${third.stderr.slice(-500)}`);
  },
);

t.test("item 7: `list | head -1` and `parse --json | head -1` end quietly on a closed pipe", async (t) => {
  const list = await runCli(["list"], { closeStdout: true });
  t.equal(list.code, 0, list.stderr);
  t.notMatch(list.stderr, /EPIPE|internal error|\n\s+at /, "no EPIPE stack");
  const log = path.join(tempDir("kh-parse-"), "skip.tap");
  await fs.writeFile(log, ALL_SKIP);
  const parse = await runCli(["parse", log, "--json"], { closeStdout: true });
  t.equal(parse.code, 0, parse.stderr);
  t.notMatch(parse.stderr, /EPIPE|internal error|\n\s+at /);
  const noStderr = await runCli(["parse", "/nonexistent/console.log"], { closeStderr: true });
  t.equal(noStderr.code, 2, "a closed stderr does not turn a usage error into a crash");
  const failing = path.join(tempDir("kh-parse-"), "fail.tap");
  await fs.writeFile(failing, "TAP version 13\n1..1\nnot ok 1 broken\n");
  const verdict = await runCli(["parse", failing], { closeStdout: true });
  t.equal(verdict.code, 1, "the verdict's exit code stands when nobody reads it");
});

t.test("item 10: --fail-on-skip fails a run in which nothing passed", async (t) => {
  const dir = tempDir("kh-parse-");
  const skipped = path.join(dir, "skip.tap");
  await fs.writeFile(skipped, ALL_SKIP);
  const plain = await runCli(["parse", skipped]);
  t.equal(plain.code, 0, "all skipped is not a failure by itself");
  const strict = await runCli(["parse", skipped, "--fail-on-skip"]);
  t.equal(strict.code, 1, strict.stderr);
  t.match(strict.stderr, /--fail-on-skip: no test passed/);
  const mixed = path.join(dir, "mixed.tap");
  await fs.writeFile(mixed, "TAP version 13\n1..2\nok 1 first\nok 2 second # SKIP feature absent\n");
  t.equal((await runCli(["parse", mixed, "--fail-on-skip"])).code, 0, "one pass is enough");
});
