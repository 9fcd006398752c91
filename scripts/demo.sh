#!/bin/bash
# The demo, run inside the guest by make run (tests/plan.demo): the story of
# tools/gmem-vmm (a VMM, a SW-protected guest driving virtio-blk, Debian's
# unmodified qemu-storage-daemon as the vhost-user backend, all on one
# pair, shown with gmem-inspect), traced live with the bpftrace tools of
# tools/gmem-trace/ (Documentation/mm/gmem_pair_tools.rst).
# Exit status: the VMM's; 1 if that passed but a tool did not attach or did
# not see what the story does (conversions both ways, folios moved, the
# pinned refusal, the probe process's SIGBUS).
set -u
tools=$KST/../../tools
trace=$TOP/tools/gmem-trace
test_cmd=("$tools/gmem-vmm" -i "$tools/gmem-inspect")
tmp=$(mktemp -d)
bts=(gmem-convlat gmem-moves gmem-refusals gmem-sigbus)
st=0
# shellcheck source=tests/bpftrace-run.sh
. "$TOP/tests/bpftrace-run.sh"
fail() { echo "demo: FAIL: $*"; [ "$st" != 0 ] || st=1; }
bt_fail() { fail "$@"; }
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() { bt_kill_all; rm -rf "$tmp"; }
trap cleanup EXIT

echo "== kernel: $(uname -r)"
echo "== gmem_pair tracepoints:"
ls /sys/kernel/tracing/events/gmem_pair/
echo "== bpftrace tools: ${bts[*]} (compiling them takes a while under TCG)"
for t in "${bts[@]}"; do
	bt_start "$t" "$tmp/$t.out" "$trace/$t.bt"
done
attached=0
bt_attached '^Tracing gmem_pair' "${bts[@]}" && attached=1
if [ $attached = 1 ]; then
	echo "== the VMM's story (times are TCG wall time):"
	timeout 420 "${test_cmd[@]}"
	st=$?
	[ "$st" = 0 ] || echo "demo: FAIL: ${test_cmd[*]}: exit status $st"
fi
bt_stop "${bts[@]}"
for t in "${bts[@]}"; do
	echo "== $t.bt printed:"
	cat "$tmp/$t.out"
done

# seen FILE REGEX WHAT: the tool printed a line matching REGEX
seen() { grep -q "$2" "$tmp/$1.out" || fail "$1.bt saw no $3 (no line matching '$2')"; }
if [ $attached = 1 ]; then
	seen gmem-convlat '^@conversions\[[0-9]*, to-private, 0\]: [1-9]' \
		"successful conversion to private"
	seen gmem-convlat '^@conversions\[[0-9]*, to-shared, 0\]: [1-9]' \
		"successful conversion to shared"
	seen gmem-moves '^@folios\[[0-9]*, to-private, [0-9]*\]: [1-9]' \
		"folio moved to private"
	seen gmem-moves '^@folios\[[0-9]*, to-shared, [0-9]*\]: [1-9]' \
		"folio moved to shared"
	seen gmem-refusals '^@refusals\[pinned\]: [1-9]' "refusal of a pinned page"
	seen gmem-sigbus '^@sigbus\[[0-9]*, .*, fault\]: [1-9]' \
		"SIGBUS on private memory"
fi
[ "$st" = 0 ] && echo "demo: PASS"
exit "$st"
