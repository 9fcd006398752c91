#!/bin/bash
# The results of make bench as markdown (stdout), and the plot of cost per
# folio against size (per-folio.dat, per-folio.png with gnuplot), from the
# "BENCH ..." lines (and bench-guest.sh's bpftrace output) of each boot.
#   bench-report.sh <results-dir> <mode>...     modes: icount tcg
set -uo pipefail
res=$1
shift
modes="$*"
first=${modes%% *}

unit_of() {	# mode
	if [ "$1" = icount ]; then echo "instructions"; else echo "ns (TCG)"; fi
}
title_of() {	# mode
	if [ "$1" = icount ]; then
		echo "QEMU -icount shift=0,sleep=off: 1 ns of the guest clock = 1 instruction (of both vCPUs)"
	else
		echo "plain TCG: wall time of the emulation, not hardware"
	fi
}

# All BENCH lines of a boot, "file fig k=v ...".
bench_lines() {	# dir
	for f in "$1"/*.out; do
		[ -f "$f" ] || continue
		sed -n "s/\r\$//; s/^BENCH /$(basename "$f" .out) /p" "$f"
	done
}

# Shared awk helpers: kv() reads key=value fields of the current line.
# shellcheck disable=SC2016  # awk code
awk_lib='
function kv(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
function fmt(x,   s, r) { if (x == "") return "-"; if (x < 10) return sprintf("%.2f", x); if (x < 100) return sprintf("%.1f", x); s = sprintf("%.0f", x); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } return s r }
function ratio(a, b) { return (b > 0 && a != "") ? sprintf("%.1fx", a / b) : "-" }
function sort_n(a, n,   i, j, t) { for (i = 1; i <= n; i++) a[i] += 0; for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
function median(a, n) { sort_n(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
'

echo "# make bench results"
echo
echo "Date: $(cat "$res/date" 2>/dev/null || echo '?'); tree: $(cat "$res/commit" 2>/dev/null || echo '?');" \
	"kernel $(head -1 "${BUILD:-$res/../..}/BASE_VERSION" 2>/dev/null || echo '?') + gmem_pair;" \
	"QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}') TCG, -cpu max,-erms,-fsrm, 2 vCPUs, ${VM_MEM:-4G}."
for m in $modes; do
	[ -f "$res/$m/cpu.out" ] || continue
	flags=$(sed -n 's/^flags\s*:\s*//p' "$res/$m/cpu.out" | head -1)
	have=""
	for f in erms fsrm rep_good; do
		case " $flags " in *" $f "*) have+=" $f=yes" ;; *) have+=" $f=no" ;; esac
	done
	echo "Guest CPU ($m boot):$have, $(sed -n 2p "$res/$m/cpu.out") vCPUs;" \
		"wall time of the boot $(cat "$res/$m/wall-seconds" 2>/dev/null || echo '?') s."
done
echo
echo "Times are medians (and minimums) of the rounds; under icount a time in ns"
echo "is a count of instructions (a rep movsq/stosq iteration counts as one, so"
echo "copies are undercounted: icount ratios are the conservative figure)."

# Summary of both boots at the largest size, and the issue's targets.
all=$(for m in $modes; do bench_lines "$res/$m" | sed "s/^/$m /"; done)
echo
echo "## Summary (largest size measured; medians)"
echo
awk "$awk_lib"'
$3 == "move" { mib = kv("mib") + 0; if (mib > big) big = mib; mv[$1, kv("kind"), kv("dir"), mib] = kv("median_ns") / kv("units"); mt[$1, kv("kind"), kv("dir"), mib] = kv("median_ns") }
$3 == "copy" { mib = kv("mib") + 0; cp[$1, kv("kind"), mib] = kv("median_ns") / kv("units"); ct[$1, kv("kind"), mib] = kv("median_ns") }
$3 == "kvm" { k = $1 SUBSEP kv("what") SUBSEP kv("method"); kn[k]++; kvv[k, kn[k]] = kv("ns"); kmib = kv("mib") }
function kmed(m, w, meth,   a, i, k) { k = m SUBSEP w SUBSEP meth; for (i = 1; i <= kn[k]; i++) a[i] = kvv[k, i]; return kn[k] ? median(a, kn[k]) : "" }
function cell(m, v) { return v == "" ? "-" : (m == "icount" ? fmt(v) : sprintf("%.2f us", v / 1000)) }
END {
	n = split(MODES, ms, " ")
	h = "| figure (" big " MiB unless said)"; s = "|---"
	for (i = 1; i <= n; i++) { h = h " | " ms[i] " to-private | " ms[i] " to-shared"; s = s "|---:|---:" }
	print h " |"; print s "|"
	split("4K 2M", kinds, " ")
	for (j = 1; j <= 2; j++) { kd = kinds[j]
		l = "| move, per " kd " folio"; r = "| copy hand-off, per 4K page (" kd " folios)"; q = "| copy/move, " kd " folios"
		for (i = 1; i <= n; i++) { m = ms[i]
			l = l " | " cell(m, mv[m, kd, "to-private", big]) " | " cell(m, mv[m, kd, "to-shared", big])
			r = r " | " cell(m, cp[m, kd, big]) " | " cell(m, cp[m, kd, big])
			q = q " | " ratio(ct[m, kd, big], mt[m, kd, "to-private", big]) " | " ratio(ct[m, kd, big], mt[m, kd, "to-shared", big]) }
		print l " |"; print r " |"; print q " |" }
	l = "| KVM guest hand-off of " kmib " MiB, copy/move"
	for (i = 1; i <= n; i++) { m = ms[i]
		l = l " | " ratio(kmed(m, "handoff-to-private", "copy"), kmed(m, "handoff-to-private", "move")) " | " ratio(kmed(m, "handoff-to-shared", "copy"), kmed(m, "handoff-to-shared", "move")) }
	print l " |"
}' MODES="$modes" <<< "$all"
echo
echo "icount cells are instructions (1 ns of the guest clock); TCG cells are"
echo "wall time of the emulation, not hardware: TCG emulates rep movs one element"
echo "at a time and inflates copies far more than bookkeeping."

if [ -d "$res/icount" ]; then
	echo
	echo "## Targets of issue 10 (icount boot)"
	echo
	echo "| target | measured | verdict |"
	echo "|---|---|---|"
	{ bench_lines "$res/icount"; sed -n 's/\r$//; s/^BTCOUNT /count.out btcount /p' "$res/icount/count.out" 2>/dev/null; } | awk "$awk_lib"'
	$2 == "move" { mib = kv("mib") + 0; k = kv("kind") " " kv("dir"); v = kv("median_ns") / kv("units")
		if (mib > big) big = mib; pf[k, mib] = v; if (!(k in lo) || mib < lomib[k]) { lo[k] = v; lomib[k] = mib } if (!(k in hi) || mib > himib[k]) { hi[k] = v; himib[k] = mib } }
	$2 == "count" { k = kv("kind") " " kv("dir"); ipi[k] = ipi[k] (ipi[k] == "" ? "" : ", ") kv("ipis") " at " kv("mib") " MiB"; if ((k in ipi1) && kv("ipis") != ipi1[k]) ipivar[k] = 1; ipi1[k] = kv("ipis") }
	$2 == "btcount" { dr = dr (dr == "" ? "" : ", ") kv("lru_add_drain_all"); if (kv("lru_add_drain_all") + 0 > 1) drbad = 1 }
	$2 == "fault" { fv[kv("what"), kv("memfd")] = kv("median_ns") / kv("units") }
	$2 == "kvm" { k = kv("what") SUBSEP kv("method"); kn[k]++; kvv[k, kn[k]] = kv("ns") }
	$2 == "latency" { c = kv("cond"); if (kv("max") + 0 > lmax[c]) lmax[c] = kv("max") + 0; lc[c, ++ln[c]] = kv("conv"); lmib = kv("mib") }
	function kmed(w, meth,   a, i, k) { k = w SUBSEP meth; for (i = 1; i <= kn[k]; i++) a[i] = kvv[k, i]; return median(a, kn[k]) }
	function le(v, t) { return v <= t ? "met" : sprintf("missed by %.0f%%", (v / t - 1) * 100) }
	function within(r, t) { return (r <= 1 + t && r >= 1 - t) || r < 1 ? "met" : sprintf("missed by %.1f%%", (r - 1) * 100) }
	END {
		a = pf["4K to-private", big]; b = pf["4K to-shared", big]
		printf("| at most 1,500 instructions per 4K folio moved, each direction | %s / %s (to-private / to-shared, %s MiB) | %s / %s |\n", fmt(a), fmt(b), big, le(a, 1500), le(b, 1500))
		a = pf["2M to-private", big]; b = pf["2M to-shared", big]
		printf("| at most 5,000 per 2M folio | %s / %s | %s / %s |\n", fmt(a), fmt(b), le(a, 5000), le(b, 5000))
		split("4K to-private|4K to-shared|2M to-private|2M to-shared", ks, "|")
		for (i = 1; i <= 4; i++) { k = ks[i]; d = (hi[k] / lo[k] - 1) * 100
			printf("| per-folio cost flat within 10%%, %s | %s at %s MiB, %s at %s MiB (%+.1f%%) | %s |\n", k, fmt(lo[k]), lomib[k], fmt(hi[k]), himib[k], d,
			       (d <= 10 && d >= -10) ? "met" : (d < 0 ? "not flat: falls with size (a fixed cost per conversion)" : "missed")) }
		for (i = 1; i <= 4; i++) { k = ks[i]; if (!(k in ipi)) continue
			printf("| TLB-flush IPIs a constant per conversion, %s | %s | %s |\n", k, ipi[k], ipivar[k] ? "missed: grows with the size" : "met") }
		if (dr != "") printf("| lru_add_drain_all() a constant per conversion | %s (per conversion, every size and direction) | %s |\n", dr, drbad ? "missed" : "met")
		if ("same-pair" in lmax) { one = pf["4K to-private", lmib] * lmib * 256
			printf("| a fault on an unrelated offset waits at most one bounded chunk | max %s (idle %s, other pair %s) against %s for the to-private conversion of %s MiB (sweep) | %s |\n",
			       fmt(lmax["same-pair"]), fmt(lmax["idle"]), fmt(lmax["other-pair"]), fmt(one), lmib,
			       lmax["same-pair"] > one / 4 ? sprintf("missed: waits %.0f%% of a whole conversion", 100 * lmax["same-pair"] / one) : "met") }
		if ("vcpu-same-pair" in lmax) { for (i = 1; i <= ln["vcpu-same-pair"]; i++) x[i] = lc["vcpu-same-pair", i]; two = median(x, ln["vcpu-same-pair"]); one = pf["4K to-private", lmib] * lmib * 256
			printf("| a vCPU fault (NPT) on an unrelated gfn waits at most one bounded chunk | max %s (idle %s) while KVM_SET_MEMORY_ATTRIBUTES converted %s MiB both ways (%s, vCPU instructions included); the memfd-level to-private conversion of that size: %s | %s |\n",
			       fmt(lmax["vcpu-same-pair"]), fmt(lmax["vcpu-idle"]), lmib, fmt(two), fmt(one), lmax["vcpu-same-pair"] > one / 4 ? sprintf("missed: waits %.0f%% of a whole conversion", 100 * lmax["vcpu-same-pair"] / one) : "met") }
		if (("first-touch", "plain") in fv) {
			r = fv["first-touch", "paired"] / fv["first-touch", "plain"]; r2 = fv["refault", "paired"] / fv["refault", "plain"]
			printf("| paired memfd first-touch fault within 5%% of plain | first touch %.3f, refault of an existing page %.3f (paired/plain) | %s / %s |\n", r, r2, within(r, 0.05), within(r2, 0.05)) }
		if (kn["shared-first-touch" SUBSEP "paired"]) {
			r = kmed("shared-first-touch", "paired") / kmed("shared-first-touch", "plain"); r2 = kmed("private-first-touch", "paired") / kmed("private-first-touch", "plain")
			printf("| guest NPT fault within 5%% of plain guest_memfd | shared first touch %.3f, private first touch %.3f (paired/plain) | %s / %s |\n", r, r2, within(r, 0.05), within(r2, 0.05)) }
	}'
fi

for m in $modes; do
	d=$res/$m
	[ -d "$d" ] || continue
	u=$(unit_of "$m")
	lines=$(bench_lines "$d")
	echo
	echo "## $(title_of "$m")"
	echo
	echo "### Move vs copy hand-off (gmem_pair_bench sweep), $u per folio"
	echo
	echo "| folios | MiB | folios moved | to-private median (min) | to-shared median (min) | copy hand-off per 4K page | copy/move to-private | copy/move to-shared |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	awk "$awk_lib"'
	$2 == "move" { k = kv("kind") " " kv("mib"); med[k, kv("dir")] = kv("median_ns"); mn[k, kv("dir")] = kv("min_ns"); u[k] = kv("units"); if (!(k in seen)) { seen[k] = 1; order[++n] = k } }
	$2 == "copy" { k = kv("kind") " " kv("mib"); cmed[k] = kv("median_ns") }
	END {
		for (i = 1; i <= n; i++) {
			k = order[i]; split(k, p, " ")
			tp = med[k, "to-private"]; ts = med[k, "to-shared"]
			printf("| %s | %s | %s | %s (%s) | %s (%s) | %s | %s | %s |\n", p[1], p[2], u[k],
			       fmt(tp / u[k]), fmt(mn[k, "to-private"] / u[k]), fmt(ts / u[k]), fmt(mn[k, "to-shared"] / u[k]),
			       fmt(cmed[k] / (p[2] * 256)), ratio(cmed[k], tp), ratio(cmed[k], ts))
		}
	}' <<< "$lines"
	awk "$awk_lib"'
	$2 == "move" { k = kv("kind") SUBSEP kv("dir"); v = kv("median_ns") / kv("units"); mib = kv("mib") + 0
		if (!(k in lo) || mib < lomib[k]) { lo[k] = v; lomib[k] = mib }
		if (!(k in hi) || mib > himib[k]) { hi[k] = v; himib[k] = mib } }
	END { s = ""; for (k in lo) { split(k, p, SUBSEP); s = s sprintf("%s %s %s vs %s (%+.1f%%, %s vs %s MiB); ", p[1], p[2], fmt(lo[k]), fmt(hi[k]), (hi[k] / lo[k] - 1) * 100, lomib[k], himib[k]) }
	      if (s != "") print "\nPer-folio cost, smallest vs largest size: " s }' <<< "$lines"
	refusals=$(grep -c ' refusal ' <<< "$lines")
	[ "$refusals" = 0 ] || {
		echo
		echo "Transient refusals (EBUSY, ERR_REFERENCED) retried by the benchmark: $refusals:"
		awk '$2 == "refusal" { $1 = ""; $2 = ""; print "   " $0 }' <<< "$lines" | sort | uniq -c | sed 's/^/    /'
	}

	echo
	echo "### KVM guest hand-off (gmem_pair_kvm_bench, guest hypercall, VMM KVM_SET_MEMORY_ATTRIBUTES), $u"
	echo
	echo "| hand-off | MiB | runs | move median (min) | copy median (min) | move per page | copy/move |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	awk "$awk_lib"'
	$2 == "kvm" { k = kv("what") SUBSEP kv("method"); v[k, ++n[k]] = kv("ns"); mib = kv("mib"); pages = kv("units") }
	function stat(k,   a, i) { for (i = 1; i <= n[k]; i++) a[i] = v[k, i]; MED = median(a, n[k]); MIN = a[1]; return n[k] }
	END {
		split("handoff-to-private handoff-to-shared", w, " ")
		for (i = 1; i <= 2; i++) {
			if (!stat(w[i] SUBSEP "move")) continue
			mm = MED; mmin = MIN; runs = n[w[i] SUBSEP "move"]
			stat(w[i] SUBSEP "copy")
			printf("| %s | %s | %d | %s (%s) | %s (%s) | %s | %s |\n", substr(w[i], 9), mib, runs, fmt(mm), fmt(mmin),
			       fmt(MED), fmt(MIN), fmt(mm / pages), ratio(MED, mm))
		}
		print ""
		print "| guest first touch (NPT fault) | paired per page, median (min) | plain per page, median (min) | paired/plain |"
		print "|---|---:|---:|---:|"
		split("shared-first-touch private-first-touch", w, " ")
		for (i = 1; i <= 2; i++) {
			if (!stat(w[i] SUBSEP "paired")) continue
			pm = MED; pmin = MIN
			stat(w[i] SUBSEP "plain")
			printf("| %s | %s (%s) | %s (%s) | %.3f |\n", w[i], fmt(pm / pages), fmt(pmin / pages), fmt(MED / pages),
			       fmt(MIN / pages), pm / MED)
		}
	}' <<< "$lines"
	echo
	echo "(shared first touch: the memfd allocates the page; private first touch: the"
	echo "pages exist, moved (paired) or fallocated (plain). Runs alternate which slot"
	echo "the guest touches first.)"

	echo
	echo "### First touch of a shared memfd page (gmem_pair_bench fault), $u per page"
	echo
	echo "| fault | paired median (min) | plain median (min) | paired/plain |"
	echo "|---|---:|---:|---:|"
	awk "$awk_lib"'
	$2 == "fault" { k = kv("what") SUBSEP kv("memfd"); med[k] = kv("median_ns") / kv("units"); mn[k] = kv("min_ns") / kv("units"); w[kv("what")] = kv("mib") }
	END { split("first-touch refault", o, " ")
	      for (i = 1; i <= 2; i++) { x = o[i]; if (!(x in w)) continue
		printf("| %s (%s MiB, write) | %s (%s) | %s (%s) | %.3f |\n", x, w[x], fmt(med[x, "paired"]), fmt(mn[x, "paired"]),
		       fmt(med[x, "plain"]), fmt(mn[x, "plain"]), med[x, "paired"] / med[x, "plain"]) } }' <<< "$lines"

	echo
	echo "### Refused vs successful to-private conversion (gmem_pair_bench refuse), $u"
	echo
	echo "| conversion | MiB | per conversion median (min) | per folio |"
	echo "|---|---:|---:|---:|"
	awk "$awk_lib"'
	$2 == "refuse" { printf("| %s | %s | %s (%s) | %s |\n", kv("what") == "success" ? "successful" : kv("what") == "pinned-last" ? "refused: last page pinned" : "refused: first page pinned",
	                        kv("mib"), fmt(kv("median_ns")), fmt(kv("min_ns")), fmt(kv("median_ns") / kv("units"))) }' <<< "$lines"

	echo
	echo "### Fault latency on an unrelated offset during a conversion (gmem_pair_bench latency), $u"
	echo
	echo "A child process on vCPU 1 faults pages of the last 16 MiB of the pair's"
	echo "memfd (write, MADV_DONTNEED, next page) while vCPU 0 converts the rest"
	echo "to-private and back (same-pair), converts another pair of the same size"
	echo "(other-pair), spins in user space as long as that took (busy: what sharing"
	echo "the machine costs, TCG runs one vCPU at a time), or sleeps (idle). Under"
	echo "icount the clock counts the instructions of both vCPUs: the conversions'"
	echo "times include the faulting child's."
	echo "vcpu-*: a SW-protected guest's first touches (NPT faults) of shared pages of"
	echo "the pair outside the converted range, idle or while the VMM converts the"
	echo "range to private and back with KVM_SET_MEMORY_ATTRIBUTES (gmem_pair_kvm_bench"
	echo "latency; the guest times each touch with rdtsc)."
	echo
	echo "| condition | MiB | rounds | faults | p50 | p99 (worst round) | max | conversions (both ways, median) |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	awk "$awk_lib"'
	$2 == "latency" { c = kv("cond"); if (!(c in r)) o[++n] = c; r[c]++; f[c] += kv("units"); mib = kv("mib")
		p50[c, r[c]] = kv("p50"); p99[c, r[c]] = kv("p99"); cv[c, r[c]] = kv("conv")
		if (kv("p99") > wp99[c]) wp99[c] = kv("p99"); if (kv("max") > mx[c]) mx[c] = kv("max") }
	END { for (i = 1; i <= n; i++) { c = o[i]
		for (j = 1; j <= r[c]; j++) { a[j] = p50[c, j]; b[j] = p99[c, j]; e[j] = cv[c, j] }
		printf("| %s | %s | %d | %d | %s | %s (%s) | %s | %s |\n", c, mib, r[c], f[c], fmt(median(a, r[c])), fmt(median(b, r[c])),
		       fmt(wp99[c]), fmt(mx[c]), (c == "idle" || c == "vcpu-idle") ? "-" : fmt(median(e, r[c]))) } }' <<< "$lines"
done

# Event counts: one boot's (the first mode's) kprobe counts, per conversion.
d=$res/$first
if [ -f "$d/count.out" ]; then
	echo
	echo "## Events per conversion (bpftrace kprobes in the converting thread, TLB IPIs from /proc/interrupts; $first boot)"
	echo
	echo "A thread of the process spins on vCPU 1 during these conversions, so"
	echo "that TLB flushes of its mm need an IPI. Counts carry over to hardware."
	echo
	awk "$awk_lib"'
	{ sub(/\r$/, "") }
	/^BENCH count / { k = kv("kind") SUBSEP kv("dir") SUBSEP kv("mib"); ipi[k] = kv("ipis"); if (!(k in seen)) { seen[k] = 1; o[++n] = k } }
	/^BTCOUNT / {
		kind = kv("orders") == 1 ? "4K" : (kv("orders") == 512 ? "2M" : "mixed")
		k = kind SUBSEP (kv("dir") == 1 ? "to-private" : "to-shared") SUBSEP kv("size") / 1048576
		moved[k] = kv("moved"); nf = 0
		for (i = 3; i <= NF; i++) { split($i, p, "="); if (p[1] ~ /^(dir|size|orders|moved|ret)$/) continue
			fn[++nf] = p[1]; cnt[k, p[1]] = p[2] } }
	END {
		h = "| folios | MiB | direction | folios moved | TLB IPIs"; s = "|---|---:|---|---:|---:"
		for (i = 1; i <= nf; i++) { h = h " | " fn[i]; s = s "|---:" }
		print h " |"; print s "|"
		for (j = 1; j <= n; j++) { k = o[j]; split(k, p, SUBSEP)
			folios = p[1] == "2M" ? p[3] / 2 : p[3] * 256
			l = sprintf("| %s | %s | %s | %s | %s", p[1], p[3], p[2], folios, ipi[k])
			for (i = 1; i <= nf; i++) { c = cnt[k, fn[i]]
				l = l " | " c; if (c >= folios && folios > 1) l = l sprintf(" (%.2f/folio)", c / folios) }
			print l " |" } }' "$d/count.out"
	echo
	echo "(move_events: gmem_pair_move tracepoints, one per folio moved.)"
	for m in $modes; do
		if [ "$m" = "$first" ] || [ ! -f "$res/$m/count.out" ]; then continue; fi
		cnt() { grep -h -E '^(BTCOUNT|BENCH count) ' "$1" | sed 's/\r$//'; }
		n=$(cnt "$d/count.out" | wc -l)
		diffs=$(diff <(cnt "$d/count.out") <(cnt "$res/$m/count.out") | grep -c '^>')
		if [ "$diffs" = 0 ]; then
			echo "The $m boot counted the same events, line for line ($n lines)."
		else
			echo "The $m boot's counts differ in $diffs of $n lines:"
			diff <(cnt "$d/count.out") <(cnt "$res/$m/count.out") | grep '^[<>]' | sed 's/^/    /'
		fi
	done
fi

# Profile of the 4K moves (icount boot): bpftrace stack samples.
if [ -f "$res/icount/icount-profile.out" ]; then
	prof=$res/icount/icount-profile.out
	echo
	echo "## Where the instructions of a 4K move go (icount boot, bpftrace profile samples)"
	echo
	awk "$awk_lib"'
	{ sub(/\r$/, "") }
	/^BENCH profile / { folios = kv("units") * kv("rounds"); mib = kv("mib"); rounds = kv("rounds") }
	/^@stacks\[/ { dir = $0; sub(/^@stacks\[/, "", dir); sub(/,.*/, "", dir); nfr = 0; next }
	/^\]: / { c = $2; tot[dir] += c
		if (nfr) { f = fr[1]; if (f ~ /^_raw_spin_unlock_irq/ && nfr > 1) f = fr[2] " (irqs off, ends here)"; self[dir, f] += c; fns[f] = 1 }
		delete seenf; for (i = 1; i <= nfr; i++) if (!(fr[i] in seenf) && fr[i] !~ /^(entry_SYSCALL_64_after_hwframe|do_syscall_64|__x64_sys_ioctl|kvm_gmem_ioctl)$/) { seenf[fr[i]] = 1; incl[dir, fr[i]] += c; fns[fr[i]] = 1 }
		nfr = -1; next }
	nfr >= 0 && /^ +[^ ]/ { f = $1; sub(/\+[0-9]+$/, "", f); fr[++nfr] = f }
	END {
		period = 1e9 / '"${PROFILE_HZ:-9973}"'
		printf("Sampled every %.0f instructions during %s rounds of 4K conversions of %s MiB each way (%d folios per direction).\n", period, rounds, mib, folios)
		printf("Samples cannot land where interrupts are off (xa_lock_irq, lruvec lock): such a\nsection shows up where interrupts come back on, in _raw_spin_unlock_irq*; the\nself column charges it to the caller of that unlock, marked \"irqs off, ends here\".\n\n")
		for (d = 1; d >= 0; d--) {
			if (!tot[d]) continue
			printf("**%s**: %d samples, %s instructions per folio (sampled)\n\n", d ? "to-private" : "to-shared", tot[d], fmt(tot[d] * period / folios))
			print "| function (self) | instructions/folio | % |   | function (inclusive) | instructions/folio | % |"
			print "|---|---:|---:|---|---|---:|---:|"
			ns = 0; ni = 0
			for (f in fns) { if (self[d, f]) { sk[++ns] = sprintf("%012d %s", self[d, f], f) } if (incl[d, f]) { ik[++ni] = sprintf("%012d %s", incl[d, f], f) } }
			sort_s(sk, ns); sort_s(ik, ni)
			for (i = 0; i < 15; i++) {
				a = b = "| | | "
				if (i < ns) { split(sk[ns - i], q, " "); a = sprintf("| %s | %s | %.1f ", substr(sk[ns - i], 14), fmt(q[1] * period / folios), 100 * q[1] / tot[d]) }
				if (i < ni) { split(ik[ni - i], q, " "); b = sprintf("| %s | %s | %.1f ", substr(ik[ni - i], 14), fmt(q[1] * period / folios), 100 * q[1] / tot[d]) }
				if (i >= ns && i >= ni) break
				print a "|   " b "|"
			}
			print ""
			delete sk; delete ik
		}
	}
	function sort_s(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
	' "$prof"
fi

# The plot: cost per folio against size, first mode (icount).
d=$res/$first
bench_lines "$d" | awk "$awk_lib"'
	$2 == "move" { k = kv("mib") + 0; v[k, kv("kind") " " kv("dir")] = kv("median_ns") / kv("units"); s[k] = 1 }
	$2 == "copy" && kv("kind") == "4K" { k = kv("mib") + 0; c[k] = kv("median_ns") / kv("units") }
	END { print "# MiB 4K-to-private 4K-to-shared 2M-to-private 2M-to-shared copy-per-4K-page"
	      n = 0; for (k in s) m[++n] = k + 0; sort_n(m, n)
	      for (i = 1; i <= n; i++) { k = m[i]; printf("%s %s %s %s %s %s\n", k, v[k, "4K to-private"], v[k, "4K to-shared"], v[k, "2M to-private"], v[k, "2M to-shared"], c[k]) } }' > "$res/per-folio.dat"
if command -v gnuplot > /dev/null && [ "$(wc -l < "$res/per-folio.dat")" -gt 1 ]; then
	gnuplot <<- EOF 2> "$res/gnuplot.log" || echo "(gnuplot failed: $res/gnuplot.log)"
	set terminal pngcairo size 900,560 noenhanced
	set output "$res/per-folio.png"
	set title "gmem_pair conversion: cost per folio ($(title_of "$first" | cut -d: -f1))\\n$(cat "$res/date" 2>/dev/null)"
	set xlabel "conversion size (MiB)"
	set ylabel "$(unit_of "$first") per folio (median)"
	set logscale x 2
	set yrange [0:*]
	set offsets 0, 0, graph 0.35, 0
	set key top left
	set grid
	plot "$res/per-folio.dat" using 1:2 with linespoints title "4K folio, to-private", \
	     "" using 1:3 with linespoints title "4K folio, to-shared", \
	     "" using 1:4 with linespoints title "2M folio, to-private", \
	     "" using 1:5 with linespoints title "2M folio, to-shared", \
	     "" using 1:6 with linespoints dashtype 2 title "copy hand-off, per 4K page (4K folios)"
	EOF
	echo
	echo "Plot: per-folio.png (data per-folio.dat)."
else
	echo
	echo "(no plot: gnuplot missing or no data)"
fi
