#!/bin/bash
# Run inside the guest (a plan entry "gmem_trace_test|600|$TOP/tests/gmem-trace-test.sh"):
# checks the bpftrace tools of tools/gmem-trace/ against a workload whose
# counts are known (tools/gmem-trace/gmem-trace-workload).
#
#   gmem-trace-test.sh [--movable]
#
# gmem-convlat.bt, gmem-refusals.bt, gmem-sigbus.bt and gmem-moves.bt run
# in the background until SIGINT; gmem-top.bt runs for $top_secs seconds
# and must exit by itself.  Once all five are attached the workload runs
# once (4K conversions, refusals, faults, and one 2M folio converted whole
# both ways); then every count each tool printed must equal what the
# workload did.  The histograms are not per pair: nothing else may convert
# while this runs.  --movable (a movablecore= boot): the workload's
# to-private conversions must have migrated pages off ZONE_MOVABLE, and
# gmem-moves.bt must have seen exactly those.
# Exit status: 0, or 1 with one "FAIL:" line per count that differed.
# env: KST (selftests dir), TOP; GMEM_TOOLS: where gmem-trace-workload is
# (default $KST/../../tools, i.e. build/tools).
set -u
here=${TOP:?}/tools/gmem-trace
tools=${GMEM_TOOLS:-${KST:?}/../../tools}
workload=$tools/gmem-trace-workload
movable=0 node=()
# tests/boot.movable gives node 1 the ZONE_MOVABLE
[ "${1:-}" = --movable ] && movable=1 node=(-N 1)
tmp=$(mktemp -d)
# What the workload does (see gmem-trace-workload.c): a pair of $pages pages
# (and 2M more for its 2M folio: -t).
pages=64 to_private=7 to_shared=4 pinned=3 referenced=2 sigbus=5 eacces=2
top_secs=20
thp=/sys/kernel/mm/transparent_hugepage/shmem_enabled
thp0=$(sed 's/.*\[\(.*\)\].*/\1/' "$thp")
st=0
# shellcheck source=tests/bpftrace-run.sh
. "$TOP/tests/bpftrace-run.sh"

fail() { echo "gmem-trace-test: FAIL: $*"; st=1; }
bt_fail() { fail "$@"; }
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
	bt_kill_all
	echo "$thp0" > "$thp"
	rm -rf "$tmp"
}
trap cleanup EXIT
echo advise > "$thp"

# start TOOL ARGS...: run a tool in the background, output in $tmp/TOOL.out
start() { bt_start "$1" "$tmp/$1.out" "$here/$1.bt" "${@:2}"; }

# attached TOOL...: each printed its "Tracing" line (tests/bpftrace-run.sh)
attached() { bt_attached '^Tracing gmem_pair' "$@"; }

# stop TOOL...: SIGINT (each prints its maps and exits)
stop() { bt_stop "$@"; }

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
for t in gmem-convlat gmem-refusals gmem-sigbus gmem-moves gmem-top; do
	[ -x "$here/$t.bt" ] || fail "$here/$t.bt is not executable"
	head -1 "$here/$t.bt" | grep -qx '#!/usr/bin/env bpftrace' ||
		fail "$t.bt has no bpftrace shebang"
done

start gmem-convlat
start gmem-refusals
start gmem-sigbus
start gmem-moves
attached gmem-convlat gmem-refusals gmem-sigbus gmem-moves || exit 1
# gmem-top's $top_secs start when it attaches: start it last.
start gmem-top "$top_secs"
attached gmem-top || exit 1

# No timing here: gmem-top must count exactly wherever its seconds fall
# (it alternates two maps because bpftrace clears one from userspace).
t0=$(date +%s%N)
"$workload" -n $pages -p $to_private -s $to_shared -r $pinned -v $referenced \
	-b $sigbus -e $eacces -t -T "${node[@]}" > "$tmp/workload.out" 2>&1
wrc=$?
echo "== workload (exit status $wrc, $((($(date +%s%N) - t0) / 1000000)) ms):"
cat "$tmp/workload.out"
[ $wrc = 0 ] || fail "gmem-trace-workload exited with $wrc"

stop gmem-convlat gmem-refusals gmem-sigbus gmem-moves
for _ in $(seq $((top_secs + 60))); do
	kill -0 "${bt_pid[gmem-top]}" 2>/dev/null || break
	sleep 1
done
if kill -0 "${bt_pid[gmem-top]}" 2>/dev/null; then
	fail "gmem-top.bt $top_secs did not exit by itself"
	stop gmem-top
else
	wait "${bt_pid[gmem-top]}"
	unset "bt_pid[gmem-top]"
fi

for t in gmem-convlat gmem-refusals gmem-sigbus gmem-moves gmem-top; do
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
# The workload's 2M folio (-t): one more conversion each way, 512 pages.
# Its to-private refused as "referenced" is tried again: once on purpose
# (-T: a page of it in a pipe until that refusal), more if a transient
# reference outlasted the kernel's wait (a loaded host stalls the vCPU
# that holds it).  Every tool must have seen each of those refusals, at
# the 2M folio's offset.
huge=$(w huge_folios) retries=$(w huge_retries) migrated=$(w migrated_pages)
expect workload "huge_folios" "$huge" 1
if ! [ "${retries:-0}" -ge 1 ] 2>/dev/null; then
	fail "workload: huge_retries is '$retries', -T makes it at least 1"
	retries=1
fi
echo "huge_retries $retries (1 from -T)"
refused=$((pinned + referenced + retries))
conv_priv=$((to_private + 1)) conv_shared=$((to_shared + 1))
pages_priv=$((to_private + 512)) pages_shared=$((to_shared + 512))
f=$tmp/gmem-convlat.out
expect convlat "@conversions[$id, to-private, 0]" "$(value "$f" "@conversions[$id, to-private, 0]")" $conv_priv
expect convlat "@conversions[$id, to-shared, 0]" "$(value "$f" "@conversions[$id, to-shared, 0]")" $conv_shared
expect convlat "@conversions[$id, to-private, -16]" "$(value "$f" "@conversions[$id, to-private, -16]")" $refused
expect convlat "@pages[$id, to-private]" "$(value "$f" "@pages[$id, to-private]")" $pages_priv
expect convlat "@pages[$id, to-shared]" "$(value "$f" "@pages[$id, to-shared]")" $pages_shared
# Each 4K conversion moved one order-0 folio, the 2M ones one order-9
# folio; the refused ones moved nothing.
expect convlat "histogram @latency_us[to-private, 0] total" "$(hist_total "$f" "@latency_us[to-private, 0]")" $to_private
expect convlat "histogram @latency_us[to-shared, 0] total" "$(hist_total "$f" "@latency_us[to-shared, 0]")" $to_shared
expect convlat "histogram @latency_us[to-private, 9] total" "$(hist_total "$f" "@latency_us[to-private, 9]")" 1
expect convlat "histogram @latency_us[to-shared, 9] total" "$(hist_total "$f" "@latency_us[to-shared, 9]")" 1
expect convlat "histogram @failed_us[to-private, -16] total" "$(hist_total "$f" "@failed_us[to-private, -16]")" $refused

f=$tmp/gmem-moves.out
expect moves "@folios[$id, to-private, 1]" "$(value "$f" "@folios[$id, to-private, 1]")" $to_private
expect moves "@folios[$id, to-shared, 1]" "$(value "$f" "@folios[$id, to-shared, 1]")" $to_shared
expect moves "@folios[$id, to-private, 512]" "$(value "$f" "@folios[$id, to-private, 512]")" 1
expect moves "@folios[$id, to-shared, 512]" "$(value "$f" "@folios[$id, to-shared, 512]")" 1
expect moves "@folios[$id, *] lines" "$(grep -c "^@folios\[$id, " "$f")" 4
expect moves "@pages[$id, to-private]" "$(value "$f" "@pages[$id, to-private]")" $pages_priv
expect moves "@pages[$id, to-shared]" "$(value "$f" "@pages[$id, to-shared]")" $pages_shared
# What migrated is what the pair's migrated_pages counter says (the
# workload prints its change); a movablecore= boot must migrate some.
expect moves "@migrated_pages[$id]" "$(value "$f" "@migrated_pages[$id]")" "$migrated"
expect moves "sum of migration event lines' pages" \
	"$(awk -v id="$id" '$2 == "pair" && $3 == id && $8 == "migrated" && $10 == 0 { n += $7 } END { print n + 0 }' "$f")" "$migrated"
if [ $movable = 1 ] && ! [ "${migrated:-0}" -gt 0 ]; then
	fail "--movable: the workload migrated no page off ZONE_MOVABLE (migrated_pages ${migrated:-none})"
fi

f=$tmp/gmem-refusals.out
expect refusals "@refusals[pinned]" "$(value "$f" "@refusals[pinned]")" $pinned
expect refusals "@refusals[referenced]" "$(value "$f" "@refusals[referenced]")" $((referenced + retries))
expect refusals "@by_process[$pid, $comm, pinned]" "$(value "$f" "@by_process[$pid, $comm, pinned]")" $pinned
expect refusals "@by_process[$pid, $comm, referenced]" "$(value "$f" "@by_process[$pid, $comm, referenced]")" $((referenced + retries))
# The workload pins the last page and vmsplices the one before it.
expect refusals "@top_offsets[$id, $(((pages - 1) * 4096))]" "$(value "$f" "@top_offsets[$id, $(((pages - 1) * 4096))]")" $pinned
expect refusals "@top_offsets[$id, $(((pages - 2) * 4096))]" "$(value "$f" "@top_offsets[$id, $(((pages - 2) * 4096))]")" $referenced
huge_off=$(((pages * 4096 + 2097151) / 2097152 * 2097152))
expect refusals "@top_offsets[$id, $huge_off]" "$(value "$f" "@top_offsets[$id, $huge_off]")" "$retries"
expect refusals "event lines of pair $id" "$(grep -c " pair $id offset .* pid $pid $comm\$" "$f")" $refused
# The refused folio as the tracepoint saw it: order 0, one FOLL_PIN pin
# (a reference count of at least GUP_PIN_COUNTING_BIAS) or none.
expect refusals "pinned event lines: order 0, pin 1, ref >= 1024" \
	"$(grep -cE " pair $id offset 0x[0-9a-f]+ pinned err -16 order 0 ref (10[2-9][0-9]|1[1-9][0-9]{2}|[2-9][0-9]{3}) pin 1 pid $pid " "$f")" $pinned
expect refusals "referenced event lines: order 0, pin 0" \
	"$(grep -cE " pair $id offset 0x[0-9a-f]+ referenced err -16 order 0 ref [0-9]+ pin 0 pid $pid " "$f")" $referenced

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
for k in "to-private, conversions $conv_priv" "to-shared, conversions $conv_shared" \
	 "to-private, pages $pages_priv" "to-shared, pages $pages_shared" \
	 "to-private, failed $refused"; do
	expect top "sum of @sec_*[$id, ${k% *}]" "$(top_sum "$id, ${k% *}")" "${k##* }"
done
expect top "per-second reports" "$(grep -c '^--- [0-9][0-9]:' "$f")" $top_secs
expect top "end reports" "$(grep -c '^--- end$' "$f")" 1

# Every map key printed once (per report of gmem-top): a key built from a
# string with garbage after its NUL (bpftrace 0.17 copying a shorter
# literal into a ternary's buffer) prints the same text many times, one
# count each.
for t in gmem-convlat gmem-refusals gmem-sigbus gmem-moves gmem-top; do
	dup=$(awk '/^--- /{ delete seen; next }
		   /^@[a-z_]+\[/ { k = $0; sub(/\]: .*/, "]", k); sub(/:[[:space:]]*$/, "", k)
				   if (seen[k]++) print k }' "$tmp/$t.out" | sort -u)
	if [ -n "$dup" ]; then
		fail "$t: map keys printed more than once (string keys with garbage?): ${dup//$'\n'/ }"
	else
		echo "ok: $t: every map key printed once"
	fi
done

[ $st = 0 ] && echo "gmem-trace-test: PASS"
exit $st
