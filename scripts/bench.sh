#!/bin/bash
# make bench: boot the main kernel twice with tests/plan.bench, once with
# QEMU -icount (the guest clock counts instructions: 1 ns = 1 instruction,
# the headline) and once under plain TCG (wall time of the emulation, not
# hardware); then write build/runs/bench/results.md and per-folio.png
# (gnuplot, here on the host, from the numbers the guest printed) and
# print the results.  Exits non-zero if a boot or a benchmark failed
# (scripts/results.sh judges both boots like test runs).
#   bench.sh            both boots, then the report
#   bench.sh report     the report again from the last boots' outputs
# env: BENCH_PLAN (default tests/plan.bench), BENCH_MODES (default
#      "icount tcg"), BENCH_SIZES (MiB, the sweep's sizes instead of the
#      plan's "4 16 64 256 1024"), VM_TIMEOUT (s, default 7200), VM_MEM
#      (default 4G).  The sweep's copy hand-off needs twice the size: 1024
#      MiB fits in 4G, 2048 needs VM_MEM=8G.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
export BUILD=$build
res=$build/runs/bench
plan=${BENCH_PLAN:-$top/tests/plan.bench}
modes=${BENCH_MODES:-icount tcg}
# No ERMS/FSRM: the guest kernel then copies and clears with rep movsq/stosq
# or plain loops, not rep movsb/stosb, which icount counts once per byte.
cpu="-cpu max,-erms,-fsrm"
st=0

boot() {	# mode
	local qemu_extra=$cpu
	[ "$1" = icount ] && qemu_extra="-icount shift=0,sleep=off $cpu"
	if [ "$1" = icount ]; then
		cp "$plan" "$res/plan.$1"
	else
		grep -v '^icount-' "$plan" > "$res/plan.$1"
	fi
	if [ -n "${BENCH_SIZES:-}" ]; then
		sed -i -E "s/(gmem_pair_bench sweep [0-9]+)( [0-9]+)+\$/\\1 $BENCH_SIZES/" "$res/plan.$1"
	fi
	echo "bench: boot $1 (QEMU $qemu_extra), $(date -u '+%F %T') UTC"
	QEMU_EXTRA="$qemu_extra" VM_TIMEOUT=${VM_TIMEOUT:-7200} \
		"$top/scripts/vm-run.sh" main "$res/plan.$1" "$res/$1"
	echo "bench: boot $1 done in $(cat "$res/$1/wall-seconds") s (qemu rc $(cat "$res/$1/qemu.rc"))"
}

if [ "${1:-}" != report ]; then
	rm -rf "$res"
	mkdir -p "$res"
	date -u '+%F %T UTC' > "$res/date"
	git -C "$top" describe --always --dirty > "$res/commit" 2>/dev/null || echo unknown > "$res/commit"
	t0=$(date +%s)
	for m in $modes; do boot "$m"; done
	echo "$(( $(date +%s) - t0 ))" > "$res/boot-seconds"
fi

# gnuplot for the plot (Debian's gnuplot-nox), installed like scripts/deps.sh
if ! command -v gnuplot > /dev/null; then
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	echo "bench: installing gnuplot-nox"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends gnuplot-nox > /dev/null ||
		echo "bench: gnuplot-nox not installed: no plot"
fi

# shellcheck disable=SC2086
"$top/scripts/bench-report.sh" "$res" $modes > "$res/results.md"
cat "$res/results.md"

for m in $modes; do
	[ -f "$res/plan.$m" ] || continue
	SUMMARY=/dev/null "$top/scripts/results.sh" "bench-$m" "$res/plan.$m" "$res/$m" || st=1
done
echo "bench: results in $res/results.md, plot $res/per-folio.png"
exit $st
