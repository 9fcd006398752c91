// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair_bench: conversion of a range by moving folios, against a copy
 * hand-off of the same bytes, side by side in one boot.  Prints min and
 * median times of the rounds, the copy/move ratio of the medians and the
 * cost per folio; asserts only contents.
 *
 *   gmem_pair_bench [MiB] [rounds]       (default 256 MiB, 5 rounds)
 *
 * Copy hand-off: allocate the destination pages of a second memfd,
 * copy with rep movsq (not the selftests' byte-loop memcpy()), free the
 * source (punch hole) -- what a VMM does today to move data between a
 * shared and a private backing without the pair.  THP rows copy THP to
 * THP.  Under TCG, copies are emulated element by element: the ratios
 * flatter the move; see the README.
 * Large folios: with shmem_enabled=advise and MADV_HUGEPAGE the memfd is
 * populated with 2M folios first (the private file splits them, see
 * Documentation/mm/gmem_pair.rst).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/gmem_pair.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "kvm_util.h"
#include "test_util.h"
#include "gmem_pair_util.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double convert_time(int pfd, size_t size, uint32_t dir)
{
	struct gmem_pair_convert a = { .size = size, .direction = dir };
	double t = now();

	TEST_ASSERT(!ioctl(pfd, GMEM_PAIR_CONVERT, &a),
		    "convert: %s at %#llx reason %u", strerror(errno),
		    (unsigned long long)a.error_offset, a.error_reason);
	return now() - t;
}

static void populate(char *m, size_t size, bool huge)
{
	if (huge)
		TEST_ASSERT(!madvise(m, size, MADV_HUGEPAGE), "MADV_HUGEPAGE");
	for (size_t i = 0; i < size; i += 4096)
		m[i] = (char)(i >> 12);
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
	s = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, src, 0);
	d = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, dst, 0);
	TEST_ASSERT(s != MAP_FAILED && d != MAP_FAILED, "mmap");
	populate(s, size, huge);
	if (huge)
		TEST_ASSERT(!madvise(d, size, MADV_HUGEPAGE), "MADV_HUGEPAGE");

	t = now();
	if (huge) {
		for (size_t i = 0; i < size; i += 2UL << 20)
			d[i] = 0;
	} else {
		TEST_ASSERT(!fallocate(dst, 0, 0, size), "fallocate");
	}
	copy_words(d, s, size);
	TEST_ASSERT(!fallocate(src, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       0, size), "punch");
	t = now() - t;

	for (size_t i = 0; i < size; i += 4096)
		TEST_ASSERT(d[i] == (char)(i >> 12), "copy at %#zx", i);
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

static void report(const char *what, double *v, int n, unsigned long units,
		   const char *unit, double copy_median)
{
	double min, median;

	min_median(v, n, &min, &median);
	printf("  %-16s min %8.4f s  median %8.4f s  %8.2f us/%s (median)",
	       what, min, median, median * 1e6 / units, unit);
	if (copy_median)
		printf("  copy/move %6.1fx", copy_median / median);
	printf("\n");
}

#define MAX_ROUNDS	64

static void bench(struct kvm_vm *vm, size_t size, int rounds, bool huge)
{
	double to_priv[MAX_ROUNDS], to_shared[MAX_ROUNDS], copy[MAX_ROUNDS];
	double copy_min, copy_median, tmp[MAX_ROUNDS];
	unsigned long folios = 0;
	int pfd, sfd, r;
	long huge_kb = 0;
	char *m;

	for (r = 0; r < rounds; r++) {
		pfd = __vm_create_guest_memfd(vm, size, GUEST_MEMFD_FLAG_PAIRED |
					      GUEST_MEMFD_FLAG_PAIR_SHARED);
		TEST_ASSERT(pfd >= 0, "paired guest_memfd: %s", strerror(errno));
		sfd = ioctl(pfd, GMEM_PAIR_GET_SHARED_FD, 0);
		m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
		TEST_ASSERT(m != MAP_FAILED, "mmap");
		huge_kb = meminfo_kb("ShmemHugePages:");
		populate(m, size, huge);
		/* folios the conversion moves: 2M ones, the rest 4K */
		huge_kb = meminfo_kb("ShmemHugePages:") - huge_kb;
		folios = huge_kb / 2048 + (size / 1024 - huge_kb) / 4;
		to_priv[r] = convert_time(pfd, size, GMEM_PAIR_TO_PRIVATE);
		to_shared[r] = convert_time(pfd, size, GMEM_PAIR_TO_SHARED);
		for (size_t i = 0; i < size; i += 4096)
			TEST_ASSERT(m[i] == (char)(i >> 12), "contents at %#zx", i);
		munmap(m, size);
		close(sfd);
		close(pfd);
		copy[r] = copy_handoff(size, huge);
	}
	memcpy(tmp, copy, sizeof(copy[0]) * rounds);
	min_median(tmp, rounds, &copy_min, &copy_median);
	printf("%s %zu MiB (%lu folios, %ld kB of them 2M), %d rounds",
	       huge ? "MADV_HUGEPAGE" : "4K", size >> 20, folios, huge_kb,
	       rounds);
	printf(" (TCG wall time, not hardware):\n");
	report("move to-private", to_priv, rounds, folios, "folio", copy_median);
	report("move to-shared", to_shared, rounds, folios, "folio",
	       copy_median);
	report(huge ? "copy THP->THP" : "copy 4K->4K", copy, rounds,
	       size / 4096, "4K", 0);
}

int main(int argc, char **argv)
{
	size_t size = (argc > 1 ? atol(argv[1]) : 256) << 20;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	struct kvm_vm *vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);

	TEST_ASSERT(rounds > 0 && rounds <= MAX_ROUNDS, "rounds: 1 to %d",
		    MAX_ROUNDS);
	bench(vm, size, rounds, false);
	bench(vm, size, rounds, true);
	kvm_vm_free(vm);
	return 0;
}
