# shellcheck shell=bash
# Run bpftrace programs in the background, wait until their probes are
# attached, stop them with SIGINT: sourced by tests/gmem-trace-test.sh,
# scripts/demo.sh and scripts/bench-guest.sh (all run inside the guest).
#
#   bt_start NAME OUT BPFTRACE-ARGS...  start "bpftrace -B none ARGS" with
#                                       stdout and stderr in OUT
#   bt_attached PATTERN NAME...         wait until each one's OUT has a line
#                                       matching the grep PATTERN (printed
#                                       once its probes are attached)
#   bt_stop NAME...                     SIGINT, wait for the exit
#   bt_kill_all                         SIGKILL what is left (an EXIT trap)
#
# bt_attached and bt_stop return 1 after printing "FAIL: ..." lines through
# bt_fail, which the caller may redefine (it must not exit).
#
# Why the waits: BEGIN runs before bpftrace attaches the other probes, so a
# program says it is attached from an interval probe declared after them,
# which bpftrace attaches last; compiling a program takes minutes under TCG.
# bpftrace 0.17 acts on SIGINT only in epoll_wait() or at the next event
# (Documentation/mm/gmem_pair_tools.rst): the programs print an empty string
# every second for that, and a signal still unanswered is repeated every
# 10 s, as a user would press Ctrl-C again.

declare -A bt_pid	# NAME -> bpftrace's pid
declare -A bt_out	# NAME -> its output file
bt_attach_secs=${BT_ATTACH_SECS:-300}
bt_stop_secs=${BT_STOP_SECS:-180}

bt_fail() { echo "FAIL: $*"; }

bt_start() {
	bt_out[$1]=$2
	bpftrace -B none "${@:3}" > "$2" 2>&1 &
	bt_pid[$1]=$!
}

bt_attached() {
	local pattern=$1 t ok
	shift
	for _ in $(seq "$bt_attach_secs"); do
		ok=1
		for t in "$@"; do
			grep -q -- "$pattern" "${bt_out[$t]}" && continue
			ok=0
			if ! kill -0 "${bt_pid[$t]}" 2>/dev/null; then
				bt_fail "$t exited before attaching:"
				cat "${bt_out[$t]}"
				return 1
			fi
		done
		[ $ok = 1 ] && return 0
		sleep 1
	done
	bt_fail "$* did not attach within $bt_attach_secs s"
	return 1
}

# bt_where PID: what a stuck process is doing (state, signals, kernel stacks)
bt_where() {
	local d
	grep -E '^(State|Sig|Shd)' "/proc/$1/status"
	for d in /proc/"$1"/task/*; do
		echo "task ${d##*/}: $(cat "$d/comm") $(grep State "$d/status")"
		cat "$d/stack" 2>/dev/null
	done
}

bt_stop() {
	local t left i st=0
	for t in "$@"; do kill -INT "${bt_pid[$t]}" 2>/dev/null; done
	for i in $(seq "$bt_stop_secs"); do
		left=
		for t in "$@"; do
			kill -0 "${bt_pid[$t]}" 2>/dev/null && left+=" $t"
		done
		[ -z "$left" ] && break
		if [ $((i % 10)) = 0 ]; then
			for t in $left; do
				echo "note: $t still there $i s after SIGINT, sending another"
				kill -INT "${bt_pid[$t]}"
			done
		fi
		sleep 1
	done
	for t in $left; do
		bt_fail "$t did not exit within $bt_stop_secs s of SIGINT"
		bt_where "${bt_pid[$t]}"
		kill -KILL "${bt_pid[$t]}"
		st=1
	done
	for t in "$@"; do
		wait "${bt_pid[$t]}"
		unset "bt_pid[$t]"
	done
	return $st
}

bt_kill_all() {
	local p
	for p in "${bt_pid[@]}"; do kill -KILL "$p" 2>/dev/null; done
}
