// `kharness lava-job`: after the run's kernel and payload stages (pipeline.ts prepareGuest), writes the LAVA job
// that boots them, the kernel beside the initramfs, and for a local lava-run the device dictionary.

import { promises as fs } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { writeFileAtomic } from "../exec/cache.js";
import type { PreparedGuest } from "../pipeline.js";
import { artifactUrl, renderDeviceDict, renderDispatcherConfig, renderLavaJob, testTimeoutFor } from "./job.js";

export interface LavaJobRequest {
  /** The user's --append. */
  append: readonly string[];
  bootTimeoutSec: number;
  /** Also write device.yaml and dispatcher.yaml for a local lava-run. */
  deviceDict: boolean;
  /** A lab's URL template for the images (`{name}`, `{run}`); undefined = file:// paths of the run directory. */
  artifactUrl?: string;
  /** The QEMU binary the device dictionary names. */
  qemuBinary?: string;
}

/** What was written, by absolute path. */
export interface LavaJobFiles {
  job: string;
  kernel: string;
  initrd: string;
  device?: string;
  dispatcher?: string;
}

/** Writes job.yaml (and device.yaml, dispatcher.yaml) into the guest's run directory; copies the kernel there. */
export async function writeLavaJob(guest: PreparedGuest, req: LavaJobRequest): Promise<LavaJobFiles> {
  const dir = guest.runDir;
  const kernelName = path.basename(guest.profile.kernelImage.pathInBuild);
  const kernel = path.join(dir, kernelName);
  // The run directory becomes the one thing to publish: the kernel next to its initramfs.
  await fs.copyFile(guest.kernel.path, kernel);
  const initrd = guest.payload.initramfsPath;
  const url = (file: string) => (req.artifactUrl ? artifactUrl(req.artifactUrl, path.basename(file), guest.runId) : pathToFileURL(file).href);
  const job = renderLavaJob({
    jobName: `kharness ${guest.runId} ${guest.kernel.release ?? kernelName}`,
    profile: guest.profile,
    images: { kernelUrl: url(kernel), initrdUrl: url(initrd) },
    append: req.append,
    testTimeoutSec: testTimeoutFor(guest.payload.programs.map((p) => p.timeoutSec)),
    bootTimeoutSec: req.bootTimeoutSec,
  });
  const files: LavaJobFiles = { job: path.join(dir, "job.yaml"), kernel, initrd };
  await writeFileAtomic(files.job, job);
  if (req.deviceDict) {
    files.device = path.join(dir, "device.yaml");
    files.dispatcher = path.join(dir, "dispatcher.yaml");
    await writeFileAtomic(files.device, renderDeviceDict(guest.profile, req.qemuBinary));
    // Downloads land in /var/lib/lava/dispatcher/tmp/<prefix><job-id>: a prefix of this run's own keeps two jobs
    // with the same --job-id apart.
    await writeFileAtomic(files.dispatcher, renderDispatcherConfig(`kharness-${guest.runId}-`));
  }
  return files;
}
