// Process level, fault suite: QEMU missing or too old (KHARNESS_QEMU points at a stand-in): `kharness doctor`
// and `kharness run` both say how to install it, and run fails in seconds, before any kernel or payload work.
import t from "tap";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { runCli, tempDir } from "../support/cli-run.js";

const INSTALL = /apt-get install qemu-system-x86/;

async function oldQemu(): Promise<string> {
  const f = path.join(tempDir("kh-oldqemu-"), "qemu-system-x86_64");
  await fs.writeFile(
    f,
    '#!/bin/sh\necho "QEMU emulator version 4.2.0 (Debian 1:4.2-3)"\necho "Copyright (c) 2003-2019 Fabrice Bellard and the QEMU Project developers"\n',
    { mode: 0o755 },
  );
  return f;
}

t.test("run with QEMU missing: exit 3 within seconds, naming the binary and how to install it", async (t) => {
  const r = await runCli(["run", "--tests", "net_abi"], { env: { KHARNESS_QEMU: "/nonexistent/qemu-system-x86_64" } });
  t.equal(r.code, 3, r.stderr);
  t.match(r.stderr, /kharness: error: QEMU not found or not runnable: \/nonexistent\/qemu-system-x86_64/);
  t.match(r.stderr, INSTALL);
  t.ok(r.durationMs < 15000, `failed in ${r.durationMs} ms`);
  t.notMatch(r.stderr, /\] payload|\] boot/, "before the payload and boot stages");
});

t.test("run with QEMU too old (4.2): exit 3, says it is too old and how to install a newer one", async (t) => {
  const r = await runCli(["run", "--tests", "net_abi"], { env: { KHARNESS_QEMU: await oldQemu() } });
  t.equal(r.code, 3, r.stderr);
  t.match(r.stderr, /QEMU 4\.2 is too old; need 6\.0 or newer/);
  t.match(r.stderr, INSTALL);
  t.notMatch(r.stderr, /\] payload|\] boot/, "before the payload and boot stages");
});

t.test("doctor with QEMU missing and too old: FAIL line with the fix, exit 3", async (t) => {
  const missing = await runCli(["doctor"], { env: { KHARNESS_QEMU: "/nonexistent/qemu-system-x86_64" } });
  t.equal(missing.code, 3);
  t.match(missing.stdout, /^FAIL qemu\s+\/nonexistent\/qemu-system-x86_64 not found$/m);
  t.match(missing.stdout, /^\s+fix: apt-get install qemu-system-x86/m);
  const old = await runCli(["doctor"], { env: { KHARNESS_QEMU: await oldQemu() } });
  t.equal(old.code, 3);
  t.match(old.stdout, /^FAIL qemu\s+QEMU emulator version 4\.2\.0/m);
  t.match(old.stdout, /fix: QEMU 4\.2 is too old; need 6\.0 or newer: apt-get install qemu-system-x86/);
});

t.test("doctor with the real QEMU: the qemu line is ok", async (t) => {
  const r = await runCli(["doctor"]);
  t.match(r.stdout, /^ok\s+qemu\s+QEMU emulator version \d+/m);
});
