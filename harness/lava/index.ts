// Public API of harness/lava/: LAVA job definitions for the qemu device type, and the dispatcher's output read back.

export { writeLavaJob } from "./write-job.js";
export type { LavaJobRequest, LavaJobFiles } from "./write-job.js";
export { renderLavaJob, renderDeviceDict, renderDispatcherConfig, lavaCmdline, CONSOLE_RESULTS_BEGIN, CONSOLE_RESULTS_END, MONITOR_PATTERN } from "./job.js";
export { createLavaLogDecoder } from "./log.js";
export { consoleOfLavaLog, isLavaRecordLine } from "./console.js";
export type { LavaLogStats, LavaMonitorResult } from "./log.js";
