#!/usr/bin/env node
// The kharness command: runs the compiled CLI (built by `npm run setup` / `npm run build`).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "dist", "harness", "cli.js");
if (!existsSync(cli)) {
  process.stderr.write(`kharness: not built yet (${cli} is missing)\nfix: run \`npm run setup\` in ${root}\n`);
  process.exit(3);
}
const { main } = await import(cli);
// process.exit, not process.exitCode: main has awaited everything it started, and waiting for Node's own teardown
// cost a warm run about 5 ms after its last file was written (issue 16). Output to pipes, files and terminals is
// written synchronously on Linux, so nothing printed is lost.
process.exit(await main(process.argv.slice(2)));
