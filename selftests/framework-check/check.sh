#!/bin/sh
# check.sh OUT: runs the framework's own cases (OUT/kh_selftest), the fix gates (OUT/fix_gate) and the
# real OUT/net_abi under a seccomp filter, and compares output and exit codes with what they must be.
set -u
BIN=$1/kh_selftest
OUTDIR=$1
DIR=$(dirname "$0")
fail=0
out=$(mktemp)
KHARNESS_CASE_TIMEOUT=1 "$BIN" >"$out"; rc=$?
[ $rc -eq 1 ] || { echo "all cases: exit $rc, want 1"; fail=1; }
diff -u "$DIR/expected.ktap" "$out" || { echo "KTAP differs from expected.ktap"; fail=1; }
"$BIN" 'f.*.skip' >/dev/null; rc=$?
[ $rc -eq 4 ] || { echo "only skips: exit $rc, want 4"; fail=1; }
"$BIN" 'kh_selftest.f.a.pass' 'novariant.*' >/dev/null; rc=$?
[ $rc -eq 0 ] || { echo "passes: exit $rc, want 0"; fail=1; }
"$BIN" nothing-matches 2>/dev/null; rc=$?
[ $rc -eq 2 ] || { echo "no match: exit $rc, want 2"; fail=1; }
[ "$("$BIN" --list | wc -l)" -eq 19 ] || { echo "--list: want 19 names"; fail=1; }
# A case the runner loses (reaped behind its back) is ERROR, never a pass.
KH_CHECK_LOSE_CASE='lost.*' "$BIN" 'lost.*' >"$out"; rc=$?
[ $rc -eq 1 ] || { echo "lost case: exit $rc, want 1"; fail=1; }
grep -qx 'not ok 1 lost.passes # ERROR lost the case process (waitpid: ECHILD), its outcome is unknown' "$out" ||
	{ echo "lost case: no ERROR line:"; cat "$out"; fail=1; }
# Started with SIGCHLD ignored (inherited across exec): every outcome is still seen, the same KTAP.
KH_CHECK_IGNORE_SIGCHLD=1 KHARNESS_CASE_TIMEOUT=1 "$BIN" >"$out"; rc=$?
[ $rc -eq 1 ] || { echo "SIGCHLD ignored: exit $rc, want 1"; fail=1; }
diff -u "$DIR/expected.ktap" "$out" || { echo "SIGCHLD ignored: KTAP differs from expected.ktap"; fail=1; }
# Fix gates: FAIL on a release known to carry the fix, SKIP (naming release and fix) otherwise.
"$OUTDIR/fix_gate" >"$out"; rc=$?
[ $rc -eq 1 ] || { echo "fix gates: exit $rc, want 1"; fail=1; }
diff -u "$DIR/expected-gates.ktap" "$out" || { echo "fix gates: KTAP differs from expected-gates.ktap"; fail=1; }
# An ABI query answered with an errno no kernel gives (EPERM, 1) FAILs every case, naming it.
"$OUTDIR/seccomp-errno" 1 "$OUTDIR/net_abi" >"$out"; rc=$?
[ $rc -eq 1 ] || { echo "ABI query EPERM: exit $rc, want 1"; fail=1; }
n=$(grep -c '^ok ' "$out"); [ "$n" -eq 0 ] || { echo "ABI query EPERM: $n cases not failed"; fail=1; }
grep -q '^# net_common.c:[0-9]*: Landlock ABI query .* failed with EPERM' "$out" ||
	{ echo "ABI query EPERM: no diagnostic naming EPERM"; fail=1; }
# ENOSYS (38) is the kernel's "not built": every case SKIPs, and the reason mentions the seccomp filter.
"$OUTDIR/seccomp-errno" 38 "$OUTDIR/net_abi" >"$out"; rc=$?
[ $rc -eq 4 ] || { echo "ABI query ENOSYS: exit $rc, want 4"; fail=1; }
n=$(grep -c '# SKIP Landlock is not built into this kernel (ENOSYS); note: a seccomp filter is in force' "$out")
[ "$n" -eq 24 ] || { echo "ABI query ENOSYS: $n of 24 cases SKIP naming ENOSYS"; fail=1; }
rm -f "$out"
[ $fail -eq 0 ] && echo "framework check: ok"
exit $fail
