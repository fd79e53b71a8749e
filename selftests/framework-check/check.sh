#!/bin/sh
# check.sh BIN: runs the framework's own cases and compares output and exit codes with what they must be.
set -u
BIN=$1
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
rm -f "$out"
[ $fail -eq 0 ] && echo "framework check: ok"
exit $fail
