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
[ "$("$BIN" --list | wc -l)" -eq 17 ] || { echo "--list: want 17 names"; fail=1; }
rm -f "$out"
[ $fail -eq 0 ] && echo "framework check: ok"
exit $fail
