// Process-level tests of the one module that spawns: exit codes, line streaming, group kill on abort.
import t from "tap";
import { ccacheAvailable, createExec, firstLineOf, runChecked } from "./exec.js";
import { CommandFailedError } from "../errors.js";
import { isAlive } from "../../test/support/procs.js";

t.test("run's onLine gets whole lines when a line is split across writes, without \\r", async (t) => {
  const exec = createExec();
  const got: string[] = [];
  await exec.run(["sh", "-c", "printf 'ab'; sleep 0.1; printf 'c\\r\\nde'; sleep 0.1; printf 'f\\ntail'"], { onLine: (l) => got.push(l) });
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

t.test("firstLineOf gives a command's first stdout line, trimmed, and undefined when it is missing or fails", async (t) => {
  const exec = createExec();
  t.equal(await firstLineOf(exec, ["sh", "-c", "printf '  tool 1.2  \\nsecond\\n'"]), "tool 1.2");
  t.equal(await firstLineOf(exec, ["sh", "-c", "echo out; exit 1"]), undefined, "a failing command");
  t.equal(await firstLineOf(exec, ["kharness-no-such-command-here"]), undefined, "a missing command");
  t.equal(await ccacheAvailable(exec), (await exec.run(["sh", "-c", "command -v ccache"])).exitCode === 0, "ccache is found exactly when the shell finds it");
});
