// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair_regress_test: one test per defect found in review, each written
 * to fail on the code that had the defect.
 *
 * - a hole punch of the memfd over a range mixing shared and private
 *   offsets punches the shared ones and succeeds;
 * - a pair too large for its state bitmap is refused with EINVAL, no WARN;
 * - a userfaultfd fault waiting for its handler does not hold a lock that
 *   conversions need (it deadlocked with any conversion of the memfd);
 * - a punch or discard of part of a large private folio never loses its
 *   neighbours, even when the split fails (fault injection, debug kernel);
 * - writes through the PTEs of a shmem THP survive MADV_COLLAPSE and
 *   reclaim, on a paired and on a plain memfd;
 * - a fault outside a conversion's range does not wait for the swap-in of
 *   the range (needs a swap device: tests/setup-zram.sh);
 * - a reference held by another CPU's LRU batch is not a refusal, and a
 *   refusal names the pinned folio, not a neighbour that had to split;
 * - GMEM_PAIR_QUERY of a large, mostly empty pair costs what its extents
 *   cost, not a lookup per page under the pair's locks;
 * - folios a conversion holds off the LRU count in NR_ISOLATED_*;
 * - a swap read error is reported as GMEM_PAIR_ERR_IO (fail_make_request,
 *   debug kernel), not as a shortage of memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/gmem_pair.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kvm_util.h"
#include "test_util.h"
#include "gmem_pair_util.h"
#include "../kselftest_harness.h"
#include "../../../../mm/gup_test.h"

#define NR_PAGES	64
#define PAIR_SIZE	(NR_PAGES * 4096UL)

static size_t page_size;

/* Page @i of a pair holds bytes derived from @i and @seed. */
static char pattern(size_t i, size_t byte, char seed)
{
	return seed + i * 7 + byte % 251;
}

static void fill_pages(char *m, size_t first, size_t n, char seed)
{
	for (size_t i = first; i < first + n; i++)
		for (size_t b = 0; b < page_size; b++)
			m[i * page_size + b] = pattern(i, b, seed);
}

/* Index of the first page of [first, first + n) that does not match. */
static long bad_page(const char *m, size_t first, size_t n, char seed)
{
	for (size_t i = first; i < first + n; i++)
		for (size_t b = 0; b < page_size; b++)
			if (m[i * page_size + b] != pattern(i, b, seed))
				return i;
	return -1;
}

static bool all_zero(const char *m, size_t first, size_t n)
{
	for (size_t b = first * page_size; b < (first + n) * page_size; b++)
		if (m[b])
			return false;
	return true;
}

/* As all_zero(), through pread(): a read fault would allocate the hole. */
static bool reads_zero(int fd, size_t first, size_t n)
{
	char buf[4096];

	for (size_t i = first; i < first + n; i++) {
		if (pread(fd, buf, page_size, i * page_size) != (ssize_t)page_size)
			return false;
		for (size_t b = 0; b < page_size; b++)
			if (buf[b])
				return false;
	}
	return true;
}

static uint32_t page_state(int pfd, size_t i)
{
	struct gmem_pair_extent ext;
	struct gmem_pair_query q;

	if (pair_query(pfd, i * page_size, &ext, 1, &q) || q.nr_extents != 1)
		return ~0u;
	return ext.state;
}

FIXTURE(pair) {
	struct gmem_pair_vm p;
};

FIXTURE_SETUP(pair)
{
	page_size = getpagesize();
	ASSERT_EQ(gmem_pair_vm_open(&self->p, NULL, PAIR_SIZE,
				    GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED, O_CLOEXEC,
				    false), 0);
}

FIXTURE_TEARDOWN(pair)
{
	gmem_pair_vm_close(&self->p);
}

/*
 * A VMM discards the shared backing of a range after the guest converted
 * part of it to private (QEMU's model), or a balloon frees a range that
 * mixes states: the punch removes the shared pages, leaves the private
 * ones (and the private file) alone and succeeds.  Other fallocate modes
 * still refuse private offsets.
 */
TEST_F(pair, punch_hole_over_mixed_range)
{
	struct gmem_pair_stats st0, st1;

	fill_pages(self->p.mem, 0, NR_PAGES, 3);
	/* [16, 32) private; [8, 16) and [32, 40) shared; punch [8, 40) */
	ASSERT_EQ(pair_convert(self->p.pfd, 16 * page_size, 16 * page_size,
			       GMEM_PAIR_TO_PRIVATE, 0, NULL), 0);
	st0 = pair_stats(self->p.pfd);
	ASSERT_EQ(st0.private_pages, 16);
	ASSERT_EQ(st0.shared_pages, NR_PAGES - 16);

	EXPECT_EQ(fallocate(self->p.sfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    8 * page_size, 32 * page_size), 0)
		TH_LOG("punch over a mixed range: %s", strerror(errno));

	st1 = pair_stats(self->p.pfd);
	EXPECT_EQ(st1.private_pages, 16);
	EXPECT_EQ(st1.shared_pages, NR_PAGES - 32);
	for (size_t i = 8; i < 40; i++)
		EXPECT_EQ(page_state(self->p.pfd, i),
			  i < 16 || i >= 32 ? GMEM_PAIR_STATE_SHARED_HOLE :
					      GMEM_PAIR_STATE_PRIVATE);
	EXPECT_TRUE(reads_zero(self->p.sfd, 8, 8));
	EXPECT_TRUE(reads_zero(self->p.sfd, 32, 8));
	EXPECT_EQ(bad_page(self->p.mem, 0, 8, 3), -1);
	EXPECT_EQ(bad_page(self->p.mem, 40, NR_PAGES - 40, 3), -1);

	/* a punch that starts and ends inside private ranges */
	EXPECT_EQ(fallocate(self->p.sfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    20 * page_size, 4 * page_size), 0);
	EXPECT_EQ(pair_stats(self->p.pfd).private_pages, 16);

	/* allocation over a private offset is still refused */
	EXPECT_EQ(fallocate(self->p.sfd, 0, 8 * page_size, 32 * page_size), -1);
	EXPECT_EQ(errno, EACCES);
	EXPECT_EQ(fallocate(self->p.sfd, FALLOC_FL_KEEP_SIZE, 16 * page_size,
			    page_size), -1);
	EXPECT_EQ(errno, EACCES);
	/* shmem has no other mode: unchanged */
	EXPECT_EQ(fallocate(self->p.sfd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
			    8 * page_size, 32 * page_size), -1);
	EXPECT_EQ(errno, EOPNOTSUPP);
	EXPECT_EQ(pair_stats(self->p.pfd).shared_pages, NR_PAGES - 32);

	/* the private contents survived the punches */
	ASSERT_EQ(pair_convert(self->p.pfd, 16 * page_size, 16 * page_size,
			       GMEM_PAIR_TO_SHARED, 0, NULL), 0);
	EXPECT_EQ(bad_page(self->p.mem, 16, 16, 3), -1);
}

/*
 * The state bitmap of a pair over 64 TiB would need more than INT_MAX
 * bytes: kvcalloc() WARNed (user-reachable).  Refused with EINVAL.
 */
TEST(oversized_pair_is_refused)
{
	struct kvm_vm *vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	int fd;

	fd = __vm_create_guest_memfd(vm, 128UL << 40, GUEST_MEMFD_FLAG_PAIRED);
	EXPECT_EQ(fd, -1);
	EXPECT_EQ(errno, EINVAL);
	fd = __vm_create_guest_memfd(vm, (64UL << 40) + 4096,
				     GUEST_MEMFD_FLAG_PAIRED);
	EXPECT_EQ(fd, -1);
	EXPECT_EQ(errno, EINVAL);
	/* an unpaired guest_memfd of that size is upstream's business */
	fd = __vm_create_guest_memfd(vm, 128UL << 40, 0);
	EXPECT_GE(fd, 0);
	if (fd >= 0)
		close(fd);
	kvm_vm_free(vm);
}

struct uffd_state {
	int uffd;
	int pfd;
	char *mem;
	int touched;		/* the faulting thread got its page */
	int converted;		/* the converter returned */
	int copied;		/* UFFDIO_COPY returned */
	int convert_ret;
	int copy_ret;
};

static void *uffd_toucher(void *arg)
{
	struct uffd_state *s = arg;

	/* a shared hole registered for MISSING faults: waits for the handler */
	if (READ_ONCE(s->mem[0]) != 0x5a)
		return (void *)1;
	WRITE_ONCE(s->touched, 1);
	return NULL;
}

static void *uffd_converter(void *arg)
{
	struct uffd_state *s = arg;

	/* another range: nothing to do with the fault */
	s->convert_ret = pair_convert(s->pfd, 32 * page_size, 16 * page_size,
				      GMEM_PAIR_TO_PRIVATE, 0, NULL);
	WRITE_ONCE(s->converted, 1);
	return NULL;
}

static void *uffd_copier(void *arg)
{
	struct uffd_state *s = arg;
	static char src[4096] __aligned(4096);
	struct uffdio_copy copy = {
		.dst = (unsigned long)s->mem,
		.src = (unsigned long)src,
		.len = page_size,
	};

	memset(src, 0x5a, sizeof(src));
	s->copy_ret = ioctl(s->uffd, UFFDIO_COPY, &copy);
	WRITE_ONCE(s->copied, 1);
	return NULL;
}

static bool wait_flag(int *flag, int ms)
{
	for (int i = 0; i < ms && !READ_ONCE(*flag); i++)
		usleep(1000);
	return READ_ONCE(*flag);
}

/*
 * Postcopy live migration of shmem guest RAM: a vCPU thread faults on a
 * missing page and waits for the handler; meanwhile the VMM converts some
 * other range; then the handler resolves the fault with UFFDIO_COPY.  The
 * fault must not hold the pair's lock while it waits: with it held, the
 * conversion queues for write behind the fault, UFFDIO_COPY queues for
 * read behind the conversion, and nothing ever moves (on the KVM path the
 * converter also holds slots_lock: the VM hangs).
 */
TEST_F_TIMEOUT(pair, uffd_fault_does_not_block_conversions, 120)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)self->p.mem,
			   .len = 4 * page_size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	struct uffd_state s = { .pfd = self->p.pfd, .mem = self->p.mem };
	pthread_t toucher, converter, copier;
	struct uffd_msg msg;
	struct pollfd pfd;

	fill_pages(self->p.mem, 32, 16, 9);
	s.uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	ASSERT_GE(s.uffd, 0);
	ASSERT_EQ(ioctl(s.uffd, UFFDIO_API, &api), 0);
	ASSERT_EQ(ioctl(s.uffd, UFFDIO_REGISTER, &reg), 0);

	ASSERT_EQ(pthread_create(&toucher, NULL, uffd_toucher, &s), 0);
	pfd.fd = s.uffd;
	pfd.events = POLLIN;
	ASSERT_EQ(poll(&pfd, 1, 10000), 1);
	ASSERT_EQ(read(s.uffd, &msg, sizeof(msg)), sizeof(msg));
	ASSERT_EQ(msg.event, UFFD_EVENT_PAGEFAULT);
	ASSERT_EQ(msg.arg.pagefault.address, (unsigned long)self->p.mem);

	/* the fault is waiting for us: convert another range */
	ASSERT_EQ(pthread_create(&converter, NULL, uffd_converter, &s), 0);
	/*
	 * Give a blocked converter time to queue on the lock; a converter
	 * that is not blocked is done by then.
	 */
	wait_flag(&s.converted, 2000);
	ASSERT_EQ(pthread_create(&copier, NULL, uffd_copier, &s), 0);

	if (!wait_flag(&s.copied, 20000) || !wait_flag(&s.converted, 20000)) {
		/* the threads are stuck in the kernel: say so and hang */
		TH_LOG("deadlock: UFFDIO_COPY %s, conversion %s after 20 s",
		       READ_ONCE(s.copied) ? "returned" : "blocked",
		       READ_ONCE(s.converted) ? "returned" : "blocked");
		ASSERT_TRUE(false);
	}
	EXPECT_EQ(s.copy_ret, 0);
	EXPECT_EQ(s.convert_ret, 0);
	ASSERT_TRUE(wait_flag(&s.touched, 10000));
	pthread_join(toucher, NULL);
	pthread_join(converter, NULL);
	pthread_join(copier, NULL);
	EXPECT_EQ(page_state(self->p.pfd, 0), GMEM_PAIR_STATE_SHARED);
	EXPECT_EQ(page_state(self->p.pfd, 32), GMEM_PAIR_STATE_PRIVATE);
	close(s.uffd);
	ASSERT_EQ(pair_convert(self->p.pfd, 32 * page_size, 16 * page_size,
			       GMEM_PAIR_TO_SHARED, 0, NULL), 0);
	EXPECT_EQ(bad_page(self->p.mem, 32, 16, 9), -1);
}

/* This thread's fail-nth file, or -1 on a kernel without fault injection. */
static int fail_nth_open(void)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	return open(path, O_RDWR);
}

#define FAILSLAB	"/sys/kernel/debug/failslab"
#define FAIL_PAGE_ALLOC	"/sys/kernel/debug/fail_page_alloc"

/*
 * Write @val to the fault-injection knob @knob of @dir (debugfs).  A knob
 * that cannot be opened is skipped quietly; a failed write is reported if
 * @verbose.  Return: true if it was written.
 */
static bool write_fail_knob(const char *dir, const char *knob,
			    const char *val, bool verbose)
{
	char path[96];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, knob);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return false;
	n = write(fd, val, strlen(val));
	if (n < 0 && verbose)
		perror(path);
	close(fd);
	return n == (ssize_t)strlen(val);
}

static void fault_injection_setup(void)
{
	static const char * const knobs[][3] = {
		{ FAILSLAB, "ignore-gfp-wait", "N" },
		{ FAILSLAB, "verbose", "0" },
		{ FAIL_PAGE_ALLOC, "ignore-gfp-wait", "N" },
		{ FAIL_PAGE_ALLOC, "ignore-gfp-highmem", "N" },
		{ FAIL_PAGE_ALLOC, "min-order", "0" },
		{ FAIL_PAGE_ALLOC, "verbose", "0" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(knobs); i++)
		write_fail_knob(knobs[i][0], knobs[i][1], knobs[i][2], true);
}

/*
 * A 4M pair, 2M aligned; its first 2M a shmem THP moved whole to private.
 * gmem_pair_vm_close() undoes it.
 */
static bool thp_pair_setup(struct gmem_pair_vm *t, char seed)
{
	const size_t huge = 2UL << 20, size = 2 * huge;
	long huge0;

	if (gmem_pair_vm_open(t, NULL, size, GUEST_MEMFD_FLAG_PAIRED |
			      GUEST_MEMFD_FLAG_PAIR_SHARED, 0, true))
		return false;
	huge0 = meminfo_kb("FileHugePages:");
	fill_pages(t->mem, 0, size / page_size, seed);
	if (pair_convert(t->pfd, 0, huge, GMEM_PAIR_TO_PRIVATE, 0, NULL))
		return false;
	/* the private file holds it as one 2M folio */
	return meminfo_kb("FileHugePages:") - huge0 == 2048;
}

/*
 * Punch one page out of a 2M private folio (fallocate on the private fd)
 * and discard another (to-shared with DISCARD), with every allocation of
 * the call failed in turn where the kernel has fault injection: whatever
 * fails, the other 510 pages keep their contents, and the state of every
 * offset matches its contents.  Truncation used to split the folio itself
 * and, when the split failed, drop the clean folio whole or leave the
 * dirty one (and DISCARD then marked the offset shared while the private
 * file still held its page).
 */
TEST(partial_punch_of_private_thp_keeps_neighbours)
{
	const size_t huge = 2UL << 20, nr = huge / 4096;
	int nth_fd, injected = 0;
	char old[128];

	page_size = getpagesize();
	ASSERT_TRUE(shmem_thp_advise(old, sizeof(old)));
	nth_fd = fail_nth_open();
	if (nth_fd >= 0)
		fault_injection_setup();
	else
		TH_LOG("no fail-nth: the split failures are tested on the debug kernel");

	for (int n = 0; n < 200; n++) {
		struct gmem_pair_convert out;
		struct gmem_pair_vm t;
		char val[16];
		int r1, r2, e1 = 0, e2 = 0;

		if (n && nth_fd < 0)
			break;
		ASSERT_TRUE(thp_pair_setup(&t, n)) TH_LOG("no private THP");
		if (n) {
			snprintf(val, sizeof(val), "%d", n);
			ASSERT_EQ(pwrite(nth_fd, val, strlen(val), 0),
				  (ssize_t)strlen(val));
		}
		r1 = fallocate(t.pfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       5 * page_size, page_size);
		e1 = errno;
		r2 = pair_convert(t.pfd, 9 * page_size, page_size,
				  GMEM_PAIR_TO_SHARED, GMEM_PAIR_CONVERT_DISCARD,
				  &out);
		e2 = errno;
		if (n) {
			/* the read itself may take the injected failure */
			ssize_t rd = pread(nth_fd, val, sizeof(val) - 1, 0);

			val[rd > 0 ? rd : 0] = 0;
			injected = rd > 0 && atoi(val) == 0;
			for (int i = 0; i < 8; i++)
				if (pwrite(nth_fd, "0", 1, 0) == 1)
					break;
		}
		/* EFAULT: an injected copy_{from,to}_user() failure */
		if (r1) {
			EXPECT_TRUE(e1 == EBUSY || e1 == ENOMEM || e1 == EFAULT)
				TH_LOG("n=%d punch: %s", n, strerror(e1));
		}
		if (r2) {
			EXPECT_TRUE(e2 == EBUSY || e2 == ENOMEM || e2 == EFAULT)
				TH_LOG("n=%d discard: %s", n, strerror(e2));
		}
		/* what succeeded freed its page; the state says where pages are */
		EXPECT_EQ(page_state(t.pfd, 5), r1 ? GMEM_PAIR_STATE_PRIVATE :
					       GMEM_PAIR_STATE_PRIVATE_HOLE);
		EXPECT_EQ(page_state(t.pfd, 9), r2 ? GMEM_PAIR_STATE_PRIVATE :
					       GMEM_PAIR_STATE_SHARED_HOLE);
		EXPECT_EQ(pair_stats(t.pfd).private_pages, nr - !r1 - !r2)
			TH_LOG("n=%d: punch %d, discard %d", n, r1, r2);
		ASSERT_EQ(pair_convert(t.pfd, 0, huge, GMEM_PAIR_TO_SHARED, 0,
				       NULL), 0);
		for (size_t i = 0; i < nr; i++) {
			bool gone = (i == 5 && !r1) || (i == 9 && !r2);

			if (gone) {
				EXPECT_TRUE(all_zero(t.mem, i, 1))
					TH_LOG("n=%d page %zu not dropped", n, i);
			} else {
				EXPECT_EQ(bad_page(t.mem, i, 1, n), -1)
					TH_LOG("n=%d page %zu lost", n, i);
			}
		}
		gmem_pair_vm_close(&t);
		if (n && !injected)
			break;	/* the calls ran out of injection points */
	}
	if (nth_fd >= 0)
		close(nth_fd);
	shmem_thp_restore(old);
}

/* Set a knob of both failslab and fail_page_alloc; true if both took it. */
static bool set_fail_knob(const char *knob, const char *val)
{
	bool ok = write_fail_knob(FAILSLAB, knob, val, false);

	return write_fail_knob(FAIL_PAGE_ALLOC, knob, val, false) && ok;
}

/*
 * With make-it-fail set, a page fault of this task that needs memory (a
 * copy-on-write fault after the harness's fork, a new stack page, a lazy
 * PLT binding) fails and is retried for ever: touch all of that first.
 */
static void prefault_for_injection(void)
{
	char stack[256 * 1024];

	memset(stack, 0, sizeof(stack));
	asm volatile("" : : "r"(stack) : "memory");	/* keep the memset */
	errno = 0;
	(void)!fallocate(-1, 0, 0, 0);
	(void)!ioctl(-1, 0, 0);
	(void)!pwrite(-1, "0", 1, 0);
}

/*
 * As above, with every allocation of the two calls failing (failslab and
 * fail_page_alloc at probability 100 for this task only), so that the
 * split of the 2M private folio fails however often it is retried: the
 * one-shot failures of fail-nth are absorbed by those retries, and that
 * test passed on the code that lost neighbours.  Both calls must fail and
 * change nothing; the DISCARD says it was the split.
 */
TEST(partial_punch_of_private_thp_with_split_always_failing)
{
	const size_t huge = 2UL << 20, nr = huge / 4096;
	struct gmem_pair_convert out = {};
	int r1, r2, e1, e2, fail_fd;
	struct gmem_pair_vm t;
	char old[128];

	page_size = getpagesize();
	if (access("/proc/self/make-it-fail", F_OK))
		SKIP(return, "no fault injection (debug kernel only)");
	fault_injection_setup();
	ASSERT_TRUE(set_fail_knob("task-filter", "Y") &&
		    set_fail_knob("interval", "1") &&
		    set_fail_knob("times", "-1") &&
		    set_fail_knob("space", "0") &&
		    set_fail_knob("probability", "100"));
	ASSERT_TRUE(shmem_thp_advise(old, sizeof(old)));
	ASSERT_TRUE(thp_pair_setup(&t, 3)) TH_LOG("no private THP");

	/* opened first: opening it with injection on would fail */
	fail_fd = open("/proc/self/make-it-fail", O_WRONLY);
	ASSERT_GE(fail_fd, 0);
	r1 = 0;
	r2 = 0;
	e1 = 0;
	e2 = 0;
	prefault_for_injection();
	ASSERT_EQ(pwrite(fail_fd, "1", 1, 0), 1);
	r1 = fallocate(t.pfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		       5 * page_size, page_size);
	e1 = errno;
	r2 = pair_convert(t.pfd, 9 * page_size, page_size, GMEM_PAIR_TO_SHARED,
			  GMEM_PAIR_CONVERT_DISCARD, &out);
	e2 = errno;
	ASSERT_EQ(pwrite(fail_fd, "0", 1, 0), 1);
	close(fail_fd);
	set_fail_knob("probability", "0");
	set_fail_knob("task-filter", "N");

	EXPECT_EQ(r1, -1) TH_LOG("punch succeeded with the split failing");
	EXPECT_TRUE(e1 == EBUSY || e1 == ENOMEM) TH_LOG("punch: %s", strerror(e1));
	EXPECT_EQ(r2, -1) TH_LOG("discard succeeded with the split failing");
	EXPECT_EQ(e2, EBUSY) TH_LOG("discard: %s", strerror(e2));
	EXPECT_EQ(out.error_reason, GMEM_PAIR_ERR_SPLIT);
	EXPECT_EQ(page_state(t.pfd, 5), GMEM_PAIR_STATE_PRIVATE);
	EXPECT_EQ(page_state(t.pfd, 9), GMEM_PAIR_STATE_PRIVATE);
	EXPECT_EQ(pair_stats(t.pfd).private_pages, nr);
	ASSERT_EQ(pair_convert(t.pfd, 0, huge, GMEM_PAIR_TO_SHARED, 0, NULL), 0);
	EXPECT_EQ(bad_page(t.mem, 0, nr, 3), -1);
	gmem_pair_vm_close(&t);
	shmem_thp_restore(old);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define FAULT_TIMES	65536

struct fault_timer {
	char *page;		/* a shared page outside the conversion */
	int stop;
	unsigned long nr;
	double start[FAULT_TIMES], end[FAULT_TIMES];
};

/*
 * Write-fault @page again and again (MADV_DONTNEED drops the PTE; a write
 * fault of a shared mapping takes no fault-around: it goes through
 * shmem_fault() and the pair's lock), timing each fault.
 */
static void *fault_timer(void *arg)
{
	struct fault_timer *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE) &&
	       f->nr < FAULT_TIMES) {
		madvise(f->page, page_size, MADV_DONTNEED);
		f->start[f->nr] = now_s();
		/* a store only: a read would fault around, without the lock */
		__atomic_store_n(&f->page[0], 1, __ATOMIC_RELAXED);
		f->end[f->nr] = now_s();
		__atomic_add_fetch(&f->nr, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* The longest fault that overlapped [@c0, @c1]; *@n: how many did. */
static double longest_fault_within(struct fault_timer *f, double c0,
				   double c1, unsigned long *n)
{
	double longest = 0;

	*n = 0;
	for (unsigned long i = 0; i < f->nr; i++) {
		if (f->end[i] < c0 || f->start[i] > c1)
			continue;
		(*n)++;
		if (f->end[i] - f->start[i] > longest)
			longest = f->end[i] - f->start[i];
	}
	return longest;
}

/*
 * A conversion that has to swap its range back in does that before it
 * takes the locks that stop faults: a fault on an offset outside the range
 * waits at most for the moves, not for swap-in I/O.  Before, both
 * invalidate_locks were held for write across the swap-in of the whole
 * range, and the fault waited for nearly all of it.
 */
TEST(unrelated_fault_does_not_wait_for_swap_in)
{
	const size_t range = 32UL << 20, size = range + (2UL << 20);
	struct fault_timer *f;
	double c0, c1, longest;
	struct gmem_pair_vm p;
	unsigned long during;
	pthread_t thread;
	char *m;
	int pfd;

	page_size = getpagesize();
	f = calloc(1, sizeof(*f));
	ASSERT_NE(f, NULL);
	ASSERT_EQ(gmem_pair_vm_open(&p, NULL, size, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED, O_CLOEXEC,
				    false), 0);
	pfd = p.pfd;
	m = p.mem;

	fill_pages(m, 0, range / page_size, 21);
	ASSERT_EQ(madvise(m, range, MADV_PAGEOUT), 0);
	ASSERT_GT(pair_stats(pfd).swapped_pages, range / page_size / 2)
		TH_LOG("the range did not swap out (no swap device?)");

	f->page = m + range + page_size;
	f->page[0] = 0;
	ASSERT_EQ(pthread_create(&thread, NULL, fault_timer, f), 0);
	while (__atomic_load_n(&f->nr, __ATOMIC_ACQUIRE) < 100)
		usleep(1000);

	c0 = now_s();
	ASSERT_EQ(pair_convert(pfd, 0, range, GMEM_PAIR_TO_PRIVATE, 0, NULL), 0);
	c1 = now_s();
	usleep(10000);
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);
	longest = longest_fault_within(f, c0, c1, &during);

	ksft_print_msg("to-private of %zu MiB swapped out: %.3f s\n",
		       range >> 20, c1 - c0);
	ksft_print_msg("%lu faults elsewhere meanwhile, longest %.3f s\n",
		       during, longest);
	EXPECT_GT(during, 0);
	EXPECT_LT(longest, (c1 - c0) / 2)
		TH_LOG("a fault outside the range waited %.3f s of a %.3f s conversion",
		       longest, c1 - c0);

	ASSERT_EQ(pair_convert(pfd, 0, range, GMEM_PAIR_TO_SHARED, 0, NULL), 0);
	EXPECT_EQ(bad_page(m, 0, range / page_size, 21), -1);
	gmem_pair_vm_close(&p);
	free(f);
}

/*
 * A 64 GiB pair with a few pages in each state: QUERY walks it in time
 * proportional to its extents.  It used to look up every page (16M xarray
 * lookups per call, with the pair's locks held for read: a conversion
 * queued behind it made every fault wait too).
 */
TEST(query_of_a_large_sparse_pair_is_fast)
{
	const size_t size = 64UL << 30, gib = 1UL << 30;
	struct gmem_pair_extent ext[8];
	struct gmem_pair_query q;
	struct kvm_vm *vm;
	int pfd, sfd, n = 0;
	uint64_t off = 0;
	double t0, t;

	page_size = getpagesize();
	vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	pfd = __vm_create_guest_memfd(vm, size, GUEST_MEMFD_FLAG_PAIRED |
				      GUEST_MEMFD_FLAG_PAIR_SHARED);
	ASSERT_GE(pfd, 0);
	sfd = ioctl(pfd, GMEM_PAIR_GET_SHARED_FD, O_CLOEXEC);
	ASSERT_GE(sfd, 0);
	/* shared pages at 1 GiB, private ones at 9 GiB, holes elsewhere */
	ASSERT_EQ(pwrite(sfd, "x", 1, gib), 1);
	ASSERT_EQ(pwrite(sfd, "y", 1, 9 * gib), 1);
	ASSERT_EQ(pair_convert(pfd, 8 * gib, 2 * gib, GMEM_PAIR_TO_PRIVATE, 0,
			       NULL), 0);

	t0 = now_s();
	do {
		ASSERT_EQ(pair_query(pfd, off, ext, 8, &q), 0);
		n += q.nr_extents;
		off = q.next_offset;
	} while (q.nr_extents && off < size);
	t = now_s() - t0;
	ksft_print_msg("QUERY of a 64 GiB pair: %d extents, %.3f s\n", n, t);
	/* hole, shared, hole, private hole, private, private hole, hole */
	EXPECT_EQ(n, 7);
	EXPECT_LT(t, 0.5) TH_LOG("QUERY took %.3f s", t);
	close(sfd);
	close(pfd);
	kvm_vm_free(vm);
}

/* Run the calling thread on @cpu only. */
static bool run_on_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return !pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

struct batch_holder {
	int sfd;
	size_t pages;
	int ready[2];	/* the holder writes a byte when its batch is full */
	int done[2];	/* and sleeps until it reads one */
	int err;
};

/*
 * On CPU 1: read the start of each page twice.  The first read marks the
 * folio referenced, the second queues it for activation in CPU 1's
 * lru_activate batch, which holds a reference and leaves it on the LRU (a
 * batch is flushed at 15 folios or when CPU 1 drains).  Then sleep, so
 * that nothing on CPU 1 drains it.
 */
static void *batch_holder(void *arg)
{
	struct batch_holder *h = arg;
	char c = 0;

	if (!run_on_cpu(1))
		h->err = EINVAL;
	for (int round = 0; round < 2 && !h->err; round++)
		for (size_t i = 0; i < h->pages; i++)
			if (pread(h->sfd, &c, 1, i * page_size) != 1)
				h->err = errno;
	if (write(h->ready[1], &c, 1) != 1 || read(h->done[0], &c, 1) != 1)
		h->err = EIO;
	return NULL;
}

/*
 * A folio that another CPU's LRU batch (here: activate) holds a reference on is
 * neither pinned nor in use: a conversion drains every CPU's batches (once,
 * without its locks) and moves it.  Refusing it as ERR_REFERENCED was
 * defect 7 of the review.
 */
TEST_F(pair, lru_batch_of_another_cpu_is_not_a_refusal)
{
	struct batch_holder h = { .sfd = self->p.sfd, .pages = 8 };
	struct gmem_pair_convert out;
	pthread_t thread;
	char c = 0;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs two CPUs");
	ASSERT_TRUE(run_on_cpu(0));
	fill_pages(self->p.mem, 0, NR_PAGES, 13);
	ASSERT_EQ(pipe(h.ready), 0);
	ASSERT_EQ(pipe(h.done), 0);
	ASSERT_EQ(pthread_create(&thread, NULL, batch_holder, &h), 0);
	ASSERT_EQ(read(h.ready[0], &c, 1), 1);
	ASSERT_EQ(h.err, 0) TH_LOG("reads on CPU 1: %s", strerror(h.err));

	EXPECT_EQ(pair_convert(self->p.pfd, 0, 8 * page_size,
			       GMEM_PAIR_TO_PRIVATE, 0, &out), 0)
		TH_LOG("refused at %#llx, reason %u: %s",
		       (unsigned long long)out.error_offset, out.error_reason,
		       strerror(errno));
	EXPECT_EQ(page_state(self->p.pfd, 0), GMEM_PAIR_STATE_PRIVATE);

	ASSERT_EQ(write(h.done[1], &c, 1), 1);
	pthread_join(thread, NULL);
	ASSERT_EQ(pair_convert(self->p.pfd, 0, PAIR_SIZE, GMEM_PAIR_TO_SHARED, 0,
			       NULL), 0);
	EXPECT_EQ(bad_page(self->p.mem, 0, NR_PAGES, 13), -1);
	close(h.ready[0]);
	close(h.ready[1]);
	close(h.done[0]);
	close(h.done[1]);
}

/*
 * A to-private of [1 MiB, 3 MiB) over two shmem THPs, one page of the
 * second pinned: the first THP splits, the refusal names the pinned folio
 * (ERR_PINNED, inside the second THP), and nothing changed.  It used to be
 * refused at 1 MiB, inside the first THP, which nobody pinned.
 */
TEST(refusal_names_the_pinned_thp_not_its_neighbour)
{
	const size_t huge = 2UL << 20, size = 2 * huge;
	struct pin_longterm_test pin = { .size = 4096,
					 .flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE };
	struct gmem_pair_convert out;
	struct gmem_pair_vm p;
	char old[128], *m;
	int pfd, gup;
	long huge0;

	page_size = getpagesize();
	gup = open("/sys/kernel/debug/gup_test", O_RDWR);
	ASSERT_GE(gup, 0);
	ASSERT_TRUE(shmem_thp_advise(old, sizeof(old)));
	ASSERT_EQ(gmem_pair_vm_open(&p, NULL, size, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED, 0, true), 0);
	pfd = p.pfd;
	m = p.mem;
	huge0 = meminfo_kb("ShmemHugePages:");
	fill_pages(m, 0, size / page_size, 17);
	ASSERT_EQ(meminfo_kb("ShmemHugePages:") - huge0, 4096)
		TH_LOG("the memfd did not get two 2M folios");

	pin.addr = (uint64_t)(unsigned long)(m + huge + 5 * page_size);
	ASSERT_EQ(ioctl(gup, PIN_LONGTERM_TEST_START, &pin), 0);
	EXPECT_EQ(pair_convert(pfd, huge / 2, huge, GMEM_PAIR_TO_PRIVATE, 0,
			       &out), -1);
	EXPECT_EQ(errno, EBUSY);
	EXPECT_EQ(out.error_reason, GMEM_PAIR_ERR_PINNED);
	EXPECT_GE(out.error_offset, huge);
	EXPECT_LT(out.error_offset, size);
	EXPECT_EQ(pair_stats(pfd).private_pages, 0);
	ASSERT_EQ(ioctl(gup, PIN_LONGTERM_TEST_STOP), 0);

	EXPECT_EQ(pair_convert(pfd, huge / 2, huge, GMEM_PAIR_TO_PRIVATE, 0,
			       NULL), 0);
	EXPECT_EQ(pair_stats(pfd).private_pages, huge / page_size);
	ASSERT_EQ(pair_convert(pfd, 0, size, GMEM_PAIR_TO_SHARED, 0, NULL), 0);
	EXPECT_EQ(bad_page(m, 0, size / page_size, 17), -1);
	gmem_pair_vm_close(&p);
	close(gup);
	shmem_thp_restore(old);
}

FIXTURE(collapse) {
	struct gmem_pair_vm p;	/* p.sfd: the memfd, paired or not */
	char old[64];
};

FIXTURE_VARIANT(collapse) {
	bool paired;
};

FIXTURE_VARIANT_ADD(collapse, plain_memfd) {
	.paired = false,
};

FIXTURE_VARIANT_ADD(collapse, paired_memfd) {
	.paired = true,
};

FIXTURE_SETUP(collapse)
{
	const size_t size = 4UL << 20;

	page_size = getpagesize();
	/* the plain memfd goes in the same struct: no VM, no private file */
	self->p.pfd = -1;
	self->p.sfd = -1;
	ASSERT_TRUE(shmem_thp_advise(self->old, sizeof(self->old)));
	if (variant->paired) {
		ASSERT_EQ(gmem_pair_vm_open(&self->p, NULL, size,
					    GUEST_MEMFD_FLAG_PAIRED |
					    GUEST_MEMFD_FLAG_PAIR_SHARED, 0,
					    true), 0);
		return;
	}
	self->p.sfd = memfd_create("collapse", 0);
	ASSERT_EQ(ftruncate(self->p.sfd, size), 0);
	ASSERT_GE(self->p.sfd, 0);
	self->p.area_size = size + (2UL << 20);
	self->p.mem = mmap_2m_aligned(self->p.sfd, size, &self->p.area);
	ASSERT_NE(self->p.mem, NULL);
}

FIXTURE_TEARDOWN(collapse)
{
	gmem_pair_vm_close(&self->p);
	shmem_thp_restore(self->old);
}

/*
 * Writes through the PTEs of a shmem THP survive MADV_COLLAPSE and reclaim.
 * A THP that a read fault allocated is clean: its pages are mapped
 * writable and clean where a page table already covered the range, and
 * writes through them leave the dirty bit in the PTEs only.  MADV_COLLAPSE
 * (and khugepaged) then replace the PTEs by a PMD; the kernel used to clear
 * them without moving their dirty bits to the folio, and reclaim dropped
 * the clean folio: every page read back as zeros, on any memfd.  (The
 * stress test found it as pages of a paired memfd lost after a pageout.)
 */
TEST_F(collapse, writes_through_ptes_survive_collapse_and_pageout)
{
	const size_t huge = 2UL << 20, nr = huge / 4096;
	long thp0;
	int r;

	/* a page table under the first 2M: a small folio, then punched */
	ASSERT_EQ(madvise(self->p.mem, huge, MADV_NOHUGEPAGE), 0);
	(void)READ_ONCE(self->p.mem[0]);
	ASSERT_EQ(fallocate(self->p.sfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    0, huge), 0);
	ASSERT_EQ(madvise(self->p.mem, huge, MADV_HUGEPAGE), 0);
	/* read faults: one THP, mapped by writable, clean PTEs */
	thp0 = meminfo_kb("ShmemHugePages:");
	for (size_t i = 0; i < nr; i++)
		(void)READ_ONCE(self->p.mem[i * page_size]);
	ASSERT_EQ(meminfo_kb("ShmemHugePages:") - thp0, 2048)
		TH_LOG("no shmem THP: nothing to collapse");
	fill_pages(self->p.mem, 0, nr, 42);
	r = madvise(self->p.mem, huge, MADV_COLLAPSE);
	ASSERT_EQ(r, 0) TH_LOG("MADV_COLLAPSE: %s", strerror(errno));
	ASSERT_EQ(madvise(self->p.mem, huge, MADV_PAGEOUT), 0);
	for (size_t i = 0; i < nr; i++) {
		char buf[4096];
		size_t b;

		ASSERT_EQ(pread(self->p.sfd, buf, page_size, i * page_size),
			  (ssize_t)page_size);
		for (b = 0; b < page_size; b++)
			if (buf[b] != pattern(i, b, 42))
				break;
		ASSERT_EQ(b, page_size)
			TH_LOG("page %zu lost its write (byte %zu is %d)", i, b,
			       buf[b]);
	}
}

/* The value of @key in /proc/vmstat, or LONG_MIN. */
static long vmstat_value(const char *key)
{
	size_t len = strlen(key);
	char line[128];
	long v = LONG_MIN;
	FILE *f;

	f = fopen("/proc/vmstat", "r");
	if (!f)
		return v;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) && line[len] == ' ') {
			v = atol(line + len + 1);
			break;
		}
	fclose(f);
	return v;
}

/*
 * Folios isolated from the LRU: shmem's (swap-backed) count as anon, the
 * private file's as file.
 */
static long nr_isolated(void)
{
	long anon = vmstat_value("nr_isolated_anon"),
	     file = vmstat_value("nr_isolated_file");

	return anon == LONG_MIN || file == LONG_MIN ? LONG_MIN : anon + file;
}

/* Samples nr_isolated() until told to stop; keeps the largest value. */
struct isolated_sampler {
	long max;
	unsigned long samples;
	int stop;
};

static void *sample_isolated(void *arg)
{
	struct isolated_sampler *s = arg;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		long v = nr_isolated();

		if (v > s->max)
			s->max = v;
		s->samples++;
	}
	return NULL;
}

/*
 * The largest nr_isolated() seen during a conversion of @size bytes, less
 * the value before it.
 */
static long isolated_during(int pfd, size_t size, uint32_t direction,
			    unsigned long *samples)
{
	struct isolated_sampler s = { .max = LONG_MIN };
	long before = nr_isolated();
	pthread_t thread;
	int ret;

	if (before == LONG_MIN ||
	    pthread_create(&thread, NULL, sample_isolated, &s))
		return LONG_MIN;
	while (!__atomic_load_n(&s.samples, __ATOMIC_RELAXED))
		sched_yield();
	ret = pair_convert(pfd, 0, size, direction, 0, NULL);
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);
	*samples = s.samples;
	return ret ? LONG_MIN : s.max - before;
}

/*
 * Folios a conversion holds off the LRU are counted in NR_ISOLATED_ANON
 * or _FILE (by the LRU they came from), as migration and reclaim count
 * theirs: reclaim throttles on them (too_many_isolated()) and compaction
 * reads them.  They were never counted: a conversion could hold gigabytes
 * off the LRU unseen.  Both directions isolate (the private file's folios
 * are on the unevictable LRU); the count is back where it was when the
 * conversion returns.
 */
TEST(isolated_folios_are_counted)
{
	const size_t size = 64UL << 20, npages = size / 4096;
	unsigned long samples;
	struct gmem_pair_vm p;
	long peak, before;

	page_size = getpagesize();
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs two CPUs");
	ASSERT_EQ(gmem_pair_vm_open(&p, NULL, size, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED, O_CLOEXEC,
				    false), 0);
	ASSERT_EQ(madvise(p.mem, size, MADV_NOHUGEPAGE), 0);
	fill_pages(p.mem, 0, npages, 17);
	before = nr_isolated();
	ASSERT_NE(before, LONG_MIN);

	peak = isolated_during(p.pfd, size, GMEM_PAIR_TO_PRIVATE, &samples);
	ksft_print_msg("to-private of %zu pages: isolated folios up to +%ld (%lu samples)\n",
		       npages, peak, samples);
	EXPECT_GE(peak, (long)npages / 4);

	peak = isolated_during(p.pfd, size, GMEM_PAIR_TO_SHARED, &samples);
	ksft_print_msg("to-shared of %zu pages: isolated folios up to +%ld (%lu samples)\n",
		       npages, peak, samples);
	EXPECT_GE(peak, (long)npages / 4);

	/* per-CPU deltas are folded lazily: allow a batch of them */
	EXPECT_LT(labs(nr_isolated() - before), 256);
	EXPECT_EQ(bad_page(p.mem, 0, npages, 17), -1);
	gmem_pair_vm_close(&p);
}

#define FAIL_MAKE_REQUEST	"/sys/kernel/debug/fail_make_request"
#define ZRAM_MAKE_IT_FAIL	"/sys/block/zram0/make-it-fail"

/* Fail the next @times bios of zram0 (fail_make_request); 0: stop. */
static bool fail_zram_bios(const char *times)
{
	bool on = strcmp(times, "0");

	if (on && !(write_fail_knob(FAIL_MAKE_REQUEST, "verbose", "0", true) &&
		    write_fail_knob(FAIL_MAKE_REQUEST, "interval", "1", true) &&
		    write_fail_knob(FAIL_MAKE_REQUEST, "probability", "100", true) &&
		    write_fail_knob(FAIL_MAKE_REQUEST, "times", times, true)))
		return false;
	if (!on)
		write_fail_knob(FAIL_MAKE_REQUEST, "probability", "0", true);
	return write_fail_knob("/sys/block/zram0", "make-it-fail", on ? "1" : "0",
			       true);
}

/*
 * A swap read that fails (here: the first bio to the zram swap device,
 * with fail_make_request) refuses the conversion with EIO and reason
 * GMEM_PAIR_ERR_IO at that page, which shmem now keeps as a read error
 * (EIO for every later access, as on any memfd); nothing moved and every
 * other page reads back intact.  It was refused as GMEM_PAIR_ERR_NOMEM:
 * a VMM would retry a conversion that can never succeed, or look for a
 * memory shortage that is not there.  A punch of the bad page clears it.
 */
TEST(swap_read_error_is_reported_as_io)
{
	const size_t size = 1UL << 20, npages = size / 4096;
	struct gmem_pair_convert out = {};
	struct gmem_pair_vm p;
	size_t bad, i;
	char buf[4096];
	int r, e;

	page_size = getpagesize();
	if (access(FAIL_MAKE_REQUEST, F_OK))
		SKIP(return, "no fail_make_request (debug kernel only)");
	ASSERT_EQ(access(ZRAM_MAKE_IT_FAIL, W_OK), 0)
		TH_LOG("no zram0 swap (tests/setup-zram.sh)");
	ASSERT_EQ(gmem_pair_vm_open(&p, NULL, size, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED, O_CLOEXEC,
				    false), 0);
	ASSERT_EQ(madvise(p.mem, size, MADV_NOHUGEPAGE), 0);
	fill_pages(p.mem, 0, npages, 29);
	ASSERT_EQ(madvise(p.mem, size, MADV_PAGEOUT), 0);
	ASSERT_GT(pair_stats(p.pfd).swapped_pages, npages / 2)
		TH_LOG("the range did not swap out");

	ASSERT_TRUE(fail_zram_bios("1"));
	r = pair_convert(p.pfd, 0, size, GMEM_PAIR_TO_PRIVATE, 0, &out);
	e = errno;
	ASSERT_TRUE(fail_zram_bios("0"));

	ASSERT_EQ(r, -1) TH_LOG("converted with a swap read failing");
	EXPECT_EQ(e, EIO) TH_LOG("errno %s", strerror(e));
	EXPECT_EQ(out.error_reason, GMEM_PAIR_ERR_IO);
	bad = out.error_offset / page_size;
	ASSERT_LT(bad, npages);
	ksft_print_msg("refused at page %zu, reason %u\n", bad, out.error_reason);
	EXPECT_EQ(pair_stats(p.pfd).private_pages, 0);
	for (i = 0; i < npages; i++) {
		EXPECT_EQ(page_state(p.pfd, i), GMEM_PAIR_STATE_SHARED);
		if (i == bad) {
			EXPECT_EQ(pread(p.sfd, buf, page_size, i * page_size), -1);
			EXPECT_EQ(errno, EIO);
		} else {
			EXPECT_EQ(bad_page(p.mem, i, 1, 29), -1)
				TH_LOG("page %zu lost", i);
		}
	}

	/* A VMM that discards the bad page can convert the rest. */
	ASSERT_EQ(fallocate(p.sfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			    bad * page_size, page_size), 0);
	ASSERT_EQ(pair_convert(p.pfd, 0, size, GMEM_PAIR_TO_PRIVATE, 0, NULL), 0);
	ASSERT_EQ(pair_convert(p.pfd, 0, size, GMEM_PAIR_TO_SHARED, 0, NULL), 0);
	for (i = 0; i < npages; i++) {
		if (i == bad)
			continue;
		EXPECT_EQ(bad_page(p.mem, i, 1, 29), -1)
			TH_LOG("page %zu lost", i);
	}
	EXPECT_TRUE(all_zero(p.mem, bad, 1));
	gmem_pair_vm_close(&p);
}

TEST_HARNESS_MAIN
