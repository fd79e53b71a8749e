#!/bin/bash
# Measures boot reliability and time per QEMU machine candidate: N boots each, interleaved round by
# round so background load hits every candidate alike. A boot "hangs" when init has not powered the
# VM off within HANG_S seconds.
# Usage: vm/measure-boot.sh [-n N] [-k KERNEL] [-a tcg|kvm] [-t HANG_S] [-o RESULTS_FILE] [CANDIDATE...]
# A candidate is a machine with options joined by '+': pc, pc-qboot, q35, microvm (virtio-mmio),
# microvm-pcie; options: ntc (no_timer_check), tsc (tsc_early_khz=<host rate>), quiet (loglevel=4),
# qemu64 (-cpu qemu64 instead of max). The older names pc-ntc, microvm-tsc, microvm-pcie-tsc still work.
# Default candidates: pc+ntc pc-qboot+ntc q35+ntc microvm-pcie+tsc.
# Per boot it prints: candidate, outcome, seconds from QEMU's start to init's first "start" on the
# control port (boot-to-first-test), and seconds to QEMU's exit; then a summary per candidate with the
# median of each and the load average at the start and the end. Consoles of bad boots are kept in
# $KEEP_DIR (default /tmp). With -o, everything printed is also appended to RESULTS_FILE.
set -u
N=20
KERNEL=/tmp/k/x612/boot/vmlinuz-6.12.117+deb12-cloud-amd64
ACCEL=tcg
HANG_S=90
OUTFILE=/dev/null
while getopts n:k:a:t:o: o; do
	case $o in
	n) N=$OPTARG ;; k) KERNEL=$OPTARG ;; a) ACCEL=$OPTARG ;; t) HANG_S=$OPTARG ;; o) OUTFILE=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
CANDS=("$@")
[ ${#CANDS[@]} -eq 0 ] && CANDS=(pc+ntc pc-qboot+ntc q35+ntc microvm-pcie+tsc)
if [ ! -r "$KERNEL" ]; then
	echo "measure-boot: kernel $KERNEL is not readable; pass one with -k (e.g. the vmlinuz in ~/.cache/kharness/kernels/default.json)" >&2
	exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/kharness-measure.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# A minimal initramfs: our init plus one static program that prints a line.
make -s -C "$HERE" OUT="$WORK/build" >/dev/null || exit 1
mkdir -p "$WORK/root/kharness/bin"
cp "$WORK/build/init" "$WORK/root/init"
printf '#include <stdio.h>\nint main(void){puts("hello");return 0;}\n' >"$WORK/hello.c"
gcc -static -O2 -o "$WORK/root/kharness/bin/hello" "$WORK/hello.c" || exit 1
printf 'hello\t/kharness/bin/hello\t30\t-\n' >"$WORK/root/kharness/manifest"
(cd "$WORK/root" && find . | cpio -o -H newc 2>/dev/null) >"$WORK/initramfs.cpio"

# The kernel command line harness/qemu/argv.ts builds (kernelCmdline), so timings match real runs.
CMDLINE="console=ttyS0 panic=-1 rdinit=/init loglevel=6 printk.devkmsg=on printk.time=1 mitigations=off i8042.noaux i8042.nopnp 8250.nr_uarts=1"

# The host's TSC rate: under TCG the guest TSC ticks at the host's rate.
TSC_KHZ=$(awk '/^cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)

# Old names: a trailing -tsc / -ntc is the option of the same name.
normalize() {
	case $1 in
	*-ntc) echo "${1%-ntc}+ntc" ;;
	*-tsc) echo "${1%-tsc}+tsc" ;;
	*) echo "$1" ;;
	esac
}
base_of() { echo "${1%%+*}"; }
has_opt() { case "+${1#*+}+" in *"+$2+"*) [ "$1" != "$(base_of "$1")" ] ;; *) false ;; esac; }

machine_args() {
	case $(base_of "$1") in
	pc) echo "-M pc" ;;
	pc-qboot) echo "-M pc -bios /usr/share/qemu/qboot.rom" ;;
	q35) echo "-M q35" ;;
	microvm) echo "-M microvm" ;;
	microvm-pcie) echo "-M microvm,pcie=on" ;;
	*) echo "measure-boot: unknown machine in candidate $1 (pc, pc-qboot, q35, microvm, microvm-pcie)" >&2; exit 2 ;;
	esac
}
serial_dev() {
	case $(base_of "$1") in
	microvm) echo "virtio-serial-device" ;;
	*) echo "virtio-serial-pci" ;;
	esac
}
cpu_of() {
	if [ "$ACCEL" = kvm ]; then echo host
	elif has_opt "$1" qemu64; then echo qemu64
	else echo max; fi
}
extra_append() {
	local a=""
	has_opt "$1" tsc && a="$a tsc_early_khz=$TSC_KHZ"
	has_opt "$1" ntc && a="$a no_timer_check"
	has_opt "$1" quiet && a="$a loglevel=4"
	echo "$a"
}

# Reads the control port (a FIFO) and stamps the first "start" line with the wall clock (bash's
# EPOCHREALTIME: no process per line).
stamp_control() {
	local first=""
	while IFS= read -r line; do
		if [ -z "$first" ] && [ "${line%% *}" = start ]; then first=$EPOCHREALTIME; echo "first-start $first"; fi
		echo "$line"
	done
}

boot_once() {
	local cand=$1 d="$WORK/$1"
	mkdir -p "$d"
	rm -f "$d/ctl.fifo"
	mkfifo "$d/ctl.fifo"
	stamp_control <"$d/ctl.fifo" >"$d/ctl.txt" &
	local reader=$!
	local start end rc
	start=$EPOCHREALTIME
	# shellcheck disable=SC2046
	timeout -s KILL "$HANG_S" qemu-system-x86_64 $(machine_args "$cand") -accel "$ACCEL" -cpu "$(cpu_of "$cand")" -m 1024 -smp 1 \
		-nodefaults -no-reboot -display none -nic none \
		-kernel "$KERNEL" -initrd "$WORK/initramfs.cpio" \
		-append "$CMDLINE$(extra_append "$cand")" \
		-chardev stdio,id=con0,signal=off -serial chardev:con0 \
		-device "$(serial_dev "$cand")",id=vs0 \
		-chardev file,id=res,path="$d/res.txt" -device virtserialport,bus=vs0.0,chardev=res,name=org.kharness.results \
		-chardev file,id=ctl,path="$d/ctl.fifo" -device virtserialport,bus=vs0.0,chardev=ctl,name=org.kharness.control \
		</dev/null >"$d/console.txt" 2>"$d/qemu.err"
	rc=$?
	end=$EPOCHREALTIME
	# QEMU killed before it opened the FIFO leaves the reader blocked in open: open it once to free it.
	: <>"$d/ctl.fifo"
	wait "$reader"
	local first secs firsts outcome
	first=$(awk '$1 == "first-start" { print $2; exit }' "$d/ctl.txt")
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
	firsts=$([ -n "$first" ] && awk -v a="$start" -v b="$first" 'BEGIN { printf "%.2f", b - a }' || echo -)
	if grep -q '^poweroff' "$d/ctl.txt"; then outcome=ok
	elif [ $rc -eq 137 ]; then outcome=hang
	else outcome="fail(rc=$rc)"; fi
	# Keep the console of every bad boot for a look at where it stopped.
	[ $outcome = ok ] || cp "$d/console.txt" "${KEEP_DIR:-/tmp}/kharness-measure-$outcome-$cand-$(date +%s).log"
	echo "$cand $outcome $firsts $secs"
}

for i in "${!CANDS[@]}"; do CANDS[i]=$(normalize "${CANDS[i]}"); machine_args "${CANDS[i]}" >/dev/null || exit 2; done
{
	echo "# $(date -u +%FT%TZ) kernel=$KERNEL accel=$ACCEL n=$N hang_s=$HANG_S load_start=$(cut -d' ' -f1-3 /proc/loadavg) qemu=$(qemu-system-x86_64 --version | head -1)"
	echo "# candidate outcome boot_to_first_test_s total_s"
	for ((i = 1; i <= N; i++)); do
		for c in "${CANDS[@]}"; do boot_once "$c"; done
	done | tee "$WORK/all.txt"
	echo "# load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# summary: candidate boots ok hangs other median_first_test_s median_total_s min_first_s max_first_s"
	for c in "${CANDS[@]}"; do
		awk -v c="$c" '$1 == c { n++; if ($2 == "ok") { ok++; f[ok] = $3; t[ok] = $4 } else if ($2 == "hang") h++; else o++ }
			function med(a, k,   i, j, x) { for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x } return k ? (k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2) : 0 }
			END { mf = med(f, ok); lo = f[1]; hi = f[ok]; printf "%s %d %d %d %d %.2f %.2f %.2f %.2f\n", c, n, ok, h + 0, o + 0, mf, med(t, ok), lo, hi }' "$WORK/all.txt"
	done
} | tee -a "$OUTFILE"
