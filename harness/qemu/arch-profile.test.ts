// Architecture is data: with a second, made-up profile, the QEMU argv, the kbuild command line and the payload's
// program check follow that profile, and nothing of x86 leaks into them.

import t from "tap";
import { buildQemuArgv, kernelCmdline, renderCmdline } from "./argv.js";
import { defaultMachine, X86_64, type ArchProfile } from "./profiles.js";
import { kernelMakeArgv, targetCc } from "../kernel/tree-build.js";
import { checkStaticElf } from "../payload/elf.js";

/** A made-up architecture: every field differs from x86_64's. */
const FICT: ArchProfile = {
  arch: "fict64",
  linuxArch: "fictarch",
  srcArch: "fictarch",
  kernelImage: { target: "Image.fict", pathInBuild: "arch/fictarch/boot/Image.fict" },
  elfMachine: { value: 0x1234, name: "Fict-64" },
  toolchain: { crossCompile: "fict64-linux-gnu-", staticLibc: "/usr/fict64-linux-gnu/lib/libc.a" },
  qemuBinary: "qemu-system-fict64",
  machines: [{ name: "fictboard", machine: "fictboard,gic=3", virtioTransport: "mmio", cmdline: [{ arg: "fictboard.quiet=1", why: "test" }] }],
  consoleDevice: "ttyFICT0",
  cmdline: [{ arg: "fict.uarts=1", why: "test" }],
  virtioSerialDevice: { pci: "fict-virtio-serial-pci", mmio: "fict-virtio-serial-device" },
  cpu: { kvm: "host", tcg: "fict-cpu-max" },
  memoryMiB: 768,
  smp: { kvm: 4, tcg: 2 },
  timeoutScale: { kvm: 1, tcg: 7 },
  idleTimeoutSec: { kvm: 11, tcg: 13 },
  commandLineSize: 4096,
};

/** Anything of x86 (names, its devices, its image): none of it may appear for another architecture. */
const X86ISH = /x86|i8042|8250|ttyS0|bzImage|\bpc\b|qemu-system-x86/;

t.test("the QEMU argv comes from the profile: binary, machine, CPU, console, virtio transport, kernel arguments", async (t) => {
  const argv = buildQemuArgv({
    profile: FICT,
    machine: defaultMachine(FICT),
    accel: "tcg",
    kernelPath: "/k/Image.fict",
    initrdPath: "/r/initramfs.cpio",
    append: [],
    ports: { kind: "file", results: "/r/results.log", control: "/r/control.log" },
  });
  t.equal(argv[0], "qemu-system-fict64");
  t.same(argv.slice(argv.indexOf("-M"), argv.indexOf("-M") + 2), ["-M", "fictboard,gic=3"]);
  t.equal(argv[argv.indexOf("-cpu") + 1], "fict-cpu-max");
  t.equal(argv[argv.indexOf("-m") + 1], "768");
  t.equal(argv[argv.indexOf("-smp") + 1], "2");
  t.ok(argv.includes("fict-virtio-serial-device,id=vser0"), "virtio-mmio serial controller");
  const cmdline = argv[argv.indexOf("-append") + 1] ?? "";
  t.match(cmdline, /(^| )console=ttyFICT0( |$)/);
  t.match(cmdline, /(^| )fict\.uarts=1( |$)/, "the architecture's own arguments");
  t.match(cmdline, /(^| )fictboard\.quiet=1( |$)/, "the machine's own arguments");
  t.same(
    argv.filter((a) => X86ISH.test(a)),
    [],
    "nothing of x86 in the argv",
  );
  // And the real profile still gets its own: the same builder, x86's data.
  const x86 = renderCmdline(kernelCmdline(X86_64, defaultMachine(X86_64), []));
  t.match(x86, /console=ttyS0 .*i8042\.noaux i8042\.nopnp 8250\.nr_uarts=1/);
});

t.test("the kbuild command line names the profile's ARCH and cross compiler", async (t) => {
  const setup = { srcDir: "/src", buildDir: "/build", cc: "ccache gcc", jobs: 3, env: {}, profile: FICT };
  const argv = kernelMakeArgv(setup, [FICT.kernelImage.target], true);
  t.same(argv, [
    "make",
    "-C",
    "/src",
    "O=/build",
    "ARCH=fictarch",
    "CROSS_COMPILE=fict64-linux-gnu-",
    "CC=ccache fict64-linux-gnu-gcc",
    "HOSTCC=ccache gcc",
    "-j3",
    "Image.fict",
  ]);
  t.same(
    argv.filter((a) => X86ISH.test(a)),
    [],
  );
  t.equal(targetCc({ cc: "gcc", profile: FICT }), "fict64-linux-gnu-gcc");
  // x86_64 builds natively, as before.
  t.same(kernelMakeArgv({ ...setup, cc: "gcc", profile: X86_64 }, ["bzImage"], false), [
    "make",
    "-C",
    "/src",
    "O=/build",
    "ARCH=x86_64",
    "CC=gcc",
    "HOSTCC=gcc",
    "bzImage",
  ]);
});

/** The first 64 bytes of a static 64-bit little-endian ELF executable for one e_machine. */
function elfHead(machine: number): Buffer {
  const b = Buffer.alloc(64);
  b.write("\x7fELF", 0, "latin1");
  b[4] = 2; // ELFCLASS64
  b[5] = 1; // little-endian
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(machine, 18);
  b.writeBigUInt64LE(64n, 32); // e_phoff: no program headers follow (e_phnum 0)
  return b;
}

t.test("the payload's program check wants the profile's ELF machine", async (t) => {
  t.same(checkStaticElf(elfHead(0x1234), FICT.elfMachine), { ok: true });
  const x86Program = checkStaticElf(elfHead(0x3e), FICT.elfMachine);
  t.match(x86Program, { ok: false, problem: "built for ELF machine 62, not Fict-64", fix: "compile for Fict-64" });
  t.same(checkStaticElf(elfHead(0x3e), X86_64.elfMachine), { ok: true }, "an x86-64 program on the x86_64 profile");
  t.match(checkStaticElf(elfHead(0x1234), X86_64.elfMachine), { ok: false, problem: "built for ELF machine 4660, not x86-64" });
  t.notMatch(JSON.stringify(checkStaticElf(Buffer.from("hello"), FICT.elfMachine)), /x86/, "messages name the profile's machine");
});
