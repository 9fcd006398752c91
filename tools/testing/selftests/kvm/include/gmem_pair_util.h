/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the gmem_pair selftests and benchmarks.
 */
#ifndef SELFTEST_KVM_GMEM_PAIR_UTIL_H
#define SELFTEST_KVM_GMEM_PAIR_UTIL_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/gmem_pair.h>

/* glibc before 2.37 does not know it */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#include "kvm_util.h"
#include "test_util.h"

/* GMEM_PAIR_CONVERT; the kernel's answer is copied to @out if given. */
static inline int pair_convert(int pfd, uint64_t off, uint64_t size,
			       uint32_t dir, uint32_t flags,
			       struct gmem_pair_convert *out)
{
	struct gmem_pair_convert args = {
		.offset = off, .size = size, .direction = dir, .flags = flags,
	};
	int r = ioctl(pfd, GMEM_PAIR_CONVERT, &args);

	if (out)
		*out = args;
	return r;
}

/* GMEM_PAIR_QUERY of up to @n extents from @off into @ext. */
static inline int pair_query(int pfd, uint64_t off,
			     struct gmem_pair_extent *ext, uint32_t n,
			     struct gmem_pair_query *q)
{
	memset(q, 0, sizeof(*q));
	q->offset = off;
	q->extents = (uint64_t)(unsigned long)ext;
	q->nr_extents = n;
	return ioctl(pfd, GMEM_PAIR_QUERY, q);
}

static inline struct gmem_pair_stats pair_stats(int pfd)
{
	struct gmem_pair_extent ext;
	struct gmem_pair_query q;

	TEST_ASSERT(!pair_query(pfd, 0, &ext, 1, &q), "GMEM_PAIR_QUERY");
	return q.stats;
}

/* A /proc/meminfo field in kB, -1 if absent. */
static inline long meminfo_kb(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = atol(line + strlen(key));
	if (f)
		fclose(f);
	return v;
}

/* Pass @fd over the unix socket @sock (SCM_RIGHTS). */
static inline int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = "F", .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

/* Receive a descriptor sent by send_fd(); -1 on failure. */
static inline int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))], c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	int fd;

	if (recvmsg(sock, &msg, 0) != 1 || !CMSG_FIRSTHDR(&msg))
		return -1;
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
	return fd;
}

/*
 * Map @size bytes of @fd shared, read/write, at a 2M-aligned address, with
 * MADV_HUGEPAGE.  *@area gets the reservation around it, @size + 2M bytes
 * to munmap() at the end.  Return: the mapping, or NULL with errno set,
 * nothing left mapped and *@area MAP_FAILED.
 */
static inline char *mmap_2m_aligned(int fd, size_t size, char **area)
{
	const size_t huge = 2UL << 20;
	char *m;

	*area = mmap(NULL, size + huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	if (*area == MAP_FAILED)
		return NULL;
	m = (char *)(((unsigned long)*area + huge - 1) & ~(huge - 1));
	if (mmap(m, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, 0) != m || madvise(m, size, MADV_HUGEPAGE)) {
		int err = errno;

		munmap(*area, size + huge);
		*area = MAP_FAILED;
		errno = err;
		return NULL;
	}
	return m;
}

/* Write @val to the file at @path (a sysctl, sysfs, cgroup or tracefs knob). */
static inline bool write_knob(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

/* Read the file at @path into @buf (NUL-terminated); false if it cannot. */
static inline bool read_knob(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n > 0;
}

/* vm.overcommit_* as they were, and the padding mapping to drop. */
struct overcommit {
	char mode[16], ratio[16], kbytes[32];
	void *pad;
	size_t pad_size;
};

#define VM_KNOB(name)	"/proc/sys/vm/overcommit_" name

/*
 * Strict overcommit with no room left, so that a memfd (VM_NORESERVE:
 * charged per block as it fills) cannot take one more page: mode 2 with
 * the commit limit at swap only (ratio 0), below what is committed, made
 * sure of with an accounted mapping that is never touched.  Return: true
 * if set; overcommit_restore() undoes it either way.
 */
static inline bool overcommit_exhaust(struct overcommit *oc)
{
	long committed, swap;

	memset(oc, 0, sizeof(*oc));
	oc->pad = MAP_FAILED;
	if (!read_knob(VM_KNOB("memory"), oc->mode, sizeof(oc->mode)) ||
	    !read_knob(VM_KNOB("ratio"), oc->ratio, sizeof(oc->ratio)) ||
	    !read_knob(VM_KNOB("kbytes"), oc->kbytes, sizeof(oc->kbytes)))
		return false;
	/* strict, with room for the padding; the switch syncs Committed_AS */
	if (!write_knob(VM_KNOB("ratio"), "100") ||
	    !write_knob(VM_KNOB("memory"), "2"))
		return false;
	committed = meminfo_kb("Committed_AS:");
	swap = meminfo_kb("SwapTotal:");
	if (committed < 0 || swap < 0)
		return false;
	oc->pad_size = ((swap > committed ? swap - committed : 0) +
			(64 << 10)) << 10;
	oc->pad = mmap(NULL, oc->pad_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return oc->pad != MAP_FAILED && write_knob(VM_KNOB("ratio"), "0");
}

static inline void overcommit_restore(struct overcommit *oc)
{
	if (strcmp(oc->kbytes, "0\n") && oc->kbytes[0])
		write_knob(VM_KNOB("kbytes"), oc->kbytes);
	else if (oc->ratio[0])
		write_knob(VM_KNOB("ratio"), oc->ratio);
	if (oc->mode[0])
		write_knob(VM_KNOB("memory"), oc->mode);
	if (oc->pad != MAP_FAILED)
		munmap(oc->pad, oc->pad_size);
	oc->pad = MAP_FAILED;
}

/* Enable shmem THP for MADV_HUGEPAGE mappings; @old gets the old setting. */
static inline bool shmem_thp_advise(char *old, size_t len)
{
	const char *path = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
	int fd = open(path, O_RDWR);
	ssize_t n;
	char *b, *e;

	if (fd < 0)
		return false;
	n = read(fd, old, len - 1);
	old[n > 0 ? n : 0] = 0;
	/* "always within_size [advise] never deny force": keep the [word] */
	b = strchr(old, '[');
	e = b ? strchr(b, ']') : NULL;
	if (b && e) {
		memmove(old, b + 1, e - b - 1);
		old[e - b - 1] = 0;
	}
	n = pwrite(fd, "advise", 6, 0);
	close(fd);
	return n == 6;
}

static inline void shmem_thp_restore(const char *old)
{
	int fd = open("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
		      O_WRONLY);

	if (fd >= 0) {
		if (write(fd, old, strlen(old)) < 0)
			perror("restore shmem_enabled");
		close(fd);
	}
}

/*
 * A paired guest_memfd, its memfd and a MAP_SHARED, read/write mapping of
 * that memfd, on a VM.
 */
struct gmem_pair_vm {
	struct kvm_vm *vm;
	bool own_vm;		/* created by gmem_pair_vm_open(), freed by close */
	int pfd;		/* the private file (paired guest_memfd) */
	int sfd;		/* its memfd */
	char *mem;		/* the memfd, mapped */
	char *area;		/* what to munmap(): @mem or the 2M reservation */
	size_t area_size;
};

/*
 * Unmap, close the memfd and the private file, free the VM if
 * gmem_pair_vm_open() created it.  A NULL area and negative fds are
 * skipped: a test may have closed some itself (set the fd to -1 then).
 */
static inline void gmem_pair_vm_close(struct gmem_pair_vm *p)
{
	if (p->area && p->area != MAP_FAILED)
		munmap(p->area, p->area_size);
	if (p->sfd >= 0)
		close(p->sfd);
	if (p->pfd >= 0)
		close(p->pfd);
	if (p->vm && p->own_vm)
		kvm_vm_free(p->vm);
	memset(p, 0, sizeof(*p));
	p->pfd = -1;
	p->sfd = -1;
}

/*
 * On @vm, or on a new barebones KVM_X86_SW_PROTECTED_VM if @vm is NULL:
 * create a paired guest_memfd of @size bytes with @flags (KVM's
 * GUEST_MEMFD_FLAG_PAIRED, and GUEST_MEMFD_FLAG_PAIR_SHARED if asked), get
 * its memfd with GMEM_PAIR_GET_SHARED_FD(@fd_flags) and map @size bytes of
 * it, with mmap_2m_aligned() if @thp.  It asserts nothing: on failure it
 * prints the step that failed, undoes the others (a VM it was given is
 * kept) and returns -1 with errno set.  Return: 0 on success.
 */
static inline int gmem_pair_vm_open(struct gmem_pair_vm *p, struct kvm_vm *vm,
				    size_t size, uint64_t flags, int fd_flags,
				    bool thp)
{
	const char *step;
	int err;

	memset(p, 0, sizeof(*p));
	p->sfd = -1;
	p->own_vm = !vm;
	p->vm = vm ? vm : vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	step = "KVM_CREATE_GUEST_MEMFD";
	p->pfd = __vm_create_guest_memfd(p->vm, size, flags);
	if (p->pfd < 0)
		goto fail;
	step = "GMEM_PAIR_GET_SHARED_FD";
	p->sfd = ioctl(p->pfd, GMEM_PAIR_GET_SHARED_FD, fd_flags);
	if (p->sfd < 0)
		goto fail;
	step = "mmap of the memfd";
	if (thp) {
		p->area_size = size + (2UL << 20);
		p->mem = mmap_2m_aligned(p->sfd, size, &p->area);
		if (!p->mem)
			goto fail;
	} else {
		p->area_size = size;
		p->area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			       p->sfd, 0);
		if (p->area == MAP_FAILED)
			goto fail;
		p->mem = p->area;
	}
	return 0;
fail:
	err = errno;
	ksft_print_msg("gmem_pair_vm_open: %s: %s\n", step, strerror(err));
	gmem_pair_vm_close(p);
	errno = err;
	return -1;
}

/* KVM_SET_MEMORY_ATTRIBUTES, not asserted: 0, or -1 with errno set. */
static inline int try_set_memory_attributes(struct kvm_vm *vm, uint64_t gpa,
					    uint64_t size, uint64_t attributes)
{
	struct kvm_memory_attributes attr = {
		.address = gpa, .size = size, .attributes = attributes,
	};

	return __vm_ioctl(vm, KVM_SET_MEMORY_ATTRIBUTES, &attr);
}

#endif /* SELFTEST_KVM_GMEM_PAIR_UTIL_H */
