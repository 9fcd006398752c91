// SPDX-License-Identifier: GPL-2.0
/*
 * gmem-trace-workload: a scripted workload on one gmem_pair whose counts are
 * known, for checking the bpftrace tools in this directory (and
 * gmem-inspect) against it.  Plain ioctls on /dev/kvm, no libkvm.
 *
 *   gmem-trace-workload [-n pages] [-p to_private] [-s to_shared]
 *                       [-r pinned] [-v referenced] [-b sigbus] [-e eacces]
 *                       [-t [-T]] [-N node] [-m] [-H]
 *
 * On a pair of -n pages (default 64), shared at start and filled:
 *   -p N  N conversions to private, one page each (pages 0..N-1)
 *   -s N  N conversions back to shared, one page each (pages 0..N-1, N <= p)
 *   -b N  N reads of the memfd mapping at private pages, p-1 down to s and
 *         round again: N SIGBUS
 *   -e N  N pread()s of the memfd at the same pages: N EACCES
 *   -r N  N to-private conversions of the last page while it is pinned with
 *         FOLL_PIN|FOLL_LONGTERM (debugfs gup_test): N refusals "pinned"
 *   -v N  N to-private conversions of the page before it while it is in a
 *         pipe (vmsplice): N refusals "referenced"
 *   -t    one 2M folio (in 2M more of the pair, after the -n pages) converted
 *         whole to private and back: needs shmem_enabled "advise" or "always".
 *         A to-private refused as "referenced" (a transient reference that
 *         outlasted the kernel's wait, e.g. a preempted compaction scan on
 *         a loaded host) is tried again, up to HUGE_TRIES times:
 *         "huge_retries" says how many refusals that added
 *   -T    with -t: the first to-private of the 2M folio is refused as
 *         "referenced" (one of its pages is in a pipe, vmsplice(), until
 *         that refusal), so "huge_retries" is at least 1
 *   -N N  allocate the pair's shared pages on NUMA node N if it can
 *         (MPOL_PREFERRED: tests/boot.movable has its ZONE_MOVABLE on node 1)
 *   (to-private conversions pass GMEM_PAIR_CONVERT_MIGRATE, and the refused
 *   pages are moved off ZONE_MOVABLE first: the same counts on movable boots;
 *   "migrated_pages" says how many pages the conversions migrated)
 *   -m    then close the private fd and the VM: only the memfd (fd and
 *         mapping) keeps the pair
 *   -H    then hold the pair: print "ready" and sleep until killed
 *
 * Every step is checked (a conversion that should succeed does, a refusal
 * has the expected errno and reason, an access faults): exit 1 otherwise.
 * It prints "key value" lines: pid, comm, pair_id, memfd_ino, private_fd,
 * memfd_fd and the counts of what it did.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/kvm.h>
#include <linux/gmem_pair.h>

/* The debugfs ABI of mm/gup_test.h (CONFIG_GUP_TEST). */
struct pin_longterm_test {
	uint64_t addr;
	uint64_t size;
	uint32_t flags;
};

#define PIN_LONGTERM_TEST_START		_IOW('g', 7, struct pin_longterm_test)
#define PIN_LONGTERM_TEST_STOP		_IO('g', 8)
#define PIN_LONGTERM_TEST_FLAG_USE_WRITE	1

#define SZ_2M		(2UL << 20)
#define MPOL_PREFERRED	1	/* include/uapi/linux/mempolicy.h */

static long ps;
static sigjmp_buf bus_jmp;

static void die(const char *what)
{
	fprintf(stderr, "gmem-trace-workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "gmem-trace-workload: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void on_sigbus(int sig)
{
	siglongjmp(bus_jmp, 1);
}

static char sink;

/* Read one byte; returns 1 if the read raised SIGBUS. */
static int read_faults(const char *p)
{
	if (sigsetjmp(bus_jmp, 1))
		return 1;
	sink = __atomic_load_n(p, __ATOMIC_RELAXED);
	return 0;
}

/* Convert one page; returns 0 or -errno, *reason gets error_reason. */
static int convert_range(int pfd, unsigned long offset, unsigned long size,
			 uint32_t dir, uint32_t *reason)
{
	struct gmem_pair_convert c = {
		.offset = offset,
		.size = size,
		.direction = dir,
		/* To-private: copy a ZONE_MOVABLE page, do not refuse it. */
		.flags = dir == GMEM_PAIR_TO_PRIVATE ? GMEM_PAIR_CONVERT_MIGRATE : 0,
	};
	int ret = ioctl(pfd, GMEM_PAIR_CONVERT, &c) ? -errno : 0;

	if (reason)
		*reason = c.error_reason;
	return ret;
}

static int convert(int pfd, unsigned long page, uint32_t dir, uint32_t *reason)
{
	return convert_range(pfd, page * ps, ps, dir, reason);
}

/* Expect a refusal of page to-private with -EBUSY and @want. */
static void refuse(int pfd, unsigned long page, uint32_t want)
{
	uint32_t reason;
	int ret = convert(pfd, page, GMEM_PAIR_TO_PRIVATE, &reason);

	if (ret != -EBUSY || reason != want) {
		fprintf(stderr, "gmem-trace-workload: page %lu: %d reason %u, want %d reason %u\n",
			page, ret, reason, -EBUSY, want);
		exit(1);
	}
}

static int gup = -1;

/* Pin the page at @p with FOLL_PIN | FOLL_LONGTERM (debugfs gup_test). */
static void pin(char *p)
{
	struct pin_longterm_test req = {
		.addr = (uintptr_t)p,
		.size = ps,
		.flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE,
	};

	if (gup < 0)
		gup = open("/sys/kernel/debug/gup_test", O_RDWR);
	if (gup < 0 || ioctl(gup, PIN_LONGTERM_TEST_START, &req))
		die("/sys/kernel/debug/gup_test PIN_LONGTERM_TEST_START");
}

static void unpin(void)
{
	if (ioctl(gup, PIN_LONGTERM_TEST_STOP))
		die("PIN_LONGTERM_TEST_STOP");
}

/* The pair's counters (GMEM_PAIR_QUERY with no extents). */
static struct gmem_pair_stats pair_stats(int pfd)
{
	struct gmem_pair_query q = { 0 };

	if (ioctl(pfd, GMEM_PAIR_QUERY, &q))
		die("GMEM_PAIR_QUERY");
	return q.stats;
}

/* Does the extent at @offset hold a folio of @order? */
static bool extent_has_order(int pfd, unsigned long offset, int order)
{
	struct gmem_pair_extent_details e = { 0 };
	struct gmem_pair_query q = {
		.offset = offset,
		.extents = (uintptr_t)&e,
		.nr_extents = 1,
		.flags = GMEM_PAIR_QUERY_DETAILS,
	};

	if (ioctl(pfd, GMEM_PAIR_QUERY, &q) || q.nr_extents != 1)
		die("GMEM_PAIR_QUERY(DETAILS)");
	return e.offset == offset && (e.orders & (1U << order));
}

/* to-private attempts of the 2M folio refused as "referenced" */
#define HUGE_TRIES	5

/*
 * -t: fill [@offset, @offset + 2M) through a 2M aligned mapping with
 * MADV_HUGEPAGE, check that it is one 2M folio, convert it whole to private
 * (trying again after a "referenced" refusal, HUGE_TRIES in all) and back,
 * check its contents.  -T (@transient): a pipe holds a reference on the
 * folio until the first refusal.  Return: the "referenced" refusals.
 */
static unsigned long huge_round(int pfd, int sfd, unsigned long offset,
				bool transient)
{
	unsigned long i, retries = 0;
	int pipefd[2] = { -1, -1 };
	char *area, *p;
	uint32_t reason;
	int ret;

	area = mmap(NULL, 2 * SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (area == MAP_FAILED)
		die("mmap (reserve)");
	p = (char *)(((uintptr_t)area + SZ_2M - 1) & ~(SZ_2M - 1));
	if (mmap(p, SZ_2M, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 sfd, offset) == MAP_FAILED)
		die("mmap (2M)");
	if (madvise(p, SZ_2M, MADV_HUGEPAGE))
		die("madvise(MADV_HUGEPAGE)");
	memset(p, 0x6b, SZ_2M);
	if (!extent_has_order(pfd, offset, 9))
		fail("no 2M folio at offset %#lx: shmem_enabled must be advise or always",
		     offset);
	if (transient) {
		struct iovec iov = { .iov_base = p, .iov_len = ps };

		if (pipe(pipefd) || vmsplice(pipefd[1], &iov, 1, 0) != ps)
			die("vmsplice (2M folio)");
	}
	for (;;) {
		ret = convert_range(pfd, offset, SZ_2M, GMEM_PAIR_TO_PRIVATE,
				    &reason);
		if (ret != -EBUSY || reason != GMEM_PAIR_ERR_REFERENCED ||
		    retries + 1 == HUGE_TRIES)
			break;
		retries++;
		if (pipefd[0] >= 0) {
			close(pipefd[0]);
			close(pipefd[1]);
			pipefd[0] = -1;
		} else {
			usleep(100 * 1000);
		}
	}
	if (transient && !retries)
		fail("-T: the 2M folio in a pipe was not refused as referenced: %s, reason %u",
		     strerror(-ret), reason);
	if (ret)
		fail("to-private of the 2M folio at %#lx failed: %s, reason %u",
		     offset, strerror(-ret), reason);
	ret = convert_range(pfd, offset, SZ_2M, GMEM_PAIR_TO_SHARED, &reason);
	if (ret)
		fail("to-shared of the 2M folio at %#lx failed: %s, reason %u",
		     offset, strerror(-ret), reason);
	for (i = 0; i < SZ_2M; i += ps)
		if (p[i] != 0x6b)
			fail("2M folio: byte %#lx lost its contents", i);
	munmap(area, 2 * SZ_2M);
	return retries;
}

static unsigned long num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 0);

	if (!*s || *end)
		fail("bad number: %s", s);
	return v;
}

int main(int argc, char **argv)
{
	unsigned long pages = 64, to_priv = 0, to_shared = 0, pinned = 0;
	unsigned long referenced = 0, sigbus = 0, eacces = 0, i;
	struct kvm_create_guest_memfd gm = { 0 };
	struct gmem_pair_query q = { 0 };
	struct sigaction sa = { .sa_handler = on_sigbus };
	int kvm, vm, pfd, sfd, opt, hold = 0, memfd_only = 0, huge = 0;
	bool transient = false;
	long node = -1;
	unsigned long faults = 0, huge_retries = 0, huge_offset, migrated0;
	char comm[16] = "", buf[1];
	struct stat st;
	char *mem;

	while ((opt = getopt(argc, argv, "n:p:s:r:v:b:e:tTN:mH")) != -1) {
		switch (opt) {
		case 'n':
			pages = num(optarg);
			break;
		case 'p':
			to_priv = num(optarg);
			break;
		case 's':
			to_shared = num(optarg);
			break;
		case 'r':
			pinned = num(optarg);
			break;
		case 'v':
			referenced = num(optarg);
			break;
		case 'b':
			sigbus = num(optarg);
			break;
		case 'e':
			eacces = num(optarg);
			break;
		case 't':
			huge = 1;
			break;
		case 'T':
			transient = true;
			break;
		case 'N':
			node = num(optarg);
			break;
		case 'm':
			memfd_only = 1;
			break;
		case 'H':
			hold = 1;
			break;
		default:
			fprintf(stderr, "usage: %s [-n pages] [-p to_private] [-s to_shared]\n"
				"  [-r pinned] [-v referenced] [-b sigbus] [-e eacces] [-t] [-N node]\n"
				"  [-m] [-H]\n",
				argv[0]);
			return 2;
		}
	}
	if (to_shared > to_priv || to_priv + 2 > pages ||
	    ((sigbus || eacces) && to_priv == to_shared))
		fail("need -s <= -p, -p <= -n - 2, and -p > -s for -b/-e");
	if (transient && !huge)
		fail("-T needs -t");

	ps = sysconf(_SC_PAGESIZE);
	if (node >= 64)
		fail("-N %lu: nodes 0 to 63 only", node);
	if (node >= 0) {
		unsigned long mask = 1UL << node;

		if (syscall(__NR_set_mempolicy, MPOL_PREFERRED, &mask, 64))
			die("set_mempolicy(MPOL_PREFERRED)");
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	if (vm < 0)
		die("KVM_CREATE_VM(KVM_X86_SW_PROTECTED_VM)");
	huge_offset = (pages * ps + SZ_2M - 1) & ~(SZ_2M - 1);
	gm.size = huge ? huge_offset + SZ_2M : pages * ps;
	gm.flags = GUEST_MEMFD_FLAG_PAIRED | GUEST_MEMFD_FLAG_PAIR_SHARED;
	pfd = ioctl(vm, KVM_CREATE_GUEST_MEMFD, &gm);
	if (pfd < 0)
		die("KVM_CREATE_GUEST_MEMFD(PAIRED|PAIR_SHARED)");
	sfd = ioctl(pfd, GMEM_PAIR_GET_SHARED_FD, O_CLOEXEC);
	if (sfd < 0)
		die("GMEM_PAIR_GET_SHARED_FD");
	if (ioctl(pfd, GMEM_PAIR_QUERY, &q) || fstat(sfd, &st))
		die("GMEM_PAIR_QUERY/fstat");
	mem = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	/* Small folios only: each conversion moves one order-0 folio. */
	madvise(mem, pages * ps, MADV_NOHUGEPAGE);
	memset(mem, 0x5a, pages * ps);

	prctl(PR_GET_NAME, comm);
	printf("pid %d\ncomm %s\npair_id %llu\nmemfd_ino %lu\nprivate_fd %d\nmemfd_fd %d\n",
	       getpid(), comm, (unsigned long long)q.stats.id,
	       (unsigned long)st.st_ino, pfd, sfd);
	fflush(stdout);
	migrated0 = q.stats.migrated_pages;

	for (i = 0; i < to_priv; i++)
		if (convert(pfd, i, GMEM_PAIR_TO_PRIVATE, NULL))
			fail("to-private of page %lu failed", i);
	for (i = 0; i < to_shared; i++)
		if (convert(pfd, i, GMEM_PAIR_TO_SHARED, NULL))
			fail("to-shared of page %lu failed", i);
	if (huge)
		huge_retries = huge_round(pfd, sfd, huge_offset, transient);

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	/* Pages to_shared .. to_priv - 1 are private now. */
	for (i = 0; i < sigbus; i++) {
		unsigned long page = to_priv - 1 - i % (to_priv - to_shared);

		if (!read_faults(mem + page * ps))
			fail("read of private page %lu did not fault", page);
		faults++;
	}
	for (i = 0; i < eacces; i++) {
		unsigned long page = to_priv - 1 - i % (to_priv - to_shared);

		if (pread(sfd, buf, 1, page * ps) != -1 || errno != EACCES)
			fail("pread of private page %lu did not fail with EACCES",
			     page);
	}

	if (pinned) {
		pin(mem + (pages - 1) * ps);
		for (i = 0; i < pinned; i++)
			refuse(pfd, pages - 1, GMEM_PAIR_ERR_PINNED);
		unpin();
	}
	if (referenced) {
		struct iovec iov = { .iov_base = mem + (pages - 2) * ps,
				     .iov_len = ps };
		int p[2];

		/*
		 * Off ZONE_MOVABLE first (a long-term pin migrates it), or
		 * GMEM_PAIR_CONVERT_MIGRATE would refuse it as "movable".
		 */
		pin(mem + (pages - 2) * ps);
		unpin();
		if (pipe(p) || vmsplice(p[1], &iov, 1, 0) != ps)
			die("vmsplice");
		for (i = 0; i < referenced; i++)
			refuse(pfd, pages - 2, GMEM_PAIR_ERR_REFERENCED);
		close(p[0]);
		close(p[1]);
	}

	printf("to_private %lu\nto_shared %lu\n", to_priv, to_shared);
	printf("refused_pinned %lu\nrefused_referenced %lu\n", pinned, referenced);
	printf("sigbus %lu\neacces %lu\n", faults, eacces);
	printf("huge_folios %d\nhuge_retries %lu\n", huge, huge_retries);
	printf("migrated_pages %llu\n",
	       (unsigned long long)(pair_stats(pfd).migrated_pages - migrated0));
	if (memfd_only) {
		close(pfd);
		close(vm);
		close(kvm);
	}
	if (hold) {
		printf("ready\n");
		fflush(stdout);
		for (;;)
			pause();
	}
	return 0;
}
