#!/bin/bash
# Build bzImage for one profile: "main" (config/gmem_pair.config and
# config/memory-failure.config) or "debug" (config/gmem_pair.config and
# config/debug.config: lockdep, KASAN, DEBUG_VM, DEBUG_LIST; no
# memory-failure.config).
# Output in $BUILD/obj-<profile>; ccache keeps rebuilds cheap.  An option of
# the fragments that does not stick stops the build, unless PARTIAL_CONFIG
# is set (make series-check: steps before the option exists).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
profile=${1:-main}
ksrc=$build/linux
obj=$build/obj-$profile
jobs=${JOBS:-$(nproc)}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/gmem_pair-ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
export CCACHE_BASEDIR=$build

case $profile in
main)	frags="$top/config/gmem_pair.config $top/config/memory-failure.config" ;;
debug)	frags="$top/config/gmem_pair.config $top/config/debug.config" ;;
*)	echo "build-kernel: unknown profile $profile" >&2; exit 1 ;;
esac

mkdir -p "$obj"
# shellcheck disable=SC2086
cfgstamp=$(cat "$ksrc/.gmem_pair_stamp" $frags | sha256sum | cut -d' ' -f1)
if [ "$(cat "$obj/.cfgstamp" 2>/dev/null)" != "$cfgstamp" ]; then
	echo "build-kernel[$profile]: configuring"
	make -s -C "$ksrc" O="$obj" defconfig kvm_guest.config >/dev/null
	# shellcheck disable=SC2086
	"$ksrc/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" \
		$frags >/dev/null
	make -s -C "$ksrc" O="$obj" olddefconfig
	# merge_config only warns; a silently dropped option is an error here.
	bad=0
	for f in $frags; do
		while IFS= read -r line; do
			case "$line" in CONFIG_*=y|CONFIG_*=m) ;; *) continue ;; esac
			if ! grep -qx "$line" "$obj/.config"; then
				echo "build-kernel[$profile]: $line did not stick" >&2
				bad=1
			fi
		done < "$f"
	done
	[ $bad = 0 ] || [ -n "${PARTIAL_CONFIG:-}" ] || exit 1
	echo "$cfgstamp" > "$obj/.cfgstamp"
fi
echo "build-kernel[$profile]: make -j$jobs bzImage"
make -s -C "$ksrc" O="$obj" -j"$jobs" CC="ccache gcc" bzImage
[ "$profile" != main ] || make -s -C "$ksrc" O="$obj" headers_install >/dev/null
echo "build-kernel[$profile]: $obj/arch/x86/boot/bzImage"
