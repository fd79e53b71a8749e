#!/usr/bin/env node
// Benchmark (issue 15): what --rootfs debian costs. Interleaved rounds of `kharness run --tests net_abi` with and
// without --rootfs debian on the default kernel (the order turns each round), reading each run's boot-to-init time
// (results.json boot.durations.bootMs: QEMU start until init speaks, which with --rootfs includes loading
// virtio_blk, waiting for /dev/vda and mounting it), plus the time `qemu-img create` takes for an overlay.
// Medians of the rounds; goal: the rootfs adds under 2 s. The base image must be built (kharness rootfs build).
//   node scripts/bench-rootfs.mjs [--rounds N]
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const bin = path.join(repo, "bin", "kharness.js");
const i = process.argv.indexOf("--rounds");
const rounds = i > 0 ? Number(process.argv[i + 1]) : 5;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const list = JSON.parse(execFileSync(process.execPath, [bin, "rootfs", "list", "--json"]).toString());
const base = list.find((x) => x.default);
if (!base) {
  process.stderr.write("bench-rootfs: no default base image: run `node bin/kharness.js rootfs build` first\n");
  process.exit(2);
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "kh-bench-rootfs-"));
const boot = { initramfs: [], rootfs: [] };
const overlayMs = [];
try {
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? ["rootfs", "initramfs"] : ["initramfs", "rootfs"];
    for (const kind of order) {
      const out = path.join(tmp, `${kind}-${r}`);
      const args = [bin, "run", "--tests", "net_abi", "--quiet", "--no-history", "--out", out, ...(kind === "rootfs" ? ["--rootfs", "debian"] : [])];
      const res = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
      if (res.status !== 0) throw new Error(`${kind} round ${r + 1}: exit ${res.status}\n${res.stderr}`);
      const run = JSON.parse(readFileSync(path.join(out, "results.json"), "utf8"));
      boot[kind].push(run.boot.durations.bootMs);
      rmSync(out, { recursive: true, force: true });
    }
    const ov = path.join(tmp, "overlay.qcow2");
    const t0 = process.hrtime.bigint();
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base.image, "-F", "qcow2", ov]);
    overlayMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    rmSync(ov);
    process.stderr.write(
      `round ${r + 1}/${rounds}: initramfs ${boot.initramfs.at(-1)} ms, rootfs ${boot.rootfs.at(-1)} ms, overlay ${overlayMs.at(-1).toFixed(1)} ms (load ${os.loadavg()[0].toFixed(1)})\n`,
    );
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const mi = median(boot.initramfs);
const mr = median(boot.rootfs);
process.stdout.write(
  `boot to init, median of ${rounds}: initramfs ${mi} ms, --rootfs debian ${mr} ms, added ${mr - mi} ms (goal < 2000 ms: ${mr - mi < 2000 ? "met" : "NOT met"})\n` +
    `qemu-img create of the overlay, median: ${median(overlayMs).toFixed(1)} ms\n` +
    `base image: ${base.image}, built in ${(base.meta.buildMs / 1000).toFixed(1)} s\n`,
);
