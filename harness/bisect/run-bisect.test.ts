// The bisection driver against a fake pipeline (no build, no boot): which revisions it asks for, what it writes to
// bisect.json, and how untestable revisions, bad ends, infrastructure failures and --resume are handled.
import t from "tap";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { InfraError } from "../errors.js";
import type { PipelineOutcome } from "../pipeline.js";
import type { RunRequest, RunResult, Status } from "../types.js";
import { REPO_ROOT, tempDir } from "../../test/support/cli-run.js";
import type { BisectDoc } from "./bisect-doc.js";
import { BisectInputError, runBisect, type BisectRequest } from "./run-bisect.js";

const BROKEN = path.join(REPO_ROOT, "patches", "landlock-socket-create-broken");

const request = (over: Partial<BisectRequest> = {}): BisectRequest => ({
  mode: "patches",
  run: {
    kernel: { kind: "tree", dir: "/nonexistent-tree", patches: [BROKEN], configs: [], baseConfig: "tiny", debug: false },
    tests: [],
    programs: [],
    kselftests: [],
    append: [],
    timeoutSec: 45,
    bootTimeoutSec: 120,
    accel: "tcg",
    reports: {},
    bisect: false,
    failOnWarn: false,
    selftestDefines: [],
  },
  pinned: [],
  repeat: 1,
  ...over,
});

const leaf = (id: string, status: Status) => ({ id, name: id, status, log: [`# ${id} said ${status}`], kernelEvents: [], children: [] });
const tested = (statuses: Record<string, Status>): PipelineOutcome =>
  ({
    ok: true,
    runDir: "/x",
    boot: { end: "poweroff" },
    run: {
      schemaVersion: 1,
      tests: Object.entries(statuses).map(([id, s]) => leaf(id, s)),
      summary: {},
      diagnostics: [],
      kernelEvents: [],
      boot: { durations: { bootMs: 1000, totalMs: 1500 } },
    } as unknown as RunResult,
  }) as unknown as PipelineOutcome;
const untestable = (): PipelineOutcome => ({ ok: false, stage: "kernel", error: new InfraError("make failed", { untestable: true }) });

/** A fake pipeline: the outcome for base + k patches; records which k were asked for. */
function fakeSteps(byPrefix: (k: number) => PipelineOutcome) {
  const asked: number[] = [];
  return {
    asked,
    deps: {
      exec: undefined as never,
      signal: new AbortController().signal,
      runStep: async (req: RunRequest) => {
        const k = req.kernel.kind === "tree" ? req.kernel.patches.length : -1;
        asked.push(k);
        return byPrefix(k);
      },
      onStepProgress: () => undefined,
      onEvent: () => undefined,
    },
  };
}

const layers = (bad: boolean) => tested({ "x.layers": bad ? "FAIL" : "SKIP", "x.other": "PASS", "x.always": "FAIL" });

t.test("an untestable prefix is skipped and, when it hides the answer, every candidate is named", async (t) => {
  const dir = tempDir("kh-rb-");
  const f = fakeSteps((k) => (k === 2 ? untestable() : layers(k >= 3)));
  const { doc } = await runBisect(request(), dir, f.deps);
  t.same(f.asked, [0, 4, 2, 1, 3], "the ends, then the middle, then around the skipped one");
  t.same(doc.signature?.tests, ["x.layers"], "a test failing at both ends is not in the signature");
  t.match(doc.result, { status: "ambiguous", candidates: [{ index: 2 }, { index: 3 }], skipped: [{ index: 2 }] });
  t.match(
    doc.steps.find((s) => s.index === 2),
    { verdict: "skip", runs: [{ outcome: "untestable", error: "make failed" }] },
  );
  const onDisk = JSON.parse(await fs.readFile(path.join(dir, "bisect.json"), "utf8")) as BisectDoc;
  t.equal(onDisk.state, "done");
  t.equal(onDisk.steps.length, 5);
});

t.test("the good end already failing the pinned test stops with the reason (exit 2's error), bisect.json kept", async (t) => {
  const dir = tempDir("kh-rb-");
  const f = fakeSteps((k) => layers(k >= 3));
  await t.rejects(runBisect(request({ pinned: ["x.always"] }), dir, f.deps), BisectInputError);
  const doc = JSON.parse(await fs.readFile(path.join(dir, "bisect.json"), "utf8")) as BisectDoc;
  t.match(doc.result, { status: "bad-ends", message: /the base already fails the signature/ });
  t.same(f.asked, [0, 4], "only the ends were tested");
});

t.test("no test flips between the ends: stopped, named as such", async (t) => {
  const f = fakeSteps(() => layers(false));
  await t.rejects(runBisect(request(), tempDir("kh-rb-"), f.deps), { message: /no test passes at the base and fails at the whole series/ });
});

t.test("an infrastructure failure stops the bisection (not a skip); --resume reuses the finished steps", async (t) => {
  const dir = tempDir("kh-rb-");
  let broken = true;
  const f = fakeSteps((k) => (k === 2 && broken ? { ok: false, stage: "boot", error: new InfraError("qemu: could not start") } : layers(k >= 3)));
  await t.rejects(runBisect(request(), dir, f.deps), { message: "qemu: could not start" });
  const failed = JSON.parse(await fs.readFile(path.join(dir, "bisect.json"), "utf8")) as BisectDoc;
  t.equal(failed.state, "failed");
  t.equal(failed.steps.length, 2, "the ends are kept");
  broken = false;
  f.asked.length = 0;
  const { doc } = await runBisect(request(), dir, f.deps, failed);
  t.same(f.asked, [2, 3], "the ends came from bisect.json");
  t.match(doc.result, { status: "found", firstBad: { index: 3, subject: "landlock: Restrict socket creation" } });
  t.match(doc.result?.flipped, [{ id: "x.layers", status: "FAIL", log: ["# x.layers said FAIL"] }]);
});
