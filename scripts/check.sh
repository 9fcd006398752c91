#!/bin/bash
# make check: build everything, boot every profile, judge every test.
# Prints one line per test and ends with "N passed, N failed".
#   check.sh [profile...]   profiles: main movable debug (default: all)
# env: ONLY=<test> runs one test by name.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
export BUILD=$build
profiles=${*:-main movable debug}
t0=$(date +%s)
# A build or boot failure still ends with the summary line.
trap 'rc=$?; [ $rc = 0 ] || [ -n "${summary_done:-}" ] || echo "0 passed, 1 failed (check stopped: exit $rc)"' EXIT
stamp() { echo "check: [$(( $(date +%s) - t0 ))s] $*"; }

"$top/scripts/deps.sh"
stamp "deps ready"
"$top/scripts/prepare-tree.sh"
stamp "tree ready: $(head -1 "$build/BASE_VERSION")"
"$top/scripts/build-kernel.sh" main
stamp "main kernel built"
"$top/scripts/build-tests.sh"
"$top/scripts/build-tools.sh"
stamp "selftests and tools built"
case " $profiles " in *" debug "*)
	"$top/scripts/build-kernel.sh" debug
	stamp "debug kernel built" ;;
esac

export SUMMARY=$build/summary
: > "$SUMMARY"
lines=$build/results.txt
: > "$lines"
for p in $profiles; do
	plan=$top/tests/plan.$p
	[ -f "$plan" ] || continue
	kernel=main args="" qemu_extra=""
	# shellcheck disable=SC1090
	[ -f "$top/tests/boot.$p" ] && . "$top/tests/boot.$p"
	if [ -n "${ONLY:-}" ] && ! grep -q "^$ONLY|" "$plan"; then continue; fi
	# shellcheck disable=SC2086
	QEMU_EXTRA="$qemu_extra" "$top/scripts/vm-run.sh" "$kernel" "$plan" \
		"$build/runs/$p" $args
	stamp "boot $p done in $(cat "$build/runs/$p/wall-seconds")s (qemu rc $(cat "$build/runs/$p/qemu.rc"))"
	"$top/scripts/results.sh" "$p" "$plan" "$build/runs/$p" | tee -a "$lines"
done
read -r passed failed < <(awk '{p += $1; f += $2} END {print p + 0, f + 0}' "$SUMMARY")
stamp "total"
summary_done=1
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
