// Pure: a LAVA job definition for the qemu device type (deploy kernel + initramfs to tmpfs, boot with QEMU, a
// monitors test over the serial console), the device dictionary and dispatcher configuration for a local lava-run.

import { stringify } from "yaml";
import { isolationArgs, kernelCmdline, machineArgs, renderCmdline, serialArgs } from "../qemu/argv.js";
import { defaultMachine, type ArchProfile, type KernelArg } from "../qemu/profiles.js";

/** The guest init's console mode (docs/guest-protocol.md): the results stream on the serial console, between markers. */
export const CONSOLE_RESULTS_ARG: KernelArg = {
  arg: "kharness.console_results=1",
  why: "a LAVA qemu device has only the serial console: init writes its KTAP there, between clear start and end markers",
};
/** The markers init writes around the results stream in console mode (vm/init.c). */
export const CONSOLE_RESULTS_BEGIN = "<<<KHARNESS-RESULTS-BEGIN>>>";
export const CONSOLE_RESULTS_END = "<<<KHARNESS-RESULTS-END>>>";

/**
 * The monitor's pattern over KTAP result lines, top-level and nested (`# ok 1 case`). The dispatcher searches a
 * stream (pexpect, re.DOTALL, no MULTILINE), so the pattern needs the line's newline before it matches: a
 * half-received line would otherwise yield a cut id or miss its `# SKIP`. The id stops at whitespace, `#` or
 * `[` (a kernel line can land inside a result line, always before the line's own newline). The lookahead puts
 * `SKIP` in the result group when the directive says so, else `ok` / `not ok`.
 */
export const MONITOR_PATTERN = String.raw`(?=(?:[^\n]*?# )?(?P<result>SKIP|not ok|ok))(?:not ok|ok) \d+ (?P<test_case_id>[^\s#\[]+)[^\n]*\n`;
export const MONITOR_FIXUPDICT = { ok: "pass", "not ok": "fail", SKIP: "skip" } as const;

/** Where the dispatcher gets each image: file:// paths for a local dispatcher, or a lab's URLs. */
export interface LavaImages {
  kernelUrl: string;
  initrdUrl: string;
}

export interface LavaJobOptions {
  jobName: string;
  profile: ArchProfile;
  images: LavaImages;
  /** The user's --append (the run's own kernel arguments and the console mode come first). */
  append: readonly string[];
  /** Seconds the test action may take: the programs' timeouts plus a margin (see lavaTimeouts). */
  testTimeoutSec: number;
  /** Seconds for QEMU to start and the kernel to reach init. */
  bootTimeoutSec: number;
}

/** The kernel command line of a LAVA boot: a local run's, with the console mode added before --append. */
export function lavaCmdline(profile: ArchProfile, append: readonly string[]): KernelArg[] {
  // Always pc, even for a kernel a local run would boot on microvm: the job runs on the LAVA worker's QEMU and
  // host, whose accelerator and TSC rate (microvm's tsc_early_khz) are unknown when the job is written.
  const machine = defaultMachine(profile);
  const ours = kernelCmdline(profile, machine, []);
  return [...ours, CONSOLE_RESULTS_ARG, ...kernelCmdline(profile, machine, append).slice(ours.length)];
}

/** LAVA timeouts are whole minutes or seconds; seconds keep them exact. */
const secs = (n: number) => ({ seconds: Math.max(1, Math.ceil(n)) });

/**
 * The test action's budget: every program's timeout (already scaled for TCG by the payload stage), plus init's
 * drain and shutdown grace per program and a fixed margin for the power-off.
 */
export function testTimeoutFor(programTimeoutsSec: readonly number[]): number {
  return programTimeoutsSec.reduce((a, b) => a + b + 2, 0) + 60;
}

/** The job definition as YAML. */
export function renderLavaJob(o: LavaJobOptions): string {
  const cmdline = renderCmdline(lavaCmdline(o.profile, o.append));
  if (cmdline.includes('"')) throw new Error(`the kernel command line cannot hold a double quote in a LAVA image_arg: ${cmdline}`);
  const deployTimeout = 300;
  const job = {
    job_name: o.jobName.slice(0, 200),
    device_type: "qemu",
    visibility: "public",
    priority: "medium",
    context: { arch: o.profile.arch },
    timeouts: {
      job: secs(deployTimeout + o.bootTimeoutSec + o.testTimeoutSec + 60),
      action: secs(Math.max(deployTimeout, o.bootTimeoutSec, o.testTimeoutSec)),
      connection: secs(o.bootTimeoutSec),
    },
    actions: [
      {
        deploy: {
          to: "tmpfs",
          timeout: secs(deployTimeout),
          images: {
            // The command line rides in the kernel's image_arg: the qemu boot method has no other place for it.
            kernel: { url: o.images.kernelUrl, image_arg: `-kernel {kernel} -append "${cmdline}"` },
            ramdisk: { url: o.images.initrdUrl, image_arg: "-initrd {ramdisk}" },
          },
        },
      },
      { boot: { method: "qemu", media: "tmpfs", timeout: secs(o.bootTimeoutSec) } },
      {
        test: {
          timeout: secs(o.testTimeoutSec),
          monitors: [
            {
              name: "kharness",
              start: CONSOLE_RESULTS_BEGIN,
              end: CONSOLE_RESULTS_END,
              pattern: MONITOR_PATTERN,
              fixupdict: { ...MONITOR_FIXUPDICT },
            },
          ],
        },
      },
    ],
  };
  return `# LAVA job written by kharness lava-job: the kernel and initramfs of a local run, results from the serial console.\n${stringify(job, { lineWidth: 0 })}`;
}

/**
 * The device dictionary for a local `lava-run` (rendered YAML, the minimum that works: docs/lava.md). The QEMU
 * options are a local run's (machine, TCG, isolation, the serial console on stdio), without the virtio ports.
 */
export function renderDeviceDict(profile: ArchProfile, qemuBinary = profile.qemuBinary): string {
  const machine = defaultMachine(profile);
  const options = [...machineArgs({ profile, machine, accel: "tcg" }), ...isolationArgs(), ...serialArgs()];
  const dict = {
    device_type: "qemu",
    available_architectures: [profile.arch],
    constants: { failure_retry: 1, boot_retry: 1 },
    actions: {
      deploy: { methods: { image: { parameters: {} } } },
      boot: { connections: { serial: null }, methods: { qemu: { parameters: { command: qemuBinary, options } } } },
    },
    timeouts: { actions: {}, connections: {} },
  };
  return `# LAVA device dictionary for a local lava-run, written by kharness lava-job.\n${stringify(dict, { lineWidth: 0 })}`;
}

/** A dispatcher configuration whose prefix keeps this job's downloads apart from any other job with its id. */
export function renderDispatcherConfig(prefix: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(prefix)) throw new Error(`dispatcher prefix must be a plain file-name part: ${prefix}`);
  return stringify({ prefix });
}

/** Fills a lab's artifact URL template: `{name}` is the file name (bzImage, initramfs.cpio), `{run}` the run id. */
export function artifactUrl(template: string, name: string, runId: string): string {
  return template.replaceAll("{name}", name).replaceAll("{run}", runId);
}
