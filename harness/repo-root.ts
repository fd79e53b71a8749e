// Pure: where the kharness checkout is (package.json, selftests/, vm/, kernel-config/), computed once for the
// product from this module's own location, whether it runs from the sources or from the build in dist/.

import * as path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The checkout root for this module's file: `<root>/harness/repo-root.ts` in the sources (tests run them),
 * `<root>/dist/harness/repo-root.js` in the build (tsconfig.json: outDir dist, rootDir .).
 */
export function repoRootOf(moduleFile: string): string {
  const harnessDir = path.dirname(moduleFile);
  return moduleFile.endsWith(".ts") ? path.dirname(harnessDir) : path.dirname(path.dirname(harnessDir));
}

/** The checkout root of the running kharness. */
export const REPO_ROOT = repoRootOf(fileURLToPath(import.meta.url));
