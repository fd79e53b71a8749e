// Unit tests of line normalisation and line classification.
import t from "tap";
import { cleanLine, createLineSplitter, stripAnsi, stripPrintk } from "./lines.js";
import { classifyKtapLine, describeExitCode, statusOfResult } from "./ktap-line.js";

function split(chunks: (string | Uint8Array)[]): [string, boolean][] {
  const got: [string, boolean][] = [];
  const s = createLineSplitter((l, c) => got.push([l, c]));
  for (const c of chunks) s.push(c);
  s.end();
  return got;
}

t.test("splitter joins chunks, treats \\r\\n, \\r\\r\\n and a lone \\r as one break, and flags the unterminated tail", async (t) => {
  t.same(split(["a", "b\r", "\nc\r", "\r", "\nd\re\n", "tail"]), [
    ["ab", true],
    ["c", true],
    ["d", true],
    ["e", true],
    ["tail", false],
  ]);
});

t.test("splitter keeps a multibyte character split across chunks and replaces invalid bytes", async (t) => {
  const bytes = Buffer.from("caf\u00e9 \u{1F600}\n", "utf8");
  const chunks = [...bytes].map((b) => Uint8Array.of(b));
  t.same(split(chunks), [["caf\u00e9 \u{1F600}", true]]);
  t.same(split([Buffer.from([0x6f, 0x6b, 0xff, 0x00, 0x0a])]), [["ok\uFFFD", true]]);
});

t.test("splitter: a line carried across chunks is the same wherever the chunks are cut", async (t) => {
  const text = "[    0.000001] ok 1 first\nsecond line\n\nthird, a little longer than the others\nx\ntail";
  const whole = split([text]);
  t.same(whole.at(-1), ["tail", false]);
  for (let cut = 1; cut < text.length; cut++) t.same(split([text.slice(0, cut), text.slice(cut)]), whole, `cut at ${cut}`);
  // Three pieces, and bytes as well as strings.
  for (let a = 1; a < text.length; a += 7)
    for (let b = a + 1; b < text.length; b += 5)
      t.same(split([Buffer.from(text.slice(0, a)), text.slice(a, b), Buffer.from(text.slice(b))]), whole, `cut at ${a}, ${b}`);
  // A carried line that the next chunk makes too long is cut to MAX_LINE_CHARS like any other.
  const long = split(["y".repeat(60_000), `${"z".repeat(10_000)}\nnext\n`]);
  t.equal(long[0]?.[0].length, 64 * 1024);
  t.same(long[1], ["next", true]);
});

t.test("splitter bounds a runaway line", async (t) => {
  const got = split(["x".repeat(200_000), "y".repeat(10), "\nnext\n"]);
  t.equal(got.length, 2);
  t.equal(got[0]?.[0].length, 64 * 1024);
  t.same(got[1], ["next", true]);
});

t.test("stripPrintk handles any timestamp width and a caller id", async (t) => {
  t.equal(stripPrintk("[    1.234567] ok 1 a"), "ok 1 a");
  t.equal(stripPrintk("[12345.000001][    T1] ok 1 a"), "ok 1 a");
  t.equal(stripPrintk("[    0.060000][ C0] \t# Subtest: x"), "\t# Subtest: x");
  t.equal(stripPrintk("[not a time] x"), "[not a time] x");
  t.equal(stripAnsi("\x1b[1;31mred\x1b[0m \x1b]0;t\x07x"), "red x");
  t.same(cleanLine("ok 2 bin[    1.300000] kmsg").splice, { head: "ok 2 bin", kernelLine: "kmsg", kernelRaw: "[    1.300000] kmsg" });
});

t.test("classify reads every line form at its width", async (t) => {
  t.match(classifyKtapLine("KTAP version 1"), { kind: "version", width: 0 });
  t.match(classifyKtapLine("# TAP version 13"), { kind: "version", width: 2 });
  t.match(classifyKtapLine("\t1..5"), { kind: "plan", width: 8, count: 5 });
  t.match(classifyKtapLine("1..0 # SKIP no landlock"), { kind: "plan", count: 0, skip: "no landlock" });
  t.match(classifyKtapLine("    # Subtest: suite"), { kind: "subtest", width: 4, name: "suite" });
  t.match(classifyKtapLine("# # # Subtest: deep"), { kind: "subtest", width: 4, name: "deep" });
  t.match(classifyKtapLine("# selftests: landlock: net_test"), { kind: "selftest", width: 0, name: "selftests: landlock: net_test" });
  t.match(classifyKtapLine("# # ok 3 x"), { kind: "result", width: 4, result: { ok: true, num: 3, name: "x" } });
  t.match(classifyKtapLine("# Bail out! no netns"), { kind: "bail", width: 2, reason: "no netns" });
  t.match(classifyKtapLine("# Totals: pass:2 fail:1 xfail:0 xpass:0 skip:1 error:0"), { kind: "totals", counts: { pass: 2, fail: 1, skip: 1 } });
  t.match(classifyKtapLine("#  RUN           tcp.ipv4.bind ..."), { kind: "other" });
  t.match(classifyKtapLine("#            OK  tcp.ipv4.bind"), { kind: "other" });
  t.match(classifyKtapLine("random: crng init done"), { kind: "other", width: 0 });
});

t.test("directives are case-insensitive; exit=N is data; unknown directives are plain results", async (t) => {
  const st = (line: string) => {
    const k = classifyKtapLine(line);
    if (k.kind !== "result") throw new Error(`not a result: ${line}`);
    return statusOfResult(k.result);
  };
  t.same(st("ok 1 a # skip why"), { status: "SKIP", reason: "why" });
  t.same(st("not ok 1 a # todo later"), { status: "XFAIL", reason: "later" });
  t.equal(st("ok 1 a # TODO later").status, "XPASS");
  t.equal(st("ok 1 a # xfail").status, "XFAIL");
  t.equal(st("ok 1 a # XPASS").status, "XPASS");
  t.equal(st("not ok 1 a # TIMEOUT 30 seconds").status, "TIMEOUT");
  t.equal(st("not ok 1 a # error").status, "ERROR");
  t.same(st("not ok 1 a # exit=139"), { status: "FAIL", reason: "killed by signal 11 (SIGSEGV)" });
  t.same(st("ok 1 a # exit=4 # SKIP"), { status: "SKIP", reason: "exit code 4" });
  t.same(st("ok 1 a # frobnicated"), { status: "PASS" });
  t.equal(describeExitCode(137), "killed by signal 9 (SIGKILL)");
});
