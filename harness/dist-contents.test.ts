// dist/ ships the product only: `tsc -p tsconfig.json` (npm run build) takes no test, test support or
// testdata, and a helper planted under harness/ (where everything is built) is caught.
import t from "tap";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { testSupportBuilt, testSupportInBuild } from "../test/support/dist-contents.js";
import { REPO_ROOT as root } from "./repo-root.js";

t.test("the build of the real tree holds no test support", async (t) => {
  const { inputs, shipped } = testSupportBuilt(root);
  t.ok(inputs.includes("harness/cli.ts") && inputs.includes("harness/pipeline.ts"), "the build takes the product (the check looked at real inputs)");
  t.same(shipped, [], "no test file, test support or testdata is built into dist/ (move helpers to test/support/)");
  t.same(
    inputs.filter((f) => !f.startsWith("harness/")),
    [],
    "every built file is under harness/",
  );
});

t.test("a helper, a tap import, an import of test/ and a test placed under harness/ are caught", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "kh-dist-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The real build configuration, over a planted tree.
  writeFileSync(path.join(dir, "tsconfig.json"), readFileSync(path.join(root, "tsconfig.json")));
  symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"));
  const plant = (file: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  };
  plant("harness/cli.ts", "// The command line.\nexport const main = 1;\n");
  plant("harness/qemu/new-fixture.ts", "// Test helper: boots a small guest for VM tests.\nexport const fixture = 1;\n");
  plant("harness/exec/spy.ts", 'import t from "tap";\nexport const spy = t;\n');
  plant("harness/kernel/uses-support.ts", 'import { help } from "../../test/support/help.js";\nexport const x = help;\n');
  plant("test/support/help.ts", "export const help = 1;\n");
  plant("harness/kernel/tree-build.test.ts", "export const t = 1;\n");
  plant("harness/results/testdata/generate.ts", "export const g = 1;\n");

  const { inputs, shipped } = testSupportBuilt(dir);
  t.same(
    shipped.map((s) => s.file),
    ["harness/exec/spy.ts", "harness/kernel/uses-support.ts", "harness/qemu/new-fixture.ts", "test/support/help.ts"],
    "each planted piece of test support that the build takes is reported; the product file is not",
  );
  t.match(shipped.find((s) => s.file === "harness/qemu/new-fixture.ts")?.why, /header says it is test support/);
  t.match(shipped.find((s) => s.file === "harness/exec/spy.ts")?.why, /imports tap/);
  t.match(shipped.find((s) => s.file === "harness/kernel/uses-support.ts")?.why, /imports \.\.\/\.\.\/test\/support\/help\.js/);
  t.match(shipped.find((s) => s.file === "test/support/help.ts")?.why, /outside harness\//);
  t.notOk(inputs.includes("harness/kernel/tree-build.test.ts"), "tsconfig.json leaves tests beside the code out of the build");
  t.notOk(inputs.includes("harness/results/testdata/generate.ts"), "tsconfig.json leaves testdata/ folders out of the build");
});

t.test("a test file or testdata in the build list is reported, whatever its text", async (t) => {
  const shipped = testSupportInBuild(["harness/a.ts", "harness/a.test.ts", "harness/results/testdata/gen.ts"], () => "export const x = 1;\n");
  t.same(shipped, [
    { file: "harness/a.test.ts", why: "a test file" },
    { file: "harness/results/testdata/gen.ts", why: "in a testdata/ folder" },
  ]);
});
