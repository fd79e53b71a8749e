// Pure tier: parse fragments, merge them in order, overlay on a base config, and explain lost options.
import t from "tap";
import { readFileSync } from "node:fs";
import { configValues, parseConfig, renderConfigLine } from "./config-file.js";
import { expressionSymbols, parseKconfigSymbols } from "./kconfig-deps.js";
import { mergeFragments, overlayConfig, renderMerged } from "./merge.js";
import { findLostOptions, formatLostOptions, satisfies } from "./survival.js";

const fixture = (name: string) => readFileSync(new URL(`./testdata/${name}`, import.meta.url), "utf8");

t.test("parseConfig reads every value form and reports bad lines with their numbers", async (t) => {
  const { entries, problems } = parseConfig(
    [
      "CONFIG_A=y",
      "CONFIG_B=m",
      'CONFIG_C="landlock,yama"',
      "CONFIG_D=-1",
      "CONFIG_E=0x1f",
      "# CONFIG_F is not set",
      "CONFIG_G=n",
      "# a comment",
      "",
      "CONFIG_H=maybe",
      "KASAN=y",
    ].join("\n"),
  );
  t.same(
    entries.map((e) => [e.name, e.value, e.line]),
    [
      ["A", "y", 1],
      ["B", "m", 2],
      ["C", '"landlock,yama"', 3],
      ["D", "-1", 4],
      ["E", "0x1f", 5],
      ["F", "n", 6],
      ["G", "n", 7],
    ],
  );
  t.same(
    problems.map((p) => p.line),
    [10, 11],
  );
  t.match(problems[0]?.message, /bad value `maybe` for CONFIG_H/);
  t.match(problems[1]?.message, /expected CONFIG_NAME=value/);
});

t.test("renderConfigLine writes `is not set` for n", async (t) => {
  t.equal(renderConfigLine("X", "n"), "# CONFIG_X is not set");
  t.equal(renderConfigLine("LSM", '"landlock"'), 'CONFIG_LSM="landlock"');
});

t.test("mergeFragments: later fragments win and the winner's origin is remembered", async (t) => {
  const m = mergeFragments([
    { name: "kernel-config/qemu-guest.config", text: "CONFIG_PRINTK=y\nCONFIG_PANIC_TIMEOUT=-1\n" },
    { name: "kernel-config/debug.config", text: "# CONFIG_SLUB_TINY is not set\nCONFIG_PRINTK=y\n" },
    { name: "--config CONFIG_PANIC_TIMEOUT=0", text: "CONFIG_PANIC_TIMEOUT=0\n" },
  ]);
  t.same([...m.options.keys()], ["PRINTK", "PANIC_TIMEOUT", "SLUB_TINY"]);
  t.equal(m.options.get("PANIC_TIMEOUT")?.origin, "--config CONFIG_PANIC_TIMEOUT=0");
  t.equal(m.options.get("PRINTK")?.origin, "kernel-config/debug.config");
  t.same(
    m.redefinitions.map((r) => [r.name, r.from.value, r.to.value]),
    [["PANIC_TIMEOUT", "-1", "0"]],
    "only a changed value counts as a redefinition",
  );
  t.equal(renderMerged(m), "CONFIG_PRINTK=y\nCONFIG_PANIC_TIMEOUT=0\n# CONFIG_SLUB_TINY is not set\n");
});

t.test("mergeFragments collects bad lines from every fragment", async (t) => {
  const m = mergeFragments([
    { name: "a.config", text: "CONFIG_A=y\nbogus\n" },
    { name: "b.config", text: "CONFIG_B=\n" },
  ]);
  t.same(
    m.problems.map((p) => `${p.fragment}:${p.line}`),
    ["a.config:2", "b.config:1"],
  );
});

t.test("overlayConfig replaces base lines in place and appends new ones", async (t) => {
  const m = mergeFragments([
    { name: "f", text: 'CONFIG_PRINTK=y\n# CONFIG_SLUB_TINY is not set\nCONFIG_LSM="landlock"\nCONFIG_NET=y\nCONFIG_VIRTIO_CONSOLE=y\n' },
  ]);
  const out = overlayConfig(fixture("tinyconfig-excerpt.config"), m);
  const v = configValues(out);
  t.equal(v.get("PRINTK"), "y");
  t.equal(v.get("SLUB_TINY"), "n");
  t.equal(v.get("LSM"), '"landlock"');
  t.equal(v.get("NET"), "y");
  t.equal(v.get("VIRTIO_CONSOLE"), "y");
  t.equal(v.get("64BIT"), "y", "untouched lines stay");
  t.equal(out.match(/CONFIG_PRINTK/g)?.length, 1, "each symbol once");
  t.ok(out.indexOf("CONFIG_PRINTK=y") < out.indexOf("CONFIG_SLUB_TINY"), "replaced in place");
  t.ok(out.trimEnd().endsWith("CONFIG_VIRTIO_CONSOLE=y"), "new symbols appended");
});

t.test("satisfies: n is met by absence, m by y", async (t) => {
  t.ok(satisfies("n", undefined));
  t.ok(satisfies("n", "n"));
  t.notOk(satisfies("n", "y"));
  t.ok(satisfies("m", "y"));
  t.notOk(satisfies("y", "m"));
  t.ok(satisfies('"landlock"', '"landlock"'));
  t.notOk(satisfies("-1", "0"));
});

t.test("parseKconfigSymbols follows if-blocks and menus, and skips help text", async (t) => {
  const syms = parseKconfigSymbols(fixture("net-excerpt.Kconfig"), "net/Kconfig");
  t.notOk(syms.has("NOT_A_SYMBOL"), "help text is not parsed");
  t.same(syms.get("IPV6")?.dependsOn, ["NET", "INET"]);
  t.same(syms.get("MPTCP_IPV6")?.dependsOn, ["NET", "MPTCP", "IPV6=y"]);
  t.same(syms.get("OLD_PROTO")?.dependsOn, ["NET", "EXPERT", "!PREEMPT_RT"]);
  t.equal(syms.get("SKB_EXTENSIONS")?.hasPrompt, false);
  t.equal(syms.get("INET")?.hasPrompt, true);
  t.same(syms.get("MPTCP")?.definedAt, ["net/Kconfig:17"]);
});

t.test("expressionSymbols lists plain and negated symbols, not comparisons' values", async (t) => {
  t.same(expressionSymbols("NET && (INET || !PREEMPT_RT)"), [
    { name: "NET", negated: false },
    { name: "INET", negated: false },
    { name: "PREEMPT_RT", negated: true },
  ]);
  t.same(expressionSymbols('IPV6=y && X86 && $(cc-option,-foo) && LSM != "" && KASAN!=y && NR_CPUS > 1'), [
    { name: "IPV6", negated: false },
    { name: "X86", negated: false },
    { name: "KASAN", negated: true },
  ]);
});

t.test("findLostOptions lists every lost option with its fragment and the missing dependency", async (t) => {
  const merged = mergeFragments([
    { name: "kernel-config/landlock.config", text: 'CONFIG_NET=y\nCONFIG_IPV6=y\nCONFIG_MPTCP=y\nCONFIG_MPTCP_IPV6=y\nCONFIG_LSM="landlock"\n' },
    { name: "kernel-config/qemu-guest.config", text: "CONFIG_SKB_EXTENSIONS=y\nCONFIG_OLD_PROTO=y\nCONFIG_NO_SUCH=y\n" },
    { name: "--config # CONFIG_IPV6 is not set", text: "# CONFIG_IPV6 is not set\n" },
  ]);
  const values = configValues(fixture("after-olddefconfig-ipv6-off.config"));
  const kconfig = parseKconfigSymbols(fixture("net-excerpt.Kconfig"), "net/Kconfig");
  const lost = findLostOptions(merged, values, kconfig);
  t.same(
    lost.map((l) => l.name),
    ["MPTCP_IPV6", "SKB_EXTENSIONS", "OLD_PROTO", "NO_SUCH"],
  );
  const text = formatLostOptions(lost).join("\n");
  t.match(text, /CONFIG_MPTCP_IPV6=y \(asked by kernel-config\/landlock\.config:4\) ended up unset: missing dependency: CONFIG_IPV6 not enabled/);
  t.match(text, /CONFIG_SKB_EXTENSIONS=y .* it has no prompt, so only a `select`/);
  t.match(text, /CONFIG_OLD_PROTO=y .* missing dependency: CONFIG_EXPERT not enabled/);
  t.match(text, /CONFIG_NO_SUCH=y .* no `config NO_SUCH` in this tree's Kconfig files/);
});

t.test("without Kconfig files the hint falls back to menuconfig/scripts/config", async (t) => {
  const merged = mergeFragments([{ name: "f", text: "CONFIG_MPTCP_IPV6=y\n" }]);
  const lost = findLostOptions(merged, configValues(fixture("after-olddefconfig-ipv6-off.config")));
  t.equal(lost.length, 1);
  t.match(lost[0]?.hint, /make O=<build dir> menuconfig/);
});
