// The terminal progress printer consumes typed progress events: the run directory, the kernel (cache hit or
// build time) and stage durations come as fields, never parsed out of an info message.

import t from "tap";
import { PassThrough } from "node:stream";
import { createProgressPrinter } from "./cli-progress.js";

function printed(events: Parameters<ReturnType<typeof createProgressPrinter>>[0][]): string[] {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d: Buffer) => (text += d.toString()));
  const sink = createProgressPrinter(out, { color: false, cwd: "/home/u/work" });
  for (const e of events) sink(e);
  // Drop the "[  0.0s] " stamp.
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => l.replace(/^\[\s*[\d.]+s\] /, ""));
}

t.test("run directory, relative to the working directory", async (t) => {
  t.same(printed([{ kind: "run-dir", path: "/home/u/work/kharness-out/20261202-1700-abcd" }]), ["run directory kharness-out/20261202-1700-abcd"]);
  t.same(printed([{ kind: "run-dir", path: "/home/u/work" }]), ["run directory ."]);
});

t.test("the kernel: from the build cache, built, or given", async (t) => {
  t.same(printed([{ kind: "kernel-ready", release: "6.12.0", source: "tree", cacheHit: true, cacheKey: "0123456789abcdef", buildMs: 40 }]), [
    "kernel 6.12.0 from the build cache (0123456789ab, 40 ms)",
  ]);
  t.same(printed([{ kind: "kernel-ready", release: "6.12.0", source: "tree", cacheHit: false, buildMs: 421_000 }]), ["built kernel 6.12.0 in 421 s"]);
  t.same(printed([{ kind: "kernel-ready", release: "6.1.0-9-amd64", source: "default" }]), ["kernel 6.1.0-9-amd64 (default)"]);
});

t.test("stage start with its detail, and its end with the duration when it took a second or more", async (t) => {
  t.same(
    printed([
      { kind: "stage", stage: "boot", detail: "6.12.0 (tcg)" },
      { kind: "stage-end", stage: "boot", durationMs: 12_345 },
      { kind: "stage", stage: "report" },
      { kind: "stage-end", stage: "report", durationMs: 3 },
    ]),
    ["boot: 6.12.0 (tcg)", "boot done in 12.3 s", "report"],
  );
});
