#!/bin/bash
# make check: build everything, boot every profile, judge every test.
# Prints one line per test and ends with "N passed, N failed".
#   check.sh [profile...]   profiles: main movable debug debug-movable
#                           (default: all)
# Runs tests/harness-selftest.sh first (host/harness-selftest), unless ONLY=.
# env: ONLY=<test> runs one test by name.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
export BUILD=$build
profiles=${*:-main movable debug debug-movable}
t0=$(date +%s)
# A build or boot failure still ends with the summary line.
# shellcheck disable=SC2154  # rc is assigned inside the trap
trap 'rc=$?; [ $rc = 0 ] || [ -n "${summary_done:-}" ] || echo "0 passed, 1 failed (check stopped: exit $rc)"' EXIT
stamp() { echo "check: [$(( $(date +%s) - t0 ))s] $*"; }

mkdir -p "$build"
export SUMMARY=$build/summary
: > "$SUMMARY"
lines=$build/results.txt
: > "$lines"
verdict() {	# name why: one PASS/FAIL line outside results.sh, counted in $SUMMARY
	if [ -z "$2" ]; then
		echo "PASS $1" | tee -a "$lines"; echo "1 0" >> "$SUMMARY"
	else
		echo "FAIL $1: $2" | tee -a "$lines"; echo "0 1" >> "$SUMMARY"
	fi
}
kernel_of() {	# profile: the kernel its boot file picks (main by default)
	local kernel=main
	# shellcheck disable=SC1090
	[ -f "$top/tests/boot.$1" ] && . "$top/tests/boot.$1"
	echo "$kernel"
}

# The judge first: it takes a second and needs no build.
if [ -z "${ONLY:-}" ]; then
	st=0
	"$top/tests/harness-selftest.sh" > "$build/harness-selftest.log" 2>&1 || st=$?
	if [ "$st" = 0 ]; then verdict host/harness-selftest ""
	else
		grep '^WRONG' "$build/harness-selftest.log" | head -n 20 || true
		verdict host/harness-selftest "exit status $st (see $build/harness-selftest.log)"
	fi
fi

"$top/scripts/deps.sh"
stamp "deps ready"
"$top/scripts/prepare-tree.sh"
stamp "tree ready: $(head -1 "$build/BASE_VERSION")"
"$top/scripts/build-kernel.sh" main
stamp "main kernel built"
"$top/scripts/build-tests.sh"
"$top/scripts/build-tools.sh"
stamp "selftests and tools built"
kernels=$(for p in $profiles; do kernel_of "$p"; done | sort -u)
for k in $kernels; do
	[ "$k" = main ] && continue
	"$top/scripts/build-kernel.sh" "$k"
	stamp "$k kernel built"
done

for p in $profiles; do
	plan=$top/tests/plan.$p
	if [ ! -f "$plan" ]; then
		verdict "$p/plan" "missing tests/plan.$p"
		continue
	fi
	kernel=main args="" qemu_extra=""
	# shellcheck disable=SC1090
	[ -f "$top/tests/boot.$p" ] && . "$top/tests/boot.$p"
	if [ -n "${ONLY:-}" ] && ! grep -q "^$ONLY|" "$plan"; then continue; fi
	# shellcheck disable=SC2086
	QEMU_EXTRA="$qemu_extra" "$top/scripts/vm-run.sh" "$kernel" "$plan" \
		"$build/runs/$p" $args
	stamp "boot $p done in $(cat "$build/runs/$p/wall-seconds")s (qemu rc $(cat "$build/runs/$p/qemu.rc"))"
	# results.sh exits non-zero when a test failed: the counts are in $SUMMARY.
	n=$(wc -l < "$SUMMARY") st=0
	"$top/scripts/results.sh" "$p" "$plan" "$build/runs/$p" | tee -a "$lines" || st=$?
	[ "$(wc -l < "$SUMMARY")" != "$n" ] ||
		verdict "$p/results" "results.sh gave no verdict (exit status $st)"
done
read -r passed failed < <(awk '{p += $1; f += $2} END {print p + 0, f + 0}' "$SUMMARY")
stamp "total"
summary_done=1
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
