// SPDX-License-Identifier: GPL-2.0
/*
 * gmem-inspect: print the state map and counters of a gmem_pair.
 *
 *   gmem-inspect <pid> <fd>   the pair's private fd in process <pid>
 *                             (taken with pidfd_getfd(), needs ptrace rights)
 *   gmem-inspect -f <fd>      a private fd of this process (for scripts)
 *
 * Output: one line per extent "offset size state", then the counters as
 * "name value" lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/gmem_pair.h>

static const char *const state_names[] = {
	[GMEM_PAIR_STATE_SHARED]	= "shared",
	[GMEM_PAIR_STATE_SHARED_HOLE]	= "shared-hole",
	[GMEM_PAIR_STATE_PRIVATE]	= "private",
	[GMEM_PAIR_STATE_PRIVATE_HOLE]	= "private-hole",
};

static int grab_fd(pid_t pid, int fd)
{
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	int ret;

	if (pidfd < 0)
		return -1;
	ret = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	return ret;
}

static int inspect(int fd)
{
	struct gmem_pair_extent ext[256];
	struct gmem_pair_query q;
	uint64_t off = 0;

	do {
		memset(&q, 0, sizeof(q));
		q.offset = off;
		q.extents = (uint64_t)(unsigned long)ext;
		q.nr_extents = 256;
		if (ioctl(fd, GMEM_PAIR_QUERY, &q)) {
			fprintf(stderr, "query of the pair failed: %s\n",
				strerror(errno));
			return 1;
		}
		for (uint32_t i = 0; i < q.nr_extents; i++)
			printf("%#014llx %#014llx %s\n",
			       (unsigned long long)ext[i].offset,
			       (unsigned long long)ext[i].size,
			       ext[i].state < 4 ? state_names[ext[i].state] : "?");
		off = q.next_offset;
	} while (q.nr_extents && off < q.stats.size);

	printf("size %llu\n", (unsigned long long)q.stats.size);
	printf("private_pages %llu\n", (unsigned long long)q.stats.private_pages);
	printf("shared_pages %llu\n", (unsigned long long)q.stats.shared_pages);
	printf("swapped_pages %llu\n", (unsigned long long)q.stats.swapped_pages);
	printf("to_shared_pages %llu\n", (unsigned long long)q.stats.to_shared_pages);
	printf("to_private_pages %llu\n", (unsigned long long)q.stats.to_private_pages);
	printf("conversions %llu\n", (unsigned long long)q.stats.conversions);
	printf("refused_pinned %llu\n", (unsigned long long)q.stats.refused_pinned);
	printf("refused_movable %llu\n", (unsigned long long)q.stats.refused_movable);
	printf("migrated_pages %llu\n", (unsigned long long)q.stats.migrated_pages);
	return 0;
}

int main(int argc, char **argv)
{
	int fd;

	if (argc == 3 && !strcmp(argv[1], "-f")) {
		fd = atoi(argv[2]);
	} else if (argc == 3) {
		fd = grab_fd(atoi(argv[1]), atoi(argv[2]));
		if (fd < 0) {
			fprintf(stderr, "gmem-inspect: pidfd_getfd: %s\n",
				strerror(errno));
			return 1;
		}
	} else {
		fprintf(stderr, "usage: gmem-inspect <pid> <fd> | -f <fd>\n");
		return 2;
	}
	return inspect(fd);
}
