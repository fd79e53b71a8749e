// `kharness parse FILE --json` of a big run is written as the parse goes (report/json.ts parseToJsonPieces); what
// it prints, and its exit code, must be what parsing the whole file gives, on both sides of that path's conditions.

import t from "tap";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import { main } from "./cli.js";
import { renderJsonChunks } from "./report/index.js";
import { parseLog } from "./results/index.js";

/** A console log of `suites` KUnit suites of 100 cases behind printk prefixes, case 7 of each failing. */
function consoleLog(suites: number, extra: (s: number) => string[] = () => []): string {
  const out = ["[    0.000000] Linux version 6.12.0 (test)", "KTAP version 1", `1..${suites}`];
  for (let s = 1; s <= suites; s++) {
    out.push("    KTAP version 1", `    # Subtest: suite_${s}`, "    1..100");
    for (let c = 1; c <= 100; c++) out.push(c === 7 ? `    not ok ${c} case_${c}` : `    ok ${c} case_${c}`);
    out.push(...extra(s), `not ok ${s} suite_${s}`);
  }
  return `${out.map((l) => `[    1.000000] ${l}`).join("\n")}\n`;
}

async function parseCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const chunks: Buffer[] = [];
  const errs: Buffer[] = [];
  const sink = (into: Buffer[]) =>
    new Writable({
      write(chunk, _enc, done) {
        into.push(Buffer.from(chunk));
        done();
      },
    });
  const code = await main(args, { stdout: sink(chunks), stderr: sink(errs), isTty: false });
  return { code, stdout: Buffer.concat(chunks).toString(), stderr: Buffer.concat(errs).toString() };
}

t.test("parse --json of a big console log prints what the whole-file parse renders, with its exit code", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "kh-parse-json-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const warn = (s: number) =>
    s === 50 ? ["------------[ cut here ]------------", "WARNING: CPU: 0 PID: 1 at lib/x.c:1 f+0x0/0x10", "---[ end trace 0000000000000000 ]---"] : [];
  for (const [name, text] of [
    ["plain (written as it is parsed)", consoleLog(110)],
    ["a kernel WARNING in suite 50 (parsed whole)", consoleLog(110, warn)],
  ] as const) {
    const file = path.join(dir, "console.log");
    writeFileSync(file, text);
    const want = parseLog(text);
    t.ok(want.summary.total > 10_000, `${name}: over the indentation limit`);
    const got = await parseCli(["parse", file, "--json"]);
    t.equal(got.stderr, "", `${name}: nothing on stderr`);
    t.equal(got.code, 1, `${name}: failing cases: exit 1`);
    t.equal(got.stdout, [...renderJsonChunks(want)].join(""), `${name}: the same document`);
  }
});
