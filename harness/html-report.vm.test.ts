// report.html of one real run (default kernel, the bundled selftests and a --program printing hostile KTAP),
// opened in real headless Chromium: the counts and failing tests on the page, no console error, no request but
// the file itself; HTML and script from the guest shown as text and never run; a comparison and a history
// (in the form compare and the history database write them) drawn under the page's CSP.
import t, { type Test } from "tap";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { runCli, tempDir } from "../test/support/cli-run.js";
import { openReport, screenshotPath, type OpenedReport } from "../test/support/report-browser.js";
import { writeHtmlReport } from "./html-report.js";
import { listReportedTests } from "./results/index.js";
import { FAILING_STATUSES, type RunResult } from "./types.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const work = tempDir("kh-html-");
const prog = path.join(work, "hostile_ktap");
execFileSync("gcc", ["-static", "-O1", "-o", prog, path.join(HERE, "report", "testdata", "hostile-ktap.c")]);

// The one real run every case below reads.
const run = await runCli(["run", "--tests", "*", "--program", prog]);
const runDir = run.outDir;
const results = JSON.parse(await fs.readFile(path.join(runDir, "results.json"), "utf8")) as RunResult;
const entries = listReportedTests(results.tests);
const failing = entries.filter((e) => FAILING_STATUSES.has(e.status)).map((e) => e.id);

const PWN = [
  "<script>window.__pwned=1</script>",
  '<img src=x onerror="window.__pwned=1">',
  "</textarea><b>x</b>",
  "</script><script>window.__pwned=1</script><!--",
] as const;

/** Asserts the page complained about nothing and asked for nothing but itself. */
function assertQuiet(t: Test, r: OpenedReport): void {
  t.same(r.problems, [], "no console error or warning, no page error");
  t.same(r.requests, [r.url], "the only request is the report file itself");
  t.same(r.blocked, [], "nothing had to be blocked");
}

t.test("the real run ended as the hostile program makes it: failures, exit 1", async (t) => {
  t.equal(run.code, 1, "kharness run exits 1 (tests failed)", { stderr: run.stderr.slice(-2000) });
  t.ok(failing.length >= 2, `the hostile program's two not-ok cases fail (failing: ${failing.join(", ")})`);
  t.ok(results.summary.pass > 100, "the bundled selftests ran too");
});

t.test("report.html shows the run's counts and failing tests; no console error; no network request", async (t) => {
  const r = await openReport(path.join(runDir, "report.html"));
  t.teardown(() => r.close());
  const { page } = r;
  t.equal(await page.textContent("#verdict"), "FAILED", "verdict");
  for (const k of ["total", "pass", "fail", "skip"] as const) {
    t.equal(await page.getAttribute(`#count-${k}`, "data-count"), String(results.summary[k]), `count ${k} = ${results.summary[k]}`);
  }
  const shownFailures = await page.$$eval("#failures-list article", (els) => els.map((e) => e.getAttribute("data-id") ?? ""));
  t.same([...shownFailures].sort(), [...failing].sort(), "the failures section lists exactly the failing tests");
  t.equal(await page.getAttribute("#shown", "data-shown"), String(entries.length), "the test list holds every summary entry");
  const firstRow = await page.getAttribute("#rows .row", "data-id");
  t.ok(firstRow && failing.includes(firstRow), "failures come first in the test list");
  t.ok((await page.$$("#timeline-body svg")).length >= 2, "the timeline draws the host stages and the guest's programs");
  const bars = await page.$$eval("#timeline-body svg rect title", (els) => els.map((e) => e.textContent ?? ""));
  for (const p of results.tests)
    t.ok(
      bars.some((b) => b.startsWith(`${p.id}: `)),
      `program ${p.id} has a bar`,
    );
  const shot = screenshotPath("real-run.png");
  await page.screenshot({ path: shot, fullPage: true });
  t.comment(`screenshot: ${shot}`);
  assertQuiet(t, r);
});

t.test("HTML and script from the guest are shown as text and never run", async (t) => {
  const r = await openReport(path.join(runDir, "report.html"));
  t.teardown(() => r.close());
  const { page } = r;
  const failuresText = (await page.textContent("#failures-list")) ?? "";
  t.ok(failuresText.includes(PWN[0]), "a <script> test name is text");
  t.ok(failuresText.includes(PWN[1]), "an <img onerror> test name is text");
  t.ok(failuresText.includes("# log: </textarea><textarea>"), "a </textarea> log line is text");
  t.ok(failuresText.includes(`# log: ${PWN[3]}`), "a </script>...<!-- log line is text");
  // The SKIP case with markup in its name and reason, found through the text filter.
  await page.fill("#filter-text", "pwned");
  const want = entries.filter((e) => `${e.id}\n${e.name}\n${e.reason ?? ""}`.toLowerCase().includes("pwned")).length;
  await page.waitForSelector(`#shown[data-shown="${want}"]`);
  t.equal(want, 3, "three entries carry the script in their name or reason");
  const skipped = entries.find((e) => e.name === PWN[2]);
  t.equal(skipped?.status, "SKIP", "the case named </textarea><b>x</b> was parsed as a SKIP");
  t.ok(((await page.textContent("#rows")) ?? "").includes(skipped?.id ?? "?"), "its id is text in the list");
  for (let i = 0; i < want; i++) {
    await page.click(`#rows .row[data-index="${i}"]`);
    const id = await page.getAttribute(`#rows .row[data-index="${i}"]`, "data-id");
    t.equal(await page.textContent("#detail-id"), id, `the detail view of row ${i} opened`);
  }
  await page.click(`#rows .row[data-id="${skipped?.id}"]`);
  const detail = (await page.textContent("#detail-body")) ?? "";
  t.ok(detail.includes(PWN[2]), "its name is text in the detail view");
  t.ok(detail.includes(PWN[0]), "its SKIP reason (with a script element) is text in the detail view");
  t.equal(await page.evaluate("typeof window.__pwned"), "undefined", "window.__pwned is undefined: no injected script ran");
  t.equal(await page.$$eval("img, textarea, b, iframe, object, embed", (els) => els.length), 0, "no element came from the data");
  t.equal(await page.$$eval("script", (els) => els.length), 3, "only the page's own three script elements exist");
  const shot = screenshotPath("hostile-input.png");
  await page.screenshot({ path: shot, fullPage: true });
  t.comment(`screenshot: ${shot}`);
  assertQuiet(t, r);
});

t.test("with comparison.json and history.json: regressions first, result strips, a duration trend by uPlot", async (t) => {
  const dir = tempDir("kh-html-extra-");
  await fs.copyFile(path.join(runDir, "results.json"), path.join(dir, "results.json"));
  const [regressed = "", fixed = ""] = failing;
  const firstPass = entries.find((e) => e.status === "PASS")?.id ?? "";
  const comparison = {
    version: 1,
    base: { runId: "base-run", path: "/runs/base", kernelRelease: "6.12.0" },
    new: { runId: results.runId, path: runDir, kernelRelease: results.kernel?.release },
    verdict: "regressed",
    summary: { regression: 1, fix: 1, new: 0, missing: 0, stillFailing: 0, skipReasonChanged: 0, flaky: 0, newKernelReports: 0, unchanged: 1 },
    tests: [
      { id: firstPass, class: "unchanged", base: { status: "PASS" }, new: { status: "PASS" } },
      { id: fixed, class: "fix", base: { status: "FAIL" }, new: { status: "PASS" } },
      { id: regressed, class: "regression", base: { status: "PASS" }, new: { status: "FAIL", reason: "<script>window.__pwned=1</script>" } },
    ],
    newKernelReports: [{ kind: "warning", title: "WARNING: <img src=x onerror=alert(1)>" }],
  };
  const recent = (status: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      runId: `r${i}`,
      time: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(),
      status: i % 3 ? status : "FAIL",
      durationMs: 10 + i,
    }));
  const history = {
    version: 1,
    db: "/tmp/history.db",
    tests: { [regressed]: { recent: recent("PASS", 12), flakeScore: 0.4 }, [firstPass]: { recent: recent("PASS", 5) } },
  };
  await fs.writeFile(path.join(dir, "comparison.json"), JSON.stringify(comparison));
  await fs.writeFile(path.join(dir, "history.json"), JSON.stringify(history));
  await writeHtmlReport(dir);
  const r = await openReport(path.join(dir, "report.html"));
  t.teardown(() => r.close());
  const { page } = r;
  t.ok(await page.isVisible("#comparison"), "the comparison section is shown");
  const classes = await page.$$eval("#comparison-body tbody tr", (els) => els.map((e) => e.className));
  t.same(classes, ["c-regression", "c-fix"], "regressions first; unchanged tests are not listed");
  t.ok(((await page.textContent("#comparison-body")) ?? "").includes("<img src=x onerror=alert(1)>"), "a new kernel report's title is text");
  t.ok(await page.isVisible("#flaky"), "the flaky section lists the test with a flake score");
  await page.click(`#rows .row[data-id="${regressed}"]`);
  t.equal(await page.$$eval("#detail-body .strip i", (els) => els.length), 12, "the detail strip shows its 12 recent results");
  await page.waitForSelector("#detail-body .chart canvas");
  t.pass("uPlot drew the duration trend");
  t.equal(await page.evaluate("typeof window.__pwned"), "undefined", "no injected script ran");
  t.equal(await page.$$eval("img", (els) => els.length), 0, "no <img> from the data");
  const shot = screenshotPath("comparison-history.png");
  await page.screenshot({ path: shot, fullPage: true });
  t.comment(`screenshot: ${shot}`);
  assertQuiet(t, r);
});
