// Pure: the stylesheet of report.html (inlined after uPlot's own).

/** The page's CSS; no url(), no @import: the page loads nothing. */
export const HTML_STYLE = `
:root { --fg: #1d1f23; --dim: #6a6f78; --bg: #fff; --line: #e3e5e8; --pass: #1f8a3b; --fail: #c62828; --skip: #8a8f98; --xfail: #6d5bb5; --warn: #b26a00; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 12px 20px; border-bottom: 1px solid var(--line); }
main { padding: 0 20px 40px; }
h1 { font-size: 18px; margin: 0 0 6px; }
h2 { font-size: 16px; margin: 22px 0 8px; }
h3 { font-size: 14px; margin: 0 0 4px; font-weight: 600; }
.dim { color: var(--dim); font-weight: normal; }
.verdict { display: inline-block; font-weight: 700; font-size: 16px; padding: 2px 10px; border-radius: 4px; color: #fff; }
.v-pass { background: var(--pass); } .v-fail { background: var(--fail); } .v-none { background: var(--warn); } .v-untested { background: var(--warn); }
.counts { display: inline-flex; flex-wrap: wrap; gap: 6px; margin-left: 12px; vertical-align: middle; }
.count { padding: 1px 7px; border: 1px solid var(--line); border-radius: 10px; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0 0; color: var(--dim); }
.meta dt { font-weight: 600; } .meta ol.patches { margin: 0; padding-left: 20px; } .meta dd { margin: 0; word-break: break-all; }
.st { display: inline-block; min-width: 62px; text-align: center; font: 600 11px/18px ui-monospace, monospace; border-radius: 3px; color: #fff; background: var(--skip); }
.st-PASS { background: var(--pass); } .st-FAIL, .st-CRASH, .st-TIMEOUT, .st-ERROR, .st-XPASS { background: var(--fail); }
.st-XFAIL { background: var(--xfail); } .st-SKIP { background: var(--skip); }
.mono, pre, .row .id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
pre { margin: 4px 0; padding: 6px 8px; background: #f5f6f8; border: 1px solid var(--line); overflow: auto; max-height: 320px; white-space: pre-wrap; word-break: break-all; }
.failure { border-left: 4px solid var(--fail); padding: 6px 10px; margin: 8px 0; background: #fff8f8; }
.failure .reason, .detail-reason { margin: 2px 0 4px; white-space: pre-wrap; word-break: break-word; }
details > summary { cursor: pointer; color: var(--dim); }
.event summary { color: var(--fail); }
button { font: inherit; padding: 2px 10px; cursor: pointer; }
.filters { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; margin: 4px 0 8px; }
.status-filter label { margin-right: 8px; white-space: nowrap; }
#filter-text { min-width: 280px; padding: 3px 6px; font: inherit; }
.rows { position: relative; height: 480px; overflow: auto; border: 1px solid var(--line); }
.rows-spacer { width: 1px; }
.rows-window { position: absolute; top: 0; left: 0; right: 0; }
.row { display: flex; align-items: center; gap: 10px; height: 26px; padding: 0 8px; border-bottom: 1px solid #f0f1f3; cursor: pointer; white-space: nowrap; overflow: hidden; }
.row:hover, .row:focus { background: #eef3fb; outline: none; }
.row.selected { background: #e1ebfa; }
.row .id { flex: 0 1 auto; overflow: hidden; text-overflow: ellipsis; min-width: 120px; }
.row .dur { flex: 0 0 70px; text-align: right; color: var(--dim); }
.row .why { flex: 1 1 0; overflow: hidden; text-overflow: ellipsis; color: var(--dim); }
.strip { display: inline-flex; gap: 1px; flex: 0 0 auto; }
.strip i { display: inline-block; width: 7px; height: 14px; background: var(--skip); }
.strip i.s-PASS { background: var(--pass); } .strip i.s-FAIL, .strip i.s-CRASH, .strip i.s-TIMEOUT, .strip i.s-ERROR, .strip i.s-XPASS { background: var(--fail); }
.strip i.s-XFAIL { background: var(--xfail); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
td.mono { word-break: break-all; }
.c-regression td:first-child, .c-missing td:first-child { color: var(--fail); font-weight: 600; }
.c-fix td:first-child { color: var(--pass); font-weight: 600; }
.c-flaky td:first-child { color: var(--warn); font-weight: 600; }
.timeline svg { width: 100%; height: auto; display: block; }
.tl-lane { font: 12px system-ui, sans-serif; fill: var(--dim); }
.tl-axis { stroke: #c9ccd1; stroke-width: 1; }
.tl-tick { font: 11px system-ui, sans-serif; fill: var(--dim); }
.tl-bar { fill: #7aa5d8; stroke: #fff; stroke-width: 0.5; }
.tl-stage { fill: #9db7cf; } .tl-boot { fill: #c5cfdb; }
.tl-bar.tl-PASS { fill: #6fbf83; } .tl-bar.tl-SKIP { fill: #b9bdc4; } .tl-bar.tl-XFAIL { fill: #a79ad6; }
.tl-bar.tl-FAIL, .tl-bar.tl-CRASH, .tl-bar.tl-TIMEOUT, .tl-bar.tl-ERROR, .tl-bar.tl-XPASS { fill: #e07070; }
.tl-open { fill-opacity: 0.5; }
.tl-label { font: 11px system-ui, sans-serif; fill: #1d1f23; pointer-events: none; }
.tl-mark { stroke: var(--fail); stroke-width: 2; }
.tl-mark-warning, .tl-mark-lockdep, .tl-mark-hung-task, .tl-mark-rcu-stall { stroke: var(--warn); }
.tl-init { stroke: #333; stroke-dasharray: 3 2; }
.chart { margin: 8px 0; }
`;
