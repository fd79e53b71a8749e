// Pure payload helpers: test selection by glob, module load order, static-ELF checks.
import t from "tap";
import { readFileSync } from "node:fs";
import { globToRegExp, selectPrograms } from "./select.js";
import { moduleName, parseModulesDep, resolveModuleLoadOrder } from "./modules.js";
import { checkStaticX86Elf } from "./elf.js";
import { UsageError } from "../errors.js";

t.test("globs select programs in bundled order; a case glob selects its program", async (t) => {
  const all = ["net_abi", "net_tcp", "socket_create"];
  t.same(selectPrograms(all, []), all);
  t.same(selectPrograms(all, ["socket_*", "net_a?i"]), ["net_abi", "socket_create"]);
  t.same(selectPrograms(all, ["net_tcp.tcp.ipv4.*"]), ["net_tcp"]);
  t.ok(globToRegExp("a[bc]d").test("acd"));
  t.notOk(globToRegExp("a.b").test("axb"), "a dot is literal");
});

t.test("an unknown glob is a usage error listing what exists", async (t) => {
  try {
    selectPrograms(["net_abi", "net_tcp"], ["nope*", "net_tcp"]);
    t.fail("should throw");
  } catch (e) {
    t.ok(e instanceof UsageError);
    t.match((e as UsageError).message, /--tests nope\*/);
    t.match((e as UsageError).fix, /net_abi, net_tcp/);
  }
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
  const ls = checkStaticX86Elf(readFileSync("/bin/ls"));
  t.equal(ls.ok, false);
  t.match(!ls.ok && ls.problem, /dynamically linked/);
  t.match(!ls.ok && ls.fix, /-static/);
  const sh = checkStaticX86Elf(Buffer.from("#!/bin/sh\necho hi\n"));
  t.match(!sh.ok && sh.problem, /script/);
  t.equal(checkStaticX86Elf(Buffer.from("hello")).ok, false);
});
