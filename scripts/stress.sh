#!/bin/bash
# make stress: randomized stress of a pair against a reference model
# (tools/testing/selftests/kvm/gmem_pair_stress_test.c) on the debug kernel
# (lockdep, KASAN), for SECONDS with an optional SEED; judged like a test.
#   stress.sh <seconds> [seed]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
secs=${1:-600}
seed=${2:-}
res=$build/runs/stress
mkdir -p "$build/stress"
plan=$build/stress/plan
echo "gmem_pair_stress_test|$((secs * 2 + 300))|\$TOP/tests/setup-zram.sh && \$KST/gmem_pair_stress_test -s $secs${seed:+ -S $seed}" > "$plan"
# shellcheck disable=SC1091
. "$top/tests/boot.debug"
# shellcheck disable=SC2154
VM_TIMEOUT=$((secs * 2 + 600)) "$top/scripts/vm-run.sh" "$kernel" "$plan" "$res" $args
grep -E '^# (seed|operations)|mismatches' "$res/gmem_pair_stress_test.out" || true
SUMMARY=/dev/null "$top/scripts/results.sh" stress "$plan" "$res"
