#!/bin/bash
# Build the KVM selftests the test plans run (upstream baseline + gmem_pair)
# against the headers of the main kernel build, into $BUILD/kselftest.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
ksrc=$build/linux
out=$build/kselftest
hdr=$build/obj-main/usr/include
jobs=${JOBS:-$(nproc)}

# Every program named in a plan as $KST/<prog>.
progs=$(grep -ho '\$KST/[A-Za-z0-9_/-]*' "$top"/tests/plan.* | sed 's|\$KST/||' | sort -u)
targets=""
for p in $progs; do targets="$targets $out/kvm/$p"; done
mkdir -p "$out/kvm"
# shellcheck disable=SC2086
make -s -C "$ksrc/tools/testing/selftests/kvm" -j"$jobs" OUTPUT="$out/kvm" \
	KHDR_INCLUDES="-isystem $hdr" $targets
echo "build-tests: $(echo $progs | wc -w) programs in $out/kvm"
