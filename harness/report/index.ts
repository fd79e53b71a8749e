// Public API of the report stage: pure renderers from a RunResult to text.

export { renderTerminal } from "./terminal.js";
export type { TerminalOptions } from "./terminal.js";
export { renderJson, renderJsonChunks } from "./json.js";
export { renderJunit } from "./junit.js";
export { renderKcidb, toKcidbStatus, toKcidbPath, kcidbExcerpt, KCIDB_LOG_EXCERPT_MAX, KCIDB_VERSION } from "./kcidb.js";
export type { KcidbOptions, KcidbProvenance } from "./kcidb.js";
export { renderTap } from "./tap.js";
export { escapeXml, stripXmlForbidden } from "./xml.js";
export { renderHtmlReport, htmlReportCsp, htmlReportData, escapeJsonForScript, HTML_STATUS_ORDER, HTML_LOG_LINES_MAX } from "./html.js";
export type { HtmlReportInput, HtmlComparison, HtmlHistory } from "./html.js";
