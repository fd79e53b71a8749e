// `kharness compare`, `kharness history TEST_ID` and `kharness flakes`: read runs and the history database,
// render, and say whether a comparison regressed (cli.ts turns that into the exit code).

import { promises as fs } from "node:fs";
import type { Command } from "./cli-args.js";
import { compareRuns, type Comparison } from "./compare/classify.js";
import { loadRunForCompare } from "./compare/load.js";
import { renderComparisonJson, renderComparisonMarkdown, renderComparisonTerminal } from "./compare/render.js";
import { UsageError } from "./errors.js";
import { applyExpectations, kernelFactsOf, readExpectFile } from "./expect/expectations.js";
import { findFlakes, HistoryError, openHistory, testNames, testTimeline } from "./history/db.js";
import { historyPath } from "./history/record.js";
import { flakyTests } from "./after-run.js";
import { nearMatches } from "./payload/payload.js";

interface Out {
  stdout: NodeJS.WritableStream;
  color: boolean;
  cacheRoot: string;
}

/** The history file a command reads; UsageError when it does not exist. */
async function existingHistory(opt: Extract<Command, { cmd: "history" }>["history"], cacheRoot: string): Promise<string> {
  const file = historyPath(cacheRoot, opt.off ? undefined : opt.path);
  const st = await fs.stat(file).catch(() => undefined);
  if (!st?.isFile())
    throw new UsageError(`history ${file}: no such database`, {
      fix: "record runs first (every `kharness run` records itself unless --no-history), or pass --history DB",
      untestable: false,
    });
  return file;
}

/** Opens a history read-only; its problems become UsageErrors (the file is the command's input). */
function openForReading(file: string) {
  try {
    return openHistory(file, { readonly: true });
  } catch (e) {
    if (e instanceof HistoryError) throw new UsageError(e.message, { fix: e.fix, untestable: false });
    throw e;
  }
}

/** `kharness compare BASE NEW`: prints the comparison; returns it. */
export async function runCompareCommand(c: Extract<Command, { cmd: "compare" }>, out: Out): Promise<Comparison> {
  const expect = c.expect !== undefined ? await readExpectFile(c.expect) : undefined;
  if (expect?.problems.length) throw new UsageError(expect.problems.join("; "), { fix: "fix the file; docs/expect.md gives its form", untestable: false });
  const [base, next] = await Promise.all([loadRunForCompare(c.base, "BASE"), loadRunForCompare(c.next, "NEW")]);
  if (expect?.expect) {
    base.run = applyExpectations(base.run, expect.expect, await kernelFactsOf(base.run, base.runDir)).run;
    next.run = applyExpectations(next.run, expect.expect, await kernelFactsOf(next.run, next.runDir)).run;
  }
  // Flakiness comes from the history when there is one; a missing or unreadable one just knows no flakes.
  const db = c.history.off ? undefined : historyPath(out.cacheRoot, c.history.path);
  const cmp = compareRuns(base.run, next.run, { base: base.ref, new: next.ref }, { flaky: flakyTests(db) });
  out.stdout.write(
    c.format === "json"
      ? renderComparisonJson(cmp)
      : c.format === "markdown"
        ? renderComparisonMarkdown(cmp)
        : renderComparisonTerminal(cmp, { color: out.color }),
  );
  return cmp;
}

/** `kharness history TEST_ID`: the test's timeline. */
export async function runHistoryCommand(c: Extract<Command, { cmd: "history" }>, out: Out): Promise<void> {
  const file = await existingHistory(c.history, out.cacheRoot);
  const db = openForReading(file);
  try {
    const tl = testTimeline(db, c.testId, c.limit);
    if (!tl.length) {
      const near = nearMatches(
        testNames(db).map((program) => ({ program })),
        c.testId,
      );
      throw new UsageError(`history ${file}: no results for ${c.testId}`, {
        fix: near.length ? `test ids are exact; did you mean ${near.join(", ")}?` : "test ids are as results.json names them (program.fixture.variant.case)",
        untestable: false,
      });
    }
    if (c.json) {
      out.stdout.write(`${JSON.stringify({ test: c.testId, db: file, results: tl }, null, 2)}\n`);
      return;
    }
    const lines = [`${c.testId}: ${tl.length} run${tl.length === 1 ? "" : "s"} in ${file}, oldest first`];
    for (const e of tl)
      lines.push(
        `  ${e.time}  ${e.runId.padEnd(26)} ${e.status.padEnd(7)} ${e.durationMs !== undefined ? `${e.durationMs} ms`.padStart(9) : "".padStart(9)}  ${e.kernelRelease ?? "-"}  ${e.buildKey?.slice(0, 12) ?? "-"}${e.reason ? `  ${e.reason}` : ""}`,
      );
    const statuses = tl.map((e) => e.status[0]).join("");
    lines.push(`  strip: ${statuses}  (P pass, F fail, S skip, X xfail/xpass, T timeout, C crash, E error)`);
    out.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    db.close();
  }
}

/** `kharness flakes`: tests whose status flips on one kernel input. */
export async function runFlakesCommand(c: Extract<Command, { cmd: "flakes" }>, out: Out): Promise<void> {
  const file = await existingHistory(c.history, out.cacheRoot);
  const db = openForReading(file);
  try {
    const flakes = findFlakes(db);
    if (c.json) {
      out.stdout.write(`${JSON.stringify({ db: file, flakes }, null, 2)}\n`);
      return;
    }
    if (!flakes.length) {
      out.stdout.write(`no flaky tests in ${file}: no status flips between runs of the same kernel\n`);
      return;
    }
    const lines = [`${flakes.length} flaky test${flakes.length === 1 ? "" : "s"} in ${file} (score = flips / (runs - 1) on one kernel):`];
    for (const f of flakes) {
      const st = Object.entries(f.statuses)
        .map(([s, n]) => `${n} ${s}`)
        .join(", ");
      lines.push(`  ${f.score.toFixed(2)}  ${f.id}: ${f.flips} flips in ${f.runs} runs (${st}) on ${f.kernelRelease ?? "?"} [${f.buildKey.slice(0, 16)}]`);
      lines.push(`        flipped in: ${f.flipRuns.slice(0, 10).join(" ")}${f.flipRuns.length > 10 ? ` ... (${f.flipRuns.length - 10} more)` : ""}`);
    }
    out.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    db.close();
  }
}
