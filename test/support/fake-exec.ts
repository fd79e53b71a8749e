// Test support: an Exec that records each argv and replays scripted output, so build flows run
// without make, git or a kernel tree.

import type { Exec, RunOpts, RunOutput } from "../../harness/exec/exec.js";

/** What a scripted command prints and how it exits. */
export interface FakeResult {
  exitCode?: number;
  /** Output lines (fed to onLine and the tail, and joined as stdout unless `stdout` is given). */
  lines?: string[];
  stdout?: string;
}

/** Decides each command's result; undefined means "not expected here" and fails the run loudly. */
export type FakeHandler = (argv: string[], opts: RunOpts) => Promise<FakeResult | undefined> | FakeResult | undefined;

export interface FakeExec extends Exec {
  calls: { argv: string[]; cwd?: string }[];
}

/** An Exec whose commands are answered by `handler`; spawn is not supported (builds never spawn). */
export function createFakeExec(handler: FakeHandler): FakeExec {
  const calls: FakeExec["calls"] = [];
  return {
    calls,
    async run(argv, opts = {}): Promise<RunOutput> {
      calls.push({ argv, cwd: opts.cwd });
      const r = await handler(argv, opts);
      if (!r) throw new Error(`fake exec: unexpected command ${JSON.stringify(argv)}`);
      const lines = r.lines ?? (r.stdout ?? "").split("\n").filter((l, i, a) => l !== "" || i < a.length - 1);
      for (const l of lines) opts.onLine?.(l, "stdout");
      const keep = opts.tailLines ?? 200;
      return {
        argv,
        cwd: opts.cwd,
        exitCode: r.exitCode ?? 0,
        timedOut: false,
        aborted: false,
        tail: lines.slice(-keep),
        stdout: r.stdout ?? lines.map((l) => l + "\n").join(""),
        stdoutTruncated: false,
      };
    },
    spawn() {
      throw new Error("fake exec: spawn not supported");
    },
    killAll() {},
    liveCount: () => 0,
  };
}
