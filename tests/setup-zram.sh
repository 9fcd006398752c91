#!/bin/bash
# Inside the guest: a 256 MiB zram swap device for the swap tests.
set -e
[ -e /sys/block/zram0 ] || { echo "no zram0 (CONFIG_ZRAM)"; exit 1; }
grep -q zram0 /proc/swaps && exit 0
echo 256M > /sys/block/zram0/disksize
mkswap /dev/zram0 > /dev/null
swapon /dev/zram0
