#!/bin/bash
# Run inside the guest (a plan entry "gmem_trace_test|600|$TOP/tests/gmem-trace-test.sh"):
# checks the bpftrace tools of tools/gmem-trace/ against a workload whose
# counts are known (tools/gmem-trace/gmem-trace-workload).
#
# gmem-convlat.bt, gmem-refusals.bt and gmem-sigbus.bt run in the background
# until SIGINT; gmem-top.bt runs for $top_secs seconds and must exit by
# itself.  Once all four are attached the workload runs once; then every
# count each tool printed must equal what the workload did.  The histograms
# are not per pair: nothing else may convert while this runs.
# Exit status: 0, or 1 with one "FAIL:" line per count that differed.
# env: KST (selftests dir), TOP; GMEM_TOOLS: where gmem-trace-workload is
# (default $KST/../../tools, i.e. build/tools).
set -u
here=${TOP:?}/tools/gmem-trace
tools=${GMEM_TOOLS:-${KST:?}/../../tools}
workload=$tools/gmem-trace-workload
tmp=$(mktemp -d)
# What the workload does (see gmem-trace-workload.c): a pair of $pages pages.
pages=64 to_private=7 to_shared=4 pinned=3 referenced=2 sigbus=5 eacces=2
top_secs=20
st=0
declare -A tpid	# tool -> bpftrace's pid

fail() { echo "gmem-trace-test: FAIL: $*"; st=1; }
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
	for p in "${tpid[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# start TOOL ARGS...: run a tool in the background, output in $tmp/TOOL.out
start() {
	bpftrace -B none "$here/$1.bt" "${@:2}" > "$tmp/$1.out" 2>&1 &
	tpid[$1]=$!
}

# attached TOOL...: wait (up to 5 min: bpftrace compiles slowly under TCG)
# until each tool printed its "Tracing" line, printed once its probes are
# attached (from an interval probe: BEGIN runs before they are).
attached() {
	local t ok
	for _ in $(seq 300); do
		ok=1
		for t in "$@"; do
			grep -q '^Tracing gmem_pair' "$tmp/$t.out" && continue
			ok=0
			kill -0 "${tpid[$t]}" 2>/dev/null ||
				{ fail "$t exited before attaching:"; cat "$tmp/$t.out"; return 1; }
		done
		[ $ok = 1 ] && return 0
		sleep 1
	done
	fail "$* did not attach within 300 s"
	return 1
}

# stop TOOL...: SIGINT (each prints its maps and exits); KILL what is left
# after 180 s (detaching is slow on a debug kernel in a loaded host).
# bpftrace 0.17 acts on a SIGINT only in epoll_wait() or at the next
# event (Documentation/mm/gmem_pair_tools.rst); the tools print an empty
# string every second for that.  Should one still be there, the signal is
# repeated every 10 s (with a note), as a user would press Ctrl-C again.
stop() {
	local t left i
	for t in "$@"; do kill -INT "${tpid[$t]}" 2>/dev/null; done
	for i in $(seq 180); do
		left=
		for t in "$@"; do
			kill -0 "${tpid[$t]}" 2>/dev/null && left+=" $t"
		done
		[ -z "$left" ] && break
		if [ $((i % 10)) = 0 ]; then
			for t in $left; do
				echo "gmem-trace-test: note: $t still there $i s after SIGINT, sending another"
				kill -INT "${tpid[$t]}"
			done
		fi
		sleep 1
	done
	for t in $left; do
		fail "$t did not exit within 180 s of SIGINT"
		where "${tpid[$t]}"
		kill -KILL "${tpid[$t]}"
	done
	for t in "$@"; do
		wait "${tpid[$t]}"
		unset "tpid[$t]"
	done
}

# where PID: what a stuck process is doing (state, signals, kernel stacks)
where() {
	local d
	grep -E '^(State|Sig|Shd)' "/proc/$1/status"
	for d in /proc/"$1"/task/*; do
		echo "task ${d##*/}: $(cat "$d/comm") $(grep State "$d/status")"
		cat "$d/stack" 2>/dev/null
	done
}

# value FILE LINE-PREFIX: the value of the map line "PREFIX: N" (0 if none)
value() {
	awk -v k="$2: " 'index($0, k) == 1 { v = substr($0, length(k) + 1) }
			 END { print v + 0 }' "$1"
}

# hist_total FILE HEADER: the sum of the counts of the histogram "HEADER:"
hist_total() {
	awk -v h="$2:" '{ sub(/[[:space:]]+$/, "") }
		$0 == h { on = 1; next }
		on && /^\[/ { sub(/^\[[^])]*[])]/, ""); n += $1; next }
		on { on = 0 }
		END { print n + 0 }' "$1"
}

# sum FILE LINE-PREFIX: the sum over every map line "PREFIX: N"
sum() {
	awk -v k="$2: " 'index($0, k) == 1 { n += substr($0, length(k) + 1) }
			 END { print n + 0 }' "$1"
}

# expect TOOL WHAT GOT WANT
expect() {
	if [ "$3" = "$4" ]; then
		echo "ok: $1: $2 = $3"
	else
		fail "$1: $2 is $3, the workload did $4"
	fi
}

[ -x "$workload" ] || { echo "gmem-trace-test: FAIL: no $workload (scripts/build-tools.sh)"; exit 1; }
for t in gmem-convlat gmem-refusals gmem-sigbus gmem-top; do
	[ -x "$here/$t.bt" ] || fail "$here/$t.bt is not executable"
	head -1 "$here/$t.bt" | grep -qx '#!/usr/bin/env bpftrace' ||
		fail "$t.bt has no bpftrace shebang"
done

start gmem-convlat
start gmem-refusals
start gmem-sigbus
attached gmem-convlat gmem-refusals gmem-sigbus || exit 1
# gmem-top's $top_secs start when it attaches: start it last.
start gmem-top "$top_secs"
attached gmem-top || exit 1

# No timing here: gmem-top must count exactly wherever its seconds fall
# (it alternates two maps because bpftrace clears one from userspace).
t0=$(date +%s%N)
"$workload" -n $pages -p $to_private -s $to_shared -r $pinned -v $referenced \
	-b $sigbus -e $eacces > "$tmp/workload.out" 2>&1
wrc=$?
echo "== workload (exit status $wrc, $((($(date +%s%N) - t0) / 1000000)) ms):"
cat "$tmp/workload.out"
[ $wrc = 0 ] || fail "gmem-trace-workload exited with $wrc"

stop gmem-convlat gmem-refusals gmem-sigbus
for _ in $(seq $((top_secs + 60))); do
	kill -0 "${tpid[gmem-top]}" 2>/dev/null || break
	sleep 1
done
if kill -0 "${tpid[gmem-top]}" 2>/dev/null; then
	fail "gmem-top.bt $top_secs did not exit by itself"
	stop gmem-top
else
	wait "${tpid[gmem-top]}"
	unset "tpid[gmem-top]"
fi

for t in gmem-convlat gmem-refusals gmem-sigbus gmem-top; do
	echo "== $t.bt printed:"
	cat "$tmp/$t.out"
done
echo "== checks:"

w() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/workload.out"; }
id=$(w pair_id) pid=$(w pid) comm=$(w comm)
if [ -z "$id" ] || [ -z "$pid" ] || [ -z "$comm" ]; then
	fail "the workload printed no pair_id, pid or comm"
	exit 1
fi
refused=$((pinned + referenced))
f=$tmp/gmem-convlat.out
expect convlat "@conversions[$id, to-private, 0]" "$(value "$f" "@conversions[$id, to-private, 0]")" $to_private
expect convlat "@conversions[$id, to-shared, 0]" "$(value "$f" "@conversions[$id, to-shared, 0]")" $to_shared
expect convlat "@conversions[$id, to-private, -16]" "$(value "$f" "@conversions[$id, to-private, -16]")" $refused
expect convlat "@pages[$id, to-private]" "$(value "$f" "@pages[$id, to-private]")" $to_private
expect convlat "@pages[$id, to-shared]" "$(value "$f" "@pages[$id, to-shared]")" $to_shared
# Each conversion moved one order-0 folio; the refused ones moved nothing.
expect convlat "histogram @latency_us[to-private, 0] total" "$(hist_total "$f" "@latency_us[to-private, 0]")" $to_private
expect convlat "histogram @latency_us[to-shared, 0] total" "$(hist_total "$f" "@latency_us[to-shared, 0]")" $to_shared
expect convlat "histogram @failed_us[to-private, -16] total" "$(hist_total "$f" "@failed_us[to-private, -16]")" $refused

f=$tmp/gmem-refusals.out
expect refusals "@refusals[pinned]" "$(value "$f" "@refusals[pinned]")" $pinned
expect refusals "@refusals[referenced]" "$(value "$f" "@refusals[referenced]")" $referenced
expect refusals "@by_process[$pid, $comm, pinned]" "$(value "$f" "@by_process[$pid, $comm, pinned]")" $pinned
expect refusals "@by_process[$pid, $comm, referenced]" "$(value "$f" "@by_process[$pid, $comm, referenced]")" $referenced
# The workload pins the last page and vmsplices the one before it.
expect refusals "@top_offsets[$id, $(((pages - 1) * 4096))]" "$(value "$f" "@top_offsets[$id, $(((pages - 1) * 4096))]")" $pinned
expect refusals "@top_offsets[$id, $(((pages - 2) * 4096))]" "$(value "$f" "@top_offsets[$id, $(((pages - 2) * 4096))]")" $referenced
expect refusals "event lines of pair $id" "$(grep -c " pair $id offset .* pid $pid $comm\$" "$f")" $refused

f=$tmp/gmem-sigbus.out
expect sigbus "@sigbus[$pid, $comm, fault]" "$(value "$f" "@sigbus[$pid, $comm, fault]")" $sigbus
expect sigbus "@sigbus[$pid, $comm, syscall]" "$(value "$f" "@sigbus[$pid, $comm, syscall]")" $eacces
expect sigbus "@by_pair[$id, fault]" "$(value "$f" "@by_pair[$id, fault]")" $sigbus
expect sigbus "@by_pair[$id, syscall]" "$(value "$f" "@by_pair[$id, syscall]")" $eacces
expect sigbus "fault event lines of pair $id" "$(grep -c " pair $id offset .* fault pid $pid $comm\$" "$f")" $sigbus

f=$tmp/gmem-top.out
# top_sum KEY: sum over every second, both maps (@sec_even and @sec_odd)
top_sum() {
	echo $(($(sum "$f" "@sec_even[$1]") + $(sum "$f" "@sec_odd[$1]")))
}
for k in "to-private, conversions $to_private" "to-shared, conversions $to_shared" \
	 "to-private, pages $to_private" "to-shared, pages $to_shared" \
	 "to-private, failed $refused"; do
	expect top "sum of @sec_*[$id, ${k% *}]" "$(top_sum "$id, ${k% *}")" "${k##* }"
done
expect top "per-second reports" "$(grep -c '^--- [0-9][0-9]:' "$f")" $top_secs
expect top "end reports" "$(grep -c '^--- end$' "$f")" 1

[ $st = 0 ] && echo "gmem-trace-test: PASS"
exit $st
