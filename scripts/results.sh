#!/bin/bash
# Judge one boot's results: prints "PASS <label>/<test>" or
# "FAIL <label>/<test>: <why>" per test of the plan and appends
# "<passed> <failed>" to $SUMMARY.
#   results.sh <label> <plan-file> <results-dir>
# A test fails if it exits non-zero, prints a TAP "not ok" or a SKIP, does
# not finish (crash, timeout), or if the kernel log between its begin and end
# markers shows an oops, BUG, WARNING, lockdep, KASAN or list corruption report.
# A splat outside every test fails the pseudo-test "<label>/boot".
set -uo pipefail
label=$1 plan=$2 res=$3
pass=0 fail=0
splat='(BUG:|WARNING:|Oops|Kernel panic|general protection fault|KASAN:|UBSAN:|possible recursive locking|possible circular locking|inconsistent lock state|suspicious RCU usage|list_add corruption|list_del corruption|kernel BUG at|Bad page|BUG kmalloc|INFO: task .* blocked)'
log=$res/console.log

verdict() {	# name why
	if [ -z "$2" ]; then
		echo "PASS $label/$1"; pass=$((pass + 1))
	else
		echo "FAIL $label/$1: $2"; fail=$((fail + 1))
	fi
}

segment() {	# print the kernel log lines of test $1
	awk -v n="$1" '
		{ sub(/\r$/, "") }
		index($0, "gmem_pair-test-begin: " n) && substr($0, length($0) - length(n) + 1) == n { on = 1; next }
		index($0, "gmem_pair-test-end: " n) && substr($0, length($0) - length(n) + 1) == n { on = 0 }
		on' "$log"
}

while IFS='|' read -r name tmo cmd; do
	case "$name" in ''|\#*) continue ;; esac
	if [ -n "${ONLY:-}" ] && [ "$ONLY" != "$name" ]; then continue; fi
	why=""
	if [ ! -f "$res/$name.rc" ]; then
		why="did not finish (crash or VM timeout)"
	else
		rc=$(cat "$res/$name.rc")
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then why="timed out after ${tmo}s"
		elif [ "$rc" != 0 ]; then why="exit status $rc"
		elif grep -q '^not ok' "$res/$name.out"; then why="TAP: $(grep -m1 '^not ok' "$res/$name.out")"
		elif grep -qE '^ok .*# *SKIP' "$res/$name.out"; then why="skipped: $(grep -m1 -E '^ok .*# *SKIP' "$res/$name.out")"
		fi
	fi
	if [ -f "$log" ]; then
		s=$(segment "$name" | grep -m1 -E "$splat")
		[ -z "$s" ] || why="${why:+$why; }kernel log: $s"
	fi
	verdict "$name" "$why"
done < "$plan"

why=""
if [ ! -f "$log" ]; then
	why="no console log"
else
	s=$(awk '/gmem_pair-test-begin: /{on=1} /gmem_pair-test-end: /{on=0; next} !on' "$log" | grep -m1 -E "$splat")
	[ -z "$s" ] || why="kernel log outside tests: $s"
	grep -q gmem_pair-run-done "$log" || why="${why:+$why; }run did not complete (qemu rc $(cat "$res/qemu.rc" 2>/dev/null))"
fi
verdict boot "$why"
echo "$pass $fail" >> "${SUMMARY:-/dev/null}"
