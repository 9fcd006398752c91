#!/bin/bash
# Install the Debian packages the build and the QEMU runs need (idempotent).
set -euo pipefail
pkgs="linux-source-6.12 qemu-system-x86 ccache flex bison libelf-dev bc cpio
      kmod rsync libssl-dev libcap-dev libnuma-dev bpftrace busybox-static
      python3 gcc make perl"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
