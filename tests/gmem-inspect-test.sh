#!/bin/bash
# Run inside the guest (a plan entry "gmem_inspect_test|300|$TOP/tests/gmem-inspect-test.sh"):
# checks tools/gmem-inspect against pairs in a known state, held by
# tools/gmem-trace/gmem-trace-workload -H:
#   A: 64 pages, 7 pages to private, 4 back, 1 pinned and 1 referenced
#      refusal -> shared [0, 4), private [4, 7), shared [7, 64);
#   B: another process, 32 pages, 2 to private;
#   C: a pair held by its memfd only (-m).
# Every figure printed (human and --json, the extents' details included:
# every page of A resident, 4K, unpinned) must equal the known state,
# --all must find A, B (with their memfd and mapping) and C (memfd only),
# and each error case must give its exit code.
# Exit status: 0, or 1 with one "FAIL:" line per difference.
# env: KST, TOP; GMEM_TOOLS: where gmem-inspect and gmem-trace-workload are
# (default $KST/../../tools, i.e. build/tools).
set -u
tools=${GMEM_TOOLS:-${KST:?}/../../tools}
inspect=$tools/gmem-inspect
workload=$tools/gmem-trace-workload
tmp=$(mktemp -d)
st=0
declare -A wpid	# workload -> pid

fail() { echo "gmem-inspect-test: FAIL: $*"; st=1; }
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
	for p in "${wpid[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# hold NAME ARGS...: start a workload that holds its pair, wait for "ready"
hold() {
	"$workload" "${@:2}" -H > "$tmp/$1.out" 2>&1 &
	wpid[$1]=$!
	disown	# killed by cleanup, without a job report
	for _ in $(seq 100); do
		grep -qx ready "$tmp/$1.out" && return 0
		kill -0 "${wpid[$1]}" 2>/dev/null || break
		sleep 0.1
	done
	fail "workload $1 ($*) did not get ready:"
	cat "$tmp/$1.out"
	exit 1
}
w() { awk -v k="$2" '$1 == k { print $2 }' "$tmp/$1.out"; }

# expect WHAT GOT WANT
expect() {
	if [ "$2" = "$3" ]; then
		echo "ok: $1: $2"
	else
		fail "$1: got '$2', want '$3'"
	fi
}

# rc WANT CMD...: run gmem-inspect, check its exit status
rc() {
	local want=$1 got
	shift
	"$inspect" "$@" > "$tmp/rc.out" 2>&1
	got=$?
	expect "exit status of gmem-inspect $*" "$got" "$want"
	head -2 "$tmp/rc.out" | sed 's/^/    /'
}

for f in "$inspect" "$workload"; do
	[ -x "$f" ] || { echo "gmem-inspect-test: FAIL: no $f (scripts/build-tools.sh)"; exit 1; }
done
ps=$(getconf PAGESIZE)
hold A -n 64 -p 7 -s 4 -r 1 -v 1
hold B -n 32 -p 2
hold C -n 16 -m
cat "$tmp/A.out"

echo "== gmem-inspect <pid> <fd> of pair A:"
"$inspect" "$(w A pid)" "$(w A private_fd)" > "$tmp/human" 2>&1
expect "exit status" $? 0
cat "$tmp/human"
field() { awk -v k="$1" '$1 == k { print $2; exit }' "$tmp/human"; }
expect "pair id" "$(field pair)" "$(w A pair_id)"
expect "size" "$(field size)" $((64 * ps))
expect "memfd inode" "$(awk '$1 == "memfd" { print $3 }' "$tmp/human")" "$(w A memfd_ino)"
expect "holders" "$(awk '$1 == "holders" { $1 = ""; print substr($0, 2) }' "$tmp/human")" \
	"pid $(w A pid) ($(w A comm)) fd $(w A private_fd) private"
expect "extents" "$(awk '/^0x/ { print $1, $2, $3, $4, $5 }' "$tmp/human" | paste -sd';')" \
	"0x000000000000 0x000000004000 shared 16.0 KiB;0x000000004000 0x000000003000 private 12.0 KiB;0x000000007000 0x000000039000 shared 228.0 KiB"
for kv in private_pages=3 shared_pages=61 swapped_pages=0 to_shared_pages=4 \
	  to_private_pages=7 conversions=11 refused_pinned=2 refused_movable=0 \
	  migrated_pages=0; do
	expect "counter ${kv%=*}" "$(field "${kv%=*}")" "${kv#*=}"
done

echo "== gmem-inspect --json <pid> <fd> of pair A:"
"$inspect" --json "$(w A pid)" "$(w A private_fd)" > "$tmp/json" 2>&1
expect "exit status" $? 0
cat "$tmp/json"
expect "--json" "$(python3 - "$tmp/json" "$(w A pair_id)" "$(w A memfd_ino)" "$(w A pid)" \
	"$(w A comm)" "$(w A private_fd)" "$ps" <<'EOF'
import json, sys
path, pid_, ino, pid, comm, fd, ps = sys.argv[1:]
d = json.load(open(path))
def pages(n):	# GMEM_PAIR_QUERY_DETAILS: n resident 4K pages, none swapped or pinned
    return {"resident_pages": n, "swapped_pages": 0, "pinned_pages": 0,
            "movable_pages": 0, "orders": [0]}
want = {
    "version": 1, "page_size": int(ps), "unreadable_processes": 0,
    "pairs": [{
        "id": int(pid_), "queried": True, "error": None, "size": 64 * int(ps),
        "memfd_ino": int(ino),
        "holders": [{"pid": int(pid), "comm": comm, "fd": int(fd), "file": "private"}],
        "extents": [dict(offset=0, size=4 * int(ps), state="shared", **pages(4)),
                    dict(offset=4 * int(ps), size=3 * int(ps), state="private", **pages(3)),
                    dict(offset=7 * int(ps), size=57 * int(ps), state="shared", **pages(57))],
        "counters": {"private_pages": 3, "shared_pages": 61, "swapped_pages": 0,
                     "to_shared_pages": 4, "to_private_pages": 7, "conversions": 11,
                     "refused_pinned": 2, "refused_movable": 0, "migrated_pages": 0},
    }],
}
print("as expected" if d == want else "differs: %s" % json.dumps(d))
EOF
)" "as expected"

echo "== gmem-inspect --all:"
"$inspect" --all > "$tmp/all" 2>&1
expect "exit status" $? 0
cat "$tmp/all"
row() { awk -v id="$1" '$1 == id' "$tmp/all"; }
for p in A B; do
	expect "--all: a row for pair $p ($(w $p pair_id)) with its private fd, memfd and mapping" \
		"$(row "$(w $p pair_id)" | grep -c -e "pid $(w $p pid) ($(w $p comm)) fd $(w $p private_fd) private, .*fd $(w $p memfd_fd) memfd, .*mapping")" 1
done
expect "--all: a row '?' for pair C (memfd ino $(w C memfd_ino))" \
	"$(row '?' | grep -c " $(w C memfd_ino)  pid $(w C pid) .*fd $(w C memfd_fd) memfd")" 1

echo "== gmem-inspect --all --json:"
"$inspect" --all --json > "$tmp/alljson" 2>&1
expect "exit status" $? 0
expect "--all --json" "$(python3 - "$tmp/alljson" "$tmp" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
w = {}
for n in "ABC":
    w[n] = dict(l.split(None, 1) for l in open("%s/%s.out" % (sys.argv[2], n)) if " " in l.strip())
bad = []
def norm(l):	# holders as sorted (pid, comm, fd, file) tuples; fd None: a mapping
    return sorted(l, key=lambda h: (h[0], h[2] is None, h[2] or 0, h[3]))
def holders(p):
    return norm((h["pid"], h["comm"], h["fd"], h["file"]) for h in p["holders"])
for n in "AB":
    ps = [p for p in d["pairs"] if p["id"] == int(w[n]["pair_id"])]
    pid, comm = int(w[n]["pid"]), w[n]["comm"].strip()
    want = norm([(pid, comm, int(w[n]["private_fd"]), "private"),
                   (pid, comm, int(w[n]["memfd_fd"]), "memfd"), (pid, comm, None, "mapping")])
    if len(ps) != 1 or not ps[0]["queried"] or holders(ps[0]) != want or \
       ps[0]["memfd_ino"] != int(w[n]["memfd_ino"]):
        bad.append("pair %s: %s" % (n, ps))
ps = [p for p in d["pairs"] if p["memfd_ino"] == int(w["C"]["memfd_ino"])]
pid, comm = int(w["C"]["pid"]), w["C"]["comm"].strip()
if len(ps) != 1 or ps[0]["queried"] or ps[0]["id"] is not None or \
   ps[0]["counters"] is not None or ps[0]["size"] != 16 * d["page_size"] or \
   holders(ps[0]) != norm([(pid, comm, int(w["C"]["memfd_fd"]), "memfd"), (pid, comm, None, "mapping")]):
    bad.append("pair C: %s" % ps)
print("; ".join(bad) or "as expected")
EOF
)" "as expected"

echo "== -v --all prints each pair in full:"
"$inspect" -v --all > "$tmp/allv" 2>&1
expect "exit status" $? 0
expect "-v --all: pair lines" "$(grep -c '^pair ' "$tmp/allv")" "$(grep -c '"id"' "$tmp/alljson")"

echo "== error cases:"
sleep 0 & dead=$!
wait $dead
rc 0 --help
rc 1
rc 1 --bogus
rc 1 "$(w A pid)"
rc 1 --all "$(w A pid)" 3
rc 2 "$dead" 3
rc 2 "$(w A pid)" 999
rc 2 -f 999
rc 4 "$(w A pid)" "$(w A memfd_fd)"
rc 4 "$(w A pid)" 1
rc 4 -f 0 < /dev/null
# Without ptrace rights over the holder: run as nobody.
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
nobody "$inspect" "$(w A pid)" "$(w A private_fd)" > "$tmp/rc.out" 2>&1
expect "exit status of gmem-inspect <pid> <fd> as nobody" $? 3
sed 's/^/    /' "$tmp/rc.out"
nobody "$inspect" --all --json > "$tmp/rc.out" 2> "$tmp/rc.err"
expect "exit status of gmem-inspect --all --json as nobody" $? 0
expect "--all as nobody: pairs listed, processes unreadable" \
	"$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(len(d["pairs"]), d["unreadable_processes"] > 0)' "$tmp/rc.out")" "0 True"
sed 's/^/    /' "$tmp/rc.err"

[ $st = 0 ] && echo "gmem-inspect-test: PASS"
exit $st
