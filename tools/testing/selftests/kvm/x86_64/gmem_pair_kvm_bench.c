// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair_kvm_bench: a SW-protected guest hands memory to "private" and
 * back, side by side in one boot:
 *
 *  - paired: KVM_HC_MAP_GPA_RANGE both ways, the VMM's
 *    KVM_SET_MEMORY_ATTRIBUTES moves the folios;
 *  - copy: a plain guest_memfd VM does the same hand-off by copying, the
 *    guest copies (rep movsq, 8 bytes an iteration: the selftests'
 *    memcpy() is a byte loop) from a shared range into a private one and
 *    the VMM punches the source (and the other way back).
 *
 * Also the cost of a guest's first touch (NPT fault) of pages that exist,
 * private and shared, paired against plain.  Prints ratios; asserts only
 * that data survived.
 *
 *   gmem_pair_kvm_bench [MiB [plain-first]]     (default 64, paired first)
 *   gmem_pair_kvm_bench latency [MiB]           (default 1024, see below)
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/gmem_pair.h>
#include <linux/kvm_para.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"

#define PAIR_SLOT	10
#define PLAIN_SLOT	11
#define PAIR_GPA	BIT_ULL(32)
#define PLAIN_GPA	BIT_ULL(33)

static uint64_t size;

enum { PHASE_START = 1, PHASE_FILL_PAIR, PHASE_FILL_PLAIN, PHASE_PRIV_HANDOFF,
	PHASE_PRIV_TOUCH, PHASE_SHARED_HANDOFF, PHASE_SHARED_TOUCH,
	PHASE_COPY_TO_PRIV, PHASE_PLAIN_PRIV_TOUCH, PHASE_COPY_TO_SHARED };

/* A real copy in the guest: rep movsq, not the selftests' byte loop. */
static void guest_copy(uint64_t dst, uint64_t src, uint64_t len)
{
	uint64_t n = len / 8;

	asm volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

static void touch(uint64_t gpa, uint64_t len, uint8_t expect)
{
	for (uint64_t i = 0; i < len; i += PAGE_SIZE)
		__GUEST_ASSERT(*(uint8_t *)(gpa + i) == expect,
			       "gpa %lx: %x", gpa + i, *(uint8_t *)(gpa + i));
}

/* Hand-off by hypercall: the VMM converts, the data stays where it is. */
static void fill(uint64_t gpa, uint64_t len)
{
	for (uint64_t i = 0; i < len; i += PAGE_SIZE)
		*(uint8_t *)(gpa + i) = 0x5a;
}

static void guest_code(uint64_t len, uint64_t plain_first)
{
	uint64_t src = PLAIN_GPA, dst = PLAIN_GPA + len;

	/* shared first touch, the memfd allocates: both orders on request */
	GUEST_SYNC(PHASE_START);
	fill(plain_first ? src : PAIR_GPA, len);
	GUEST_SYNC(PHASE_FILL_PAIR);
	fill(plain_first ? PAIR_GPA : src, len);
	GUEST_SYNC(PHASE_FILL_PLAIN);

	kvm_hypercall_map_gpa_range(PAIR_GPA, len, KVM_MAP_GPA_RANGE_ENCRYPTED);
	GUEST_SYNC(PHASE_PRIV_HANDOFF);
	touch(PAIR_GPA, len, 0x5a);
	GUEST_SYNC(PHASE_PRIV_TOUCH);
	kvm_hypercall_map_gpa_range(PAIR_GPA, len, 0);
	GUEST_SYNC(PHASE_SHARED_HANDOFF);
	touch(PAIR_GPA, len, 0x5a);
	GUEST_SYNC(PHASE_SHARED_TOUCH);

	/* copy hand-off: dst is private (set up by the VMM), src shared */
	guest_copy(dst, src, len);
	kvm_hypercall_map_gpa_range(src, len, KVM_MAP_GPA_RANGE_ENCRYPTED);
	GUEST_SYNC(PHASE_COPY_TO_PRIV);
	touch(src, len, 0);		/* fresh private pages, prefaulted */
	GUEST_SYNC(PHASE_PLAIN_PRIV_TOUCH);
	kvm_hypercall_map_gpa_range(src, len, 0);
	guest_copy(src, dst, len);
	GUEST_SYNC(PHASE_COPY_TO_SHARED);
	touch(src, len, 0x5a);
	GUEST_DONE();
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One machine-readable figure for scripts/bench.sh: time in ns, pages. */
static void bench_line(const char *what, const char *method, double t)
{
	printf("BENCH kvm what=%s method=%s mib=%lu units=%lu ns=%.0f\n", what,
	       method, size >> 20, (unsigned long)(size / PAGE_SIZE), t * 1e9);
}

struct plain {
	int gmem;		/* plain guest_memfd of PLAIN_SLOT */
	int memfd;		/* its shared backing */
	uint8_t *hva;
};

/*
 * Hypercalls: set the attributes; for the plain slot, discard the side the
 * data left (punch the memfd after to-private, the guest_memfd after
 * to-shared) and prefault the new private side (fallocate), as a VMM would.
 */
static void handle_hypercall(struct kvm_vcpu *vcpu, struct plain *p)
{
	struct kvm_run *run = vcpu->run;
	uint64_t gpa = run->hypercall.args[0];
	uint64_t len = run->hypercall.args[1] * PAGE_SIZE;
	bool private = run->hypercall.args[2] & KVM_MAP_GPA_RANGE_ENCRYPTED;

	vm_set_memory_attributes(vcpu->vm, gpa, len,
				 private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0);
	if (gpa >= PLAIN_GPA) {
		uint64_t off = gpa - PLAIN_GPA;

		if (private) {
			TEST_ASSERT(!fallocate(p->memfd, FALLOC_FL_KEEP_SIZE |
					       FALLOC_FL_PUNCH_HOLE, off, len),
				    "punch memfd");
			TEST_ASSERT(!fallocate(p->gmem, FALLOC_FL_KEEP_SIZE,
					       off, len), "fallocate gmem");
		} else {
			TEST_ASSERT(!fallocate(p->gmem, FALLOC_FL_KEEP_SIZE |
					       FALLOC_FL_PUNCH_HOLE, off, len),
				    "punch gmem");
		}
	}
	run->hypercall.ret = 0;
}

static uint64_t run_phase(struct kvm_vcpu *vcpu, struct plain *p)
{
	struct ucall uc;

	for (;;) {
		vcpu_run(vcpu);
		if (vcpu->run->exit_reason == KVM_EXIT_HYPERCALL) {
			handle_hypercall(vcpu, p);
			continue;
		}
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			return uc.args[1];
		case UCALL_DONE:
			return 0;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
		default:
			TEST_FAIL("unexpected exit");
		}
	}
}

/*
 * gmem_pair_kvm_bench latency MiB: the guest's first touches (NPT faults)
 * of shared pages of the pair that no conversion covers, while the VMM
 * converts MiB of the same pair to private and back with
 * KVM_SET_MEMORY_ATTRIBUTES; against the same touches with nothing else
 * running.  The guest times each touch with rdtsc and keeps the samples
 * in an ordinary memslot; the host converts ticks to ns from the guest's
 * TSC against CLOCK_MONOTONIC over each phase.
 */
#define LAT_SLOT	12
#define LAT_HDR_GPA	BIT_ULL(34)
#define LAT_IDLE_PAGES	20480UL
#define LAT_PAGES	(256UL * 1024)

struct lat_hdr {
	uint64_t stop;
	uint64_t n[3];
	uint64_t tsc[4];
	uint32_t sample[LAT_PAGES];
};

static void guest_lat(uint64_t gpa, uint64_t conv_pages)
{
	struct lat_hdr *h = (struct lat_hdr *)LAT_HDR_GPA;
	uint64_t n, t, off = 0;
	int p;

	for (p = 1; p <= 2; p++) {
		uint64_t max = p == 1 ? LAT_IDLE_PAGES : conv_pages;

		h->tsc[p - 1] = rdtsc();
		GUEST_SYNC(p);
		for (n = 0; n < max && !(p == 2 && READ_ONCE(h->stop)); n++) {
			t = rdtsc();
			WRITE_ONCE(*(uint8_t *)(gpa + (off + n) * PAGE_SIZE), 1);
			h->sample[off + n] = rdtsc() - t;
		}
		h->n[p] = n;
		off += n;
	}
	h->tsc[2] = rdtsc();
	GUEST_SYNC(3);
	GUEST_DONE();
}

static sem_t lat_sync;
static double lat_when[4];

static void *lat_vcpu(void *arg)
{
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(1, &set);
	sched_setaffinity(0, sizeof(set), &set);
	for (;;) {
		vcpu_run(vcpu);
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			lat_when[uc.args[1] - 1] = now();
			sem_post(&lat_sync);
			break;
		case UCALL_DONE:
			return NULL;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
		default:
			TEST_FAIL("unexpected exit %d", vcpu->run->exit_reason);
		}
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void lat_report(const char *cond, uint32_t *s, uint64_t n,
		       double ns_per_tick, double conv)
{
	TEST_ASSERT(n, "no samples");
	qsort(s, n, sizeof(*s), cmp_u32);
	printf("  %-12s %7lu touches p50 %9.0f ns p99 %9.0f ns max %11.0f ns\n",
	       cond, n, s[n / 2] * ns_per_tick, s[n * 99 / 100] * ns_per_tick,
	       s[n - 1] * ns_per_tick);
	printf("BENCH latency cond=%s mib=%lu units=%lu p50=%.0f p99=%.0f max=%.0f conv=%.0f\n",
	       cond, size >> 20, n, s[n / 2] * ns_per_tick,
	       s[n * 99 / 100] * ns_per_tick, s[n - 1] * ns_per_tick,
	       conv * 1e9);
}

static void run_latency(void)
{
	const struct vm_shape shape = {
		.mode = VM_MODE_DEFAULT, .type = KVM_X86_SW_PROTECTED_VM,
	};
	uint64_t extra = LAT_PAGES * PAGE_SIZE, hdr_size, idle_n;
	struct kvm_vcpu *vcpu;
	struct lat_hdr *h;
	struct kvm_vm *vm;
	double tick, conv;
	pthread_t th;
	uint8_t *hva;
	int pfd, sfd;
	cpu_set_t set;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_GMEM_PAIR));
	/* room in memslot 0 for the page tables of what virt_map() maps */
	vm = __vm_create_shape_with_one_vcpu(shape, &vcpu,
					     (size + extra) / PAGE_SIZE + 512,
					     guest_lat);
	pfd = vm_create_guest_memfd(vm, size + extra, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED);
	sfd = ioctl(pfd, GMEM_PAIR_GET_SHARED_FD, 0);
	hva = mmap(NULL, size + extra, PROT_READ | PROT_WRITE, MAP_SHARED, sfd,
		   0);
	TEST_ASSERT(hva != MAP_FAILED, "mmap pair");
	vm_set_user_memory_region2(vm, PAIR_SLOT, KVM_MEM_GUEST_MEMFD, PAIR_GPA,
				   size + extra, hva, pfd, 0);
	virt_map(vm, PAIR_GPA, PAIR_GPA, (size + extra) / PAGE_SIZE);
	hdr_size = align_up(sizeof(*h), PAGE_SIZE);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, LAT_HDR_GPA,
				    LAT_SLOT, hdr_size / PAGE_SIZE, 0);
	virt_map(vm, LAT_HDR_GPA, LAT_HDR_GPA, hdr_size / PAGE_SIZE);
	h = addr_gpa2hva(vm, LAT_HDR_GPA);
	memset(h, 0, hdr_size);
	/* what the conversion moves: written pages */
	for (uint64_t i = 0; i < size; i += PAGE_SIZE)
		hva[i] = 1;
	vcpu_args_set(vcpu, 2, PAIR_GPA + size, LAT_PAGES - LAT_IDLE_PAGES);

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	sem_init(&lat_sync, 0, 0);
	pthread_create(&th, NULL, lat_vcpu, vcpu);
	sem_wait(&lat_sync);		/* phase 1: touches, nothing else */
	sem_wait(&lat_sync);		/* phase 2: touches next to conversions */
	conv = now();
	vm_set_memory_attributes(vm, PAIR_GPA, size,
				 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	vm_set_memory_attributes(vm, PAIR_GPA, size, 0);
	conv = now() - conv;
	WRITE_ONCE(h->stop, 1);
	sem_wait(&lat_sync);
	pthread_join(th, NULL);

	tick = (lat_when[2] - lat_when[0]) * 1e9 / (h->tsc[2] - h->tsc[0]);
	idle_n = h->n[1];
	printf("guest touches of other pages, %lu MiB conversion (%.3f ns per TSC tick):\n",
	       size >> 20, tick);
	lat_report("vcpu-idle", h->sample, idle_n, tick, 0);
	lat_report("vcpu-same-pair", h->sample + idle_n, h->n[2], tick, conv);
	kvm_vm_free(vm);
	munmap(hva, size + extra);
	close(sfd);
}

int main(int argc, char *argv[])
{
	const struct vm_shape shape = {
		.mode = VM_MODE_DEFAULT, .type = KVM_X86_SW_PROTECTED_VM,
	};
	double t[16] = { 0 };
	struct kvm_vcpu *vcpu;
	struct plain p;
	struct kvm_vm *vm;
	uint8_t *pair_hva;
	int pfd, sfd;
	bool plain_first;
	uint64_t phase;
	double pair_fill, plain_fill;

	if (argc > 1 && !strcmp(argv[1], "latency")) {
		size = (argc > 2 ? atol(argv[2]) : 1024) << 20;
		run_latency();
		return 0;
	}
	size = (argc > 1 ? atol(argv[1]) : 64) << 20;
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_GMEM_PAIR));
	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code);
	vm_enable_cap(vm, KVM_CAP_EXIT_HYPERCALL, BIT_ULL(KVM_HC_MAP_GPA_RANGE));

	pfd = vm_create_guest_memfd(vm, size, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED);
	sfd = ioctl(pfd, GMEM_PAIR_GET_SHARED_FD, 0);
	pair_hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	TEST_ASSERT(pair_hva != MAP_FAILED, "mmap pair");
	vm_set_user_memory_region2(vm, PAIR_SLOT, KVM_MEM_GUEST_MEMFD, PAIR_GPA,
				   size, pair_hva, pfd, 0);

	p.gmem = vm_create_guest_memfd(vm, 2 * size, 0);
	p.memfd = memfd_create("plain", 0);
	TEST_ASSERT(!ftruncate(p.memfd, 2 * size), "ftruncate");
	p.hva = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE, MAP_SHARED,
		     p.memfd, 0);
	TEST_ASSERT(p.hva != MAP_FAILED, "mmap plain");
	vm_set_user_memory_region2(vm, PLAIN_SLOT, KVM_MEM_GUEST_MEMFD,
				   PLAIN_GPA, 2 * size, p.hva, p.gmem, 0);
	/* the copy's destination is private and populated up front */
	vm_set_memory_attributes(vm, PLAIN_GPA + size, size,
				 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	TEST_ASSERT(!fallocate(p.gmem, FALLOC_FL_KEEP_SIZE, size, size),
		    "fallocate dst");

	virt_map(vm, PAIR_GPA, PAIR_GPA, size / PAGE_SIZE);
	virt_map(vm, PLAIN_GPA, PLAIN_GPA, 2 * size / PAGE_SIZE);
	plain_first = argc > 2 && !strcmp(argv[2], "plain-first");
	vcpu_args_set(vcpu, 2, size, plain_first);

	while ((phase = run_phase(vcpu, &p)))
		t[phase] = now();

#define SPAN(a, b)	(t[b] - t[a])
#define PER_PAGE(x)	((x) * 1e6 / (size / PAGE_SIZE))
	printf("%lu MiB, one boot (us: instructions/1000 under icount, else TCG wall time):\n",
	       size >> 20);
	printf("  hand-off to private: move %.4f s, copy %.4f s, copy/move %.1fx\n",
	       SPAN(PHASE_FILL_PLAIN, PHASE_PRIV_HANDOFF),
	       SPAN(PHASE_SHARED_TOUCH, PHASE_COPY_TO_PRIV),
	       SPAN(PHASE_SHARED_TOUCH, PHASE_COPY_TO_PRIV) /
	       SPAN(PHASE_FILL_PLAIN, PHASE_PRIV_HANDOFF));
	printf("  hand-off to shared:  move %.4f s, copy %.4f s, copy/move %.1fx\n",
	       SPAN(PHASE_PRIV_TOUCH, PHASE_SHARED_HANDOFF),
	       SPAN(PHASE_PLAIN_PRIV_TOUCH, PHASE_COPY_TO_SHARED),
	       SPAN(PHASE_PLAIN_PRIV_TOUCH, PHASE_COPY_TO_SHARED) /
	       SPAN(PHASE_PRIV_TOUCH, PHASE_SHARED_HANDOFF));
	pair_fill = SPAN(PHASE_START, PHASE_FILL_PAIR);
	plain_fill = SPAN(PHASE_FILL_PAIR, PHASE_FILL_PLAIN);
	if (plain_first) {
		double t0 = pair_fill;

		pair_fill = plain_fill;
		plain_fill = t0;
	}
	printf("  shared first touch (%s first): paired %.2f, plain %.2f us/page, ratio %.2f\n",
	       plain_first ? "plain" : "paired", PER_PAGE(pair_fill),
	       PER_PAGE(plain_fill), pair_fill / plain_fill);
	printf("  private first touch: paired (moved) %.2f, plain (fallocated) %.2f us/page\n",
	       PER_PAGE(SPAN(PHASE_PRIV_HANDOFF, PHASE_PRIV_TOUCH)),
	       PER_PAGE(SPAN(PHASE_COPY_TO_PRIV, PHASE_PLAIN_PRIV_TOUCH)));
	printf("  shared first touch after to-shared (pages exist): paired %.2f us/page\n",
	       PER_PAGE(SPAN(PHASE_SHARED_HANDOFF, PHASE_SHARED_TOUCH)));
	bench_line("handoff-to-private", "move", SPAN(PHASE_FILL_PLAIN, PHASE_PRIV_HANDOFF));
	bench_line("handoff-to-private", "copy", SPAN(PHASE_SHARED_TOUCH, PHASE_COPY_TO_PRIV));
	bench_line("handoff-to-shared", "move", SPAN(PHASE_PRIV_TOUCH, PHASE_SHARED_HANDOFF));
	bench_line("handoff-to-shared", "copy",
		   SPAN(PHASE_PLAIN_PRIV_TOUCH, PHASE_COPY_TO_SHARED));
	bench_line("shared-first-touch", "paired", pair_fill);
	bench_line("shared-first-touch", "plain", plain_fill);
	bench_line("private-first-touch", "paired",
		   SPAN(PHASE_PRIV_HANDOFF, PHASE_PRIV_TOUCH));
	bench_line("private-first-touch", "plain",
		   SPAN(PHASE_COPY_TO_PRIV, PHASE_PLAIN_PRIV_TOUCH));
	kvm_vm_free(vm);
	return 0;
}
