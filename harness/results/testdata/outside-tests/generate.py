# Writes the logs in this folder: one timeline per case, as the two streams a run records (NAME.console.log, the
# kernel log with init's kmsg markers; NAME.results.log, the results port's KTAP) and as the one mixed console
# log of a guest without a results port, where init writes its KTAP to the console (NAME.log).
# The kernel reports are written by hand in the format of Linux 6.12 on x86_64 (not captured from a kernel): the
# VM-level fault tests (test/faults/*.vm.test.ts) provoke real ones. Run: python3 generate.py .
import os, sys
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)

BOOT = [
    "Linux version 6.12.0-kh (kharness@build) (gcc (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC",
    "Kernel command line: console=ttyS0 panic=-1 rdinit=/init loglevel=6 printk.devkmsg=on printk.time=1",
    "x86/fpu: x87 FPU will use FXSAVE",
    "BIOS-provided physical RAM map:",
    "printk: legacy console [ttyS0] enabled",
    "virtio_console virtio1: 2 ports",
    "Freeing unused kernel image (initmem) memory: 2688K",
    "Run /init as init process",
]

NULL_DEREF_BOOT = [
    "BUG: kernel NULL pointer dereference, address: 0000000000000018",
    "#PF: supervisor read access in kernel mode",
    "#PF: error_code(0x0000) - not-present page",
    "PGD 0 P4D 0",
    "Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI",
    "CPU: 0 UID: 0 PID: 31 Comm: kworker/u4:1 Not tainted 6.12.0-kh #1",
    "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014",
    "Workqueue: events_unbound async_run_entry_fn",
    "RIP: 0010:kh_probe_async+0x1b/0x60",
    "Call Trace:",
    " <TASK>",
    " async_run_entry_fn+0x31/0x130",
    " process_one_work+0x176/0x330",
    " worker_thread+0x252/0x390",
    " kthread+0xd2/0x100",
    " ret_from_fork+0x34/0x50",
    " </TASK>",
    "Modules linked in:",
    "CR2: 0000000000000018",
    "---[ end trace 0000000000000000 ]---",
]

KASAN_BETWEEN = [
    "==================================================================",
    "BUG: KASAN: slab-use-after-free in kh_release_timer+0x2c/0x40",
    "Read of size 8 at addr ffff888003a1c008 by task swapper/0/0",
    "",
    "CPU: 0 UID: 0 PID: 0 Comm: swapper/0 Not tainted 6.12.0-kh #1",
    "Call Trace:",
    " <IRQ>",
    " dump_stack_lvl+0x5d/0x80",
    " print_report+0xce/0x660",
    " kasan_report+0xd8/0x110",
    " kh_release_timer+0x2c/0x40",
    " call_timer_fn+0x29/0x130",
    " </IRQ>",
    "",
    "Freed by task 48:",
    " kfree+0xd3/0x3b0",
    " kh_sock_release+0x3e/0x70",
    "==================================================================",
]

OOPS_AFTER = [
    "BUG: unable to handle page fault for address: ffffffffc0201000",
    "#PF: supervisor instruction fetch in kernel mode",
    "#PF: error_code(0x0010) - not-present page",
    "PGD 2c15067 P4D 2c15067 PUD 2c17067 PMD 3a3e067 PTE 0",
    "Oops: Oops: 0010 [#1] PREEMPT SMP NOPTI",
    "CPU: 0 UID: 0 PID: 0 Comm: swapper/0 Not tainted 6.12.0-kh #1",
    "RIP: 0010:0xffffffffc0201000",
    "Call Trace:",
    " <IRQ>",
    " call_timer_fn+0x29/0x130",
    " __run_timers+0x223/0x2c0",
    " </IRQ>",
    "---[ end trace 0000000000000000 ]---",
    "Kernel panic - not syncing: Fatal exception in interrupt",
    "Kernel Offset: disabled",
    "---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---",
]

BUG_SHUTDOWN = [
    "kernel BUG at drivers/block/kh_blk.c:212!",
    "Oops: invalid opcode: 0000 [#1] PREEMPT SMP NOPTI",
    "CPU: 0 UID: 0 PID: 1 Comm: init Not tainted 6.12.0-kh #1",
    "RIP: 0010:kh_blk_shutdown+0x4d/0x50",
    "Call Trace:",
    " <TASK>",
    " device_shutdown+0x11e/0x1f0",
    " kernel_power_off+0x30/0x70",
    " __do_sys_reboot+0x1d1/0x230",
    " do_syscall_64+0x82/0x160",
    " </TASK>",
    "---[ end trace 0000000000000000 ]---",
]

WARN_BETWEEN = [
    "------------[ cut here ]------------",
    "WARNING: CPU: 0 PID: 12 at net/core/sock.c:2240 sk_destruct+0x1c4/0x1f0",
    "Modules linked in:",
    "CPU: 0 UID: 0 PID: 12 Comm: kworker/0:1 Not tainted 6.12.0-kh #1",
    "RIP: 0010:sk_destruct+0x1c4/0x1f0",
    "Call Trace:",
    " <TASK>",
    " __sk_destruct+0x25/0x200",
    " process_one_work+0x176/0x330",
    " </TASK>",
    "---[ end trace 0000000000000000 ]---",
]

PANIC_IN_TEST = [
    "BUG: kernel NULL pointer dereference, address: 0000000000000008",
    "#PF: supervisor read access in kernel mode",
    "#PF: error_code(0x0000) - not-present page",
    "PGD 0 P4D 0",
    "Oops: Oops: 0000 [#1] PREEMPT SMP NOPTI",
    "CPU: 0 UID: 0 PID: 44 Comm: net_tcp Not tainted 6.12.0-kh #1",
    "RIP: 0010:hook_socket_bind+0x31/0x90",
    "Call Trace:",
    " <TASK>",
    " security_socket_bind+0x3d/0x70",
    " __sys_bind+0x9e/0xe0",
    " </TASK>",
    "---[ end trace 0000000000000000 ]---",
    "Kernel panic - not syncing: Fatal exception",
    "Kernel Offset: disabled",
    "---[ end Kernel panic - not syncing: Fatal exception ]---",
]

PROGRAMS = [
    ("net_tcp", ["tcp.ipv4.bind_allowed", "tcp.ipv4.bind_denied"]),
    ("net_rules", ["rules.ipv4.connect_allowed", "rules.ipv4.connect_denied"]),
]

def timeline(fault_at, fault_lines, powers_off=True):
    """(stream, text) items: stream 'k' = kernel log line, 'r' = results port line."""
    t = []
    t += [("k", l) for l in BOOT]
    if fault_at == "boot":
        t += [("k", l) for l in fault_lines]
    t += [("k", "kharness: init 1"), ("r", "KTAP version 1"), ("r", f"1..{len(PROGRAMS)}")]
    for i, (prog, cases) in enumerate(PROGRAMS):
        if fault_at == "between" and i == 1:
            t += [("k", l) for l in fault_lines]
        t += [("k", f"kharness: start {prog}"), ("r", f"# selftests: kharness: {prog}"), ("r", "# TAP version 13"), ("r", f"# 1..{len(cases)}")]
        for j, c in enumerate(cases):
            t += [("k", f"kharness: start {prog}.{c}")]
            if fault_at == "in-test" and j == 1:
                return t + [("k", l) for l in fault_lines]
            t += [("r", f"# ok {j + 1} {c}"), ("k", f"kharness: end {prog}.{c}")]
        t += [("r", f"# # Totals: pass:{len(cases)} fail:0 xfail:0 xpass:0 skip:0 error:0"), ("r", f"ok {i + 1} {prog}"), ("k", f"kharness: end {prog}")]
    if fault_at == "after":
        t += [("k", l) for l in fault_lines]
        return t
    t += [("k", "kharness: poweroff")]
    if fault_at == "shutdown":
        t += [("k", l) for l in fault_lines]
    if powers_off:
        t += [("k", "reboot: Power down")]
    return t

def write(name, items):
    clock = [0.5]
    def stamp(text):
        clock[0] += 0.0137
        return f"[{clock[0]:12.6f}] {text}"
    console, results, mixed = [], [], []
    for stream, text in items:
        if stream == "k":
            line = stamp(text)
            console.append(line)
            mixed.append(line)
        else:
            results.append(text)
            mixed.append(text)
    open(os.path.join(OUT, f"{name}.console.log"), "w").write("\n".join(console) + "\n")
    open(os.path.join(OUT, f"{name}.results.log"), "w").write("\n".join(results) + "\n")
    open(os.path.join(OUT, f"{name}.log"), "w").write("\n".join(mixed) + "\n")

write("oops-before-first-test", timeline("boot", NULL_DEREF_BOOT))
write("kasan-between-programs", timeline("between", KASAN_BETWEEN))
write("oops-and-panic-after-last-result", timeline("after", OOPS_AFTER))
write("bug-during-shutdown", timeline("shutdown", BUG_SHUTDOWN))
write("warning-between-programs", timeline("between", WARN_BETWEEN))
# Not outside a test: the panic inside net_tcp's second case, so net_rules never starts (its name comes from the manifest).
write("panic-in-first-program", timeline("in-test", PANIC_IN_TEST))
