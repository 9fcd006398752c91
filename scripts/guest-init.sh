#!/bin/bash
# PID 1 inside the QEMU guest (host root over 9p, read-only).
# Runs the plan named by gp_plan (kernel command line), one test per line
# "name|timeout-seconds|command", writes <name>.out, <name>.rc and
# <name>.health (lock debugging and taint before and after it; boot.health:
# at the start and end of the plan) into the results share, marks each test
# in the kernel log (so the host can blame a splat on the test that caused
# it), then powers off.
# The gp_* variables come from the kernel command line (scripts/vm-run.sh).
# shellcheck disable=SC2154
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts devpts /dev/pts 2>/dev/null
# Scratch tmpfs over the read-only root.  The project (and its build tree)
# may itself live under one of these directories (a CI clone in /tmp):
# keep the host's copy visible there with a bind mount.
mount -t tmpfs tmpfs /run
mkdir -p /run/host
for d in /tmp /var/tmp /dev/shm /mnt; do
	mkdir -p "/run/host$d"
	mount --bind "$d" "/run/host$d"
	mount -t tmpfs tmpfs "$d"
	for p in "$gp_top" "$gp_build"; do
		case "$p" in "$d"/*)
			mkdir -p "$p"
			mount --bind "/run/host$p" "$p" ;;
		esac
	done
done
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mkdir -p /mnt/results
mount -t 9p -o trans=virtio,version=9p2000.L,cache=none results /mnt/results
R=/mnt/results
export KST=$gp_kst TOP=$gp_top HOME=/tmp TERM=dumb

kmsg() { echo "$*" > /dev/kmsg; }
# Lock debugging and KASAN can switch themselves off without a console line:
# record debug_locks (lockdep kernels only) and the taint mask, for results.sh.
health() {	# file tag
	local dl
	dl=$(awk '$1 == "debug_locks:" { print $2 }' /proc/lockdep_stats 2>/dev/null)
	echo "$2${dl:+ debug_locks=$dl} tainted=$(cat /proc/sys/kernel/tainted)" >> "$1"
}
[ -e /proc/sys/kernel/hung_task_timeout_secs ] && echo 60 > /proc/sys/kernel/hung_task_timeout_secs

if [ "$gp_shell" = 1 ]; then
	echo "gmem_pair shell: KST=$KST; exit to power off"
	setsid bash -c 'exec bash -i </dev/ttyS0 >/dev/ttyS0 2>&1'
else
	health "$R/boot.health" start
	while IFS='|' read -r name tmo cmd; do
		case "$name" in ''|\#*) continue ;; esac
		if [ -n "$gp_only" ] && [ "$gp_only" != "$name" ]; then continue; fi
		kmsg "gmem_pair-test-begin: $name"
		health "$R/$name.health" before
		timeout -k 5 "$tmo" bash -c "$cmd" > "$R/$name.out" 2>&1
		rc=$?
		health "$R/$name.health" after
		echo $rc > "$R/$name.rc"
		kmsg "gmem_pair-test-end: $name"
		[ "$gp_verbose" = 1 ] && cat "$R/$name.out" > /dev/console
	done < "$gp_plan"
	health "$R/boot.health" end
fi
kmsg "gmem_pair-run-done"
sync
echo o > /proc/sysrq-trigger
sleep 10
