#!/bin/bash
# Build tools/gmem-inspect against the main kernel's uAPI headers.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
[ -f "$top/tools/gmem-inspect/Makefile" ] || exit 0
mkdir -p "$build/tools"
make -s -C "$build/linux/tools/gmem-inspect" OUTPUT="$build/tools/" \
	KHDR_INCLUDES="-isystem $build/obj-main/usr/include"
