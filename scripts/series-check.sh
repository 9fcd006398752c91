#!/bin/bash
# make series-check: build every step of the series that make series
# committed in $BUILD/series/linux.  After each patch: bzImage and the uAPI
# headers with the main config (scripts/build-kernel.sh, ccache), all steps
# in turn in $BUILD/series/obj-main; after the last one also the KVM
# selftests and the tools (scripts/build-tests.sh, build-tools.sh).  Ends
# with "N patches, each builds", or stops at the first patch that does not.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
series=${BUILD:-$top/build}/series
src=$series/linux
logs=$series/check
g() { git -C "$src" "$@"; }

g rev-parse -q --verify base >/dev/null 2>&1 ||
	{ echo "series-check: no series in $src: run make series" >&2; exit 1; }
mapfile -t commits < <(g rev-list --reverse base..series)
n=${#commits[@]}
mkdir -p "$logs"
begin=$SECONDS
i=0
for c in "${commits[@]}"; do
	i=$((i + 1))
	subject=$(g log -1 --format=%s "$c")
	g checkout -q -f "$c"
	# The tree's identity for build-kernel.sh, which configures again when
	# it changes.  Options that do not exist yet are allowed but the last
	# step must have them all.
	echo "$c" > "$src/.gmem_pair_stamp"
	partial=1
	[ "$i" -lt "$n" ] || partial=
	printf 'series-check: %2d/%d %s: ' "$i" "$n" "$subject"
	t=$SECONDS
	if ! BUILD=$series PARTIAL_CONFIG=$partial nice "$top/scripts/build-kernel.sh" main \
		> "$logs/$i.log" 2>&1; then
		echo "FAILED"
		tail -n 40 "$logs/$i.log"
		echo "series-check: patch $i/$n does not build: $subject" >&2
		echo "series-check: log in $logs/$i.log" >&2
		exit 1
	fi
	echo "builds ($((SECONDS - t)) s)"
	grep -e 'warning:' -e 'did not stick' "$logs/$i.log" | sed 's/^/    /' || true
done

# The last step is the tree make check tests: its selftests and tools too.
printf 'series-check: %2d/%d KVM selftests and tools: ' "$n" "$n"
t=$SECONDS
if ! { BUILD=$series nice "$top/scripts/build-tests.sh" &&
	BUILD=$series nice "$top/scripts/build-tools.sh"; } > "$logs/tests.log" 2>&1; then
	echo "FAILED"
	tail -n 40 "$logs/tests.log"
	echo "series-check: the selftests or tools of the last step do not build" >&2
	exit 1
fi
echo "build ($((SECONDS - t)) s)"
grep 'warning:' "$logs/tests.log" | sed 's/^/    /' || true
g checkout -q -f series
echo "series-check: $n patches, each builds ($((SECONDS - begin)) s)"
