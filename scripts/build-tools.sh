#!/bin/bash
# Build tools/gmem-inspect and tools/gmem-vmm against the main kernel's uAPI
# headers (gmem-vmm also links the KVM selftests' library, built into
# $BUILD/kselftest/kvm like the tests).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
[ -f "$top/tools/gmem-inspect/Makefile" ] || exit 0
mkdir -p "$build/tools"
make -s -C "$build/linux/tools/gmem-inspect" OUTPUT="$build/tools/" \
	KHDR_INCLUDES="-isystem $build/obj-main/usr/include"
# The workload tests/gmem-trace-test.sh runs the bpftrace tools against.
if [ -f "$top/tools/gmem-trace/Makefile" ]; then
	make -s -C "$build/linux/tools/gmem-trace" OUTPUT="$build/tools/" \
		KHDR_INCLUDES="-isystem $build/obj-main/usr/include"
fi
if [ -f "$top/tools/gmem-vmm/Makefile" ]; then
	mkdir -p "$build/kselftest/kvm"
	make -s -C "$build/linux/tools/gmem-vmm" OUTPUT="$build/tools/" \
		KST_OUT="$build/kselftest/kvm" \
		KHDR_INCLUDES="-isystem $build/obj-main/usr/include"
fi
