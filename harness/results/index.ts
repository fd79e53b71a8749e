// Public API of the results stage: streaming KTAP/kselftest parsing, kernel-report scanning, summaries, a run's logs parsed again.

export {
  createRunParser,
  createLogParser,
  createTakingLogParser,
  parseLog,
  parseFileToRun,
  describeAbnormalEnd,
  RESULTS_SCHEMA_VERSION,
  KERNEL_ENTRY_ID,
} from "./parse-run.js";
export type { RunParser, RunParserOptions, LogParser, TakingLogParser, StreamEnd } from "./parse-run.js";
export { summarize, addSummary, runFailed, nothingPassed, listReportedTests, emptySummary, isFailing, parentAddsEntry } from "./summary.js";
export { createLineSplitter, cleanLine, stripAnsi, stripPrintk, printkMicros, MAX_LINE_CHARS } from "./lines.js";
export { classifyKtapLine, statusOfResult, describeExitCode } from "./ktap-line.js";
export type { KtapLine, ResultLine, Directive } from "./ktap-line.js";
export { createKernelScanner, MAX_EVENT_LINES, MAX_EVENTS } from "./kernel-events.js";
export { toIdSegment } from "./ktap-tree.js";
export {
  parseRunLogs,
  parseRunManifest,
  makeRunManifest,
  programsFromInitramfs,
  readCpioEntry,
  nameUnstartedPrograms,
  bootFromResultsJson,
  ManifestError,
  MANIFEST_VERSION,
} from "./run-logs.js";
export type { RunLogs, RunManifest, LogChunks } from "./run-logs.js";
