#!/bin/bash
# The demo, run inside the guest by make run (tests/plan.demo).
set -u
echo "== kernel: $(uname -r)"
echo "== gmem_pair tracepoints:"
ls /sys/kernel/tracing/events/gmem_pair/
echo "== a conversion round trip of a pair, traced with bpftrace:"
# bpftrace attaches, then runs the command and exits when it does.
timeout 300 bpftrace -q -c "$KST/gmem_pair_test -r pair.shared_start.contents_survive_both_ways" -e '
tracepoint:gmem_pair:gmem_pair_convert {
	printf("convert %s offset 0x%lx size 0x%lx moved %lu ret %d\n",
	       args->direction ? "to-private" : "to-shared",
	       args->offset, args->size, args->moved, args->ret);
}
tracepoint:gmem_pair:gmem_pair_move {
	@folios_moved_by_direction_1_is_to_private[args->direction] = count();
}'
