// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair_failnth_test: fault injection into the gmem_pair ioctls.
 *
 * /proc/self/task/TID/fail-nth fails the n-th fault site (slab, page
 * allocator, user copy) that the next system calls of this thread reach.
 * Each test sweeps one operation: for n = 1, 2, ... it builds a fresh pair
 * in a known mixed state with known contents, arms fail-nth = n right
 * before the one call under test and disarms it right after.
 *
 * A call that fails must return one of the expected errnos and leave the
 * state map, the counters and every page's contents exactly as before.  A
 * call that succeeds (with no fault injected, or with one it recovered
 * from) must have done all of its work.  The sweep ends at the first n the
 * call no longer reaches.  At the end no memory and no VM may be left
 * behind; the harness scans the kernel log for splats.
 *
 * The KVM sweeps bind the pair to a memslot and convert through
 * KVM_SET_MEMORY_ATTRIBUTES, or sweep the binding itself.
 *
 * Needs CONFIG_FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC,
 * FAULT_INJECTION_USERCOPY and FAULT_INJECTION_DEBUG_FS (the debug profile).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/gmem_pair.h>
#include <linux/mempolicy.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kvm_util.h"
#include "test_util.h"
#include "gmem_pair_util.h"
#include "../kselftest_harness.h"

#define SMALL_PAGES	64		/* the usual pair */
#define HUGE_PAGES	512		/* one 2M THP */
#define THP_PAGES	(2 * HUGE_PAGES)	/* a pair of two THPs */
#define MAX_PAGES	THP_PAGES
#define MAX_NTH		2000		/* more fault sites than that: a bug */
#define SWEEP_TIMEOUT	900		/* seconds per test, TCG and KASAN */

#define DEBUGFS		"/sys/kernel/debug"
#define THP_SHMEM	"/sys/kernel/mm/transparent_hugepage/shmem_enabled"

static size_t page_size;

static const char * const state_name[] = {
	[GMEM_PAIR_STATE_SHARED]	= "shared",
	[GMEM_PAIR_STATE_SHARED_HOLE]	= "shared-hole",
	[GMEM_PAIR_STATE_PRIVATE]	= "private",
	[GMEM_PAIR_STATE_PRIVATE_HOLE]	= "private-hole",
};

/*
 * What a failed call may return.  Not EXDEV: an injected failure is no page
 * on ZONE_MOVABLE, and a migration (GMEM_PAIR_CONVERT_MIGRATE) that fails
 * for want of memory is ENOMEM.
 */
static const int ok_errno[] = {
	ENOMEM, EFAULT, ENOSPC, EINTR, EAGAIN, EBUSY,
};

static const char * const ok_errno_name[] = {
	"ENOMEM", "EFAULT", "ENOSPC", "EINTR", "EAGAIN", "EBUSY",
};

/* One pair under test. */
struct pair {
	struct kvm_vm *vm;
	int pfd;			/* private file (guest_memfd) */
	int sfd;			/* shared memfd */
	char *area;			/* what to munmap() */
	size_t area_size;
	char *mem;			/* the memfd, MAP_SHARED */
	size_t nr_pages;
	bool zero[MAX_PAGES];		/* page reads zeros once shared */
};

/* The state map and counters of a pair, from GMEM_PAIR_QUERY. */
struct snapshot {
	uint32_t nr_ext;
	struct gmem_pair_extent ext[MAX_PAGES];
	uint8_t state[MAX_PAGES];
	struct gmem_pair_stats stats;
};

/* How the calls of one sweep ended. */
struct sweep_count {
	unsigned int failed[ARRAY_SIZE(ok_errno)];
	unsigned int absorbed;		/* fault injected, call succeeded */
};

/* /proc/meminfo fields the leak check compares. */
struct mem_usage {
	long memfree;
	long shmem;
	long unevictable;
	long file;
	int vms;			/* this process's VMs in debugfs */
};

/* Steps that put a freshly filled pair in a mixed state. */
enum step_kind {
	STEP_PRIVATE,			/* to-private: private, resident */
	STEP_DISCARD,			/* to-private, discard: private hole */
	STEP_PUNCH,			/* punch the memfd: shared hole */
};

struct step {
	uint32_t first;
	uint32_t nr;
	enum step_kind kind;
};

static const struct step small_steps[] = {
	{  4, 4, STEP_PRIVATE },
	{ 40, 4, STEP_PUNCH },
	{ 48, 4, STEP_DISCARD },
	{ 56, 4, STEP_PRIVATE },
};

/* 4 MiB pairs: the second THP splits, the first one stays whole. */
static const struct step thp_steps[] = {
	{ 1000, 8, STEP_PRIVATE },
	{ 1016, 4, STEP_PUNCH },
	{ 1020, 4, STEP_DISCARD },
};

/* A conversion swept under fault injection. */
struct conv_case {
	const char *name;
	bool thp;			/* 4 MiB pair of shmem THPs */
	bool range_private;		/* make the range private first */
	uint32_t first;			/* the range, in pages */
	uint32_t nr;
	uint32_t dir;
	uint32_t flags;
	bool via_kvm;			/* KVM_SET_MEMORY_ATTRIBUTES on a slot */
	bool movable;			/* the memfd on ZONE_MOVABLE if the boot has one */
};

/* Where the KVM sweeps bind the pair. */
#define PAIR_SLOT	1
#define PAIR_GPA	0x40000000ULL	/* 1 GiB */

FIXTURE(failnth) {
	int fail_fd;			/* /proc/self/task/TID/fail-nth */
	bool thp_saved;
	char thp_old[64];		/* shmem_enabled before the test */
};

/*
 * Let fail-nth fail every allocation of this task: sleeping ones too (else
 * GFP_KERNEL is never failed), any order, no stack dumps in the log.
 */
static void setup_fault_injection(struct __test_metadata *_metadata)
{
	static const char * const knobs[][2] = {
		{ DEBUGFS "/failslab/ignore-gfp-wait", "N" },
		{ DEBUGFS "/failslab/cache-filter", "N" },
		{ DEBUGFS "/failslab/verbose", "0" },
		{ DEBUGFS "/fail_page_alloc/ignore-gfp-wait", "N" },
		{ DEBUGFS "/fail_page_alloc/ignore-gfp-highmem", "N" },
		{ DEBUGFS "/fail_page_alloc/min-order", "0" },
		{ DEBUGFS "/fail_page_alloc/verbose", "0" },
	};
	size_t i;

	if (access(DEBUGFS "/failslab", F_OK))
		mount("debugfs", DEBUGFS, "debugfs", 0, NULL);
	for (i = 0; i < ARRAY_SIZE(knobs); i++)
		if (!write_knob(knobs[i][0], knobs[i][1]))
			break;
	ASSERT_EQ(i, ARRAY_SIZE(knobs))
		TH_LOG("cannot write %s to %s: %s (FAILSLAB, FAIL_PAGE_ALLOC, debugfs?)",
		       knobs[i][1], knobs[i][0], strerror(errno));
	/* quiet as well, where the kernel has it */
	ASSERT_TRUE(access(DEBUGFS "/fail_usercopy", F_OK) ||
		    write_knob(DEBUGFS "/fail_usercopy/verbose", "0"));
}

/* Fail the n-th fault site this thread reaches from now on. */
static int fail_nth_arm(int fd, unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	return pwrite(fd, buf, len, 0) == len ? 0 : -1;
}

/*
 * Disarm fail-nth; true if the fault was injected, i.e. the kernel counted
 * it down to 0.  Reading and writing the file are fault sites themselves
 * (user copies): with one site left, the read fails with EFAULT, and a
 * write that fails has consumed the last one, so a retry disarms.
 */
static bool fail_nth_disarm(struct __test_metadata *_metadata, int fd)
{
	char buf[16] = "";
	bool injected;
	ssize_t r;
	int i;

	r = pread(fd, buf, sizeof(buf) - 1, 0);
	if (r < 0) {
		ASSERT_EQ(errno, EFAULT)
			TH_LOG("read fail-nth: %s", strerror(errno));
		injected = false;
	} else {
		injected = strtoul(buf, NULL, 10) == 0;
	}
	for (i = 0; i < 3; i++)
		if (pwrite(fd, "0", 1, 0) == 1)
			break;
	ASSERT_LT(i, 3) TH_LOG("cannot disarm fail-nth: %s", strerror(errno));
	return injected;
}

static void count_errno(struct __test_metadata *_metadata,
			struct sweep_count *cnt, int err, const char *name,
			unsigned int n)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ok_errno); i++) {
		if (ok_errno[i] == err) {
			cnt->failed[i]++;
			return;
		}
	}
	ASSERT_TRUE(false) TH_LOG("%s, fail-nth %u: unexpected errno %d (%s)",
				  name, n, err, strerror(err));
}

static void report(const char *name, unsigned int points,
		   const struct sweep_count *cnt)
{
	char buf[256] = " none";
	unsigned int failed = 0;
	size_t i, len = 0;

	for (i = 0; i < ARRAY_SIZE(ok_errno); i++) {
		failed += cnt->failed[i];
		if (cnt->failed[i] && len < sizeof(buf))
			len += snprintf(buf + len, sizeof(buf) - len, " %s %u",
					ok_errno_name[i], cnt->failed[i]);
	}
	ksft_print_msg("%s: %u injection points swept: %u failed (%s ), %u recovered\n",
		       name, points, failed, buf, cnt->absorbed);
}

/* This process's VMs still alive: debugfs kvm/<pid>-<fd> directories. */
static int count_vms(void)
{
	char prefix[32];
	struct dirent *d;
	int n = 0;
	DIR *dir;

	dir = opendir(DEBUGFS "/kvm");
	if (!dir)
		return -1;
	snprintf(prefix, sizeof(prefix), "%d-", getpid());
	while ((d = readdir(dir)))
		if (!strncmp(d->d_name, prefix, strlen(prefix)))
			n++;
	closedir(dir);
	return n;
}

static void mem_usage(struct __test_metadata *_metadata, struct mem_usage *m)
{
	m->memfree = meminfo_kb("MemFree:");
	m->shmem = meminfo_kb("Shmem:");
	m->unevictable = meminfo_kb("Unevictable:");
	m->file = meminfo_kb("Cached:");
	m->vms = count_vms();
	ASSERT_GE(m->memfree, 0);
	ASSERT_GE(m->shmem, 0);
	ASSERT_GE(m->unevictable, 0);
	ASSERT_GE(m->file, 0);
}

/* After the sweep everything is gone: shmem, private pages, VMs. */
static void leak_check(struct __test_metadata *_metadata, const char *name,
		       const struct mem_usage *m0)
{
	struct mem_usage m1;

	mem_usage(_metadata, &m1);
	ksft_print_msg("%s: MemFree %+ld, Shmem %+ld, Unevictable %+ld, Cached %+ld kB\n",
		       name, m1.memfree - m0->memfree, m1.shmem - m0->shmem,
		       m1.unevictable - m0->unevictable, m1.file - m0->file);
	/* 2 MiB of slack for unrelated activity */
	EXPECT_LE(m1.shmem - m0->shmem, 2048) TH_LOG("%s: Shmem leaked", name);
	EXPECT_LE(m1.unevictable - m0->unevictable, 2048)
		TH_LOG("%s: Unevictable leaked", name);
	EXPECT_LE(m1.file - m0->file, 2048)
		TH_LOG("%s: page cache (Cached) leaked", name);
	EXPECT_EQ(m1.vms, m0->vms)
		TH_LOG("%s: VMs leaked (a file holds a reference)", name);
}

/* The lowest free descriptor: a failed call must not leave one open. */
static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

/*
 * Enable shmem THP for MADV_HUGEPAGE; the old mode goes to @old (@saved set)
 * for the teardown to restore.
 */
static void thp_advise(struct __test_metadata *_metadata, char *old,
		       size_t len, bool *saved)
{
	char buf[128], *b, *e;
	ssize_t n;
	int fd;

	fd = open(THP_SHMEM, O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0) TH_LOG("%s: %s", THP_SHMEM, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	/* "always within_size [advise] never deny force": keep the [word] */
	b = strchr(buf, '[');
	e = b ? strchr(b, ']') : NULL;
	if (b && e && e - b - 1 < (long)len) {
		memcpy(old, b + 1, e - b - 1);
		old[e - b - 1] = 0;
		*saved = true;
	}
	n = pwrite(fd, "advise", 6, 0);
	close(fd);
	ASSERT_EQ(n, 6) TH_LOG("cannot enable shmem THP (advise): %s",
			       strerror(errno));
}

static uint64_t pattern(size_t idx, unsigned int n, size_t word)
{
	return (0xa5ULL << 56) | ((uint64_t)n << 32) | ((uint64_t)idx << 12) |
	       word;
}

static void fill_pages(struct pair *p, unsigned int n)
{
	size_t idx, i;

	for (idx = 0; idx < p->nr_pages; idx++) {
		uint64_t *w = (uint64_t *)(p->mem + idx * page_size);

		for (i = 0; i < page_size / sizeof(*w); i++)
			w[i] = pattern(idx, n, i);
	}
}

/* -1 if page @idx holds its pattern (zeros if @zero), else the bad word. */
static long bad_word(const struct pair *p, size_t idx, unsigned int n,
		     bool zero, uint64_t *seen)
{
	const uint64_t *w = (const uint64_t *)(p->mem + idx * page_size);
	size_t i;

	for (i = 0; i < page_size / sizeof(*w); i++) {
		if (w[i] != (zero ? 0 : pattern(idx, n, i))) {
			*seen = w[i];
			return i;
		}
	}
	return -1;
}

static size_t pair_size(const struct pair *p)
{
	return p->nr_pages * page_size;
}

/* Get the memfd of a new private file @p->pfd and map it. */
static void pair_attach(struct __test_metadata *_metadata, struct pair *p,
			bool thp)
{
	size_t size = pair_size(p), huge = HUGE_PAGES * page_size;

	p->sfd = ioctl(p->pfd, GMEM_PAIR_GET_SHARED_FD, O_CLOEXEC);
	ASSERT_GE(p->sfd, 0) TH_LOG("GMEM_PAIR_GET_SHARED_FD: %s",
				    strerror(errno));
	if (!thp) {
		p->area_size = size;
		p->area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			       p->sfd, 0);
		ASSERT_NE(p->area, MAP_FAILED);
		p->mem = p->area;
		return;
	}
	/* a 2M aligned mapping, for shmem THPs */
	p->area_size = size + huge;
	p->area = mmap(NULL, p->area_size, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(p->area, MAP_FAILED);
	p->mem = (char *)(((unsigned long)p->area + huge - 1) & ~(huge - 1));
	ASSERT_EQ(mmap(p->mem, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED, p->sfd, 0), p->mem);
	ASSERT_EQ(madvise(p->mem, size, MADV_HUGEPAGE), 0);
}

static void pair_init(struct pair *p, size_t nr_pages)
{
	memset(p, 0, sizeof(*p));
	p->pfd = -1;
	p->sfd = -1;
	p->nr_pages = nr_pages;
}

/* A new VM and a pair on it, all shared, nothing allocated. */
static void pair_open(struct __test_metadata *_metadata, struct pair *p,
		      size_t nr_pages, bool thp)
{
	pair_init(p, nr_pages);
	p->vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	p->pfd = __vm_create_guest_memfd(p->vm, pair_size(p),
					 GUEST_MEMFD_FLAG_PAIRED |
					 GUEST_MEMFD_FLAG_PAIR_SHARED);
	ASSERT_GE(p->pfd, 0) TH_LOG("KVM_CREATE_GUEST_MEMFD: %s",
				    strerror(errno));
	pair_attach(_metadata, p, thp);
}

static void pair_close(struct pair *p)
{
	if (p->area)
		munmap(p->area, p->area_size);
	if (p->sfd >= 0)
		close(p->sfd);
	if (p->pfd >= 0)
		close(p->pfd);
	if (p->vm)
		kvm_vm_free(p->vm);
	pair_init(p, 0);
}

/* All extents of the pair (several calls if need be) and its counters. */
static void query_all(struct __test_metadata *_metadata, const struct pair *p,
		      struct snapshot *s)
{
	uint64_t size = pair_size(p), off = 0;
	struct gmem_pair_query q;
	uint32_t i;

	memset(s, 0, sizeof(*s));
	while (off < size) {
		struct gmem_pair_extent *e = &s->ext[s->nr_ext];
		uint32_t room = p->nr_pages - s->nr_ext;

		ASSERT_LT(s->nr_ext, p->nr_pages);
		ASSERT_EQ(pair_query(p->pfd, off, e, room, &q), 0)
			TH_LOG("GMEM_PAIR_QUERY at %#llx: %s",
			       (unsigned long long)off, strerror(errno));
		ASSERT_GT(q.nr_extents, 0);
		if (!s->nr_ext)
			s->stats = q.stats;
		for (i = 0; i < q.nr_extents; i++, e++) {
			uint64_t pg, end = (off + e->size) / page_size;

			ASSERT_EQ(e->offset, off);
			ASSERT_GT(e->size, 0);
			ASSERT_EQ(e->size % page_size, 0);
			ASSERT_LE(e->offset + e->size, size);
			ASSERT_LE(e->state, GMEM_PAIR_STATE_PRIVATE_HOLE);
			for (pg = off / page_size; pg < end; pg++)
				s->state[pg] = e->state;
			off += e->size;
		}
		s->nr_ext += q.nr_extents;
		ASSERT_EQ(q.next_offset, off);
	}
}

static void dump_map(const char *tag, const struct gmem_pair_extent *ext,
		     uint32_t nr)
{
	uint32_t i;

	for (i = 0; i < nr; i++)
		ksft_print_msg("  %s: %#llx + %#llx %s\n", tag,
			       (unsigned long long)ext[i].offset,
			       (unsigned long long)ext[i].size,
			       ext[i].state <= GMEM_PAIR_STATE_PRIVATE_HOLE ?
			       state_name[ext[i].state] : "?");
}

static bool same_extents(const struct gmem_pair_extent *a, uint32_t na,
			 const struct gmem_pair_extent *b, uint32_t nb)
{
	uint32_t i;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++)
		if (a[i].offset != b[i].offset || a[i].size != b[i].size ||
		    a[i].state != b[i].state)
			return false;
	return true;
}

/* The extents are exactly those of @want. */
static void assert_same_map(struct __test_metadata *_metadata,
			    const struct snapshot *want,
			    const struct gmem_pair_extent *ext, uint32_t nr,
			    const char *name, unsigned int n)
{
	bool same = same_extents(want->ext, want->nr_ext, ext, nr);

	if (!same) {
		dump_map("before", want->ext, want->nr_ext);
		dump_map("after ", ext, nr);
	}
	ASSERT_TRUE(same)
		TH_LOG("%s, fail-nth %u: the state map changed", name, n);
}

/* Nothing but the refusal counter may move when a call fails. */
static void assert_stats_unchanged(struct __test_metadata *_metadata,
				   const struct gmem_pair_stats *a,
				   const struct gmem_pair_stats *b,
				   const char *name, unsigned int n)
{
	ASSERT_EQ(b->size, a->size);
	ASSERT_EQ(b->private_pages, a->private_pages)
		TH_LOG("%s, fail-nth %u: private_pages", name, n);
	ASSERT_EQ(b->shared_pages, a->shared_pages)
		TH_LOG("%s, fail-nth %u: shared_pages", name, n);
	ASSERT_EQ(b->swapped_pages, a->swapped_pages)
		TH_LOG("%s, fail-nth %u: swapped_pages", name, n);
	ASSERT_EQ(b->to_shared_pages, a->to_shared_pages)
		TH_LOG("%s, fail-nth %u: to_shared_pages", name, n);
	ASSERT_EQ(b->to_private_pages, a->to_private_pages)
		TH_LOG("%s, fail-nth %u: to_private_pages", name, n);
	ASSERT_EQ(b->conversions, a->conversions)
		TH_LOG("%s, fail-nth %u: conversions", name, n);
	/*
	 * Refusals are counted: a large folio that cannot split for want of
	 * memory.  A migration that failed for want of memory is ENOMEM, not
	 * a refusal as movable.  Pages migrated before the failure stay
	 * migrated: same offsets, same contents.
	 */
	ASSERT_GE(b->refused_pinned, a->refused_pinned);
	ASSERT_EQ(b->refused_movable, a->refused_movable)
		TH_LOG("%s, fail-nth %u: refused_movable", name, n);
	ASSERT_GE(b->migrated_pages, a->migrated_pages)
		TH_LOG("%s, fail-nth %u: migrated_pages", name, n);
}

/* Pages in state shared in @s read their pattern through the mapping. */
static void check_shared_pages(struct __test_metadata *_metadata,
			       const struct pair *p, const struct snapshot *s,
			       unsigned int n, const char *name)
{
	uint64_t seen = 0;
	size_t idx;
	long w;

	for (idx = 0; idx < p->nr_pages; idx++) {
		if (s->state[idx] != GMEM_PAIR_STATE_SHARED)
			continue;
		w = bad_word(p, idx, n, p->zero[idx], &seen);
		ASSERT_LT(w, 0)
			TH_LOG("%s, fail-nth %u: shared page %zu word %ld is %#llx",
			       name, n, idx, w, (unsigned long long)seen);
	}
}

/*
 * Convert the whole pair to shared, without injection: every page, private
 * before or not, holds its pattern, or zeros where it was a hole or
 * discarded.
 */
static void check_all_contents(struct __test_metadata *_metadata,
			       const struct pair *p, unsigned int n,
			       const char *name)
{
	struct gmem_pair_convert out;
	uint64_t seen = 0;
	size_t idx;
	long w;

	ASSERT_EQ(pair_convert(p->pfd, 0, pair_size(p), GMEM_PAIR_TO_SHARED, 0,
			       &out), 0)
		TH_LOG("%s, fail-nth %u: to-shared of the whole pair: %s (reason %u at %#llx)",
		       name, n, strerror(errno), out.error_reason,
		       (unsigned long long)out.error_offset);
	for (idx = 0; idx < p->nr_pages; idx++) {
		w = bad_word(p, idx, n, p->zero[idx], &seen);
		ASSERT_LT(w, 0)
			TH_LOG("%s, fail-nth %u: page %zu word %ld is %#llx, expected %s",
			       name, n, idx, w, (unsigned long long)seen,
			       p->zero[idx] ? "zeros" : "its pattern");
	}
}

/* The 2M THP the case works on is where it should be: @counter grew. */
static void assert_thp(struct __test_metadata *_metadata, const char *counter,
		       long base, long min_kb, const char *what)
{
	long delta = meminfo_kb(counter) - base;

	ASSERT_GE(delta, min_kb)
		TH_LOG("%s (%s %+ld kB): needs shmem THP (shmem_enabled advise, MADV_HUGEPAGE)",
		       what, counter, delta);
}

static void apply_step(struct __test_metadata *_metadata, struct pair *p,
		       uint32_t first, uint32_t nr, enum step_kind kind)
{
	uint64_t off = first * page_size, len = nr * page_size;
	uint32_t i;

	switch (kind) {
	case STEP_PRIVATE:
		ASSERT_EQ(pair_convert(p->pfd, off, len, GMEM_PAIR_TO_PRIVATE,
				       GMEM_PAIR_CONVERT_MIGRATE, NULL), 0)
			TH_LOG("setup: to-private of pages %u-%u: %s", first,
			       first + nr - 1, strerror(errno));
		return;
	case STEP_DISCARD:
		ASSERT_EQ(pair_convert(p->pfd, off, len, GMEM_PAIR_TO_PRIVATE,
				       GMEM_PAIR_CONVERT_DISCARD |
				       GMEM_PAIR_CONVERT_MIGRATE, NULL), 0)
			TH_LOG("setup: discard of pages %u-%u: %s", first,
			       first + nr - 1, strerror(errno));
		break;
	case STEP_PUNCH:
		ASSERT_EQ(fallocate(p->sfd,
				    FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
				    off, len), 0)
			TH_LOG("setup: punch of pages %u-%u: %s", first,
			       first + nr - 1, strerror(errno));
		break;
	}
	for (i = first; i < first + nr; i++)
		p->zero[i] = true;
}

/*
 * KVM_SET_USER_MEMORY_REGION2 of the whole pair at PAIR_GPA: the ioctl
 * alone (the library's wrapper first opens /dev/kvm, a fault site).
 */
static int bind_pair(struct pair *p)
{
	struct kvm_userspace_memory_region2 region = {
		.slot = PAIR_SLOT,
		.flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = PAIR_GPA,
		.memory_size = pair_size(p),
		.userspace_addr = (uintptr_t)p->mem,
		.guest_memfd = p->pfd,
	};

	return ioctl(p->vm->fd, KVM_SET_USER_MEMORY_REGION2, &region);
}

/*
 * A fresh pair for iteration @n: every page written with a pattern of its
 * index and @n, then some ranges made private, private holes and shared
 * holes; then @cc's own range made private if it asks.  For the 4 MiB
 * pairs, the first 2M must be one THP, in the memfd or (made private) in
 * the private file.
 */
static void build_pair(struct __test_metadata *_metadata, struct pair *p,
		       const struct conv_case *cc, unsigned int n)
{
	bool thp = cc && cc->thp;
	const struct step *steps = thp ? thp_steps : small_steps;
	size_t nr_steps = thp ? ARRAY_SIZE(thp_steps) : ARRAY_SIZE(small_steps);
	long shmem_huge0 = 0, file_huge0 = 0;
	size_t i;

	pair_open(_metadata, p, thp ? THP_PAGES : SMALL_PAGES, thp);
	if (thp) {
		shmem_huge0 = meminfo_kb("ShmemHugePages:");
		file_huge0 = meminfo_kb("FileHugePages:");
	}
	fill_pages(p, n);
	if (thp)
		assert_thp(_metadata, "ShmemHugePages:", shmem_huge0, 4096,
			   "the memfd did not get two 2M THPs");
	for (i = 0; i < nr_steps; i++)
		apply_step(_metadata, p, steps[i].first, steps[i].nr,
			   steps[i].kind);
	if (cc && cc->range_private)
		apply_step(_metadata, p, cc->first, cc->nr, STEP_PRIVATE);
	if (cc && cc->via_kvm)
		ASSERT_EQ(bind_pair(p), 0)
			TH_LOG("setup: bind the pair: %s", strerror(errno));
	if (!thp)
		return;
	if (cc->range_private)
		assert_thp(_metadata, "FileHugePages:", file_huge0, 2048,
			   "the private file does not hold the first 2M whole");
	else
		assert_thp(_metadata, "ShmemHugePages:", shmem_huge0, 2048,
			   "the first 2M of the memfd is not one THP");
}

/* The node with a populated ZONE_MOVABLE (/proc/zoneinfo), or -1. */
static int movable_node(void)
{
	FILE *f = fopen("/proc/zoneinfo", "r");
	int node = -1, cur = -1;
	unsigned long present;
	char line[256];
	bool movable = false;

	while (f && node < 0 && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Node %d,", &cur) == 1) {
			movable = strstr(line, "Movable");
			continue;
		}
		if (movable && sscanf(line, " present %lu", &present) == 1 &&
		    present)
			node = cur;
	}
	if (f)
		fclose(f);
	return node;
}

/*
 * On a boot with ZONE_MOVABLE (debug-movable), allocate this process's
 * memory on its node first, so that the memfd's pages are movable and a
 * GMEM_PAIR_CONVERT_MIGRATE sweep injects failures into the migration.
 * Return: whether it did.
 */
static bool prefer_movable(struct __test_metadata *_metadata)
{
	int node = movable_node();
	unsigned long mask;

	if (node < 0)
		return false;
	mask = 1UL << node;
	ASSERT_EQ(syscall(__NR_set_mempolicy, MPOL_PREFERRED, &mask,
			  sizeof(mask) * 8), 0)
		TH_LOG("set_mempolicy: %s", strerror(errno));
	return true;
}

/*
 * Some page of the range of @cc (all shared) is on ZONE_MOVABLE or CMA.  The
 * shared extent that starts there may go on past the range: more movable
 * pages than it has outside the range are movable pages in it.
 */
static void assert_movable(struct __test_metadata *_metadata,
			   const struct pair *p, const struct conv_case *cc)
{
	struct gmem_pair_extent_details ext = {};
	struct gmem_pair_query q = {
		.offset = cc->first * page_size,
		.extents = (uint64_t)(unsigned long)&ext,
		.nr_extents = 1,
		.flags = GMEM_PAIR_QUERY_DETAILS,
	};

	ASSERT_EQ(ioctl(p->pfd, GMEM_PAIR_QUERY, &q), 0)
		TH_LOG("GMEM_PAIR_QUERY_DETAILS: %s", strerror(errno));
	ASSERT_GE(ext.resident_pages, cc->nr);
	ASSERT_GT(ext.movable_pages, ext.resident_pages - cc->nr)
		TH_LOG("setup: no page of %u-%u on ZONE_MOVABLE (%llu of %llu from %u)",
		       cc->first, cc->first + cc->nr - 1,
		       (unsigned long long)ext.movable_pages,
		       (unsigned long long)ext.resident_pages, cc->first);
}

/* Does a page in state @s change state in conversion @cc? */
static bool changes_state(const struct conv_case *cc, uint8_t s)
{
	bool private = s == GMEM_PAIR_STATE_PRIVATE ||
		       s == GMEM_PAIR_STATE_PRIVATE_HOLE;

	return private != (cc->dir == GMEM_PAIR_TO_PRIVATE);
}

/*
 * The state of a page in state @s after a successful conversion @cc of its
 * range.  A discard drops the contents of the pages that change state;
 * those already in the requested state keep theirs.
 */
static uint8_t converted_state(const struct conv_case *cc, uint8_t s)
{
	bool discard = cc->flags & GMEM_PAIR_CONVERT_DISCARD;

	if (!changes_state(cc, s))
		return s;
	if (cc->dir == GMEM_PAIR_TO_PRIVATE)
		return s == GMEM_PAIR_STATE_SHARED && !discard ?
		       GMEM_PAIR_STATE_PRIVATE : GMEM_PAIR_STATE_PRIVATE_HOLE;
	return s == GMEM_PAIR_STATE_PRIVATE && !discard ?
	       GMEM_PAIR_STATE_SHARED : GMEM_PAIR_STATE_SHARED_HOLE;
}

/* The conversion did all of its work, and nothing else. */
static void check_converted(struct __test_metadata *_metadata,
			    struct pair *p, const struct conv_case *cc,
			    const struct snapshot *before,
			    const struct snapshot *after, unsigned int n)
{
	bool to_private = cc->dir == GMEM_PAIR_TO_PRIVATE;
	uint8_t from = to_private ? GMEM_PAIR_STATE_SHARED :
				    GMEM_PAIR_STATE_PRIVATE;
	uint64_t moved = 0, nr_private = 0, nr_shared = 0;
	const struct gmem_pair_stats *a = &before->stats, *b = &after->stats;
	uint32_t idx;

	for (idx = 0; idx < p->nr_pages; idx++) {
		uint8_t want = before->state[idx];

		if (idx >= cc->first && idx < cc->first + cc->nr) {
			want = converted_state(cc, want);
			moved += before->state[idx] == from;
			if ((cc->flags & GMEM_PAIR_CONVERT_DISCARD) &&
			    changes_state(cc, before->state[idx]))
				p->zero[idx] = true;
		}
		if (after->state[idx] != want) {
			dump_map("before", before->ext, before->nr_ext);
			dump_map("after ", after->ext, after->nr_ext);
		}
		ASSERT_EQ(after->state[idx], want)
			TH_LOG("%s, fail-nth %u: page %u is %s, expected %s",
			       cc->name, n, idx, state_name[after->state[idx]],
			       state_name[want]);
		nr_private += want == GMEM_PAIR_STATE_PRIVATE;
		nr_shared += want == GMEM_PAIR_STATE_SHARED;
	}
	ASSERT_EQ(b->conversions, a->conversions + 1)
		TH_LOG("%s, fail-nth %u: conversions", cc->name, n);
	ASSERT_EQ(b->private_pages, nr_private)
		TH_LOG("%s, fail-nth %u: private_pages", cc->name, n);
	ASSERT_EQ(b->shared_pages + b->swapped_pages, nr_shared)
		TH_LOG("%s, fail-nth %u: shared_pages", cc->name, n);
	/* the other direction's counter stays */
	ASSERT_EQ(to_private ? b->to_shared_pages : b->to_private_pages,
		  to_private ? a->to_shared_pages : a->to_private_pages)
		TH_LOG("%s, fail-nth %u: moved the other way", cc->name, n);
	/* a discard may or may not count what it drops as moved */
	if (cc->flags & GMEM_PAIR_CONVERT_DISCARD)
		return;
	ASSERT_EQ(to_private ? b->to_private_pages - a->to_private_pages :
		  b->to_shared_pages - a->to_shared_pages, moved)
		TH_LOG("%s, fail-nth %u: pages moved", cc->name, n);
}

/* The first page of [@first, @first + @nr) not in @state, or the end. */
static uint32_t first_not_in(const struct snapshot *s, uint32_t first,
			     uint32_t nr, uint8_t state)
{
	uint32_t idx;

	for (idx = first; idx < first + nr; idx++)
		if (s->state[idx] != state)
			return idx;
	return idx;
}

/* Sweep one GMEM_PAIR_CONVERT over every fault site it reaches. */
static void sweep_convert(struct __test_metadata *_metadata, int fail_fd,
			  const struct conv_case *cc)
{
	uint8_t from = cc->dir == GMEM_PAIR_TO_PRIVATE ?
		       GMEM_PAIR_STATE_SHARED : GMEM_PAIR_STATE_PRIVATE;
	uint64_t off = cc->first * page_size, len = cc->nr * page_size;
	static struct snapshot before, after;
	struct sweep_count cnt = {};
	struct mem_usage m0;
	bool movable = false;
	struct pair p;
	unsigned int n;
	uint32_t idx;

	if (cc->movable)
		movable = prefer_movable(_metadata);
	mem_usage(_metadata, &m0);
	for (n = 1; n <= MAX_NTH; n++) {
		struct gmem_pair_convert out = {};
		bool injected;
		int r, err;

		build_pair(_metadata, &p, cc, n);
		query_all(_metadata, &p, &before);
		idx = first_not_in(&before, cc->first, cc->nr, from);
		ASSERT_EQ(idx, cc->first + cc->nr)
			TH_LOG("setup: page %u is %s, expected %s", idx,
			       state_name[before.state[idx]], state_name[from]);
		if (movable)
			assert_movable(_metadata, &p, cc);

		ASSERT_EQ(fail_nth_arm(fail_fd, n), 0);
		if (cc->via_kvm)
			r = try_set_memory_attributes(p.vm, PAIR_GPA + off, len,
						      cc->dir == GMEM_PAIR_TO_PRIVATE ?
						      KVM_MEMORY_ATTRIBUTE_PRIVATE : 0);
		else
			r = pair_convert(p.pfd, off, len, cc->dir, cc->flags,
					 &out);
		err = errno;
		injected = fail_nth_disarm(_metadata, fail_fd);

		query_all(_metadata, &p, &after);
		if (r) {
			ASSERT_TRUE(injected)
				TH_LOG("%s, fail-nth %u: no fault injected: %s (%u at %#llx)",
				       cc->name, n, strerror(err),
				       out.error_reason,
				       (unsigned long long)out.error_offset);
			/* a migration that failed for want of memory: ENOMEM */
			ASSERT_NE(err, EXDEV)
				TH_LOG("%s, fail-nth %u: EXDEV, reason %u at %#llx",
				       cc->name, n, out.error_reason,
				       (unsigned long long)out.error_offset);
			count_errno(_metadata, &cnt, err, cc->name, n);
			assert_same_map(_metadata, &before, after.ext,
					after.nr_ext, cc->name, n);
			assert_stats_unchanged(_metadata, &before.stats,
					       &after.stats, cc->name, n);
			check_shared_pages(_metadata, &p, &before, n, cc->name);
		} else {
			check_converted(_metadata, &p, cc, &before, &after, n);
			cnt.absorbed += injected;
		}
		check_all_contents(_metadata, &p, n, cc->name);
		pair_close(&p);
		if (!injected)
			break;
	}
	ASSERT_LE(n, MAX_NTH)
		TH_LOG("%s: still reaching new fault sites at fail-nth %u",
		       cc->name, MAX_NTH);
	if (movable)
		ksft_print_msg("%s: the range had pages on ZONE_MOVABLE\n",
			       cc->name);
	report(cc->name, n - 1, &cnt);
	leak_check(_metadata, cc->name, &m0);
}

FIXTURE_SETUP(failnth)
{
	char path[64];

	page_size = getpagesize();
	snprintf(path, sizeof(path), "/proc/self/task/%d/fail-nth", gettid());
	self->fail_fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->fail_fd, 0)
		TH_LOG("%s: %s: the kernel needs CONFIG_FAULT_INJECTION", path,
		       strerror(errno));
	setup_fault_injection(_metadata);
	self->thp_saved = false;
}

/* In the parent: runs even if the test exits early. */
FIXTURE_TEARDOWN_PARENT(failnth)
{
	if (self->thp_saved && !write_knob(THP_SHMEM, self->thp_old))
		perror("restore " THP_SHMEM);
}

/* 1. to-private of 16 shared, resident pages */
TEST_F_TIMEOUT(failnth, to_private, SWEEP_TIMEOUT)
{
	static const struct conv_case cc = {
		.name = "to_private", .first = 16, .nr = 16,
		.dir = GMEM_PAIR_TO_PRIVATE,
	};

	sweep_convert(_metadata, self->fail_fd, &cc);
}

/* 2. to-shared of 16 private, resident pages */
TEST_F_TIMEOUT(failnth, to_shared, SWEEP_TIMEOUT)
{
	static const struct conv_case cc = {
		.name = "to_shared", .first = 16, .nr = 16,
		.range_private = true, .dir = GMEM_PAIR_TO_SHARED,
	};

	sweep_convert(_metadata, self->fail_fd, &cc);
}

/* 3. to-private, discarding: the range reads zeros once shared again */
TEST_F_TIMEOUT(failnth, to_private_discard, SWEEP_TIMEOUT)
{
	static const struct conv_case cc = {
		.name = "to_private_discard", .first = 16, .nr = 16,
		.dir = GMEM_PAIR_TO_PRIVATE, .flags = GMEM_PAIR_CONVERT_DISCARD,
	};

	sweep_convert(_metadata, self->fail_fd, &cc);
}

/* 4. to-shared, discarding */
TEST_F_TIMEOUT(failnth, to_shared_discard, SWEEP_TIMEOUT)
{
	static const struct conv_case cc = {
		.name = "to_shared_discard", .first = 16, .nr = 16,
		.range_private = true, .dir = GMEM_PAIR_TO_SHARED,
		.flags = GMEM_PAIR_CONVERT_DISCARD,
	};

	sweep_convert(_metadata, self->fail_fd, &cc);
}

/* 5. to-private of a whole 2M shmem THP: it moves whole */
TEST_F_TIMEOUT(failnth, thp_to_private, SWEEP_TIMEOUT)
{
	static const struct conv_case cc = {
		.name = "thp_to_private", .thp = true, .first = 0,
		.nr = HUGE_PAGES, .dir = GMEM_PAIR_TO_PRIVATE,
	};

	thp_advise(_metadata, self->thp_old, sizeof(self->thp_old),
		   &self->thp_saved);
	sweep_convert(_metadata, self->fail_fd, &cc);
}

/* 6. to-shared of that 2M, private as one 2M folio */
TEST_F_TIMEOUT(failnth, thp_to_shared, SWEEP_TIMEOUT)
{
	static const struct conv_case cc = {
		.name = "thp_to_shared", .thp = true, .range_private = true,
		.first = 0, .nr = HUGE_PAGES, .dir = GMEM_PAIR_TO_SHARED,
	};

	thp_advise(_metadata, self->thp_old, sizeof(self->thp_old),
		   &self->thp_saved);
	sweep_convert(_metadata, self->fail_fd, &cc);
}

/* 7. to-private of one page in the middle of a THP: the THP splits */
TEST_F_TIMEOUT(failnth, thp_split_to_private, SWEEP_TIMEOUT)
{
	static const struct conv_case cc = {
		.name = "thp_split_to_private", .thp = true,
		.first = HUGE_PAGES / 2, .nr = 1, .dir = GMEM_PAIR_TO_PRIVATE,
	};

	thp_advise(_metadata, self->thp_old, sizeof(self->thp_old),
		   &self->thp_saved);
	sweep_convert(_metadata, self->fail_fd, &cc);
}

/* 8. GMEM_PAIR_QUERY: an error or the right extents; nothing changes */
TEST_F_TIMEOUT(failnth, query, SWEEP_TIMEOUT)
{
	static struct gmem_pair_extent ext[SMALL_PAGES];
	static struct snapshot before, after;
	struct sweep_count cnt = {};
	struct mem_usage m0;
	struct pair p;
	unsigned int n;

	mem_usage(_metadata, &m0);
	for (n = 1; n <= MAX_NTH; n++) {
		struct gmem_pair_query q;
		bool injected;
		int r, err;

		build_pair(_metadata, &p, NULL, n);
		query_all(_metadata, &p, &before);
		ASSERT_GT(before.nr_ext, 1);
		/* the buffer is faulted in: no page fault inside the call */
		memset(ext, 0, sizeof(ext));

		ASSERT_EQ(fail_nth_arm(self->fail_fd, n), 0);
		r = pair_query(p.pfd, 0, ext, SMALL_PAGES, &q);
		err = errno;
		injected = fail_nth_disarm(_metadata, self->fail_fd);

		if (r) {
			ASSERT_TRUE(injected)
				TH_LOG("query failed with no fault injected (fail-nth %u): %s",
				       n, strerror(err));
			count_errno(_metadata, &cnt, err, "query", n);
		} else {
			assert_same_map(_metadata, &before, ext, q.nr_extents,
					"query", n);
			ASSERT_EQ(q.next_offset, pair_size(&p));
			ASSERT_EQ(memcmp(&q.stats, &before.stats,
					 sizeof(q.stats)), 0)
				TH_LOG("query, fail-nth %u: the counters differ", n);
			cnt.absorbed += injected;
		}
		query_all(_metadata, &p, &after);
		assert_same_map(_metadata, &before, after.ext, after.nr_ext,
				"query", n);
		ASSERT_EQ(memcmp(&after.stats, &before.stats,
				 sizeof(after.stats)), 0)
			TH_LOG("query, fail-nth %u: the counters changed", n);
		check_shared_pages(_metadata, &p, &before, n, "query");
		check_all_contents(_metadata, &p, n, "query");
		pair_close(&p);
		if (!injected)
			break;
	}
	ASSERT_LE(n, MAX_NTH)
		TH_LOG("query: still reaching new fault sites at fail-nth %u",
		       MAX_NTH);
	report("query", n - 1, &cnt);
	leak_check(_metadata, "query", &m0);
}

/*
 * A pair that KVM_CREATE_GUEST_MEMFD created under injection works: all
 * shared holes, its memfd maps, contents survive a round trip.
 */
static void check_new_pair(struct __test_metadata *_metadata, struct pair *p,
			   unsigned int n)
{
	static struct snapshot s;

	pair_attach(_metadata, p, false);
	query_all(_metadata, p, &s);
	ASSERT_EQ(s.nr_ext, 1);
	ASSERT_EQ(s.ext[0].state, GMEM_PAIR_STATE_SHARED_HOLE);
	ASSERT_EQ(s.stats.size, pair_size(p));
	ASSERT_EQ(s.stats.private_pages, 0);
	ASSERT_EQ(s.stats.shared_pages, 0);
	fill_pages(p, n);
	apply_step(_metadata, p, 8, 16, STEP_PRIVATE);
	check_all_contents(_metadata, p, n, "create_guest_memfd");
}

/* 9a. KVM_CREATE_GUEST_MEMFD of a pair: fails cleanly or makes a good one */
TEST_F_TIMEOUT(failnth, create_guest_memfd, SWEEP_TIMEOUT)
{
	struct sweep_count cnt = {};
	struct mem_usage m0;
	struct pair p;
	unsigned int n;

	mem_usage(_metadata, &m0);
	for (n = 1; n <= MAX_NTH; n++) {
		struct kvm_create_guest_memfd args = {
			.size = SMALL_PAGES * page_size,
			.flags = GUEST_MEMFD_FLAG_PAIRED |
				 GUEST_MEMFD_FLAG_PAIR_SHARED,
		};
		bool injected;
		int fd0, err;

		pair_init(&p, SMALL_PAGES);
		p.vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
		fd0 = lowest_free_fd();
		ASSERT_GE(fd0, 0);

		ASSERT_EQ(fail_nth_arm(self->fail_fd, n), 0);
		p.pfd = ioctl(p.vm->fd, KVM_CREATE_GUEST_MEMFD, &args);
		err = errno;
		injected = fail_nth_disarm(_metadata, self->fail_fd);

		if (p.pfd < 0) {
			ASSERT_EQ(p.pfd, -1);
			ASSERT_TRUE(injected)
				TH_LOG("fail-nth %u: failed, no fault injected: %s",
				       n, strerror(err));
			count_errno(_metadata, &cnt, err, "create_guest_memfd", n);
			ASSERT_EQ(lowest_free_fd(), fd0)
				TH_LOG("fail-nth %u: the failed create left fd %d open",
				       n, fd0);
		} else {
			check_new_pair(_metadata, &p, n);
			cnt.absorbed += injected;
		}
		pair_close(&p);
		if (!injected)
			break;
	}
	ASSERT_LE(n, MAX_NTH)
		TH_LOG("create_guest_memfd: still reaching new fault sites at fail-nth %u",
		       MAX_NTH);
	report("create_guest_memfd", n - 1, &cnt);
	leak_check(_metadata, "create_guest_memfd", &m0);
}

/* 9b. GMEM_PAIR_GET_SHARED_FD: fails cleanly or returns the memfd */
TEST_F_TIMEOUT(failnth, get_shared_fd, SWEEP_TIMEOUT)
{
	static struct snapshot before, after;
	struct sweep_count cnt = {};
	struct mem_usage m0;
	struct pair p;
	unsigned int n;

	mem_usage(_metadata, &m0);
	for (n = 1; n <= MAX_NTH; n++) {
		struct stat st, st0;
		bool injected;
		int fd, fd0, err;

		build_pair(_metadata, &p, NULL, n);
		query_all(_metadata, &p, &before);
		fd0 = lowest_free_fd();
		ASSERT_GE(fd0, 0);

		ASSERT_EQ(fail_nth_arm(self->fail_fd, n), 0);
		fd = ioctl(p.pfd, GMEM_PAIR_GET_SHARED_FD, O_CLOEXEC);
		err = errno;
		injected = fail_nth_disarm(_metadata, self->fail_fd);

		if (fd < 0) {
			ASSERT_EQ(fd, -1);
			ASSERT_TRUE(injected)
				TH_LOG("fail-nth %u: failed, no fault injected: %s",
				       n, strerror(err));
			count_errno(_metadata, &cnt, err, "get_shared_fd", n);
			ASSERT_EQ(lowest_free_fd(), fd0)
				TH_LOG("fail-nth %u: the failed call left fd %d open",
				       n, fd0);
		} else {
			struct pair q = p;

			/* the same memfd, close-on-exec, same pages */
			ASSERT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
			ASSERT_EQ(fstat(fd, &st), 0);
			ASSERT_EQ(fstat(p.sfd, &st0), 0);
			ASSERT_EQ(st.st_dev, st0.st_dev);
			ASSERT_EQ(st.st_ino, st0.st_ino);
			ASSERT_EQ(st.st_size, (off_t)pair_size(&p));
			q.mem = mmap(NULL, pair_size(&p), PROT_READ | PROT_WRITE,
				     MAP_SHARED, fd, 0);
			ASSERT_NE(q.mem, MAP_FAILED);
			check_shared_pages(_metadata, &q, &before, n,
					   "get_shared_fd");
			munmap(q.mem, pair_size(&p));
			close(fd);
			cnt.absorbed += injected;
		}
		query_all(_metadata, &p, &after);
		assert_same_map(_metadata, &before, after.ext, after.nr_ext,
				"get_shared_fd", n);
		assert_stats_unchanged(_metadata, &before.stats, &after.stats,
				       "get_shared_fd", n);
		check_all_contents(_metadata, &p, n, "get_shared_fd");
		pair_close(&p);
		if (!injected)
			break;
	}
	ASSERT_LE(n, MAX_NTH)
		TH_LOG("get_shared_fd: still reaching new fault sites at fail-nth %u",
		       MAX_NTH);
	report("get_shared_fd", n - 1, &cnt);
	leak_check(_metadata, "get_shared_fd", &m0);
}

/* 10. KVM_SET_MEMORY_ATTRIBUTES(PRIVATE) on a paired slot: to-private */
TEST_F_TIMEOUT(failnth, kvm_attributes_private, SWEEP_TIMEOUT)
{
	static const struct conv_case cc = {
		.name = "kvm_attributes_private", .first = 16, .nr = 16,
		.dir = GMEM_PAIR_TO_PRIVATE, .via_kvm = true,
	};

	sweep_convert(_metadata, self->fail_fd, &cc);
}

/* 11. KVM_SET_MEMORY_ATTRIBUTES(0) on a paired slot: to-shared */
TEST_F_TIMEOUT(failnth, kvm_attributes_shared, SWEEP_TIMEOUT)
{
	static const struct conv_case cc = {
		.name = "kvm_attributes_shared", .first = 16, .nr = 16,
		.range_private = true, .dir = GMEM_PAIR_TO_SHARED,
		.via_kvm = true,
	};

	sweep_convert(_metadata, self->fail_fd, &cc);
}

/*
 * 12. to-private with GMEM_PAIR_CONVERT_MIGRATE: on the debug-movable boot
 * the pages are on ZONE_MOVABLE and migrate under injection
 */
TEST_F_TIMEOUT(failnth, to_private_migrate, SWEEP_TIMEOUT)
{
	static const struct conv_case cc = {
		.name = "to_private_migrate", .first = 16, .nr = 16,
		.dir = GMEM_PAIR_TO_PRIVATE, .flags = GMEM_PAIR_CONVERT_MIGRATE,
		.movable = true,
	};

	sweep_convert(_metadata, self->fail_fd, &cc);
}

/* 13. the same for a whole THP (debug-movable: migrated as a THP) */
TEST_F_TIMEOUT(failnth, thp_to_private_migrate, SWEEP_TIMEOUT)
{
	static const struct conv_case cc = {
		.name = "thp_to_private_migrate", .thp = true, .first = 0,
		.nr = HUGE_PAGES, .dir = GMEM_PAIR_TO_PRIVATE,
		.flags = GMEM_PAIR_CONVERT_MIGRATE, .movable = true,
	};

	thp_advise(_metadata, self->thp_old, sizeof(self->thp_old),
		   &self->thp_saved);
	sweep_convert(_metadata, self->fail_fd, &cc);
}

/*
 * 14. KVM_SET_USER_MEMORY_REGION2 binding a pair: fails cleanly (pair
 * untouched), or binds a slot whose attributes convert the pair.
 */
TEST_F_TIMEOUT(failnth, bind, SWEEP_TIMEOUT)
{
	static struct snapshot before, after;
	struct sweep_count cnt = {};
	struct mem_usage m0;
	struct pair p;
	unsigned int n;

	mem_usage(_metadata, &m0);
	for (n = 1; n <= MAX_NTH; n++) {
		bool injected;
		int r, err;

		build_pair(_metadata, &p, NULL, n);
		query_all(_metadata, &p, &before);

		ASSERT_EQ(fail_nth_arm(self->fail_fd, n), 0);
		r = bind_pair(&p);
		err = errno;
		injected = fail_nth_disarm(_metadata, self->fail_fd);

		query_all(_metadata, &p, &after);
		assert_same_map(_metadata, &before, after.ext, after.nr_ext,
				"bind", n);
		assert_stats_unchanged(_metadata, &before.stats, &after.stats,
				       "bind", n);
		if (r) {
			ASSERT_TRUE(injected)
				TH_LOG("fail-nth %u: failed, no fault injected: %s",
				       n, strerror(err));
			count_errno(_metadata, &cnt, err, "bind", n);
			/* nothing was left half bound */
			ASSERT_EQ(bind_pair(&p), 0)
				TH_LOG("bind, fail-nth %u: bind again: %s", n,
				       strerror(errno));
		} else {
			cnt.absorbed += injected;
		}
		/* the slot converts the pair, both ways */
		ASSERT_EQ(try_set_memory_attributes(p.vm, PAIR_GPA + 16 * page_size,
						    16 * page_size,
						    KVM_MEMORY_ATTRIBUTE_PRIVATE), 0)
			TH_LOG("bind, fail-nth %u: attributes: %s", n,
			       strerror(errno));
		query_all(_metadata, &p, &after);
		ASSERT_EQ(first_not_in(&after, 16, 16, GMEM_PAIR_STATE_PRIVATE),
			  32);
		ASSERT_EQ(try_set_memory_attributes(p.vm, PAIR_GPA + 16 * page_size,
						    16 * page_size, 0), 0);
		check_shared_pages(_metadata, &p, &before, n, "bind");
		check_all_contents(_metadata, &p, n, "bind");
		pair_close(&p);
		if (!injected)
			break;
	}
	ASSERT_LE(n, MAX_NTH)
		TH_LOG("bind: still reaching new fault sites at fail-nth %u",
		       MAX_NTH);
	report("bind", n - 1, &cnt);
	leak_check(_metadata, "bind", &m0);
}

/* fail_page_alloc knobs that fail every page allocation of tasks marked */
static const char * const fail_all_knobs[][2] = {
	{ DEBUGFS "/fail_page_alloc/task-filter", "Y" },
	{ DEBUGFS "/fail_page_alloc/probability", "100" },
	{ DEBUGFS "/fail_page_alloc/interval", "1" },
	{ DEBUGFS "/fail_page_alloc/times", "-1" },
	{ DEBUGFS "/fail_page_alloc/space", "0" },
};

/* Save the values of fail_all_knobs in @old.  Return: false on error. */
static bool save_fail_knobs(char old[][32])
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fail_all_knobs); i++)
		if (!read_knob(fail_all_knobs[i][0], old[i], sizeof(old[i])))
			return false;
	return true;
}

/*
 * Fail every page allocation of this thread from now on, or stop and
 * restore the knobs saved in @old.  @mif is this thread's make-it-fail,
 * opened before: an open() while armed may fail.
 *
 * Arming writes the knobs in table order (the task filter before the
 * probability); restoring writes them in reverse, so that at no point is
 * the filter off while the probability is still 100: that fails every
 * page allocation of every task, this test's next open() of a knob
 * included, and the system then loops on "Huh VM_FAULT_OOM leaked out"
 * for good.  A knob that cannot be restored does not stop the others
 * from being tried.  Return: false if a knob could not be written.
 */
static bool fail_all_allocs(int mif, bool on, char old[][32])
{
	bool ok = true;
	size_t i;

	if (on) {
		for (i = 0; i < ARRAY_SIZE(fail_all_knobs); i++)
			if (!write_knob(fail_all_knobs[i][0],
					fail_all_knobs[i][1]))
				return false;
		return pwrite(mif, "1", 1, 0) == 1;
	}
	if (pwrite(mif, "0", 1, 0) != 1)
		ok = false;
	for (i = ARRAY_SIZE(fail_all_knobs); i-- > 0; )
		if (!write_knob(fail_all_knobs[i][0], old[i]))
			ok = false;
	return ok;
}

/* The program's text, from the linker: faulted in before arming. */
extern char __executable_start[], etext[];

/* Stack the armed section may use, faulted in and locked beforehand. */
#define ARMED_STACK	(64 * 1024)

/*
 * Fault in and lock (@lock) or unlock what the armed section touches: the
 * program's text and the stack below this frame.  While every page
 * allocation of the thread fails, a user page fault that needs a page
 * gets VM_FAULT_OOM, which the fault handler retries for ever ("Huh
 * VM_FAULT_OOM leaked out to the #PF handler"), e.g. on a text page
 * reclaimed since its last use.  Return: false on error.
 */
static noinline bool lock_armed_memory(bool lock)
{
	char stack[ARMED_STACK];
	size_t text = etext - __executable_start;

	memset(stack, 0, sizeof(stack));
	if (!lock)
		return !munlock(stack, sizeof(stack)) &&
		       !munlock(__executable_start, text);
	return !mlock(stack, sizeof(stack)) &&
	       !mlock(__executable_start, text);
}

/* Movable pages in the extent that starts at page @idx (GMEM_PAIR_QUERY_DETAILS). */
static uint64_t movable_from(struct __test_metadata *_metadata,
			     const struct pair *p, uint32_t idx)
{
	struct gmem_pair_extent_details ext = {};
	struct gmem_pair_query q = {
		.offset = idx * page_size,
		.extents = (uint64_t)(unsigned long)&ext,
		.nr_extents = 1,
		.flags = GMEM_PAIR_QUERY_DETAILS,
	};

	EXPECT_EQ(ioctl(p->pfd, GMEM_PAIR_QUERY, &q), 0)
		TH_LOG("GMEM_PAIR_QUERY_DETAILS: %s", strerror(errno));
	return ext.movable_pages;
}

/*
 * 15. GMEM_PAIR_CONVERT_MIGRATE while every page allocation of this thread
 * fails (fail_page_alloc; fail-nth fails one site only, and step 0's
 * migration failing is made up for by the locked steps').  On a boot with
 * ZONE_MOVABLE no migration target can be allocated: ENOMEM, ERR_NOMEM at
 * the range's first movable page, nothing changed.  It used to be EXDEV,
 * ERR_MOVABLE, as if the caller had not asked to migrate.  Without
 * ZONE_MOVABLE there is nothing to migrate and nothing to check.
 */
TEST_F_TIMEOUT(failnth, migration_without_memory_is_enomem, SWEEP_TIMEOUT)
{
	static const struct conv_case cc = {
		.name = "migration_without_memory", .first = 16, .nr = 16,
		.dir = GMEM_PAIR_TO_PRIVATE, .flags = GMEM_PAIR_CONVERT_MIGRATE,
		.movable = true,
	};
	static struct snapshot before, after;
	char old[ARRAY_SIZE(fail_all_knobs)][32];
	struct gmem_pair_convert out = {};
	uint32_t idx, first_movable;
	struct pair p;
	int r, err, mif;
	bool armed;

	if (!prefer_movable(_metadata)) {
		ksft_print_msg("%s: no ZONE_MOVABLE: nothing migrates\n",
			       cc.name);
		return;
	}
	build_pair(_metadata, &p, &cc, 1);
	assert_movable(_metadata, &p, &cc);
	for (idx = cc.first; idx < cc.first + cc.nr - 1; idx++)
		if (movable_from(_metadata, &p, idx) >
		    movable_from(_metadata, &p, idx + 1))
			break;
	first_movable = idx;
	query_all(_metadata, &p, &before);

	ASSERT_TRUE(save_fail_knobs(old))
		TH_LOG("cannot read fail_page_alloc: %s", strerror(errno));
	mif = open("/proc/thread-self/make-it-fail", O_WRONLY | O_CLOEXEC);
	ASSERT_GE(mif, 0) TH_LOG("make-it-fail: %s", strerror(errno));
	ASSERT_TRUE(lock_armed_memory(true))
		TH_LOG("mlock of text and stack: %s", strerror(errno));
	armed = fail_all_allocs(mif, true, old);
	r = pair_convert(p.pfd, cc.first * page_size, cc.nr * page_size,
			 cc.dir, cc.flags, &out);
	err = errno;
	ASSERT_TRUE(fail_all_allocs(mif, false, old))
		TH_LOG("cannot restore fail_page_alloc: %s", strerror(errno));
	close(mif);
	EXPECT_TRUE(lock_armed_memory(false));
	ASSERT_TRUE(armed)
		TH_LOG("cannot set up fail_page_alloc: %s", strerror(errno));

	ASSERT_EQ(r, -1) TH_LOG("converted with no memory to migrate to");
	EXPECT_EQ(err, ENOMEM)
		TH_LOG("%s, reason %u at %#llx", strerror(err),
		       out.error_reason, (unsigned long long)out.error_offset);
	EXPECT_EQ(out.error_reason, GMEM_PAIR_ERR_NOMEM);
	EXPECT_EQ(out.error_offset, first_movable * page_size);
	query_all(_metadata, &p, &after);
	assert_same_map(_metadata, &before, after.ext, after.nr_ext, cc.name,
			1);
	assert_stats_unchanged(_metadata, &before.stats, &after.stats,
			       cc.name, 1);
	check_shared_pages(_metadata, &p, &before, 1, cc.name);

	/* with memory, the same conversion migrates and converts */
	ASSERT_EQ(pair_convert(p.pfd, cc.first * page_size, cc.nr * page_size,
			       cc.dir, cc.flags, &out), 0)
		TH_LOG("%s, reason %u at %#llx", strerror(errno),
		       out.error_reason, (unsigned long long)out.error_offset);
	query_all(_metadata, &p, &after);
	ASSERT_EQ(first_not_in(&after, cc.first, cc.nr,
			       GMEM_PAIR_STATE_PRIVATE), cc.first + cc.nr);
	ASSERT_GT(after.stats.migrated_pages, before.stats.migrated_pages);
	check_all_contents(_metadata, &p, 1, cc.name);
	pair_close(&p);
}

TEST_HARNESS_MAIN
