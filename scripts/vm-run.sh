#!/bin/bash
# Boot a kernel under QEMU TCG with the host root over 9p and run a plan.
#   vm-run.sh <profile> <plan-file> <results-dir> [extra kernel args]
# env: SHELL_MODE=1 for an interactive shell, ONLY=<test> to run one test,
#      VM_TIMEOUT (s, default 1500), VM_MEM (default 4G), VERBOSE=1,
#      QEMU_EXTRA (more QEMU arguments, e.g. NUMA nodes).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
profile=$1 plan=$2 res=$3
shift 3
extra="$*"
kernel=$build/obj-$profile/arch/x86/boot/bzImage
[ -f "$kernel" ] || { echo "vm-run: no kernel $kernel" >&2; exit 1; }
rm -rf "$res"
mkdir -p "$res"
cmdline="console=ttyS0 root=hostroot rootfstype=9p"
cmdline="$cmdline rootflags=trans=virtio,version=9p2000.L,msize=512000,cache=loose"
cmdline="$cmdline ro init=$top/scripts/guest-init.sh panic=-1 oops=panic"
cmdline="$cmdline gp_plan=$plan gp_kst=$build/kselftest/kvm gp_top=$top gp_build=$build"
cmdline="$cmdline gp_shell=${SHELL_MODE:-0} gp_only=${ONLY:-} gp_verbose=${VERBOSE:-0}"
cmdline="$cmdline $extra"
qemu=(qemu-system-x86_64 -accel tcg,thread=single -cpu max -smp 2
      -m "${VM_MEM:-4G}" -nographic -no-reboot -kernel "$kernel"
      -append "$cmdline"
      -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
      -virtfs "local,path=$res,mount_tag=results,security_model=none")
# shellcheck disable=SC2206
qemu+=(${QEMU_EXTRA:-})
if [ "${SHELL_MODE:-0}" = 1 ]; then
	exec "${qemu[@]}"
fi
start=$(date +%s.%N)
timeout -k 10 "${VM_TIMEOUT:-1500}" "${qemu[@]}" < /dev/null > "$res/console.log" 2>&1
rc=$?
end=$(date +%s.%N)
echo "$rc" > "$res/qemu.rc"
printf '%.1f\n' "$(echo "$end - $start" | bc)" > "$res/wall-seconds"
exit 0
