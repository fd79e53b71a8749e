// The host's TSC rate in kHz, for `tsc_early_khz=` on a microvm guest's command line: under TCG the guest's TSC
// is the host's (QEMU reads the host's counter), and microvm has no PIT or HPET the guest could calibrate it against.

import { promises as fs } from "node:fs";

/** Where the rate is read from; the texts are undefined when their file does not exist or cannot be read. */
export interface HostTscSources {
  /** /sys/devices/system/cpu/cpu0/tsc_freq_khz (kernels that know the rate exactly export it). */
  sysfsKhz?: string;
  /** /proc/cpuinfo. */
  cpuinfo?: string;
}

/** The rate and where it came from (shown in the machine choice's reason). */
export interface HostTsc {
  khz: number;
  source: string;
}

/**
 * The host's TSC rate, or undefined when it cannot be known with confidence. The sysfs file wins; otherwise
 * /proc/cpuinfo, and only for a TSC that ticks at one rate whatever the core clock and sleep state do
 * (`constant_tsc` and `nonstop_tsc`). Under a hypervisor (`hypervisor` flag) `cpu MHz` is the TSC rate it
 * gives the VM; on bare metal `cpu MHz` is the current, scaled core clock, so only the nominal rate in the
 * `model name` ("@ 2.60GHz", which Intel's constant TSC runs at) is taken, and without one there is no answer.
 */
export function parseHostTsc(src: HostTscSources): HostTsc | undefined {
  const sysfs = src.sysfsKhz?.trim();
  if (sysfs && /^\d+$/.test(sysfs) && Number(sysfs) > 0) return { khz: Number(sysfs), source: "tsc_freq_khz" };
  if (!src.cpuinfo) return undefined;
  // The first processor's block: every CPU of a host shares one TSC rate.
  const block = src.cpuinfo.split(/\n\s*\n/)[0] ?? "";
  const field = (name: string) => block.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, "m"))?.[1]?.trim();
  const flags = new Set((field("flags") ?? "").split(/\s+/));
  if (!flags.has("constant_tsc") || !flags.has("nonstop_tsc")) return undefined;
  if (flags.has("hypervisor")) {
    const mhz = Number(field("cpu MHz"));
    return Number.isFinite(mhz) && mhz > 0 ? { khz: Math.round(mhz * 1000), source: "cpu MHz under a hypervisor" } : undefined;
  }
  const ghz = field("model name")?.match(/@\s*(\d+(?:\.\d+)?)\s*GHz/i)?.[1];
  return ghz && Number(ghz) > 0 ? { khz: Math.round(Number(ghz) * 1e6), source: "the model name's nominal clock" } : undefined;
}

/** Reads the host's TSC rate (parseHostTsc over the sysfs file and /proc/cpuinfo); call it only when it matters. */
export async function readHostTsc(): Promise<HostTsc | undefined> {
  const read = (p: string) => fs.readFile(p, "utf8").catch(() => undefined);
  const sysfsKhz = await read("/sys/devices/system/cpu/cpu0/tsc_freq_khz");
  const fromSysfs = parseHostTsc({ sysfsKhz });
  if (fromSysfs) return fromSysfs;
  return parseHostTsc({ cpuinfo: await read("/proc/cpuinfo") });
}
