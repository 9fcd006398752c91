// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair_promises_test: documented behaviour that had no test
 * (Documentation/mm/gmem_pair.rst), one test each.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/gmem_pair.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
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
	char old[128], *m;
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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Every byte of [@p, @p + @len) is @c. */
static bool all_bytes(const char *p, size_t len, char c)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != c)
			return false;
	return true;
}

/* The one extent of [@off, @off + @len) is in @state. */
static bool one_extent(int pfd, uint64_t off, uint64_t len, uint32_t state)
{
	struct gmem_pair_extent ext;
	struct gmem_pair_query q;

	return !pair_query(pfd, off, &ext, 1, &q) && q.nr_extents == 1 &&
	       ext.offset == off && ext.size >= len && ext.state == state;
}

/*
 * GMEM_PAIR_CONVERT_DISCARD makes the checks of a move: a long-term pinned
 * page refuses the to-private discard (EBUSY, ERR_PINNED) and nothing is
 * discarded; once unpinned, the same call drops the contents.
 */
TEST_F(pair, discard_refuses_pinned_pages)
{
	struct pin_longterm_test pin = {
		.addr = (uint64_t)(unsigned long)(self->p.mem + 40 * page_size),
		.size = page_size,
		.flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE,
	};
	struct gmem_pair_convert out;
	int gup = open("/sys/kernel/debug/gup_test", O_RDWR);

	ASSERT_GE(gup, 0);
	ASSERT_EQ(ioctl(gup, PIN_LONGTERM_TEST_START, &pin), 0);
	EXPECT_EQ(pair_convert(self->p.pfd, 32 * page_size, 16 * page_size,
			       GMEM_PAIR_TO_PRIVATE, GMEM_PAIR_CONVERT_DISCARD,
			       &out), -1);
	EXPECT_EQ(errno, EBUSY);
	EXPECT_EQ(out.error_offset, 40 * page_size);
	EXPECT_EQ(out.error_reason, GMEM_PAIR_ERR_PINNED);
	/* nothing discarded, nothing moved */
	EXPECT_TRUE(one_extent(self->p.pfd, 32 * page_size, 32 * page_size,
			       GMEM_PAIR_STATE_SHARED));
	EXPECT_TRUE(all_bytes(self->p.mem + 32 * page_size, 32 * page_size,
			      0x5a));
	EXPECT_EQ(pair_stats(self->p.pfd).private_pages, 16);

	ASSERT_EQ(ioctl(gup, PIN_LONGTERM_TEST_STOP), 0);
	close(gup);
	ASSERT_EQ(pair_convert(self->p.pfd, 32 * page_size, 16 * page_size,
			       GMEM_PAIR_TO_PRIVATE, GMEM_PAIR_CONVERT_DISCARD,
			       NULL), 0);
	EXPECT_TRUE(one_extent(self->p.pfd, 32 * page_size, 16 * page_size,
			       GMEM_PAIR_STATE_PRIVATE_HOLE));
	ASSERT_EQ(pair_convert(self->p.pfd, 32 * page_size, 16 * page_size,
			       GMEM_PAIR_TO_SHARED, 0, NULL), 0);
	EXPECT_TRUE(all_bytes(self->p.mem + 32 * page_size, 16 * page_size, 0));
}

/* A plain page reference (vmsplice) held for @hold_ns by a thread. */
struct brief_ref {
	char *page;
	uint64_t hold_ns;
	int ready;		/* 1: taken, -1: failed */
	uint64_t release_ns;	/* when it started to drop it */
	int err;
};

static void *hold_reference_briefly(void *arg)
{
	struct brief_ref *r = arg;
	struct iovec iov = { r->page, page_size };
	struct timespec ts;
	char buf[4096];
	int p[2];

	if (pipe(p) || vmsplice(p[1], &iov, 1, 0) != (ssize_t)page_size) {
		r->err = errno;
		__atomic_store_n(&r->ready, -1, __ATOMIC_RELEASE);
		return NULL;
	}
	__atomic_store_n(&r->ready, 1, __ATOMIC_RELEASE);
	ts.tv_sec = r->hold_ns / 1000000000ULL;
	ts.tv_nsec = r->hold_ns % 1000000000ULL;
	nanosleep(&ts, NULL);
	r->release_ns = now_ns();
	if (read(p[0], buf, sizeof(buf)) != (ssize_t)page_size)
		r->err = errno;
	close(p[0]);
	close(p[1]);
	return NULL;
}

/*
 * A reference that goes away within the conversion's bounded wait is not
 * a refusal.  The wait is measured first (how long a to-private of one
 * page takes to refuse a reference that stays), and a thread then holds a
 * reference for about a quarter of it, from before the conversion starts:
 * every conversion must succeed, and finish after the reference was
 * dropped.  (A round where the conversion started late, after the drop,
 * proves nothing: at least one round must overlap.)
 */
TEST_F(pair, transient_reference_is_waited_out)
{
	char *page = self->p.mem + 40 * page_size;
	uint64_t t0, refuse_ns, plain_ns, hold_ns;
	struct gmem_pair_convert out;
	struct iovec iov = { page, page_size };
	int p[2], round, overlapped = 0;
	char buf[4096];

	/* the bounded wait: a reference that stays is refused after it */
	ASSERT_EQ(pipe(p), 0);
	ASSERT_EQ(vmsplice(p[1], &iov, 1, 0), page_size);
	t0 = now_ns();
	EXPECT_EQ(pair_convert(self->p.pfd, 40 * page_size, page_size,
			       GMEM_PAIR_TO_PRIVATE, 0, &out), -1);
	refuse_ns = now_ns() - t0;
	EXPECT_EQ(errno, EBUSY);
	EXPECT_EQ(out.error_reason, GMEM_PAIR_ERR_REFERENCED);
	ASSERT_EQ(read(p[0], buf, sizeof(buf)), page_size);
	close(p[0]);
	close(p[1]);
	/* a conversion of a page nobody references */
	t0 = now_ns();
	ASSERT_EQ(pair_convert(self->p.pfd, 41 * page_size, page_size,
			       GMEM_PAIR_TO_PRIVATE, 0, NULL), 0);
	plain_ns = now_ns() - t0;
	ASSERT_EQ(pair_convert(self->p.pfd, 41 * page_size, page_size,
			       GMEM_PAIR_TO_SHARED, 0, NULL), 0);
	ksft_print_msg("refused after %llu us, converted in %llu us\n",
		       (unsigned long long)refuse_ns / 1000,
		       (unsigned long long)plain_ns / 1000);
	ASSERT_GT(refuse_ns, 2 * plain_ns)
		TH_LOG("no measurable wait for a reference");
	hold_ns = plain_ns + (refuse_ns - plain_ns) / 4;

	for (round = 0; round < 5; round++) {
		struct brief_ref r = { .page = page, .hold_ns = hold_ns };
		pthread_t thread;
		uint64_t t1;
		int ret;

		ASSERT_EQ(pthread_create(&thread, NULL, hold_reference_briefly,
					 &r), 0);
		while (!__atomic_load_n(&r.ready, __ATOMIC_ACQUIRE))
			;
		t0 = now_ns();
		ret = pair_convert(self->p.pfd, 40 * page_size, page_size,
				   GMEM_PAIR_TO_PRIVATE, 0, &out);
		t1 = now_ns();
		pthread_join(thread, NULL);
		ASSERT_EQ(r.err, 0);
		EXPECT_EQ(ret, 0)
			TH_LOG("round %d: %s, reason %u, after %llu us (reference held %llu us)",
			       round, strerror(errno), out.error_reason,
			       (unsigned long long)(t1 - t0) / 1000,
			       (unsigned long long)hold_ns / 1000);
		/* gone when it ended; there when it began? */
		EXPECT_GT(t1, r.release_ns);
		overlapped += r.release_ns > t0;
		ASSERT_EQ(pair_convert(self->p.pfd, 40 * page_size, page_size,
				       GMEM_PAIR_TO_SHARED, 0, NULL), 0);
		EXPECT_TRUE(all_bytes(page, page_size, 0x5a));
	}
	EXPECT_GE(overlapped, 1) TH_LOG("no conversion began with the reference held");
}

/*
 * A to-shared that cannot charge the memfd's blocks (no commit room left
 * under strict overcommit) fails with ENOSPC, reason ERR_NOMEM, and
 * changes nothing: the range stays private, every private page stays in
 * the private file, no counter but none moves.  With room again, the same
 * call brings the contents back intact.
 */
TEST_F(pair, to_shared_refused_for_memory_changes_nothing)
{
	struct gmem_pair_stats st0, st1;
	struct gmem_pair_convert out;
	struct overcommit oc;
	bool exhausted;
	int ret, err;

	st0 = pair_stats(self->p.pfd);
	exhausted = overcommit_exhaust(&oc);
	ret = pair_convert(self->p.pfd, 16 * page_size, 16 * page_size,
			   GMEM_PAIR_TO_SHARED, 0, &out);
	err = errno;
	overcommit_restore(&oc);
	ASSERT_TRUE(exhausted) TH_LOG("vm.overcommit_* not set");

	EXPECT_EQ(ret, -1);
	EXPECT_EQ(err, ENOSPC);
	EXPECT_EQ(out.error_reason, GMEM_PAIR_ERR_NOMEM);
	EXPECT_EQ(out.error_offset, 16 * page_size);
	st1 = pair_stats(self->p.pfd);
	EXPECT_EQ(st1.private_pages, 16);
	EXPECT_EQ(st1.shared_pages, st0.shared_pages);
	EXPECT_EQ(st1.conversions, st0.conversions);
	EXPECT_EQ(st1.to_shared_pages, st0.to_shared_pages);
	EXPECT_TRUE(one_extent(self->p.pfd, 16 * page_size, 16 * page_size,
			       GMEM_PAIR_STATE_PRIVATE));
	EXPECT_TRUE(touch_sigbus(self->p.mem + 16 * page_size, false));

	ASSERT_EQ(pair_convert(self->p.pfd, 16 * page_size, 16 * page_size,
			       GMEM_PAIR_TO_SHARED, 0, NULL), 0);
	EXPECT_TRUE(all_bytes(self->p.mem, PAIR_SIZE, 0x5a));
}

#define TRACEFS		"/sys/kernel/tracing"

struct uffd_writer {
	int sfd;
	char *buf;	/* registered with userfaultfd, missing */
	off_t off;
	ssize_t ret;
};

/* write(2) to the memfd from a missing page: waits, holding its i_rwsem */
static void *write_from_missing_page(void *arg)
{
	struct uffd_writer *w = arg;

	w->ret = pwrite(w->sfd, w->buf, page_size, w->off);
	return NULL;
}

/* State letter and syscall number of task @pid; false if unreadable. */
static bool task_blocked_in(pid_t pid, char *state, long *nr)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!read_knob(path, buf, sizeof(buf)))
		return false;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return false;
	*state = p[2];
	snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
	if (!read_knob(path, buf, sizeof(buf)))
		return false;
	*nr = strtol(buf, NULL, 10);
	return true;
}

/*
 * The VM's process converts (GMEM_PAIR_CONVERT is its own) and sends the
 * parent both descriptors first.
 */
static void convert_when_told(int sock)
{
	struct gmem_pair_vm p;
	char c;

	if (gmem_pair_vm_open(&p, NULL, PAIR_SIZE, GUEST_MEMFD_FLAG_PAIRED |
			      GUEST_MEMFD_FLAG_PAIR_SHARED, 0, false))
		_exit(2);
	memset(p.mem, 0x5a, PAIR_SIZE);
	if (send_fd(sock, p.pfd) || send_fd(sock, p.sfd) ||
	    read(sock, &c, 1) != 1)
		_exit(3);
	pair_convert(p.pfd, 0, PAIR_SIZE, GMEM_PAIR_TO_PRIVATE, 0, NULL);
	_exit(4);
}

/*
 * A fatal signal stops a conversion before it moves anything: EINTR, seen
 * by the gmem_pair_convert tracepoint (the process is gone), and the pair
 * as it was.  To be sure the signal comes while the conversion runs, it
 * is held up first: another task writes to the memfd from a missing
 * userfaultfd page, so it holds the memfd's i_rwsem, which the conversion
 * waits for (uninterruptibly); the converting process is killed there,
 * then the page is supplied.
 */
TEST(fatal_signal_interrupts_a_conversion)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffd_writer w = { .off = 40 * 4096 };
	struct gmem_pair_stats st0, st1;
	struct uffdio_copy copy = { 0 };
	static char trace[1 << 16];
	char inst[96], path[192], line[64], state = 0, *src, *l;
	int sv[2], pfd, sfd, uffd, status, i;
	bool eintr = false, refused = false;
	struct uffd_msg msg;
	struct pollfd pl;
	pthread_t writer;
	long nr = -1;
	pid_t pid;

	page_size = getpagesize();
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		convert_when_told(sv[1]);
	pfd = recv_fd(sv[0]);
	sfd = recv_fd(sv[0]);
	ASSERT_GE(pfd, 0);
	ASSERT_GE(sfd, 0);
	st0 = pair_stats(pfd);

	/* a trace instance of its own, for the pair's convert and refuse events */
	snprintf(inst, sizeof(inst), TRACEFS "/instances/gmem_pair_eintr_%d",
		 getpid());
	ASSERT_EQ(mkdir(inst, 0755), 0) TH_LOG("%s: %s", inst, strerror(errno));
	snprintf(path, sizeof(path), "%s/events/gmem_pair/gmem_pair_convert/enable",
		 inst);
	ASSERT_TRUE(write_knob(path, "1"));
	snprintf(path, sizeof(path), "%s/events/gmem_pair/gmem_pair_refuse/enable",
		 inst);
	ASSERT_TRUE(write_knob(path, "1"));

	/* the writer, waiting for its page with the memfd's i_rwsem held */
	src = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(src, MAP_FAILED);
	memset(src, 0x5a, page_size);
	w.buf = src + page_size;
	w.sfd = sfd;
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC);
	ASSERT_GE(uffd, 0);
	ASSERT_EQ(ioctl(uffd, UFFDIO_API, &api), 0);
	reg.range.start = (unsigned long)w.buf;
	reg.range.len = page_size;
	ASSERT_EQ(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);
	ASSERT_EQ(pthread_create(&writer, NULL, write_from_missing_page, &w), 0);
	pl.fd = uffd;
	pl.events = POLLIN;
	ASSERT_EQ(poll(&pl, 1, 30000), 1);
	ASSERT_EQ(read(uffd, &msg, sizeof(msg)), sizeof(msg));
	ASSERT_EQ(msg.event, UFFD_EVENT_PAGEFAULT);

	/* the conversion, stuck behind it in the ioctl, uninterruptibly */
	ASSERT_EQ(write(sv[0], "c", 1), 1);
	for (i = 0; i < 3000; i++) {
		if (task_blocked_in(pid, &state, &nr) && state == 'D' &&
		    nr == __NR_ioctl)
			break;
		usleep(10000);
	}
	ASSERT_EQ(state, 'D') TH_LOG("the conversion did not wait (syscall %ld)",
				     nr);
	ASSERT_EQ(nr, __NR_ioctl);
	ASSERT_EQ(kill(pid, SIGKILL), 0);
	copy.dst = (unsigned long)w.buf;
	copy.src = (unsigned long)src;
	copy.len = page_size;
	ASSERT_EQ(ioctl(uffd, UFFDIO_COPY, &copy), 0);
	pthread_join(writer, NULL);
	EXPECT_EQ(w.ret, page_size);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		TH_LOG("the converting process was not killed (status %#x)",
		       status);

	/* nothing moved */
	st1 = pair_stats(pfd);
	EXPECT_EQ(st1.conversions, st0.conversions);
	EXPECT_EQ(st1.to_private_pages, st0.to_private_pages);
	EXPECT_EQ(st1.private_pages, 0);
	EXPECT_TRUE(one_extent(pfd, 0, PAIR_SIZE, GMEM_PAIR_STATE_SHARED));
	for (i = 0; i < NR_PAGES; i++) {
		char b[4096];

		ASSERT_EQ(pread(sfd, b, page_size, i * page_size), page_size);
		ASSERT_TRUE(all_bytes(b, page_size, 0x5a)) TH_LOG("page %d", i);
	}

	/* and the conversion said why: EINTR, refused with reason 0 */
	snprintf(path, sizeof(path), "%s/trace", inst);
	i = open(path, O_RDONLY);
	ASSERT_GE(i, 0);
	ASSERT_GT(read(i, trace, sizeof(trace) - 1), 0);
	close(i);
	snprintf(line, sizeof(line), "pair %llu ", (unsigned long long)st0.id);
	for (l = strtok(trace, "\n"); l; l = strtok(NULL, "\n")) {
		if (!strstr(l, line))
			continue;
		if (strstr(l, "gmem_pair_convert:") && strstr(l, " ret -4 "))
			eintr = true;
		if (strstr(l, "gmem_pair_refuse:") &&
		    strstr(l, " reason 0 err -4 "))
			refused = true;
	}
	EXPECT_TRUE(eintr) TH_LOG("no gmem_pair_convert event with ret -4 (EINTR)");
	EXPECT_TRUE(refused) TH_LOG("no gmem_pair_refuse event with err -4");
	snprintf(path, sizeof(path), "%s/events/enable", inst);
	write_knob(path, "0");
	EXPECT_EQ(rmdir(inst), 0);

	close(uffd);
	munmap(src, 2 * page_size);
	close(sfd);
	close(pfd);
}

#define CGROOT		"/sys/fs/cgroup"

/* cgroup v2 mounted, with the memory controller for the root's children */
static bool memcg_ready(void)
{
	mkdir(CGROOT, 0755);
	mount("none", CGROOT, "cgroup2", 0, NULL);	/* EBUSY if mounted */
	return write_knob(CGROOT "/cgroup.subtree_control", "+memory");
}

/* A new cgroup under the root, named @what and the pid; false if not. */
static bool cg_create(char *cg, size_t len, const char *what)
{
	snprintf(cg, len, CGROOT "/gmem_pair_%s_%d", what, getpid());
	return !mkdir(cg, 0755);
}

/* Move this process into @cg. */
static bool cg_enter(const char *cg)
{
	char path[160], pid[16];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", getpid());
	return write_knob(path, pid);
}

static bool cg_write(const char *cg, const char *file, const char *val)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	return write_knob(path, val);
}

/* memory.current of @cg in bytes, -1 if unreadable */
static long cg_current(const char *cg)
{
	char path[160], buf[32];

	snprintf(path, sizeof(path), "%s/memory.current", cg);
	return read_knob(path, buf, sizeof(buf)) ? atol(buf) : -1;
}

/* The @key line of memory.stat of @cg (bytes), -1 if absent. */
static long cg_stat(const char *cg, const char *key)
{
	static char buf[8192];
	char path[160], *l;
	size_t n = strlen(key);

	snprintf(path, sizeof(path), "%s/memory.stat", cg);
	if (!read_knob(path, buf, sizeof(buf)))
		return -1;
	for (l = buf; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (!strncmp(l, key, n) && l[n] == ' ')
			return atol(l + n + 1);
	return -1;
}

#define MiB	(1024L * 1024)

/*
 * Pages are charged to the memcg that allocated them and keep that charge
 * whoever converts them: a process fills a pair in cgroup A, moves to
 * cgroup B and converts there, both ways.  A keeps the charge (and, while
 * private, the pages on its unevictable list), B gets none of it; closing
 * the pair uncharges A.  In either file the pages are page cache: A's
 * "file" count stays, only "shmem" follows the shared side.
 */
TEST(conversion_from_another_memcg_keeps_the_charge)
{
	const long size = 32 * MiB;
	char a[96], b[96];
	long a1, b1;
	struct gmem_pair_vm p;

	page_size = getpagesize();
	ASSERT_TRUE(memcg_ready());
	ASSERT_TRUE(cg_create(a, sizeof(a), "a"));
	ASSERT_TRUE(cg_create(b, sizeof(b), "b"));
	ASSERT_TRUE(cg_enter(a));
	ASSERT_EQ(gmem_pair_vm_open(&p, NULL, size, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED, 0, false), 0);
	memset(p.mem, 0x6b, size);
	a1 = cg_current(a);
	ASSERT_TRUE(cg_enter(b));
	b1 = cg_current(b);
	EXPECT_GE(cg_stat(a, "shmem"), size);
	EXPECT_GE(cg_stat(a, "file"), size);

	ASSERT_EQ(pair_convert(p.pfd, 0, size, GMEM_PAIR_TO_PRIVATE, 0, NULL),
		  0);
	EXPECT_LT(labs(cg_current(a) - a1), MiB);
	EXPECT_GE(cg_stat(a, "file"), size);
	EXPECT_LT(cg_stat(a, "file"), size + MiB);
	EXPECT_LT(cg_stat(b, "file"), MiB);
	EXPECT_LT(cg_current(b) - b1, MiB);
	/* a few may still sit in per-CPU LRU batches, not on a list yet */
	EXPECT_GE(cg_stat(a, "unevictable"), size - MiB);
	EXPECT_LT(cg_stat(b, "unevictable"), MiB);
	EXPECT_LT(cg_stat(a, "shmem"), MiB);

	ASSERT_EQ(pair_convert(p.pfd, 0, size, GMEM_PAIR_TO_SHARED, 0, NULL),
		  0);
	EXPECT_LT(labs(cg_current(a) - a1), MiB);
	EXPECT_LT(cg_current(b) - b1, MiB);
	EXPECT_GE(cg_stat(a, "shmem"), size - MiB);
	EXPECT_LT(cg_stat(b, "shmem"), MiB);
	EXPECT_GE(cg_stat(a, "file"), size);
	EXPECT_LT(cg_stat(a, "file"), size + MiB);
	EXPECT_TRUE(all_bytes(p.mem, size, 0x6b));

	gmem_pair_vm_close(&p);
	EXPECT_GT(a1 - cg_current(a), size - MiB);
	EXPECT_LT(cg_stat(a, "file"), MiB);
	cg_enter(CGROOT);
	rmdir(a);
	rmdir(b);
}

/*
 * Private pages are never reclaimed: with a pair half private, half
 * shared, asking its memcg to reclaim everything (memory.reclaim) and
 * paging out the whole mapping swaps the shared half out (a swap device
 * is set up by the plan), while every private page stays resident in the
 * private file, none on swap; converted back, every page holds its data.
 */
TEST(private_pages_stay_resident_under_reclaim)
{
	const long size = 16 * MiB, half = size / 2;
	struct gmem_pair_extent_details ext[2];
	struct gmem_pair_query q = { 0 };
	struct gmem_pair_stats st;
	struct gmem_pair_vm p;
	char cg[96];
	long i;

	page_size = getpagesize();
	ASSERT_TRUE(memcg_ready());
	ASSERT_TRUE(cg_create(cg, sizeof(cg), "reclaim"));
	ASSERT_TRUE(cg_enter(cg));
	ASSERT_EQ(gmem_pair_vm_open(&p, NULL, size, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED, 0, false), 0);
	for (i = 0; i < size; i += page_size)
		memset(p.mem + i, (char)(i / page_size + 1), page_size);
	ASSERT_EQ(pair_convert(p.pfd, 0, half, GMEM_PAIR_TO_PRIVATE, 0, NULL),
		  0);

	/* as much as it has, twice; EAGAIN when it could not reach it */
	cg_write(cg, "memory.reclaim", "64M");
	cg_write(cg, "memory.reclaim", "64M");
	EXPECT_EQ(madvise(p.mem, size, MADV_PAGEOUT), 0);

	st = pair_stats(p.pfd);
	EXPECT_GT(st.swapped_pages, 0)
		TH_LOG("the shared half was not swapped out (no swap device?)");
	EXPECT_EQ(st.private_pages, half / page_size);
	q.extents = (uint64_t)(unsigned long)ext;
	q.nr_extents = 2;
	q.flags = GMEM_PAIR_QUERY_DETAILS;
	ASSERT_EQ(ioctl(p.pfd, GMEM_PAIR_QUERY, &q), 0);
	ASSERT_EQ(q.nr_extents, 2);
	EXPECT_EQ(ext[0].state, GMEM_PAIR_STATE_PRIVATE);
	EXPECT_EQ(ext[0].size, half);
	EXPECT_EQ(ext[0].resident_pages, half / page_size);
	EXPECT_EQ(ext[0].swapped_pages, 0);
	EXPECT_EQ(ext[1].state, GMEM_PAIR_STATE_SHARED);
	EXPECT_EQ(ext[1].swapped_pages, st.swapped_pages);
	EXPECT_GE(cg_stat(cg, "unevictable"), half - MiB);

	ASSERT_EQ(pair_convert(p.pfd, 0, half, GMEM_PAIR_TO_SHARED, 0, NULL),
		  0);
	for (i = 0; i < size; i += page_size) {
		ASSERT_TRUE(all_bytes(p.mem + i, page_size,
				      (char)(i / page_size + 1)))
			TH_LOG("page %ld lost its contents", i / page_size);
	}
	gmem_pair_vm_close(&p);
	cg_enter(CGROOT);
	rmdir(cg);
}

TEST_HARNESS_MAIN
