/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the gmem_pair selftests and benchmarks.
 */
#ifndef SELFTEST_KVM_GMEM_PAIR_UTIL_H
#define SELFTEST_KVM_GMEM_PAIR_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/gmem_pair.h>

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

#endif /* SELFTEST_KVM_GMEM_PAIR_UTIL_H */
