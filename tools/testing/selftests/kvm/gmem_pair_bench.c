// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair_bench: conversion of a range by moving folios, against a copy
 * hand-off of the same bytes, and the other figures of make bench.  Prints
 * min and median of the rounds; asserts only contents and errors.
 *
 *   gmem_pair_bench [MiB] [rounds]        move vs copy (default 256 MiB, 5)
 *   gmem_pair_bench sweep ROUNDS MiB...   move vs copy, 4K and 2M folios
 *   gmem_pair_bench fault ROUNDS MiB      first touch, paired vs plain memfd
 *   gmem_pair_bench refuse ROUNDS MiB     refused vs successful to-private
 *   gmem_pair_bench count MiB...          TLB-flush IPIs per conversion
 *   gmem_pair_bench profile ROUNDS MiB    4K conversions only, for a profiler
 *   gmem_pair_bench latency MiB [N]       faults next to a MiB conversion
 *
 * Every figure is also printed as one machine-readable line,
 * "BENCH <figure> key=value ...", times in ns of CLOCK_MONOTONIC: under
 * QEMU -icount shift=0 the guest clock counts instructions (1 ns = 1
 * instruction, of both vCPUs), under plain TCG it is emulation wall time,
 * not hardware time.  scripts/bench.sh turns the lines into the table.
 *
 * Copy hand-off: allocate the destination pages of a second memfd,
 * copy with rep movsq (not the selftests' byte-loop memcpy()), free the
 * source (punch hole) -- what a VMM does today to move data between a
 * shared and a private backing without the pair.  THP rows copy THP to
 * THP.  Under TCG, copies are emulated element by element: the ratios
 * flatter the move; under icount a rep iteration counts as one
 * instruction, which undercounts the copy.
 * Large folios: with shmem_enabled=advise and MADV_HUGEPAGE the memfd is
 * populated with 2M folios first (the private file splits them, see
 * Documentation/mm/gmem_pair.rst).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/gmem_pair.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "gmem_pair_util.h"
#include "../../../../mm/gup_test.h"

#define SZ_2M		(2UL << 20)
#define MAX_ROUNDS	64

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Time one conversion.  A refusal for a transient reference (EBUSY,
 * ERR_REFERENCED) is reported as "BENCH refusal" and retried, up to 5
 * times 10 ms apart: the time is the successful attempt's.
 */
static double convert_time(int pfd, size_t off, size_t size, uint32_t dir)
{
	struct gmem_pair_convert a;
	int r, tries = 0;
	double t;

	for (;;) {
		t = now();
		r = pair_convert(pfd, off, size, dir, 0, &a);
		t = now() - t;
		if (!r || errno != EBUSY ||
		    a.error_reason != GMEM_PAIR_ERR_REFERENCED || ++tries > 5)
			break;
		printf("BENCH refusal dir=%s mib=%zu reason=%u offset=%#llx try=%d\n",
		       dir == GMEM_PAIR_TO_PRIVATE ? "to-private" : "to-shared",
		       size >> 20, a.error_reason,
		       (unsigned long long)a.error_offset, tries);
		usleep(10000);
	}
	TEST_ASSERT(!r, "convert %s of %zu MiB: %s at %#llx reason %u",
		    dir == GMEM_PAIR_TO_PRIVATE ? "to-private" : "to-shared",
		    size >> 20, strerror(errno),
		    (unsigned long long)a.error_offset, a.error_reason);
	return t;
}

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/*
 * Map @size bytes of @fd at a 2M-aligned address; for @huge with
 * MADV_HUGEPAGE, so that every 2M of the memfd can be one THP.  Unmap
 * with unmap_memfd().
 */
static char *map_memfd(int fd, size_t size, bool huge)
{
	char *area, *m;

	area = mmap(NULL, size + SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	TEST_ASSERT(area != MAP_FAILED, "mmap reservation");
	m = (char *)(((unsigned long)area + SZ_2M - 1) & ~(SZ_2M - 1));
	if (m != area)
		munmap(area, m - area);
	munmap(m + size, area + SZ_2M - m);
	TEST_ASSERT(mmap(m, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 fd, 0) == m, "mmap memfd");
	if (huge)
		TEST_ASSERT(!madvise(m, size, MADV_HUGEPAGE), "MADV_HUGEPAGE");
	return m;
}

static void populate(char *m, size_t size)
{
	for (size_t i = 0; i < size; i += 4096)
		m[i] = (char)(i >> 12);
}

static void check_contents(const char *m, size_t size)
{
	for (size_t i = 0; i < size; i += 4096)
		TEST_ASSERT(m[i] == (char)(i >> 12), "contents at %#zx", i);
}

/*
 * A real copy: rep movsq, 8 bytes an iteration.  The selftests link
 * lib/string_override.c, whose memcpy() is a byte loop: it made the copy
 * slow, not copying.
 */
static void copy_words(void *dst, const void *src, size_t size)
{
	size_t n = size / 8;

	asm volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

/*
 * The hand-off without the pair: allocate the destination (fallocate for
 * 4K; for THP, touch each 2M of a MADV_HUGEPAGE mapping, so THP is copied
 * to THP), copy, free the source.  memfd to memfd: the same work each way.
 */
static double copy_handoff(size_t size, bool huge)
{
	int src = memfd_create("src", 0), dst = memfd_create("dst", 0);
	char *s, *d;
	double t;

	TEST_ASSERT(src >= 0 && dst >= 0, "memfd_create");
	TEST_ASSERT(!ftruncate(src, size) && !ftruncate(dst, size), "ftruncate");
	s = map_memfd(src, size, huge);
	d = map_memfd(dst, size, huge);
	populate(s, size);

	t = now();
	if (huge) {
		for (size_t i = 0; i < size; i += SZ_2M)
			d[i] = 0;
	} else {
		TEST_ASSERT(!fallocate(dst, 0, 0, size), "fallocate");
	}
	copy_words(d, s, size);
	TEST_ASSERT(!fallocate(src, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       0, size), "punch");
	t = now() - t;

	check_contents(d, size);
	munmap(s, size);
	munmap(d, size);
	close(src);
	close(dst);
	return t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* min and median of @n samples (sorted in place) */
static void min_median(double *v, int n, double *min, double *median)
{
	qsort(v, n, sizeof(*v), cmp_double);
	*min = v[0];
	*median = n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Print one figure: the rounds in order, a human line, then "BENCH <fig>
 * <keys> units=N rounds=N min_ns=N median_ns=N" (@keys: "key=value ...",
 * @units: the folios, pages or calls the time is divided by).  Returns the
 * median.
 */
static double report(const char *what, const char *fig, const char *keys,
		     double *v, int n, unsigned long units, const char *unit,
		     double copy_median)
{
	double min, median;
	int i;

	printf("  %-22s rounds (ns/%s):", what, unit);
	for (i = 0; i < n; i++)
		printf(" %.1f", v[i] * 1e9 / units);
	printf("\n");
	min_median(v, n, &min, &median);
	printf("  %-22s min %10.6f s  median %10.6f s  %10.1f ns/%s (median)",
	       what, min, median, median * 1e9 / units, unit);
	if (copy_median)
		printf("  copy/move %6.1fx", copy_median / median);
	printf("\nBENCH %s %s units=%lu rounds=%d min_ns=%.0f median_ns=%.0f\n",
	       fig, keys, units, n, min * 1e9, median * 1e9);
	return median;
}

/* A paired guest_memfd of @size, all shared, its memfd mapped at *@m. */
static int pair_create(struct kvm_vm *vm, size_t size, bool huge, int *sfd,
		       char **m)
{
	int pfd = __vm_create_guest_memfd(vm, size, GUEST_MEMFD_FLAG_PAIRED |
					  GUEST_MEMFD_FLAG_PAIR_SHARED);

	TEST_ASSERT(pfd >= 0, "paired guest_memfd of %zu MiB: %s", size >> 20,
		    strerror(errno));
	*sfd = ioctl(pfd, GMEM_PAIR_GET_SHARED_FD, 0);
	TEST_ASSERT(*sfd >= 0, "GMEM_PAIR_GET_SHARED_FD");
	*m = map_memfd(*sfd, size, huge);
	return pfd;
}

static void pair_destroy(int pfd, int sfd, char *m, size_t size)
{
	munmap(m, size);
	close(sfd);
	close(pfd);
}

/* Populate @m; return the folios it got (2M ones, the rest 4K). */
static unsigned long populate_count(char *m, size_t size, long *huge_kb)
{
	long kb = meminfo_kb("ShmemHugePages:");

	populate(m, size);
	kb = meminfo_kb("ShmemHugePages:") - kb;
	if (huge_kb)
		*huge_kb = kb;
	return kb / 2048 + (size / 1024 - kb) / 4;
}

static void bench(struct kvm_vm *vm, size_t size, int rounds, bool huge)
{
	double to_priv[MAX_ROUNDS], to_shared[MAX_ROUNDS], copy[MAX_ROUNDS] = { 0 };
	double copy_min, copy_median, tmp[MAX_ROUNDS];
	const char *kind = huge ? "2M" : "4K";
	unsigned long folios = 0;
	char keys[128];
	long huge_kb = 0;
	int pfd, sfd, r;
	char *m;

	for (r = 0; r < rounds; r++) {
		pfd = pair_create(vm, size, huge, &sfd, &m);
		folios = populate_count(m, size, &huge_kb);
		to_priv[r] = convert_time(pfd, 0, size, GMEM_PAIR_TO_PRIVATE);
		to_shared[r] = convert_time(pfd, 0, size, GMEM_PAIR_TO_SHARED);
		check_contents(m, size);
		pair_destroy(pfd, sfd, m, size);
		copy[r] = copy_handoff(size, huge);
	}
	memcpy(tmp, copy, sizeof(copy[0]) * rounds);
	min_median(tmp, rounds, &copy_min, &copy_median);
	printf("%s %zu MiB (%lu folios, %ld kB of them 2M), %d rounds:\n",
	       huge ? "MADV_HUGEPAGE" : "4K", size >> 20, folios, huge_kb,
	       rounds);
	snprintf(keys, sizeof(keys), "kind=%s dir=to-private mib=%zu", kind,
		 size >> 20);
	report("move to-private", "move", keys, to_priv, rounds, folios,
	       "folio", copy_median);
	snprintf(keys, sizeof(keys), "kind=%s dir=to-shared mib=%zu", kind,
		 size >> 20);
	report("move to-shared", "move", keys, to_shared, rounds, folios,
	       "folio", copy_median);
	snprintf(keys, sizeof(keys), "kind=%s mib=%zu huge_kb=%ld", kind,
		 size >> 20, huge_kb);
	report(huge ? "copy THP->THP" : "copy 4K->4K", "copy", keys, copy,
	       rounds, size / 4096, "4K", 0);
	fflush(stdout);
}

/* ns to write the first byte of each page of @m */
static double touch_time(char *m, size_t size, char v)
{
	double t = now();

	for (size_t i = 0; i < size; i += 4096)
		m[i] = v;
	return now() - t;
}

/*
 * First touch of a shared offset: the memfd allocates (a paired memfd
 * checks the pair's state under its invalidate_lock), and the refault of
 * a page that exists (after munmap).  Paired and plain memfd alternate
 * which goes first.
 */
static void run_fault(struct kvm_vm *vm, size_t size, int rounds)
{
	double first[2][MAX_ROUNDS], again[2][MAX_ROUNDS];
	static const char * const name[2] = { "paired", "plain" };
	char keys[128], what[64];
	int r, i, k;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < 2; i++) {
			int pfd = -1, fd;
			char *m;

			k = (i + r) & 1;
			if (k == 0) {
				pfd = pair_create(vm, size, false, &fd, &m);
			} else {
				fd = memfd_create("plain", 0);
				TEST_ASSERT(fd >= 0 && !ftruncate(fd, size),
					    "plain memfd");
				m = map_memfd(fd, size, false);
			}
			first[k][r] = touch_time(m, size, 1);
			munmap(m, size);
			m = map_memfd(fd, size, false);
			again[k][r] = touch_time(m, size, 2);
			munmap(m, size);
			close(fd);
			if (pfd >= 0)
				close(pfd);
		}
	}
	printf("fault, %zu MiB of 4K pages, %d rounds, paired and plain alternating:\n",
	       size >> 20, rounds);
	for (k = 0; k < 2; k++) {
		snprintf(keys, sizeof(keys), "what=first-touch memfd=%s mib=%zu",
			 name[k], size >> 20);
		snprintf(what, sizeof(what), "first touch %s", name[k]);
		report(what, "fault", keys, first[k], rounds, size / 4096,
		       "page", 0);
		snprintf(keys, sizeof(keys), "what=refault memfd=%s mib=%zu",
			 name[k], size >> 20);
		snprintf(what, sizeof(what), "refault %s", name[k]);
		report(what, "fault", keys, again[k], rounds, size / 4096,
		       "page", 0);
	}
	fflush(stdout);
}

/*
 * A to-private conversion refused by a long-term pin (gup_test) of the
 * last page of the range (everything collected, then put back) or of the
 * first, against a successful one of the same range.
 */
static void run_refuse(struct kvm_vm *vm, size_t size, int rounds)
{
	double ok[MAX_ROUNDS], last[MAX_ROUNDS], first[MAX_ROUNDS];
	int gup = open("/sys/kernel/debug/gup_test", O_RDWR);
	unsigned long folios = 0;
	char keys[128];
	int pfd, sfd, r, i;
	char *m;

	TEST_ASSERT(gup >= 0, "/sys/kernel/debug/gup_test: %s",
		    strerror(errno));
	for (r = 0; r < rounds; r++) {
		pfd = pair_create(vm, size, false, &sfd, &m);
		folios = populate_count(m, size, NULL);
		for (i = 0; i < 2; i++) {
			struct pin_longterm_test pin = {
				.addr = (unsigned long)(m + (i ? 0 : size - 4096)),
				.size = 4096,
				.flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE,
			};
			struct gmem_pair_convert a;
			double t;
			int ret;

			TEST_ASSERT(!ioctl(gup, PIN_LONGTERM_TEST_START, &pin),
				    "PIN_LONGTERM_TEST_START");
			t = now();
			ret = pair_convert(pfd, 0, size, GMEM_PAIR_TO_PRIVATE, 0,
					   &a);
			t = now() - t;
			TEST_ASSERT(ret == -1 && errno == EBUSY &&
				    a.error_reason == GMEM_PAIR_ERR_PINNED,
				    "pinned conversion: ret %d errno %d reason %u",
				    ret, errno, a.error_reason);
			TEST_ASSERT(!ioctl(gup, PIN_LONGTERM_TEST_STOP),
				    "PIN_LONGTERM_TEST_STOP");
			if (i)
				first[r] = t;
			else
				last[r] = t;
		}
		ok[r] = convert_time(pfd, 0, size, GMEM_PAIR_TO_PRIVATE);
		convert_time(pfd, 0, size, GMEM_PAIR_TO_SHARED);
		check_contents(m, size);
		pair_destroy(pfd, sfd, m, size);
	}
	close(gup);
	printf("to-private of %zu MiB (%lu 4K folios), %d rounds:\n",
	       size >> 20, folios, rounds);
	snprintf(keys, sizeof(keys), "what=success mib=%zu", size >> 20);
	report("successful", "refuse", keys, ok, rounds, folios, "folio", 0);
	snprintf(keys, sizeof(keys), "what=pinned-last mib=%zu", size >> 20);
	report("refused, last page", "refuse", keys, last, rounds, folios,
	       "folio", 0);
	snprintf(keys, sizeof(keys), "what=pinned-first mib=%zu", size >> 20);
	report("refused, first page", "refuse", keys, first, rounds, folios,
	       "folio", 0);
	fflush(stdout);
}

/* Sum of the "TLB" line of /proc/interrupts (TLB shootdowns received). */
static unsigned long tlb_ipis(void)
{
	FILE *f = fopen("/proc/interrupts", "r");
	unsigned long sum = 0;
	char line[512];

	while (f && fgets(line, sizeof(line), f)) {
		char *p = line, *e;

		while (*p == ' ')
			p++;
		if (strncmp(p, "TLB:", 4))
			continue;
		for (p += 4;; p = e) {
			unsigned long v = strtoul(p, &e, 10);

			if (e == p)
				break;
			sum += v;
		}
	}
	if (f)
		fclose(f);
	return sum;
}

static bool spin_stop;

/* Keeps the process's mm live on CPU 1: TLB flushes of it need an IPI. */
static void *spinner(void *arg)
{
	pin_cpu(1);
	while (!READ_ONCE(spin_stop))
		cpu_relax();
	return NULL;
}

/*
 * One conversion each way per size and folio size, with a thread of the
 * process spinning on the other vCPU; prints the TLB-flush IPIs each
 * conversion caused (scripts/bench-guest.sh counts kernel calls around
 * the same conversions with bpftrace).
 */
static void run_count(struct kvm_vm *vm, char **sizes, int n)
{
	pthread_t th;
	int i, h, d;

	pin_cpu(0);
	pthread_create(&th, NULL, spinner, NULL);
	usleep(100000);
	for (h = 0; h < 2; h++) {
		for (i = 0; i < n; i++) {
			size_t size = (size_t)atol(sizes[i]) << 20;
			unsigned long folios, ipis;
			int pfd, sfd;
			char *m;

			pfd = pair_create(vm, size, h, &sfd, &m);
			folios = populate_count(m, size, NULL);
			for (d = 0; d < 2; d++) {
				uint32_t dir = d ? GMEM_PAIR_TO_SHARED :
					GMEM_PAIR_TO_PRIVATE;

				ipis = tlb_ipis();
				convert_time(pfd, 0, size, dir);
				ipis = tlb_ipis() - ipis;
				printf("BENCH count kind=%s dir=%s mib=%zu units=%lu ipis=%lu\n",
				       h ? "2M" : "4K",
				       d ? "to-shared" : "to-private",
				       size >> 20, folios, ipis);
			}
			check_contents(m, size);
			pair_destroy(pfd, sfd, m, size);
		}
	}
	WRITE_ONCE(spin_stop, true);
	pthread_join(th, NULL);
	fflush(stdout);
}

/* 4K conversions both ways, nothing else timed: for a sampling profiler. */
static void run_profile(struct kvm_vm *vm, size_t size, int rounds)
{
	unsigned long folios = 0;
	int pfd, sfd, r;
	char *m;

	pfd = pair_create(vm, size, false, &sfd, &m);
	folios = populate_count(m, size, NULL);
	for (r = 0; r < rounds; r++) {
		convert_time(pfd, 0, size, GMEM_PAIR_TO_PRIVATE);
		convert_time(pfd, 0, size, GMEM_PAIR_TO_SHARED);
	}
	check_contents(m, size);
	pair_destroy(pfd, sfd, m, size);
	printf("BENCH profile kind=4K mib=%zu units=%lu rounds=%d\n",
	       size >> 20, folios, rounds);
	fflush(stdout);
}

/*
 * Fault latency next to a conversion.  A child process on CPU 1 maps only
 * the last 16 MiB of the pair's memfd, which no conversion touches, and
 * faults its pages one after another (write, then MADV_DONTNEED so that
 * the next write faults again; the pages stay in the memfd).  Conditions:
 * idle (nothing else runs), a conversion of another pair of the same size,
 * a conversion of the pair itself (to-private and back), and CPU 0 busy in
 * user space for as long as the other pair's conversions took: what
 * sharing the machine costs (under TCG one vCPU runs at a time).
 */
#define LAT_EXTRA	(16UL << 20)
#define LAT_MAX		BIT(20)

struct lat_shared {
	int stop;
	unsigned long n;
	double sample[LAT_MAX];
};

static void lat_child(int sfd, size_t off, struct lat_shared *sh, int cmd,
		      int ack)
{
	char *m, c;

	pin_cpu(1);
	m = mmap(NULL, LAT_EXTRA, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, off);
	TEST_ASSERT(m != MAP_FAILED, "child mmap");
	while (read(cmd, &c, 1) == 1 && c != 'q') {
		unsigned long limit = c == 'i' ? 20000 : LAT_MAX;
		unsigned long n = 0, i = 0;

		while (n < limit && !(c != 'i' && READ_ONCE(sh->stop))) {
			double t = now();

			m[i] = 1;
			sh->sample[n++] = now() - t;
			madvise(m + i, 4096, MADV_DONTNEED);
			i = (i + 4096) % LAT_EXTRA;
			if (n == 64)
				TEST_ASSERT(write(ack, "s", 1) == 1, "ack");
		}
		WRITE_ONCE(sh->n, n);
		TEST_ASSERT(write(ack, "d", 1) == 1, "ack");
	}
	exit(0);
}

static void lat_report(const char *cond, struct lat_shared *sh, double conv,
		       size_t size)
{
	unsigned long n = sh->n;
	double p50, p99, max;

	qsort(sh->sample, n, sizeof(double), cmp_double);
	p50 = sh->sample[n / 2];
	p99 = sh->sample[n * 99 / 100];
	max = sh->sample[n - 1];
	printf("  %-10s %7lu faults p50 %9.0f ns p99 %9.0f ns max %11.0f ns conv %.0f ns\n",
	       cond, n, p50 * 1e9, p99 * 1e9, max * 1e9, conv * 1e9);
	printf("BENCH latency cond=%s mib=%zu units=%lu p50=%.0f p99=%.0f max=%.0f conv=%.0f\n",
	       cond, size >> 20, n, p50 * 1e9, p99 * 1e9, max * 1e9,
	       conv * 1e9);
}

static void run_latency(struct kvm_vm *vm, size_t size, int rounds)
{
	int cmd[2], ack[2], pfd, sfd, pfd2, sfd2, r, c;
	static const char * const cond[] = {
		"idle", "other-pair", "same-pair", "busy",
	};
	struct lat_shared *sh;
	double t, busy = 0;
	char *m, *m2, x;
	pid_t pid;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(sh != MAP_FAILED, "mmap samples");
	pfd = pair_create(vm, size + LAT_EXTRA, false, &sfd, &m);
	populate(m, size + LAT_EXTRA);
	pfd2 = pair_create(vm, size, false, &sfd2, &m2);
	populate(m2, size);
	TEST_ASSERT(!pipe(cmd) && !pipe(ack), "pipe");
	pin_cpu(0);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid)
		lat_child(sfd, size, sh, cmd[0], ack[1]);
	printf("fault latency next to a %zu MiB conversion (4K folios), %d rounds:\n",
	       size >> 20, rounds);
	for (r = 0; r < rounds; r++) {
		for (c = 0; c < 4; c++) {
			int f = c == 1 ? pfd2 : pfd;

			WRITE_ONCE(sh->stop, 0);
			TEST_ASSERT(write(cmd[1], c ? "c" : "i", 1) == 1, "cmd");
			TEST_ASSERT(read(ack[0], &x, 1) == 1 && x == 's', "ack");
			t = 0;
			if (c == 1 || c == 2) {
				t = convert_time(f, 0, size, GMEM_PAIR_TO_PRIVATE);
				t += convert_time(f, 0, size, GMEM_PAIR_TO_SHARED);
			} else if (c == 3) {
				/* as long as the other pair's conversions, in user space */
				t = now();
				while (now() - t < busy)
					;
				t = now() - t;
			}
			if (c == 1)
				busy = t;
			WRITE_ONCE(sh->stop, 1);
			TEST_ASSERT(read(ack[0], &x, 1) == 1 && x == 'd', "ack");
			lat_report(cond[c], sh, t, size);
		}
	}
	TEST_ASSERT(write(cmd[1], "q", 1) == 1, "cmd");
	waitpid(pid, NULL, 0);
	check_contents(m, size);
	pair_destroy(pfd, sfd, m, size + LAT_EXTRA);
	pair_destroy(pfd2, sfd2, m2, size);
	fflush(stdout);
}

static int rounds_arg(const char *s)
{
	int rounds = atoi(s);

	TEST_ASSERT(rounds > 0 && rounds <= MAX_ROUNDS, "rounds: 1 to %d",
		    MAX_ROUNDS);
	return rounds;
}

int main(int argc, char **argv)
{
	struct kvm_vm *vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	const char *mode = argc > 1 ? argv[1] : "";
	int i;

	if (!strcmp(mode, "sweep") && argc > 3) {
		for (i = 3; i < argc; i++) {
			bench(vm, (size_t)atol(argv[i]) << 20,
			      rounds_arg(argv[2]), false);
			bench(vm, (size_t)atol(argv[i]) << 20,
			      rounds_arg(argv[2]), true);
		}
	} else if (!strcmp(mode, "fault") && argc > 3) {
		run_fault(vm, (size_t)atol(argv[3]) << 20, rounds_arg(argv[2]));
	} else if (!strcmp(mode, "refuse") && argc > 3) {
		run_refuse(vm, (size_t)atol(argv[3]) << 20, rounds_arg(argv[2]));
	} else if (!strcmp(mode, "count") && argc > 2) {
		run_count(vm, argv + 2, argc - 2);
	} else if (!strcmp(mode, "profile") && argc > 3) {
		run_profile(vm, (size_t)atol(argv[3]) << 20, rounds_arg(argv[2]));
	} else if (!strcmp(mode, "latency") && argc > 2) {
		run_latency(vm, (size_t)atol(argv[2]) << 20,
			    argc > 3 ? rounds_arg(argv[3]) : 1);
	} else {
		size_t size = (size_t)(argc > 1 ? atol(argv[1]) : 256) << 20;
		int rounds = argc > 2 ? rounds_arg(argv[2]) : 5;

		TEST_ASSERT(size, "usage: see the head of gmem_pair_bench.c");
		bench(vm, size, rounds, false);
		bench(vm, size, rounds, true);
	}
	kvm_vm_free(vm);
	return 0;
}
