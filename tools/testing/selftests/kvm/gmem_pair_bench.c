// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair_bench: conversion of a range by moving folios, against a copy
 * hand-off of the same bytes, side by side in one boot.  Prints times, the
 * copy/move ratio and the cost per folio; asserts nothing.
 *
 *   gmem_pair_bench [MiB] [rounds]       (default 256 MiB, 3 rounds)
 *
 * Copy hand-off: allocate the destination pages (fallocate of a second
 * memfd), memcpy, free the source (punch hole) -- what a VMM does today
 * to move data between a shared and a private backing without the pair.
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

static double copy_handoff(size_t size)
{
	int src = memfd_create("src", 0), dst = memfd_create("dst", 0);
	char *s, *d;
	double t;

	TEST_ASSERT(src >= 0 && dst >= 0, "memfd_create");
	TEST_ASSERT(!ftruncate(src, size) && !ftruncate(dst, size), "ftruncate");
	s = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, src, 0);
	d = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, dst, 0);
	TEST_ASSERT(s != MAP_FAILED && d != MAP_FAILED, "mmap");
	populate(s, size, false);

	t = now();
	TEST_ASSERT(!fallocate(dst, 0, 0, size), "fallocate");
	memcpy(d, s, size);
	TEST_ASSERT(!fallocate(src, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       0, size), "punch");
	t = now() - t;

	munmap(s, size);
	munmap(d, size);
	close(src);
	close(dst);
	return t;
}

static void bench(struct kvm_vm *vm, size_t size, int rounds, bool huge)
{
	double to_priv = 0, to_shared = 0, copy = 0;
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
		to_priv += convert_time(pfd, size, GMEM_PAIR_TO_PRIVATE);
		to_shared += convert_time(pfd, size, GMEM_PAIR_TO_SHARED);
		for (size_t i = 0; i < size; i += 4096)
			TEST_ASSERT(m[i] == (char)(i >> 12), "contents at %#zx", i);
		munmap(m, size);
		close(sfd);
		close(pfd);
		copy += copy_handoff(size);
	}
	to_priv /= rounds;
	to_shared /= rounds;
	copy /= rounds;
	printf("%s %zu MiB (%lu folios, %ld kB of them 2M), mean of %d rounds:\n",
	       huge ? "MADV_HUGEPAGE" : "4K", size >> 20, folios, huge_kb,
	       rounds);
	printf("  move to-private %8.4f s  %8.2f us/folio  copy/move %7.1fx\n",
	       to_priv, to_priv * 1e6 / folios, copy / to_priv);
	printf("  move to-shared  %8.4f s  %8.2f us/folio  copy/move %7.1fx\n",
	       to_shared, to_shared * 1e6 / folios, copy / to_shared);
	printf("  copy hand-off   %8.4f s  %8.2f us/4K-page\n",
	       copy, copy * 1e6 / (size / 4096));
}

int main(int argc, char **argv)
{
	size_t size = (argc > 1 ? atol(argv[1]) : 256) << 20;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	struct kvm_vm *vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);

	bench(vm, size, rounds, false);
	bench(vm, size, rounds, true);
	kvm_vm_free(vm);
	return 0;
}
