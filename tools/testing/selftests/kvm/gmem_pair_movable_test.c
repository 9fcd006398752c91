// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair_movable_test: shared pages of a pair live where any memfd page
 * lives, ZONE_MOVABLE included, and migrate like any memfd page; private
 * pages never live on ZONE_MOVABLE.  Needs a boot with movablecore= and
 * two NUMA nodes (tests/boot.movable).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/gmem_pair.h>
#include <linux/mempolicy.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kvm_util.h"
#include "test_util.h"
#include "gmem_pair_util.h"
#include "../kselftest_harness.h"

#define NR_PAGES	32
#define PAIR_SIZE	(NR_PAGES * 4096UL)

static size_t page_size;

static uint64_t pfn_of(void *addr)
{
	uint64_t ent = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &ent, sizeof(ent),
		  (unsigned long)addr / page_size * sizeof(ent)) != sizeof(ent))
		ent = 0;
	close(fd);
	if (!(ent & (1ULL << 63)))
		return 0;
	return ent & ((1ULL << 55) - 1);
}

/* [start, end) pfns of every ZONE_MOVABLE, from /proc/zoneinfo */
static int movable_zones(uint64_t zones[][2], int max)
{
	char line[256];
	int n = 0, in_movable = 0;
	uint64_t spanned = 0, start;
	FILE *f = fopen("/proc/zoneinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Node", 4)) {
			in_movable = !!strstr(line, "Movable");
			continue;
		}
		if (!in_movable || n >= max)
			continue;
		if (sscanf(line, " spanned %lu", &spanned) == 1)
			continue;
		if (sscanf(line, " start_pfn: %lu", &start) == 1) {
			zones[n][0] = start;
			zones[n][1] = start + spanned;
			n++;
		}
	}
	if (f)
		fclose(f);
	return n;
}

static bool pfn_movable(uint64_t pfn)
{
	uint64_t z[8][2];
	int i, n = movable_zones(z, 8);

	for (i = 0; i < n; i++)
		if (pfn >= z[i][0] && pfn < z[i][1])
			return true;
	return false;
}

FIXTURE(pair) {
	struct kvm_vm *vm;
	int pfd, sfd;
	char *mem;
};

FIXTURE_SETUP(pair)
{
	unsigned long node1 = 1UL << 1;

	page_size = getpagesize();
	/* tests/boot.movable gives node 1 the ZONE_MOVABLE: allocate there. */
	ASSERT_EQ(syscall(__NR_set_mempolicy, MPOL_PREFERRED, &node1,
			  sizeof(node1) * 8), 0);
	self->vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	self->pfd = __vm_create_guest_memfd(self->vm, PAIR_SIZE,
					    GUEST_MEMFD_FLAG_PAIRED |
					    GUEST_MEMFD_FLAG_PAIR_SHARED);
	ASSERT_GE(self->pfd, 0);
	self->sfd = ioctl(self->pfd, GMEM_PAIR_GET_SHARED_FD, 0);
	ASSERT_GE(self->sfd, 0);
	self->mem = mmap(NULL, PAIR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 self->sfd, 0);
	ASSERT_NE(self->mem, MAP_FAILED);
	for (size_t i = 0; i < PAIR_SIZE; i++)
		self->mem[i] = (char)(i * 7 + i / page_size);
}

FIXTURE_TEARDOWN(pair)
{
	munmap(self->mem, PAIR_SIZE);
	close(self->sfd);
	close(self->pfd);
	kvm_vm_free(self->vm);
}

static bool intact(const char *m)
{
	for (size_t i = 0; i < PAIR_SIZE; i++)
		if (m[i] != (char)(i * 7 + i / page_size))
			return false;
	return true;
}

/* The boot gives shmem ZONE_MOVABLE pages; to-private refuses them. */
TEST_F(pair, movable_page_refused_then_migrated)
{
	struct gmem_pair_convert out;
	uint64_t z[8][2];
	int first = -1, i;

	ASSERT_GT(movable_zones(z, 8), 0) TH_LOG("boot has no ZONE_MOVABLE");
	for (i = 0; i < NR_PAGES && first < 0; i++)
		if (pfn_movable(pfn_of(self->mem + i * page_size)))
			first = i;
	ASSERT_GE(first, 0) TH_LOG("no memfd page landed on ZONE_MOVABLE");

	EXPECT_EQ(pair_convert(self->pfd, 0, PAIR_SIZE, GMEM_PAIR_TO_PRIVATE, 0,
			       &out), -1);
	EXPECT_EQ(errno, EXDEV);
	EXPECT_EQ(out.error_reason, GMEM_PAIR_ERR_MOVABLE);
	EXPECT_EQ(out.error_offset, first * page_size);
	EXPECT_EQ(pair_stats(self->pfd).private_pages, 0);
	EXPECT_EQ(pair_stats(self->pfd).refused_movable, 1);
	EXPECT_TRUE(intact(self->mem));

	ASSERT_EQ(pair_convert(self->pfd, 0, PAIR_SIZE, GMEM_PAIR_TO_PRIVATE,
			       GMEM_PAIR_CONVERT_MIGRATE, &out), 0)
		TH_LOG("%s at %#llx, reason %u", strerror(errno),
		       (unsigned long long)out.error_offset, out.error_reason);
	EXPECT_EQ(pair_stats(self->pfd).private_pages, NR_PAGES);
	EXPECT_GT(pair_stats(self->pfd).migrated_pages, 0);

	/* Back to shared: the same folios, none of them movable. */
	ASSERT_EQ(pair_convert(self->pfd, 0, PAIR_SIZE, GMEM_PAIR_TO_SHARED, 0,
			       NULL), 0);
	EXPECT_TRUE(intact(self->mem));
	for (i = 0; i < NR_PAGES; i++)
		EXPECT_FALSE(pfn_movable(pfn_of(self->mem + i * page_size)));
}

/* Shared pages migrate between nodes; private offsets have nothing to move. */
TEST_F(pair, shared_pages_migrate)
{
	struct gmem_pair_convert out;
	void *pages[NR_PAGES];
	int nodes[NR_PAGES], status[NR_PAGES], i;

	ASSERT_EQ(access("/sys/devices/system/node/node1", F_OK), 0)
		TH_LOG("boot needs two NUMA nodes");
	for (i = 0; i < NR_PAGES; i++) {
		pages[i] = self->mem + i * page_size;
		nodes[i] = 1;
	}
	ASSERT_EQ(syscall(__NR_move_pages, 0, NR_PAGES, pages, nodes, status,
			  MPOL_MF_MOVE), 0);
	for (i = 0; i < NR_PAGES; i++)
		EXPECT_EQ(status[i], 1);
	EXPECT_TRUE(intact(self->mem));

	ASSERT_EQ(pair_convert(self->pfd, 0, PAIR_SIZE / 2, GMEM_PAIR_TO_PRIVATE,
			       GMEM_PAIR_CONVERT_MIGRATE, &out), 0)
		TH_LOG("%s at %#llx, reason %u", strerror(errno),
		       (unsigned long long)out.error_offset, out.error_reason);
	for (i = 0; i < NR_PAGES; i++)
		nodes[i] = 0;
	ASSERT_EQ(syscall(__NR_move_pages, 0, NR_PAGES, pages, nodes, status,
			  MPOL_MF_MOVE), 0);
	for (i = 0; i < NR_PAGES / 2; i++)
		EXPECT_LT(status[i], 0);	/* private: not mapped, no page */
	for (; i < NR_PAGES; i++)
		EXPECT_EQ(status[i], 0);
}

TEST_HARNESS_MAIN
