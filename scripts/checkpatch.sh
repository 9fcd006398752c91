#!/bin/bash
# scripts/checkpatch.pl --strict over every new kernel file and every patch.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
cp=$build/linux/scripts/checkpatch.pl
opts="--strict --no-tree --quiet --show-types"
rc=0
files=$(cd "$top" && git ls-files mm include virt tools Documentation |
	grep -E '\.(c|h)$|Kconfig|Makefile')
for f in $files; do
	# shellcheck disable=SC2086
	out=$(cd "$build/linux" && perl "$cp" $opts -f "$top/$f" 2>&1) || { echo "$out"; rc=1; }
done
while read -r p; do
	case "$p" in ''|\#*) continue ;; esac
	# shellcheck disable=SC2086
	out=$(cd "$build/linux" && perl "$cp" $opts "$top/patches/$p" 2>&1) || { echo "$out"; rc=1; }
done < "$top/patches/series"
[ $rc = 0 ] && echo "checkpatch: clean ($(echo $files | wc -w) files, $(grep -cv '^#' "$top/patches/series") patches)"
exit $rc
