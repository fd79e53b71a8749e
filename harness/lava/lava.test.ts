// LAVA job rendering and log decoding, without a dispatcher: the job's shape, the monitor pattern run by Python's re
// (the engine LAVA uses) over real console line forms, and the dispatcher log's records turned back into a console.
import t from "tap";
import { execFileSync } from "node:child_process";
import { parse as parseYaml } from "yaml";
import { X86_64 } from "../qemu/profiles.js";
import { parseLog } from "../results/index.js";
import { parseCommandLine, ArgsError } from "../cli-args.js";
import {
  consoleOfLavaLog,
  createLavaLogDecoder,
  CONSOLE_RESULTS_BEGIN,
  CONSOLE_RESULTS_END,
  MONITOR_PATTERN,
  renderDeviceDict,
  renderDispatcherConfig,
  renderLavaJob,
} from "./index.js";

const job = () =>
  parseYaml(
    renderLavaJob({
      jobName: "kharness r1",
      profile: X86_64,
      images: { kernelUrl: "file:///tmp/r/bzImage", initrdUrl: "https://files.example/r1/initramfs.cpio" },
      append: ["lsm=landlock"],
      testTimeoutSec: 300,
      bootTimeoutSec: 120,
    }),
  );

t.test("the job: deploy kernel and initramfs to tmpfs, boot with qemu, a monitor between init's console markers", async (t) => {
  const j = job();
  t.equal(j.device_type, "qemu");
  t.same(j.context, { arch: "x86_64" });
  const [deploy, boot, test] = j.actions;
  t.equal(deploy.deploy.to, "tmpfs");
  t.equal(deploy.deploy.images.kernel.url, "file:///tmp/r/bzImage");
  t.equal(deploy.deploy.images.ramdisk.image_arg, "-initrd {ramdisk}");
  const arg = deploy.deploy.images.kernel.image_arg as string;
  t.match(arg, /^-kernel \{kernel\} -append "console=ttyS0 .*kharness\.console_results=1 lsm=landlock"$/, "console mode before the user's --append");
  t.same(boot.boot, { method: "qemu", media: "tmpfs", timeout: { seconds: 120 } });
  const [m] = test.test.monitors;
  t.equal(m.start, CONSOLE_RESULTS_BEGIN);
  t.equal(m.end, CONSOLE_RESULTS_END);
  t.same(m.fixupdict, { ok: "pass", "not ok": "fail", SKIP: "skip" });
  t.ok(j.timeouts.job.seconds >= 300 + 120, "the job's timeout covers boot and tests");
});

t.test("the device dictionary: the minimum lava-run needs, QEMU options of a local run without the virtio ports", async (t) => {
  const d = parseYaml(renderDeviceDict(X86_64));
  t.same(d.available_architectures, ["x86_64"]);
  t.ok(d.constants.failure_retry && d.constants.boot_retry);
  t.ok(d.actions.deploy.methods.image);
  const opts = d.actions.boot.methods.qemu.parameters.options as string[];
  t.equal(d.actions.boot.methods.qemu.parameters.command, "qemu-system-x86_64");
  t.ok(opts.includes("-nodefaults") && opts.includes("tcg"));
  t.notOk(opts.join(" ").includes("virtserialport"), "no virtio ports: the console is the only channel");
  t.notOk(opts.includes("-enable-kvm"));
  t.same(parseYaml(renderDispatcherConfig("kharness-r1-")), { prefix: "kharness-r1-" });
  t.throws(() => renderDispatcherConfig("../x"));
});

t.test("the monitor pattern, run by Python's re as pexpect does (DOTALL, search), over the console's line forms", async (t) => {
  const cases: [string, string | null, string | null][] = [
    ["ok 1 net_abi\r\n", "ok", "net_abi"],
    ["not ok 4 prog # exit=1\n", "not ok", "prog"],
    ["ok 5 socket_create # SKIP socket creation control not supported\n", "SKIP", "socket_create"],
    ["# ok 3 tcp.ipv4.bind_allowed\n", "ok", "tcp.ipv4.bind_allowed"],
    ["# ok 7 create.inet.denied # SKIP not supported by this kernel\n", "SKIP", "create.inet.denied"],
    // A kernel line inside a result line, before its newline (docs/lava.md).
    ["ok 15 name[    6.65] kharness: end name\n", "ok", "name"],
    ["# selftests: kharness: net_abi\n", null, null],
    // Half a line: no match until its newline arrives (an id cut short, or a # SKIP not seen yet).
    ["ok 5 socket_cre", null, null],
  ];
  const script = `
import json, re, sys
pat = re.compile(sys.argv[1], re.DOTALL)
out = []
for s in json.loads(sys.stdin.read()):
    m = pat.search(s)
    out.append([m.group("result"), m.group("test_case_id")] if m else [None, None])
print(json.dumps(out))
`;
  const got = JSON.parse(execFileSync("python3", ["-c", script, MONITOR_PATTERN], { input: JSON.stringify(cases.map((c) => c[0])), encoding: "utf8" })) as [
    string | null,
    string | null,
  ][];
  cases.forEach(([line, result, id], i) => t.same(got[i], [result, id], JSON.stringify(line)));
});

const LOG = [
  '{"dt": "2026-12-02T22:51:14.29", "lvl": "info", "msg": "lava-dispatcher, installed at version: 2023.01"}',
  '{"dt": "2026-12-02T22:51:14.34", "lvl": "results", "msg": {"case": "file-download", "definition": "lava", "extra": {"size": ! "11657728"}, "result": "pass"}}',
  '{"dt": "2026-12-02T22:51:17.18", "lvl": "target", "msg": "<<<KHARNESS-RESULTS-BEGIN>>>"}',
  '{"dt": "2026-12-02T22:51:17.18", "lvl": "target", "msg": "KTAP version 1"}',
  '{"dt": "2026-12-02T22:51:17.18", "lvl": "target", "msg": "1..2"}',
  '{"dt": "2026-12-02T22:51:17.19", "lvl": "target", "msg": "ok 1 first"}',
  '{"dt": "2026-12-02T22:51:17.20", "lvl": "results", "msg": {"case": "first", "definition": "kharness", "extra": {"test_case_id": "first"}, "level": "3.1", "result": "pass"}}',
  '- {dt: "2026-12-02T22:51:17.21", lvl: target, msg: "ok 2 second # SKIP \\"quoted\\" reason"}',
  '{"dt": "2026-12-02T22:51:18.93", "lvl": "target", "msg": "<<<KHARNESS-RESULTS-END>>>"}',
  '{"dt": "2026-12-02T22:51:18.93", "lvl": "feedback", "msg": "[    3.689448] reboot: Power down", "ns": "common"}',
  '{"dt": "2026-12-02T22:51:18.94", "lvl": "input", "msg": "poweroff\\n"}',
  '{"dt": "2026-12-02T22:51:19.04", "lvl": "target", "msg": "poweroff"}',
  "Traceback (most recent call last):",
  '{"dt": "2026-12-02T22:51:19.14", "lvl": "results", "msg": {"case": "job", "definition": "lava", "result": "pass"}}',
].join("\n");

t.test("the dispatcher's log back into the console: target and feedback lines, YAML-tagged records, no input echo", async (t) => {
  const d = createLavaLogDecoder();
  // Fed in awkward pieces: records split anywhere, even inside a UTF-8 sequence.
  const bytes = Buffer.from(LOG + "\n");
  let text = "";
  for (let i = 0; i < bytes.length; i += 7) text += d.push(bytes.subarray(i, i + 7));
  text += d.finish();
  t.equal(
    text,
    '<<<KHARNESS-RESULTS-BEGIN>>>\nKTAP version 1\n1..2\nok 1 first\nok 2 second # SKIP "quoted" reason\n<<<KHARNESS-RESULTS-END>>>\n[    3.689448] reboot: Power down\n',
  );
  t.equal(d.stats.badLines, 1, "the traceback line is counted, not parsed");
  t.same(d.stats.monitorResults, [{ definition: "kharness", case: "first", result: "pass", testCaseId: "first" }]);
  const run = parseLog(text);
  t.same(
    run.tests.map((x) => [x.id, x.status]),
    [
      ["first", "PASS"],
      ["second", "SKIP"],
    ],
  );
});

t.test("consoleOfLavaLog decodes a dispatcher's log and passes anything else through unchanged", async (t) => {
  const collect = async (chunks: (string | Uint8Array)[]) => {
    let s = "";
    for await (const c of consoleOfLavaLog(
      (async function* () {
        yield* chunks;
      })(),
    ))
      s += typeof c === "string" ? c : Buffer.from(c).toString();
    return s;
  };
  t.match(await collect([LOG.slice(0, 30), LOG.slice(30)]), /^<<<KHARNESS-RESULTS-BEGIN>>>\nKTAP version 1\n/);
  const plain = "[    0.000000] Linux version 6.12\nKTAP version 1\n1..1\nok 1 a\n";
  t.equal(await collect([plain.slice(0, 5), plain.slice(5)]), plain);
  t.equal(await collect([]), "");
});

t.test("lava-job arguments: --out is required, run options pass through, run-only options are refused", async (t) => {
  const c = parseCommandLine([
    "lava-job",
    "--out",
    "d",
    "--tests",
    "net_*",
    "--append",
    "lsm=landlock",
    "--device-dict",
    "--artifact-url",
    "https://x/{run}/{name}",
  ]);
  t.match(c, {
    cmd: "lava-job",
    deviceDict: true,
    artifactUrl: "https://x/{run}/{name}",
    req: { tests: ["net_*"], append: ["lsm=landlock"], accel: "tcg", outDir: "d" },
  });
  const problems = (argv: string[]) => {
    try {
      parseCommandLine(argv);
      return [];
    } catch (e) {
      return e instanceof ArgsError ? e.problems : [String(e)];
    }
  };
  t.match(problems(["lava-job"]), [/needs --out DIR/]);
  t.match(problems(["lava-job", "--out", "d", "--artifact-url", "https://x/file"]), [/must contain \{name\}/]);
  t.match(problems(["lava-job", "--out", "d", "--junit", "j.xml"]), [/unknown option --junit for `kharness lava-job`/]);
});
