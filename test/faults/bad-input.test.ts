// Process level, fault suite: bad input gives one line naming the input, a fix, exit 2, and leaves nothing
// half-written in the cache (each case runs on a fresh KHARNESS_CACHE that is inspected afterwards).
import t, { type Test } from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { cacheRoot } from "../../harness/exec/cache.js";
import { resolveDefaultKernel } from "../../harness/kernel/default.js";
import { runCli, tempDir } from "../support/cli-run.js";
import { cacheProblems } from "../support/faults/cache-checks.js";
import { tmpfsMountProblem } from "../support/faults/fault-programs.js";

const defaultKernel = await resolveDefaultKernel(cacheRoot()).catch(() => undefined);
const mountProblem = tmpfsMountProblem();

async function expectBadInput(t: Test, args: string[], mention: RegExp, fix: RegExp = /^fix: \S.+/m) {
  const cache = tempDir("kh-cache-");
  const r = await runCli(["run", "--accel", "tcg", ...args], { env: { KHARNESS_CACHE: cache } });
  t.equal(r.code, 2, `exit 2\n${r.stderr}`);
  const first = r.stderr.split("\n").find((l) => l.startsWith("kharness: error:")) ?? "";
  t.match(first, mention, `the error line names the input: ${first}`);
  t.match(r.stderr, fix, "and says how to fix it");
  t.notMatch(r.stderr, /internal error|\n\s+at /, "no stack trace");
  t.same(cacheProblems(cache), [], "nothing half-written in the cache");
  return r;
}

t.test("--kernel: a missing file", async (t) => {
  await expectBadInput(t, ["--kernel", "/nonexistent/bzImage"], /--kernel \/nonexistent\/bzImage: no such file/);
});

t.test("--kernel: a file that is not a kernel", async (t) => {
  const f = path.join(tempDir(), "notes.txt");
  await fs.writeFile(f, "this is not a kernel\n".repeat(200));
  await expectBadInput(t, ["--kernel", f], /--kernel .*notes\.txt: not a kernel image/);
});

t.test("--kernel: a kernel for another architecture (arm64 Image header)", async (t) => {
  // arm64 Image header: code0/code1, text_offset, image_size, flags, reserved, magic "ARM\x64" at 0x38.
  const img = Buffer.alloc(64 * 1024);
  img.writeUInt32LE(0x91005a4d, 0); // "MZ" + add x13, x18, #0x16 (the EFI stub's first instruction)
  img.writeBigUInt64LE(0x80000n, 8);
  img.writeBigUInt64LE(BigInt(img.length), 16);
  img.writeBigUInt64LE(0xan, 24);
  img.write("ARM\x64", 0x38, "latin1");
  const f = path.join(tempDir(), "Image");
  await fs.writeFile(f, img);
  await expectBadInput(t, ["--kernel", f], /--kernel .*Image: a kernel for arm64, but this run boots x86_64/);
});

t.test("--tree: a directory that is not a kernel tree", async (t) => {
  const dir = tempDir("kh-not-a-tree-");
  await fs.writeFile(path.join(dir, "README"), "hello\n");
  await expectBadInput(
    t,
    ["--tree", dir],
    /--tree .* is not a Linux source tree \(no Makefile, Kconfig, arch\/x86\)/,
    /pass the top directory of a kernel tree/,
  );
});

t.test(
  "--tests: a glob that matches no bundled selftest or case (fails before any kernel or boot work)",
  { skip: defaultKernel ? false : "default kernel not installed (npm run setup)" },
  async (t) => {
    const r = await expectBadInput(
      t,
      ["--kernel", defaultKernel!.path, "--tests", "no_such_test*"],
      /--tests no_such_test\*: matches no bundled program or case/,
    );
    t.match(r.stderr, /closest: net_\w+/, "the message names the closest tests");
    t.match(r.stderr, /fix: `kharness list` shows every program and case/);
  },
);

t.test("--out: a path under a regular file", async (t) => {
  const file = path.join(tempDir(), "plain-file");
  await fs.writeFile(file, "x");
  await expectBadInput(t, ["--out", path.join(file, "run")], /--out .*plain-file\/run: cannot write there \(ENOTDIR\)/);
});

t.test("--out: a read-only filesystem", { skip: mountProblem ?? false }, async (t) => {
  const dir = tempDir("kh-ro-");
  execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", dir], { stdio: "pipe" });
  t.teardown(() => void execFileSync("umount", [dir]));
  await expectBadInput(t, ["--out", path.join(dir, "run")], /--out .*\/run: cannot write there \(EROFS\)/);
});
