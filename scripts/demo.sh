#!/bin/bash
# The demo, run inside the guest by make run (tests/plan.demo).
set -u
echo "== kernel: $(uname -r)"
echo "== gmem_pair tracepoints:"
ls /sys/kernel/tracing/events/gmem_pair/
echo "== a conversion round trip, traced with bpftrace:"
bpftrace -q -e '
tracepoint:gmem_pair:gmem_pair_convert {
	printf("convert %s offset %#x size %#x moved %d ret %d\n",
	       args->direction ? "to-private" : "to-shared",
	       args->offset, args->size, args->moved, args->ret);
}
tracepoint:gmem_pair:gmem_pair_move { @moved[args->direction ? "to-private" : "to-shared"] = count(); }' &
bt=$!
sleep 4
"$KST/gmem_pair_test" -r pair.shared_start.contents_survive_both_ways 2>&1 | grep -E "^(ok|not ok|#)" 
sleep 1
kill -INT $bt
wait $bt
