// VM level (issue 10, item 8): a run directory's replay.sh boots the same guest again on the default kernel,
// without the run's sockets (they are gone), and the guest reaches the same verdicts as the run; `kharness
// parse` on the run directory gives them too.
import t from "tap";
import { spawn } from "node:child_process";
import { existsSync, promises as fs } from "node:fs";
import * as path from "node:path";
import { parseRunLogs } from "./results/index.js";
import { leaves, readResults, runCli } from "../test/support/cli-run.js";

/** Runs `sh replay.sh` (killed after limitMs): exit code and what came out on stdout (the serial console). */
function replay(runDir: string, limitMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", [path.join(runDir, "replay.sh")], { cwd: "/", stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => process.kill(-(child.pid as number), "SIGKILL"), limitMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

t.test("replay.sh boots the run's guest again and it gives the run's verdicts", async (t) => {
  const r = await runCli(["run", "--tests", "net_abi"]);
  t.equal(r.code, 0, `the run passes\n${r.stderr.slice(-2000)}`);
  const run = await readResults(r.outDir);
  const script = await fs.readFile(path.join(r.outDir, "replay.sh"), "utf8");
  t.match(script, /^#!\/bin\/sh\n/);
  t.match(script, /chardev file,id=results,path=replay\/results\.log/, "the results port goes to a file");
  t.notMatch(script, /socket,id=/, "no socket of the finished run is named");
  t.notMatch(script, new RegExp(r.outDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")), "paths inside the run directory are relative to it");
  t.ok(((await fs.stat(path.join(r.outDir, "replay.sh"))).mode & 0o111) !== 0, "replay.sh is executable");

  const again = await replay(r.outDir, 10 * 60 * 1000);
  t.equal(again.signal, null, `QEMU exited on its own\n${again.stderr}`);
  t.equal(again.code, 0, `QEMU exited 0 after the guest powered off\n${again.stderr}\n${again.stdout.slice(-2000)}`);
  t.match(again.stdout, /Linux version 6\.12/, "the kernel log came out on stdout");
  t.match(again.stdout, /kharness: poweroff/, "the guest's init ran to its poweroff");
  const results = await fs.readFile(path.join(r.outDir, "replay", "results.log"));
  const replayed = await parseRunLogs({ console: again.stdout, results }, {});
  const verdict = (tests: Parameters<typeof leaves>[0]) => leaves(tests).map((c) => [c.id, c.status]);
  t.ok(leaves(run.tests).length > 5, `the run had net_abi's cases (${leaves(run.tests).length})`);
  t.same(verdict(replayed.tests), verdict(run.tests), "every case of the replay has the run's verdict");
  t.ok(existsSync(path.join(r.outDir, "replay", "control.log")), "the control port went to a file too");

  // The README's other promise about a run directory: `kharness parse` on it (or on its console.log) gives
  // the run's verdicts, although the results travelled on the results port and not on the console.
  for (const arg of [r.outDir, path.join(r.outDir, "console.log")]) {
    const parsed = await runCli(["parse", arg, "--json"]);
    t.equal(parsed.code, 0, `parse ${arg}: exit 0\n${parsed.stderr}`);
    t.same(verdict((JSON.parse(parsed.stdout) as typeof run).tests), verdict(run.tests), `parse ${path.basename(arg)}: the run's verdicts`);
  }
});
