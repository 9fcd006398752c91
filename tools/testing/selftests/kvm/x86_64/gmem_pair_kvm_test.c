// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair_kvm_test: a KVM_X86_SW_PROTECTED_VM guest on a gmem_pair.
 *
 * One memslot is bound to a paired guest_memfd (private) and to the pair's
 * memfd mapped by the VMM (shared).  KVM_SET_MEMORY_ATTRIBUTES converts the
 * pair, a conversion on the pair's fd changes KVM's attributes, and the
 * guest's data survives every conversion.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/gmem_pair.h>
#include <linux/kvm_para.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
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
};

static void guest_check(uint64_t gpa, uint64_t size, uint8_t pattern)
{
	for (uint64_t i = 0; i < size; i += 512)
		__GUEST_ASSERT(((uint8_t *)gpa)[i] == pattern,
			       "gpa %lx: expected %x, got %x", gpa + i, pattern,
			       ((uint8_t *)gpa)[i]);
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

static int try_set_memory_attributes(struct kvm_vm *vm, uint64_t gpa,
				     uint64_t size, uint64_t attributes)
{
	struct kvm_memory_attributes attr = {
		.address = gpa, .size = size, .attributes = attributes,
	};

	return __vm_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, &attr);
}

/* shmem THP for MADV_HUGEPAGE mappings: "advise"; returns false if absent */
static bool shmem_thp(const char *mode)
{
	int fd = open("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
		      O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, mode, strlen(mode)) == (ssize_t)strlen(mode);
	close(fd);
	return ok;
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
	struct kvm_vm *vm;
	uint8_t *hva;
	int pfd, sfd, i;

	vm = __vm_create_with_vcpus(shape, NR_VCPUS, 0, guest_code_multi, vcpus);
	vm_enable_cap(vm, KVM_CAP_EXIT_HYPERCALL, BIT_ULL(KVM_HC_MAP_GPA_RANGE));
	pfd = vm_create_guest_memfd(vm, size, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED);
	sfd = ioctl(pfd, GMEM_PAIR_GET_SHARED_FD, 0);
	hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	TEST_ASSERT(hva != MAP_FAILED, "mmap memfd");
	vm_set_user_memory_region2(vm, DATA_SLOT, KVM_MEM_GUEST_MEMFD, DATA_GPA,
				   size, hva, pfd, 0);
	virt_map(vm, DATA_GPA, DATA_GPA, size / PAGE_SIZE);
	for (i = 0; i < NR_VCPUS; i++) {
		vcpu_args_set(vcpus[i], 1, DATA_GPA + i * CONV_SIZE);
		pthread_create(&threads[i], NULL, vcpu_thread, vcpus[i]);
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
	munmap(hva, size);
	close(sfd);
	close(pfd);
	kvm_vm_free(vm);
}

static bool host_sees(uint8_t *p, size_t size, uint8_t pattern)
{
	for (size_t i = 0; i < size; i += 512)
		if (p[i] != pattern)
			return false;
	return true;
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
	void *area, *anon;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm, *vm2;
	int pfd, sfd, gup, status;
	uint8_t *hva;
	pid_t pid;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_GMEM_PAIR));
	signal(SIGBUS, on_sigbus);
	ksft_print_header();
	ksft_set_plan(10);
	TEST_ASSERT(shmem_thp("advise"), "shmem_enabled");

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code);
	TEST_ASSERT(vm_check_cap(vm, KVM_CAP_GMEM_PAIR), "VM has no KVM_CAP_GMEM_PAIR");
	vm_enable_cap(vm, KVM_CAP_EXIT_HYPERCALL, BIT_ULL(KVM_HC_MAP_GPA_RANGE));
	pfd = vm_create_guest_memfd(vm, DATA_SIZE, GUEST_MEMFD_FLAG_PAIRED |
				    GUEST_MEMFD_FLAG_PAIR_SHARED);
	/* The VMM maps the pair's memfd, 2M aligned, and binds both files. */
	sfd = ioctl(pfd, GMEM_PAIR_GET_SHARED_FD, 0);
	TEST_ASSERT(sfd >= 0, "GMEM_PAIR_GET_SHARED_FD");
	area = mmap(NULL, DATA_SIZE + CONV_SIZE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(area != MAP_FAILED, "reserve");
	hva = (uint8_t *)(((unsigned long)area + CONV_SIZE - 1) & ~(CONV_SIZE - 1));
	TEST_ASSERT(mmap(hva, DATA_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, sfd, 0) == hva, "mmap memfd");
	TEST_ASSERT(!madvise(hva, DATA_SIZE, MADV_HUGEPAGE), "MADV_HUGEPAGE");

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

	TEST_ASSERT_EQ(run_to_sync(vcpu), 0);
	ksft_test_result_pass("guest done\n");

	/* 6. the paired fd cannot be bound to a second VM */
	vm2 = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	TEST_ASSERT(__vm_set_user_memory_region2(vm2, 0, KVM_MEM_GUEST_MEMFD,
						 DATA_GPA, DATA_SIZE, hva, pfd, 0) &&
		    errno == EINVAL, "second VM binding must fail with EINVAL");
	kvm_vm_free(vm2);
	ksft_test_result_pass("paired fd bound to one VM only\n");

	close(sfd);
	kvm_vm_free(vm);
	shmem_thp("never");

	/* 7. several vCPUs converting disjoint ranges at once */
	test_multi_vcpu(shape);
	ksft_test_result_pass("%d vCPUs convert disjoint ranges at once\n",
			      NR_VCPUS);
	ksft_finished();
}
