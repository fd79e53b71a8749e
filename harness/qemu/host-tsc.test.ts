// Pure tests of the host TSC rate parser over recorded /proc/cpuinfo texts named after their case.
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { parseHostTsc, readHostTsc } from "./host-tsc.js";

const DATA = path.join(path.dirname(fileURLToPath(import.meta.url)), "testdata");
const cpuinfo = (name: string) => fs.readFile(path.join(DATA, name), "utf8");

t.test("sysfs tsc_freq_khz wins over /proc/cpuinfo", async (t) => {
  const r = parseHostTsc({ sysfsKhz: "2899999\n", cpuinfo: await cpuinfo("cpuinfo-kvm-guest-2.6GHz.txt") });
  t.same(r, { khz: 2899999, source: "tsc_freq_khz" });
});

t.test("a sysfs text that is not a positive number is ignored", async (t) => {
  t.equal(parseHostTsc({ sysfsKhz: "0\n" }), undefined);
  t.equal(parseHostTsc({ sysfsKhz: "garbage" }), undefined);
  t.equal(parseHostTsc({ sysfsKhz: "0", cpuinfo: await cpuinfo("cpuinfo-kvm-guest-2.6GHz.txt") })?.khz, 2599998);
});

t.test("under a hypervisor with a constant, nonstop TSC: cpu MHz is the rate", async (t) => {
  t.same(parseHostTsc({ cpuinfo: await cpuinfo("cpuinfo-kvm-guest-2.6GHz.txt") }), { khz: 2599998, source: "cpu MHz under a hypervisor" });
});

t.test("Intel bare metal: the model name's @GHz, not the scaled cpu MHz", async (t) => {
  // cpu MHz says 800.012 (an idle core); the TSC runs at the nominal 3.20 GHz.
  t.same(parseHostTsc({ cpuinfo: await cpuinfo("cpuinfo-intel-bare-metal-scaled-clock.txt") }), { khz: 3_200_000, source: "the model name's nominal clock" });
});

t.test("AMD bare metal without @GHz in its model name: unknown", async (t) => {
  t.equal(parseHostTsc({ cpuinfo: await cpuinfo("cpuinfo-amd-bare-metal-no-nominal-clock.txt") }), undefined);
});

t.test("no constant_tsc: unknown, even under a hypervisor with cpu MHz", async (t) => {
  t.equal(parseHostTsc({ cpuinfo: await cpuinfo("cpuinfo-vm-without-constant-tsc.txt") }), undefined);
});

t.test("constant_tsc without nonstop_tsc: unknown", async (t) => {
  const text = (await cpuinfo("cpuinfo-kvm-guest-2.6GHz.txt")).replace(" nonstop_tsc", "");
  t.equal(parseHostTsc({ cpuinfo: text }), undefined);
});

t.test("nothing to read: unknown", async (t) => {
  t.equal(parseHostTsc({}), undefined);
  t.equal(parseHostTsc({ cpuinfo: "" }), undefined);
});

t.test("readHostTsc on this host gives a positive rate or undefined", async (t) => {
  const r = await readHostTsc();
  if (r === undefined) t.pass("this host's TSC rate is unknown");
  else t.ok(Number.isInteger(r.khz) && r.khz > 0, `${r.khz} kHz from ${r.source}`);
});
