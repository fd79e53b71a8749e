// Process-level tests of the one module that spawns: exit codes, line streaming, group kill on abort.
import t from "tap";
import { createExec, lineSplitter, runChecked } from "./exec.js";
import { CommandFailedError } from "../errors.js";
import { isAlive } from "../../test/support/procs.js";

t.test("lineSplitter joins chunks that split lines and strips \\r", async (t) => {
  const got: string[] = [];
  const s = lineSplitter((l) => got.push(l));
  s.push("ab");
  s.push("c\r\nde");
  s.push("f\n");
  s.push("tail");
  s.end();
  t.same(got, ["abc", "def", "tail"]);
});

t.test("run reports the exit code and the output tail", async (t) => {
  const exec = createExec();
  const res = await exec.run(["sh", "-c", "echo one; echo two >&2; exit 3"]);
  t.equal(res.exitCode, 3);
  t.same([...res.tail].sort(), ["one", "two"]);
  t.equal(res.stdout, "one\n");
});

t.test("runChecked throws a CommandFailedError naming the command", async (t) => {
  const exec = createExec();
  const err = await runChecked(exec, ["sh", "-c", "echo boom; exit 7"]).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof CommandFailedError, "a CommandFailedError");
  t.equal((err as CommandFailedError).exitCode, 7);
  t.match((err as CommandFailedError).message, /sh -c echo boom; exit 7/);
  t.same((err as CommandFailedError).tail, ["boom"]);
});

t.test("abort kills the whole process group, grandchildren included", async (t) => {
  const exec = createExec();
  const ac = new AbortController();
  const p = exec.run(["sh", "-c", "sleep 30 & echo $!; wait"], { signal: ac.signal, onLine: () => ac.abort() });
  const res = await p;
  const grandchild = Number(res.stdout.trim());
  t.ok(grandchild > 0, "grandchild pid printed");
  await new Promise((r) => setTimeout(r, 200));
  t.notOk(isAlive(grandchild), "grandchild sleep is gone");
  t.equal(exec.liveCount(), 0);
});
