// Process level: a tree's kselftest scripts (TEST_PROGS) become guest programs only with --rootfs, and with --rootfs
// the whole install tree goes into the root file system and each test runs as the kselftest runner runs it; read from
// a kselftest cache entry as the payload stage leaves it (no kernel tree, no build: the entry is made by hand).
import t from "tap";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UsageError } from "../errors.js";
import { sha256 } from "../exec/cache.js";
import { BUILD_RECIPE_VERSION } from "../kernel/build-record.js";
import { buildKselftests } from "../payload/payload.js";
import { KSELFTEST_ROOTFS_DIR, ROOTFS_ADD_DIR, runnerCommand } from "../payload/kselftest.js";
import { X86_64 } from "../qemu/profiles.js";
import type { KernelImage, ProgressEvent } from "../types.js";
import { createFakeExec } from "../../test/support/fake-exec.js";

const kernel = {
  path: "/k",
  source: "tree",
  build: { cacheKey: "K", cacheHit: true, durationMs: 0, treeDir: "/t", record: {}, patches: [] },
} as unknown as KernelImage;

/** A kselftest cache entry for target exec: one C program and one python script, or the script only. */
async function entry(cacheRoot: string, withProgram: boolean): Promise<void> {
  // The initramfs build's entry and the --rootfs build's (linked against the image's libc), alike here.
  for (const extra of [[], ["linked-for-rootfs"]])
    await entryAt(cacheRoot, withProgram, sha256(`kharness-kselftest-recipe-${BUILD_RECIPE_VERSION}`, "K", "exec", ...extra));
}

async function entryAt(cacheRoot: string, withProgram: boolean, key: string): Promise<void> {
  const dir = path.join(cacheRoot, "kselftests", key);
  await fs.mkdir(path.join(dir, "install", "exec"), { recursive: true });
  await fs.writeFile(path.join(dir, "install", "exec", "binfmt_script.py"), "#!/usr/bin/env python3\n", { mode: 0o755 });
  const programs = withProgram
    ? [
        {
          name: "kselftest.exec.execveat",
          hostRel: "install/exec/execveat",
          guestPath: "/kharness/kselftest/exec/execveat",
          timeoutSec: 60,
          args: [],
          cwd: "/kharness/kselftest/exec",
        },
      ]
    : [];
  if (withProgram) await fs.writeFile(path.join(dir, "install", "exec", "execveat"), "\x7fELF", { mode: 0o755 });
  // What `make install` leaves besides the programs: the list, the runner, the settings, an empty directory, a link.
  const list = [...(withProgram ? ["exec:execveat"] : []), "exec:binfmt_script.py"];
  await fs.writeFile(path.join(dir, "install", "kselftest-list.txt"), list.join("\n") + "\n");
  await fs.writeFile(path.join(dir, "install", "run_kselftest.sh"), "#!/bin/sh\n", { mode: 0o755 });
  await fs.mkdir(path.join(dir, "install", "kselftest"), { recursive: true });
  await fs.writeFile(path.join(dir, "install", "kselftest", "runner.sh"), "#!/bin/sh\n");
  if (withProgram) {
    await fs.writeFile(path.join(dir, "install", "exec", "settings"), "timeout=60\n");
    await fs.mkdir(path.join(dir, "install", "exec", "subdir"), { recursive: true });
    await fs.symlink("execveat", path.join(dir, "install", "exec", "execveat.symlink"));
  }
  await fs.writeFile(path.join(dir, "programs.json"), JSON.stringify({ programs, skipped: ["exec/binfmt_script.py"] }));
  await fs.writeFile(path.join(dir, ".complete"), "");
}

t.test("scripts run with --rootfs (from their directory, the target's timeout), and are named as not run without it", async (t) => {
  const cacheRoot = await fs.mkdtemp(path.join(os.tmpdir(), "kh-ksft-scripts-"));
  t.teardown(() => fs.rm(cacheRoot, { recursive: true, force: true }));
  await entry(cacheRoot, true);
  const exec = createFakeExec(() => undefined);
  const deps = { exec, cacheRoot, runDir: path.join(cacheRoot, "run"), profile: X86_64 };

  const events: ProgressEvent[] = [];
  const plain = await buildKselftests(kernel, ["exec"], { ...deps, onProgress: (e) => events.push(e) });
  t.same(
    plain.programs.map((p) => p.name),
    ["kselftest.exec.execveat"],
  );
  t.ok(
    events.some((e) => e.kind === "info" && /not run: exec\/binfmt_script\.py/.test(e.message) && /--rootfs debian/.test(e.message)),
    "the skipped script is named, with --rootfs as the way to run it",
  );

  const withRootfs = await buildKselftests(kernel, ["exec"], { ...deps, rootfs: true });
  const base = `${KSELFTEST_ROOTFS_DIR}/exec`;
  t.same(
    withRootfs.programs.map((p) => [p.name, p.guestPath, p.args, p.cwd, p.timeoutSec]),
    [
      ["kselftest.exec.execveat", "./execveat", [], base, 60],
      ["kselftest.exec.binfmt_script.py", "./binfmt_script.py", [], base, 60],
    ],
    "each test of the list, run as ./NAME from the target's installed directory with its installed settings' timeout",
  );
  const shipped = new Set(withRootfs.files.map((f) => f.guestPath));
  for (const rel of ["run_kselftest.sh", "kselftest-list.txt", "kselftest/runner.sh", "exec/settings", "exec/execveat", "exec/binfmt_script.py"])
    t.ok(shipped.has(`${ROOTFS_ADD_DIR}${KSELFTEST_ROOTFS_DIR}/${rel}`), `${rel} of the install tree travels to be installed`);
  t.ok(
    withRootfs.files.every((f) => f.guestPath.startsWith(`${ROOTFS_ADD_DIR}/`)),
    "nothing is left in the initramfs' /kharness/kselftest",
  );
  t.ok(
    withRootfs.dirs?.some((d) => d.guestPath === `${ROOTFS_ADD_DIR}${base}/subdir`),
    "the empty directory of the install is made too",
  );
  t.same(withRootfs.symlinks, [{ guestPath: `${ROOTFS_ADD_DIR}${base}/execveat.symlink`, target: "execveat" }], "the link stays a link");
  t.same(exec.calls, [], "a cache hit: nothing was built");
});

t.test("a target of scripts only is refused without --rootfs, and runs with it", async (t) => {
  const cacheRoot = await fs.mkdtemp(path.join(os.tmpdir(), "kh-ksft-scripts-"));
  t.teardown(() => fs.rm(cacheRoot, { recursive: true, force: true }));
  await entry(cacheRoot, false);
  const deps = { exec: createFakeExec(() => undefined), cacheRoot, runDir: path.join(cacheRoot, "run"), profile: X86_64 };
  const e = await buildKselftests(kernel, ["exec"], deps).catch((x: unknown) => x);
  t.ok(e instanceof UsageError);
  t.match((e as Error).message, /--kselftest exec: only scripts \(exec\/binfmt_script\.py\)/);
  t.match((e as UsageError).fix, /--rootfs debian/);
  const ok = await buildKselftests(kernel, ["exec"], { ...deps, rootfs: true });
  t.same(
    ok.programs.map((p) => [p.name, p.timeoutSec]),
    [["kselftest.exec.binfmt_script.py", 45]],
    "no settings file: the runner's default timeout",
  );
});

t.test("runnerCommand starts a test the way runner.sh's run_one does", async (t) => {
  t.same(runnerCommand("sub/prog", { executable: true, ksftRunner: true, head: "" }), { path: "./prog", args: [] }, "executable: ./BASENAME");
  t.same(runnerCommand("t.sh", { executable: false, ksftRunner: true, head: "#!/bin/bash\n" }), { path: "./ksft_runner.sh", args: ["./t.sh"] });
  t.same(
    runnerCommand("t.py", { executable: false, ksftRunner: false, head: "#!/usr/bin/env python3\nprint(1)\n" }),
    { path: "/usr/bin/env", args: ["python3", "./t.py"] },
    "not executable: its #! line, split into words",
  );
  t.same(
    runnerCommand("data", { executable: false, ksftRunner: false, head: "abc" }),
    { path: "./data", args: [] },
    "neither: left to fail as the runner's not ok",
  );
});
