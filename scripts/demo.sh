#!/bin/bash
# The demo, run inside the guest by make run (tests/plan.demo): the story of
# tools/gmem-vmm (a VMM, a SW-protected guest driving virtio-blk, Debian's
# unmodified qemu-storage-daemon as the vhost-user backend, all on one
# pair), traced live with bpftrace.
# Exit status: the VMM's; 1 if that passed but bpftrace did not attach or
# did not see what the story does (conversions both ways, the pinned
# refusal, the probe process's SIGBUS).
set -u
tools=$KST/../../tools
test_cmd=("$tools/gmem-vmm" -i "$tools/gmem-inspect")
out=$(mktemp)
echo "== kernel: $(uname -r)"
echo "== gmem_pair tracepoints:"
ls /sys/kernel/tracing/events/gmem_pair/
echo "== the VMM's story, traced with bpftrace (times are TCG wall time):"
# BEGIN fires before bpftrace attaches the other probes: the "attached" line
# comes from an interval probe declared after the tracepoints, which bpftrace
# attaches after them.
bpftrace -q -B none -e '
tracepoint:gmem_pair:gmem_pair_convert {
	printf("convert %s offset 0x%lx size 0x%lx moved %lu ret %d\n",
	       args->direction ? "to-private" : "to-shared",
	       args->offset, args->size, args->moved, args->ret);
	@convert_us[args->direction ? "to-private" : "to-shared"] =
		hist(args->duration_ns / 1000);
}
tracepoint:gmem_pair:gmem_pair_move {
	@folios_moved_by_direction_1_is_to_private[args->direction] = count();
}
tracepoint:gmem_pair:gmem_pair_refuse {
	printf("refuse pair %llu offset 0x%llx reason %u pincount %d by %s\n",
	       args->id, args->offset, args->reason, args->pincount,
	       args->comm);
}
tracepoint:gmem_pair:gmem_pair_sigbus /args->fault/ {
	@sigbus_by_pid[pid] = count();
}
tracepoint:gmem_pair:gmem_pair_sigbus /!args->fault/ {
	@eacces_by_pid[pid] = count();
}
interval:ms:100 /@attached == 0/ {
	printf("bpftrace: attached\n");
	@attached = 1;
}
interval:s:1 { printf(""); }	/* see tools/gmem-trace/gmem-convlat.bt */
END { delete(@attached); }' > "$out" 2>&1 &
bt=$!
for _ in $(seq 300); do	# up to 5 min: compiling the program is slow under TCG
	grep -q '^bpftrace: attached' "$out" && break
	kill -0 "$bt" 2>/dev/null || break
	sleep 1
done
st=0
if grep -q '^bpftrace: attached' "$out"; then
	timeout 420 "${test_cmd[@]}"
	st=$?
fi
# SIGINT: it prints its maps and exits (within a second: the interval probe
# wakes it); repeated in case, as tests/gmem-trace-test.sh does.
for i in $(seq 60); do
	[ $((i % 10)) = 1 ] && kill -INT "$bt" 2>/dev/null
	kill -0 "$bt" 2>/dev/null || break
	sleep 1
done
kill -KILL "$bt" 2>/dev/null
wait "$bt"
echo "== what bpftrace printed:"
cat "$out"

fail() { echo "demo: FAIL: $*"; [ "$st" != 0 ] || st=1; }
if ! grep -q '^bpftrace: attached' "$out"; then
	fail "bpftrace did not attach (selftest not run)"
else
	[ "$st" = 0 ] || echo "demo: FAIL: ${test_cmd[*]}: exit status $st"
	grep -q '^convert to-private .* ret 0$' "$out" ||
		fail "bpftrace saw no successful conversion to private (\"convert to-private ... ret 0\")"
	grep -q '^convert to-shared .* ret 0$' "$out" ||
		fail "bpftrace saw no successful conversion to shared (\"convert to-shared ... ret 0\")"
	grep -q '^refuse .* reason 1 ' "$out" ||
		fail "bpftrace saw no refusal of a pinned page (\"refuse ... reason 1\")"
	grep -q '^@sigbus_by_pid\[[0-9]*\]: [1-9]' "$out" ||
		fail "bpftrace saw no SIGBUS on private memory"
fi
rm -f "$out"
[ "$st" = 0 ] && echo "demo: PASS"
exit "$st"
