// Pure tests of the QEMU argv builder: flag groups, kernel command line order, port backends.
import t from "tap";
import {
  appendTooLong,
  appendTooLongOnAnyMachine,
  buildQemuArgv,
  kernelCmdline,
  machineArgs,
  renderCmdline,
  renderReplayScript,
  REPLAY_PORTS,
  shellQuote,
  virtioPortArgs,
  withHostTsc,
  type QemuArgvOpts,
} from "./argv.js";
import { defaultMachine, findMachine, timeoutScale, X86_64 } from "./profiles.js";

const base: QemuArgvOpts = {
  profile: X86_64,
  machine: defaultMachine(X86_64),
  accel: "tcg",
  kernelPath: "/k/vmlinuz",
  initrdPath: "/r/initramfs.cpio",
  append: [],
  ports: { kind: "socket", results: "/s/results.sock", control: "/s/control.sock" },
};

function after(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

t.test("the default x86_64 boot: pc, TCG with -cpu max, no NIC, no defaults, no reboot", async (t) => {
  const argv = buildQemuArgv(base);
  t.equal(argv[0], "qemu-system-x86_64");
  t.equal(after(argv, "-M"), "pc");
  t.equal(after(argv, "-accel"), "tcg");
  t.equal(after(argv, "-cpu"), "max");
  t.equal(after(argv, "-smp"), "1");
  t.equal(after(argv, "-nic"), "none");
  t.equal(after(argv, "-display"), "none");
  t.ok(argv.includes("-nodefaults"));
  t.ok(argv.includes("-no-reboot"));
  t.notOk(argv.includes("-bios"), "pc uses QEMU's own firmware");
  t.equal(after(argv, "-kernel"), "/k/vmlinuz");
  t.equal(after(argv, "-initrd"), "/r/initramfs.cpio");
  t.equal(after(argv, "-serial"), "chardev:con0");
  t.ok(argv.includes("stdio,id=con0,signal=off"));
});

t.test("KVM uses the host CPU and two vCPUs", async (t) => {
  const argv = machineArgs({ ...base, accel: "kvm" });
  t.same(argv, ["-M", "pc", "-accel", "kvm", "-cpu", "host", "-m", "1024", "-smp", "2"]);
});

t.test("machines that name firmware get -bios from the firmware directory", async (t) => {
  const m = findMachine(X86_64, "pc-qboot");
  t.ok(m);
  t.same(machineArgs({ ...base, machine: m! }).slice(-2), ["-bios", "qboot.rom"]);
  t.same(machineArgs({ ...base, machine: m!, firmwareDir: "/opt/fw/" }).slice(-2), ["-bios", "/opt/fw/qboot.rom"]);
});

t.test("kernel command line: console first, every argument explained, --append last", async (t) => {
  const args = kernelCmdline(X86_64, base.machine, ["lsm=yama", "loglevel=8"]);
  t.equal(args[0]?.arg, "console=ttyS0");
  for (const a of args) t.ok(a.why.length > 5, `${a.arg} says why`);
  t.same(
    args.slice(-2).map((a) => a.arg),
    ["lsm=yama", "loglevel=8"],
  );
  const line = after(buildQemuArgv({ ...base, append: ["lsm=yama"] }), "-append") ?? "";
  t.match(line, /^console=ttyS0 panic=-1 rdinit=\/init .* lsm=yama$/);
  t.match(line, /printk\.devkmsg=on/);
});

t.test("virtio ports: pci controller, named ports, socket or file backends", async (t) => {
  const sock = virtioPortArgs(X86_64, base.machine, base.ports);
  t.same(sock, [
    "-device",
    "virtio-serial-pci,id=vser0",
    "-chardev",
    "socket,id=results,path=/s/results.sock",
    "-device",
    "virtserialport,bus=vser0.0,chardev=results,name=org.kharness.results",
    "-chardev",
    "socket,id=control,path=/s/control.sock",
    "-device",
    "virtserialport,bus=vser0.0,chardev=control,name=org.kharness.control",
  ]);
  const file = virtioPortArgs(X86_64, base.machine, { kind: "file", results: "/r/res.log", control: "/r/ctl.log" });
  t.equal(file[3], "file,id=results,path=/r/res.log");
  const mmio = virtioPortArgs(X86_64, { ...base.machine, virtioTransport: "mmio" }, base.ports);
  t.equal(mmio[1], "virtio-serial-device,id=vser0");
});

t.test("a comma in a port path is refused (QEMU would read it as another option)", async (t) => {
  t.throws(() => buildQemuArgv({ ...base, ports: { kind: "socket", results: "/a,b/r.sock", control: "/c.sock" } }), /comma/);
});

t.test("shellQuote leaves plain words alone and quotes the rest", async (t) => {
  t.equal(shellQuote(["qemu", "-append", "console=ttyS0 panic=-1", "it's"]), `qemu -append 'console=ttyS0 panic=-1' 'it'\\''s'`);
});

t.test("TCG scales timeouts, KVM does not", async (t) => {
  t.equal(timeoutScale(X86_64, "kvm"), 1);
  t.ok(timeoutScale(X86_64, "tcg") > 1);
});

t.test("--append may fill the kernel command line to COMMAND_LINE_SIZE - 1 bytes, not one more", async (t) => {
  const machine = defaultMachine(X86_64);
  const ours = Buffer.byteLength(renderCmdline(kernelCmdline(X86_64, machine, [])));
  const room = X86_64.commandLineSize - 1 - ours - 1; // one space joins ours and the user's
  t.equal(appendTooLong(X86_64, machine, [`x=${"y".repeat(room - 2)}`]), undefined, "exactly full fits");
  t.match(appendTooLong(X86_64, machine, [`x=${"y".repeat(room - 1)}`]), /would be 2048 bytes, but x86_64 kernels keep at most 2047/);
  t.match(
    appendTooLong(X86_64, machine, [`x=${"\u00e9".repeat(Math.floor(room / 2) + 1)}`]),
    /would be \d+ bytes/,
    "counted in bytes: in characters it would fit",
  );
});

t.test("replay.sh: the run's argv with ports on files, extra QEMU options and stdin from /dev/null", async (t) => {
  const argv = buildQemuArgv({ ...base, initrdPath: "initramfs.cpio", ports: REPLAY_PORTS });
  const script = renderReplayScript(argv, kernelCmdline(X86_64, defaultMachine(X86_64), ["lsm=yama"]));
  t.match(script, /^#!\/bin\/sh\n/);
  t.match(script, /\n# {3}lsm=yama: user --append\n/, "the command line's reasons are kept as comments");
  t.match(script, /\ncd "\$\(dirname "\$0"\)"\nmkdir -p replay\n/);
  const exec = script.split("\n").find((l) => l.startsWith("exec "));
  t.equal(exec, `exec ${shellQuote(argv)} "$@" </dev/null`);
  t.match(exec, /-chardev file,id=results,path=replay\/results\.log .*-chardev file,id=control,path=replay\/control\.log/);
});

t.test("microvm: -M microvm, virtio-mmio devices, tsc_early_khz with the host's rate and its why", async (t) => {
  const microvm = findMachine(X86_64, "microvm");
  if (!microvm) throw new Error("x86_64 has no microvm machine");
  const argv = buildQemuArgv({ ...base, machine: microvm, hostTscKhz: 2599998, append: ["lsm=yama"], rootfsDisk: "/o/rootfs.qcow2" });
  t.equal(after(argv, "-M"), "microvm");
  t.notOk(argv.includes("-bios"), "QEMU's own microvm firmware");
  const devices = argv.flatMap((a, i) => (argv[i - 1] === "-device" ? [a.split(",")[0]] : []));
  t.same(devices, ["virtio-serial-device", "virtserialport", "virtserialport", "virtio-blk-device"], "no PCI device on a machine without PCI");
  const line = after(argv, "-append") ?? "";
  t.match(line, / tsc_early_khz=2599998 kharness\.rootfs=\/dev\/vda lsm=yama$/, "before the rootfs and the user's --append, so theirs still wins");
  t.notMatch(line, /no_timer_check/, "pc's own argument stays on pc");
  const tsc = kernelCmdline(X86_64, microvm, [], 2599998).find((a) => a.arg.startsWith("tsc_early_khz="));
  t.match(tsc?.why, /PIT or HPET/);
});

t.test("microvm without the host's TSC rate is refused; pc never gets tsc_early_khz", async (t) => {
  const microvm = findMachine(X86_64, "microvm");
  if (!microvm) throw new Error("x86_64 has no microvm machine");
  t.throws(() => buildQemuArgv({ ...base, machine: microvm }), /needs the host's TSC rate/);
  t.throws(() => kernelCmdline(X86_64, microvm, [], 0), /positive integer/);
  t.notMatch(after(buildQemuArgv({ ...base, hostTscKhz: 2599998 }), "-append") ?? "", /tsc_early_khz/);
});

t.test("--append is checked against the machine with the least room: microvm with the longest TSC rate", async (t) => {
  const microvm = findMachine(X86_64, "microvm");
  if (!microvm) throw new Error("x86_64 has no microvm machine");
  const ours = Buffer.byteLength(renderCmdline(kernelCmdline(X86_64, microvm, [], 99_999_999)));
  const room = X86_64.commandLineSize - 1 - ours - 1;
  t.equal(appendTooLongOnAnyMachine(X86_64, [`x=${"y".repeat(room - 2)}`]), undefined, "exactly full on the tightest machine fits");
  const pcFits = appendTooLong(X86_64, defaultMachine(X86_64), [`x=${"y".repeat(room - 1)}`]);
  t.equal(pcFits, undefined, "one byte more still fits pc (shorter command line)");
  t.match(appendTooLongOnAnyMachine(X86_64, [`x=${"y".repeat(room - 1)}`]), /would be 2048 bytes/, "but not every machine the run may boot");
});

t.test("machine names are unique and pc is the default", async (t) => {
  const names = X86_64.machines.map((m) => m.name);
  t.same(new Set(names).size, names.length);
  t.equal(defaultMachine(X86_64).name, "pc");
});

t.test("withHostTsc: microvm resolved once gives the same argv as the rate passed to the builder", async (t) => {
  const microvm = findMachine(X86_64, "microvm");
  if (!microvm) throw new Error("x86_64 has no microvm machine");
  const resolved = withHostTsc(microvm, 2599998);
  t.equal(resolved.hostTscArg, undefined, "no rate left to ask for");
  t.same(buildQemuArgv({ ...base, machine: resolved }), buildQemuArgv({ ...base, machine: microvm, hostTscKhz: 2599998 }));
  t.equal(withHostTsc(defaultMachine(X86_64), undefined), defaultMachine(X86_64), "pc needs no rate and stays as it is");
  t.throws(() => withHostTsc(microvm, undefined), /needs the host's TSC rate/);
});
