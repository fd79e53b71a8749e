// Architecture profiles as data: everything that differs per architecture (kbuild ARCH and image, the ELF machine of
// guest programs, the toolchain, the QEMU binary, machine, devices and CPU model). Stages receive one as a parameter.

/** One QEMU machine configuration that can boot our guests. */
export interface MachineProfile {
  /** Short name used in reports and BootResult.machine. */
  name: string;
  /** The `-M` value. */
  machine: string;
  /** Firmware passed with `-bios` (undefined = QEMU's default for the machine). */
  bios?: string;
  /** How virtio devices attach: a PCI bus, or virtio-mmio (needs CONFIG_VIRTIO_MMIO in the guest). */
  virtioTransport: "pci" | "mmio";
  /** Kernel arguments this machine needs, each with why. */
  cmdline: readonly KernelArg[];
  /**
   * Set when the guest must be told the host's TSC rate: the argv builder then adds `tsc_early_khz=<rate>`
   * with this why, from the rate the boot is given (qemu/host-tsc.ts).
   */
  hostTscArg?: { why: string };
}

/** One kernel command-line argument and the reason it is there. */
export interface KernelArg {
  arg: string;
  why: string;
}

export interface ArchProfile {
  /** The name kharness uses for it (reports, messages). */
  arch: string;
  /** kbuild's ARCH= for this architecture. */
  linuxArch: string;
  /** Its directory under arch/ in a kernel source tree (the only one a build of it reads). */
  srcArch: string;
  /** The bootable image: the make target that builds it, and where it lands in the build directory (O=). */
  kernelImage: { target: string; pathInBuild: string };
  /** The ELF machine of programs the guest can run (e_machine), and its name in messages. */
  elfMachine: { value: number; name: string };
  /**
   * The toolchain for guest programs and kernels: kbuild's CROSS_COMPILE prefix ("" = the host's gcc) and the
   * static libc that bundled programs link against.
   */
  toolchain: { crossCompile: string; staticLibc: string };
  qemuBinary: string;
  /** Candidates in order of preference; the first is the default (see `machine` in ARCH_PROFILES). */
  machines: readonly MachineProfile[];
  /** Device the kernel log is written to; `console=` names it. */
  consoleDevice: string;
  /** Kernel arguments every machine of this architecture needs (its legacy devices), each with why. */
  cmdline: readonly KernelArg[];
  /** virtio-serial controller per transport. */
  virtioSerialDevice: { pci: string; mmio: string };
  /** CPU model per accelerator: the host's CPU under KVM, everything TCG can emulate otherwise. */
  cpu: { kvm: string; tcg: string };
  memoryMiB: number;
  /** vCPUs per accelerator: under TCG one vCPU boots faster and leaves host cores to QEMU's I/O thread. */
  smp: { kvm: number; tcg: number };
  /**
   * How much slower guests run per accelerator; the pipeline multiplies per-test and boot timeouts by it.
   * TCG runs kernel code about 5-10x slower than KVM; tests are mostly syscalls, hence 3.
   */
  timeoutScale: { kvm: number; tcg: number };
  /** Seconds without any console output, result or heartbeat before the guest counts as stuck. */
  idleTimeoutSec: { kvm: number; tcg: number };
  /**
   * The kernel's COMMAND_LINE_SIZE: bytes of command line it keeps, the terminating NUL included. A longer
   * line is not an error anywhere in the boot, so kharness refuses a too long --append itself.
   */
  commandLineSize: number;
}

/**
 * x86_64 machines, default first. `pc` boots every kernel; harness/qemu/machine-choice.ts picks `microvm`
 * instead for kernels kharness built from a tree (virtio-mmio and its console built in) under TCG when the
 * host's TSC rate is known. The others stay for vm/measure-boot.sh style comparisons and replays.
 * Measured with vm/measure-boot.sh (Debian 6.12 cloud kernel, TCG, a host with load 15-20): `pc` 47 boots,
 * 0 hangs (1 early exit of unknown cause, console not kept); `microvm,pcie=on` 19 boots, 18 hangs at TSC
 * calibration (no PIT or HPET to calibrate against); with `tsc_early_khz=<host rate>` 31 boots, 1 hang; pc
 * with qboot 31 boots, 0 hangs, 1 early exit. Boot times were within noise of each other for that kernel.
 * Issue 16 (50 boots each, boot-to-first-test medians, vm/boot-times-*.txt): Debian's kernel 5.7-5.8 s on
 * pc, pc-qboot and microvm-pcie with tsc_early_khz, 0 hangs each; our tinyconfig kernel 2.65 s on pc, 1.99 s
 * on microvm (virtio-mmio) with tsc_early_khz, 0 hangs, but 14 hangs in 19 without it. Through the pipeline
 * itself (`kharness run --tree`, vm/boot-times-ours-pipeline.txt): 160 boots per machine, 60 of them two at once,
 * 0 hangs on either; medians 1.76 s on microvm vs 2.14 s on pc alone, 2.10 s vs 2.40 s two at once.
 */
const X86_64_MACHINES: readonly MachineProfile[] = [
  {
    name: "pc",
    machine: "pc",
    virtioTransport: "pci",
    cmdline: [
      {
        arg: "no_timer_check",
        why: "under TCG on a loaded host the IO-APIC timer check can miss ticks and panic or reboot the guest at boot; the emulated timer needs no check",
      },
    ],
  },
  {
    name: "microvm",
    // No PCI bus; QEMU describes the virtio-mmio devices in ACPI tables (it adds `virtio_mmio.device=` to the
    // command line only with ACPI off), so the kernel needs VIRTIO_MMIO and ACPI built in (machine-choice.ts).
    machine: "microvm",
    virtioTransport: "mmio",
    cmdline: [],
    hostTscArg: {
      why: "microvm has no PIT or HPET to calibrate the TSC against (without it most TCG boots hang at calibration); under TCG the guest's TSC is the host's, so its rate is the host's",
    },
  },
  {
    name: "pc-qboot",
    machine: "pc",
    // qboot skips SeaBIOS' device scan and option-ROM boot path.
    bios: "qboot.rom",
    virtioTransport: "pci",
    cmdline: [],
  },
  {
    name: "microvm-pcie",
    // pcie=on gives microvm a PCIe host bridge, so virtio-pci works with kernels whose VIRTIO_MMIO is a module.
    machine: "microvm,pcie=on",
    virtioTransport: "pci",
    cmdline: [],
    hostTscArg: {
      why: "microvm has no PIT or HPET to calibrate the TSC against; under TCG the guest's TSC is the host's",
    },
  },
];

export const X86_64: ArchProfile = {
  arch: "x86_64",
  // ARCH=x86_64 (not x86) makes 64BIT the only choice, even under tinyconfig.
  linuxArch: "x86_64",
  srcArch: "x86",
  kernelImage: { target: "bzImage", pathInBuild: "arch/x86/boot/bzImage" },
  elfMachine: { value: 0x3e, name: "x86-64" },
  toolchain: { crossCompile: "", staticLibc: "/usr/lib/x86_64-linux-gnu/libc.a" },
  qemuBinary: "qemu-system-x86_64",
  machines: X86_64_MACHINES,
  consoleDevice: "ttyS0",
  cmdline: [
    { arg: "i8042.noaux", why: "no PS/2 mouse probing: it waits on timeouts that are long under TCG" },
    { arg: "i8042.nopnp", why: "with -nodefaults there is no keyboard controller worth probing via PnP" },
    { arg: "8250.nr_uarts=1", why: "probe only the one serial port we attach" },
  ],
  virtioSerialDevice: { pci: "virtio-serial-pci", mmio: "virtio-serial-device" },
  cpu: { kvm: "host", tcg: "max" },
  memoryMiB: 1024,
  smp: { kvm: 2, tcg: 1 },
  timeoutScale: { kvm: 1, tcg: 3 },
  idleTimeoutSec: { kvm: 20, tcg: 30 },
  // arch/x86/include/asm/setup.h; the boot protocol's cmdline_size field says 2047 (without the NUL).
  commandLineSize: 2048,
};

/** Profiles by architecture name. */
export const ARCH_PROFILES: Readonly<Record<string, ArchProfile>> = { x86_64: X86_64 };

/** The machine a profile boots by default: its first candidate. */
export function defaultMachine(profile: ArchProfile): MachineProfile {
  const m = profile.machines[0];
  if (!m) throw new Error(`profile ${profile.arch} lists no machines`);
  return m;
}

/** Finds a machine candidate of a profile by name. */
export function findMachine(profile: ArchProfile, name: string): MachineProfile | undefined {
  return profile.machines.find((m) => m.name === name);
}

/** Factor by which timeouts grow under an accelerator. */
export function timeoutScale(profile: ArchProfile, accel: "kvm" | "tcg"): number {
  return profile.timeoutScale[accel];
}
