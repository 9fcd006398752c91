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

/* A pfn of 0 (pagemap unreadable) is never "not movable". */
static bool pfn_movable(uint64_t pfn)
{
	uint64_t z[8][2];
	int i, n = movable_zones(z, 8);

	if (!pfn)
		return true;

	for (i = 0; i < n; i++)
		if (pfn >= z[i][0] && pfn < z[i][1])
			return true;
	return false;
}

FIXTURE(pair) {
	struct gmem_pair_vm p;
};

FIXTURE_SETUP(pair)
{
	unsigned long node1 = 1UL << 1;

	page_size = getpagesize();
	/* tests/boot.movable gives node 1 the ZONE_MOVABLE: allocate there. */
	ASSERT_EQ(syscall(__NR_set_mempolicy, MPOL_PREFERRED, &node1,
			  sizeof(node1) * 8), 0);
	ASSERT_EQ(gmem_pair_vm_open(&self->p, NULL, PAIR_SIZE,
				    GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED, 0, false), 0);
	for (size_t i = 0; i < PAIR_SIZE; i++)
		self->p.mem[i] = (char)(i * 7 + i / page_size);
}

FIXTURE_TEARDOWN(pair)
{
	gmem_pair_vm_close(&self->p);
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
		if (pfn_movable(pfn_of(self->p.mem + i * page_size)))
			first = i;
	ASSERT_GE(first, 0) TH_LOG("no memfd page landed on ZONE_MOVABLE");

	EXPECT_EQ(pair_convert(self->p.pfd, 0, PAIR_SIZE, GMEM_PAIR_TO_PRIVATE, 0,
			       &out), -1);
	EXPECT_EQ(errno, EXDEV);
	EXPECT_EQ(out.error_reason, GMEM_PAIR_ERR_MOVABLE);
	EXPECT_EQ(out.error_offset, first * page_size);
	EXPECT_EQ(pair_stats(self->p.pfd).private_pages, 0);
	EXPECT_EQ(pair_stats(self->p.pfd).refused_movable, 1);
	EXPECT_TRUE(intact(self->p.mem));

	ASSERT_EQ(pair_convert(self->p.pfd, 0, PAIR_SIZE, GMEM_PAIR_TO_PRIVATE,
			       GMEM_PAIR_CONVERT_MIGRATE, &out), 0)
		TH_LOG("%s at %#llx, reason %u", strerror(errno),
		       (unsigned long long)out.error_offset, out.error_reason);
	EXPECT_EQ(pair_stats(self->p.pfd).private_pages, NR_PAGES);
	EXPECT_GT(pair_stats(self->p.pfd).migrated_pages, 0);

	/* Back to shared: the same folios, none of them movable. */
	ASSERT_EQ(pair_convert(self->p.pfd, 0, PAIR_SIZE, GMEM_PAIR_TO_SHARED, 0,
			       NULL), 0);
	EXPECT_TRUE(intact(self->p.mem));
	for (i = 0; i < NR_PAGES; i++)
		EXPECT_FALSE(pfn_movable(pfn_of(self->p.mem + i * page_size)));
}

/*
 * A ZONE_MOVABLE page that a pipe references (vmsplice(): a FOLL_GET
 * reference, not a pin) cannot migrate while the pipe holds it.  With
 * GMEM_PAIR_CONVERT_MIGRATE the conversion is refused for that reference
 * (EBUSY, ERR_REFERENCED, after the drain and retry), not as a page on
 * ZONE_MOVABLE (EXDEV, ERR_MOVABLE), which the caller asked to have
 * migrated; once the pipe is read, the same conversion migrates the page.
 * It used to be refused with EXDEV.
 */
TEST_F(pair, referenced_movable_page_is_busy_not_movable)
{
	struct gmem_pair_stats st0, st, st1;
	struct gmem_pair_convert out;
	int pipefd[2], last = -1, i;
	struct iovec iov;
	uint64_t pfn = 0;
	char *page, *buf;

	/* The last one: the pages before it are collected, then put back. */
	for (i = NR_PAGES - 1; i >= 0 && last < 0; i--) {
		pfn = pfn_of(self->p.mem + i * page_size);
		if (pfn && pfn_movable(pfn))
			last = i;
	}
	ASSERT_GE(last, 0) TH_LOG("no memfd page landed on ZONE_MOVABLE");
	page = self->p.mem + last * page_size;
	buf = malloc(page_size);
	ASSERT_NE(buf, NULL);

	/* The pipe keeps its reference to the page until it is read. */
	ASSERT_EQ(pipe(pipefd), 0);
	iov.iov_base = page;
	iov.iov_len = page_size;
	ASSERT_EQ(vmsplice(pipefd[1], &iov, 1, 0), page_size)
		TH_LOG("vmsplice: %s", strerror(errno));
	st0 = pair_stats(self->p.pfd);

	EXPECT_EQ(pair_convert(self->p.pfd, 0, PAIR_SIZE, GMEM_PAIR_TO_PRIVATE,
			       GMEM_PAIR_CONVERT_MIGRATE, &out), -1);
	EXPECT_EQ(errno, EBUSY)
		TH_LOG("%s at %#llx, reason %u", strerror(errno),
		       (unsigned long long)out.error_offset, out.error_reason);
	EXPECT_EQ(out.error_reason, GMEM_PAIR_ERR_REFERENCED);
	EXPECT_EQ(out.error_offset, last * page_size);

	/* Nothing changed: every page shared, in place, contents kept. */
	st = pair_stats(self->p.pfd);
	EXPECT_EQ(st.private_pages, 0);
	EXPECT_EQ(st.shared_pages, NR_PAGES);
	EXPECT_EQ(st.to_private_pages, st0.to_private_pages);
	EXPECT_EQ(st.conversions, st0.conversions);
	EXPECT_EQ(st.refused_pinned, st0.refused_pinned + 1);
	EXPECT_EQ(st.refused_movable, st0.refused_movable);
	EXPECT_TRUE(intact(self->p.mem));
	EXPECT_EQ(pfn_of(page), pfn) TH_LOG("the referenced page moved");

	/* The pipe still reads the page; then it lets go of it. */
	ASSERT_EQ(read(pipefd[0], buf, page_size), page_size);
	EXPECT_EQ(memcmp(buf, page, page_size), 0);
	close(pipefd[0]);
	close(pipefd[1]);
	free(buf);

	ASSERT_EQ(pair_convert(self->p.pfd, 0, PAIR_SIZE, GMEM_PAIR_TO_PRIVATE,
			       GMEM_PAIR_CONVERT_MIGRATE, &out), 0)
		TH_LOG("%s at %#llx, reason %u", strerror(errno),
		       (unsigned long long)out.error_offset, out.error_reason);
	st1 = pair_stats(self->p.pfd);
	EXPECT_EQ(st1.private_pages, NR_PAGES);
	/* the page the pipe held, at least, migrated only now */
	EXPECT_GT(st1.migrated_pages, st.migrated_pages);
	ASSERT_EQ(pair_convert(self->p.pfd, 0, PAIR_SIZE, GMEM_PAIR_TO_SHARED, 0,
			       NULL), 0);
	EXPECT_TRUE(intact(self->p.mem));
	for (i = 0; i < NR_PAGES; i++)
		EXPECT_FALSE(pfn_movable(pfn_of(self->p.mem + i * page_size)));
}

/* NUMA node of @pfn, from the memory block it is in; -1 if unknown. */
static int node_of_pfn(uint64_t pfn)
{
	unsigned long block = 0;
	char path[128];
	FILE *f;
	int node;

	f = fopen("/sys/devices/system/memory/block_size_bytes", "r");
	if (!f || fscanf(f, "%lx", &block) != 1 || !block) {
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	for (node = 0; node < 8; node++) {
		snprintf(path, sizeof(path),
			 "/sys/devices/system/node/node%d/memory%lu", node,
			 (unsigned long)(pfn * page_size / block));
		if (!access(path, F_OK))
			return node;
	}
	return -1;
}

/*
 * Shared pages migrate between nodes like any memfd page, contents kept;
 * private offsets have nothing mapped to move (-ENOENT).  The fixture
 * allocates on node 1: the first move goes to node 0.
 */
TEST_F(pair, shared_pages_migrate)
{
	struct gmem_pair_convert out;
	void *pages[NR_PAGES];
	int nodes[NR_PAGES], status[NR_PAGES], i, to;

	ASSERT_EQ(access("/sys/devices/system/node/node1", F_OK), 0)
		TH_LOG("boot needs two NUMA nodes");
	for (to = 0; to < 2; to++) {
		for (i = 0; i < NR_PAGES; i++) {
			pages[i] = self->p.mem + i * page_size;
			nodes[i] = to;
		}
		ASSERT_EQ(syscall(__NR_move_pages, 0, NR_PAGES, pages, nodes,
				  status, MPOL_MF_MOVE), 0);
		for (i = 0; i < NR_PAGES; i++) {
			uint64_t pfn = pfn_of(self->p.mem + i * page_size);

			EXPECT_EQ(status[i], to);
			ASSERT_NE(pfn, 0) TH_LOG("pagemap gave no pfn");
			EXPECT_EQ(node_of_pfn(pfn), to);
		}
		EXPECT_TRUE(intact(self->p.mem));
	}

	ASSERT_EQ(pair_convert(self->p.pfd, 0, PAIR_SIZE / 2, GMEM_PAIR_TO_PRIVATE,
			       GMEM_PAIR_CONVERT_MIGRATE, &out), 0)
		TH_LOG("%s at %#llx, reason %u", strerror(errno),
		       (unsigned long long)out.error_offset, out.error_reason);
	for (i = 0; i < NR_PAGES; i++)
		nodes[i] = 0;
	ASSERT_EQ(syscall(__NR_move_pages, 0, NR_PAGES, pages, nodes, status,
			  MPOL_MF_MOVE), 0);
	for (i = 0; i < NR_PAGES / 2; i++)
		EXPECT_EQ(status[i], -ENOENT);	/* private: nothing mapped */
	for (; i < NR_PAGES; i++)
		EXPECT_EQ(status[i], 0);
	ASSERT_EQ(pair_convert(self->p.pfd, 0, PAIR_SIZE / 2, GMEM_PAIR_TO_SHARED,
			       0, NULL), 0);
	EXPECT_TRUE(intact(self->p.mem));
}

/*
 * A guest asking for private memory (KVM_SET_MEMORY_ATTRIBUTES, as a VMM
 * does on KVM_HC_MAP_GPA_RANGE) gets it even when the memfd's pages are on
 * ZONE_MOVABLE: KVM converts with GMEM_PAIR_CONVERT_MIGRATE.  It used to
 * fail with EXDEV on any host with movablecore=, movable_node or CMA.
 */
TEST_F(pair, kvm_to_private_migrates_movable)
{
	struct kvm_memory_attributes attr = {
		.address = 1ULL << 32,
		.size = PAIR_SIZE,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	bool movable = false;
	int i;

	for (i = 0; i < NR_PAGES; i++)
		movable |= pfn_movable(pfn_of(self->p.mem + i * page_size));
	ASSERT_TRUE(movable) TH_LOG("no memfd page landed on ZONE_MOVABLE");

	vm_set_user_memory_region2(self->p.vm, 10, KVM_MEM_GUEST_MEMFD,
				   attr.address, PAIR_SIZE, self->p.mem,
				   self->p.pfd, 0);
	ASSERT_EQ(__vm_ioctl(self->p.vm, KVM_SET_MEMORY_ATTRIBUTES, &attr), 0)
		TH_LOG("KVM_SET_MEMORY_ATTRIBUTES: %s", strerror(errno));
	EXPECT_EQ(pair_stats(self->p.pfd).private_pages, NR_PAGES);
	EXPECT_GT(pair_stats(self->p.pfd).migrated_pages, 0);

	attr.attributes = 0;
	ASSERT_EQ(__vm_ioctl(self->p.vm, KVM_SET_MEMORY_ATTRIBUTES, &attr), 0);
	EXPECT_TRUE(intact(self->p.mem));
	for (i = 0; i < NR_PAGES; i++)
		EXPECT_FALSE(pfn_movable(pfn_of(self->p.mem + i * page_size)));
}

/*
 * GMEM_PAIR_CONVERT_MIGRATE of a shmem THP on ZONE_MOVABLE: the migration
 * target must be unmovable memory (as for FOLL_LONGTERM pins).  It used to
 * be allocated with GFP_TRANSHUGE, movable again, and the conversion
 * migrated the same 2M forever, holding every lock of the pair.
 */
TEST(movable_thp_migrates_once)
{
	const size_t huge = 2UL << 20, size = 2 * huge;
	unsigned long node1 = 1UL << 1;
	struct gmem_pair_convert out;
	struct gmem_pair_vm p;
	char old[128], *m;
	long shmem_huge0;
	bool movable = false;
	int pfd;

	page_size = getpagesize();
	ASSERT_TRUE(shmem_thp_advise(old, sizeof(old)));
	ASSERT_EQ(syscall(__NR_set_mempolicy, MPOL_PREFERRED, &node1,
			  sizeof(node1) * 8), 0);
	ASSERT_EQ(gmem_pair_vm_open(&p, NULL, size, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED, 0, true), 0);
	pfd = p.pfd;
	m = p.mem;
	shmem_huge0 = meminfo_kb("ShmemHugePages:");
	for (size_t i = 0; i < size; i++)
		m[i] = (char)(i * 7 + i / page_size);
	ASSERT_EQ(meminfo_kb("ShmemHugePages:") - shmem_huge0, 4096)
		TH_LOG("the memfd did not get two 2M folios");
	for (size_t i = 0; i < huge; i += page_size)
		movable |= pfn_movable(pfn_of(m + i));
	ASSERT_TRUE(movable) TH_LOG("the first THP is not on ZONE_MOVABLE");

	/*
	 * A livelock is ended by the alarm: the conversion sees the fatal
	 * signal and the test dies of SIGALRM.
	 */
	alarm(60);
	ASSERT_EQ(pair_convert(pfd, 0, huge, GMEM_PAIR_TO_PRIVATE,
			       GMEM_PAIR_CONVERT_MIGRATE, &out), 0)
		TH_LOG("%s at %#llx, reason %u", strerror(errno),
		       (unsigned long long)out.error_offset, out.error_reason);
	alarm(0);
	EXPECT_EQ(pair_stats(pfd).private_pages, huge / page_size);
	EXPECT_GE(pair_stats(pfd).migrated_pages, huge / page_size);
	/* each page was migrated once */
	EXPECT_LE(pair_stats(pfd).migrated_pages, huge / page_size);

	ASSERT_EQ(pair_convert(pfd, 0, huge, GMEM_PAIR_TO_SHARED, 0, NULL), 0);
	for (size_t i = 0; i < size; i++) {
		ASSERT_EQ(m[i], (char)(i * 7 + i / page_size))
			TH_LOG("byte %zu changed", i);
	}
	for (size_t i = 0; i < huge; i += page_size)
		EXPECT_FALSE(pfn_movable(pfn_of(m + i)));
	gmem_pair_vm_close(&p);
	shmem_thp_restore(old);
}

TEST_HARNESS_MAIN
