// Part of setup (scripts/setup.sh runs it after `npm ci --ignore-scripts`): the install scripts of our
// dependencies, with better-sqlite3's native addon taken from a cache when it was built before. Compiling it
// (node-gyp, no prebuilt binary reachable here) takes 45 s or more on two cores, on every fresh clone, and the
// result depends only on its version, Node's module ABI, the platform and the architecture: those are the key.
// Plain Node, no dependencies: it runs before anything else is known to work.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const cache = process.env.KHARNESS_CACHE || path.join(os.homedir(), ".cache", "kharness");
const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8"));
const scripted = Object.entries(lock.packages ?? {})
  .filter(([where, p]) => where.startsWith("node_modules/") && p.hasInstallScript)
  .map(([where, p]) => ({ name: where.slice("node_modules/".length), version: p.version }));

const SQLITE = "better-sqlite3";
const npm = (...args) => execFileSync("npm", args, { cwd: root, stdio: ["ignore", 2, 2] });

/** Whether better-sqlite3 loads and answers a query in a fresh process (its addon is there and fits this Node). */
function sqliteWorks() {
  try {
    execFileSync(process.execPath, ["-e", `new (require("${SQLITE}"))(":memory:").prepare("select 1").get()`], { cwd: root, stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

// Any other package with an install script: run its scripts as npm would have (none today).
const others = scripted.filter((p) => p.name !== SQLITE).map((p) => p.name);
if (others.length) npm("rebuild", ...others);

const sqlite = scripted.find((p) => p.name === SQLITE);
if (sqlite) {
  const addon = path.join(root, "node_modules", SQLITE, "build", "Release", "better_sqlite3.node");
  const key = `${SQLITE}-${sqlite.version}-node-abi${process.versions.modules}-${process.platform}-${process.arch}`;
  const cached = path.join(cache, "node-addons", key, "better_sqlite3.node");
  if (!(existsSync(addon) && sqliteWorks())) {
    let restored = false;
    if (existsSync(cached)) {
      mkdirSync(path.dirname(addon), { recursive: true });
      copyFileSync(cached, addon);
      restored = sqliteWorks();
      if (!restored) process.stderr.write(`setup: the cached ${cached} does not load; building ${SQLITE} again\n`);
    }
    if (!restored) {
      process.stderr.write(`setup: building ${SQLITE}'s native addon (npm rebuild ${SQLITE})\n`);
      npm("rebuild", SQLITE);
      if (!sqliteWorks()) {
        process.stderr.write(
          `setup: ${SQLITE} does not load after npm rebuild ${SQLITE}; fix: apt-get install build-essential python3, then npm rebuild ${SQLITE}\n`,
        );
        process.exit(1);
      }
    }
  }
  if (!existsSync(cached)) {
    // Published by rename, so a concurrent or interrupted setup never leaves half a file under the key.
    mkdirSync(path.dirname(cached), { recursive: true });
    const tmp = `${cached}.tmp-${process.pid}`;
    copyFileSync(addon, tmp);
    renameSync(tmp, cached);
  }
}
