// writeHtmlReport and `kharness report` on real files: uPlot inlined from node_modules, optional comparison.json
// and history.json (an unreadable one becomes a note on the page), clear errors for a missing results.json or
// chart library, and report.html written by writeReports for every run directory.
import t from "tap";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { UsageError } from "./errors.js";
import { readChartAssets, writeHtmlReport } from "./html-report.js";
import { renderJson } from "./report/index.js";
import { parseLog } from "./results/index.js";
import { runCli, tempDir } from "../test/support/cli-run.js";
import { writeReports } from "./write-reports.js";

const RUN = parseLog("KTAP version 1\n1..2\nok 1 a\nnot ok 2 b\n");

/** The data block of a report.html, parsed. */
async function dataOf(file: string): Promise<{ notes: string[]; comparison?: unknown; history?: unknown; entries: { id: string }[] }> {
  const html = await fs.readFile(file, "utf8");
  const m = /<script type="application\/json" id="kh-data">([\s\S]*?)<\/script>/.exec(html);
  if (!m) throw new Error(`${file}: no data block`);
  return JSON.parse(m[1]!);
}

t.test("writeHtmlReport: results.json alone; uPlot inlined from node_modules; no temporary file left", async (t) => {
  const dir = tempDir("kh-html-w-");
  await fs.writeFile(path.join(dir, "results.json"), renderJson(RUN));
  const out = await writeHtmlReport(dir);
  t.equal(out, path.join(dir, "report.html"));
  const html = await fs.readFile(out, "utf8");
  t.match(html, /uPlot \(v1\.6\.32\)/, "uPlot's own banner: the real library is inline");
  t.same((await fs.readdir(dir)).sort(), ["report.html", "results.json"], "only report.html was added");
  const data = await dataOf(out);
  t.same(
    data.entries.map((e) => e.id),
    ["a", "b"],
  );
  t.same(data.notes, []);
  t.notOk("comparison" in data && data.comparison !== undefined, "no comparison without comparison.json");
  const nonces = new Set([...html.matchAll(/nonce="([^"]+)"/g)].map((m) => m[1]));
  const again = await fs.readFile(await writeHtmlReport(dir), "utf8");
  const nonces2 = new Set([...again.matchAll(/nonce="([^"]+)"/g)].map((m) => m[1]));
  t.equal(nonces.size, 1, "one nonce per page");
  t.notSame([...nonces], [...nonces2], "a fresh nonce each time");
});

t.test("comparison.json and history.json are read when present; unreadable ones become notes, not errors", async (t) => {
  const dir = tempDir("kh-html-w-");
  await fs.writeFile(path.join(dir, "results.json"), renderJson(RUN));
  const comparison = { version: 1, verdict: "clean", tests: [] };
  await fs.writeFile(path.join(dir, "comparison.json"), JSON.stringify(comparison));
  await fs.writeFile(path.join(dir, "history.json"), "{ not json");
  let data = await dataOf(await writeHtmlReport(dir));
  t.same(data.comparison, comparison, "comparison.json is on the page");
  t.equal(data.history, undefined, "a broken history.json is left out");
  t.match(data.notes, [/^history\.json is not valid JSON/], "and said");
  await fs.writeFile(path.join(dir, "history.json"), JSON.stringify({ version: 2, tests: {} }));
  data = await dataOf(await writeHtmlReport(dir));
  t.match(data.notes, [/^history\.json is not in the expected form \(version 1\)/], "an unknown version is said too");
});

t.test("a missing or foreign results.json is a UsageError naming the file; a missing uPlot names the file and the fix", async (t) => {
  const dir = tempDir("kh-html-w-");
  await t.rejects(writeHtmlReport(dir), UsageError);
  await t.rejects(writeHtmlReport(dir), { message: `report: ${path.join(dir, "results.json")}: no such file` });
  await fs.writeFile(path.join(dir, "results.json"), "[1,2]");
  await t.rejects(writeHtmlReport(dir), { message: /not a kharness results\.json/ });
  await fs.writeFile(path.join(dir, "results.json"), "{");
  await t.rejects(writeHtmlReport(dir), { message: /not valid JSON/ });
  const empty = tempDir("kh-html-root-");
  await t.rejects(readChartAssets(empty), { message: new RegExp(`${path.join(empty, "node_modules/uplot/dist/")}.*npm ci`) });
});

t.test("writeReports writes report.html into the run directory beside results.json", async (t) => {
  const dir = tempDir("kh-html-w-");
  await writeReports(RUN, dir, {}, { runId: "x" });
  const files = await fs.readdir(dir);
  t.ok(files.includes("report.html") && files.includes("results.json"), `report.html and results.json (${files.join(", ")})`);
});

t.test("kharness report RUN_DIR: regenerates report.html; a bad directory exits 2 with one clear error", async (t) => {
  const dir = tempDir("kh-html-cli-");
  await fs.writeFile(path.join(dir, "results.json"), renderJson(RUN));
  const ok = await runCli(["report", dir]);
  t.equal(ok.code, 0, "exit 0");
  t.match(ok.stdout, /report: .*report\.html/);
  t.ok((await fs.stat(path.join(dir, "report.html"))).size > 50_000, "report.html written (uPlot inline)");
  const bad = await runCli(["report", path.join(dir, "nope")]);
  t.equal(bad.code, 2, "exit 2");
  t.match(bad.stderr, /report .*nope: no such directory/);
  const none = await runCli(["report"]);
  t.equal(none.code, 2);
  t.match(none.stderr, /report takes one RUN_DIR/);
});
