// VM level, default kernel (no kernel build): a kselftest install tree made by hand (what `make install` leaves: the
// list, run_kselftest.sh, a target directory with settings, an empty directory, a symbolic link and a program in a
// subdirectory) goes through the payload into an overlay on an empty ext4 image; init moves it into the root file
// system at /opt/kselftest and each test runs as runner.sh runs it. The programs are static C checks that look
// at where and how they were started and what the installed tree holds, so nothing here can pass unless init did it.
import t from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs, writeFileSync } from "node:fs";
import * as path from "node:path";
import { createExec } from "../exec/exec.js";
import { cacheRoot } from "../exec/cache.js";
import { installTreeForRootfs, KSELFTEST_ROOTFS_DIR } from "../payload/kselftest.js";
import { buildPayload } from "../payload/payload.js";
import { bootGuest } from "../qemu/boot.js";
import { X86_64 } from "../qemu/profiles.js";
import { REPO_ROOT } from "../repo-root.js";
import { tempDir } from "../../test/support/cli-run.js";
import { findTestKernel } from "../../test/support/vm-fixture.js";
import { createOverlay } from "./overlay.js";

const kernel = await findTestKernel("default");

// One check per TAP line; argv[1] says which program this is (the top-level one or the one in a subdirectory).
const CHECK_C = `#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
static int n;
static void check(int ok, const char *what) { printf("%sok %d %s\\n", ok ? "" : "not ", ++n, what); }
int main(int argc, char **argv) {
	char cwd[256] = "", link[64] = "";
	struct stat st;
	int nested = argc > 1 && strcmp(argv[1], "nested") == 0;
	getcwd(cwd, sizeof(cwd));
	printf("TAP version 13\\n1..%d\\n# cwd %s argv0 %s\\n", nested ? 3 : 8, cwd, argv[0]);
	if (nested) {
		check(strcmp(cwd, "${KSELFTEST_ROOTFS_DIR}/demo/sub") == 0, "runs_in_its_own_directory");
		check(strcmp(argv[0], "./nested") == 0, "started_as_dot_slash_basename");
		check(stat("../settings", &st) == 0, "the_target_settings_above");
		return 0;
	}
	check(strcmp(cwd, "${KSELFTEST_ROOTFS_DIR}/demo") == 0, "runs_in_the_installed_target_directory");
	check(strcmp(argv[0], "./check_tree") == 0, "started_as_dot_slash_basename");
	check(stat("subdir", &st) == 0 && S_ISDIR(st.st_mode), "empty_directory_installed");
	check(readlink("link", link, sizeof(link) - 1) > 0 && strcmp(link, "check_tree") == 0, "symbolic_link_installed");
	check(access("${KSELFTEST_ROOTFS_DIR}/run_kselftest.sh", X_OK) == 0 && access("${KSELFTEST_ROOTFS_DIR}/kselftest-list.txt", R_OK) == 0, "runner_and_list_installed");
	check(stat("/kharness/rootfs-add/opt", &st) != 0, "moved_out_of_the_initramfs");
	check(access("/dev/fd/1", F_OK) == 0, "dev_fd_linked");
	check(stat("/lost+found", &st) == 0, "root_is_the_image");
	return 0;
}
`;

t.test(
  "a kselftest install tree is moved into the overlay and run as the kselftest runner runs it",
  { skip: kernel ? false : "the default kernel is not installed (npm run setup)" },
  async (t) => {
    if (!kernel) return;
    const exec = createExec();
    const dir = tempDir("kh-ksft-install-");
    t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
    const install = path.join(dir, "install");
    await fs.mkdir(path.join(install, "demo", "sub"), { recursive: true });
    await fs.mkdir(path.join(install, "demo", "subdir"));
    await fs.mkdir(path.join(install, "kselftest"));
    writeFileSync(path.join(install, "kselftest-list.txt"), "demo:check_tree\ndemo:sub/nested\n");
    writeFileSync(path.join(install, "run_kselftest.sh"), "#!/bin/sh\n", { mode: 0o755 });
    writeFileSync(path.join(install, "kselftest", "runner.sh"), "#!/bin/sh\n");
    writeFileSync(path.join(install, "demo", "settings"), "timeout=7\n");
    writeFileSync(path.join(dir, "check.c"), CHECK_C);
    execFileSync("gcc", ["-static", "-O2", "-o", path.join(install, "demo", "check_tree"), path.join(dir, "check.c")]);
    // The nested test is the same program; the manifest's argument below tells it which checks to make.
    await fs.copyFile(path.join(install, "demo", "check_tree"), path.join(install, "demo", "sub", "nested"));
    await fs.chmod(path.join(install, "demo", "sub", "nested"), 0o755);
    await fs.symlink("check_tree", path.join(install, "demo", "link"));

    const files = await installTreeForRootfs(install, ["demo"]);
    t.same(
      files.programs.map((p) => [p.name, p.guestPath, p.cwd, p.timeoutSec]),
      [
        ["kselftest.demo.check_tree", "./check_tree", `${KSELFTEST_ROOTFS_DIR}/demo`, 7],
        ["kselftest.demo.sub/nested", "./nested", `${KSELFTEST_ROOTFS_DIR}/demo/sub`, 7],
      ],
    );
    // The nested program learns it is the nested one from its argument.
    const programs = files.programs.map((p) => (p.guestPath === "./nested" ? { ...p, args: ["nested"] } : p));

    const image = path.join(dir, "empty.raw");
    execFileSync("truncate", ["-s", "32M", image]);
    execFileSync("mke2fs", ["-q", "-t", "ext4", "-F", image]);
    const runDir = path.join(dir, "run");
    await fs.mkdir(runDir);
    const payload = await buildPayload(
      { exec, cacheRoot: cacheRoot(), repoRoot: REPO_ROOT, profile: X86_64 },
      {
        kernel,
        bundled: [],
        users: [],
        kselftests: { ...files, programs },
        timeoutFactor: 1,
        timeoutSec: 60,
        selftestDefines: [],
        wantedModules: ["virtio_pci", "virtio_console", "virtio_blk", "ext4"],
        outDir: runDir,
        profile: X86_64,
        rootfs: true,
      },
    );
    const { overlay } = await createOverlay(exec, image, "raw", runDir);
    const boot = await bootGuest({ exec }, { kernel, payload, runDir, accel: "tcg", profile: X86_64, append: [], bootTimeoutSec: 120, rootfsDisk: overlay });
    t.equal(boot.end, "poweroff", "the guest ran to its end");
    const results = await fs.readFile(path.join(runDir, "results.log"), "utf8");
    const consoleText = await fs.readFile(path.join(runDir, "console.log"), "utf8");
    t.match(consoleText, /kharness-init: rootfs: installed the files of \/kharness\/rootfs-add into it/);
    const cases = [...results.matchAll(/^# (not )?ok \d+ (\S+)/gm)].map((m) => [m[2], m[1] ? "FAIL" : "PASS"]);
    t.same(
      cases,
      [
        ["runs_in_the_installed_target_directory", "PASS"],
        ["started_as_dot_slash_basename", "PASS"],
        ["empty_directory_installed", "PASS"],
        ["symbolic_link_installed", "PASS"],
        ["runner_and_list_installed", "PASS"],
        ["moved_out_of_the_initramfs", "PASS"],
        ["dev_fd_linked", "PASS"],
        ["root_is_the_image", "PASS"],
        ["runs_in_its_own_directory", "PASS"],
        ["started_as_dot_slash_basename", "PASS"],
        ["the_target_settings_above", "PASS"],
      ],
      results,
    );
    t.match(results, /^ok 1 kselftest\.demo\.check_tree$/m);
    t.match(results, /^ok 2 kselftest\.demo\.sub\/nested$/m);
  },
);
