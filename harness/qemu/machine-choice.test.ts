// Pure tests of the machine choice (every branch) and its thin reader over a .config file and the environment.
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import t from "tap";
import { UsageError } from "../errors.js";
import { chooseBootMachine } from "./boot-machine.js";
import { chooseMachine, microvmConfigProblem, parseMachineOverride, wantsHostTsc, type MachineFacts } from "./machine-choice.js";
import { X86_64, type ArchProfile } from "./profiles.js";

/** The lines that matter of a tinyconfig + kernel-config/qemu-guest.config build (the CI's tree kernels). */
const OURS = [
  "CONFIG_64BIT=y",
  "CONFIG_ACPI=y",
  "CONFIG_VIRTIO=y",
  "CONFIG_VIRTIO_MMIO=y",
  "CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y",
  "CONFIG_VIRTIO_CONSOLE=y",
  "",
].join("\n");
const TSC = { khz: 2599998, source: "cpu MHz under a hypervisor" };
const tree: MachineFacts = { profile: X86_64, accel: "tcg", kernel: { source: "tree" }, kernelConfig: OURS };

t.test("our tree kernel under TCG with the host's TSC rate: microvm with tsc_early_khz", async (t) => {
  const c = chooseMachine(tree, TSC);
  t.equal(c.machine.name, "microvm");
  t.equal(c.hostTscKhz, 2599998);
  t.match(c.reason, /^machine microvm: .*tsc_early_khz=2599998 \(cpu MHz under a hypervisor\).*KHARNESS_MACHINE=pc/);
  t.ok(wantsHostTsc(tree));
});

t.test("pc, each with its reason, whenever microvm does not fit", async (t) => {
  const cases: [string, MachineFacts, typeof TSC | undefined, RegExp][] = [
    ["KVM", { ...tree, accel: "kvm" }, TSC, /under KVM/],
    ["Debian's default kernel", { ...tree, kernel: { source: "default" }, kernelConfig: undefined }, TSC, /not built by kharness \(default\)/],
    ["a --kernel image", { ...tree, kernel: { source: "image" } }, TSC, /not built by kharness \(image\)/],
    ["no .config", { ...tree, kernelConfig: undefined }, TSC, /\.config is unknown/],
    ["virtio-mmio as a module", { ...tree, kernelConfig: OURS.replace("CONFIG_VIRTIO_MMIO=y", "CONFIG_VIRTIO_MMIO=m") }, TSC, /CONFIG_VIRTIO_MMIO$/],
    [
      "no virtio console",
      { ...tree, kernelConfig: OURS.replace("CONFIG_VIRTIO_CONSOLE=y", "# CONFIG_VIRTIO_CONSOLE is not set") },
      TSC,
      /CONFIG_VIRTIO_CONSOLE$/,
    ],
    ["no ACPI", { ...tree, kernelConfig: OURS.replace("CONFIG_ACPI=y", "# CONFIG_ACPI is not set") }, TSC, /CONFIG_ACPI$/],
    ["the host's TSC rate unknown", tree, undefined, /TSC rate is unknown/],
    ["KHARNESS_MACHINE=pc", { ...tree, override: "pc" }, TSC, /KHARNESS_MACHINE=pc/],
  ];
  for (const [name, facts, tsc, reason] of cases) {
    const c = chooseMachine(facts, tsc);
    t.equal(c.machine.name, "pc", name);
    t.equal(c.hostTscKhz, undefined, `${name}: no TSC rate`);
    t.match(c.reason, reason, `${name}: ${c.reason}`);
  }
});

t.test("a profile without a microvm machine boots its default", async (t) => {
  const only: ArchProfile = { ...X86_64, machines: X86_64.machines.filter((m) => m.name !== "microvm") };
  t.match(chooseMachine({ ...tree, profile: only }, TSC), { machine: { name: "pc" }, reason: /has no microvm machine/ });
  t.throws(() => chooseMachine({ ...tree, profile: only, override: "microvm" }, TSC), /has no microvm machine/);
});

t.test("KHARNESS_MACHINE=microvm: forced even under KVM and for other kernels, but not without what it needs", async (t) => {
  const forced = { ...tree, override: "microvm" as const };
  t.match(chooseMachine({ ...forced, accel: "kvm" }, TSC), { machine: { name: "microvm" }, hostTscKhz: 2599998, reason: /KHARNESS_MACHINE=microvm/ });
  t.match(chooseMachine({ ...forced, kernel: { source: "image" }, kernelConfig: undefined }, TSC), { machine: { name: "microvm" } });
  t.throws(() => chooseMachine(forced, undefined), UsageError);
  t.throws(() => chooseMachine(forced, undefined), /TSC rate is unknown/);
  t.throws(() => chooseMachine({ ...forced, kernelConfig: OURS.replace("CONFIG_ACPI=y", "") }, TSC), /cannot boot on microvm: .*CONFIG_ACPI/);
});

t.test("wantsHostTsc: only when the rate decides for microvm", async (t) => {
  t.ok(wantsHostTsc(tree));
  t.ok(wantsHostTsc({ ...tree, accel: "kvm", override: "microvm" }));
  t.notOk(wantsHostTsc({ ...tree, override: "pc" }));
  t.notOk(wantsHostTsc({ ...tree, accel: "kvm" }));
  t.notOk(wantsHostTsc({ ...tree, kernel: { source: "default" } }));
  t.notOk(wantsHostTsc({ ...tree, kernelConfig: "CONFIG_VIRTIO_MMIO=m\n" }));
});

t.test("microvmConfigProblem reads built-in options only, whole lines", async (t) => {
  t.equal(microvmConfigProblem(OURS), undefined);
  t.match(microvmConfigProblem(OURS.replace("CONFIG_VIRTIO_MMIO=y", "CONFIG_VIRTIO_MMIO_X=y")), /CONFIG_VIRTIO_MMIO$/);
});

t.test("parseMachineOverride: pc, microvm, unset; anything else names the choices", async (t) => {
  t.equal(parseMachineOverride(undefined), undefined);
  t.equal(parseMachineOverride(" "), undefined);
  t.equal(parseMachineOverride("pc"), "pc");
  t.equal(parseMachineOverride("microvm\n"), "microvm");
  t.throws(() => parseMachineOverride("q35"), { message: "KHARNESS_MACHINE=q35: unknown machine", fix: /pc or microvm/ });
});

t.test("chooseBootMachine reads the .config of a tree build and KHARNESS_MACHINE", async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "kh-machine-"));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  const configPath = path.join(dir, "config");
  await fs.writeFile(configPath, OURS.replace("CONFIG_ACPI=y", "# CONFIG_ACPI is not set"));
  t.match(await chooseBootMachine(X86_64, { source: "tree", configPath }, "tcg", {}), { machine: { name: "pc" }, reason: /CONFIG_ACPI/ });
  t.match(await chooseBootMachine(X86_64, { source: "tree", configPath }, "tcg", { KHARNESS_MACHINE: "pc" }), { reason: /KHARNESS_MACHINE=pc/ });
  await t.rejects(chooseBootMachine(X86_64, { source: "tree", configPath }, "tcg", { KHARNESS_MACHINE: "microvm" }), /CONFIG_ACPI/);
  await t.rejects(chooseBootMachine(X86_64, { source: "default" }, "tcg", { KHARNESS_MACHINE: "qemu" }), /unknown machine/);
  await fs.writeFile(configPath, OURS);
  const c = await chooseBootMachine(X86_64, { source: "tree", configPath }, "tcg", {});
  // microvm exactly when this host's TSC rate is known (a VM with constant_tsc here); pc says why otherwise.
  t.match(c, c.machine.name === "microvm" ? { hostTscKhz: Number, reason: /tsc_early_khz=\d+/ } : { reason: /TSC rate is unknown/ });
});
