// Public API of the results stage: streaming KTAP/kselftest parsing, kernel-report scanning, summaries.

export { createRunParser, createLogParser, parseLog, parseFileToRun, describeAbnormalEnd, RESULTS_SCHEMA_VERSION } from "./parse-run.js";
export type { RunParser, RunParserOptions, LogParser, StreamEnd } from "./parse-run.js";
export { summarize, runFailed, listReportedTests, emptySummary, isFailing, parentAddsEntry } from "./summary.js";
export { createLineSplitter, cleanLine, stripAnsi, stripPrintk, MAX_LINE_CHARS } from "./lines.js";
export { classifyKtapLine, statusOfResult, describeExitCode } from "./ktap-line.js";
export type { KtapLine, ResultLine, Directive } from "./ktap-line.js";
export { createKernelScanner, MAX_EVENT_LINES, MAX_EVENTS } from "./kernel-events.js";
export { toIdSegment } from "./ktap-tree.js";
