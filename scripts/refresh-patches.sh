#!/bin/bash
# Developer tool: regenerate the diff part of each patch in patches/ from an
# edited copy of the upstream files.
#   refresh-patches.sh <pristine-dir> <edited-dir>
# Each patch keeps its header (mail headers and commit message up to the
# "---" line); the files a patch covers are the ones its diff already names,
# or, for a new patch, the "Files:" line of its header.  A file that several
# patches change is regenerated only in the last of them, against the
# pristine file with the earlier patches applied: those keep their hunks.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
orig=$(cd "$1" && pwd) work=$(cd "$2" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

patches() { grep -v -e '^#' -e '^$' "$top/patches/series"; }

covered() {
	local f=$top/patches/$1 files
	files=$(grep -E '^\+\+\+ b/' "$f" | sed 's|^+++ b/||; s|\t.*||' || true)
	[ -n "$files" ] || files=$(sed -n 's/^Files: //p' "$f")
	echo "$files"
}

# The hunks of patch $1 for file $2, as they are.
hunks() {
	awk -v a="--- a/$2" '
		/^--- a\// { on = ($0 == a || index($0, a "\t") == 1) }
		on' "$top/patches/$1"
}

# Which patch changes each file last.
declare -A last
for p in $(patches); do
	for x in $(covered "$p"); do last[$x]=$p; done
done

cp -a "$orig/." "$stage/"
for p in $(patches); do
	f=$top/patches/$p
	files=$(covered "$p")
	hdr=$(awk '/^---$/ {exit} {print}' "$f" | grep -v '^Files: ')
	{
		echo "$hdr"
		echo "---"
		for x in $files; do
			if [ "${last[$x]}" != "$p" ]; then
				hunks "$p" "$x"
				continue
			fi
			diff -u --label "a/$x" --label "b/$x" \
				"$stage/$x" "$work/$x" || true
		done
	} > "$f.new"
	mv "$f.new" "$f"
	patch -s -p1 -d "$stage" < "$f"
done
