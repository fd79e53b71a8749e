// Pure tier: kselftest settings, the runner's test list, and telling static ELF programs from the rest.
import t from "tap";
import { elfKind, KSELFTEST_DEFAULT_TIMEOUT_SEC, parseKselftestList, parseSettingsTimeout } from "./kselftest.js";

t.test("parseSettingsTimeout reads timeout=N and falls back to the kselftest default", async (t) => {
  t.equal(parseSettingsTimeout("timeout=180\n"), 180);
  t.equal(parseSettingsTimeout("# slow\ntimeout = 0\n"), KSELFTEST_DEFAULT_TIMEOUT_SEC, "0 is not a usable timeout");
  t.equal(parseSettingsTimeout(undefined), 45);
  t.equal(parseSettingsTimeout("other=1\n"), 45);
});

t.test("parseKselftestList keeps one target's programs in order", async (t) => {
  t.same(parseKselftestList("landlock:base_test\nlandlock:fs_test\nnet:udpgso.sh\n", "landlock"), ["base_test", "fs_test"]);
});

/** A minimal ELF64 header with the given program header types. */
function elf(types: number[]): Buffer {
  const b = Buffer.alloc(64 + types.length * 56);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // ELFCLASS64
  b.writeBigUInt64LE(64n, 0x20);
  b.writeUInt16LE(56, 0x36);
  b.writeUInt16LE(types.length, 0x38);
  types.forEach((ty, i) => b.writeUInt32LE(ty, 64 + i * 56));
  return b;
}

t.test("elfKind: PT_INTERP means dynamic; scripts are not ELF", async (t) => {
  t.equal(elfKind(elf([6, 3, 1])), "dynamic");
  t.equal(elfKind(elf([1, 1, 4])), "static");
  t.equal(elfKind(Buffer.from("#!/bin/sh\necho hi\n".padEnd(80))), "not-elf");
});
