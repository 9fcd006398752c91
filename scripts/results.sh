#!/bin/bash
# Judge one boot's results: prints "PASS <label>/<test>" or
# "FAIL <label>/<test>: <why>" per test of the plan, appends
# "<passed> <failed>" to $SUMMARY and exits non-zero if anything failed.
#   results.sh <label> <plan-file> <results-dir>
# A test fails if it exits non-zero, prints a TAP "not ok" or a SKIP, does
# not finish (crash, timeout), if the kernel log between its begin and end
# markers shows an oops, BUG, WARNING, lockdep, KASAN, RCU stall, lockup,
# hung task, OOM kill, list corruption or gmem_pair rollback report, or if
# lock debugging was switched off or the kernel got tainted while it ran
# (<test>.health, written by guest-init.sh).  A test that provokes a
# report on purpose says so first: a kernel log line
# "gmem_pair-expect-log: <text>" (written to /dev/kmsg) excuses the later
# lines of that test that contain <text>.
# The pseudo-test "<label>/boot" fails on a splat outside every test, a run
# that did not complete, and a kernel that was tainted or had lock debugging
# off at the start or whose health changed outside every test (boot.health).
set -uo pipefail
label=$1 plan=$2 res=$3
pass=0 fail=0
splat='BUG:|WARNING:|Oops|Kernel panic|general protection fault|KASAN:|UBSAN:'
splat+='|possible recursive locking|possible circular locking|inconsistent lock state'
splat+='|suspicious RCU usage|INFO: trying to register non-static key'
splat+='|Disabling lock debugging|turning off the locking correctness validator'
splat+='|INFO: .*detected (expedited )?stall|self-detected stall'
splat+='|soft lockup|hard LOCKUP|INFO: task .* blocked'
splat+='|invoked oom-killer|Out of memory|oom-kill:'
splat+='|list_add corruption|list_del corruption|kernel BUG at|Bad page|BUG kmalloc'
splat+='|gmem_pair: gfn .* not restored|gmem_pair: rollback'
splat="($splat)"
log=$res/console.log

verdict() {	# name why
	if [ -z "$2" ]; then
		echo "PASS $label/$1$(checks "$res/$1.out")"; pass=$((pass + 1))
	else
		echo "FAIL $label/$1: $2"; fail=$((fail + 1))
		evidence "$res/$1.out"
	fi
}

# checks OUT: " (N checks, M distinct)" for a TAP test: its "ok" lines,
# and how many of them are different checks (kselftest_harness runs a
# TEST_F once per fixture variant as "fixture.variant.test": one check).
checks() {
	[ -s "$1" ] || return 0
	awk '{ sub(/\r$/, "") }
	     /^ok [0-9]+ / && !/# *SKIP/ {
		name = $0; sub(/^ok [0-9]+ /, "", name)
		n = split(name, part, ".")
		if (n == 3 && name !~ / /)
			name = part[1] "." part[3]
		if (!(name in seen)) { seen[name] = 1; distinct++ }
		total++
	     }
	     END { if (total) printf " (%d checks, %d distinct)", total, distinct }' "$1"
}

# evidence OUT: after a FAIL line, up to 15 lines of the test's output,
# indented, so that a CI log says why without the results directory: its
# failure lines ("FAIL", "not ok", kselftest "# ..." assertion lines) if
# it printed any, else its last lines.
evidence() {
	local e
	[ -s "$1" ] || return 0
	e=$(grep -E 'FAIL|^not ok|^# .*(Expected|:[0-9]+:)' "$1" | head -15)
	[ -n "$e" ] || e=$(tail -15 "$1")
	sed 's/\r$//; s/^/    | /' <<< "$e"
}

segment() {	# print the kernel log lines of test $1
	awk -v n="$1" '
		{ sub(/\r$/, "") }
		index($0, "gmem_pair-test-begin: " n) && substr($0, length($0) - length(n) + 1) == n { on = 1; next }
		index($0, "gmem_pair-test-end: " n) && substr($0, length($0) - length(n) + 1) == n { on = 0 }
		on' "$log"
}

# Drop the lines a test declared it provokes (gmem_pair-expect-log).
excuse() {
	awk -v m="gmem_pair-expect-log: " '
		index($0, m) { e[n++] = substr($0, index($0, m) + length(m)); next }
		{ for (i = 0; i < n; i++) if (index($0, e[i])) next; print }'
}

# Health records (guest-init.sh): lines "<tag> [debug_locks=N] tainted=N";
# debug_locks is only there on a lockdep kernel.
health() {	# file tag: print "debug_locks tainted" of that line ("-" if absent)
	awk -v t="$2" '
		{ sub(/\r$/, "") }
		$1 == t { d = "-"; v = "-"
			for (i = 2; i <= NF; i++) {
				if ($i ~ /^debug_locks=/) d = substr($i, 13)
				if ($i ~ /^tainted=/) v = substr($i, 9)
			}
			print d, v; exit }' "$1" 2>/dev/null
}

taint_bits() {	# taint: "<dec> (<hex>: <flags>)", flags as in /proc/sys/kernel/tainted docs
	local letters=PFSRMBUDAWCIOELKXTN flags="" i
	for ((i = 0; i < ${#letters}; i++)); do
		(( $1 >> i & 1 )) && flags+=${letters:i:1}
	done
	(( $1 >> ${#letters} )) && flags+="+"
	printf '%d (%#x: %s)' "$1" "$1" "${flags:-?}"
}

worse() {	# "dl0 t0" "dl1 t1": why state 1 is worse than state 0, or nothing
	local d0 t0 d1 t1 why=""
	read -r d0 t0 <<< "$1"
	read -r d1 t1 <<< "$2"
	if [ "$d0" = 1 ] && [ "$d1" != 1 ]; then
		why="lock debugging turned off (debug_locks $d0 -> $d1)"
	fi
	if ! [[ $t0 =~ ^[0-9]+$ && $t1 =~ ^[0-9]+$ ]]; then
		why="${why:+$why; }unreadable taint record ($t0 -> $t1)"
	elif [ "$t0" != "$t1" ]; then
		why="${why:+$why; }kernel tainted: $t0 -> $t1, added $(taint_bits $((t1 & ~t0)))"
	fi
	echo "$why"
}

prev="" between=""	# health after the previous test; changes outside tests
while IFS='|' read -r name tmo _; do
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
		b=$(health "$res/$name.health" before) a=$(health "$res/$name.health" after)
		if [ -z "$b" ] || [ -z "$a" ]; then
			why="${why:+$why; }no health record ($name.health)"
		else
			h=$(worse "$b" "$a")
			[ -z "$h" ] || why="${why:+$why; }$h"
			if [ -n "$prev" ] && [ -z "$between" ]; then
				h=$(worse "$prev" "$b")
				[ -z "$h" ] || between="before $name: $h"
			fi
			prev=$a
		fi
	fi
	if [ -f "$log" ]; then
		s=$(segment "$name" | excuse | grep -m1 -E "$splat")
		[ -z "$s" ] || why="${why:+$why; }kernel log: $s"
	fi
	verdict "$name" "$why"
done < "$plan"

why=""
if [ ! -f "$log" ]; then
	why="no console log"
else
	s=$(awk '{ sub(/\r$/, "") } /gmem_pair-test-begin: /{on=1} /gmem_pair-test-end: /{on=0; next} !on' "$log" | grep -m1 -E "$splat")
	[ -z "$s" ] || why="kernel log outside tests: $s"
	grep -q gmem_pair-run-done "$log" || why="${why:+$why; }run did not complete (qemu rc $(cat "$res/qemu.rc" 2>/dev/null))"
fi
start=$(health "$res/boot.health" start) end=$(health "$res/boot.health" end)
if [ -z "$start" ]; then
	why="${why:+$why; }no health record at start (boot.health)"
else
	healthy="1 0"	# lock debugging on (lockdep kernels only), no taint
	[ "${start%% *}" = - ] && healthy="- 0"
	h=$(worse "$healthy" "$start")
	[ -z "$h" ] || why="${why:+$why; }at start: $h"
	[ -z "$between" ] || why="${why:+$why; }$between"
	where="after the last test" last=$prev
	[ -n "$prev" ] || where="during the run" last=$start
	if [ -n "$end" ]; then
		h=$(worse "$last" "$end")
		[ -z "$h" ] || why="${why:+$why; }$where: $h"
	elif grep -q gmem_pair-run-done "$log" 2>/dev/null; then
		why="${why:+$why; }no health record at end (boot.health)"
	fi
fi
verdict boot "$why"
echo "$pass $fail" >> "${SUMMARY:-/dev/null}"
[ "$fail" = 0 ]
