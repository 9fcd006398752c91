// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair_stress_test: random operations on one gmem_pair, each checked
 * at once against a reference model, while other threads and a second
 * process fault the memfd and a vCPU of a KVM_X86_SW_PROTECTED_VM uses it.
 *
 * The main thread owns the model: for every page offset its state (private
 * or shared) and the version of its contents.  Page i at version v holds
 * word_of(i, v, w) in its 8-byte word w, all zeros for version 0 (a hole):
 * a stale, torn, misplaced or garbage page is caught.  The main thread
 * converts ranges (4K runs or whole 2M blocks, sometimes with
 * GMEM_PAIR_CONVERT_DISCARD), writes, reads, probes private offsets
 * (SIGBUS, EACCES), punches holes, pages out, builds 2M folios, pins a page
 * (a to-private over it must be refused and change nothing) and queries
 * (GMEM_PAIR_QUERY, a few extents at a time), and checks each result.
 * Periodically it checks every page, and converts everything to shared and
 * random ranges back.  A refused conversion must change nothing; EBUSY for
 * a reference, mapping or split (racing faults) is retried, a bounded
 * number of times.  At the end: everything shared and checked, the pair
 * closed, and /proc/meminfo back where it was.
 *
 * The pair is bound to a memslot of a VM with one vCPU (the memfd mapping
 * as userspace_addr), and KVM's view must be the pair's: the main thread
 * also converts through KVM_SET_MEMORY_ATTRIBUTES, has the guest read
 * pages (through the private file or the memfd, as KVM's attributes say;
 * exactly the model's contents, with no exit) and write new versions,
 * deletes and re-creates the memslot (sometimes at other gfns; with no
 * memslot a private gfn must exit KVM_EXIT_MEMORY_FAULT and a shared one
 * MMIO, and after re-creating it KVM's attributes must be the pair's state,
 * also where the pair converted meanwhile), punches the private file,
 * moves shared pages with move_pages(2), closes its memfd and mapping and
 * gets them again (GMEM_PAIR_GET_SHARED_FD), and fills pages with
 * UFFDIO_COPY or UFFDIO_ZEROPAGE (refused with EACCES at private offsets).
 *
 * The model lives in memory shared with the racers: two threads of this
 * process and a second process that got the memfd over SCM_RIGHTS, all
 * reading random pages through their own mappings; the second thread's
 * mapping is registered with userfaultfd (MISSING), and a handler thread
 * resolves its faults on holes with zeros (UFFDIO_ZEROPAGE or UFFDIO_COPY)
 * while the main thread converts.  Every page has a
 * sequence count that the main thread makes odd while it changes the
 * page's state or contents (a conversion, a write, a punch).  A racer that
 * finds the same even count before and after its read knows what it had
 * to see: SIGBUS on a private page, exactly the model's version on a shared
 * one.  Otherwise it checks that every word is zero or a word of that page,
 * never of another offset (see racer_loop()).
 *
 * Usage: gmem_pair_stress_test [-s SECONDS] [-S SEED] [-p PAIR_MIB] [-v]
 * (30 s, a seed from the clock, a 16 MiB pair; -v prints every operation).
 * A failure prints the seed and the last operations; the main thread's
 * sequence of operations is a function of the seed (the racers' timing is
 * not).  The zram swap of tests/setup-zram.sh makes pageout do something.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/gmem_pair.h>
#include <linux/kernel-page-flags.h>
#include <linux/mempolicy.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "gmem_pair_util.h"
#include "../../../../mm/gup_test.h"

#define HUGE_PAGES		512		/* 4K pages in a 2M folio */
#define WORDS			(4096 / 8)
#define MAX_RANGE		64		/* pages in a small random range */
#define QUERY_EXTENTS		7		/* small: exercise pagination */
#define CONVERT_RETRIES		50		/* transient refusals of one call */
#define FULL_CHECK_EVERY	100		/* operations between full checks */
#define ALL_SHARED_EVERY	400		/* operations between all-shared rounds */
#define NR_RACER_THREADS	2
#define OP_LOG			64		/* operations kept for a report */
#define MAX_REPORTS		20		/* mismatches printed in full */
#define LEAK_SLACK_KB		4096
#define DATA_SLOT		10
#define GPA_BASE_A		BIT_ULL(32)	/* the memslot's gfns, or */
#define GPA_BASE_B		BIT_ULL(33)	/* these, after a move */
#define VCPU_MAX_PAGES		8		/* pages of one guest command */
#define VCPU_RUN_SECONDS	20		/* a command not done by then is stuck */
#define MAX_MOVE_PAGES		16		/* pages of one move_pages() */
#define MAX_NODES		64

/* Page i, version v, word w: the multiplication by an odd MIX_A inverts. */
#define MIX_A			0x9e3779b97f4a7c15ULL
#define MIX_W			0xff51afd7ed558ccdULL
#define VER_BITS		40

/* One page of the model, published to the racers. */
struct page_pub {
	uint32_t seq;		/* odd while the main thread changes the page */
	uint32_t private;	/* state: 1 private, 0 shared */
	uint64_t version;	/* contents; 0: zeros */
};

struct racer_stats {
	unsigned long exact;	/* stable reads of shared pages: exact match */
	unsigned long sigbus;	/* stable reads of private pages: SIGBUS */
	unsigned long unstable;	/* raced with a change: checked word by word */
	unsigned long torn;	/* unstable reads with a word caught mid-write */
	unsigned long bad;	/* mismatches */
};

/* MAP_SHARED | MAP_ANONYMOUS: the main process and the second process. */
struct shared_area {
	int stop;
	int racer_saw_bad;
	uint64_t max_version;	/* highest version ever written */
	struct racer_stats child;
	int child_ready;
	struct page_pub pub[];
};

enum op {
	OP_CONVERT, OP_WRITE, OP_READ, OP_PROBE_PRIVATE, OP_PUNCH, OP_PAGEOUT,
	OP_PIN, OP_QUERY, OP_THP, OP_KVM_CONVERT, OP_VCPU_READ, OP_VCPU_WRITE,
	OP_MEMSLOT, OP_UFFD, OP_MOVE_PAGES, OP_PUNCH_PRIVATE, OP_REOPEN,
	OP_FULL_CHECK, OP_ALL_SHARED, NR_OPS,
};

static const char * const op_name[NR_OPS] = {
	"convert", "write", "read", "probe-private", "punch", "pageout", "pin",
	"query", "2M-folio", "kvm-attributes", "vcpu-read", "vcpu-write",
	"memslot", "uffd", "move-pages", "punch-private", "reopen",
	"full-check", "all-shared",
};

/* Weights of the operations picked at random (full checks are periodic). */
static const unsigned int op_weight[NR_OPS] = {
	[OP_CONVERT] = 30, [OP_WRITE] = 16, [OP_READ] = 10,
	[OP_PROBE_PRIVATE] = 8, [OP_PUNCH] = 8, [OP_PAGEOUT] = 5,
	[OP_PIN] = 6, [OP_QUERY] = 7, [OP_THP] = 4, [OP_KVM_CONVERT] = 15,
	[OP_VCPU_READ] = 10, [OP_VCPU_WRITE] = 8, [OP_MEMSLOT] = 3,
	[OP_UFFD] = 6, [OP_MOVE_PAGES] = 4, [OP_PUNCH_PRIVATE] = 5,
	[OP_REOPEN] = 2,
};

/* Who a mismatch is about: each has its own ksft result. */
enum area { AREA_PAIR, AREA_KVM, AREA_UFFD, NR_AREAS };

static const char * const area_tag[NR_AREAS] = { "", ", KVM", ", userfaultfd" };

static const char * const reason_name[] = {
	"NONE", "PINNED", "REFERENCED", "MAPPED", "SPLIT", "MOVABLE", "NOMEM",
	"IO",
};

static size_t page_size;
static uint64_t npages;
static struct shared_area *area;
static struct page_pub *pub;
static struct gmem_pair_vm pair;	/* the files and the main thread's mapping */
static int pfd = -1, sfd = -1, gup_fd = -1;
static char *mem;			/* pair.mem: changes on reopen */
static bool verbose;
static uint64_t mix_a_inv;
static uint64_t rng;		/* the operations: a function of the seed */
static uint64_t check_rng;	/* what the checks sample */

/* The VM: one vCPU, the pair bound at slot_gpa. */
static struct kvm_vm *vm;
static struct kvm_vcpu *vcpu;
static uint64_t slot_gpa = GPA_BASE_A;
static bool vcpu_broken;	/* a guest access failed: it never completes */

/* The racer threads' mappings; the second one's is registered with uffd. */
static char *racer_mem[NR_RACER_THREADS];
static int uffd = -1;
static char *uffd_mem;
static int uffd_stop;

/* Updated by the userfaultfd handler thread; read after it stopped. */
struct uffd_stats {
	unsigned long faults;	/* page faults on holes it resolved or woke */
	unsigned long zeropages, copies;
	unsigned long eexist;	/* filled meanwhile (write, COPY, to-shared) */
	unsigned long eacces;	/* made private meanwhile: the fault SIGBUSes */
	unsigned long wakes;	/* after EEXIST or EACCES */
	unsigned long errors;	/* anything else */
};

static struct uffd_stats ust;

static int online_node[MAX_NODES], nr_online;

static unsigned long nr_ops, nr_checks, nr_mismatches, nr_errors;
static unsigned long area_mismatches[NR_AREAS];
static unsigned long op_count[NR_OPS];
static unsigned long retries[8];	/* by error_reason */
static unsigned long gave_up;		/* transient refusals not retried */
static unsigned long pins_tried, pins_refused, pins_in_thp, pins_enomem;
static unsigned long pageout_swapped_max, thp_made;
static long shmem_huge_max, file_huge_max;
static unsigned long vcpu_runs, vcpu_accesses, kvm_converted, kvm_busy;
static unsigned long unbound_private, unbound_shared, rebinds, slot_moves;
static unsigned long uffd_filled, uffd_exist, uffd_refused;
static unsigned long move_calls, move_on_target, move_changed_node;
static unsigned long move_eacces, move_absent, move_busy;
static unsigned long private_punched, punch_busy, reopens;
static char op_log[OP_LOG][160];
static char stdout_buf[BUFSIZ];
static bool log_dumped;

/* SIGBUS probing: the faulting thread jumps back to its own buffer. */
static __thread sigjmp_buf sigbus_jmp;
static __thread sig_atomic_t sigbus_armed;

static void sigbus_handler(int sig)
{
	static const char msg[] = "unexpected SIGBUS\n";

	if (READ_ONCE(sigbus_armed))
		siglongjmp(sigbus_jmp, 1);
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(98);
	_exit(99);
}

static void install_sigbus_handler(void)
{
	/* no signal mask saved by sigsetjmp(): SIGBUS stays unblocked */
	struct sigaction sa = {
		.sa_handler = sigbus_handler, .sa_flags = SA_NODEFER,
	};

	sigemptyset(&sa.sa_mask);
	TEST_ASSERT(!sigaction(SIGBUS, &sa, NULL), "sigaction");
}

static uint64_t rnd_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for the main thread's choices. */
static uint64_t rnd(uint64_t n)
{
	return rnd_next(&rng) % n;
}

/*
 * The same for the samples a check takes: retries of a conversion, which
 * depend on the racers, then leave the sequence of operations alone.
 */
static uint64_t crnd(uint64_t n)
{
	return rnd_next(&check_rng) % n;
}

static uint64_t word_of(uint64_t i, uint64_t v, uint64_t w)
{
	if (!v)
		return 0;
	return (((i << VER_BITS) | v) * MIX_A) ^ (w * MIX_W);
}

/* The page and version a non-zero word @x at word @w belongs to. */
static void word_decode(uint64_t x, uint64_t w, uint64_t *i, uint64_t *v)
{
	uint64_t y = (x ^ (w * MIX_W)) * mix_a_inv;

	*i = y >> VER_BITS;
	*v = y & ((1ULL << VER_BITS) - 1);
}

static void fill_page(uint64_t *buf, uint64_t i, uint64_t v)
{
	for (uint64_t w = 0; w < WORDS; w++)
		buf[w] = word_of(i, v, w);
}

/* The first word of @buf that is not page @i at version @v, or -1. */
static int page_diff(const uint64_t *buf, uint64_t i, uint64_t v)
{
	for (uint64_t w = 0; w < WORDS; w++)
		if (buf[w] != word_of(i, v, w))
			return w;
	return -1;
}

/* What the words of a wrong page are: for a report. */
static void describe_page(const uint64_t *buf, char *s, size_t len)
{
	uint64_t i, v, zero = 0, other = 0, first_i = 0, first_v = 0;
	bool found = false;

	for (uint64_t w = 0; w < WORDS; w++) {
		if (!buf[w]) {
			zero++;
			continue;
		}
		word_decode(buf[w], w, &i, &v);
		if (i < npages && v && v <= READ_ONCE(area->max_version)) {
			if (!found) {
				first_i = i;
				first_v = v;
				found = true;
			}
		} else {
			other++;
		}
	}
	snprintf(s, len,
		 "%lu zero words, %lu garbage words, first pattern word: %s page %lu version %lu",
		 zero, other, found ? "" : "(none)", first_i, first_v);
}

/* Read a page into @buf; false if it raised SIGBUS. */
static bool read_page(const char *p, uint64_t *buf)
{
	const uint64_t *src = (const uint64_t *)p;

	if (sigsetjmp(sigbus_jmp, 0)) {
		WRITE_ONCE(sigbus_armed, 0);
		return false;
	}
	WRITE_ONCE(sigbus_armed, 1);
	for (uint64_t w = 0; w < WORDS; w++)
		buf[w] = READ_ONCE(src[w]);
	WRITE_ONCE(sigbus_armed, 0);
	return true;
}

/* Write @buf to a page; false if it raised SIGBUS. */
static bool write_page(char *p, const uint64_t *buf)
{
	uint64_t *dst = (uint64_t *)p;

	if (sigsetjmp(sigbus_jmp, 0)) {
		WRITE_ONCE(sigbus_armed, 0);
		return false;
	}
	WRITE_ONCE(sigbus_armed, 1);
	for (uint64_t w = 0; w < WORDS; w++)
		WRITE_ONCE(dst[w], buf[w]);
	WRITE_ONCE(sigbus_armed, 0);
	return true;
}

/* One byte access that must raise SIGBUS; true if it did. */
static bool byte_sigbus(char *p, bool write)
{
	if (sigsetjmp(sigbus_jmp, 0)) {
		WRITE_ONCE(sigbus_armed, 0);
		return true;
	}
	WRITE_ONCE(sigbus_armed, 1);
	if (write)
		WRITE_ONCE(*p, 0x5a);
	else
		(void)READ_ONCE(*p);
	WRITE_ONCE(sigbus_armed, 0);
	return false;
}

/*
 * The racers' side of a page's sequence count; the main thread is the
 * only writer of pub[], between pub_begin() and pub_end().
 */
static void pub_begin(uint64_t first, uint64_t n)
{
	for (uint64_t i = first; i < first + n; i++)
		__atomic_store_n(&pub[i].seq, pub[i].seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void pub_end(uint64_t first, uint64_t n)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (uint64_t i = first; i < first + n; i++)
		__atomic_store_n(&pub[i].seq, pub[i].seq + 1, __ATOMIC_RELEASE);
}

static void set_version(uint64_t i, uint64_t v)
{
	__atomic_store_n(&pub[i].version, v, __ATOMIC_RELAXED);
}

static void set_private(uint64_t i, bool priv)
{
	__atomic_store_n(&pub[i].private, priv, __ATOMIC_RELAXED);
}

static uint64_t new_version(void)
{
	uint64_t v = area->max_version + 1;

	__atomic_store_n(&area->max_version, v, __ATOMIC_SEQ_CST);
	return v;
}

static void racer_report(const char *who, uint64_t i, const char *what,
			 const uint64_t *buf, struct racer_stats *st)
{
	char desc[160] = "";

	st->bad++;
	__atomic_store_n(&area->racer_saw_bad, 1, __ATOMIC_RELAXED);
	if (st->bad > 5)
		return;
	if (buf)
		describe_page(buf, desc, sizeof(desc));
	printf("# RACER MISMATCH (%s): page %lu: %s %s\n", who, i, what, desc);
	fflush(stdout);
}

/* Is every byte of @x zero, or the byte of @a or @b at its place? */
static bool bytes_of(uint64_t x, uint64_t a, uint64_t b)
{
	for (int k = 0; k < 64; k += 8) {
		uint64_t m = 0xffULL << k;

		if ((x & m) && (x & m) != (a & m) && (x & m) != (b & m))
			return false;
	}
	return true;
}

/*
 * A racer: read random pages of @m until told to stop.  A read between two
 * equal even sequence counts is checked exactly.  Any other read is checked
 * word by word: zero, or a word of this page at a version that was written;
 * a word caught while being written (the kernel may copy byte by byte) must
 * be made of the bytes of the two versions if one change overlapped the
 * read.
 */
static void racer_loop(const char *who, const char *m, uint64_t seed,
		       struct racer_stats *st)
{
	uint64_t buf[WORDS];

	while (!__atomic_load_n(&area->stop, __ATOMIC_RELAXED)) {
		uint64_t i = rnd_next(&seed) % npages, maxv, pi, pv, v, v2;
		struct page_pub *pp = &pub[i];
		bool ok, torn = false, one_change;
		uint32_t s1, s2, s3, priv;

		s1 = __atomic_load_n(&pp->seq, __ATOMIC_ACQUIRE);
		priv = __atomic_load_n(&pp->private, __ATOMIC_RELAXED);
		v = __atomic_load_n(&pp->version, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		ok = read_page(m + i * page_size, buf);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&pp->seq, __ATOMIC_ACQUIRE);
		v2 = __atomic_load_n(&pp->version, __ATOMIC_RELAXED);
		maxv = __atomic_load_n(&area->max_version, __ATOMIC_RELAXED);
		s3 = __atomic_load_n(&pp->seq, __ATOMIC_ACQUIRE);

		if (!(s1 & 1) && s1 == s2) {
			if (priv && !ok)
				st->sigbus++;
			else if (priv)
				racer_report(who, i, "private page readable:", buf, st);
			else if (!ok)
				racer_report(who, i, "SIGBUS on a shared page", NULL, st);
			else if (page_diff(buf, i, v) >= 0)
				racer_report(who, i, "not the model's version:", buf, st);
			else
				st->exact++;
			continue;
		}
		st->unstable++;
		if (!ok)
			continue;
		/* one change began and ended during the read: v, then v2 */
		one_change = !(s1 & 1) && s2 == s1 + 2 && s3 == s2;
		for (uint64_t w = 0; w < WORDS; w++) {
			if (!buf[w])
				continue;
			word_decode(buf[w], w, &pi, &pv);
			if (pi == i && pv && pv <= maxv)
				continue;
			if (pi < npages && pv && pv <= maxv) {
				racer_report(who, i, "word of another page:", buf, st);
				break;
			}
			if (one_change && !bytes_of(buf[w], word_of(i, v, w),
						    word_of(i, v2, w))) {
				racer_report(who, i, "word of neither version:", buf, st);
				break;
			}
			torn = true;
		}
		st->torn += torn;
	}
}

static void print_racer(const char *who, const struct racer_stats *st)
{
	ksft_print_msg("%s: %lu exact, %lu SIGBUS, %lu unstable (%lu torn), %lu bad\n",
		       who, st->exact, st->sigbus, st->unstable, st->torn, st->bad);
}

/* A racer thread reads through its own mapping: the main thread's moves. */
struct racer_thread {
	pthread_t t;
	uint64_t seed;
	char name[16];
	char *m, *area;		/* the mapping; what to munmap() */
	struct racer_stats st;
};

static void *racer_thread(void *arg)
{
	struct racer_thread *r = arg;

	racer_loop(r->name, r->m, r->seed, &r->st);
	return NULL;
}

/*
 * The second process (vhost-user style): forked before the pair exists, it
 * gets the memfd over SCM_RIGHTS, maps it and reads random pages until
 * told to stop; its counts go to the shared area.
 */
static void second_process(int sock, uint64_t seed)
{
	struct racer_stats st = { 0 };
	int fd = recv_fd(sock);
	char *m;

	if (fd < 0)
		_exit(10);
	m = mmap(NULL, npages * page_size, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		_exit(11);
	__atomic_store_n(&area->child_ready, 1, __ATOMIC_RELEASE);
	racer_loop("second process", m, seed, &st);
	area->child = st;
	munmap(m, npages * page_size);
	close(fd);
	_exit(0);
}

static void log_op(const char *fmt, ...)
{
	char *s = op_log[nr_ops % OP_LOG];
	va_list ap;
	int n;

	n = snprintf(s, sizeof(op_log[0]), "op %lu: ", nr_ops);
	va_start(ap, fmt);
	vsnprintf(s + n, sizeof(op_log[0]) - n, fmt, ap);
	va_end(ap);
	if (verbose)
		ksft_print_msg("%s\n", s);
}

static void dump_log(void)
{
	unsigned long first = nr_ops >= OP_LOG ? nr_ops - OP_LOG + 1 : 0;

	if (log_dumped)
		return;
	log_dumped = true;
	ksft_print_msg("last operations:\n");
	for (unsigned long o = first; o <= nr_ops; o++)
		ksft_print_msg("  %s\n", op_log[o % OP_LOG]);
}

static void report_mismatch(enum area a, const char *fmt, va_list ap)
{
	char s[256];

	nr_mismatches++;
	area_mismatches[a]++;
	if (nr_mismatches > MAX_REPORTS)
		return;
	vsnprintf(s, sizeof(s), fmt, ap);
	ksft_print_msg("MISMATCH (op %lu%s): %s\n", nr_ops, area_tag[a], s);
	dump_log();
}

static __printf(1, 2) void mismatch(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_mismatch(AREA_PAIR, fmt, ap);
	va_end(ap);
}

/* KVM's view is not the pair's (or not the model's). */
static __printf(1, 2) void kvm_mismatch(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_mismatch(AREA_KVM, fmt, ap);
	va_end(ap);
}

static __printf(1, 2) void uffd_mismatch(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report_mismatch(AREA_UFFD, fmt, ap);
	va_end(ap);
}

static __printf(1, 2) void failure(const char *fmt, ...)
{
	char s[256];
	va_list ap;

	nr_errors++;
	if (nr_errors > MAX_REPORTS)
		return;
	va_start(ap, fmt);
	vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	ksft_print_msg("ERROR (op %lu): %s\n", nr_ops, s);
	dump_log();
}

static const char *reason_str(uint32_t r)
{
	return r < ARRAY_SIZE(reason_name) ? reason_name[r] : "?";
}

static const char *state_str(uint32_t s)
{
	static const char * const names[] = {
		"SHARED", "SHARED_HOLE", "PRIVATE", "PRIVATE_HOLE",
	};

	return s < ARRAY_SIZE(names) ? names[s] : "?";
}

/*
 * GMEM_PAIR_QUERY of [first, first + n), QUERY_EXTENTS at a time: the
 * kernel's state of every page into @state.  Checks that the extents
 * follow each other; the last call's stats go to @stats.
 */
static bool query_states(uint64_t first, uint64_t n, uint8_t *state,
			 struct gmem_pair_stats *stats)
{
	struct gmem_pair_extent ext[QUERY_EXTENTS];
	uint64_t off = first * page_size, end = (first + n) * page_size;
	struct gmem_pair_query q;

	while (off < end) {
		if (pair_query(pfd, off, ext, QUERY_EXTENTS, &q)) {
			failure("GMEM_PAIR_QUERY at %#lx: %s", off, strerror(errno));
			return false;
		}
		nr_checks++;
		if (!q.nr_extents || q.nr_extents > QUERY_EXTENTS ||
		    q.next_offset <= off || q.stats.size != npages * page_size) {
			mismatch("query at %#lx: %u extents, next_offset %#llx, size %llu",
				 off, q.nr_extents, q.next_offset, q.stats.size);
			return false;
		}
		for (uint32_t e = 0; e < q.nr_extents; e++) {
			nr_checks++;
			if (ext[e].offset != off || !ext[e].size ||
			    ext[e].size % page_size ||
			    ext[e].offset + ext[e].size > npages * page_size ||
			    ext[e].state > GMEM_PAIR_STATE_PRIVATE_HOLE) {
				mismatch("query: extent %u {%#llx, %#llx, %u} where %#lx was due",
					 e, ext[e].offset, ext[e].size,
					 ext[e].state, off);
				return false;
			}
			for (uint64_t o = off; o < off + ext[e].size; o += page_size)
				if (o >= first * page_size && o < end)
					state[o / page_size - first] = ext[e].state;
			off += ext[e].size;
		}
		nr_checks++;
		if (q.next_offset != off) {
			mismatch("query: next_offset %#llx, extents end at %#lx",
				 q.next_offset, off);
			return false;
		}
		if (stats)
			*stats = q.stats;
	}
	return true;
}

/* The kernel's state of page @i agrees with the model. */
static bool check_state(uint64_t i, uint32_t st)
{
	bool priv = st == GMEM_PAIR_STATE_PRIVATE ||
		    st == GMEM_PAIR_STATE_PRIVATE_HOLE;

	nr_checks++;
	if (priv != !!pub[i].private) {
		mismatch("page %lu: state %s, model %s (version %lu)", i,
			 state_str(st), pub[i].private ? "private" : "shared",
			 pub[i].version);
		return false;
	}
	/* data cannot be in a hole (a swapped page counts as SHARED) */
	if (pub[i].version && (st == GMEM_PAIR_STATE_SHARED_HOLE ||
			       st == GMEM_PAIR_STATE_PRIVATE_HOLE)) {
		mismatch("page %lu: state %s, model has data (version %lu)", i,
			 state_str(st), pub[i].version);
		return false;
	}
	return true;
}

/* The states of [first, first + n) from GMEM_PAIR_QUERY agree with the model. */
static void check_states(uint64_t first, uint64_t n,
			 struct gmem_pair_stats *stats)
{
	uint8_t *state = malloc(n);
	unsigned long bad = 0;

	TEST_ASSERT(state, "malloc");
	if (query_states(first, n, state, stats))
		for (uint64_t i = 0; i < n; i++)
			if (!check_state(first + i, state[i]) && ++bad > 4)
				break;
	free(state);
}

/* Shared page @i reads the model's version, through the mapping or pread. */
static bool check_shared_page(uint64_t i, bool use_pread)
{
	uint64_t buf[WORDS];
	char desc[160];
	ssize_t r;
	int w;

	nr_checks++;
	if (use_pread) {
		r = pread(sfd, buf, page_size, i * page_size);
		if (r != (ssize_t)page_size) {
			mismatch("page %lu (shared, version %lu): pread returned %zd (%s)",
				 i, pub[i].version, r, r < 0 ? strerror(errno) : "short");
			return false;
		}
	} else if (!read_page(mem + i * page_size, buf)) {
		mismatch("page %lu (shared, version %lu): SIGBUS", i, pub[i].version);
		return false;
	}
	w = page_diff(buf, i, pub[i].version);
	if (w >= 0) {
		describe_page(buf, desc, sizeof(desc));
		mismatch("page %lu (shared, version %lu, %s): word %d is %#lx, not %#lx: %s",
			 i, pub[i].version, use_pread ? "pread" : "mapping", w,
			 buf[w], word_of(i, pub[i].version, w), desc);
		return false;
	}
	return true;
}

/* One access to private page @i: SIGBUS through the mapping, else EACCES. */
static void probe_private(uint64_t i, bool write, bool syscall)
{
	uint64_t off = i * page_size + crnd(page_size - 64);
	char buf[64] = { 0 };
	ssize_t r;

	nr_checks++;
	if (!syscall) {
		if (!byte_sigbus(mem + off, write))
			mismatch("page %lu (private): %s through the mapping did not SIGBUS",
				 i, write ? "write" : "read");
		return;
	}
	r = write ? pwrite(sfd, buf, sizeof(buf), off) :
		    pread(sfd, buf, sizeof(buf), off);
	if (r != -1 || errno != EACCES)
		mismatch("page %lu (private): %s returned %zd (%s), not EACCES", i,
			 write ? "pwrite" : "pread", r, r < 0 ? strerror(errno) : "data");
}

/* Private page @i: read (and @write) SIGBUS, pread (and pwrite) EACCES. */
static void check_private_page(uint64_t i, bool write)
{
	probe_private(i, false, false);
	probe_private(i, false, true);
	if (write) {
		probe_private(i, true, false);
		probe_private(i, true, true);
	}
}

/*
 * The contents of [first, first + n): every shared page, and a private page
 * or two (SIGBUS, EACCES); at most @max shared pages, picked at random.
 */
static void check_contents(uint64_t first, uint64_t n, uint64_t max)
{
	uint64_t probed = 0, bad = 0;

	for (uint64_t i = first; i < first + n; i++) {
		if (pub[i].private) {
			if (probed < 2 && crnd(4) == 0) {
				check_private_page(i, crnd(2));
				probed++;
			}
			continue;
		}
		if (n > max && crnd(n) >= max)
			continue;
		if (!check_shared_page(i, crnd(2)) && ++bad > 4)
			break;
	}
}

/* Check the pages on each side of [first, first + n). */
static void check_neighbours(uint64_t first, uint64_t n)
{
	if (first && !pub[first - 1].private)
		check_shared_page(first - 1, crnd(2));
	if (first + n < npages && !pub[first + n].private)
		check_shared_page(first + n, crnd(2));
}

/*
 * The guest runs one command per KVM_RUN: copy nwords words from gva to
 * vcpu_buf (read) or from vcpu_buf to gva (write), then a ucall.  The
 * pair's gfns are identity mapped; the host reaches vcpu_buf in slot 0.
 */
enum vcpu_op { VCPU_READ, VCPU_WRITE };

struct vcpu_cmd {
	uint64_t op;
	uint64_t gva;
	uint64_t nwords;
};

static struct vcpu_cmd vcpu_cmd;
static uint64_t vcpu_buf[VCPU_MAX_PAGES * WORDS] __aligned(4096);

static void guest_code(void)
{
	for (;;) {
		uint64_t *p = (uint64_t *)READ_ONCE(vcpu_cmd.gva);
		uint64_t n = READ_ONCE(vcpu_cmd.nwords);
		bool write = READ_ONCE(vcpu_cmd.op) == VCPU_WRITE;

		for (uint64_t w = 0; w < n; w++) {
			if (write)
				WRITE_ONCE(p[w], vcpu_buf[w]);
			else
				vcpu_buf[w] = READ_ONCE(p[w]);
		}
		GUEST_SYNC(0);
	}
}

/* How a guest command ended. */
enum vcpu_exit {
	VCPU_DONE, VCPU_MEMORY_FAULT, VCPU_MMIO, VCPU_STUCK, VCPU_OTHER,
};

static int vcpu_errno;		/* of the last KVM_RUN that failed */
static sig_atomic_t vcpu_alarm;

static void on_alarm(int sig)
{
	WRITE_ONCE(vcpu_alarm, 1);
}

/*
 * KVM_RUN for at most VCPU_RUN_SECONDS: a vCPU that KVM keeps faulting
 * without ever returning to userspace is a failure to report, not a hang.
 * SIGALRM interrupts it (the other threads block SIGALRM).
 */
static int vcpu_run_bounded(void)
{
	struct itimerval on = { .it_value = { .tv_sec = VCPU_RUN_SECONDS } };
	struct itimerval off = { 0 };
	int r;

	WRITE_ONCE(vcpu_alarm, 0);
	setitimer(ITIMER_REAL, &on, NULL);
	do {
		r = __vcpu_run(vcpu);
	} while (r && errno == EINTR && !READ_ONCE(vcpu_alarm));
	setitimer(ITIMER_REAL, &off, NULL);
	if (!r)
		assert_on_unhandled_exception(vcpu);
	return r;
}

/* Run the vCPU until the guest reports, or KVM exits for another reason. */
static enum vcpu_exit vcpu_resume(void)
{
	struct kvm_run *run = vcpu->run;
	struct ucall uc;

	vcpu_runs++;
	vcpu_errno = 0;
	if (vcpu_run_bounded()) {
		vcpu_errno = errno;
		if (vcpu_errno == EINTR)
			return VCPU_STUCK;
		return vcpu_errno == EFAULT &&
		       run->exit_reason == KVM_EXIT_MEMORY_FAULT ?
		       VCPU_MEMORY_FAULT : VCPU_OTHER;
	}
	if (run->exit_reason == KVM_EXIT_MMIO)
		return VCPU_MMIO;
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		return VCPU_DONE;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		break;
	}
	return VCPU_OTHER;
}

static enum vcpu_exit vcpu_exec(enum vcpu_op op, uint64_t gpa,
				uint64_t nwords)
{
	vcpu_cmd.op = op;
	vcpu_cmd.gva = gpa;
	vcpu_cmd.nwords = nwords;
	sync_global_to_guest(vm, vcpu_cmd);
	return vcpu_resume();
}

/* Page @k of the guest's buffer, where the host sees it. */
static uint64_t *vcpu_buf_page(uint64_t k)
{
	return addr_gva2hva(vm, (vm_vaddr_t)&vcpu_buf[k * WORDS]);
}

static bool vcpu_usable(void)
{
	return vm && !vcpu_broken;
}

/* A report of how a guest access at @gpa (page @i) ended, for a mismatch. */
static void describe_exit(enum vcpu_exit e, char *s, size_t len)
{
	struct kvm_run *run = vcpu->run;
	uint64_t gpa = run->memory_fault.gpa;
	int64_t i = gpa >= slot_gpa ? (int64_t)((gpa - slot_gpa) / page_size) : -1;

	if (e == VCPU_DONE)
		snprintf(s, len, "the access completed");
	else if (e == VCPU_MEMORY_FAULT)
		snprintf(s, len,
			 "KVM_EXIT_MEMORY_FAULT at %#lx (page %ld, the model's %s), size %#llx, flags %#llx",
			 gpa, i, i >= 0 && i < (int64_t)npages ?
			 (pub[i].private ? "private" : "shared") : "?",
			 run->memory_fault.size, run->memory_fault.flags);
	else if (e == VCPU_MMIO)
		snprintf(s, len, "KVM_EXIT_MMIO at %#llx (%s, %u bytes)",
			 run->mmio.phys_addr, run->mmio.is_write ? "write" : "read",
			 run->mmio.len);
	else if (e == VCPU_STUCK)
		snprintf(s, len, "KVM_RUN did not return in %d s (KVM keeps retrying a fault?)",
			 VCPU_RUN_SECONDS);
	else
		snprintf(s, len, "KVM_RUN: %s, exit reason %s",
			 vcpu_errno ? strerror(vcpu_errno) : "0",
			 exit_reason_str(run->exit_reason));
}

/*
 * A guest read or write of [first, first + n) through the memslot: KVM
 * serves each gfn from the private file or the memfd, as its attributes
 * say; where they are not the pair's state, the access exits (the private
 * file refuses a shared offset, the memfd faults SIGBUS at a private one).
 * It must complete.  Otherwise the guest stays stuck in it: no more vCPU
 * operations.
 */
static bool vcpu_access(enum vcpu_op op, uint64_t first, uint64_t n)
{
	enum vcpu_exit e;
	char desc[200];

	TEST_ASSERT(n && n <= VCPU_MAX_PAGES && first + n <= npages, "vCPU range");
	e = vcpu_exec(op, slot_gpa + first * page_size, n * WORDS);
	vcpu_accesses++;
	nr_checks++;
	if (e == VCPU_DONE)
		return true;
	vcpu_broken = true;
	describe_exit(e, desc, sizeof(desc));
	kvm_mismatch("vCPU %s of [%lu, +%lu) (page %lu: model %s, version %lu): %s",
		     op == VCPU_WRITE ? "write" : "read", first, n, first,
		     pub[first].private ? "private" : "shared",
		     pub[first].version, desc);
	return false;
}

/* Page @i, as the vCPU read it into page @k of its buffer, is the model's. */
static bool vcpu_check_buf(uint64_t k, uint64_t i)
{
	const uint64_t *buf = vcpu_buf_page(k);
	char desc[160];
	int w;

	nr_checks++;
	w = page_diff(buf, i, pub[i].version);
	if (w < 0)
		return true;
	describe_page(buf, desc, sizeof(desc));
	kvm_mismatch("page %lu (%s, version %lu) read by the vCPU: word %d is %#lx, not %#lx: %s",
		     i, pub[i].private ? "private" : "shared", pub[i].version,
		     w, buf[w], word_of(i, pub[i].version, w), desc);
	return false;
}

/*
 * The guest reads [first, first + n), at most VCPU_MAX_PAGES: private
 * pages keep their contents, so it must see exactly the model's pages
 * whatever their state.
 */
static void vcpu_check_pages(uint64_t first, uint64_t n)
{
	if (!vcpu_usable() || !vcpu_access(VCPU_READ, first, n))
		return;
	for (uint64_t k = 0; k < n; k++)
		if (!vcpu_check_buf(k, first + k))
			break;
}

/* A guest read of a random run of up to VCPU_MAX_PAGES in [first, first + n). */
static void vcpu_check_sample(uint64_t first, uint64_t n)
{
	uint64_t start = first + crnd(n);
	uint64_t len = first + n - start;

	vcpu_check_pages(start, len < VCPU_MAX_PAGES ? len : VCPU_MAX_PAGES);
}

/* The model after a conversion of [first, first + n), between pub_begin/end. */
static void model_convert(uint64_t first, uint64_t n, bool to_private,
			  bool discard)
{
	for (uint64_t i = first; i < first + n; i++) {
		if (!!pub[i].private == to_private)
			continue;
		set_private(i, to_private);
		if (discard)
			set_version(i, 0);
	}
}

static bool transient(uint32_t reason)
{
	return reason == GMEM_PAIR_ERR_REFERENCED ||
	       reason == GMEM_PAIR_ERR_MAPPED || reason == GMEM_PAIR_ERR_SPLIT;
}

/*
 * GMEM_PAIR_CONVERT of [first, first + n); the model follows on success.
 * A refusal must change nothing (checked each time).  EBUSY for a reference,
 * mapping or split that racing faults may cause is retried a bounded number
 * of times; EXDEV (ZONE_MOVABLE) is retried once with
 * GMEM_PAIR_CONVERT_MIGRATE.  A racing reference that keeps a page from
 * migrating is EBUSY/ERR_REFERENCED, retried as such; EXDEV with
 * GMEM_PAIR_CONVERT_MIGRATE is a failure.  Returns 0, or -1 with errno and
 * @out set by the last call.
 */
static int convert_range(uint64_t first, uint64_t n, bool to_private,
			 uint32_t flags, struct gmem_pair_convert *out)
{
	uint32_t dir = to_private ? GMEM_PAIR_TO_PRIVATE : GMEM_PAIR_TO_SHARED;
	int tries = 0, r, err = 0;

	pub_begin(first, n);
	for (;;) {
		memset(out, 0, sizeof(*out));
		r = pair_convert(pfd, first * page_size, n * page_size, dir,
				 flags, out);
		nr_checks++;
		if (!r) {
			if (out->error_offset || out->error_reason)
				mismatch("conversion succeeded with error_offset %#llx reason %u",
					 out->error_offset, out->error_reason);
			break;
		}
		err = errno;
		if (err != EBUSY && err != EXDEV)
			break;
		/* a refusal changes nothing */
		check_states(first, n, NULL);
		check_contents(first, n, 16);
		nr_checks++;
		if (out->error_offset < first * page_size ||
		    out->error_offset >= (first + n) * page_size ||
		    out->error_offset % page_size)
			mismatch("refusal (%s, %s) at %#llx, outside [%#lx, %#lx)",
				 strerror(err), reason_str(out->error_reason),
				 out->error_offset, first * page_size,
				 (first + n) * page_size);
		if (err == EBUSY && transient(out->error_reason)) {
			if (tries++ < CONVERT_RETRIES) {
				retries[out->error_reason]++;
				usleep(1000);
				continue;
			}
			gave_up++;
		} else if (err == EXDEV && to_private &&
			   out->error_reason == GMEM_PAIR_ERR_MOVABLE &&
			   !(flags & GMEM_PAIR_CONVERT_MIGRATE)) {
			retries[GMEM_PAIR_ERR_MOVABLE]++;
			flags |= GMEM_PAIR_CONVERT_MIGRATE;
			continue;
		}
		break;
	}
	if (!r)
		model_convert(first, n, to_private,
			      flags & GMEM_PAIR_CONVERT_DISCARD);
	pub_end(first, n);
	errno = err;
	return r;
}

/* A random range: 1..MAX_RANGE pages, or a 2M-aligned 2M range. */
static void pick_range(uint64_t *first, uint64_t *n)
{
	if (rnd(4) == 0) {
		*n = HUGE_PAGES;
		*first = rnd(npages / HUGE_PAGES) * HUGE_PAGES;
	} else {
		*n = 1 + rnd(MAX_RANGE);
		*first = rnd(npages - *n + 1);
	}
}

/* A random page in state @priv, or -1 if there is none. */
static int64_t pick_page(bool priv)
{
	uint64_t start = rnd(npages);

	for (uint64_t k = 0; k < npages; k++) {
		uint64_t i = (start + k) % npages;

		if (!!pub[i].private == priv)
			return i;
	}
	return -1;
}

static void convert_checked(uint64_t first, uint64_t n, bool to_private,
			    uint32_t flags)
{
	struct gmem_pair_convert out;

	if (convert_range(first, n, to_private, flags, &out)) {
		failure("convert [%lu, +%lu) to %s flags %#x: %s, reason %s at %#llx",
			first, n, to_private ? "private" : "shared", flags,
			strerror(errno), reason_str(out.error_reason),
			out.error_offset);
		return;
	}
	check_states(first, n, NULL);
	check_contents(first, n, MAX_RANGE);
	check_neighbours(first, n);
}

static void op_convert(void)
{
	bool to_private = rnd(2);
	uint32_t flags = 0;
	uint64_t first, n;

	pick_range(&first, &n);
	if (rnd(4) == 0)
		flags |= GMEM_PAIR_CONVERT_DISCARD;
	if (to_private && rnd(8) == 0)
		flags |= GMEM_PAIR_CONVERT_MIGRATE;
	log_op("convert [%lu, +%lu) to %s%s%s", first, n,
	       to_private ? "private" : "shared",
	       flags & GMEM_PAIR_CONVERT_DISCARD ? ", discard" : "",
	       flags & GMEM_PAIR_CONVERT_MIGRATE ? ", migrate" : "");
	convert_checked(first, n, to_private, flags);
	/* the fd's conversion changed KVM's attributes too */
	vcpu_check_sample(first, n);
}

/* New versions for the shared pages of [first, first + n). */
static void write_range(uint64_t first, uint64_t n, bool use_pwrite)
{
	uint64_t buf[WORDS];

	for (uint64_t i = first; i < first + n; i++) {
		uint64_t v;
		bool ok;

		if (pub[i].private)
			continue;
		pub_begin(i, 1);
		v = new_version();
		set_version(i, v);
		fill_page(buf, i, v);
		if (use_pwrite)
			ok = pwrite(sfd, buf, page_size, i * page_size) ==
			     (ssize_t)page_size;
		else
			ok = write_page(mem + i * page_size, buf);
		pub_end(i, 1);
		nr_checks++;
		if (!ok)
			mismatch("page %lu (shared): %s failed (%s)", i,
				 use_pwrite ? "pwrite" : "write through the mapping",
				 use_pwrite ? strerror(errno) : "SIGBUS");
	}
}

/* A random run of shared pages gets new versions: mapping or pwrite. */
static void op_write(void)
{
	uint64_t first = rnd(npages), n = 1 + rnd(8);
	bool use_pwrite = rnd(4) == 0;

	if (rnd(16) == 0) {
		first = rnd(npages / HUGE_PAGES) * HUGE_PAGES;
		n = HUGE_PAGES;
	}
	if (first + n > npages)
		n = npages - first;
	log_op("write [%lu, +%lu) %s", first, n, use_pwrite ? "pwrite" : "mapping");
	write_range(first, n, use_pwrite);
	for (uint64_t i = first; i < first + n; i++)
		if (!pub[i].private)
			check_shared_page(i, crnd(2));
	check_neighbours(first, n);
}

static void op_read(void)
{
	int64_t i = pick_page(false);

	if (i < 0)
		return;
	log_op("read page %ld", i);
	check_shared_page(i, crnd(2));
}

static void op_probe_private(void)
{
	int64_t i = pick_page(true);
	bool write = rnd(2);

	if (i < 0)
		return;
	log_op("probe private page %ld (%s)", i, write ? "write" : "read");
	check_private_page(i, write);
}

/* Punch the memfd: shared offsets become holes, private ones stay. */
static bool punch_range(uint64_t first, uint64_t n)
{
	int r;

	pub_begin(first, n);
	r = fallocate(sfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      first * page_size, n * page_size);
	if (!r)
		for (uint64_t i = first; i < first + n; i++)
			if (!pub[i].private)
				set_version(i, 0);
	pub_end(first, n);
	nr_checks++;
	if (r)
		failure("punch [%lu, +%lu): %s", first, n, strerror(errno));
	return !r;
}

static void op_punch(void)
{
	uint64_t first, n;

	pick_range(&first, &n);
	log_op("punch [%lu, +%lu)", first, n);
	if (!punch_range(first, n))
		return;
	check_states(first, n, NULL);
	check_contents(first, n, MAX_RANGE);
	check_neighbours(first, n);
}

/* Page out a range: the contents survive (nothing happens without swap). */
static void op_pageout(void)
{
	struct gmem_pair_stats st = { 0 };
	uint64_t first, n;

	pick_range(&first, &n);
	log_op("pageout [%lu, +%lu)", first, n);
	/*
	 * Map the shared pages first: pageout only sees mapped ones, and
	 * skips those mapped more than once (the racer threads' mappings).
	 */
	for (uint64_t i = first; i < first + n; i++)
		if (!pub[i].private)
			check_shared_page(i, false);
	for (int k = 0; k < NR_RACER_THREADS; k++)
		madvise(racer_mem[k] + first * page_size, n * page_size,
			MADV_DONTNEED);
	nr_checks++;
	if (madvise(mem + first * page_size, n * page_size, MADV_PAGEOUT)) {
		failure("MADV_PAGEOUT [%lu, +%lu): %s", first, n, strerror(errno));
		return;
	}
	check_states(first, n, &st);
	if (st.swapped_pages > pageout_swapped_max)
		pageout_swapped_max = st.swapped_pages;
	check_contents(first, n, MAX_RANGE);
}

static void sample_thp(void)
{
	long s = meminfo_kb("ShmemHugePages:"), f = meminfo_kb("FileHugePages:");

	if (s > shmem_huge_max)
		shmem_huge_max = s;
	if (f > file_huge_max)
		file_huge_max = f;
}

/* The span of the folio mapped at page @i (pagemap, kpageflags), if known. */
static bool folio_span(uint64_t i, uint64_t *first, uint64_t *n)
{
	uint64_t ent = 0, flags = 0, pfn;
	int fd = open("/proc/self/pagemap", O_RDONLY), kfd;
	bool ok;

	if (fd < 0)
		return false;
	ok = pread(fd, &ent, 8, (uintptr_t)(mem + i * page_size) / page_size * 8) == 8;
	close(fd);
	pfn = ent & ((1ULL << 55) - 1);
	if (!ok || !(ent & (1ULL << 63)) || !pfn)
		return false;
	kfd = open("/proc/kpageflags", O_RDONLY);
	if (kfd < 0)
		return false;
	ok = pread(kfd, &flags, 8, pfn * 8) == 8;
	close(kfd);
	if (!ok)
		return false;
	if (flags & (1ULL << KPF_THP)) {
		*first = i / HUGE_PAGES * HUGE_PAGES;
		*n = HUGE_PAGES;
		return true;
	}
	if (flags & ((1ULL << KPF_COMPOUND_HEAD) | (1ULL << KPF_COMPOUND_TAIL)))
		return false;	/* some other large folio */
	*first = i;
	*n = 1;
	return true;
}

/*
 * Pin a shared page (FOLL_PIN | FOLL_LONGTERM); a to-private over it must
 * be refused with EBUSY/ERR_PINNED inside the pinned folio, and change
 * nothing; unpin.
 */
static void op_pin(void)
{
	struct pin_longterm_test pin = {
		.size = page_size, .flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE,
	};
	uint64_t first, n, ffirst, fn, lo, hi;
	struct gmem_pair_convert out;
	uint32_t flags = 0;
	int64_t p = pick_page(false);
	int r;

	if (gup_fd < 0 || p < 0)
		return;
	if (rnd(3) == 0) {
		first = p / HUGE_PAGES * HUGE_PAGES;
		n = HUGE_PAGES;
	} else {
		n = 1 + rnd(MAX_RANGE);
		if (n > npages)
			n = npages;
		first = p >= (int64_t)n ? p - rnd(n) : p - rnd(p + 1);
		if (first + n > npages)
			first = npages - n;
	}
	if (rnd(3) == 0)
		flags |= GMEM_PAIR_CONVERT_DISCARD;
	log_op("pin page %ld, convert [%lu, +%lu) to private%s", p, first, n,
	       flags ? ", discard" : "");
	pin.addr = (uintptr_t)(mem + p * page_size);
	nr_checks++;
	if (ioctl(gup_fd, PIN_LONGTERM_TEST_START, &pin)) {
		/*
		 * A longterm pin first migrates a ZONE_MOVABLE page; GUP says
		 * ENOMEM when that fails (another op holds the page): no pin.
		 */
		if (errno == ENOMEM) {
			pins_enomem++;
			return;
		}
		failure("PIN_LONGTERM_TEST_START of page %ld: %s", p, strerror(errno));
		return;
	}
	pins_tried++;
	if (!folio_span(p, &ffirst, &fn)) {
		ffirst = p / HUGE_PAGES * HUGE_PAGES;
		fn = HUGE_PAGES;
	} else if (fn > 1) {
		pins_in_thp++;
	}
	lo = ffirst > first ? ffirst : first;
	hi = ffirst + fn < first + n ? ffirst + fn : first + n;

	r = convert_range(first, n, true, flags, &out);
	nr_checks++;
	if (!r) {
		mismatch("to-private [%lu, +%lu) over pinned page %ld succeeded",
			 first, n, p);
	} else if (errno != EBUSY || out.error_reason != GMEM_PAIR_ERR_PINNED ||
		   out.error_offset < lo * page_size ||
		   out.error_offset >= hi * page_size) {
		mismatch("to-private, pinned page %ld (folio [%lu, +%lu)): %s, %s at %#llx",
			 p, ffirst, fn, strerror(errno),
			 reason_str(out.error_reason), out.error_offset);
	} else {
		pins_refused++;
	}
	/* nothing changed: every page of the range, and KVM's attributes */
	check_states(first, n, NULL);
	check_contents(first, n, HUGE_PAGES);
	vcpu_check_pages(p, 1);
	nr_checks++;
	if (ioctl(gup_fd, PIN_LONGTERM_TEST_STOP))
		failure("PIN_LONGTERM_TEST_STOP: %s", strerror(errno));
}

/*
 * A 2M folio: a 2M block made shared, punched and written again through
 * the 2M-aligned MADV_HUGEPAGE mapping (shmem gives it a THP unless a racer
 * faulted a page of it in between), then sometimes moved whole to private.
 */
static void op_thp(void)
{
	uint64_t first = rnd(npages / HUGE_PAGES) * HUGE_PAGES, ffirst, fn;
	bool to_private = rnd(2);

	log_op("2M block [%lu, +%d): shared, punched, written%s", first,
	       HUGE_PAGES, to_private ? ", to private" : "");
	convert_checked(first, HUGE_PAGES, false, 0);
	if (!punch_range(first, HUGE_PAGES))
		return;
	write_range(first, HUGE_PAGES, false);
	if (folio_span(first, &ffirst, &fn) && fn == HUGE_PAGES)
		thp_made++;
	sample_thp();
	check_contents(first, HUGE_PAGES, MAX_RANGE);
	if (to_private) {
		convert_checked(first, HUGE_PAGES, true, 0);
		sample_thp();
	}
}

/* The whole pair's states; the private page count from the same queries. */
static void check_all_states(void)
{
	uint64_t nr_private = 0, nr_shared = 0, priv_pages = 0;
	uint8_t *state = malloc(npages);
	struct gmem_pair_stats st;
	unsigned long bad = 0;

	TEST_ASSERT(state, "malloc");
	if (!query_states(0, npages, state, &st)) {
		free(state);
		return;
	}
	for (uint64_t i = 0; i < npages; i++) {
		if (!check_state(i, state[i]) && ++bad > 4)
			break;
		if (state[i] == GMEM_PAIR_STATE_PRIVATE)
			priv_pages++;
		if (pub[i].private)
			nr_private++;
		else
			nr_shared++;
	}
	free(state);
	nr_checks += 3;
	/* the private side only changes in conversions: the counts are exact */
	if (st.private_pages != priv_pages)
		mismatch("stats: %llu private pages, extents show %lu",
			 st.private_pages, priv_pages);
	if (st.private_pages > nr_private)
		mismatch("stats: %llu private pages, model has %lu private offsets",
			 st.private_pages, nr_private);
	if (st.shared_pages > nr_shared || st.swapped_pages > nr_shared)
		mismatch("stats: %llu shared + %llu swapped pages, model has %lu shared offsets",
			 st.shared_pages, st.swapped_pages, nr_shared);
}

static void op_query(void)
{
	log_op("query the whole pair");
	check_all_states();
}

/* Every shared page, a few private ones, every state. */
static void full_check(void)
{
	unsigned long bad = 0, probed = 0;

	sample_thp();
	check_all_states();
	for (uint64_t i = 0; i < npages; i++) {
		if (pub[i].private) {
			if (probed < 8 && crnd(64) == 0) {
				check_private_page(i, crnd(2));
				probed++;
			}
			continue;
		}
		if (!check_shared_page(i, crnd(2)) && ++bad > 8)
			break;
	}
	for (int k = 0; k < 4; k++)
		vcpu_check_sample(0, npages);
}

static void op_full_check(void)
{
	log_op("full check");
	full_check();
}

/* Everything shared, every page checked, then random parts back private. */
static void op_all_shared(void)
{
	uint64_t parts = 1 + rnd(3);

	log_op("convert everything to shared, then %lu ranges back", parts);
	convert_checked(0, npages, false, 0);
	full_check();
	for (uint64_t k = 0; k < parts; k++) {
		uint64_t n = 1 + rnd(npages / 2), first = rnd(npages - n + 1);
		uint32_t flags = rnd(4) ? 0 : GMEM_PAIR_CONVERT_DISCARD;

		log_op("  convert [%lu, +%lu) to private%s", first, n,
		       flags ? ", discard" : "");
		convert_checked(first, n, true, flags);
	}
}

/*
 * KVM_SET_MEMORY_ATTRIBUTES of [first, first + n): the pair converts, all
 * or nothing; the model follows on success.  EBUSY (references of racing
 * faults) is retried a bounded number of times, each refusal checked to
 * have changed nothing.  Returns 0, or -1 with errno set.
 */
static int kvm_convert_range(uint64_t first, uint64_t n, bool to_private)
{
	uint64_t attrs = to_private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	int tries = 0, r, err = 0;

	pub_begin(first, n);
	for (;;) {
		r = try_set_memory_attributes(vm, slot_gpa + first * page_size,
					      n * page_size, attrs);
		nr_checks++;
		if (!r)
			break;
		err = errno;
		if (err != EBUSY)
			break;
		check_states(first, n, NULL);
		check_contents(first, n, 16);
		if (tries++ >= CONVERT_RETRIES) {
			gave_up++;
			break;
		}
		kvm_busy++;
		usleep(1000);
	}
	if (!r) {
		model_convert(first, n, to_private, false);
		kvm_converted++;
	}
	pub_end(first, n);
	errno = err;
	return r;
}

/* A conversion through KVM instead of the pair's fd, checked the same way. */
static void op_kvm_convert(void)
{
	bool to_private = rnd(2);
	uint64_t first, n;

	pick_range(&first, &n);
	log_op("KVM_SET_MEMORY_ATTRIBUTES [%lu, +%lu) %s", first, n,
	       to_private ? "PRIVATE" : "0");
	if (kvm_convert_range(first, n, to_private)) {
		failure("KVM_SET_MEMORY_ATTRIBUTES [%lu, +%lu) %s: %s", first,
			n, to_private ? "PRIVATE" : "0", strerror(errno));
		return;
	}
	check_states(first, n, NULL);
	check_contents(first, n, MAX_RANGE);
	check_neighbours(first, n);
	vcpu_check_sample(first, n);
}

/* A run of 1..VCPU_MAX_PAGES pages for the guest. */
static void vcpu_pick_run(uint64_t *first, uint64_t *n)
{
	*first = rnd(npages);
	*n = 1 + rnd(VCPU_MAX_PAGES);
	if (*first + *n > npages)
		*n = npages - *first;
}

static void op_vcpu_read(void)
{
	uint64_t first, n;

	vcpu_pick_run(&first, &n);
	log_op("vCPU reads [%lu, +%lu)", first, n);
	vcpu_check_pages(first, n);
}

/*
 * The guest writes new versions of [first, first + n), private or shared
 * pages alike; the model records them.  The host reads the shared ones
 * back, the guest all of them.
 */
static void op_vcpu_write(void)
{
	uint64_t first, n;

	vcpu_pick_run(&first, &n);
	log_op("vCPU writes [%lu, +%lu)", first, n);
	if (!vcpu_usable())
		return;
	pub_begin(first, n);
	for (uint64_t k = 0; k < n; k++) {
		uint64_t v = new_version();

		set_version(first + k, v);
		fill_page(vcpu_buf_page(k), first + k, v);
	}
	vcpu_access(VCPU_WRITE, first, n);
	pub_end(first, n);
	for (uint64_t i = first; i < first + n; i++)
		if (!pub[i].private)
			check_shared_page(i, crnd(2));
	vcpu_check_pages(first, n);
}

/* KVM_SET_USER_MEMORY_REGION2 of the whole pair at @gpa, or none (size 0). */
static void slot_set(uint64_t gpa, bool bind)
{
	int r = __vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD,
					     gpa, bind ? npages * page_size : 0,
					     mem, pfd, 0);

	if (r) {
		failure("memslot %s at %#lx: %s", bind ? "create" : "delete",
			gpa, strerror(errno));
		TEST_FAIL("memslot");
	}
	if (bind)
		slot_gpa = gpa;
}

/*
 * With no memslot, KVM still has attributes for the gfns, and they must
 * be the pair's state: the guest's read of page @i exits
 * KVM_EXIT_MEMORY_FAULT (flagged private, the read waits for a memslot)
 * if it is private, or is MMIO if it is shared.  Returns true if the read
 * is waiting.
 */
static bool probe_unbound(uint64_t i)
{
	uint64_t gpa = slot_gpa + i * page_size;
	struct kvm_run *run = vcpu->run;
	enum vcpu_exit e;
	char desc[200];

	e = vcpu_exec(VCPU_READ, gpa, 1);
	nr_checks++;
	if (pub[i].private && e == VCPU_MEMORY_FAULT &&
	    run->memory_fault.gpa == gpa &&
	    run->memory_fault.size == page_size &&
	    (run->memory_fault.flags & KVM_MEMORY_EXIT_FLAG_PRIVATE)) {
		unbound_private++;
		return true;
	}
	if (!pub[i].private && e == VCPU_MMIO && run->mmio.phys_addr == gpa &&
	    !run->mmio.is_write) {
		memset(run->mmio.data, 0, sizeof(run->mmio.data));
		e = vcpu_resume();
		if (e == VCPU_DONE) {
			unbound_shared++;
			return false;
		}
	}
	vcpu_broken = true;
	describe_exit(e, desc, sizeof(desc));
	kvm_mismatch("no memslot, page %lu (model %s): the vCPU's read ended with %s",
		     i, pub[i].private ? "private" : "shared", desc);
	return false;
}

/* The read probe_unbound() left waiting completes: page @i's first word. */
static void probe_finish(uint64_t i)
{
	enum vcpu_exit e = vcpu_resume();
	uint64_t x = vcpu_buf_page(0)[0];
	char desc[200];

	nr_checks++;
	if (e != VCPU_DONE) {
		vcpu_broken = true;
		describe_exit(e, desc, sizeof(desc));
		kvm_mismatch("page %lu: the read waiting for the memslot ended with %s",
			     i, desc);
	} else if (x != word_of(i, pub[i].version, 0)) {
		kvm_mismatch("page %lu (%s, version %lu): the waiting read got %#lx, not %#lx",
			     i, pub[i].private ? "private" : "shared",
			     pub[i].version, x, word_of(i, pub[i].version, 0));
	}
}

/*
 * Delete the memslot; the guest probes KVM's attributes of a page with no
 * memslot; sometimes the pair converts a range through its fd meanwhile;
 * re-create the memslot, sometimes at the other gfns.  KVM's attributes
 * must then be the pair's state (re-creating it used to keep stale ones):
 * the guest reads the converted range and the probed page.
 */
static void op_memslot(void)
{
	uint64_t probe = rnd(npages), first, n;
	bool convert = rnd(2), to_private = rnd(2), move = rnd(3) == 0;
	bool waiting = false;

	pick_range(&first, &n);
	log_op("memslot at %#lx: delete, probe page %lu, %s [%lu, +%lu)%s, re-create%s",
	       slot_gpa, probe, convert ? "convert" : "check",
	       first, n, !convert ? "" : to_private ? " to private" : " to shared",
	       move ? ", move" : "");
	if (!vcpu_usable())
		return;
	slot_set(slot_gpa, false);
	waiting = probe_unbound(probe);
	if (convert)
		convert_checked(first, n, to_private, 0);
	slot_set(slot_gpa, true);
	rebinds++;
	if (waiting)
		probe_finish(probe);
	if (move) {
		slot_set(slot_gpa, false);
		slot_set(slot_gpa == GPA_BASE_A ? GPA_BASE_B : GPA_BASE_A, true);
		slot_moves++;
	}
	vcpu_check_sample(first, n);
	vcpu_check_pages(probe, 1);
}

/* UFFDIO_COPY of @src, or UFFDIO_ZEROPAGE, at page @i of uffd_mem. */
static int uffd_fill(uint64_t i, const uint64_t *src, bool zero)
{
	uint64_t dst = (uintptr_t)(uffd_mem + i * page_size);
	struct uffdio_zeropage z = {
		.range = { .start = dst, .len = page_size },
	};
	struct uffdio_copy c = {
		.dst = dst, .src = (uintptr_t)src, .len = page_size,
	};

	return ioctl(uffd, zero ? UFFDIO_ZEROPAGE : UFFDIO_COPY,
		     zero ? (void *)&z : (void *)&c);
}

/* Never at a private offset: EACCES, and nothing changes. */
static void uffd_private(uint64_t i, bool zero)
{
	uint64_t buf[WORDS];
	int r;

	fill_page(buf, i, area->max_version + 1);
	r = uffd_fill(i, buf, zero);
	nr_checks++;
	if (r != -1 || errno != EACCES)
		uffd_mismatch("UFFDIO_%s at private page %lu: %d (%s), not EACCES",
			      zero ? "ZEROPAGE" : "COPY", i, r,
			      r ? strerror(errno) : "done");
	else
		uffd_refused++;
	check_states(i, 1, NULL);
	check_private_page(i, false);
}

/*
 * A shared hole is filled (a new version, or zeros); a page that is there
 * (resident or swapped) is not overwritten: EEXIST.  The handler thread
 * may fill the hole first (zeros, the model's version 0): EEXIST too.
 */
static void uffd_shared(uint64_t i, bool zero)
{
	uint64_t buf[WORDS], v = zero ? 0 : new_version();
	uint8_t state;
	int r, err;

	if (!query_states(i, 1, &state, NULL))
		return;
	fill_page(buf, i, v);
	pub_begin(i, 1);
	r = uffd_fill(i, buf, zero);
	err = errno;
	if (!r)
		set_version(i, v);
	pub_end(i, 1);
	nr_checks++;
	if (!r && state != GMEM_PAIR_STATE_SHARED_HOLE)
		uffd_mismatch("UFFDIO_%s filled page %lu, which was %s (version %lu)",
			      zero ? "ZEROPAGE" : "COPY", i, state_str(state),
			      pub[i].version);
	else if (r && err != EEXIST)
		uffd_mismatch("UFFDIO_%s at shared page %lu (%s): %s",
			      zero ? "ZEROPAGE" : "COPY", i, state_str(state),
			      strerror(err));
	else if (r)
		uffd_exist++;
	else
		uffd_filled++;
	check_shared_page(i, crnd(2));
}

/* At a private page, or a shared one, punched first (a hole) half the time. */
static void op_uffd(void)
{
	bool priv = rnd(2), zero = rnd(4) == 0, punch = rnd(2);
	int64_t i = pick_page(priv);

	if (i < 0)
		return;
	log_op("UFFDIO_%s at %s page %ld", zero ? "ZEROPAGE" : "COPY",
	       priv ? "private" : punch ? "punched shared" : "shared", i);
	if (priv)
		uffd_private(i, zero);
	else if (!punch || punch_range(i, 1))
		uffd_shared(i, zero);
}

/*
 * The handler thread resolves the second racer's faults on shared holes
 * with zeros, the model's version 0.  A conversion, write or COPY may have
 * been first: EEXIST, or EACCES if the offset became private; then it
 * wakes the fault, which retries (and SIGBUSes at a private offset).
 */
static void uffd_resolve(uint64_t addr, bool zero)
{
	static uint64_t zeros[WORDS] __aligned(4096);
	struct uffdio_range range = { .start = addr, .len = page_size };
	int r;

	r = uffd_fill(((char *)(uintptr_t)addr - uffd_mem) / page_size, zeros,
		      zero);
	if (!r) {
		if (zero)
			ust.zeropages++;
		else
			ust.copies++;
		return;
	}
	if (errno == EEXIST)
		ust.eexist++;
	else if (errno == EACCES)
		ust.eacces++;
	else
		ust.errors++;
	if (ioctl(uffd, UFFDIO_WAKE, &range))
		ust.errors++;
	else
		ust.wakes++;
}

static void *uffd_handler(void *arg)
{
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	uint64_t lo = (uintptr_t)uffd_mem, hi = lo + npages * page_size;
	struct uffd_msg msg;

	while (!__atomic_load_n(&uffd_stop, __ATOMIC_ACQUIRE)) {
		uint64_t addr;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(uffd, &msg, sizeof(msg)) != sizeof(msg)) {
			if (errno != EAGAIN)
				ust.errors++;
			continue;
		}
		addr = msg.arg.pagefault.address & ~(uint64_t)(page_size - 1);
		if (msg.event != UFFD_EVENT_PAGEFAULT || addr < lo || addr >= hi) {
			ust.errors++;
			continue;
		}
		ust.faults++;
		uffd_resolve(addr, ust.faults % 2);
	}
	return NULL;
}

/* The NUMA nodes that are online (/sys/devices/system/node/online: "0-1,3"). */
static void read_online_nodes(void)
{
	FILE *f = fopen("/sys/devices/system/node/online", "r");
	int a, b;
	char sep;

	nr_online = 0;
	while (f && fscanf(f, "%d", &a) == 1) {
		b = a;
		sep = fgetc(f);
		if (sep == '-' && fscanf(f, "%d", &b) == 1)
			sep = fgetc(f);
		for (int node = a; node <= b && nr_online < MAX_NODES; node++)
			online_node[nr_online++] = node;
		if (sep != ',')
			break;
	}
	if (f)
		fclose(f);
	if (!nr_online)
		online_node[nr_online++] = 0;
}

/* move_pages(2) of @n pages, or where they are if @nodes is NULL. */
static long sys_move_pages(uint64_t n, void **pages, const int *nodes,
			   int *status, int flags)
{
	return syscall(__NR_move_pages, 0, n, pages, nodes, status, flags);
}

/* A status move_pages() did not write (not a node, not an errno). */
#define MOVE_STATUS_UNSET	INT_MAX

/*
 * One page's status from move_pages() to @node, @before it was on; @left:
 * the pages move_pages() said it did not migrate (its return value).
 */
static void move_status(uint64_t i, int node, int before, int status,
			int after, int flags, long left)
{
	nr_checks++;
	if (status == MOVE_STATUS_UNSET && left > 0) {
		/* not migrated: the kernel stops writing statuses there */
		move_busy++;
	} else if (status == node) {
		move_on_target++;
		move_changed_node += before >= 0 && before != node;
		/* reclaim may take it meanwhile: not present then */
		if (after != node && after != -ENOENT)
			mismatch("move_pages: page %lu moved to node %d, now on %d",
				 i, node, after);
	} else if (status == -EACCES && !(flags & MPOL_MF_MOVE_ALL)) {
		move_eacces++;		/* mapped by others: MOVE_ALL only */
	} else if (status == -ENOENT) {
		move_absent++;		/* swapped out meanwhile */
	} else if (status == -EBUSY || status == -EAGAIN || status == -ENOMEM) {
		move_busy++;
	} else {
		mismatch("move_pages: shared page %lu to node %d: status %d",
			 i, node, status);
	}
}

/*
 * move_pages(2) of a run of shared pages to a random online node (with
 * one node, to where they are: nothing moves, but it is counted): every
 * status is the target node or an allowed refusal, the pages that went
 * there are there, and their contents are intact (the racers read them
 * meanwhile).
 */
static void op_move_pages(void)
{
	int before[MAX_MOVE_PAGES], status[MAX_MOVE_PAGES], after[MAX_MOVE_PAGES];
	int nodes[MAX_MOVE_PAGES], node = online_node[rnd(nr_online)];
	int flags = rnd(2) ? MPOL_MF_MOVE_ALL : MPOL_MF_MOVE;
	uint64_t want = 1 + rnd(MAX_MOVE_PAGES), n = 0;
	void *pages[MAX_MOVE_PAGES];
	int64_t first = pick_page(false);
	long r, left = 0;

	if (first < 0)
		return;
	while (n < want && first + n < npages && !pub[first + n].private)
		n++;
	log_op("move_pages [%ld, +%lu) to node %d%s", first, n, node,
	       flags & MPOL_MF_MOVE_ALL ? ", MOVE_ALL" : "");
	for (uint64_t k = 0; k < n; k++) {
		check_shared_page(first + k, false);	/* mapped: present */
		pages[k] = mem + (first + k) * page_size;
		nodes[k] = node;
		status[k] = MOVE_STATUS_UNSET;
	}
	move_calls++;
	r = sys_move_pages(n, pages, NULL, before, 0);
	if (r >= 0) {
		left = sys_move_pages(n, pages, nodes, status, flags);
		r = left;
	}
	if (r >= 0)
		r = sys_move_pages(n, pages, NULL, after, 0);
	if (r < 0) {
		failure("move_pages [%ld, +%lu): %s", first, n, strerror(errno));
		return;
	}
	for (uint64_t k = 0; k < n; k++)
		move_status(first + k, node, before[k], status[k], after[k],
			    flags, left);
	check_states(first, n, NULL);
	check_contents(first, n, n);
}

/* A range around private page @p: a run, or its 2M block. */
static void pick_range_around(uint64_t p, uint64_t *first, uint64_t *n)
{
	if (rnd(4) == 0) {
		*first = p / HUGE_PAGES * HUGE_PAGES;
		*n = HUGE_PAGES;
		return;
	}
	*n = 1 + rnd(MAX_RANGE);
	*first = p - rnd(*n < p + 1 ? *n : p + 1);
	if (*first + *n > npages)
		*n = npages - *first;
}

/* Right after a punch of the private file: its private pages are holes. */
static void check_punched(uint64_t first, uint64_t n)
{
	uint8_t *state = malloc(n);

	TEST_ASSERT(state, "malloc");
	if (query_states(first, n, state, NULL)) {
		for (uint64_t k = 0; k < n; k++) {
			uint64_t i = first + k;

			nr_checks++;
			if (pub[i].private &&
			    state[k] != GMEM_PAIR_STATE_PRIVATE_HOLE) {
				mismatch("page %lu: %s after a punch of the private file",
					 i, state_str(state[k]));
				break;
			}
			if (!check_state(i, state[k]))
				break;
		}
	}
	free(state);
}

/*
 * fallocate(PUNCH_HOLE) of the private file over a range with private
 * pages: they become holes (zeros when read, by the guest or after a
 * to-shared); the range's shared pages are not the private file's and
 * stay.  EBUSY (a large folio at an edge that did not split) is retried.
 */
static void op_punch_private(void)
{
	int64_t p = pick_page(true);
	uint64_t first, n;
	int r, tries = 0;

	if (p < 0)
		return;
	pick_range_around(p, &first, &n);
	log_op("punch the private file [%lu, +%lu)", first, n);
	pub_begin(first, n);
	while ((r = fallocate(pfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      first * page_size, n * page_size)) &&
	       errno == EBUSY && tries++ < CONVERT_RETRIES) {
		punch_busy++;
		check_states(first, n, NULL);
		usleep(1000);
	}
	if (!r) {
		for (uint64_t i = first; i < first + n; i++) {
			if (pub[i].private) {
				set_version(i, 0);
				private_punched++;
			}
		}
	}
	pub_end(first, n);
	nr_checks++;
	if (r) {
		failure("punch of the private file [%lu, +%lu): %s", first, n,
			strerror(errno));
		return;
	}
	check_punched(first, n);
	check_contents(first, n, MAX_RANGE);
	check_neighbours(first, n);
	vcpu_check_pages(p, 1);
}

/*
 * Close the main thread's memfd and its mapping, get the memfd again
 * (GMEM_PAIR_GET_SHARED_FD: the same file), map it and bind the memslot
 * to the new mapping; a range reads the same through it and the guest.
 * The racers read through their own mappings meanwhile.
 */
static void op_reopen(void)
{
	struct stat old, new;
	uint64_t first, n;
	int fd;

	pick_range(&first, &n);
	log_op("reopen: close the memfd, GMEM_PAIR_GET_SHARED_FD, map, re-bind; check [%lu, +%lu)",
	       first, n);
	TEST_ASSERT(!fstat(sfd, &old), "fstat");
	slot_set(slot_gpa, false);
	munmap(pair.area, pair.area_size);
	close(sfd);
	pair.area = NULL;
	pair.mem = NULL;
	pair.sfd = -1;

	fd = ioctl(pfd, GMEM_PAIR_GET_SHARED_FD, O_CLOEXEC);
	TEST_ASSERT(fd >= 0, "GMEM_PAIR_GET_SHARED_FD: %s", strerror(errno));
	TEST_ASSERT(!fstat(fd, &new), "fstat");
	nr_checks += 2;
	if (new.st_ino != old.st_ino || new.st_dev != old.st_dev)
		mismatch("GMEM_PAIR_GET_SHARED_FD: inode %lu, was %lu",
			 (unsigned long)new.st_ino, (unsigned long)old.st_ino);
	if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
		mismatch("GMEM_PAIR_GET_SHARED_FD(O_CLOEXEC): no FD_CLOEXEC");
	pair.sfd = fd;
	pair.mem = mmap_2m_aligned(fd, npages * page_size, &pair.area);
	TEST_ASSERT(pair.mem, "map the memfd again: %s", strerror(errno));
	sfd = pair.sfd;
	mem = pair.mem;
	slot_set(slot_gpa, true);
	reopens++;
	check_states(first, n, NULL);
	check_contents(first, n, MAX_RANGE);
	vcpu_check_sample(first, n);
}

static void run_op(enum op op)
{
	op_count[op]++;
	switch (op) {
	case OP_CONVERT:
		op_convert();
		break;
	case OP_WRITE:
		op_write();
		break;
	case OP_READ:
		op_read();
		break;
	case OP_PROBE_PRIVATE:
		op_probe_private();
		break;
	case OP_PUNCH:
		op_punch();
		break;
	case OP_PAGEOUT:
		op_pageout();
		break;
	case OP_PIN:
		op_pin();
		break;
	case OP_QUERY:
		op_query();
		break;
	case OP_THP:
		op_thp();
		break;
	case OP_KVM_CONVERT:
		op_kvm_convert();
		break;
	case OP_VCPU_READ:
		op_vcpu_read();
		break;
	case OP_VCPU_WRITE:
		op_vcpu_write();
		break;
	case OP_MEMSLOT:
		op_memslot();
		break;
	case OP_UFFD:
		op_uffd();
		break;
	case OP_MOVE_PAGES:
		op_move_pages();
		break;
	case OP_PUNCH_PRIVATE:
		op_punch_private();
		break;
	case OP_REOPEN:
		op_reopen();
		break;
	case OP_FULL_CHECK:
		op_full_check();
		break;
	case OP_ALL_SHARED:
		op_all_shared();
		break;
	default:
		break;
	}
}

static enum op pick_op(void)
{
	unsigned int total = 0, x;
	int op;

	for (op = 0; op < NR_OPS; op++)
		total += op_weight[op];
	x = rnd(total);
	for (op = 0; op < NR_OPS; op++) {
		if (x < op_weight[op])
			return op;
		x -= op_weight[op];
	}
	return OP_READ;
}

static const char *thp_path = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
static char thp_old[64];

static void thp_restore(void)
{
	int fd;

	if (!thp_old[0])
		return;
	fd = open(thp_path, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, thp_old, strlen(thp_old)) < 0)
			perror("restore shmem_enabled");
		close(fd);
	}
	thp_old[0] = 0;
}

/* shmem_enabled to "advise", the old value restored at exit. */
static bool thp_advise(void)
{
	char buf[128], *b, *e;
	int fd = open(thp_path, O_RDWR);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	/* "always within_size [advise] never deny force": keep the [word] */
	b = strchr(buf, '[');
	e = b ? strchr(b, ']') : NULL;
	if (b && e && e - b - 1 < (long)sizeof(thp_old)) {
		memcpy(thp_old, b + 1, e - b - 1);
		thp_old[e - b - 1] = 0;
		atexit(thp_restore);
	}
	n = pwrite(fd, "advise", 6, 0);
	close(fd);
	return n == 6;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void bad_args(const char *prog)
{
	fprintf(stderr, "usage: %s [-s SECONDS] [-S SEED] [-p PAIR_MIB] [-v]\n", prog);
	exit(KSFT_FAIL);
}

/* The page cache (Cached:) after dropping clean caches of others. */
static long cached_kb(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "3", 1) != 1)
			perror("drop_caches");
		close(fd);
	}
	return meminfo_kb("Cached:");
}

/* The VM and its vCPU, the pair on it, the memfd mapped and bound. */
static void open_vm_and_pair(void)
{
	const struct vm_shape shape = {
		.mode = VM_MODE_DEFAULT,
		.type = KVM_X86_SW_PROTECTED_VM,
	};

	/* page tables for both sets of gfns the memslot may use */
	vm = __vm_create_shape_with_one_vcpu(shape, &vcpu, 2 * npages,
					     guest_code);
	virt_map(vm, GPA_BASE_A, GPA_BASE_A, npages);
	virt_map(vm, GPA_BASE_B, GPA_BASE_B, npages);
	/* a 2M aligned mapping, so that shmem can give it 2M folios */
	TEST_ASSERT(!gmem_pair_vm_open(&pair, vm, npages * page_size,
				       GUEST_MEMFD_FLAG_PAIRED |
				       GUEST_MEMFD_FLAG_PAIR_SHARED, O_CLOEXEC,
				       true),
		    "paired guest_memfd, its memfd mapped: %s", strerror(errno));
	pfd = pair.pfd;
	sfd = pair.sfd;
	mem = pair.mem;
	slot_set(GPA_BASE_A, true);
}

static pthread_t uffd_thread;

/* The second racer's mapping: MISSING faults go to uffd_handler(). */
static void open_uffd(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)uffd_mem,
			   .len = npages * page_size },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	const uint64_t need = BIT_ULL(_UFFDIO_COPY) | BIT_ULL(_UFFDIO_ZEROPAGE);

	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	TEST_ASSERT(uffd >= 0, "userfaultfd: %s", strerror(errno));
	TEST_ASSERT(!ioctl(uffd, UFFDIO_API, &api), "UFFDIO_API");
	TEST_ASSERT(!ioctl(uffd, UFFDIO_REGISTER, &reg), "UFFDIO_REGISTER: %s",
		    strerror(errno));
	TEST_ASSERT((reg.ioctls & need) == need, "UFFDIO_COPY, UFFDIO_ZEROPAGE");
	TEST_ASSERT(!pthread_create(&uffd_thread, NULL, uffd_handler, NULL),
		    "pthread_create");
}

/*
 * Each racer thread maps the memfd; the last one's faults go to uffd.
 * The threads block SIGALRM: it is for the main thread's KVM_RUN.
 */
static void start_racers(struct racer_thread *racers, uint64_t seed)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	sigset_t alarm, old;

	sigemptyset(&alarm);
	sigaddset(&alarm, SIGALRM);
	TEST_ASSERT(!pthread_sigmask(SIG_BLOCK, &alarm, &old), "sigmask");
	for (int k = 0; k < NR_RACER_THREADS; k++) {
		struct racer_thread *r = &racers[k];

		*r = (struct racer_thread){ .seed = seed * (k + 3) + k };
		snprintf(r->name, sizeof(r->name), "thread %d", k);
		r->m = mmap_2m_aligned(sfd, npages * page_size, &r->area);
		TEST_ASSERT(r->m, "racer's mapping: %s", strerror(errno));
		racer_mem[k] = r->m;
	}
	uffd_mem = racers[NR_RACER_THREADS - 1].m;
	open_uffd();
	for (int k = 0; k < NR_RACER_THREADS; k++)
		TEST_ASSERT(!pthread_create(&racers[k].t, NULL, racer_thread,
					    &racers[k]), "pthread_create");
	TEST_ASSERT(!pthread_sigmask(SIG_SETMASK, &old, NULL), "sigmask");
	sigemptyset(&sa.sa_mask);
	TEST_ASSERT(!sigaction(SIGALRM, &sa, NULL), "sigaction");
}

/*
 * Stop the racer threads and add up what they read; the userfaultfd
 * handler resolves the second one's faults until it has stopped.
 */
static void stop_racers(struct racer_thread *racers, unsigned long *bad,
			unsigned long *reads)
{
	__atomic_store_n(&area->stop, 1, __ATOMIC_SEQ_CST);
	for (int k = 0; k < NR_RACER_THREADS; k++) {
		struct racer_stats *st = &racers[k].st;

		pthread_join(racers[k].t, NULL);
		print_racer(racers[k].name, st);
		*bad += st->bad;
		*reads += st->exact + st->sigbus + st->unstable;
	}
	__atomic_store_n(&uffd_stop, 1, __ATOMIC_RELEASE);
	pthread_join(uffd_thread, NULL);
	close(uffd);
	for (int k = 0; k < NR_RACER_THREADS; k++)
		munmap(racers[k].area, npages * page_size + (2UL << 20));
}

/* The guest reads every page. */
static void vcpu_check_all(void)
{
	for (uint64_t i = 0; i < npages && vcpu_usable(); i += VCPU_MAX_PAGES)
		vcpu_check_pages(i, VCPU_MAX_PAGES);
}

static void print_counts(void)
{
	for (int op = 0; op < NR_OPS; op++)
		ksft_print_msg("  %-14s %lu\n", op_name[op], op_count[op]);
	ksft_print_msg("retries: referenced %lu, mapped %lu, split %lu, movable %lu\n",
		       retries[GMEM_PAIR_ERR_REFERENCED],
		       retries[GMEM_PAIR_ERR_MAPPED], retries[GMEM_PAIR_ERR_SPLIT],
		       retries[GMEM_PAIR_ERR_MOVABLE]);
	ksft_print_msg("conversions given up %lu, other errors %lu\n", gave_up,
		       nr_errors);
	ksft_print_msg("pins refused %lu (%lu in a THP); max swapped pages %lu\n",
		       pins_refused, pins_in_thp, pageout_swapped_max);
	ksft_print_msg("2M folios %lu of %lu; max ShmemHugePages %ld kB, FileHugePages %ld kB\n",
		       thp_made, op_count[OP_THP], shmem_huge_max, file_huge_max);
	ksft_print_msg("KVM_SET_MEMORY_ATTRIBUTES: %lu converted, %lu EBUSY retried\n",
		       kvm_converted, kvm_busy);
	ksft_print_msg("vCPU: %lu runs, %lu accesses\n", vcpu_runs, vcpu_accesses);
	ksft_print_msg("no memslot: %lu private (memory fault), %lu shared (MMIO)\n",
		       unbound_private, unbound_shared);
	ksft_print_msg("memslot re-created %lu times, moved %lu times\n",
		       rebinds + reopens, slot_moves);
	ksft_print_msg("userfaultfd: %lu faults: %lu zeropage, %lu copy, %lu EEXIST, %lu EACCES\n",
		       ust.faults, ust.zeropages, ust.copies, ust.eexist,
		       ust.eacces);
	ksft_print_msg("userfaultfd: %lu wakes, %lu errors; fills %lu, EEXIST %lu\n",
		       ust.wakes, ust.errors, uffd_filled, uffd_exist);
	ksft_print_msg("userfaultfd: %lu refused at private offsets\n",
		       uffd_refused);
	ksft_print_msg("move_pages: %d node(s), %lu calls, %lu pages on target (%lu moved)\n",
		       nr_online, move_calls, move_on_target, move_changed_node);
	ksft_print_msg("move_pages: %lu EACCES, %lu absent, %lu busy\n",
		       move_eacces, move_absent, move_busy);
	ksft_print_msg("pins not taken: %lu (ENOMEM: a ZONE_MOVABLE page that did not migrate)\n",
		       pins_enomem);
	ksft_print_msg("private file punched: %lu pages, %lu EBUSY retried\n",
		       private_punched, punch_busy);
	ksft_print_msg("memfd closed and reopened %lu times\n", reopens);
}

int main(int argc, char *argv[])
{
	struct racer_thread racers[NR_RACER_THREADS];
	unsigned long seconds = 30, pair_mib = 16, racer_bad = 0, racer_reads = 0;
	long shmem0, unevict0, file0, shmem1, unevict1, file1;
	struct racer_stats child = { 0 };
	bool leak = false, child_ok;
	uint64_t seed, area_size;
	int opt, sv[2], status = 0;
	double deadline;
	pid_t pid, parent;

	seed = (uint64_t)time(NULL) * 1000003 ^ (uint64_t)getpid() << 20;
	while ((opt = getopt(argc, argv, "s:S:p:v")) != -1) {
		switch (opt) {
		case 's':
			seconds = strtoul(optarg, NULL, 0);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'p':
			pair_mib = strtoul(optarg, NULL, 0);
			break;
		case 'v':
			verbose = true;
			break;
		default:
			bad_args(argv[0]);
		}
	}
	if (!pair_mib || pair_mib % 2 || pair_mib > 4096)
		bad_args(argv[0]);

	/* kvm_util made stdout unbuffered: whole lines, two processes print */
	setvbuf(stdout, stdout_buf, _IOLBF, sizeof(stdout_buf));
	ksft_print_header();
	ksft_print_msg("seed %lu: re-run with -S %lu\n", seed, seed);
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_GMEM_PAIR));
	ksft_set_plan(6);

	page_size = getpagesize();
	TEST_ASSERT(page_size == 4096, "4K pages only");
	npages = (pair_mib << 20) / page_size;
	rng = seed;
	check_rng = ~seed;
	mix_a_inv = MIX_A;
	for (int k = 0; k < 6; k++)
		mix_a_inv *= 2 - MIX_A * mix_a_inv;
	TEST_ASSERT(mix_a_inv * MIX_A == 1, "inverse");
	install_sigbus_handler();

	area_size = sizeof(*area) + npages * sizeof(struct page_pub);
	area = mmap(NULL, area_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(area != MAP_FAILED, "shared area");
	memset(area, 0, area_size);	/* allocated before the meminfo baseline */
	pub = area->pub;

	TEST_ASSERT(thp_advise(), "shmem_enabled: advise");
	shmem0 = meminfo_kb("Shmem:");
	unevict0 = meminfo_kb("Unevictable:");
	file0 = cached_kb();

	/* the second process: forked before the pair, it gets the memfd later */
	TEST_ASSERT(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv), "socketpair");
	fflush(stdout);
	parent = getpid();
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		/* a test that stops early does not leave it reading forever */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(12);
		close(sv[0]);
		second_process(sv[1], seed ^ 0x5eed5eed5eedULL);
	}
	close(sv[1]);

	open_vm_and_pair();
	read_online_nodes();
	gup_fd = open("/sys/kernel/debug/gup_test", O_RDWR);
	if (gup_fd < 0)
		ksft_print_msg("no /sys/kernel/debug/gup_test: no pin operations\n");

	TEST_ASSERT(!send_fd(sv[0], sfd), "SCM_RIGHTS");
	while (!__atomic_load_n(&area->child_ready, __ATOMIC_ACQUIRE)) {
		TEST_ASSERT(waitpid(pid, &status, WNOHANG) == 0,
			    "second process died: %#x", status);
		usleep(1000);
	}
	start_racers(racers, seed);

	/* start from a mix: some data, some private ranges; each new kind once */
	log_op("start: %lu pages, all shared", npages);
	for (int k = 0; k < 8; k++)
		run_op(OP_WRITE);
	for (int k = 0; k < 4; k++)
		run_op(OP_CONVERT);
	for (int op = OP_KVM_CONVERT; op <= OP_REOPEN; op++)
		run_op(op);

	deadline = now() + seconds;
	while (now() < deadline) {
		nr_ops++;
		if (nr_ops % ALL_SHARED_EVERY == 0)
			run_op(OP_ALL_SHARED);
		else if (nr_ops % FULL_CHECK_EVERY == 0)
			run_op(OP_FULL_CHECK);
		else
			run_op(pick_op());
		if (__atomic_load_n(&area->racer_saw_bad, __ATOMIC_RELAXED) == 1) {
			area->racer_saw_bad = 2;
			ksft_print_msg("a racer saw a bad page during or before op %lu\n",
				       nr_ops);
			dump_log();
		}
	}

	/* stop the racers, collect their counts */
	stop_racers(racers, &racer_bad, &racer_reads);
	child_ok = waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		   !WEXITSTATUS(status);
	child = area->child;
	print_racer("second process", &child);
	ksft_print_msg("second process: exit status %#x\n", status);
	racer_bad += child.bad;
	racer_reads += child.exact + child.sigbus + child.unstable;
	close(sv[0]);

	/* the end: everything shared, every page checked, by the guest too */
	nr_ops++;
	log_op("end: convert everything to shared");
	op_count[OP_ALL_SHARED]++;
	convert_checked(0, npages, false, 0);
	full_check();
	vcpu_check_all();

	ksft_print_msg("operations %lu, invariants checked %lu, mismatches %lu\n",
		       nr_ops, nr_checks + racer_reads, nr_mismatches + racer_bad);
	ksft_print_msg("model checks %lu (%lu mismatches), racer reads %lu (%lu mismatches)\n",
		       nr_checks, nr_mismatches, racer_reads, racer_bad);
	ksft_print_msg("model mismatches: pair %lu, KVM %lu, userfaultfd %lu\n",
		       area_mismatches[AREA_PAIR], area_mismatches[AREA_KVM],
		       area_mismatches[AREA_UFFD]);
	print_counts();

	ksft_test_result(!area_mismatches[AREA_PAIR] && !nr_errors && !gave_up,
			 "%lu operations match the model\n", nr_ops);
	ksft_test_result(!racer_bad && child_ok,
			 "racing readers saw only consistent pages\n");
	ksft_test_result(pins_tried && pins_refused == pins_tried,
			 "pinned pages refused to-private (%lu of %lu)\n",
			 pins_refused, pins_tried);
	ksft_test_result(!area_mismatches[AREA_KVM] && !vcpu_broken &&
			 vcpu_accesses && unbound_private + unbound_shared,
			 "the vCPU saw the model's pages, KVM's attributes the pair's (%lu accesses, %lu probes with no memslot)\n",
			 vcpu_accesses, unbound_private + unbound_shared);
	ksft_test_result(!area_mismatches[AREA_UFFD] && !ust.errors &&
			 ust.faults && op_count[OP_UFFD],
			 "userfaultfd: %lu faults resolved during conversions, %lu fills, %lu refused at private offsets\n",
			 ust.faults, uffd_filled, uffd_refused);

	if (gup_fd >= 0)
		close(gup_fd);
	gmem_pair_vm_close(&pair);
	kvm_vm_free(vm);
	vm = NULL;
	thp_restore();
	shmem1 = meminfo_kb("Shmem:");
	unevict1 = meminfo_kb("Unevictable:");
	file1 = cached_kb();
	ksft_print_msg("meminfo delta kB: Shmem %ld, Unevictable %ld, Cached %ld\n",
		       shmem1 - shmem0, unevict1 - unevict0, file1 - file0);
	leak = shmem0 < 0 || unevict0 < 0 || file0 < 0 ||
	       shmem1 - shmem0 > LEAK_SLACK_KB ||
	       unevict1 - unevict0 > LEAK_SLACK_KB ||
	       file1 - file0 > LEAK_SLACK_KB;
	ksft_test_result(!leak, "no leak after close\n");
	munmap(area, area_size);
	ksft_finished();
}
