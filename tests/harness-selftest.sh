#!/bin/bash
# Self-test of the judge (scripts/results.sh), on the host, no QEMU: builds
# synthetic results directories as guest-init.sh and a serial console leave
# them (CRLF console.log with the test markers, <name>.rc, <name>.out,
# <name>.health, boot.health) and checks the verdict of each case.
# Prints one line per case ("ok ..." or "WRONG ..."); exits non-zero if any
# case gets the wrong verdict.  scripts/check.sh runs it first.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
plan=$tmp/plan
printf '%s\n' '# name|timeout|command' 'first_test|60|true' 'second_test|60|true' > "$plan"
wrong=0 n=0

kline() {	# text: one kernel log line as the serial console gives it
	n=$((n + 1))
	printf '[%5d.%06d] %s\r\n' $((n / 10)) $((n % 10 * 100000)) "$1"
}

mkrun() {	# dir [lockdep]: a clean run of $plan (lockdep: "" for a kernel without it)
	local d=$1 dl=${2- debug_locks=1} t
	mkdir -p "$d"
	{
		kline "Linux version 6.12.0-gmem_pair (synthetic)"
		kline "Run $top/scripts/guest-init.sh as init process"
		for t in first_test second_test; do
			kline "gmem_pair-test-begin: $t"
			kline "zram0: detected capacity change from 0 to 524288"
			kline "gmem_pair-test-end: $t"
		done
		kline "gmem_pair-run-done"
		kline "reboot: Power down"
	} > "$d/console.log"
	for t in first_test second_test; do
		echo 0 > "$d/$t.rc"
		printf 'TAP version 13\n1..1\nok 1 %s\n# Totals: pass:1 fail:0\n' "$t" > "$d/$t.out"
		printf 'before%s tainted=0\nafter%s tainted=0\n' "$dl" "$dl" > "$d/$t.health"
	done
	printf 'start%s tainted=0\nend%s tainted=0\n' "$dl" "$dl" > "$d/boot.health"
	echo 0 > "$d/qemu.rc"
}

inject() {	# dir after-marker text: add a kernel log line after the marker line
	local line
	line=$(kline "$3")
	awk -v m="$2" -v l="$line" '{ print } index($0, m) { print l }' "$1/console.log" > "$1/c"
	mv "$1/c" "$1/console.log"
}

check() {	# case-name "expected FAIL tests" dir ("" expects every test and the boot to pass)
	local out st=0 got failed=0 want=0
	out=$(SUMMARY=/dev/null "$top/scripts/results.sh" t "$plan" "$3") || st=$?
	got=$(sed -n 's|^FAIL t/\([^:]*\):.*|\1|p' <<< "$out" | xargs)
	[ "$st" = 0 ] || failed=1
	[ -z "$2" ] || want=1
	if [ "$got" = "$2" ] && [ "$failed" = "$want" ] &&
	   [ "$(grep -cE '^(PASS|FAIL) t/' <<< "$out")" = 3 ]; then
		echo "ok    $1: $(grep -m1 '^FAIL' <<< "$out" || echo 'all PASS')"
	else
		echo "WRONG $1: expected FAIL [$2] and exit ${2:+non-}zero, got FAIL [$got] exit $st"
		echo "      ${out//$'\n'/$'\n'      }"
		wrong=$((wrong + 1))
	fi
}

c=0
newcase() { c=$((c + 1)); d=$tmp/case$c; mkrun "$d" "$@"; }

newcase
check "clean run (lockdep kernel)" "" "$d"
newcase ""
check "clean run (kernel without lockdep)" "" "$d"

# Every splat kind, inside the second test's markers: only that test fails.
while IFS='|' read -r what text; do
	newcase
	inject "$d" "gmem_pair-test-begin: second_test" "$text"
	check "splat in a test: $what" "second_test" "$d"
done <<'EOF'
non-static key|INFO: trying to register non-static key.
lockdep off (taint)|Disabling lock debugging due to kernel taint
lockdep off (debug)|turning off the locking correctness validator.
RCU stall|rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:
RCU expedited stall|rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: { 1-... } 21003 jiffies s: 425 root: 0x2/.
RCU self-detected stall|rcu: INFO: rcu_preempt self-detected stall on CPU
soft lockup|watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [gmem_pair_test:312]
soft lockup (no BUG:)|watchdog: CPU1: soft lockup, stuck for 26s
hung task|INFO: task gmem_pair_test:312 blocked for more than 60 seconds.
OOM: oom-killer|gmem_pair_test invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0
OOM: out of memory|Out of memory: Killed process 312 (gmem_pair_test) total-vm:2101244kB, anon-rss:0kB, file-rss:1024kB
OOM: oom-kill|oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=gmem_pair_test,pid=312,uid=0
KVM gfn not restored|kvm: gmem_pair: gfn 1000-1200 not restored
gmem_pair rollback|gmem_pair: rollback of offset 0x200000: -12
KASAN|BUG: KASAN: slab-use-after-free in gmem_pair_move+0x1a/0x2b0
KFENCE|BUG: KFENCE: use-after-free read in gmem_pair_move+0x1a/0x2b0
WARNING|WARNING: CPU: 1 PID: 312 at mm/gmem_pair/move.c:120 gmem_pair_move+0x1a/0x2b0
lockdep circular|WARNING: possible circular locking dependency detected
list corruption|list_add corruption. prev->next should be next (ffff888003a1c0d0), but was 0000000000000000.
EOF

# Lock debugging and taint (<name>.health, boot.health).
newcase
sed -i 's/^after debug_locks=1/after debug_locks=0/' "$d/second_test.health"
sed -i 's/^end debug_locks=1/end debug_locks=0/' "$d/boot.health"
check "debug_locks 1 -> 0 in a test" "second_test" "$d"
newcase
sed -i 's/^after debug_locks=1 tainted=0/after debug_locks=1 tainted=512/' "$d/first_test.health"
sed -i 's/tainted=0/tainted=512/' "$d/second_test.health"
sed -i 's/^end debug_locks=1 tainted=0/end debug_locks=1 tainted=512/' "$d/boot.health"
check "taint 0 -> 512 (W) in a test" "first_test" "$d"
newcase ""
sed -i 's/^after tainted=0/after tainted=8224/' "$d/second_test.health"
sed -i 's/^end tainted=0/end tainted=8224/' "$d/boot.health"
check "taint change in a test (no lockdep)" "second_test" "$d"
newcase
rm "$d/first_test.health"
check "missing test health record" "first_test" "$d"
newcase
sed -i 's/^before debug_locks=1 tainted=0/before debug_locks=1 tainted=512/' "$d/second_test.health"
sed -i 's/^after debug_locks=1 tainted=0/after debug_locks=1 tainted=512/' "$d/second_test.health"
sed -i 's/^end debug_locks=1 tainted=0/end debug_locks=1 tainted=512/' "$d/boot.health"
check "taint change between tests" "boot" "$d"
newcase
sed -i 's/tainted=0/tainted=4096/' "$d"/*.health
check "tainted at start" "boot" "$d"
newcase
sed -i 's/debug_locks=1/debug_locks=0/' "$d"/*.health
check "debug_locks 0 at start" "boot" "$d"
# A line the test declared it provokes (gmem_pair-expect-log) is excused;
# a line it did not declare, or one in another test, is not.
newcase
inject "$d" "gmem_pair-test-begin: second_test" "kvm: gmem_pair: gfn 1000-1010 not restored (-28)"
inject "$d" "gmem_pair-test-begin: second_test" "gmem_pair-expect-log: gmem_pair: gfn 1000-1010 not restored"
check "declared line excused" "" "$d"
newcase
inject "$d" "gmem_pair-test-begin: second_test" "kvm: gmem_pair: gfn 2000-2010 not restored (-28)"
inject "$d" "gmem_pair-test-begin: second_test" "gmem_pair-expect-log: gmem_pair: gfn 1000-1010 not restored"
check "undeclared line of a test that declared another" "second_test" "$d"
newcase
inject "$d" "gmem_pair-test-begin: second_test" "kvm: gmem_pair: gfn 1000-1010 not restored (-28)"
inject "$d" "gmem_pair-test-begin: first_test" "gmem_pair-expect-log: gmem_pair: gfn 1000-1010 not restored"
check "line declared by another test" "second_test" "$d"
newcase
inject "$d" "gmem_pair-test-begin: second_test" "gmem_pair-expect-log: gmem_pair: gfn 1000-1010 not restored"
inject "$d" "gmem_pair-test-begin: second_test" "kvm: gmem_pair: gfn 1000-1010 not restored (-28)"
check "line before its declaration" "second_test" "$d"
newcase
sed -i 's/^end debug_locks=1 tainted=0/end debug_locks=0 tainted=512/' "$d/boot.health"
check "end differs from after the last test" "boot" "$d"
newcase
rm "$d/boot.health"
check "missing boot health record" "boot" "$d"

# The boot: splats outside every test, a run that did not complete.
newcase
inject "$d" "gmem_pair-test-end: first_test" "WARNING: CPU: 0 PID: 1 at kernel/workqueue.c:3000 __flush_work+0x1a/0x2b0"
check "splat between tests" "boot" "$d"
newcase
inject "$d" "as init process" "rcu: INFO: rcu_preempt self-detected stall on CPU"
check "splat before the first test" "boot" "$d"
newcase
sed -i '/gmem_pair-run-done/d' "$d/console.log"
check "no gmem_pair-run-done" "boot" "$d"

# Test status.
newcase
echo 1 > "$d/first_test.rc"
check "exit status 1" "first_test" "$d"
newcase
echo 124 > "$d/second_test.rc"
check "timeout" "second_test" "$d"
newcase
echo "not ok 2 pair.refuses" >> "$d/first_test.out"
check "TAP not ok" "first_test" "$d"
newcase
echo "ok 2 pair.swap # SKIP no swap" >> "$d/second_test.out"
check "TAP SKIP" "second_test" "$d"
newcase
rm "$d/second_test.rc"
check "no rc (did not finish)" "second_test" "$d"

echo "harness-selftest: $c cases, $wrong wrong"
[ "$wrong" = 0 ]
