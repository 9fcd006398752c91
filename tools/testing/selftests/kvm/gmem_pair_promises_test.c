// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair_promises_test: documented behaviour that had no test
 * (Documentation/mm/gmem_pair.rst), one test each.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/gmem_pair.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "kvm_util.h"
#include "test_util.h"
#include "gmem_pair_util.h"
#include "../kselftest_harness.h"
#include "../../../../mm/gup_test.h"

#define NR_PAGES	64
#define PAIR_SIZE	(NR_PAGES * 4096UL)

static size_t page_size;
static sigjmp_buf sigbus_jmp;

static void on_sigbus(int sig)
{
	siglongjmp(sigbus_jmp, 1);
}

/* Touch one byte; true if it raised SIGBUS. */
static bool touch_sigbus(char *p, bool write)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	bool bus = false;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(sigbus_jmp, 1))
		bus = true;
	else if (write)
		WRITE_ONCE(*p, 1);
	else
		(void)READ_ONCE(*p);
	sigaction(SIGBUS, &old, NULL);
	return bus;
}

FIXTURE(pair) {
	struct gmem_pair_vm p;
};

/* Shared everywhere but [16, 32), which is private; pages hold 0x5a. */
FIXTURE_SETUP(pair)
{
	page_size = getpagesize();
	ASSERT_EQ(gmem_pair_vm_open(&self->p, NULL, PAIR_SIZE,
				    GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED, 0, false), 0);
	memset(self->p.mem, 0x5a, PAIR_SIZE);
	ASSERT_EQ(pair_convert(self->p.pfd, 16 * page_size, 16 * page_size,
			       GMEM_PAIR_TO_PRIVATE, 0, NULL), 0);
}

FIXTURE_TEARDOWN(pair)
{
	gmem_pair_vm_close(&self->p);
}

/* UFFDIO_COPY and UFFDIO_ZEROPAGE never fill a private offset. */
TEST_F(pair, uffd_copy_and_zeropage_refused_at_private_offsets)
{
	static char src[4096] __aligned(4096);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)self->p.mem, .len = PAIR_SIZE },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	struct uffdio_copy copy = {
		.dst = (unsigned long)self->p.mem + 20 * page_size,
		.src = (unsigned long)src, .len = page_size,
	};
	struct uffdio_zeropage zero = {
		.range = { .start = (unsigned long)self->p.mem + 21 * page_size,
			   .len = page_size },
	};
	int uffd = syscall(__NR_userfaultfd, O_CLOEXEC);

	ASSERT_GE(uffd, 0);
	ASSERT_EQ(ioctl(uffd, UFFDIO_API, &api), 0);
	ASSERT_EQ(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);
	EXPECT_EQ(ioctl(uffd, UFFDIO_COPY, &copy), -1);
	EXPECT_EQ(errno, EACCES);
	EXPECT_EQ(ioctl(uffd, UFFDIO_ZEROPAGE, &zero), -1);
	EXPECT_EQ(errno, EACCES);
	/* nothing was allocated in the memfd */
	EXPECT_EQ(pair_stats(self->p.pfd).shared_pages, NR_PAGES - 16);
	close(uffd);
}

/* A MAP_PRIVATE mapping faults SIGBUS at private offsets, read or COW. */
TEST_F(pair, map_private_sigbus_at_private_offsets)
{
	char *p = mmap(NULL, PAIR_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE,
		       self->p.sfd, 0);

	ASSERT_NE(p, MAP_FAILED);
	EXPECT_FALSE(touch_sigbus(p, false));
	EXPECT_EQ(p[0], 0x5a);
	EXPECT_TRUE(touch_sigbus(p + 16 * page_size, false));
	EXPECT_TRUE(touch_sigbus(p + 31 * page_size, true));
	EXPECT_FALSE(touch_sigbus(p + 32 * page_size, true));
	munmap(p, PAIR_SIZE);
	EXPECT_EQ(pair_stats(self->p.pfd).shared_pages, NR_PAGES - 16);
}

/* readv/writev: short counts at the private boundary, EACCES inside. */
TEST_F(pair, readv_writev_stop_at_private_offsets)
{
	char a[4096], b[4096];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };

	memset(a, 0x11, sizeof(a));
	memset(b, 0x22, sizeof(b));
	/* [15, 17): one shared page, then private */
	EXPECT_EQ(preadv(self->p.sfd, iov, 2, 15 * page_size), page_size);
	EXPECT_EQ(a[0], 0x5a);
	EXPECT_EQ(pwritev(self->p.sfd, iov, 2, 15 * page_size), page_size);
	EXPECT_EQ(preadv(self->p.sfd, iov, 2, 16 * page_size), -1);
	EXPECT_EQ(errno, EACCES);
	EXPECT_EQ(pwritev(self->p.sfd, iov, 2, 16 * page_size), -1);
	EXPECT_EQ(errno, EACCES);
	/* the private pages kept their contents */
	ASSERT_EQ(pair_convert(self->p.pfd, 16 * page_size, 16 * page_size,
			       GMEM_PAIR_TO_SHARED, 0, NULL), 0);
	for (size_t i = 16 * page_size; i < 32 * page_size; i++)
		ASSERT_EQ(self->p.mem[i], 0x5a);
}

/* A long-term pin of a private offset fails: nothing is mapped there. */
TEST_F(pair, gup_fails_at_private_offsets)
{
	char buf[16];
	struct iovec local = { buf, sizeof(buf) };
	struct iovec remote = { self->p.mem + 20 * page_size, sizeof(buf) };

	EXPECT_EQ(process_vm_readv(getpid(), &local, 1, &remote, 1, 0), -1);
	EXPECT_EQ(errno, EFAULT);
	remote.iov_base = self->p.mem + 40 * page_size;
	EXPECT_EQ(process_vm_readv(getpid(), &local, 1, &remote, 1, 0),
		  sizeof(buf));
	EXPECT_EQ(buf[0], 0x5a);
}

/*
 * GMEM_PAIR_QUERY: offset == size gives no extent and next_offset == size;
 * nr_extents 0 gives none and keeps next_offset at offset; at most 1024
 * extents a call, continued from next_offset mid-file; bad arguments fail.
 */
TEST(query_pagination_and_arguments)
{
	const size_t pages = 4096, size = pages * 4096;
	static struct gmem_pair_extent ext[4096];
	struct gmem_pair_query q;
	struct kvm_vm *vm;
	uint64_t off = 0, total = 0, calls = 0;
	int pfd;

	page_size = getpagesize();
	vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	pfd = __vm_create_guest_memfd(vm, size, GUEST_MEMFD_FLAG_PAIRED |
				      GUEST_MEMFD_FLAG_PAIR_SHARED);
	ASSERT_GE(pfd, 0);
	/* every other page private: 4096 extents */
	for (size_t i = 0; i < pages; i += 2)
		ASSERT_EQ(pair_convert(pfd, i * page_size, page_size,
				       GMEM_PAIR_TO_PRIVATE, 0, NULL), 0);

	ASSERT_EQ(pair_query(pfd, size, ext, 8, &q), 0);
	EXPECT_EQ(q.nr_extents, 0);
	EXPECT_EQ(q.next_offset, size);
	ASSERT_EQ(pair_query(pfd, 8 * page_size, ext, 0, &q), 0);
	EXPECT_EQ(q.nr_extents, 0);
	EXPECT_EQ(q.next_offset, 8 * page_size);

	do {
		ASSERT_EQ(pair_query(pfd, off, ext, 4096, &q), 0);
		EXPECT_LE(q.nr_extents, 1024);
		for (uint32_t i = 0; i < q.nr_extents; i++) {
			EXPECT_EQ(ext[i].offset, off + i * page_size);
			EXPECT_EQ(ext[i].size, page_size);
			EXPECT_EQ(ext[i].state, ((off / page_size + i) & 1) ?
				  GMEM_PAIR_STATE_SHARED_HOLE :
				  GMEM_PAIR_STATE_PRIVATE_HOLE);
		}
		total += q.nr_extents;
		off = q.next_offset;
		calls++;
	} while (off < size && calls < 100);
	EXPECT_EQ(total, pages);
	EXPECT_EQ(calls, 4);

	EXPECT_EQ(pair_query(pfd, size + page_size, ext, 1, &q), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(pair_query(pfd, 1, ext, 1, &q), -1);
	EXPECT_EQ(errno, EINVAL);
	memset(&q, 0, sizeof(q));
	q.extents = 8;		/* a bad pointer */
	q.nr_extents = 4;
	EXPECT_EQ(ioctl(pfd, GMEM_PAIR_QUERY, &q), -1);
	EXPECT_EQ(errno, EFAULT);
	memset(&q, 0, sizeof(q));
	q.extents = (uint64_t)(unsigned long)ext;
	q.nr_extents = 1;
	q.flags = GMEM_PAIR_QUERY_DETAILS << 1;	/* unknown */
	EXPECT_EQ(ioctl(pfd, GMEM_PAIR_QUERY, &q), -1);
	EXPECT_EQ(errno, EINVAL);
	close(pfd);
	kvm_vm_free(vm);
}

/* A refused conversion leaves every counter but the refusal's alone. */
TEST_F(pair, counters_after_a_refused_conversion)
{
	struct gmem_pair_stats st0, st1;
	struct gmem_pair_convert out;
	char *p = self->p.mem + 40 * page_size;
	int pipefd[2];
	struct iovec iov = { p, page_size };

	st0 = pair_stats(self->p.pfd);
	/* vmsplice takes a reference the conversion waits out, then refuses */
	ASSERT_EQ(pipe(pipefd), 0);
	ASSERT_EQ(vmsplice(pipefd[1], &iov, 1, 0), page_size);
	EXPECT_EQ(pair_convert(self->p.pfd, 32 * page_size, 16 * page_size,
			       GMEM_PAIR_TO_PRIVATE, 0, &out), -1);
	EXPECT_EQ(errno, EBUSY);
	EXPECT_EQ(out.error_offset, 40 * page_size);
	st1 = pair_stats(self->p.pfd);
	EXPECT_EQ(st1.conversions, st0.conversions);
	EXPECT_EQ(st1.to_private_pages, st0.to_private_pages);
	EXPECT_EQ(st1.private_pages, st0.private_pages);
	EXPECT_EQ(st1.shared_pages, st0.shared_pages);
	EXPECT_EQ(st1.refused_pinned, st0.refused_pinned + 1);
	close(pipefd[0]);
	close(pipefd[1]);
	/* and the same call succeeds once the reference is gone */
	EXPECT_EQ(pair_convert(self->p.pfd, 32 * page_size, 16 * page_size,
			       GMEM_PAIR_TO_PRIVATE, 0, NULL), 0);
	EXPECT_EQ(pair_stats(self->p.pfd).conversions, st0.conversions + 1);
}

/* GMEM_PAIR_GET_SHARED_FD after every memfd descriptor was closed. */
TEST_F(pair, get_shared_fd_after_the_memfd_was_closed)
{
	struct stat st0, st1;
	char c;

	ASSERT_EQ(fstat(self->p.sfd, &st0), 0);
	munmap(self->p.mem, PAIR_SIZE);
	close(self->p.sfd);
	self->p.sfd = ioctl(self->p.pfd, GMEM_PAIR_GET_SHARED_FD, 0);
	ASSERT_GE(self->p.sfd, 0);
	ASSERT_EQ(fstat(self->p.sfd, &st1), 0);
	EXPECT_EQ(st1.st_ino, st0.st_ino);
	self->p.mem = mmap(NULL, PAIR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			   self->p.sfd, 0);
	self->p.area = self->p.mem;	/* what the teardown unmaps */
	ASSERT_NE(self->p.mem, MAP_FAILED);
	EXPECT_EQ(self->p.mem[0], 0x5a);
	EXPECT_EQ(pread(self->p.sfd, &c, 1, 16 * page_size), -1);
	EXPECT_EQ(errno, EACCES);
}

/* Once the private file is closed, its offsets stay private: EACCES. */
TEST_F(pair, memfd_refuses_private_offsets_after_private_file_closed)
{
	char c = 0;

	close(self->p.pfd);
	self->p.pfd = -1;
	EXPECT_EQ(pread(self->p.sfd, &c, 1, 16 * page_size), -1);
	EXPECT_EQ(errno, EACCES);
	EXPECT_EQ(pwrite(self->p.sfd, &c, 1, 31 * page_size), -1);
	EXPECT_EQ(errno, EACCES);
	EXPECT_EQ(fallocate(self->p.sfd, 0, 16 * page_size, page_size), -1);
	EXPECT_EQ(errno, EACCES);
	EXPECT_TRUE(touch_sigbus(self->p.mem + 20 * page_size, false));
	EXPECT_EQ(pread(self->p.sfd, &c, 1, 0), 1);
	EXPECT_EQ(c, 0x5a);
}

/* KVM_CAP_GMEM_PAIR: system-wide and for VMs that can pair, not others. */
TEST(cap_gmem_pair_by_vm_type)
{
	struct kvm_vm *vm;

	EXPECT_EQ(kvm_check_cap(KVM_CAP_GMEM_PAIR), 1);
	vm = vm_create_barebones();
	EXPECT_EQ(vm_check_cap(vm, KVM_CAP_GMEM_PAIR), 0);
	kvm_vm_free(vm);
	vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	EXPECT_EQ(vm_check_cap(vm, KVM_CAP_GMEM_PAIR), 1);
	kvm_vm_free(vm);
}

/*
 * A shared large folio never covers a private offset, and MADV_COLLAPSE
 * (khugepaged's collapse, which fills holes) leaves a paired memfd alone:
 * without that, collapsing [0, 2M) would put a fresh page of the memfd at
 * the private offset 5.  Measured by the memfd's blocks (st_blocks counts
 * its pages; private pages are in the private file) and by meminfo's
 * ShmemHugePages.
 */
TEST(no_large_folio_or_collapse_over_private_offsets)
{
	const size_t huge = 2UL << 20, size = 2 * huge;
	struct gmem_pair_extent ext;
	struct gmem_pair_query q;
	struct gmem_pair_vm p;
	long shmem_huge0;
	char old[32], *m;
	struct stat st;
	int pfd, sfd;
	size_t i;

	page_size = getpagesize();
	ASSERT_TRUE(shmem_thp_advise(old, sizeof(old)));
	ASSERT_EQ(gmem_pair_vm_open(&p, NULL, size, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED, 0, true), 0);
	pfd = p.pfd;
	sfd = p.sfd;
	m = p.mem;

	/* offset 5 private (a hole of the memfd), then fault in the rest */
	ASSERT_EQ(pair_convert(pfd, 5 * page_size, page_size,
			       GMEM_PAIR_TO_PRIVATE, 0, NULL), 0);
	shmem_huge0 = meminfo_kb("ShmemHugePages:");
	for (i = 0; i < size; i += page_size) {
		if (i != 5 * page_size)
			m[i] = (char)(i / page_size);
	}
	ASSERT_EQ(fstat(sfd, &st), 0);
	EXPECT_EQ(st.st_blocks * 512, size - page_size);
	/* [2M, 4M) may be one large folio; [0, 2M) cannot */
	EXPECT_LE(meminfo_kb("ShmemHugePages:") - shmem_huge0, 2048);

	EXPECT_EQ(madvise(m, huge, MADV_COLLAPSE), -1);
	EXPECT_EQ(errno, EINVAL);
	ASSERT_EQ(fstat(sfd, &st), 0);
	EXPECT_EQ(st.st_blocks * 512, size - page_size);
	ASSERT_EQ(pair_query(pfd, 5 * page_size, &ext, 1, &q), 0);
	EXPECT_EQ(ext.offset, 5 * page_size);
	EXPECT_EQ(ext.state, GMEM_PAIR_STATE_PRIVATE_HOLE);
	EXPECT_TRUE(touch_sigbus(m + 5 * page_size, false));
	for (i = 0; i < size; i += page_size) {
		if (i == 5 * page_size)
			continue;
		ASSERT_EQ(m[i], (char)(i / page_size));
	}

	gmem_pair_vm_close(&p);
	shmem_thp_restore(old);
}

/* GMEM_PAIR_CONVERT through the raw ioctl: @args as given, for the report. */
static int convert_raw(int pfd, struct gmem_pair_convert *args)
{
	return ioctl(pfd, GMEM_PAIR_CONVERT, args);
}

/*
 * A call that fails before converting reports error_offset and
 * error_reason 0, not what the caller left in them.
 */
TEST_F(pair, convert_report_is_the_kernels)
{
	struct gmem_pair_convert args = {
		.offset = 0, .size = page_size, .direction = 7,
		.error_offset = 0xdead000, .error_reason = GMEM_PAIR_ERR_IO,
	};

	EXPECT_EQ(convert_raw(self->p.pfd, &args), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_EQ(args.error_offset, 0);
	EXPECT_EQ(args.error_reason, GMEM_PAIR_ERR_NONE);
}

/*
 * A conversion that happened returns 0 even if its report cannot be
 * written back (EFAULT would say nothing changed); one that failed and
 * cannot say why returns EFAULT.
 */
TEST_F(pair, convert_done_even_if_report_unwritable)
{
	struct gmem_pair_convert *args;
	struct gmem_pair_stats st0;

	args = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(args, MAP_FAILED);
	*args = (struct gmem_pair_convert) {
		.offset = 0, .size = page_size,
		.direction = GMEM_PAIR_TO_PRIVATE,
	};
	ASSERT_EQ(mprotect(args, page_size, PROT_READ), 0);
	st0 = pair_stats(self->p.pfd);
	EXPECT_EQ(convert_raw(self->p.pfd, args), 0)
		TH_LOG("converted, report unwritable: %s", strerror(errno));
	EXPECT_EQ(pair_stats(self->p.pfd).conversions, st0.conversions + 1);
	EXPECT_EQ(pair_stats(self->p.pfd).private_pages, st0.private_pages + 1);

	ASSERT_EQ(mprotect(args, page_size, PROT_READ | PROT_WRITE), 0);
	args->direction = 7;
	ASSERT_EQ(mprotect(args, page_size, PROT_READ), 0);
	EXPECT_EQ(convert_raw(self->p.pfd, args), -1);
	EXPECT_EQ(errno, EFAULT);
	munmap(args, page_size);
}

/*
 * The conversion ioctl changes the VM's memory attributes: like every VM
 * ioctl it belongs to the process that created the VM.  A child that
 * inherited the private fd gets EIO and changes nothing.
 */
TEST_F(pair, convert_from_another_process_is_refused)
{
	struct gmem_pair_stats st0 = pair_stats(self->p.pfd);
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct gmem_pair_convert args = {
			.offset = 0, .size = page_size,
			.direction = GMEM_PAIR_TO_PRIVATE,
		};
		int r = convert_raw(self->p.pfd, &args);

		_exit(r == -1 && errno == EIO ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the child's conversion was not refused with EIO");
	EXPECT_EQ(pair_stats(self->p.pfd).conversions, st0.conversions);
	EXPECT_EQ(pair_stats(self->p.pfd).private_pages, st0.private_pages);
	EXPECT_EQ(self->p.mem[0], 0x5a);
}

/*
 * GMEM_PAIR_QUERY_DETAILS: per extent, resident, swapped, pinned and
 * movable pages and folio orders, equal to a state built for it: a shared
 * THP, 8 shared 4K pages of which one is long-term pinned and 4 swapped
 * out, a THP moved to private, holes.  Needs a swap device
 * (tests/setup-zram.sh) and shmem THPs.
 */
TEST(query_details_of_a_known_state)
{
	const size_t huge = 2UL << 20, size = 4 * huge;
	struct pin_longterm_test pin = { .size = 4096,
					 .flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE };
	struct gmem_pair_extent_details ext[8];
	struct gmem_pair_query q = { 0 };
	struct gmem_pair_vm p;
	char old[128], *m;
	int pfd, gup;

	page_size = getpagesize();
	gup = open("/sys/kernel/debug/gup_test", O_RDWR);
	ASSERT_GE(gup, 0);
	ASSERT_TRUE(shmem_thp_advise(old, sizeof(old)));
	ASSERT_EQ(gmem_pair_vm_open(&p, NULL, size, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED, 0, true), 0);
	pfd = p.pfd;
	m = p.mem;
	/* THPs only where asked: [0, 2M) and [4M, 6M) */
	ASSERT_EQ(madvise(m, size, MADV_NOHUGEPAGE), 0);
	ASSERT_EQ(madvise(m, huge, MADV_HUGEPAGE), 0);
	ASSERT_EQ(madvise(m + 2 * huge, huge, MADV_HUGEPAGE), 0);
	memset(m, 1, huge);
	memset(m + huge, 2, 8 * page_size);
	memset(m + 2 * huge, 3, huge);
	ASSERT_EQ(pair_convert(pfd, 2 * huge, huge, GMEM_PAIR_TO_PRIVATE, 0,
			       NULL), 0);
	ASSERT_EQ(madvise(m + huge + 4 * page_size, 4 * page_size,
			  MADV_PAGEOUT), 0);
	pin.addr = (uint64_t)(unsigned long)(m + huge);
	ASSERT_EQ(ioctl(gup, PIN_LONGTERM_TEST_START, &pin), 0);

	q.extents = (uint64_t)(unsigned long)ext;
	q.nr_extents = 8;
	q.flags = GMEM_PAIR_QUERY_DETAILS;
	ASSERT_EQ(ioctl(pfd, GMEM_PAIR_QUERY, &q), 0);
	ASSERT_EQ(q.nr_extents, 4);
	/*
	 * [0, 2M + 8 pages): a shared THP, then 4 resident 4K pages (one
	 * pinned) and 4 swapped ones
	 */
	EXPECT_EQ(ext[0].state, GMEM_PAIR_STATE_SHARED);
	EXPECT_EQ(ext[0].size, huge + 8 * page_size);
	EXPECT_EQ(ext[0].resident_pages, 512 + 4);
	EXPECT_EQ(ext[0].swapped_pages, 4)
		TH_LOG("swapped %llu (no swap device?)",
		       (unsigned long long)ext[0].swapped_pages);
	EXPECT_EQ(ext[0].pinned_pages, 1);
	EXPECT_EQ(ext[0].orders, (1U << 9) | (1U << 0));
	EXPECT_EQ(q.stats.swapped_pages, ext[0].swapped_pages);
	/* a hole, then [4M, 6M): the THP in the private file, then a hole */
	EXPECT_EQ(ext[1].state, GMEM_PAIR_STATE_SHARED_HOLE);
	EXPECT_EQ(ext[1].resident_pages + ext[1].orders, 0);
	EXPECT_EQ(ext[2].state, GMEM_PAIR_STATE_PRIVATE);
	EXPECT_EQ(ext[2].size, huge);
	EXPECT_EQ(ext[2].resident_pages, 512);
	EXPECT_EQ(ext[2].orders, 1U << 9);
	EXPECT_EQ(ext[2].swapped_pages + ext[2].pinned_pages, 0);
	EXPECT_EQ(ext[3].state, GMEM_PAIR_STATE_SHARED_HOLE);
	for (int i = 0; i < 4; i++) {
		EXPECT_LE(ext[i].movable_pages, ext[i].resident_pages);
		for (int r = 0; r < 4; r++)
			EXPECT_EQ(ext[i].reserved[r], 0);
	}

	ASSERT_EQ(ioctl(gup, PIN_LONGTERM_TEST_STOP), 0);
	gmem_pair_vm_close(&p);
	close(gup);
	shmem_thp_restore(old);
}

TEST_HARNESS_MAIN
