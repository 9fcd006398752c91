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
 * to munmap() at the end.  Return: the mapping, or NULL.
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
		 fd, 0) != m || madvise(m, size, MADV_HUGEPAGE))
		return NULL;
	return m;
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

#endif /* SELFTEST_KVM_GMEM_PAIR_UTIL_H */
