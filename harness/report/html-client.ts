// Pure: the script of report.html, as text. It reads the JSON data block and builds every element with
// createElement/textContent (never innerHTML), so names, reasons, logs and kernel reports stay text. The test
// list is virtualised (only the rows in view exist), so a 10,000-test run opens and filters without a freeze.

/**
 * The page's script (plain ES2020, run by the browser; not compiled). Hooks for tests: `body[data-ready]` once
 * the first render is done, `data-render-ms` / `data-filter-ms` with the times measured in the page, `#shown`'s
 * `data-shown` with the number of rows the filters leave.
 */
export const HTML_CLIENT_SCRIPT = String.raw`(function () {
"use strict";
var D = JSON.parse(document.getElementById("kh-data").textContent);
var ORDER = ["CRASH", "FAIL", "TIMEOUT", "ERROR", "XPASS", "XFAIL", "SKIP", "PASS"];
var FAILING = { FAIL: 1, XPASS: 1, TIMEOUT: 1, CRASH: 1, ERROR: 1 };
var ROW_H = 26;
var SVGNS = "http://www.w3.org/2000/svg";
var hasOwn = function (o, k) { return Object.prototype.hasOwnProperty.call(o, k); };

function $(id) { return document.getElementById(id); }
function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function add(parent) { for (var i = 1; i < arguments.length; i++) if (arguments[i]) parent.appendChild(arguments[i]); return parent; }
function fmtMs(ms) {
  if (typeof ms !== "number" || !isFinite(ms)) return "";
  if (ms < 1000) return (ms < 10 ? ms.toFixed(1) : ms.toFixed(0)) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
  return Math.floor(ms / 60000) + " min " + Math.round((ms % 60000) / 1000) + " s";
}
function rank(st) { var i = ORDER.indexOf(st); return i < 0 ? ORDER.length : i; }
function badge(st) { return el("span", "st st-" + st, st); }
function pre(lines) { return el("pre", null, (lines || []).join("\n")); }
function eventBlock(ev) {
  var d = el("details", "event");
  add(d, el("summary", null, ev.k + ": " + ev.t + (typeof ev.a === "number" ? "  (at " + fmtMs(ev.a) + ")" : "")), pre(ev.l));
  return d;
}

var history = D.history && D.history.tests && typeof D.history.tests === "object" ? D.history.tests : null;
function recentOf(id) { return history && hasOwn(history, id) && Array.isArray(history[id].recent) ? history[id].recent : null; }
function strip(id) {
  var recent = recentOf(id);
  if (!recent) return null;
  var s = el("span", "strip");
  recent.slice(-20).forEach(function (r) {
    var i = el("i", "s-" + r.status);
    i.title = r.status + "  " + (r.runId || "") + (typeof r.durationMs === "number" ? "  " + fmtMs(r.durationMs) : "");
    s.appendChild(i);
  });
  return s;
}

// Header: verdict, counts, what ran.
function renderHeader() {
  var r = D.run;
  document.title = "kharness " + (r.runId || "report") + ": " + r.verdict;
  $("run-id").textContent = r.runId || "";
  var v = $("verdict");
  v.textContent = r.verdict;
  v.className = "verdict v-" + r.verdictClass;
  var counts = $("counts");
  var s = r.summary || {};
  ["total", "pass", "fail", "skip", "xfail", "xpass", "timeout", "crash", "error"].forEach(function (k) {
    var n = typeof s[k] === "number" ? s[k] : 0;
    if (k !== "total" && k !== "pass" && k !== "fail" && n === 0) return;
    var c = el("span", "count", k + " " + n);
    c.id = "count-" + k;
    c.dataset.count = String(n);
    counts.appendChild(c);
  });
  var meta = $("meta");
  function row(k, v) { if (v === undefined || v === null || v === "") return; add(meta, el("dt", null, k), el("dd", null, v)); }
  row("could not test", r.couldNotTest);
  row("started", r.startedAt);
  row("wall time", fmtMs(r.durationMs));
  if (r.kernel) row("kernel", [r.kernel.release, r.kernel.source].filter(Boolean).join(" (") + (r.kernel.release && r.kernel.source ? ")" : ""));
  if (r.kernel) row("command line", r.kernel.cmdline);
  if (r.kernel && Array.isArray(r.kernel.patches) && r.kernel.patches.length) {
    var ol = el("ol", "patches");
    ol.id = "patches";
    r.kernel.patches.forEach(function (subject) { ol.appendChild(el("li", null, subject)); });
    add(meta, el("dt", null, "patches (" + r.kernel.patches.length + ")"), add(el("dd"), ol));
  }
  if (r.boot) row("boot", [r.boot.end, r.boot.endDetail, r.boot.accel, r.boot.machine].filter(Boolean).join(", "));
  if (r.payloadBuild && r.payloadBuild.selftestDefines) row("test-only selftest build", r.payloadBuild.selftestDefines.join(" "));
}

function renderNotes() {
  if (!D.notes || !D.notes.length) return;
  $("notes").hidden = false;
  D.notes.forEach(function (n) { $("notes-list").appendChild(el("li", null, n)); });
}

// A long list rendered a chunk at a time, with a button for the next chunk.
function chunked(container, items, size, renderOne) {
  var shown = 0;
  var more = el("button", "more");
  function next() {
    var frag = document.createDocumentFragment();
    items.slice(shown, shown + size).forEach(function (it) { frag.appendChild(renderOne(it)); });
    shown = Math.min(items.length, shown + size);
    container.insertBefore(frag, more.parentNode ? more : null);
    if (shown >= items.length) { if (more.parentNode) more.parentNode.removeChild(more); }
    else { more.textContent = "show " + Math.min(size, items.length - shown) + " more of " + (items.length - shown); if (!more.parentNode) container.appendChild(more); }
  }
  more.addEventListener("click", next);
  next();
}

// Failures first: each with its reason, log and kernel reports.
function renderFailures(order) {
  var list = order.filter(function (e) { return hasOwn(FAILING, e.st); });
  $("failures-count").textContent = "(" + list.length + ")";
  $("failures-list").dataset.count = String(list.length);
  if (!list.length) { $("failures-list").appendChild(el("p", "dim", "No failing test.")); return; }
  chunked($("failures-list"), list, 50, function (e) {
    var a = el("article", "failure");
    a.dataset.id = e.id;
    add(a, add(el("h3"), badge(e.st), document.createTextNode(" "), el("span", "mono fid", e.id)));
    if (e.r) a.appendChild(el("p", "reason", e.r));
    if (e.log && e.log.length) {
      var d = el("details");
      if (e.log.length <= 40) d.open = true;
      add(d, el("summary", null, "log (" + e.log.length + " lines)"), pre(e.log));
      a.appendChild(d);
    }
    (e.ev || []).forEach(function (ev) { a.appendChild(eventBlock(ev)); });
    return a;
  });
}

// Kernel reports no test owns (a warning at boot, a hung task between programs): shown with the failures.
function renderRunEvents() {
  var list = Array.isArray(D.runEvents) ? D.runEvents : [];
  if (!list.length) return;
  var box = $("failures-list");
  var a = el("article", "failure outside");
  a.id = "outside-events";
  a.dataset.count = String(list.length);
  a.appendChild(el("h3", null, "Kernel reports outside any test (" + list.length + ")"));
  list.forEach(function (ev) { a.appendChild(eventBlock(ev)); });
  box.insertBefore(a, box.firstChild);
}

// The comparison with a baseline: regressions first.
var CLASS_ORDER = ["regression", "missing", "flaky", "still-failing", "skip-reason-changed", "new", "fix", "unchanged"];
function renderComparison() {
  var c = D.comparison;
  if (!c) return;
  $("comparison").hidden = false;
  var body = $("comparison-body");
  var head = el("p");
  add(head, el("strong", null, (c.verdict || "") + " "), document.createTextNode(
    "base " + ((c.base && c.base.runId) || "?") + (c.base && c.base.kernelRelease ? " (" + c.base.kernelRelease + ")" : "") +
    " \u2192 this run " + ((c.new && c.new.runId) || "?") + (c.new && c.new.kernelRelease ? " (" + c.new.kernelRelease + ")" : "")));
  body.appendChild(head);
  if (c.summary) {
    var counts = el("div", "counts");
    Object.keys(c.summary).forEach(function (k) {
      var x = el("span", "count", k + " " + c.summary[k]);
      x.dataset.key = k;
      counts.appendChild(x);
    });
    body.appendChild(counts);
  }
  var tests = (Array.isArray(c.tests) ? c.tests : []).filter(function (t) { return t.class !== "unchanged"; });
  tests.sort(function (a, b) {
    var ra = CLASS_ORDER.indexOf(a.class), rb = CLASS_ORDER.indexOf(b.class);
    return (ra < 0 ? 99 : ra) - (rb < 0 ? 99 : rb);
  });
  if (tests.length) {
    var table = el("table");
    var thead = add(el("thead"), add(el("tr"), el("th", null, "change"), el("th", null, "test"), el("th", null, "base"), el("th", null, "this run"), el("th", null, "note")));
    var tbody = el("tbody");
    add(table, thead, tbody);
    body.appendChild(table);
    var side = function (s) { return s ? (s.status || "") + (s.reason ? ": " + s.reason : "") : "\u2014"; };
    chunked(tbody, tests, 200, function (t) {
      var tr = el("tr", "c-" + t.class);
      add(tr, el("td", null, t.class), el("td", "mono", t.id), el("td", null, side(t.base)), el("td", null, side(t.new)), el("td", null, t.note || ""));
      return tr;
    });
  } else body.appendChild(el("p", "dim", "No test changed."));
  if (Array.isArray(c.newKernelReports) && c.newKernelReports.length) {
    body.appendChild(el("h3", null, "New kernel reports"));
    var ul = el("ul");
    c.newKernelReports.forEach(function (k) { ul.appendChild(el("li", null, k.kind + ": " + k.title + (k.testId ? "  (" + k.testId + ")" : ""))); });
    body.appendChild(ul);
  }
}

// The timeline: host stages on the host clock, the guest (kernel boot, programs, kernel reports) on the kernel clock.
function svg(tag, attrs, title) {
  var e = document.createElementNS(SVGNS, tag);
  for (var k in attrs) if (hasOwn(attrs, k)) e.setAttribute(k, String(attrs[k]));
  if (title) { var t = document.createElementNS(SVGNS, "title"); t.textContent = title; e.appendChild(t); }
  return e;
}
function lane(title, extent, rows) {
  var W = 1000, L = 130, H = 22, top = 18;
  var height = top + rows.length * (H + 4) + 18;
  var s = svg("svg", { viewBox: "0 0 " + W + " " + height, role: "img" });
  s.appendChild(svg("text", { x: 0, y: 12, class: "tl-lane" })).textContent = title;
  var x = function (ms) { return L + Math.max(0, Math.min(1, ms / extent)) * (W - L - 4); };
  var axisY = top + rows.length * (H + 4);
  s.appendChild(svg("line", { x1: L, y1: axisY, x2: W - 4, y2: axisY, class: "tl-axis" }));
  for (var i = 0; i <= 5; i++) {
    var ms = (extent * i) / 5;
    s.appendChild(svg("line", { x1: x(ms), y1: axisY, x2: x(ms), y2: axisY + 4, class: "tl-axis" }));
    s.appendChild(svg("text", { x: x(ms), y: axisY + 15, "text-anchor": i === 0 ? "start" : i === 5 ? "end" : "middle", class: "tl-tick" })).textContent = fmtMs(ms);
  }
  rows.forEach(function (r, ri) {
    var y = top + ri * (H + 4);
    s.appendChild(svg("text", { x: 0, y: y + 15, class: "tl-lane" })).textContent = r.label;
    r.bars.forEach(function (b) {
      var x0 = x(b.start), x1 = x(b.start + b.len);
      var g = svg("g", {});
      g.appendChild(svg("rect", { x: x0, y: y, width: Math.max(1.5, x1 - x0), height: H, class: "tl-bar " + b.cls }, b.title));
      if (x1 - x0 > 50 && b.label) {
        var t = svg("text", { x: x0 + 3, y: y + 15, class: "tl-label" });
        var maxChars = Math.floor((x1 - x0 - 6) / 6.2);
        t.textContent = b.label.length > maxChars ? b.label.slice(0, Math.max(1, maxChars - 1)) + "\u2026" : b.label;
        g.appendChild(t);
      }
      s.appendChild(g);
    });
    (r.marks || []).forEach(function (m) {
      s.appendChild(svg("line", { x1: x(m.at), y1: y - 2, x2: x(m.at), y2: y + H + 2, class: m.cls }, m.title));
    });
  });
  return s;
}
function renderTimeline() {
  var body = $("timeline-body");
  body.className = "timeline";
  var drew = false;
  var stages = Array.isArray(D.stages) ? D.stages : [];
  var boot = D.run.boot;
  if (stages.length) {
    var hostEnd = Math.max(D.run.durationMs || 0, stages.reduce(function (m, s) { return Math.max(m, s.startMs + s.durationMs); }, 0));
    var marks = [];
    var bootStage = stages.filter(function (s) { return s.stage === "boot"; })[0];
    if (bootStage && boot && boot.durations && typeof boot.durations.bootMs === "number")
      marks.push({ at: bootStage.startMs + boot.durations.bootMs, cls: "tl-init", title: "guest init started (" + fmtMs(boot.durations.bootMs) + " after QEMU started)" });
    body.appendChild(lane("Host: stages (time since the run started)", hostEnd || 1, [{
      label: "stages",
      bars: stages.map(function (s) { return { start: s.startMs, len: s.durationMs, cls: "tl-stage", label: s.stage + " " + fmtMs(s.durationMs), title: s.stage + ": " + fmtMs(s.durationMs) + " (from " + fmtMs(s.startMs) + ")" }; }),
      marks: marks,
    }]));
    drew = true;
  }
  var progs = (D.programs || []).filter(function (p) { return typeof p.s === "number"; });
  var events = (D.events || []).filter(function (e) { return typeof e.a === "number"; });
  if (progs.length || events.length) {
    var end = 0;
    progs.forEach(function (p) { end = Math.max(end, p.s + (typeof p.d === "number" ? p.d : 0)); });
    events.forEach(function (e) { end = Math.max(end, e.a); });
    end = end * 1.02 || 1;
    var first = progs.length ? Math.min.apply(null, progs.map(function (p) { return p.s; })) : end;
    var kernelRow = {
      label: "kernel",
      bars: [{ start: 0, len: first, cls: "tl-boot", label: "boot " + fmtMs(first), title: "kernel boot until the first program started: " + fmtMs(first) }],
      marks: events.map(function (e) { return { at: e.a, cls: "tl-mark tl-mark-" + e.k, title: e.k + " at " + fmtMs(e.a) + ": " + e.t + (e.tid ? " (" + e.tid + ")" : "") }; }),
    };
    var progRow = {
      label: "programs",
      bars: progs.map(function (p) {
        var open = typeof p.d !== "number";
        var len = open ? end / 1.02 - p.s : p.d;
        return { start: p.s, len: len, cls: "tl-" + p.st + (open ? " tl-open" : ""), label: p.id, title: p.id + ": " + p.st + ", " + (open ? "no end seen" : fmtMs(p.d)) + " from " + fmtMs(p.s) };
      }),
    };
    body.appendChild(lane("Guest: kernel clock (time since the kernel started); red marks are kernel reports", end, [kernelRow, progRow]));
    drew = true;
  }
  if (!drew) body.appendChild(el("p", "dim", "No times recorded (a parsed log without kharness markers has none)."));
}

// Tests whose history flips, by flake score.
function renderFlaky() {
  if (!history) return;
  var ids = Object.keys(history).filter(function (id) { return typeof history[id].flakeScore === "number" && history[id].flakeScore > 0; });
  if (!ids.length) return;
  ids.sort(function (a, b) { return history[b].flakeScore - history[a].flakeScore; });
  $("flaky").hidden = false;
  var table = el("table");
  add(table, add(el("tr"), el("th", null, "test"), el("th", null, "flake score"), el("th", null, "last results")));
  ids.slice(0, 50).forEach(function (id) {
    add(table, add(el("tr"), el("td", "mono", id), el("td", null, history[id].flakeScore.toFixed(2)), add(el("td"), strip(id))));
  });
  $("flaky-body").appendChild(table);
}

// The test list: every summary entry, failures first, filtered by status and text, virtualised.
var all = [];
var shown = [];
var selected = null;
var statusOn = {};
function renderTestList(order) {
  all = order;
  var counts = {};
  all.forEach(function (e) { counts[e.st] = (counts[e.st] || 0) + 1; });
  var box = $("status-filter");
  ORDER.forEach(function (st) {
    if (!counts[st]) return;
    statusOn[st] = true;
    var label = el("label");
    var cb = el("input");
    cb.type = "checkbox";
    cb.checked = true;
    cb.value = st;
    cb.dataset.status = st;
    cb.addEventListener("change", function () { statusOn[st] = cb.checked; applyFilter(); });
    add(label, cb, document.createTextNode(" "), badge(st), document.createTextNode(" " + counts[st]));
    box.appendChild(label);
  });
  var timer = 0;
  $("filter-text").addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(applyFilter, 120); });
  $("rows").addEventListener("scroll", drawRows, { passive: true });
  $("rows").addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter") return;
    var t = ev.target;
    if (t && t.dataset && t.dataset.index) showDetail(shown[Number(t.dataset.index)]);
  });
  applyFilter();
}
function hay(e) {
  if (e._hay === undefined) e._hay = (e.id + "\n" + e.name + "\n" + (e.r || "")).toLowerCase();
  return e._hay;
}
function applyFilter() {
  var t0 = performance.now();
  var q = $("filter-text").value.trim().toLowerCase();
  shown = all.filter(function (e) { return statusOn[e.st] && (!q || hay(e).indexOf(q) >= 0); });
  var s = $("shown");
  s.textContent = "showing " + shown.length + " of " + all.length;
  s.dataset.shown = String(shown.length);
  $("rows-spacer").style.height = shown.length * ROW_H + "px";
  // As tall as its rows, up to a screenful.
  $("rows").style.height = Math.min(480, Math.max(2, shown.length) * ROW_H + 2) + "px";
  $("rows").scrollTop = 0;
  drawRows();
  document.body.dataset.filterMs = (performance.now() - t0).toFixed(1);
  document.body.dataset.filterSeq = String(Number(document.body.dataset.filterSeq || 0) + 1);
}
function drawRows() {
  var box = $("rows");
  var first = Math.max(0, Math.floor(box.scrollTop / ROW_H) - 10);
  var last = Math.min(shown.length, first + Math.ceil(box.clientHeight / ROW_H) + 20);
  var win = $("rows-window");
  win.style.transform = "translateY(" + first * ROW_H + "px)";
  var frag = document.createDocumentFragment();
  for (var i = first; i < last; i++) {
    var e = shown[i];
    var r = el("div", "row" + (e === selected ? " selected" : ""));
    r.tabIndex = 0;
    r.dataset.index = String(i);
    r.dataset.id = e.id;
    r.setAttribute("role", "button");
    add(r, badge(e.st), el("span", "id", e.id), el("span", "dur", fmtMs(e.d)), strip(e.id), el("span", "why", e.r || ""));
    r.title = e.id + (e.r ? "\n" + e.r : "");
    frag.appendChild(r);
  }
  win.textContent = "";
  win.appendChild(frag);
}
$("rows-window").addEventListener("click", function (ev) {
  var r = ev.target && ev.target.closest ? ev.target.closest(".row") : null;
  if (r) showDetail(shown[Number(r.dataset.index)]);
});

// One test in full: reason, log, kernel reports, its last results and duration trend.
var chart = null;
function showDetail(e) {
  if (!e) return;
  selected = e;
  drawRows();
  $("detail").hidden = false;
  $("detail-id").textContent = e.id;
  var body = $("detail-body");
  body.textContent = "";
  if (chart) { chart.destroy(); chart = null; }
  add(body, add(el("p"), badge(e.st), document.createTextNode("  " + (e.name || "") + (typeof e.d === "number" ? "  \u00b7 " + fmtMs(e.d) : "") + (typeof e.s === "number" ? "  \u00b7 started at " + fmtMs(e.s) + " (kernel clock)" : ""))));
  if (e.r) body.appendChild(el("p", "detail-reason", e.r));
  if (e.log && e.log.length) body.appendChild(pre(e.log));
  (e.ev || []).forEach(function (ev) { body.appendChild(eventBlock(ev)); });
  var recent = recentOf(e.id);
  if (recent) {
    add(body, el("h3", null, "Last " + recent.length + " results (oldest first)"), strip(e.id));
    var xs = [], ys = [], timed = 0;
    recent.forEach(function (r, i) { xs.push(i + 1); var d = typeof r.durationMs === "number" ? r.durationMs : null; if (d !== null) timed++; ys.push(d); });
    // A trend needs two points at least.
    if (timed >= 2 && typeof window.uPlot === "function") {
      var box = el("div", "chart");
      body.appendChild(box);
      chart = new window.uPlot({
        width: Math.max(300, Math.min(900, body.clientWidth || 600)), height: 180,
        scales: { x: { time: false } },
        series: [{ label: "run" }, { label: "duration (ms)", stroke: "#3b6fb6", width: 2, points: { show: true }, spanGaps: true }],
        axes: [{ label: "run (oldest first)" }, { label: "ms" }],
      }, [xs, ys], box);
    }
  }
  $("detail").scrollIntoView({ block: "nearest" });
}

function renderDiagnostics() {
  var list = Array.isArray(D.diagnostics) ? D.diagnostics : [];
  if (!list.length) return;
  $("diagnostics").hidden = false;
  var ul = $("diagnostics-list");
  list.slice(0, 500).forEach(function (d) { ul.appendChild(el("li", null, d.level + ": " + d.message + (d.where ? " (" + d.where + ")" : ""))); });
  if (list.length > 500) ul.appendChild(el("li", "dim", (list.length - 500) + " more in results.json"));
}

var entries = Array.isArray(D.entries) ? D.entries : [];
var order = entries.map(function (e, i) { return { e: e, i: i }; })
  .sort(function (a, b) { return rank(a.e.st) - rank(b.e.st) || a.i - b.i; })
  .map(function (x) { return x.e; });
renderHeader();
renderNotes();
renderFailures(order);
renderRunEvents();
renderComparison();
renderTimeline();
renderFlaky();
renderTestList(order);
renderDiagnostics();
document.body.dataset.renderMs = performance.now().toFixed(1);
document.body.dataset.ready = "1";
})();
`;
