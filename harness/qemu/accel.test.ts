// Tests of the accelerator choice: the probe firmware, reading probe outcomes, caching, and --accel kvm failing fast.
import t, { type Test } from "tap";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { InfraError } from "../errors.js";
import { createExec, type Exec } from "../exec/exec.js";
import { accelCachePath, accelProbeArgv, accelProbeFirmware, judgeProbe, markKvmUnusable, PROBE_SUCCESS_EXIT, resolveAccel } from "./accel.js";
import { X86_64 } from "./profiles.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));

async function tmp(t: Test): Promise<string> {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), "kharness-accel-test-"));
  t.teardown(() => fs.rm(d, { recursive: true, force: true }));
  return d;
}

/** A fake QEMU as a shell script: `--version` prints a version, anything else runs `body`. */
async function fakeQemu(dir: string, body: string): Promise<string> {
  const p = path.join(dir, "qemu");
  await fs.writeFile(p, `#!/bin/sh\nif [ "$1" = --version ]; then echo "QEMU emulator version 9.9.9"; exit 0; fi\necho "$@" >> "${dir}/probes"\n${body}\n`, {
    mode: 0o755,
  });
  return p;
}

async function probes(dir: string): Promise<number> {
  return (await fs.readFile(path.join(dir, "probes"), "utf8").catch(() => "")).split("\n").filter(Boolean).length;
}

t.test("probe firmware: 64 KiB, reset vector jumps to the code at F000:0000", async (t) => {
  const fw = accelProbeFirmware();
  t.equal(fw.length, 0x10000);
  t.same([...fw.subarray(0xfff0, 0xfff5)], [0xea, 0x00, 0x00, 0x00, 0xf0], "ljmp F000:0000");
  t.equal(fw[0], 0xfa, "starts with cli");
});

t.test("probe firmware bytes match vm/accel-probe.S when binutils is installed", async (t) => {
  const exec = createExec();
  const dir = await tmp(t);
  const src = path.join(HERE, "..", "..", "vm", "accel-probe.S");
  const as = await exec.run(["as", "--64", "-o", path.join(dir, "p.o"), src]).catch(() => undefined);
  if (!as || as.exitCode !== 0) return t.skip("no assembler", () => undefined);
  const ld = await exec.run(["ld", "-m", "elf_x86_64", "-e", "0", "-Ttext=0", "--oformat", "binary", "-o", path.join(dir, "p.bin"), path.join(dir, "p.o")]);
  t.equal(ld.exitCode, 0);
  t.ok((await fs.readFile(path.join(dir, "p.bin"))).equals(accelProbeFirmware()));
});

t.test("the probe firmware really reaches long mode and exits 99 (under TCG)", async (t) => {
  const exec = createExec();
  const dir = await tmp(t);
  const fw = path.join(dir, "fw.bin");
  await fs.writeFile(fw, accelProbeFirmware());
  const argv = accelProbeArgv("qemu-system-x86_64", fw).map((a) => (a === "kvm" ? "tcg" : a === "host" ? "max" : a));
  const t0 = Date.now();
  const res = await exec.run(argv, { timeoutMs: 20_000 }).catch(() => undefined);
  if (!res) return t.skip("no qemu-system-x86_64", () => undefined);
  t.equal(res.exitCode, PROBE_SUCCESS_EXIT, `exit ${res.exitCode} in ${Date.now() - t0} ms`);
});

t.test("judgeProbe picks the telling line", async (t) => {
  t.same(judgeProbe(99, false, []), { usable: true, reason: "a probe guest ran under KVM" });
  const nested = judgeProbe(1, false, ["KVM internal error. Suberror: 1", "emulation failure", "EAX=00000000"]);
  t.equal(nested.usable, false);
  t.match(nested.reason, /QEMU exit 1\): KVM internal error\. Suberror: 1/);
  t.match(judgeProbe(0, false, []).reason, /triple fault/);
  t.match(judgeProbe(undefined, true, []).reason, /did not finish/);
  t.match(judgeProbe(1, false, ["qemu-system-x86_64: -accel kvm: failed to initialize kvm: Permission denied"]).reason, /failed to initialize kvm/);
});

t.test("tcg is taken as asked, without touching /dev/kvm or QEMU", async (t) => {
  const exec = { run: () => t.fail("must not run anything") } as unknown as Exec;
  t.same(await resolveAccel("tcg", { exec, cacheDir: "/nonexistent", profile: X86_64 }), { accel: "tcg", reason: "--accel tcg" });
});

t.test("no /dev/kvm: auto picks TCG, kvm fails with an InfraError saying why", async (t) => {
  const dir = await tmp(t);
  const deps = { exec: createExec(), cacheDir: dir, kvmDevice: path.join(dir, "no-kvm"), profile: X86_64 };
  const auto = await resolveAccel("auto", deps);
  t.equal(auto.accel, "tcg");
  t.match(auto.reason, /does not exist/);
  const t0 = Date.now();
  const err = await resolveAccel("kvm", deps).catch((e: unknown) => e);
  t.ok(err instanceof InfraError);
  t.match((err as Error).message, /KVM is unusable here: .*no-kvm does not exist/);
  t.ok(Date.now() - t0 < 3000);
});

t.test("a probe that dies like nested KVM: auto -> TCG, verdict cached, kvm fails fast with the probe's line", async (t) => {
  const dir = await tmp(t);
  const kvm = path.join(dir, "kvm");
  await fs.writeFile(kvm, "");
  const qemu = await fakeQemu(dir, `echo "KVM internal error. Suberror: 1" >&2; echo "emulation failure" >&2; exit 1`);
  const deps = { exec: createExec(), cacheDir: dir, kvmDevice: kvm, qemuBinary: qemu, hostRelease: "6.1.0-test", profile: X86_64 };
  const auto = await resolveAccel("auto", deps);
  t.equal(auto.accel, "tcg");
  t.match(auto.reason, /KVM internal error\. Suberror: 1/);
  t.equal(await probes(dir), 1);
  const cached = JSON.parse(await fs.readFile(accelCachePath(dir, "6.1.0-test", "QEMU emulator version 9.9.9"), "utf8"));
  t.equal(cached.usable, false);
  const err = await resolveAccel("kvm", deps).catch((e: unknown) => e);
  t.ok(err instanceof InfraError);
  t.match((err as Error).message, /KVM is unusable here: .*KVM internal error\. Suberror: 1.*cached verdict/);
  t.equal(await probes(dir), 1, "the second call used the cached verdict");
  // A different host kernel is probed again.
  await resolveAccel("auto", { ...deps, hostRelease: "6.2.0-test" });
  t.equal(await probes(dir), 2);
});

t.test("a probe that succeeds: auto -> KVM", async (t) => {
  const dir = await tmp(t);
  const kvm = path.join(dir, "kvm");
  await fs.writeFile(kvm, "");
  const qemu = await fakeQemu(dir, `exit ${PROBE_SUCCESS_EXIT}`);
  const got = await resolveAccel("auto", { exec: createExec(), cacheDir: dir, kvmDevice: kvm, qemuBinary: qemu, hostRelease: "r", profile: X86_64 });
  t.equal(got.accel, "kvm");
  t.match(got.reason, /probe guest ran under KVM \(probe took \d+ ms\)/);
});

t.test("a KVM failure seen in a real boot is remembered: auto picks TCG afterwards without probing", async (t) => {
  const dir = await tmp(t);
  const kvm = path.join(dir, "kvm");
  await fs.writeFile(kvm, "");
  const qemu = await fakeQemu(dir, `exit ${PROBE_SUCCESS_EXIT}`);
  const deps = { exec: createExec(), cacheDir: dir, kvmDevice: kvm, qemuBinary: qemu, hostRelease: "r", profile: X86_64 };
  t.equal((await resolveAccel("auto", deps)).accel, "kvm");
  await markKvmUnusable(deps, "KVM internal error. Suberror: 1 during a boot");
  const again = await resolveAccel("auto", deps);
  t.equal(again.accel, "tcg");
  t.match(again.reason, /during a boot/);
  t.equal(await probes(dir), 1);
});

t.test("on this host (real /dev/kvm, real QEMU): auto resolves quickly, kvm fails or works consistently", async (t) => {
  const dir = await tmp(t);
  const deps = { exec: createExec(), cacheDir: dir, profile: X86_64 };
  const t0 = Date.now();
  const auto = await resolveAccel("auto", deps);
  const ms = Date.now() - t0;
  t.ok(ms < 15_000, `auto took ${ms} ms: ${auto.accel} (${auto.reason})`);
  const kvm = await resolveAccel("kvm", deps).then(
    (c) => c.accel,
    (e: unknown) => (e instanceof InfraError ? "error" : "other"),
  );
  t.equal(kvm, auto.accel === "kvm" ? "kvm" : "error");
});
