#!/bin/bash
# Measures boot reliability and time per QEMU machine candidate: N boots each, interleaved round by
# round so background load hits every candidate alike. A boot "hangs" when init has not powered the
# VM off within HANG_S seconds. Usage: vm/measure-boot.sh [-n N] [-k KERNEL] [-a tcg|kvm] [-t HANG_S] [CANDIDATE...]
# Candidates: pc pc-ntc pc-qboot q35 microvm microvm-tsc microvm-pcie microvm-pcie-tsc (-tsc adds tsc_early_khz, -ntc no_timer_check) (default: all pc*/microvm-pcie*).
# Consoles of bad boots are kept in $KEEP_DIR (default /tmp). Output: one line per boot (candidate, outcome, wall seconds) and a summary per candidate.
set -u
N=20
KERNEL=/tmp/k/x612/boot/vmlinuz-6.12.117+deb12-cloud-amd64
ACCEL=tcg
HANG_S=90
while getopts n:k:a:t: o; do
	case $o in
	n) N=$OPTARG ;; k) KERNEL=$OPTARG ;; a) ACCEL=$OPTARG ;; t) HANG_S=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
CANDS=("$@")
[ ${#CANDS[@]} -eq 0 ] && CANDS=(pc pc-qboot microvm-pcie microvm-pcie-tsc)
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
CPU=max
[ "$ACCEL" = kvm ] && CPU=host

machine_args() {
	case $1 in
	pc | pc-ntc) echo "-M pc" ;;
	pc-qboot) echo "-M pc -bios /usr/share/qemu/qboot.rom" ;;
	q35) echo "-M q35" ;;
	microvm | microvm-tsc) echo "-M microvm" ;;
	microvm-pcie | microvm-pcie-tsc) echo "-M microvm,pcie=on" ;;
	esac
}
serial_dev() {
	case $1 in
	microvm | microvm-tsc) echo "virtio-serial-device" ;;
	*) echo "virtio-serial-pci" ;;
	esac
}
extra_append() {
	case $1 in
	*-tsc) echo "tsc_early_khz=$TSC_KHZ" ;;
	*-ntc) echo "no_timer_check" ;;
	esac
}

boot_once() {
	local cand=$1 d="$WORK/$1"
	mkdir -p "$d"
	: >"$d/ctl.txt"
	local start end rc
	start=$(date +%s%N)
	# shellcheck disable=SC2046
	timeout -s KILL "$HANG_S" qemu-system-x86_64 $(machine_args "$cand") -accel "$ACCEL" -cpu "$CPU" -m 1024 -smp 1 \
		-nodefaults -no-reboot -display none -nic none \
		-kernel "$KERNEL" -initrd "$WORK/initramfs.cpio" \
		-append "$CMDLINE $(extra_append "$cand")" \
		-chardev stdio,id=con0,signal=off -serial chardev:con0 \
		-device "$(serial_dev "$cand")",id=vs0 \
		-chardev file,id=res,path="$d/res.txt" -device virtserialport,bus=vs0.0,chardev=res,name=org.kharness.results \
		-chardev file,id=ctl,path="$d/ctl.txt" -device virtserialport,bus=vs0.0,chardev=ctl,name=org.kharness.control \
		</dev/null >"$d/console.txt" 2>"$d/qemu.err"
	rc=$?
	end=$(date +%s%N)
	local secs outcome
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
	if grep -q '^poweroff' "$d/ctl.txt"; then outcome=ok
	elif [ $rc -eq 137 ]; then outcome=hang
	else outcome="fail(rc=$rc)"; fi
	# Keep the console of every bad boot for a look at where it stopped.
	[ $outcome = ok ] || cp "$d/console.txt" "${KEEP_DIR:-/tmp}/kharness-measure-$outcome-$cand-$(date +%s).log"
	echo "$cand $outcome $secs"
}

echo "# kernel=$KERNEL accel=$ACCEL n=$N load=$(cut -d' ' -f1-3 /proc/loadavg) qemu=$(qemu-system-x86_64 --version | head -1)"
for ((i = 1; i <= N; i++)); do
	for c in "${CANDS[@]}"; do boot_once "$c"; done
done | tee "$WORK/all.txt"
echo "# summary: candidate boots ok hangs other mean_s_of_ok min_s max_s"
awk '{ n[$1]++; if ($2 == "ok") { ok[$1]++; s[$1] += $3; if (!($1 in mn) || $3 < mn[$1]) mn[$1] = $3; if ($3 > mx[$1]) mx[$1] = $3 } else if ($2 == "hang") h[$1]++; else o[$1]++ }
	END { for (c in n) printf "%s %d %d %d %d %.2f %.2f %.2f\n", c, n[c], ok[c], h[c], o[c], ok[c] ? s[c] / ok[c] : 0, mn[c], mx[c] }' "$WORK/all.txt"
