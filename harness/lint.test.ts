// Biome's lint rules (biome.jsonc) hold on the whole tree, so `npm test` fails on a lint error (and, once the
// tree has been formatted, on a file that is not formatted).
import t from "tap";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { REPO_ROOT as root } from "./repo-root.js";

const biome = path.join(root, "node_modules", "@biomejs", "biome", "bin", "biome");

/** Runs biome in the repository root: its exit status and everything it said. */
function runBiome(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [biome, ...args, "--colors=off", "--max-diagnostics=50"], { cwd: root, encoding: "utf8" });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The whole tree is formatted (`npm run format`), so the test runs `biome ci`: lint and format together. */
const CHECK_FORMAT = true;

t.test(CHECK_FORMAT ? "biome ci: no lint finding, every file formatted" : "biome lint reports nothing (warnings count as errors)", async (t) => {
  const r = runBiome(CHECK_FORMAT ? ["ci", "--error-on-warnings"] : ["lint", "--error-on-warnings"]);
  t.equal(
    r.status,
    0,
    r.status === 0 ? "biome passes" : `biome failed; fix the code (or run \`npm run format\`), see docs/architecture.md "Lint and format":\n${r.output}`,
  );
  t.match(r.output, /Checked [1-9]\d* files/, "biome checked the tree's files");
});
