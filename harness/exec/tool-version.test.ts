// cachedVersionLine: a tool unchanged on disk is asked once; a changed or failing one is asked again.

import t from "tap";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createExec } from "./exec.js";
import { cachedVersionLine, resolveOnPath } from "./tool-version.js";

/** A tool that counts its runs in a file beside it and prints `line` (or fails with exit 1 when line is undefined). */
function writeTool(dir: string, line: string | undefined): string {
  const tool = path.join(dir, "tool");
  const body = line === undefined ? "exit 1" : `echo '${line}'`;
  writeFileSync(tool, `#!/bin/sh\necho run >> '${path.join(dir, "runs")}'\n${body}\n`);
  chmodSync(tool, 0o755);
  return tool;
}
const runs = (dir: string) => (existsSync(path.join(dir, "runs")) ? readFileSync(path.join(dir, "runs"), "utf8").split("\n").filter(Boolean).length : 0);

t.test("asked once while the binary is unchanged, again when it changes", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "kh-toolver-"));
  const cache = path.join(dir, "cache");
  const exec = createExec();
  const tool = writeTool(dir, "tool 1.2.3");
  t.equal(await cachedVersionLine(exec, tool, cache), "tool 1.2.3");
  t.equal(await cachedVersionLine(exec, tool, cache), "tool 1.2.3");
  t.equal(runs(dir), 1, "the second answer came from the cache");
  writeTool(dir, "tool 2.0.0-rc1");
  t.equal(await cachedVersionLine(exec, tool, cache), "tool 2.0.0-rc1", "a replaced binary is asked again");
  t.equal(runs(dir), 2);
});

t.test("a failure is not kept: the tool is asked again next time", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "kh-toolver-"));
  const cache = path.join(dir, "cache");
  const exec = createExec();
  const tool = writeTool(dir, undefined);
  t.equal(await cachedVersionLine(exec, tool, cache), undefined);
  t.equal(await cachedVersionLine(exec, tool, cache), undefined);
  t.equal(runs(dir), 2);
  t.equal(await cachedVersionLine(exec, path.join(dir, "missing-tool"), cache), undefined, "a missing tool is undefined");
});

t.test("resolveOnPath finds the first executable of the name on PATH", async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "kh-toolver-"));
  const tool = writeTool(dir, "x");
  t.equal(await resolveOnPath("tool", `/nonexistent${path.delimiter}${dir}`), tool);
  t.equal(await resolveOnPath("no-such-tool-here", dir), undefined);
});
