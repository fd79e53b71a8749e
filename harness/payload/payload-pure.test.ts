// Pure payload helpers: test selection by fnmatch globs, module load order, static-ELF checks.
import t from "tap";
import { readFileSync } from "node:fs";
import { compileGlob, fnmatch, globDistance, globsNeedingCases, nearMatches, selectBundled } from "./select.js";
import { moduleName, parseModulesDep, resolveModuleLoadOrder } from "./modules.js";
import { checkStaticElf } from "./elf.js";
import { X86_64 } from "../qemu/profiles.js";
import { stretchTimeouts } from "./payload.js";

const CATALOG = [
  { program: "net_abi", cases: ["abi.version", "ruleset.empty_enomsg"] },
  { program: "net_tcp", cases: ["tcp.ipv4_tcp.bind_denied", "tcp.ipv4_tcp.connect_denied", "tcp.ipv6_tcp.bind_denied", "unspec.bind"] },
  { program: "socket_create", cases: ["create.denied"] },
];

t.test("fnmatch rules of the selftest framework: * and ? cross dots, brackets, backslash quotes", async (t) => {
  t.ok(fnmatch("net_*", "net_tcp.tcp.ipv4_tcp.bind_denied"), "* matches across dots (no FNM_PERIOD/PATHNAME)");
  t.ok(fnmatch("a?c", "a.c"));
  t.notOk(fnmatch("a.b", "axb"), "a dot is literal");
  t.ok(fnmatch("a[bc]d", "acd"));
  t.ok(fnmatch("a[!bc]d", "axd") && fnmatch("a[^bc]d", "axd"));
  t.notOk(fnmatch("a[!bc]d", "abd"));
  t.ok(fnmatch("[]x]", "]"), "] first in a bracket is literal");
  t.ok(fnmatch("a[[:digit:]]", "a7"));
  t.ok(fnmatch("\\*", "*") && !fnmatch("\\*", "x"), "backslash quotes a wildcard");
  t.ok(fnmatch("a[b", "a[b"), "an unclosed [ is literal");
  t.notOk(fnmatch("net_[z-a]", "net_b"));
});

t.test("invalid globs say why", async (t) => {
  const reversed = compileGlob("net_[z-a]");
  t.equal(reversed.ok, false);
  t.match(!reversed.ok && reversed.problem, /range z-a is empty/);
  t.match(compileGlob("x[[:nope:]]"), { ok: false, problem: /not a character class/ });
  t.match(compileGlob("x\\"), { ok: false, problem: /lone backslash/ });
  t.match(compileGlob(""), { ok: false });
  t.match(compileGlob("a\tb"), { ok: false, problem: /tab/ });
});

t.test("no globs select every program with no arguments", async (t) => {
  t.same(
    selectBundled(CATALOG, []).selected.map((s) => [s.program, s.args]),
    [
      ["net_abi", []],
      ["net_tcp", []],
      ["socket_create", []],
    ],
  );
});

t.test("a program glob selects whole programs; a case glob selects cases and goes to the program", async (t) => {
  const r = selectBundled(CATALOG, ["socket_*", "net_tcp.tcp.ipv4*.bind_*"]);
  t.same(r.problems, []);
  t.same(r.selected, [
    { program: "net_tcp", args: ["net_tcp.tcp.ipv4*.bind_*"], cases: ["tcp.ipv4_tcp.bind_denied"] },
    { program: "socket_create", args: [], cases: ["create.denied"] },
  ]);
  const bare = selectBundled(CATALOG, ["unspec.*"]);
  t.same(bare.selected, [{ program: "net_tcp", args: ["unspec.*"], cases: ["unspec.bind"] }], "the case name alone matches too, as the framework allows");
  const both = selectBundled(CATALOG, ["net_tcp", "net_tcp.unspec.*"]);
  t.same(both.selected, [{ program: "net_tcp", args: [], cases: CATALOG[1]!.cases }], "a whole-program glob wins: every case");
});

t.test("a glob that matches nothing, or is invalid, is a problem naming the closest tests", async (t) => {
  const r = selectBundled(CATALOG, ["net_abi.no_such_case", "net_tpc", "net_[z-a]", "net_abi"]);
  t.equal(r.problems.length, 3, r.problems.join("\n"));
  t.match(r.problems[0], /--tests net_\[z-a\]: not a valid glob: the range z-a is empty/);
  t.match(r.problems[1], /--tests net_abi\.no_such_case: matches no bundled program or case; closest: net_abi\./);
  t.match(r.problems[2], /--tests net_tpc: matches no bundled program or case; closest: net_tcp/);
});

t.test("near matches rank by glob edit distance", async (t) => {
  t.equal(globDistance("net_tpc", "net_tcp"), 2);
  t.equal(globDistance("net_*.bind_denid", "net_tcp.tcp.ipv4_tcp.bind_denied"), 1);
  t.equal(nearMatches(CATALOG, "net_tcp.tcp.ipv4_tcp.bind_denid")[0], "net_tcp.tcp.ipv4_tcp.bind_denied");
});

t.test("only globs that match no whole program need the case lists", async (t) => {
  t.same(globsNeedingCases(["net_abi", "net_tcp"], ["net_*", "net_tcp.x*", "[z-a]"]), ["net_tcp.x*"]);
});

t.test("module load order puts dependencies first and skips built-ins", async (t) => {
  const dep = parseModulesDep(
    [
      "kernel/drivers/virtio/virtio_pci.ko.xz: kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz kernel/drivers/virtio/virtio_pci_legacy_dev.ko.xz kernel/drivers/virtio/virtio_ring.ko.xz",
      "kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz:",
      "kernel/drivers/virtio/virtio_pci_legacy_dev.ko.xz:",
      "kernel/drivers/virtio/virtio_ring.ko.xz:",
      "kernel/drivers/char/virtio_console.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz",
    ].join("\n"),
  );
  t.equal(moduleName("a/b/virtio-foo.ko.zst"), "virtio_foo");
  t.same(resolveModuleLoadOrder(dep, ["virtio_pci", "virtio_console", "virtio_mmio"]), [
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko.xz",
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko.xz",
    "kernel/drivers/virtio/virtio_ring.ko.xz",
    "kernel/drivers/virtio/virtio_pci.ko.xz",
    "kernel/drivers/char/virtio_console.ko.xz",
  ]);
});

t.test("static ELF check: a dynamic binary and a script are refused with a fix", async (t) => {
  const ls = checkStaticElf(readFileSync("/bin/ls"), X86_64.elfMachine);
  t.equal(ls.ok, false);
  t.match(!ls.ok && ls.problem, /dynamically linked/);
  t.match(!ls.ok && ls.fix, /-static/);
  const sh = checkStaticElf(Buffer.from("#!/bin/sh\necho hi\n"), X86_64.elfMachine);
  t.match(!sh.ok && sh.problem, /script/);
  t.equal(checkStaticElf(Buffer.from("hello"), X86_64.elfMachine).ok, false);
});

t.test("the payload stretches a tree's kselftest timeouts by the accelerator's factor it is given", async (t) => {
  const ksft = [{ name: "kselftest.landlock.net_test", hostPath: "/c/net_test", guestPath: "/kharness/kselftest/landlock/net_test", timeoutSec: 45, args: [] }];
  t.same(
    stretchTimeouts(ksft, 3).map((p) => p.timeoutSec),
    [135],
    "TCG: x3",
  );
  t.same(
    stretchTimeouts(ksft, 1).map((p) => p.timeoutSec),
    [45],
    "KVM: as written",
  );
  t.same(
    stretchTimeouts([{ ...ksft[0]!, timeoutSec: 7 }], 1.5).map((p) => p.timeoutSec),
    [11],
    "whole seconds, rounded up",
  );
  t.equal(ksft[0]?.timeoutSec, 45, "the kernel stage's record is not rewritten");
});
