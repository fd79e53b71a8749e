// The whole harness, tests included, type-checks in strict mode (tap runs tests without type-checking).
import t from "tap";
import { execFileSync } from "node:child_process";
import * as path from "node:path";
import { REPO_ROOT as root } from "./repo-root.js";

t.test("tsc --noEmit -p tsconfig.check.json reports no errors", async (t) => {
  let out = "";
  let code = 0;
  try {
    out = execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "tsconfig.check.json")], {
      encoding: "utf8",
    });
  } catch (e) {
    code = (e as { status: number }).status;
    out = String((e as { stdout: string }).stdout);
  }
  t.equal(code, 0, "tsc exit code");
  t.equal(out.trim(), "", "no diagnostics");
});
