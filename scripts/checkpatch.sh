#!/bin/bash
# scripts/checkpatch.pl --strict over every new kernel file and the diffs in
# patches/ (their commit messages live in series/), or, given patch files
# as arguments, over those whole patches (make series checks its mail).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
cp=$build/linux/scripts/checkpatch.pl
opts="--strict --no-tree --quiet --show-types"
rc=0
run() {		# checkpatch.pl $opts "$@", printing only what it reports
	local out
	# shellcheck disable=SC2086
	out=$(cd "$build/linux" && perl "$cp" $opts "$@" 2>&1) || { echo "$out"; rc=1; }
}

# Whole patches, as mailed.  Not reported: MAINTAINERS for new files (the
# series has no MAINTAINERS entry yet), and two rules that do not fit
# bpftrace scripts (*.bt): they are executable, with a shebang, and
# bpftrace has no "#" comment for the SPDX line 2 that checkpatch wants.
if [ $# -gt 0 ]; then
	for p in "$@"; do
		# shellcheck disable=SC2086
		out=$(cd "$build/linux" &&
			perl "$cp" $opts --ignore FILE_PATH_CHANGES "$p" 2>&1)
		out=$(awk 'BEGIN { RS = ""; ORS = "\n\n" }
			/^total: / { next }
			/^[A-Z]+:(EXECUTE_PERMISSIONS|SPDX_LICENSE_TAG):/ &&
			    /FILE: [^:\n]*\.bt(:|\n|$)/ { next }
			{ print }' <<< "$out")
		[ -z "$out" ] || { echo "${p##*/}:"; echo "$out"; rc=1; }
	done
	[ $rc = 0 ] && echo "checkpatch: clean ($# patches)"
	exit $rc
fi
files=$(cd "$top" && git ls-files mm include virt tools Documentation |
	grep -E '\.(c|h)$|Kconfig|Makefile')
for f in $files; do run -f "$top/$f"; done
while read -r p; do
	case "$p" in ''|\#*) continue ;; esac
	run --no-signoff --ignore COMMIT_MESSAGE "$top/patches/$p"
done < "$top/patches/series"
[ $rc = 0 ] && echo "checkpatch: clean ($(wc -w <<< "$files") files, $(grep -cv '^#' "$top/patches/series") patches)"
exit $rc
