// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair_kvm_test: a KVM_X86_SW_PROTECTED_VM guest on a gmem_pair.
 *
 * One memslot is bound to a paired guest_memfd (private) and to the pair's
 * memfd mapped by the VMM (shared).  KVM_SET_MEMORY_ATTRIBUTES converts the
 * pair, a conversion on the pair's fd changes KVM's attributes, and the
 * guest's data survives every conversion.  Then: refusals over several
 * memslots and through the fd, several bindings of one pair, the NPT
 * level of a misaligned binding, and KVM's shared path at an offset the
 * pair holds private.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/gmem_pair.h>
#include <linux/kvm_para.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "gmem_pair_util.h"
#include "../../../../mm/gup_test.h"

#define DATA_SLOT	10
#define DATA_GPA	BIT_ULL(32)
#define DATA_SIZE	(4UL << 20)
#define CONV_SIZE	(2UL << 20)	/* the part the tests convert */

enum {
	STEP_SHARED_WRITTEN = 1,
	STEP_PRIVATE_READ,
	STEP_PRIVATE_WRITTEN,
	STEP_HYPERCALL_PRIVATE,
	STEP_SHARED_AGAIN,
	STEP_PINNED_READ,
	STEP_PRIVATE_AGAIN,
};

/* Every byte of [gpa, gpa + size) is @pattern (compared 8 at a time). */
static void guest_check(uint64_t gpa, uint64_t size, uint8_t pattern)
{
	uint64_t want = pattern * 0x0101010101010101ULL;

	for (uint64_t i = 0; i < size; i += 8)
		__GUEST_ASSERT(*(uint64_t *)(gpa + i) == want,
			       "gpa %lx: expected %lx, got %lx", gpa + i, want,
			       *(uint64_t *)(gpa + i));
}

static void guest_code(uint64_t gpa)
{
	memset((void *)gpa, 0xaa, DATA_SIZE);
	GUEST_SYNC(STEP_SHARED_WRITTEN);

	/* the host made CONV_SIZE private: same bytes, private mapping */
	guest_check(gpa, CONV_SIZE, 0xaa);
	GUEST_SYNC(STEP_PRIVATE_READ);

	memset((void *)gpa, 0xbb, CONV_SIZE);
	GUEST_SYNC(STEP_PRIVATE_WRITTEN);

	/* the host made it shared again and read 0xbb; now the guest asks */
	guest_check(gpa, CONV_SIZE, 0xbb);
	kvm_hypercall_map_gpa_range(gpa, CONV_SIZE, KVM_MAP_GPA_RANGE_ENCRYPTED);
	memset((void *)gpa, 0xcc, CONV_SIZE);
	GUEST_SYNC(STEP_HYPERCALL_PRIVATE);

	/* the host converted through the pair's fd: KVM sees it shared */
	guest_check(gpa, CONV_SIZE, 0xcc);
	GUEST_SYNC(STEP_SHARED_AGAIN);

	/* a refused conversion left everything shared and readable */
	guest_check(gpa, CONV_SIZE, 0xdd);
	GUEST_SYNC(STEP_PINNED_READ);

	/* private now: read through the private mapping */
	guest_check(gpa, CONV_SIZE, 0xdd);
	GUEST_SYNC(STEP_PRIVATE_AGAIN);

	/*
	 * The host made it shared and punched the memfd: the folios the
	 * guest read are gone, and a stale mapping of them would still read
	 * 0xdd.  Fresh shared pages read zeros.
	 */
	guest_check(gpa, CONV_SIZE, 0);
	GUEST_DONE();
}

#define NR_VCPUS	4
#define ROUNDS		8

/* Each vCPU converts its own 2M back and forth, checking its data. */
static void guest_code_multi(uint64_t gpa)
{
	for (int r = 0; r < ROUNDS; r++) {
		uint8_t pattern = (uint8_t)(gpa >> 21) * 16 + r;

		memset((void *)gpa, pattern, CONV_SIZE);
		kvm_hypercall_map_gpa_range(gpa, CONV_SIZE,
					    KVM_MAP_GPA_RANGE_ENCRYPTED);
		guest_check(gpa, CONV_SIZE, pattern);
		memset((void *)gpa, pattern + 1, CONV_SIZE);
		kvm_hypercall_map_gpa_range(gpa, CONV_SIZE, 0);
		guest_check(gpa, CONV_SIZE, pattern + 1);
	}
	GUEST_DONE();
}

/* Every byte of [gpa, gpa + size) reads zero (8 bytes at a time). */
static void guest_code_zero(uint64_t gpa, uint64_t size)
{
	for (uint64_t i = 0; i < size; i += 8)
		__GUEST_ASSERT(!*(uint64_t *)(gpa + i), "gpa %lx: %lx",
			       gpa + i, *(uint64_t *)(gpa + i));
	GUEST_DONE();
}

/* Every 8 bytes of [gpa, gpa + size) hold @pattern. */
static void guest_code_read(uint64_t gpa, uint64_t size, uint64_t pattern)
{
	for (uint64_t i = 0; i < size; i += 8)
		__GUEST_ASSERT(*(uint64_t *)(gpa + i) == pattern,
			       "gpa %lx: %lx", gpa + i, *(uint64_t *)(gpa + i));
	GUEST_DONE();
}

#define FLIP_PASSES	400

/* Read [gpa, gpa + size) again and again: every 8 bytes hold @pattern. */
static void guest_code_reread(uint64_t gpa, uint64_t size, uint64_t pattern)
{
	for (int pass = 0; pass < FLIP_PASSES; pass++)
		for (uint64_t i = 0; i < size; i += 8)
			__GUEST_ASSERT(*(uint64_t *)(gpa + i) == pattern,
				       "pass %d, gpa %lx: %lx", pass, gpa + i,
				       *(uint64_t *)(gpa + i));
	GUEST_DONE();
}

static sigjmp_buf jmp;

static void on_sigbus(int sig)
{
	siglongjmp(jmp, 1);
}

static bool host_sigbus(uint8_t *p)
{
	bool bus = false;

	if (sigsetjmp(jmp, 1))
		bus = true;
	else
		(void)READ_ONCE(*p);
	return bus;
}

/* shmem THP for MADV_HUGEPAGE mappings: "advise"; returns false if absent */
static bool shmem_thp(const char *mode)
{
	return write_knob("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
			  mode);
}

/* Run until the next ucall; the guest's hypercalls convert the pair. */
static uint64_t run_to_sync(struct kvm_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct ucall uc;

	for (;;) {
		vcpu_run(vcpu);
		if (run->exit_reason == KVM_EXIT_HYPERCALL) {
			uint64_t gpa = run->hypercall.args[0];
			uint64_t size = run->hypercall.args[1] * PAGE_SIZE;
			bool private = run->hypercall.args[2] &
				       KVM_MAP_GPA_RANGE_ENCRYPTED;

			TEST_ASSERT_EQ(run->hypercall.nr, KVM_HC_MAP_GPA_RANGE);
			vm_set_memory_attributes(vcpu->vm, gpa, size, private ?
						 KVM_MEMORY_ATTRIBUTE_PRIVATE : 0);
			run->hypercall.ret = 0;
			continue;
		}
		TEST_ASSERT(run->exit_reason == KVM_EXIT_IO,
			    "exit reason %s", exit_reason_str(run->exit_reason));
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			return uc.args[1];
		case UCALL_DONE:
			return 0;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
		default:
			TEST_FAIL("unexpected ucall");
		}
	}
}

static void *vcpu_thread(void *arg)
{
	TEST_ASSERT_EQ(run_to_sync(arg), 0);
	return NULL;
}

static bool host_sees(uint8_t *p, size_t size, uint8_t pattern);

/* Several vCPUs convert disjoint ranges at once through hypercalls. */
static void test_multi_vcpu(const struct vm_shape shape)
{
	const size_t size = NR_VCPUS * CONV_SIZE;
	struct kvm_vcpu *vcpus[NR_VCPUS];
	pthread_t threads[NR_VCPUS];
	struct gmem_pair_vm p;
	struct kvm_vm *vm;
	uint8_t *hva;
	int pfd, i;

	vm = __vm_create_with_vcpus(shape, NR_VCPUS, 0, guest_code_multi, vcpus);
	vm_enable_cap(vm, KVM_CAP_EXIT_HYPERCALL, BIT_ULL(KVM_HC_MAP_GPA_RANGE));
	TEST_ASSERT(!gmem_pair_vm_open(&p, vm, size, GUEST_MEMFD_FLAG_PAIRED |
				       GUEST_MEMFD_FLAG_PAIR_SHARED, 0, false),
		    "paired guest_memfd, its memfd mapped");
	pfd = p.pfd;
	hva = (uint8_t *)p.mem;
	vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   size, hva, pfd, 0);
	virt_map(vm, DATA_GPA, DATA_GPA, size / PAGE_SIZE);
	for (i = 0; i < NR_VCPUS; i++) {
		vcpu_args_set(vcpus[i], 1, DATA_GPA + i * CONV_SIZE);
		TEST_ASSERT(!pthread_create(&threads[i], NULL, vcpu_thread,
					    vcpus[i]), "pthread_create");
	}
	for (i = 0; i < NR_VCPUS; i++)
		pthread_join(threads[i], NULL);
	for (i = 0; i < NR_VCPUS; i++) {
		uint64_t gpa = DATA_GPA + i * CONV_SIZE;
		uint8_t last = (uint8_t)(gpa >> 21) * 16 + ROUNDS - 1 + 1;

		TEST_ASSERT(host_sees(hva + i * CONV_SIZE, CONV_SIZE, last),
			    "vCPU %d's data", i);
	}
	TEST_ASSERT_EQ(pair_stats(pfd).private_pages, 0);
	TEST_ASSERT_EQ(pair_stats(pfd).conversions, 2 * NR_VCPUS * ROUNDS);
	gmem_pair_vm_close(&p);
	kvm_vm_free(vm);
}

static uint32_t pair_state_at(int pfd, uint64_t off)
{
	struct gmem_pair_extent ext;
	struct gmem_pair_query q;

	TEST_ASSERT(!pair_query(pfd, off, &ext, 1, &q) && q.nr_extents == 1,
		    "GMEM_PAIR_QUERY");
	return ext.state;
}

/*
 * KVM's attributes of a paired memslot follow the pair, whatever happened
 * while no memslot was bound.  A slot is bound, made private, deleted; the
 * pair converts other offsets through its fd; the slot is re-created over
 * those offsets.  The guest must read them shared (KVM used to keep the
 * stale PRIVATE attributes: the guest's read exited with a memory fault),
 * and KVM_SET_MEMORY_ATTRIBUTES(PRIVATE) must convert them (it returned
 * success and left them shared: KVM's copy said they were private).
 */
static void test_rebind_follows_the_pair(const struct vm_shape shape)
{
	const size_t half = 16 * PAGE_SIZE, size = 2 * half;
	struct gmem_pair_vm p;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint8_t *hva;
	int pfd;

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code_read);
	TEST_ASSERT(!gmem_pair_vm_open(&p, vm, size, GUEST_MEMFD_FLAG_PAIRED, 0,
				       false),
		    "paired guest_memfd, its memfd mapped");
	pfd = p.pfd;
	hva = (uint8_t *)p.mem;

	/* bound at offset 0 and made private in KVM's view */
	vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   half, hva, pfd, 0);
	vm_set_memory_attributes(vm, DATA_GPA, half,
				 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   0, hva, pfd, 0);

	/* no slot bound: the pair converts [16, 32) on its own */
	TEST_ASSERT(!pair_convert(pfd, half, half, GMEM_PAIR_TO_SHARED, 0, NULL),
		    "to-shared through the fd");
	memset(hva + half, 0x5c, half);

	/* the same gfns now bound to [16, 32): shared, as the pair says */
	vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   half, hva + half, pfd, half);
	virt_map(vm, DATA_GPA, DATA_GPA, half / PAGE_SIZE);
	vcpu_args_set(vcpu, 3, DATA_GPA, half, 0x5c5c5c5c5c5c5c5cULL);
	TEST_ASSERT_EQ(run_to_sync(vcpu), 0);

	/* and converting them really converts them */
	vm_set_memory_attributes(vm, DATA_GPA, half,
				 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	TEST_ASSERT_EQ(pair_state_at(pfd, half), GMEM_PAIR_STATE_PRIVATE);
	TEST_ASSERT_EQ(pair_stats(pfd).private_pages, half / PAGE_SIZE);
	vm_set_memory_attributes(vm, DATA_GPA, half, 0);
	TEST_ASSERT(host_sees(hva + half, half, 0x5c), "data kept");

	gmem_pair_vm_close(&p);
	kvm_vm_free(vm);
}

struct flipper {
	struct kvm_vm *vm;
	uint64_t gpa, size;
	int stop;
	unsigned long flips, busy;
	int err;		/* errno of a failure other than EBUSY */
};

/*
 * Flip [gpa, gpa + size) between private and shared until told to stop.
 * EBUSY is retried, as a VMM would: the vCPU's own fault in flight holds a
 * page reference for a moment, and a refusal after the bounded wait for
 * it is documented (ERR_REFERENCED); a slow debug kernel under TCG sees it.
 */
static void *flip_attributes(void *arg)
{
	struct flipper *f = arg;

	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		if (try_set_memory_attributes(f->vm, f->gpa, f->size,
					      f->flips % 2 ? 0 :
					      KVM_MEMORY_ATTRIBUTE_PRIVATE)) {
			if (errno != EBUSY) {
				f->err = errno;
				break;
			}
			f->busy++;
			continue;
		}
		f->flips++;
	}
	return NULL;
}

/*
 * KVM_SET_MEMORY_ATTRIBUTES converts the pair under a running vCPU that
 * reads the range again and again: every read sees the data, and the vCPU
 * never exits (no KVM_EXIT_MEMORY_FAULT, no -EFAULT).  The pair's
 * conversion runs inside KVM's MMU invalidation of the range, so a vCPU
 * fault in flight retries until the attributes are stored; the pair used
 * to finish before KVM stored them, and a fault in between found the gfn
 * neither in the memfd (moved) nor private (attributes not yet updated).
 */
static void test_flips_under_a_running_vcpu(const struct vm_shape shape)
{
	const size_t size = 16 * PAGE_SIZE;
	struct flipper f = { .gpa = DATA_GPA, .size = size };
	struct gmem_pair_vm p;
	struct kvm_vcpu *vcpu;
	pthread_t flipper;
	uint8_t *hva;
	int pfd;

	f.vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code_reread);
	TEST_ASSERT(!gmem_pair_vm_open(&p, f.vm, size, GUEST_MEMFD_FLAG_PAIRED |
				       GUEST_MEMFD_FLAG_PAIR_SHARED, 0, false),
		    "paired guest_memfd, its memfd mapped");
	pfd = p.pfd;
	hva = (uint8_t *)p.mem;
	memset(hva, 0x3e, size);
	vm_set_user_memory_region2(f.vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD,
				   DATA_GPA, size, hva, pfd, 0);
	virt_map(f.vm, DATA_GPA, DATA_GPA, size / PAGE_SIZE);
	vcpu_args_set(vcpu, 3, DATA_GPA, size, 0x3e3e3e3e3e3e3e3eULL);

	TEST_ASSERT(!pthread_create(&flipper, NULL, flip_attributes, &f),
		    "pthread_create");
	TEST_ASSERT_EQ(run_to_sync(vcpu), 0);
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELEASE);
	pthread_join(flipper, NULL);
	ksft_print_msg("%lu conversions under the running vCPU, %lu refused (EBUSY)\n",
		       f.flips, f.busy);
	TEST_ASSERT(!f.err, "KVM_SET_MEMORY_ATTRIBUTES: %s", strerror(f.err));
	TEST_ASSERT(f.flips >= 2, "only %lu conversions", f.flips);

	for (int tries = 0; try_set_memory_attributes(f.vm, DATA_GPA, size, 0);
	     tries++) {
		TEST_ASSERT(errno == EBUSY, "to shared: %s", strerror(errno));
		TEST_ASSERT(tries < 1000, "to shared: EBUSY %d times", tries);
		usleep(1000);
	}
	TEST_ASSERT(host_sees(hva, size, 0x3e), "data kept");
	gmem_pair_vm_close(&p);
	kvm_vm_free(f.vm);
}

/*
 * A shmem THP that was fallocated but never written is not uptodate (its
 * bytes are whatever the page held before).  Moved whole to the private
 * side and bound at a guest_memfd_offset that is 4K but not 2M aligned,
 * the first private access must give zeros and must not WARN (it WARNed in
 * kvm_gmem_prepare_folio(): a panic_on_warn host died).
 */
static void test_unaligned_binding_of_fallocated_thp(const struct vm_shape shape)
{
	const size_t size = 2 * CONV_SIZE, off = PAGE_SIZE;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	long shmem_huge0;
	uint8_t *hva;
	void *area;
	int pfd, sfd;

	TEST_ASSERT(shmem_thp("always"), "shmem_enabled");
	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code_zero);
	pfd = vm_create_guest_memfd(vm, size, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED);
	sfd = ioctl(pfd, GMEM_PAIR_GET_SHARED_FD, 0);
	TEST_ASSERT(sfd >= 0, "GMEM_PAIR_GET_SHARED_FD");
	area = mmap(NULL, size + CONV_SIZE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(area != MAP_FAILED, "reserve");
	hva = (uint8_t *)(((unsigned long)area + CONV_SIZE - 1) & ~(CONV_SIZE - 1));
	TEST_ASSERT(mmap(hva, size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, sfd, 0) == hva, "mmap memfd");

	/* a THP at [2M, 4M) that nobody wrote, moved to private whole */
	shmem_huge0 = meminfo_kb("ShmemHugePages:");
	TEST_ASSERT(!fallocate(sfd, 0, CONV_SIZE, CONV_SIZE), "fallocate");
	TEST_ASSERT_EQ(meminfo_kb("ShmemHugePages:") - shmem_huge0, 2048);
	TEST_ASSERT(!pair_convert(pfd, CONV_SIZE, CONV_SIZE,
				  GMEM_PAIR_TO_PRIVATE, 0, NULL), "to-private");
	TEST_ASSERT_EQ(pair_stats(pfd).private_pages, CONV_SIZE / PAGE_SIZE);

	/* bound from offset 4K: the THP starts at a gfn that is not 2M aligned */
	vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   size - off, hva + off, pfd, off);
	virt_map(vm, DATA_GPA, DATA_GPA, (size - off) / PAGE_SIZE);
	vm_set_memory_attributes(vm, DATA_GPA + CONV_SIZE - off, CONV_SIZE,
				 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	vcpu_args_set(vcpu, 2, DATA_GPA + CONV_SIZE - off, CONV_SIZE);
	TEST_ASSERT_EQ(run_to_sync(vcpu), 0);

	/* and the host gets the zeros back */
	vm_set_memory_attributes(vm, DATA_GPA + CONV_SIZE - off, CONV_SIZE, 0);
	for (size_t i = 0; i < CONV_SIZE; i += 8)
		TEST_ASSERT(!*(uint64_t *)(hva + CONV_SIZE + i),
			    "offset %zx not zero", CONV_SIZE + i);
	munmap(area, size + CONV_SIZE);
	close(sfd);
	close(pfd);
	kvm_vm_free(vm);
	shmem_thp("never");
}

static bool host_sees(uint8_t *p, size_t size, uint8_t pattern)
{
	uint64_t want = pattern * 0x0101010101010101ULL;

	for (size_t i = 0; i < size; i += 8)
		if (*(uint64_t *)(p + i) != want)
			return false;
	return true;
}

/* What guest_code_checks() checks next (sync_global_to_guest()). */
static uint64_t chk_gpa, chk_size, chk_first, chk_step;

/*
 * Check [chk_gpa, chk_gpa + chk_size), where every 8 bytes of page i hold
 * chk_first + i * chk_step, then GUEST_SYNC(1); again on every run.
 */
static void guest_code_checks(void)
{
	for (;;) {
		for (uint64_t i = 0; i < chk_size; i += 8) {
			uint64_t want = chk_first + i / PAGE_SIZE * chk_step;

			__GUEST_ASSERT(*(uint64_t *)(chk_gpa + i) == want,
				       "gpa %lx: %lx, expected %lx", chk_gpa + i,
				       *(uint64_t *)(chk_gpa + i), want);
		}
		GUEST_SYNC(1);
	}
}

/* What guest_code_checks() checks on its next round. */
static void guest_check_set(struct kvm_vm *vm, uint64_t gpa, uint64_t size,
			    uint64_t first, uint64_t step)
{
	chk_gpa = gpa;
	chk_size = size;
	chk_first = first;
	chk_step = step;
	sync_global_to_guest(vm, chk_gpa);
	sync_global_to_guest(vm, chk_size);
	sync_global_to_guest(vm, chk_first);
	sync_global_to_guest(vm, chk_step);
}

/* The guest reads @size bytes at @gpa: page i holds @first + i * @step. */
static void guest_reads(struct kvm_vcpu *vcpu, uint64_t gpa, uint64_t size,
			uint64_t first, uint64_t step)
{
	guest_check_set(vcpu->vm, gpa, size, first, step);
	TEST_ASSERT_EQ(run_to_sync(vcpu), 1);
}

/* ... every byte of which is @pattern */
static void guest_reads_bytes(struct kvm_vcpu *vcpu, uint64_t gpa,
			      uint64_t size, uint8_t pattern)
{
	guest_reads(vcpu, gpa, size, pattern * 0x0101010101010101ULL, 0);
}

/* Every offset of [@off, @off + @size) of the pair is in @state. */
static bool pair_range_in(int pfd, uint64_t off, uint64_t size,
			  uint32_t state)
{
	struct gmem_pair_extent ext;
	struct gmem_pair_query q;

	return !pair_query(pfd, off, &ext, 1, &q) && q.nr_extents == 1 &&
	       ext.offset == off && ext.size >= size && ext.state == state;
}

static int gup_pin(uint8_t *p)
{
	struct pin_longterm_test pin = {
		.addr = (uint64_t)(unsigned long)p,
		.size = PAGE_SIZE,
		.flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE,
	};
	int gup = open("/sys/kernel/debug/gup_test", O_RDWR);

	TEST_ASSERT(gup >= 0, "gup_test");
	TEST_ASSERT(!ioctl(gup, PIN_LONGTERM_TEST_START, &pin), "pin");
	return gup;
}

static void gup_unpin(int gup)
{
	TEST_ASSERT(!ioctl(gup, PIN_LONGTERM_TEST_STOP), "unpin");
	close(gup);
}

#define SLOT_A		11
#define SLOT_B		12
#define SLOT_PAGES	16
#define SLOT_SIZE	(SLOT_PAGES * PAGE_SIZE)

/*
 * Two paired memslots, A at DATA_GPA and B right after it: @one_pair binds
 * both to one pair, B to its lower offsets and A to its upper ones; else
 * each to a pair of its own.  A holds 0xa1, B 0xb2, all shared.
 */
struct two_slots {
	struct gmem_pair_vm p1, p2;
	int a_pfd, b_pfd;
	uint64_t a_off, b_off;
	uint8_t *a, *b;
};

static void two_slots_open(struct two_slots *t, struct kvm_vm *vm,
			   bool one_pair)
{
	const uint64_t flags = GUEST_MEMFD_FLAG_PAIRED |
			       GUEST_MEMFD_FLAG_PAIR_SHARED;

	memset(t, 0, sizeof(*t));
	t->p2.pfd = -1;
	t->p2.sfd = -1;
	TEST_ASSERT(!gmem_pair_vm_open(&t->p1, vm, (one_pair ? 2 : 1) *
				       SLOT_SIZE, flags, 0, false), "pair");
	if (one_pair) {
		t->a_pfd = t->p1.pfd;
		t->b_pfd = t->p1.pfd;
		t->a_off = SLOT_SIZE;
		t->a = (uint8_t *)t->p1.mem + SLOT_SIZE;
		t->b = (uint8_t *)t->p1.mem;
	} else {
		TEST_ASSERT(!gmem_pair_vm_open(&t->p2, vm, SLOT_SIZE, flags, 0,
					       false), "second pair");
		t->a_pfd = t->p1.pfd;
		t->b_pfd = t->p2.pfd;
		t->a = (uint8_t *)t->p1.mem;
		t->b = (uint8_t *)t->p2.mem;
	}
	memset(t->a, 0xa1, SLOT_SIZE);
	memset(t->b, 0xb2, SLOT_SIZE);
	vm_set_user_memory_region2(vm, SLOT_A, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   SLOT_SIZE, t->a, t->a_pfd, t->a_off);
	vm_set_user_memory_region2(vm, SLOT_B, KVM_MEM_GUEST_MEMFD,
				   DATA_GPA + SLOT_SIZE, SLOT_SIZE, t->b,
				   t->b_pfd, t->b_off);
	virt_map(vm, DATA_GPA, DATA_GPA, 2 * SLOT_PAGES);
}

static void two_slots_close(struct two_slots *t)
{
	gmem_pair_vm_close(&t->p2);
	gmem_pair_vm_close(&t->p1);
}

/* The guest reads both slots: A holds 0xa1, B 0xb2. */
static void guest_reads_two_slots(struct kvm_vcpu *vcpu)
{
	guest_reads_bytes(vcpu, DATA_GPA, SLOT_SIZE, 0xa1);
	guest_reads_bytes(vcpu, DATA_GPA + SLOT_SIZE, SLOT_SIZE, 0xb2);
}

/*
 * KVM_SET_MEMORY_ATTRIBUTES over two paired memslots is all or nothing.
 * A page pinned in the second slot refuses the call (EBUSY) after the pair
 * of the first one has moved it: the first slot is converted back, and
 * both slots are as they were, in the pairs (state, pages, contents) and
 * in KVM's view (the guest reads the shared data).  Without the pin, the
 * same call converts both.
 */
static void test_refusal_in_second_memslot_changes_neither(const struct vm_shape shape,
							   bool one_pair)
{
	struct gmem_pair_stats a0, a1;
	struct two_slots t;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	int gup;

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code_checks);
	two_slots_open(&t, vm, one_pair);
	guest_reads_bytes(vcpu, DATA_GPA, SLOT_SIZE, 0xa1);

	a0 = pair_stats(t.a_pfd);
	gup = gup_pin(t.b + 5 * PAGE_SIZE);
	TEST_ASSERT(try_set_memory_attributes(vm, DATA_GPA, 2 * SLOT_SIZE,
					      KVM_MEMORY_ATTRIBUTE_PRIVATE) &&
		    errno == EBUSY, "pinned page in the second slot: EBUSY, got %s",
		    strerror(errno));
	a1 = pair_stats(t.a_pfd);
	ksft_print_msg("first slot: %llu pages moved to private and %llu back\n",
		       (unsigned long long)(a1.to_private_pages - a0.to_private_pages),
		       (unsigned long long)(a1.to_shared_pages - a0.to_shared_pages));
	TEST_ASSERT_EQ(pair_stats(t.a_pfd).private_pages, 0);
	TEST_ASSERT_EQ(pair_stats(t.b_pfd).private_pages, 0);
	TEST_ASSERT(pair_range_in(t.a_pfd, t.a_off, SLOT_SIZE,
				  GMEM_PAIR_STATE_SHARED), "first slot shared");
	TEST_ASSERT(pair_range_in(t.b_pfd, t.b_off, SLOT_SIZE,
				  GMEM_PAIR_STATE_SHARED), "second slot shared");
	TEST_ASSERT(host_sees(t.a, SLOT_SIZE, 0xa1) &&
		    host_sees(t.b, SLOT_SIZE, 0xb2), "contents unchanged");
	/* KVM's view: shared (private would exit: no private page there) */
	guest_reads_two_slots(vcpu);

	gup_unpin(gup);
	vm_set_memory_attributes(vm, DATA_GPA, 2 * SLOT_SIZE,
				 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	TEST_ASSERT(pair_range_in(t.a_pfd, t.a_off, SLOT_SIZE,
				  GMEM_PAIR_STATE_PRIVATE) &&
		    pair_range_in(t.b_pfd, t.b_off, SLOT_SIZE,
				  GMEM_PAIR_STATE_PRIVATE), "both slots private");
	guest_reads_two_slots(vcpu);
	vm_set_memory_attributes(vm, DATA_GPA, 2 * SLOT_SIZE, 0);
	TEST_ASSERT(host_sees(t.a, SLOT_SIZE, 0xa1) &&
		    host_sees(t.b, SLOT_SIZE, 0xb2), "contents after the round trip");
	two_slots_close(&t);
	kvm_vm_free(vm);
}

/*
 * Tell the harness (scripts/results.sh) that this test provokes a kernel
 * log line containing the text: "gmem_pair-expect-log: <text>".
 */
static __printf(1, 2) void kmsg_expect(const char *fmt, ...)
{
	char line[200];
	va_list ap;
	int fd, n;

	n = snprintf(line, sizeof(line), "gmem_pair-expect-log: ");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	TEST_ASSERT(fd >= 0 && write(fd, line, strlen(line)) == (ssize_t)strlen(line),
		    "/dev/kmsg: %s", strerror(errno));
	close(fd);
}

/*
 * A refusal in the second of two memslots whose undo in the first fails
 * too: KVM's view follows the pair, so the two never disagree.  Strict
 * overcommit with no room left makes the undo (a to-shared of the first
 * slot, which charges the memfd's blocks again) fail with ENOSPC after a
 * pin in the second slot refused the call (EBUSY).  The first slot stays
 * private in its pair and in KVM's view (the guest reads it through the
 * private file; a shared view would hit the memfd's hole), the second
 * stays shared.  With room again, the first slot converts back with its
 * contents.
 */
static void test_failed_undo_leaves_kvm_view_on_the_pair(const struct vm_shape shape)
{
	struct overcommit oc;
	struct two_slots t;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	bool exhausted;
	int gup, r, err;

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code_checks);
	two_slots_open(&t, vm, false);
	guest_reads_two_slots(vcpu);

	gup = gup_pin(t.b + 5 * PAGE_SIZE);
	/* the harness fails a test whose log has an unexpected one */
	kmsg_expect("gmem_pair: gfn %llx-%llx not restored",
		    (unsigned long long)DATA_GPA / PAGE_SIZE,
		    (unsigned long long)(DATA_GPA + SLOT_SIZE) / PAGE_SIZE);
	exhausted = overcommit_exhaust(&oc);
	r = try_set_memory_attributes(vm, DATA_GPA, 2 * SLOT_SIZE,
				      KVM_MEMORY_ATTRIBUTE_PRIVATE);
	err = errno;
	overcommit_restore(&oc);
	TEST_ASSERT(exhausted, "vm.overcommit_* not set");
	TEST_ASSERT(r && err == EBUSY,
		    "pinned page in the second slot: EBUSY, got %s",
		    r ? strerror(err) : "success");
	TEST_ASSERT(pair_range_in(t.a_pfd, t.a_off, SLOT_SIZE,
				  GMEM_PAIR_STATE_PRIVATE),
		    "first slot: the undo failed, still private");
	TEST_ASSERT(pair_range_in(t.b_pfd, t.b_off, SLOT_SIZE,
				  GMEM_PAIR_STATE_SHARED), "second slot shared");
	TEST_ASSERT(host_sigbus(t.a) && !host_sigbus(t.b), "host view");
	/* KVM's view: A private, B shared */
	guest_reads_two_slots(vcpu);

	gup_unpin(gup);
	vm_set_memory_attributes(vm, DATA_GPA, SLOT_SIZE, 0);
	TEST_ASSERT(pair_range_in(t.a_pfd, t.a_off, SLOT_SIZE,
				  GMEM_PAIR_STATE_SHARED), "first slot shared");
	guest_reads_two_slots(vcpu);
	TEST_ASSERT(host_sees(t.a, SLOT_SIZE, 0xa1) &&
		    host_sees(t.b, SLOT_SIZE, 0xb2), "contents");
	two_slots_close(&t);
	kvm_vm_free(vm);
}

/*
 * One paired guest_memfd bound by two memslots, each at offsets other than
 * its gfns (the second slot binds the lower half of the file): converting
 * one binding through KVM_SET_MEMORY_ATTRIBUTES converts its offsets only;
 * a conversion through the fd over the whole file changes KVM's view of
 * both bindings (the guest reads each through the private file, then
 * through the memfd again).
 */
static void test_two_bindings_of_one_pair(const struct vm_shape shape)
{
	struct two_slots t;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code_checks);
	two_slots_open(&t, vm, true);
	guest_reads_two_slots(vcpu);

	/* the second binding only: the file's lower half */
	vm_set_memory_attributes(vm, DATA_GPA + SLOT_SIZE, SLOT_SIZE,
				 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	TEST_ASSERT(pair_range_in(t.p1.pfd, 0, SLOT_SIZE,
				  GMEM_PAIR_STATE_PRIVATE) &&
		    pair_range_in(t.p1.pfd, SLOT_SIZE, SLOT_SIZE,
				  GMEM_PAIR_STATE_SHARED), "lower half private");
	TEST_ASSERT(host_sigbus(t.b) && !host_sigbus(t.a), "host view");
	guest_reads_two_slots(vcpu);

	/* the whole file through the fd: both bindings follow */
	TEST_ASSERT(!pair_convert(t.p1.pfd, 0, 2 * SLOT_SIZE,
				  GMEM_PAIR_TO_PRIVATE, 0, NULL), "fd to-private");
	TEST_ASSERT_EQ(pair_stats(t.p1.pfd).private_pages, 2 * SLOT_PAGES);
	guest_reads_two_slots(vcpu);
	TEST_ASSERT(!pair_convert(t.p1.pfd, 0, 2 * SLOT_SIZE,
				  GMEM_PAIR_TO_SHARED, 0, NULL), "fd to-shared");
	guest_reads_two_slots(vcpu);
	TEST_ASSERT(host_sees(t.a, SLOT_SIZE, 0xa1) &&
		    host_sees(t.b, SLOT_SIZE, 0xb2), "contents");
	two_slots_close(&t);
	kvm_vm_free(vm);
}

/*
 * A conversion through the fd that the pair refuses leaves KVM's view as
 * it was.  To-private with a pinned page: EBUSY, ERR_PINNED at that page,
 * and the guest still reads the range through the memfd (had KVM's
 * attributes become private, its read would exit with
 * KVM_EXIT_MEMORY_FAULT: the private file has no page there; had the MMU
 * invalidation not ended, it would retry for ever).
 */
static void test_fd_refusal_leaves_kvm_view(const struct vm_shape shape)
{
	struct gmem_pair_convert out;
	struct gmem_pair_vm p;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	int gup;

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code_checks);
	TEST_ASSERT(!gmem_pair_vm_open(&p, vm, SLOT_SIZE, GUEST_MEMFD_FLAG_PAIRED |
				       GUEST_MEMFD_FLAG_PAIR_SHARED, 0, false),
		    "pair");
	memset(p.mem, 0xe5, SLOT_SIZE);
	vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   SLOT_SIZE, p.mem, p.pfd, 0);
	virt_map(vm, DATA_GPA, DATA_GPA, SLOT_PAGES);
	guest_reads_bytes(vcpu, DATA_GPA, SLOT_SIZE, 0xe5);

	gup = gup_pin((uint8_t *)p.mem + 9 * PAGE_SIZE);
	TEST_ASSERT(pair_convert(p.pfd, 0, SLOT_SIZE, GMEM_PAIR_TO_PRIVATE, 0,
				 &out) && errno == EBUSY,
		    "pinned: EBUSY, got %s", strerror(errno));
	TEST_ASSERT_EQ(out.error_offset, 9 * PAGE_SIZE);
	TEST_ASSERT_EQ(out.error_reason, GMEM_PAIR_ERR_PINNED);
	TEST_ASSERT(pair_range_in(p.pfd, 0, SLOT_SIZE, GMEM_PAIR_STATE_SHARED),
		    "still shared");
	guest_reads_bytes(vcpu, DATA_GPA, SLOT_SIZE, 0xe5);

	gup_unpin(gup);
	TEST_ASSERT(!pair_convert(p.pfd, 0, SLOT_SIZE, GMEM_PAIR_TO_PRIVATE, 0,
				  NULL), "to-private once unpinned");
	TEST_ASSERT(host_sigbus((uint8_t *)p.mem), "private");
	guest_reads_bytes(vcpu, DATA_GPA, SLOT_SIZE, 0xe5);
	gmem_pair_vm_close(&p);
	kvm_vm_free(vm);
}

/*
 * A pair of @size bytes whose [@thp_off, @thp_off + 2M) is one shmem THP,
 * written through the memfd (page i of it holds 0x1000 + i in every 8
 * bytes) and moved whole to private.  Its memfd is mapped so that file
 * offset @map_off sits at a 2M-aligned address: *@hva.
 */
static void private_thp_pair(struct gmem_pair_vm *p, struct kvm_vm *vm,
			     size_t size, size_t thp_off, size_t map_off,
			     uint8_t **hva)
{
	struct gmem_pair_extent_details ext;
	struct gmem_pair_query q = { 0 };
	uint64_t *buf = malloc(CONV_SIZE);
	long shmem_huge0;
	void *m;

	TEST_ASSERT(buf, "malloc");
	for (size_t i = 0; i < CONV_SIZE / 8; i++)
		buf[i] = 0x1000 + i * 8 / PAGE_SIZE;
	memset(p, 0, sizeof(*p));
	p->vm = vm;
	p->pfd = vm_create_guest_memfd(vm, size, GUEST_MEMFD_FLAG_PAIRED |
				       GUEST_MEMFD_FLAG_PAIR_SHARED);
	p->sfd = ioctl(p->pfd, GMEM_PAIR_GET_SHARED_FD, 0);
	TEST_ASSERT(p->sfd >= 0, "GMEM_PAIR_GET_SHARED_FD");
	shmem_huge0 = meminfo_kb("ShmemHugePages:");
	TEST_ASSERT(pwrite(p->sfd, buf, CONV_SIZE, thp_off) == CONV_SIZE,
		    "write the THP");
	TEST_ASSERT_EQ(meminfo_kb("ShmemHugePages:") - shmem_huge0, 2048);
	TEST_ASSERT(!pair_convert(p->pfd, thp_off, CONV_SIZE,
				  GMEM_PAIR_TO_PRIVATE, 0, NULL), "to-private");
	q.extents = (uint64_t)(unsigned long)&ext;
	q.nr_extents = 1;
	q.offset = thp_off;
	q.flags = GMEM_PAIR_QUERY_DETAILS;
	TEST_ASSERT(!ioctl(p->pfd, GMEM_PAIR_QUERY, &q) &&
		    ext.state == GMEM_PAIR_STATE_PRIVATE &&
		    ext.orders == 1U << 9, "one 2M private folio");
	free(buf);

	p->area_size = size + 2 * CONV_SIZE;
	p->area = mmap(NULL, p->area_size, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(p->area != MAP_FAILED, "reserve");
	m = (void *)((((unsigned long)p->area + CONV_SIZE - 1) &
		      ~(CONV_SIZE - 1)) + CONV_SIZE - map_off % CONV_SIZE);
	TEST_ASSERT(mmap(m, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 p->sfd, 0) == m, "mmap the memfd");
	p->mem = m;
	*hva = (uint8_t *)m + map_off;
}

/*
 * KVM maps a private 2M folio of a pair with a 2M NPT entry only where
 * gfn and file offset are aligned alike; elsewhere it falls back to 4K.
 * A 2M private folio bound at a gfn 4K off its offset's alignment (the
 * memfd mapped in step with the gfns, so that only the offset is off):
 * the guest reads the right bytes, pages_4k grows by 512 and pages_2m
 * not at all.  Against it, the same folio in a pair bound aligned: the
 * read adds a 2M mapping.
 */
static void test_misaligned_binding_maps_4k(const struct vm_shape shape)
{
	const uint64_t gpa2 = DATA_GPA + 4 * CONV_SIZE;
	uint64_t pages_4k, pages_2m;
	struct gmem_pair_vm p, p2;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint8_t *hva, *hva2;

	TEST_ASSERT(shmem_thp("always"), "shmem_enabled");
	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code_checks);

	/*
	 * Offsets [4K, 6M) at gfns from DATA_GPA: the THP at offsets
	 * [2M, 4M) lands at gpa [DATA_GPA + 2M - 4K, DATA_GPA + 4M - 4K).
	 * Offset 4M is made private too, so that the 2M gfn range
	 * [DATA_GPA + 2M, DATA_GPA + 4M) is private throughout.
	 */
	private_thp_pair(&p, vm, 3 * CONV_SIZE, CONV_SIZE, PAGE_SIZE, &hva);
	TEST_ASSERT(!pair_convert(p.pfd, 2 * CONV_SIZE, PAGE_SIZE,
				  GMEM_PAIR_TO_PRIVATE, 0, NULL), "offset 4M");
	vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   3 * CONV_SIZE - PAGE_SIZE, hva, p.pfd,
				   PAGE_SIZE);
	virt_map(vm, DATA_GPA, DATA_GPA, (3 * CONV_SIZE - PAGE_SIZE) / PAGE_SIZE);

	/* the control: offset 0 at a 2M-aligned gpa */
	private_thp_pair(&p2, vm, CONV_SIZE, 0, 0, &hva2);
	vm_set_user_memory_region2(vm, DATA_SLOT + 1, KVM_MEM_GUEST_MEMFD, gpa2,
				   CONV_SIZE, hva2, p2.pfd, 0);
	virt_map(vm, gpa2, gpa2, CONV_SIZE / PAGE_SIZE);

	/* map the guest's own code, stack and page tables first */
	guest_reads(vcpu, DATA_GPA, 0, 0, 0);
	pages_4k = vm_get_stat(vm, "pages_4k");
	pages_2m = vm_get_stat(vm, "pages_2m");
	guest_reads(vcpu, DATA_GPA + CONV_SIZE - PAGE_SIZE, CONV_SIZE, 0x1000, 1);
	ksft_print_msg("misaligned: pages_4k +%lu, pages_2m +%lu\n",
		       vm_get_stat(vm, "pages_4k") - pages_4k,
		       vm_get_stat(vm, "pages_2m") - pages_2m);
	TEST_ASSERT(vm_get_stat(vm, "pages_4k") >= pages_4k + 512,
		    "pages_4k %lu, was %lu", vm_get_stat(vm, "pages_4k"),
		    pages_4k);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_2m"), pages_2m);

	pages_2m = vm_get_stat(vm, "pages_2m");
	guest_reads(vcpu, gpa2, CONV_SIZE, 0x1000, 1);
	TEST_ASSERT(vm_get_stat(vm, "pages_2m") > pages_2m,
		    "aligned: pages_2m %lu, was %lu", vm_get_stat(vm, "pages_2m"),
		    pages_2m);

	gmem_pair_vm_close(&p2);
	gmem_pair_vm_close(&p);
	kvm_vm_free(vm);
	shmem_thp("never");
}

/*
 * KVM's shared path never gets a page from the memfd at an offset the
 * pair holds private.  Once the private file is closed its offsets stay
 * private for good, while the memslot has no file left for
 * KVM_SET_MEMORY_ATTRIBUTES to convert: KVM's view turns shared, the
 * pair's does not.  A guest read there then makes KVM_RUN fail with
 * EFAULT (KVM's GUP of the memfd faults SIGBUS) and allocates nothing in
 * the memfd.
 */
static void test_shared_access_at_private_offset_gets_no_page(const struct vm_shape shape)
{
	struct gmem_pair_vm p;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct stat st;
	int r;
	char c;

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code_checks);
	TEST_ASSERT(!gmem_pair_vm_open(&p, vm, SLOT_SIZE, GUEST_MEMFD_FLAG_PAIRED,
				       0, false), "pair");
	vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   SLOT_SIZE, p.mem, p.pfd, 0);
	virt_map(vm, DATA_GPA, DATA_GPA, SLOT_PAGES);
	guest_reads_bytes(vcpu, DATA_GPA, SLOT_SIZE, 0);

	close(p.pfd);
	p.pfd = -1;
	vm_set_memory_attributes(vm, DATA_GPA, SLOT_SIZE, 0);
	chk_size = 8;
	sync_global_to_guest(vm, chk_size);
	r = __vcpu_run(vcpu);
	TEST_ASSERT(r == -1 && errno == EFAULT,
		    "shared access at a private offset: KVM_RUN %d (%s), exit %s",
		    r, strerror(errno), exit_reason_str(vcpu->run->exit_reason));
	TEST_ASSERT(!fstat(p.sfd, &st) && !st.st_blocks,
		    "the memfd allocated %ld blocks", (long)st.st_blocks);
	TEST_ASSERT(pread(p.sfd, &c, 1, 0) == -1 && errno == EACCES,
		    "memfd read at a private offset");
	gmem_pair_vm_close(&p);
	kvm_vm_free(vm);
}

static void on_alarm(int sig)
{
}

/*
 * KVM_RUN until the guest's next GUEST_SYNC, for at most @secs seconds (an
 * interval timer's SIGALRM makes KVM_RUN return EINTR).  Return: the
 * sync's value, or -1 if KVM_RUN was still running.
 */
static int64_t run_to_sync_within(struct kvm_vcpu *vcpu, int secs)
{
	struct itimerval t = { .it_value = { .tv_sec = secs } }, off = { 0 };
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct ucall uc;
	int r;

	TEST_ASSERT(!sigaction(SIGALRM, &sa, &old), "sigaction");
	for (;;) {
		setitimer(ITIMER_REAL, &t, NULL);
		r = __vcpu_run(vcpu);
		setitimer(ITIMER_REAL, &off, NULL);
		if (r && errno == EINTR) {
			sigaction(SIGALRM, &old, NULL);
			return -1;
		}
		TEST_ASSERT(!r, "KVM_RUN: %s, exit %s", strerror(errno),
			    exit_reason_str(vcpu->run->exit_reason));
		if (vcpu->run->exit_reason == KVM_EXIT_MMIO)
			continue;	/* reads of MMIO return zeros */
		TEST_ASSERT_EQ(vcpu->run->exit_reason, KVM_EXIT_IO);
		break;
	}
	sigaction(SIGALRM, &old, NULL);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		return uc.args[1];
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("unexpected ucall");
	}
	return -1;
}

/*
 * A gfn the guest read while no memslot covered it has an MMIO SPTE; a
 * paired memslot created over it makes that SPTE stale, and the gfn then
 * made private must be faulted in from the private file on the next read.
 * The guest's reserved-bit fault on the stale SPTE never carried the
 * private flag, so it disagreed with the attributes, and the retry of
 * such disagreements on paired slots retried it for ever: KVM_RUN never
 * returned (found by gmem_pair_stress_test).
 */
static void test_stale_mmio_spte_of_private_gfn(const struct vm_shape shape)
{
	const size_t size = 16 * PAGE_SIZE;
	struct gmem_pair_vm p;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code_checks);
	TEST_ASSERT(!gmem_pair_vm_open(&p, vm, size, GUEST_MEMFD_FLAG_PAIRED |
				       GUEST_MEMFD_FLAG_PAIR_SHARED, 0, false),
		    "pair");
	for (size_t i = 0; i < size / 8; i++)
		((uint64_t *)p.mem)[i] = 0x2000 + i * 8 / PAGE_SIZE;
	virt_map(vm, DATA_GPA, DATA_GPA, size / PAGE_SIZE);

	/* no memslot yet: the read is MMIO and reads zeros */
	guest_check_set(vm, DATA_GPA, 8, 0, 0);
	TEST_ASSERT_EQ(run_to_sync_within(vcpu, 10), 1);

	vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   size, p.mem, p.pfd, 0);
	vm_set_memory_attributes(vm, DATA_GPA, PAGE_SIZE,
				 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	guest_check_set(vm, DATA_GPA, PAGE_SIZE, 0x2000, 0);
	TEST_ASSERT(run_to_sync_within(vcpu, 10) == 1,
		    "the read of the private gfn did not complete in 10 s");
	gmem_pair_vm_close(&p);
	kvm_vm_free(vm);
}

#define POISONED_PAGE	5

/*
 * The THP at offset 0 of @p (private_thp_pair()) gets a poisoned page
 * that memory_failure() cannot split off: moved back to shared, a page of
 * it long-term pinned, MADV_HWPOISON on page POISONED_PAGE (the process
 * gets SIGBUS), unpinned, moved whole to private again.  False if
 * MADV_HWPOISON is not there (no CONFIG_MEMORY_FAILURE).
 */
static bool poison_private_thp(struct gmem_pair_vm *p, uint8_t *hva)
{
	struct gmem_pair_extent_details ext;
	struct gmem_pair_query q = { 0 };
	int gup, r = 0, e = 0;
	bool bus = false;

	TEST_ASSERT(!pair_convert(p->pfd, 0, CONV_SIZE, GMEM_PAIR_TO_SHARED, 0,
				  NULL), "to-shared");
	gup = gup_pin(hva);
	if (sigsetjmp(jmp, 1)) {
		bus = true;
	} else {
		r = madvise(hva + POISONED_PAGE * PAGE_SIZE, PAGE_SIZE,
			    MADV_HWPOISON);
		e = errno;
	}
	gup_unpin(gup);
	if (!bus && r && e == EINVAL)
		return false;
	ksft_print_msg("MADV_HWPOISON of a pinned THP's page: %s\n",
		       bus ? "SIGBUS" : r ? strerror(e) : "returned 0");

	q.extents = (uint64_t)(unsigned long)&ext;
	q.nr_extents = 1;
	q.flags = GMEM_PAIR_QUERY_DETAILS;
	TEST_ASSERT(!ioctl(p->pfd, GMEM_PAIR_QUERY, &q) &&
		    ext.orders == 1U << 9 && ext.size == CONV_SIZE,
		    "still one 2M folio (orders %#x, size %#llx)", ext.orders,
		    (unsigned long long)ext.size);
	TEST_ASSERT(!pair_convert(p->pfd, 0, CONV_SIZE, GMEM_PAIR_TO_PRIVATE, 0,
				  NULL), "to-private: %s", strerror(errno));
	return true;
}

/*
 * A private 2M folio with a poisoned page that memory_failure() could not
 * split off is never mapped with a 2M NPT entry, and its poisoned page is
 * never mapped: a guest read of a healthy page of it maps 4K and reads the
 * right bytes; a read of the poisoned page makes KVM_RUN fail with
 * EHWPOISON, a memory fault exit at that gpa.  (guest_memfd checked only
 * the folio's head page and mapped the whole folio 2M.)  Needs
 * CONFIG_MEMORY_FAILURE: gmem_pair_kvm_test -H runs only this.
 */
static void test_poisoned_page_of_private_thp(const struct vm_shape shape)
{
	const uint64_t bad_gpa = DATA_GPA + POISONED_PAGE * PAGE_SIZE;
	uint64_t pages_4k, pages_2m;
	struct gmem_pair_vm p;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint8_t *hva;
	int r;

	TEST_ASSERT(shmem_thp("always"), "shmem_enabled");
	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code_checks);
	private_thp_pair(&p, vm, 2 * CONV_SIZE, 0, 0, &hva);
	TEST_ASSERT(poison_private_thp(&p, hva),
		    "MADV_HWPOISON: EINVAL (no CONFIG_MEMORY_FAILURE?)");
	vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   2 * CONV_SIZE, hva, p.pfd, 0);
	virt_map(vm, DATA_GPA, DATA_GPA, 2 * CONV_SIZE / PAGE_SIZE);
	vm_set_memory_attributes(vm, DATA_GPA, CONV_SIZE,
				 KVM_MEMORY_ATTRIBUTE_PRIVATE);

	/* map the guest's own code, stack and page tables first */
	guest_reads(vcpu, DATA_GPA, 0, 0, 0);
	pages_4k = vm_get_stat(vm, "pages_4k");
	pages_2m = vm_get_stat(vm, "pages_2m");
	guest_reads(vcpu, DATA_GPA, PAGE_SIZE, 0x1000, 1);
	ksft_print_msg("healthy page of the poisoned folio: pages_4k +%lu, pages_2m +%lu\n",
		       vm_get_stat(vm, "pages_4k") - pages_4k,
		       vm_get_stat(vm, "pages_2m") - pages_2m);
	TEST_ASSERT_EQ(vm_get_stat(vm, "pages_2m"), pages_2m);
	TEST_ASSERT(vm_get_stat(vm, "pages_4k") > pages_4k, "no 4K mapping");

	guest_check_set(vm, bad_gpa, 8, 0x1000 + POISONED_PAGE, 0);
	r = _vcpu_run(vcpu);
	TEST_ASSERT(r == -1 && errno == EHWPOISON,
		    "read of the poisoned page: KVM_RUN %d (%s), exit %s", r,
		    strerror(errno), exit_reason_str(vcpu->run->exit_reason));
	TEST_ASSERT_EQ(vcpu->run->exit_reason, KVM_EXIT_MEMORY_FAULT);
	TEST_ASSERT_EQ(vcpu->run->memory_fault.gpa, bad_gpa);

	/*
	 * Split the folio before it is freed, with the pin gone: a large
	 * folio freed whole would put its poisoned page back in the buddy
	 * allocator.  A partial DISCARD splits it; the poisoned page is
	 * freed alone and kept out.
	 */
	TEST_ASSERT(!pair_convert(p.pfd, POISONED_PAGE * PAGE_SIZE, PAGE_SIZE,
				  GMEM_PAIR_TO_SHARED, GMEM_PAIR_CONVERT_DISCARD,
				  NULL), "discard of the poisoned page: %s",
		    strerror(errno));
	gmem_pair_vm_close(&p);
	kvm_vm_free(vm);
	shmem_thp("never");
}

int main(int argc, char *argv[])
{
	const struct vm_shape shape = {
		.mode = VM_MODE_DEFAULT,
		.type = KVM_X86_SW_PROTECTED_VM,
	};
	struct pin_longterm_test pin = { .size = PAGE_SIZE };
	struct gmem_pair_convert conv = {
		.offset = 0, .size = CONV_SIZE, .direction = GMEM_PAIR_TO_SHARED,
	};
	uint64_t pages_2m_converted;
	struct gmem_pair_vm p;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm, *vm2;
	int pfd, sfd, gup, status;
	uint8_t *hva;
	void *anon;
	pid_t pid;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_GMEM_PAIR));
	signal(SIGBUS, on_sigbus);
	ksft_print_header();
	/* -H: the hwpoison test only (a kernel with CONFIG_MEMORY_FAILURE) */
	if (argc == 2 && !strcmp(argv[1], "-H")) {
		ksft_set_plan(1);
		test_poisoned_page_of_private_thp(shape);
		ksft_test_result_pass("poisoned page of a private THP: 4K, never mapped\n");
		ksft_finished();
	}
	ksft_set_plan(21);
	TEST_ASSERT(shmem_thp("advise"), "shmem_enabled");

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code);
	TEST_ASSERT(vm_check_cap(vm, KVM_CAP_GMEM_PAIR), "VM has no KVM_CAP_GMEM_PAIR");
	vm_enable_cap(vm, KVM_CAP_EXIT_HYPERCALL, BIT_ULL(KVM_HC_MAP_GPA_RANGE));
	/* The VMM maps the pair's memfd, 2M aligned, and binds both files. */
	TEST_ASSERT(!gmem_pair_vm_open(&p, vm, DATA_SIZE, GUEST_MEMFD_FLAG_PAIRED |
				       GUEST_MEMFD_FLAG_PAIR_SHARED, 0, true),
		    "paired guest_memfd, its memfd mapped 2M aligned");
	pfd = p.pfd;
	sfd = p.sfd;
	hva = (uint8_t *)p.mem;

	/* Bad bindings: anonymous memory, or the memfd at other offsets. */
	anon = mmap(NULL, CONV_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(anon != MAP_FAILED, "anonymous memory");
	TEST_ASSERT(__vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD,
						 DATA_GPA, CONV_SIZE, anon, pfd, 0) &&
		    errno == EINVAL, "anonymous shared side: EINVAL");
	TEST_ASSERT(__vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD,
						 DATA_GPA, CONV_SIZE, hva, pfd,
						 CONV_SIZE) &&
		    errno == EINVAL, "mismatched offsets: EINVAL");
	vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   DATA_SIZE, hva, pfd, 0);
	virt_map(vm, DATA_GPA, DATA_GPA, DATA_SIZE / PAGE_SIZE);
	vcpu_args_set(vcpu, 1, DATA_GPA);
	ksft_test_result_pass("binding needs the memfd at the same offsets\n");

	/* 1. guest writes shared memory; KVM_SET_MEMORY_ATTRIBUTES moves it */
	TEST_ASSERT_EQ(run_to_sync(vcpu), STEP_SHARED_WRITTEN);
	TEST_ASSERT(host_sees(hva, DATA_SIZE, 0xaa), "host sees the guest's data");
	vm_set_memory_attributes(vm, DATA_GPA, CONV_SIZE,
				 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	TEST_ASSERT_EQ(pair_stats(pfd).private_pages, CONV_SIZE / PAGE_SIZE);
	TEST_ASSERT(host_sigbus(hva) && host_sigbus(hva + CONV_SIZE - 1),
		    "host access to private memory must SIGBUS");
	TEST_ASSERT(!host_sigbus(hva + CONV_SIZE), "shared stays readable");
	pages_2m_converted = vm_get_stat(vm, "pages_2m");
	TEST_ASSERT_EQ(run_to_sync(vcpu), STEP_PRIVATE_READ);
	ksft_test_result_pass("guest reads its shared data through the private file\n");

	/* the 2M folio moved whole, and KVM maps it 2M */
	TEST_ASSERT(vm_get_stat(vm, "pages_2m") > pages_2m_converted,
		    "pages_2m %lu after the private read, %lu before",
		    vm_get_stat(vm, "pages_2m"), pages_2m_converted);
	ksft_test_result_pass("a whole 2M folio is mapped 2M in the NPT\n");

	/* 2. guest writes private data, back to shared: VMM and a child see it */
	TEST_ASSERT_EQ(run_to_sync(vcpu), STEP_PRIVATE_WRITTEN);
	vm_set_memory_attributes(vm, DATA_GPA, CONV_SIZE, 0);
	TEST_ASSERT(host_sees(hva, CONV_SIZE, 0xbb), "VMM sees private data");
	pid = fork();
	if (!pid)
		_exit(host_sees(hva, CONV_SIZE, 0xbb) ? 0 : 1);
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    !WEXITSTATUS(status), "second process sees the data");
	ksft_test_result_pass("private data survives to-shared\n");

	/* 3. guest-driven: KVM_HC_MAP_GPA_RANGE exits, the VMM converts */
	TEST_ASSERT_EQ(run_to_sync(vcpu), STEP_HYPERCALL_PRIVATE);
	TEST_ASSERT_EQ(pair_stats(pfd).private_pages, CONV_SIZE / PAGE_SIZE);
	TEST_ASSERT(host_sigbus(hva), "private after the hypercall");
	ksft_test_result_pass("hypercall-driven conversion\n");

	/* 4. a conversion on the pair's fd is seen by KVM */
	TEST_ASSERT(!ioctl(pfd, GMEM_PAIR_CONVERT, &conv), "convert on the fd");
	TEST_ASSERT(host_sees(hva, CONV_SIZE, 0xcc), "guest's private writes kept");
	TEST_ASSERT_EQ(run_to_sync(vcpu), STEP_SHARED_AGAIN);
	ksft_test_result_pass("fd conversion updates KVM's attributes\n");

	/* 5. refused conversion: pinned page, nothing changes, then it works */
	memset(hva, 0xdd, CONV_SIZE);
	gup = open("/sys/kernel/debug/gup_test", O_RDWR);
	TEST_ASSERT(gup >= 0, "gup_test");
	pin.addr = (uint64_t)(unsigned long)(hva + 7 * PAGE_SIZE);
	TEST_ASSERT(!ioctl(gup, PIN_LONGTERM_TEST_START, &pin), "pin");
	TEST_ASSERT(try_set_memory_attributes(vm, DATA_GPA, CONV_SIZE,
					      KVM_MEMORY_ATTRIBUTE_PRIVATE) &&
		    errno == EBUSY, "pinned page: EBUSY, got %d", errno);
	TEST_ASSERT_EQ(pair_stats(pfd).private_pages, 0);
	TEST_ASSERT(host_sees(hva, CONV_SIZE, 0xdd), "contents unchanged");
	/* the guest still reads it shared: KVM's attributes did not change */
	TEST_ASSERT_EQ(run_to_sync(vcpu), STEP_PINNED_READ);
	TEST_ASSERT(!ioctl(gup, PIN_LONGTERM_TEST_STOP), "unpin");
	vm_set_memory_attributes(vm, DATA_GPA, CONV_SIZE,
				 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	TEST_ASSERT_EQ(pair_stats(pfd).private_pages, CONV_SIZE / PAGE_SIZE);
	close(gup);
	ksft_test_result_pass("refused conversion leaves memory and attributes\n");

	TEST_ASSERT_EQ(run_to_sync(vcpu), STEP_PRIVATE_AGAIN);
	vm_set_memory_attributes(vm, DATA_GPA, CONV_SIZE, 0);
	TEST_ASSERT(host_sees(hva, CONV_SIZE, 0xdd), "to-shared kept 0xdd");
	TEST_ASSERT(!fallocate(sfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       0, CONV_SIZE), "punch");
	TEST_ASSERT_EQ(run_to_sync(vcpu), 0);
	ksft_test_result_pass("guest done: no stale mapping after to-shared and punch\n");

	/* 6. the paired fd cannot be bound to a second VM */
	vm2 = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	TEST_ASSERT(__vm_set_user_memory_region2(vm2, 0, KVM_MEM_GUEST_MEMFD,
						 DATA_GPA, DATA_SIZE, hva, pfd, 0) &&
		    errno == EINVAL, "second VM binding must fail with EINVAL");
	kvm_vm_free(vm2);
	ksft_test_result_pass("paired fd bound to one VM only\n");

	gmem_pair_vm_close(&p);
	kvm_vm_free(vm);
	shmem_thp("never");

	/* 7. several vCPUs converting disjoint ranges at once */
	test_multi_vcpu(shape);
	ksft_test_result_pass("%d vCPUs convert disjoint ranges at once\n",
			      NR_VCPUS);

	/* 8. a never-written THP moved to private, bound at a 4K offset */
	test_unaligned_binding_of_fallocated_thp(shape);
	ksft_test_result_pass("fallocated THP, private, bound at 4K: zeros\n");

	/* 9. a re-created memslot takes the pair's state */
	test_rebind_follows_the_pair(shape);
	ksft_test_result_pass("KVM's view follows the pair across slot delete and re-create\n");

	/* 10. conversions under a vCPU that keeps reading the range */
	test_flips_under_a_running_vcpu(shape);
	ksft_test_result_pass("conversions under a running vCPU: no exit, data kept\n");

	/* 11. a refusal in the second of two memslots: neither changes */
	test_refusal_in_second_memslot_changes_neither(shape, true);
	ksft_test_result_pass("refusal over two bindings of one pair changes neither\n");
	test_refusal_in_second_memslot_changes_neither(shape, false);
	ksft_test_result_pass("refusal over two pairs' memslots changes neither\n");
	test_failed_undo_leaves_kvm_view_on_the_pair(shape);
	ksft_test_result_pass("a failed undo in the first memslot: KVM's view is the pair's\n");

	/* 12. one pair bound by two memslots */
	test_two_bindings_of_one_pair(shape);
	ksft_test_result_pass("two bindings of one pair follow its conversions\n");

	/* 13. a refusal through the fd */
	test_fd_refusal_leaves_kvm_view(shape);
	ksft_test_result_pass("a refusal through the fd leaves KVM's view\n");

	/* 14. a 2M folio bound misaligned: 4K NPT entries */
	test_misaligned_binding_maps_4k(shape);
	ksft_test_result_pass("2M private folio bound misaligned is mapped 4K\n");

	/* 15. KVM shared, the pair private: no page from the memfd */
	test_shared_access_at_private_offset_gets_no_page(shape);
	ksft_test_result_pass("shared access at a private offset gets no page\n");

	/* 16. a stale MMIO SPTE of a gfn made private */
	test_stale_mmio_spte_of_private_gfn(shape);
	ksft_test_result_pass("stale MMIO SPTE of a private gfn: the read completes\n");
	ksft_finished();
}
