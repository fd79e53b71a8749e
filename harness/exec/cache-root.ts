// Where the cache lives, on its own: `kharness parse` needs the path's module graph, not the cache's (node:crypto).

import * as os from "node:os";
import * as path from "node:path";

/** $KHARNESS_CACHE or ~/.cache/kharness. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.KHARNESS_CACHE || path.join(os.homedir(), ".cache", "kharness");
}
