#!/bin/bash
# make series: the project as a patch series against Debian's pristine
# linux-source-6.12, in $BUILD/series/out (git format-patch, with a cover
# letter 0000).
#
# series/layout groups patches/ and the new files into patches, in order;
# series/<patch>.msg are the commit messages, series/cover-letter the cover
# letter.  The series is committed in a throwaway git repository,
# $BUILD/series/linux, on top of a base commit of the pristine source.  It
# fails unless the tree after the last patch equals the one
# scripts/prepare-tree.sh builds (prepared afresh in $BUILD/series/ref) and
# every patch passes checkpatch --strict and git am applies the mail to the
# base.  make series-check builds each step.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
ref=$build/series/ref
src=$build/series/linux
out=$build/series/out
author="gmem_pair developers"
email="gmem-pair@example.invalid"

die() { echo "series: $*" >&2; exit 1; }

# The reference: a tree prepared afresh as make check prepares build/linux
# (the unpacked pristine source is kept), and that pristine source.
rm -rf "$ref/linux"
BUILD=$ref "$top/scripts/prepare-tree.sh"
pkgver=$(cat "$ref/pristine/.pkgver")
base_version="Debian linux-source-6.12 $pkgver ($(head -n 1 "$ref/BASE_VERSION"))"

layout=$(grep -v -e '^#' -e '^[[:space:]]*$' "$top/series/layout")
diff <(awk '$2 ~ /^patches\// { sub(/^patches\//, "", $2); print $2 }' <<< "$layout") \
	<(grep -v -e '^#' -e '^[[:space:]]*$' "$top/patches/series") >&2 ||
	die "series/layout and patches/series disagree on patches/ (above)"

# Commits with a fixed identity and date: the same inputs give the same
# series, byte for byte.
export GIT_AUTHOR_NAME=$author GIT_AUTHOR_EMAIL=$email
export GIT_COMMITTER_NAME=$author GIT_COMMITTER_EMAIL=$email
GIT_AUTHOR_DATE=$(git -C "$top" log -1 --format=%cI 2>/dev/null || echo 2026-01-01T00:00:00Z)
export GIT_AUTHOR_DATE GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
g() { git -C "$src" "$@"; }

# Base commit: the pristine source, kept while Debian's version is the same.
if [ "$(cat "$src/.git/gmem_pair_base" 2>/dev/null)" = "$pkgver" ]; then
	g checkout -q -f -B series base
	g clean -q -f -d -x
else
	echo "series: committing the pristine base ($pkgver)"
	rm -rf "$src"
	cp -a "$ref/pristine" "$src"
	rm -f "$src/.pkgver"
	g init -q -b series
	g add -A -f
	g commit -q -m "$base_version"
	g tag base
	echo "$pkgver" > "$src/.git/gmem_pair_base"
fi

# One commit per patch of the layout, in order.
mapfile -t names < <(awk '!seen[$1]++ { print $1 }' <<< "$layout")
for name in "${names[@]}"; do
	msg=$top/series/$name.msg
	[ -f "$msg" ] || die "$name: no commit message $msg"
	mapfile -t parts < <(awk -v n="$name" '$1 == n { print $2 }' <<< "$layout")
	for part in "${parts[@]}"; do
		part=${part%/}
		case $part in
		patches/*)
			patch -d "$src" -p1 --batch --forward --quiet < "$top/$part" ||
				die "$name: $part does not apply" ;;
		*)
			[ -e "$top/$part" ] || die "$name: $part does not exist"
			mkdir -p "$src/$(dirname "$part")"
			rsync -r "$top/$part" "$src/$(dirname "$part")/" ;;
		esac
	done
	g add -A -f
	g commit -q -F "$msg" || die "$name: nothing to commit"
done

# The last step must be the tree make check tests.
if ! diff -r -q --no-dereference -x .git -x .pkgver -x .gmem_pair_stamp \
	-x .gmem_pair_patched "$ref/linux" "$src" >&2; then
	die "the tree after the last patch differs from prepare-tree.sh's (above)"
fi

rm -rf "$out"
g config branch.series.description \
	"$(sed "s|@BASE@|$base_version|" "$top/series/cover-letter")"
g format-patch -q --cover-letter --cover-from-description=subject \
	-o "$out" base..series
mapfile -t patches < <(find "$out" -name '[0-9]*.patch' ! -name '0000-*' | sort)
BUILD=$ref "$top/scripts/checkpatch.sh" "${patches[@]}" ||
	die "checkpatch --strict is not clean (above)"

# What a reviewer does: git am the mail onto the base, same tree.
g checkout -q -f -B am base
g am -q "${patches[@]}" || { g am --abort; die "git am of $out fails"; }
[ "$(g rev-parse 'am^{tree}')" = "$(g rev-parse 'series^{tree}')" ] ||
	die "git am of $out gives another tree"
g checkout -q -f series
g branch -q -D am

g log --reverse --format='  %s' base..series
echo "series: ${#patches[@]} patches and a cover letter in $out: the last" \
	"step equals prepare-tree.sh's tree, checkpatch is clean, git am applies them"
