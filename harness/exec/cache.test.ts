// processAlive: the product's one "does this process exist" check (stale locks, stale build directories).
import t from "tap";
import { spawnSync } from "node:child_process";
import { processAlive } from "./cache.js";

t.test("processAlive: this process yes; an exited child, pid 0, -1 and NaN no", async (t) => {
  t.ok(processAlive(process.pid), "this process");
  t.ok(processAlive(1), "PID 1 (another user's: EPERM still means it exists)");
  const child = spawnSync("true");
  t.equal(child.status, 0);
  t.notOk(processAlive(child.pid as number), "a child that exited and was reaped");
  t.notOk(processAlive(0), "0 would signal the whole process group");
  t.notOk(processAlive(-1), "-1 would signal every process");
  t.notOk(processAlive(Number.NaN), "a pid that did not parse");
});
