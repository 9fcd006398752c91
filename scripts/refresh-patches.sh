#!/bin/bash
# Developer tool: regenerate the diff part of each patch in patches/ from an
# edited copy of the upstream files.
#   refresh-patches.sh <pristine-dir> <edited-dir>
# Each patch keeps its header (mail headers and commit message up to the
# "---" line); the files a patch covers are the ones its diff already names,
# or, for a new patch, the "Files:" line of its header.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
orig=$(cd "$1" && pwd) work=$(cd "$2" && pwd)
while read -r p; do
	case "$p" in ''|\#*) continue ;; esac
	f=$top/patches/$p
	files=$(grep -E '^\+\+\+ b/' "$f" | sed 's|^+++ b/||; s|\t.*||' || true)
	[ -n "$files" ] || files=$(sed -n 's/^Files: //p' "$f")
	hdr=$(awk '/^---$/ {exit} {print}' "$f" | grep -v '^Files: ')
	{
		echo "$hdr"
		echo "---"
		for x in $files; do
			(cd "$orig/.." && diff -u --label "a/$x" --label "b/$x" \
				"$(basename "$orig")/$x" "$work/$x") || true
		done
	} > "$f.new"
	mv "$f.new" "$f"
done < "$top/patches/series"
