#!/bin/bash
# Unpack Debian's linux-source-6.12 into $BUILD/linux, apply patches/series
# and overlay the project's new files at their kernel paths.
#
# The unpacked tree is reused while the tarball and the patches are
# unchanged; overlay files are copied only when their contents differ, so
# an edit in mm/gmem_pair/ rebuilds only what depends on it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
tarball=/usr/src/linux-source-6.12.tar.xz
ksrc=$build/linux
overlay_dirs="mm include virt tools Documentation"

[ -f "$tarball" ] || { echo "prepare: $tarball missing (run scripts/deps.sh)" >&2; exit 1; }
mkdir -p "$build"

pkgver=$(dpkg-query -W -f='${Version}' linux-source-6.12)
stamp=$( { echo "$pkgver"; cat "$top/patches/series";
	   while read -r p; do
		   case "$p" in ''|\#*) continue;; esac
		   cat "$top/patches/$p"
	   done < "$top/patches/series"; } | sha256sum | cut -d' ' -f1)

apply_series() {
	while read -r p; do
		case "$p" in ''|\#*) continue;; esac
		if ! patch -d "$ksrc" -p1 --batch --forward --quiet \
			< "$top/patches/$p"; then
			echo "prepare: patch $p does not apply to linux-source-6.12 $pkgver" >&2
			exit 1
		fi
	done < "$top/patches/series"
}

patched_files() {
	while read -r p; do
		case "$p" in ''|\#*) continue;; esac
		sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' "$top/patches/$p"
	done < "$top/patches/series"
}

if [ "$(cat "$build/pristine/.pkgver" 2>/dev/null)" != "$pkgver" ]; then
	echo "prepare: unpacking linux-source-6.12 $pkgver"
	rm -rf "$build/pristine" "$build/linux-source-6.12" "$ksrc"
	tar -C "$build" -xf "$tarball"
	mv "$build/linux-source-6.12" "$build/pristine"
	echo "$pkgver" > "$build/pristine/.pkgver"
fi
if [ ! -f "$ksrc/.gmem_pair_stamp" ]; then
	rm -rf "$ksrc"
	cp -a "$build/pristine" "$ksrc"
	apply_series
	patched_files > "$ksrc/.gmem_pair_patched"
	echo "$stamp" > "$ksrc/.gmem_pair_stamp"
elif [ "$(cat "$ksrc/.gmem_pair_stamp")" != "$stamp" ]; then
	# The series changed: restore the files the old and new series touch
	# (with a fresh mtime, so their dependents rebuild) and apply again.
	echo "prepare: patches changed, re-applying"
	for f in $(sort -u "$ksrc/.gmem_pair_patched" <(patched_files)); do
		if [ -f "$build/pristine/$f" ]; then
			cp "$build/pristine/$f" "$ksrc/$f"
		else
			rm -f "$ksrc/$f"
		fi
	done
	apply_series
	patched_files > "$ksrc/.gmem_pair_patched"
	echo "$stamp" > "$ksrc/.gmem_pair_stamp"
fi
make -s -C "$ksrc" kernelversion > "$build/BASE_VERSION"
echo "debian linux-source-6.12 $pkgver" >> "$build/BASE_VERSION"

# Overlay: new files only; a file that exists upstream is changed by a patch.
for d in $overlay_dirs; do
	[ -d "$top/$d" ] || continue
	rsync -rc "$top/$d/" "$ksrc/$d/"
done
