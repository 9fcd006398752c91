#!/bin/bash
# make bench, inside the guest (tests/plan.bench): gmem_pair_bench under
# bpftrace.
#   bench-guest.sh count MiB...        kernel calls per conversion (kprobes)
#   bench-guest.sh profile MiB ROUNDS  kernel stacks sampled during 4K moves
# count: one line per conversion of "gmem_pair_bench count", "BTCOUNT
# dir=<0 to-shared, 1 to-private> size=<bytes> orders=<bit n: a folio of
# order n moved> moved=<pages> <function>=<calls> ...", counted in the
# converting thread between entry and exit of its GMEM_PAIR_CONVERT ioctl.
# profile: "@stacks[<1 to-private, 0 to-shared>, <kernel stack>]: <samples>"
# sampled at PROFILE_HZ (default 9973) of the guest clock: under -icount
# every ~100,000 instructions.  Interrupts are off in parts of the move
# (the page cache's xa_lock_irq): a sample there lands where they go back
# on.  scripts/bench.sh turns both into tables.
set -u
mode=$1
shift
bench=$KST/gmem_pair_bench
# ioctl(2) is syscall 16; GMEM_PAIR_CONVERT is _IOWR(0xB9, 0x01, struct):
# type 0xb9, number 0x01 (the size bits left out).
# (tracepoint:syscalls:sys_enter_ioctl does not load in bpftrace 0.17
# without BTF: "unknown type name u64".)
out=$(mktemp)

# Functions to count, those the running kernel has (a renamed or inlined
# one would stop bpftrace from loading at all).
# _raw_spin_lock_irq* count lock round trips (i_pages, lruvec, ...).
count_funcs="lru_add_drain_all lru_add_drain folio_isolate_lru folio_putback_lru
	gmem_pair_isolate_batch gmem_pair_move_batch
	xas_store __filemap_add_folio __filemap_remove_folio flush_tlb_mm_range
	native_flush_tlb_multi unmap_mapping_range unmap_mapping_folio
	split_huge_page_to_list_to_order _raw_spin_lock_irq
	_raw_spin_lock_irqsave"

in_ioctl='
tracepoint:raw_syscalls:sys_enter
/args->id == 16 && comm == "gmem_pair_bench" && (args->args[1] & 0xffff) == 0xb901/
{
	@on[tid] = 1;
	@seq[tid] = @seq[tid] + 1;
}
tracepoint:raw_syscalls:sys_exit /@on[tid]/ { delete(@on[tid]); }
'

# bpftrace 0.17 acts on SIGINT only when woken (tools/gmem-trace/*.bt): the
# interval probe wakes it; the "attached" line comes after every other
# probe is attached.
tail_probes='
interval:ms:100 /@attached == 0/ { printf("bpftrace: attached\n"); @attached = 1; }
interval:s:1 { printf(""); }
END { delete(@attached); clear(@on); clear(@seq); }
'

case $mode in
count)
	prog=$in_ioctl
	fmt="" vals=""
	for f in $count_funcs; do
		if ! grep -q " [tT] $f\$" /proc/kallsyms; then
			echo "bench-guest: no kernel function $f: not counted"
			continue
		fi
		prog+="kprobe:$f /@on[tid]/ { @n_${f}[tid] = @n_${f}[tid] + 1; }
"
		fmt+=" $f=%d"
		vals+=", @n_${f}[tid]"
	done
	prog+='
tracepoint:gmem_pair:gmem_pair_move /@on[tid]/ { @n_move[tid] = @n_move[tid] + 1; }
tracepoint:gmem_pair:gmem_pair_convert /@on[tid]/
{
	printf("BTCOUNT dir=%d size=%llu orders=%lu moved=%lu ret=%d move_events=%d'"$fmt"'\n",
	       args->direction, args->size, args->orders, args->moved, args->ret,
	       @n_move[tid]'"$vals"');
	delete(@n_move[tid]);
'
	for f in $count_funcs; do
		grep -q " [tT] $f\$" /proc/kallsyms && prog+="	delete(@n_${f}[tid]);
"
	done
	prog+='}
'
	cmd=("$bench" count "$@")
	;;
profile)
	prog=$in_ioctl'
profile:hz:'"${PROFILE_HZ:-9973}"' /@on[tid]/ { @stacks[@seq[tid] % 2, kstack] = count(); }
'
	cmd=("$bench" profile "$2" "$1")
	;;
*)
	echo "usage: bench-guest.sh count MiB... | profile MiB ROUNDS" >&2
	exit 2
	;;
esac
prog+=$tail_probes

# shellcheck source=tests/bpftrace-run.sh
. "$TOP/tests/bpftrace-run.sh"
bt_attach_secs=600	# compiling the program is slow under TCG
bt_fail() { echo "bench-guest: $*"; }
bt_start bench "$out" -q -e "$prog"
st=0
if bt_attached '^bpftrace: attached' bench; then
	"${cmd[@]}"
	st=$?
else
	st=1
fi
bt_stop bench || st=1
echo "== bpftrace:"
# Without ftrace, bpftrace 0.17 warns that no kprobe is "traceable"; they
# attach all the same.
grep -v "is not traceable" "$out"
rm -f "$out"
exit "$st"
