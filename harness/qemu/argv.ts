// Pure QEMU argv builder: one small function per group of flags, composed by buildQemuArgv.

import type { ArchProfile, KernelArg, MachineProfile } from "./profiles.js";

/** Port names the guest init looks for (docs/guest-protocol.md). */
export const RESULTS_PORT = "org.kharness.results";
export const CONTROL_PORT = "org.kharness.control";

/**
 * Where the two virtio ports lead on the host: unix sockets the host listens on (QEMU connects at start,
 * so the guest never writes to an unconnected port), or plain files (benchmarks, manual runs).
 */
export type PortBackend = { kind: "socket"; results: string; control: string } | { kind: "file"; results: string; control: string };

export interface QemuArgvOpts {
  profile: ArchProfile;
  machine: MachineProfile;
  accel: "kvm" | "tcg";
  kernelPath: string;
  initrdPath: string;
  /** The user's --append arguments; they go last so they override ours. */
  append: readonly string[];
  ports: PortBackend;
  /** Directory holding firmware named by MachineProfile.bios (default: QEMU looks in its own data directory). */
  firmwareDir?: string;
  memoryMiB?: number;
  smp?: number;
  /** --rootfs: the run's qcow2 overlay, attached as a virtio disk that init mounts (docs/rootfs.md). */
  rootfsDisk?: string;
  /** The host's TSC rate in kHz, for a machine with hostTscArg (required there). */
  hostTscKhz?: number;
}

/** Machine, accelerator, CPU, memory and vCPUs. */
export function machineArgs(o: Pick<QemuArgvOpts, "profile" | "machine" | "accel" | "memoryMiB" | "smp" | "firmwareDir">): string[] {
  const argv = ["-M", o.machine.machine, "-accel", o.accel, "-cpu", o.profile.cpu[o.accel]];
  argv.push("-m", String(o.memoryMiB ?? o.profile.memoryMiB), "-smp", String(o.smp ?? o.profile.smp[o.accel]));
  // A bare firmware name is looked up in QEMU's data directory, wherever the distribution put it.
  if (o.machine.bios) argv.push("-bios", o.firmwareDir ? joinPath(o.firmwareDir, o.machine.bios) : o.machine.bios);
  return argv;
}

/** Everything QEMU would add on its own and we do not want: default devices, a NIC, a display, reboots. */
export function isolationArgs(): string[] {
  return [
    "-nodefaults", // no default VGA, floppy, CD-ROM, monitor or serial: we add exactly what we need
    "-no-reboot", // a guest reboot (panic=-1, triple fault) ends QEMU instead of booting again
    "-display",
    "none",
    "-nic",
    "none", // tests use loopback in their own network namespaces
  ];
}

/**
 * The kernel command line, each argument with why; the user's --append goes last because the kernel
 * lets a later `key=value` override an earlier one. A machine with hostTscArg needs hostTscKhz.
 */
export function kernelCmdline(profile: ArchProfile, machine: MachineProfile, append: readonly string[], hostTscKhz?: number): KernelArg[] {
  return [
    { arg: `console=${profile.consoleDevice}`, why: "the kernel log goes to the serial port, which the host saves as console.log" },
    { arg: "panic=-1", why: "reboot at once on panic; with -no-reboot QEMU exits, so a panic ends the run in about a second" },
    { arg: "rdinit=/init", why: "run our static init from the initramfs; there is no root disk" },
    { arg: "loglevel=6", why: "show WARNING/Oops/BUG/KASAN (levels 0-4) and our notice-level kmsg markers, not boot chatter" },
    { arg: "printk.devkmsg=on", why: "test-start/end markers written to /dev/kmsg must not be rate-limited away" },
    { arg: "printk.time=1", why: "timestamps let the report place kernel events in time" },
    { arg: "mitigations=off", why: "speculation mitigations only slow an emulated or throwaway test guest down" },
    ...profile.cmdline,
    ...machine.cmdline,
    ...hostTscArgs(machine, hostTscKhz),
    ...append.map((arg) => ({ arg, why: "user --append" })),
  ];
}

/** `tsc_early_khz=` for a machine that needs the host's TSC rate (none for the others). */
export function hostTscArgs(machine: MachineProfile, hostTscKhz: number | undefined): KernelArg[] {
  if (!machine.hostTscArg) return [];
  if (hostTscKhz === undefined || !Number.isInteger(hostTscKhz) || hostTscKhz <= 0)
    throw new Error(`machine ${machine.name} needs the host's TSC rate in kHz (a positive integer), got ${hostTscKhz}`);
  return [{ arg: `tsc_early_khz=${hostTscKhz}`, why: machine.hostTscArg.why }];
}

/**
 * The machine with the host's TSC rate filled in: its `tsc_early_khz=` among its own arguments and no rate left to
 * ask for (a machine that needs none is returned as it is). A boot resolves its machine once with this.
 */
export function withHostTsc(machine: MachineProfile, hostTscKhz: number | undefined): MachineProfile {
  if (!machine.hostTscArg) return machine;
  const { hostTscArg: _needs, ...rest } = machine;
  return { ...rest, cmdline: [...machine.cmdline, ...hostTscArgs(machine, hostTscKhz)] };
}

/** The command line as the kernel receives it. */
export function renderCmdline(cmdline: readonly KernelArg[]): string {
  return cmdline.map((a) => a.arg).join(" ");
}

/**
 * Why the user's --append cannot go on this profile's kernel command line (undefined when it fits): the
 * kernel keeps COMMAND_LINE_SIZE bytes with the NUL, and a longer line fails no step of the boot visibly.
 */
export function appendTooLong(profile: ArchProfile, machine: MachineProfile, append: readonly string[], hostTscKhz?: number): string | undefined {
  const ours = Buffer.byteLength(renderCmdline(kernelCmdline(profile, machine, [], hostTscKhz)));
  const total = Buffer.byteLength(renderCmdline(kernelCmdline(profile, machine, append, hostTscKhz)));
  const max = profile.commandLineSize - 1;
  if (total <= max) return undefined;
  return `--append: the kernel command line would be ${total} bytes, but ${profile.arch} kernels keep at most ${max} (COMMAND_LINE_SIZE ${profile.commandLineSize} with the terminating NUL), and kharness's own arguments take ${ours}; shorten --append to at most ${Math.max(0, max - ours - 1)} bytes`;
}

/** A TSC rate no host reaches (99.9 GHz), so the length checked before the rate is read is the longest. */
const WORST_CASE_TSC_KHZ = 99_999_999;

/**
 * appendTooLong for the machine with the least room left, since the machine is chosen after validation
 * (harness/qemu/machine-choice.ts): an --append that fits it fits every machine the run may boot.
 */
export function appendTooLongOnAnyMachine(profile: ArchProfile, append: readonly string[]): string | undefined {
  const ours = (m: MachineProfile) => Buffer.byteLength(renderCmdline(kernelCmdline(profile, m, [], m.hostTscArg ? WORST_CASE_TSC_KHZ : undefined)));
  const tightest = [...profile.machines].sort((a, b) => ours(b) - ours(a))[0];
  return tightest ? appendTooLong(profile, tightest, append, tightest.hostTscArg ? WORST_CASE_TSC_KHZ : undefined) : undefined;
}

/** Kernel image, initramfs and the command line. */
export function kernelArgs(kernelPath: string, initrdPath: string, cmdline: readonly KernelArg[]): string[] {
  return ["-kernel", kernelPath, "-initrd", initrdPath, "-append", renderCmdline(cmdline)];
}

/**
 * The serial console on QEMU's stdout: a run makes that stdout console.log itself (qemu/boot.ts reads the file as
 * it grows), replay.sh leaves it on the terminal; signal=off keeps a Ctrl-C on the terminal from going to the guest.
 */
export function serialArgs(): string[] {
  return ["-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0"];
}

/** One virtio-serial controller with the results and control ports. */
export function virtioPortArgs(profile: ArchProfile, machine: MachineProfile, ports: PortBackend): string[] {
  const chardev = (id: string, p: string) => (ports.kind === "socket" ? `socket,id=${id},path=${p}` : `file,id=${id},path=${p}`);
  return [
    "-device",
    `${profile.virtioSerialDevice[machine.virtioTransport]},id=vser0`,
    "-chardev",
    chardev("results", ports.results),
    "-device",
    `virtserialport,bus=vser0.0,chardev=results,name=${RESULTS_PORT}`,
    "-chardev",
    chardev("control", ports.control),
    "-device",
    `virtserialport,bus=vser0.0,chardev=control,name=${CONTROL_PORT}`,
  ];
}

/** Where the guest finds the --rootfs disk: the first virtio disk. */
export const ROOTFS_GUEST_DEVICE = "/dev/vda";

/** The --rootfs overlay as a virtio disk on the machine's transport, and the kernel argument that tells init to mount it. */
export function rootfsDiskArgs(overlay: string, machine: MachineProfile): { argv: string[]; cmdline: KernelArg } {
  // QEMU's option parser splits on commas; a path with one would silently become another option.
  if (overlay.includes(",")) throw new Error(`rootfs overlay path must not contain a comma: ${overlay}`);
  return {
    argv: [
      "-drive",
      // The overlay is thrown away after the run: flushes need not reach the host's disk.
      `file=${overlay},format=qcow2,if=none,id=rootfs,cache=unsafe`,
      "-device",
      `${machine.virtioTransport === "pci" ? "virtio-blk-pci" : "virtio-blk-device"},drive=rootfs`,
    ],
    cmdline: { arg: `kharness.rootfs=${ROOTFS_GUEST_DEVICE}`, why: "init mounts this disk (the --rootfs overlay) and runs every program chrooted in it" },
  };
}

/** kernelCmdline plus, with a --rootfs disk, the argument that tells init to mount it (before the user's --append, so a later word of theirs still wins). */
export function bootCmdline(profile: ArchProfile, machine: MachineProfile, append: readonly string[], rootfsDisk?: string, hostTscKhz?: number): KernelArg[] {
  const cmdline = kernelCmdline(profile, machine, append, hostTscKhz);
  if (rootfsDisk) cmdline.splice(cmdline.length - append.length, 0, rootfsDiskArgs(rootfsDisk, machine).cmdline);
  return cmdline;
}

/** The whole argv, binary first. */
export function buildQemuArgv(o: QemuArgvOpts): string[] {
  for (const p of [o.ports.results, o.ports.control]) {
    // QEMU's option parser splits on commas; a path with one would silently become another option.
    if (p.includes(",")) throw new Error(`port path must not contain a comma: ${p}`);
  }
  const disk = o.rootfsDisk ? rootfsDiskArgs(o.rootfsDisk, o.machine) : undefined;
  const cmdline = bootCmdline(o.profile, o.machine, o.append, o.rootfsDisk, o.hostTscKhz);
  return [
    o.profile.qemuBinary,
    ...machineArgs(o),
    ...isolationArgs(),
    ...kernelArgs(o.kernelPath, o.initrdPath, cmdline),
    ...serialArgs(),
    ...virtioPortArgs(o.profile, o.machine, o.ports),
    ...(disk?.argv ?? []),
  ];
}

/** Quotes argv for a shell, so qemu-argv.txt can be pasted to reproduce a boot. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

/** Where replay.sh sends the two virtio ports, relative to the run directory (the run's sockets are gone). */
export const REPLAY_PORTS: PortBackend = { kind: "file", results: "replay/results.log", control: "replay/control.log" };

/**
 * replay.sh: boots the guest of a run again with `argv` (built with REPLAY_PORTS and paths relative to the
 * run directory where they lie inside it). The serial console comes out on stdout; stdin is /dev/null, so
 * QEMU leaves the terminal alone and Ctrl-C stops it; extra QEMU options may follow (e.g. -s -S for gdb).
 */
export function renderReplayScript(argv: readonly string[], why: readonly KernelArg[]): string {
  return [
    "#!/bin/sh",
    "# Boots this run's guest again: the same QEMU, kernel, initramfs, machine and kernel command line.",
    "# The run's port sockets are gone, so the results and control ports go to replay/results.log and",
    "# replay/control.log; the kernel log comes out on stdout. Extra QEMU options may follow, e.g.",
    "#   sh replay.sh -s -S     (wait for gdb on :1234)",
    "# Kernel command line:",
    ...why.map((a) => `#   ${a.arg}: ${a.why}`),
    "set -e",
    'cd "$(dirname "$0")"',
    "mkdir -p replay",
    `exec ${shellQuote(argv)} "$@" </dev/null`,
    "",
  ].join("\n");
}

function joinPath(dir: string, file: string): string {
  return file.startsWith("/") ? file : `${dir.replace(/\/+$/, "")}/${file}`;
}
