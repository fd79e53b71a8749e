#!/usr/bin/env node
// A stand-in for qemu-system-x86_64: a guest whose init starts, heartbeats for a second, then goes silent on
// its ports while the kernel keeps printing RCU stall reports on the console (a wedged kernel's spew).
import * as net from "node:net";

const argv = process.argv.slice(2);
const sockPath = (id) => argv.find((a) => a.startsWith(`socket,id=${id},`))?.replace(/.*path=/, "");
const connect = (p) => new Promise((resolve, reject) => { const s = net.connect(p, () => resolve(s)); s.on("error", reject); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let t = 0.1;
const say = (s) => process.stdout.write(`[${(t += 0.25).toFixed(6).padStart(12)}] ${s}\n`);

const results = await connect(sockPath("results"));
const control = await connect(sockPath("control"));
say("Linux version 6.12.0-fake");
control.write("init 1\n");
say("kharness: init 1");
results.write("KTAP version 1\n1..1\n# selftests: kharness: prog\n");
control.write("start prog\n");
say("kharness: start prog");
for (let i = 0; i < 5; i++) { control.write("heartbeat\n"); await sleep(200); }
for (;;) {
  say("rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:");
  say("rcu: \t0-...!: (1 GPs behind) idle=7d4/1/0x4000000000000000 softirq=1/1 fqs=0");
  say("rcu: rcu_preempt kthread starved for 10002 jiffies! g1 f0x0 RCU_GP_WAIT_FQS(5) ->state=0x0 ->cpu=0");
  await sleep(250);
}
