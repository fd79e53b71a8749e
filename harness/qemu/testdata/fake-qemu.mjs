#!/usr/bin/env node
// A stand-in for qemu-system-x86_64 in supervisor tests: connects to the port sockets named in its argv and
// plays the scenario named by `fake=NAME` in its -append string (console on stdout, like -chardev stdio).
import { spawn } from "node:child_process";
import { fstatSync, writeSync } from "node:fs";
import * as net from "node:net";

const argv = process.argv.slice(2);
const append = argv[argv.indexOf("-append") + 1] ?? "";
const scenario = /(?:^| )fake=(\S+)/.exec(append)?.[1] ?? "poweroff";
const sockPath = (id) => argv.find((a) => a.startsWith(`socket,id=${id},`))?.replace(/.*path=/, "");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const connect = (p) => new Promise((resolve, reject) => { const s = net.connect(p, () => resolve(s)); s.on("error", reject); });
const say = (s) => process.stdout.write(`[    0.100000] ${s}\n`);

if (scenario === "noinit") say("early console output");
if (scenario === "error") {
  process.stderr.write("qemu-system-x86_64: -device virtio-serial-pci: something is wrong\n");
  process.exit(1);
}
const results = await connect(sockPath("results"));
const control = await connect(sockPath("control"));
// A child in QEMU's process group, like QEMU's helper threads/processes: it must not outlive the boot.
spawn("sleep", ["987.654"], { stdio: "ignore" });
say("Linux version 6.12.0-fake");
// What the supervisor gave as the console (-chardev stdio): kharness hands QEMU console.log itself, not a pipe.
say(`console is a ${fstatSync(1).isFile() ? "file" : "pipe or other"}`);
await sleep(100);
if (scenario === "noinit") for (;;) { say("still booting"); await sleep(200); }
control.write("init 1\n");
say("kharness: init 1");
results.write("KTAP version 1\n1..1\n# selftests: kharness: prog\n");
control.write("start prog\n");
switch (scenario) {
  case "poweroff":
    results.write("# hello\nok 1 prog\n");
    control.write("end prog exit=0\npoweroff\n");
    say("reboot: Power down");
    results.end(); control.end();
    await sleep(50);
    process.exit(0);
  case "bytewise": { // the console one byte per write(2), as QEMU's serial port does, ending in an unfinished line
    results.write("ok 1 prog\n");
    control.write("end prog exit=0\npoweroff\n");
    for (let i = 0; i < 3000; i++) {
      for (const byte of Buffer.from(`[    1.000000] line ${i}\n`)) writeSync(1, Buffer.of(byte));
      if (i % 300 === 0) await sleep(20);
    }
    writeSync(1, Buffer.from("last words"));
    results.end(); control.end();
    process.exit(0);
  }
  case "poweroff-stuck": // the guest powered off but the machine did not (no ACPI)
    results.write("ok 1 prog\n");
    control.write("end prog exit=0\npoweroff\n");
    for (;;) await sleep(1000);
  case "panic-exit": // panic=-1 with -no-reboot: QEMU exits by itself
    say("Kernel panic - not syncing: Fatal exception");
    say("---[ end Kernel panic - not syncing: Fatal exception ]---");
    process.exit(0);
  case "panic-stuck": // the reboot after the panic never happens
    say("Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b");
    for (;;) await sleep(1000);
  case "silent":
    for (;;) await sleep(1000);
  case "heartbeats": // quiet but alive for 3 s, then done
    for (let i = 0; i < 15; i++) { control.write("heartbeat\n"); await sleep(200); }
    results.write("ok 1 prog\n");
    control.write("end prog exit=0\npoweroff\n");
    await sleep(50);
    process.exit(0);
  case "reset": // the guest reset: -no-reboot makes QEMU exit 0 with no poweroff
    process.exit(0);
  case "crash": // QEMU itself dies
    process.stderr.write("qemu-system-x86_64: KVM internal error. Suberror: 1\n");
    process.exit(1);
}
