#!/bin/bash
# make run: boot the patched kernel and run the demo; print what it printed.
# Exits non-zero if the demo failed (results.sh judges it like a test).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
res=$build/runs/demo
"$top/scripts/vm-run.sh" main "$top/tests/plan.demo" "$res"
cat "$res/demo.out" 2>/dev/null || echo "demo: no output; see $res/console.log"
if ! SUMMARY=/dev/null "$top/scripts/results.sh" demo "$top/tests/plan.demo" "$res"; then
	echo "demo: FAILED (console log: $res/console.log)"
	exit 1
fi
