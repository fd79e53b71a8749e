// The repository root is computed once (harness/repo-root.ts) and is right from the sources and from dist/.
import t from "tap";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_ROOT, repoRootOf } from "./repo-root.js";

t.test("from the sources, REPO_ROOT is the checkout (its package.json is kharness's)", async (t) => {
  t.equal(JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).name, "kharness");
  t.ok(existsSync(path.join(REPO_ROOT, "selftests")) && existsSync(path.join(REPO_ROOT, "vm")), "selftests/ and vm/ are there");
});

t.test("the sources and the build name the same root", async (t) => {
  t.equal(repoRootOf("/src/kh/harness/repo-root.ts"), "/src/kh");
  t.equal(repoRootOf("/src/kh/dist/harness/repo-root.js"), "/src/kh", "dist/harness/ is two levels below the root");
  t.equal(repoRootOf("/home/u/dist/harness/repo-root.ts"), "/home/u/dist", "a checkout called dist is still the root when run from sources");
});

const built = path.join(REPO_ROOT, "dist", "harness", "repo-root.js");

t.test("the built module (dist/) finds the same checkout", { skip: existsSync(built) ? false : "dist/ not built (npm run build)" }, async (t) => {
  // The built module, loaded by a plain node process as bin/kharness.js loads the build.
  const script = `import { REPO_ROOT } from ${JSON.stringify(pathToFileURL(built).href)}; process.stdout.write(REPO_ROOT);`;
  const fromDist = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: "/", encoding: "utf8" });
  t.equal(fromDist, REPO_ROOT, "the built module finds the same checkout");
});
