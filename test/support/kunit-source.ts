// Test support (not shipped): unpacks tools/testing/kunit from the installed linux-source-6.12 tarball into a cache.
import { existsSync, mkdirSync, rmSync, renameSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createExec } from "../../harness/exec/exec.js";

/** The Debian package's tarball; tests skip with this path in the message when it is absent. */
export const LINUX_SOURCE_TARBALL = "/usr/src/linux-source-6.12.tar.xz";

/**
 * Returns the unpacked tools/testing/kunit directory, extracting it once (about 30 s) into
 * $KHARNESS_CACHE/test/ (default ~/.cache/kharness/test/); undefined when the package is not installed.
 * Kernel files stay in the cache and are never copied into the repository.
 */
export async function unpackKunitTool(): Promise<string | undefined> {
  if (!existsSync(LINUX_SOURCE_TARBALL)) return undefined;
  const cache = path.join(process.env.KHARNESS_CACHE ?? path.join(os.homedir(), ".cache", "kharness"), "test");
  const dest = path.join(cache, "linux-source-6.12-kunit");
  const kunitDir = path.join(dest, "linux-source-6.12", "tools", "testing", "kunit");
  if (existsSync(path.join(kunitDir, "kunit.py"))) return kunitDir;
  mkdirSync(cache, { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const res = await createExec().run(["tar", "-xJf", LINUX_SOURCE_TARBALL, "-C", tmp, "--wildcards", "linux-source-6.12/tools/testing/kunit/*"], {
    timeoutMs: 600_000,
  });
  if (res.exitCode !== 0) throw new Error(`tar failed (${res.exitCode}): ${res.tail.join("\n")}`);
  // Rename into place so a concurrent or interrupted extraction never leaves a half-filled directory in use.
  try {
    renameSync(tmp, dest);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
  return kunitDir;
}
