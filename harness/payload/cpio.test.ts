// The cpio writer: byte layout checked by hand, and the real cpio(1) lists and extracts what it wrote.
import t from "tap";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readCpioEntry } from "../results/index.js";
import { withParentDirs, writeCpio } from "./cpio.js";

const haveCpio = (() => {
  try {
    execFileSync("cpio", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

t.test("a single file: 110-byte header, name padded to 4, data padded to 4, trailer", async (t) => {
  const buf = Buffer.concat(writeCpio([{ type: "file", path: "init", mode: 0o755, data: Buffer.from("abcde") }]));
  t.equal(buf.subarray(0, 6).toString(), "070701");
  t.equal(buf.subarray(14, 22).toString(), (0o100755).toString(16).padStart(8, "0"), "mode field");
  t.equal(buf.subarray(54, 62).toString(), "00000005", "filesize field");
  t.equal(buf.subarray(94, 102).toString(), "00000005", "namesize counts the NUL");
  t.equal(buf.subarray(110, 115).toString(), "init\0");
  t.equal(buf.subarray(116, 121).toString(), "abcde", "data starts at the next multiple of 4");
  t.equal(buf.length % 4, 0);
  t.match(buf.toString("latin1"), /TRAILER!!!\0/);
});

t.test("paths with .. are refused", async (t) => {
  t.throws(() => writeCpio([{ type: "dir", path: "a/../b" }]), /\.\./);
  t.throws(
    () =>
      writeCpio([
        { type: "dir", path: "a" },
        { type: "dir", path: "/a/" },
      ]),
    /duplicate/,
  );
});

t.test("withParentDirs adds each missing parent once, before its children", async (t) => {
  const got = withParentDirs([
    { type: "file", path: "kharness/bin/a", data: Buffer.alloc(0) },
    { type: "file", path: "kharness/bin/b", data: Buffer.alloc(0) },
    { type: "dir", path: "kharness" },
  ]).map((e) => `${e.type}:${e.path}`);
  t.same(got, ["dir:kharness", "dir:kharness/bin", "file:kharness/bin/a", "file:kharness/bin/b"]);
});

t.test("cpio(1) lists and extracts exactly what was written", { skip: haveCpio ? false : "cpio(1) not installed" }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "kh-cpio-"));
  const archive = join(dir, "a.cpio");
  const payload = Buffer.from(Array.from({ length: 1001 }, (_, i) => i % 251));
  writeFileSync(
    archive,
    Buffer.concat(
      writeCpio(
        withParentDirs([
          { type: "file", path: "init", mode: 0o755, data: Buffer.from("#!x\n") },
          { type: "file", path: "kharness/bin/prog", mode: 0o755, data: payload },
          { type: "symlink", path: "kharness/link", target: "bin/prog" },
          { type: "file", path: "kharness/empty", data: Buffer.alloc(0) },
        ]),
      ),
    ),
  );
  const listing = execFileSync("cpio", ["-t", "--quiet", "-F", archive], { encoding: "utf8" }).trim().split("\n");
  t.same(listing, ["init", "kharness", "kharness/bin", "kharness/bin/prog", "kharness/link", "kharness/empty"]);
  const out = join(dir, "x");
  execFileSync("sh", ["-c", `mkdir -p '${out}' && cd '${out}' && cpio -idm --quiet -F '${archive}'`]);
  t.same(readFileSync(join(out, "kharness/bin/prog")), payload);
  t.equal(statSync(join(out, "init")).mode & 0o777, 0o755);
  t.equal(readlinkSync(join(out, "kharness/link")), "bin/prog");
  t.equal(statSync(join(out, "kharness/empty")).size, 0);
});

t.test("the results stage's cpio reader finds what the writer wrote (a run directory is re-read from its initramfs)", async (t) => {
  const odd = Buffer.from("x".repeat(7));
  const buf = Buffer.concat(
    writeCpio(
      withParentDirs([
        { type: "file", path: "init", mode: 0o755, data: Buffer.from("abcde") },
        { type: "file", path: "kharness/manifest", data: Buffer.from("net_abi\t/kharness/bin/net_abi\t45\t-\n") },
        { type: "file", path: "kharness/bin/odd", data: odd },
      ]),
    ),
  );
  t.equal(Buffer.from(readCpioEntry(buf, "init") ?? []).toString(), "abcde");
  t.equal(Buffer.from(readCpioEntry(buf, "kharness/manifest") ?? []).toString(), "net_abi\t/kharness/bin/net_abi\t45\t-\n");
  t.same(Buffer.from(readCpioEntry(buf, "kharness/bin/odd") ?? []), odd, "data not a multiple of 4 bytes");
  t.equal(readCpioEntry(buf, "kharness/none"), undefined, "a missing file");
  t.equal(readCpioEntry(Buffer.from("not an archive at all, but long enough to hold a header".repeat(3)), "init"), undefined, "not newc");
});
