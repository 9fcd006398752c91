// SPDX-License-Identifier: GPL-2.0
/*
 * gmem-inspect: print the state map and counters of gmem_pairs.
 *
 *   gmem-inspect [--json] <pid> <fd>   the pair whose private fd is <fd> in
 *                                      process <pid> (pidfd_getfd(): needs
 *                                      ptrace rights over it)
 *   gmem-inspect [--json] -f <fd>      a private fd of this process
 *   gmem-inspect [--json] [-v] --all   every pair on the system, found
 *                                      through /proc/<pid>/fd and maps
 *
 * Documented in Documentation/mm/gmem_pair_tools.rst: output formats, the
 * JSON schema and the exit codes below.  Only GMEM_PAIR_QUERY and /proc are
 * read: no kernel memory, no debugfs.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/gmem_pair.h>

enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_NO_PROCESS = 2,	/* no such process, or no such fd in it */
	EXIT_PERMISSION = 3,	/* no ptrace rights over the process */
	EXIT_NOT_PAIR = 4,	/* the fd is not a pair's private fd */
	EXIT_QUERY = 5,		/* the fd was closed meanwhile, or the query failed */
};

/* What /proc/<pid>/fd/<fd> links to for each file of a pair. */
#define PRIVATE_LINK	"anon_inode:[kvm-gmem]"
#define MEMFD_LINK	"/memfd:gmem_pair (deleted)"
#define JSON_VERSION	1
#define NO_PTRACE	"needs ptrace rights over it: same user and ptrace_scope, or root"

static const char *const state_names[] = {
	[GMEM_PAIR_STATE_SHARED]	= "shared",
	[GMEM_PAIR_STATE_SHARED_HOLE]	= "shared-hole",
	[GMEM_PAIR_STATE_PRIVATE]	= "private",
	[GMEM_PAIR_STATE_PRIVATE_HOLE]	= "private-hole",
};

enum hold { HOLD_PRIVATE, HOLD_MEMFD, HOLD_MAPPING };
static const char *const hold_names[] = { "private", "memfd", "mapping" };

struct holder {
	pid_t pid;
	char comm[32];
	int fd;			/* -1 for a mapping */
	enum hold kind;
	unsigned long ino;	/* of the memfd (HOLD_MEMFD, HOLD_MAPPING) */
};

struct pair {
	bool queried;		/* stats and extents are valid */
	const char *why_not;	/* else: why not */
	struct gmem_pair_stats stats;
	struct gmem_pair_extent_details *ext;
	bool details;		/* the kernel filled the details of ext[] */
	size_t nr_ext;
	unsigned long memfd_ino;	/* 0: unknown */
	uint64_t size;
	struct holder *holders;
	size_t nr_holders;
};

static struct pair *pairs;
static size_t nr_pairs;
static bool json, verbose;

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ?: 1);
	if (!p) {
		perror("gmem-inspect");
		exit(EXIT_QUERY);
	}
	return p;
}

static struct pair *new_pair(void)
{
	pairs = xrealloc(pairs, (nr_pairs + 1) * sizeof(*pairs));
	memset(&pairs[nr_pairs], 0, sizeof(*pairs));
	return &pairs[nr_pairs++];
}

static void add_holder(struct pair *p, const struct holder *h)
{
	p->holders = xrealloc(p->holders, (p->nr_holders + 1) * sizeof(*h));
	p->holders[p->nr_holders++] = *h;
}

static void read_comm(pid_t pid, char *comm, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "r");
	if (!f || !fgets(comm, len, f))
		snprintf(comm, len, "?");
	else
		comm[strcspn(comm, "\n")] = 0;
	if (f)
		fclose(f);
}

/* readlink /proc/<pid>/fd/<fd>; returns 0 or -errno. */
static int fd_link(pid_t pid, int fd, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

/* Another process's fd, with pidfd_getfd(); returns it or -errno. */
static int grab_fd(pid_t pid, int fd)
{
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	int ret;

	if (pidfd < 0)
		return -errno;
	ret = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	if (ret < 0)
		ret = -errno;
	close(pidfd);
	return ret;
}

/*
 * Query the pair of private fd @fd into @p: counters, every extent and the
 * memfd's inode.  Returns 0 or -errno of the query (-ENOTTY: not a pair).
 */
static int query(int fd, struct pair *p)
{
	struct gmem_pair_extent_details ext[256];
	struct gmem_pair_extent plain[256];
	struct gmem_pair_query q;
	uint64_t off = 0;
	struct stat st;
	int sfd;

	p->details = true;
	for (;;) {
		memset(&q, 0, sizeof(q));
		q.offset = off;
		q.nr_extents = 256;
		q.flags = p->details ? GMEM_PAIR_QUERY_DETAILS : 0;
		q.extents = (uint64_t)(uintptr_t)(p->details ? (void *)ext :
						  (void *)plain);
		if (ioctl(fd, GMEM_PAIR_QUERY, &q)) {
			/* a kernel without details: plain extents */
			if (errno == EINVAL && p->details && !off) {
				p->details = false;
				continue;
			}
			return -errno;
		}
		if (!p->details) {
			memset(ext, 0, sizeof(ext));
			for (uint32_t i = 0; i < q.nr_extents; i++) {
				ext[i].offset = plain[i].offset;
				ext[i].size = plain[i].size;
				ext[i].state = plain[i].state;
			}
		}
		p->ext = xrealloc(p->ext, (p->nr_ext + q.nr_extents) * sizeof(*ext));
		memcpy(p->ext + p->nr_ext, ext, q.nr_extents * sizeof(*ext));
		p->nr_ext += q.nr_extents;
		off = q.next_offset;
		if (!q.nr_extents || off >= q.stats.size)
			break;
	}
	p->stats = q.stats;
	p->size = q.stats.size;
	p->queried = true;
	sfd = ioctl(fd, GMEM_PAIR_GET_SHARED_FD, O_CLOEXEC);
	if (sfd >= 0) {
		if (!fstat(sfd, &st))
			p->memfd_ino = st.st_ino;
		close(sfd);
	}
	return 0;
}

static const char *human(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

/* The orders set in @orders, lowest first, @sep between; @none if none. */
static void print_orders(uint32_t orders, const char *sep, const char *none)
{
	const char *s = "";

	if (!orders)
		printf("%s", none);
	for (int n = 0; n < 32; n++) {
		if (!(orders & (1U << n)))
			continue;
		printf("%s%d", s, n);
		s = sep;
	}
}

static const char *state_name(uint32_t state)
{
	return state < 4 ? state_names[state] : "unknown";
}

/* The counters, in the order of struct gmem_pair_stats. */
static const struct counter {
	const char *name;
	size_t offset;
	bool pages;		/* a page count: also print its size */
	const char *what;
} counters[] = {
	{ "private_pages", offsetof(struct gmem_pair_stats, private_pages),
	  true, "resident in the private file" },
	{ "shared_pages", offsetof(struct gmem_pair_stats, shared_pages),
	  true, "resident in the memfd" },
	{ "swapped_pages", offsetof(struct gmem_pair_stats, swapped_pages),
	  true, "memfd pages on swap" },
	{ "to_shared_pages", offsetof(struct gmem_pair_stats, to_shared_pages),
	  true, "moved private -> shared" },
	{ "to_private_pages", offsetof(struct gmem_pair_stats, to_private_pages),
	  true, "moved shared -> private" },
	{ "conversions", offsetof(struct gmem_pair_stats, conversions),
	  false, "successful conversions" },
	{ "refused_pinned", offsetof(struct gmem_pair_stats, refused_pinned),
	  false, "refused: pinned, referenced, mapped, split" },
	{ "refused_movable", offsetof(struct gmem_pair_stats, refused_movable),
	  false, "refused: ZONE_MOVABLE / CMA" },
	{ "migrated_pages", offsetof(struct gmem_pair_stats, migrated_pages),
	  true, "copied off ZONE_MOVABLE / CMA" },
};

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define NR_COUNTERS	ARRAY_SIZE(counters)

static unsigned long long counter(const struct pair *p, const struct counter *c)
{
	return *(const __u64 *)((const char *)&p->stats + c->offset);
}

static void print_holders(const struct pair *p, const char *sep)
{
	for (size_t i = 0; i < p->nr_holders; i++) {
		const struct holder *h = &p->holders[i];

		printf("%spid %d (%s) ", i ? sep : "", h->pid, h->comm);
		if (h->kind == HOLD_MAPPING)
			printf("mapping");
		else
			printf("fd %d %s", h->fd, hold_names[h->kind]);
	}
	printf("\n");
}

/* One pair in full: header, extent table, counters. */
static void print_pair(const struct pair *p)
{
	char b[32];

	if (p->queried)
		printf("pair      %llu\n", (unsigned long long)p->stats.id);
	else
		printf("pair      ? (%s)\n", p->why_not);
	if (p->size)
		printf("size      %llu (%s)\n", (unsigned long long)p->size,
		       human(p->size, b, sizeof(b)));
	else
		printf("size      ?\n");
	if (p->memfd_ino)
		printf("memfd     ino %lu\n", p->memfd_ino);
	printf("holders   ");
	print_holders(p, ", ");
	if (!p->queried)
		return;
	printf("extents   %zu\n\n", p->nr_ext);
	printf("%-14s  %-14s  %-12s  %10s", "OFFSET", "LENGTH", "STATE", "SIZE");
	if (p->details)
		printf("  %9s %9s %9s %9s  %s", "RESIDENT", "SWAPPED", "PINNED",
		       "MOVABLE", "ORDERS");
	printf("\n");
	for (size_t i = 0; i < p->nr_ext; i++) {
		const struct gmem_pair_extent_details *e = &p->ext[i];

		printf("0x%012llx  0x%012llx  %-12s  %10s",
		       (unsigned long long)e->offset,
		       (unsigned long long)e->size, state_name(e->state),
		       human(e->size, b, sizeof(b)));
		if (p->details) {
			printf("  %9llu %9llu %9llu %9llu  ",
			       (unsigned long long)e->resident_pages,
			       (unsigned long long)e->swapped_pages,
			       (unsigned long long)e->pinned_pages,
			       (unsigned long long)e->movable_pages);
			print_orders(e->orders, ",", "-");
		}
		printf("\n");
	}
	printf("\ncounters\n");
	for (const struct counter *c = counters; c < counters + NR_COUNTERS; c++)
		printf("  %-17s %10llu  %10s  %s\n", c->name, counter(p, c),
		       c->pages ? human(counter(p, c) * getpagesize(), b, sizeof(b)) : "",
		       c->what);
}

/* The --all table: one line per pair. */
static void print_table(void)
{
	char b[4][32];

	printf("%-6s  %10s  %10s  %10s  %10s  %8s  %s\n", "PAIR", "SIZE",
	       "PRIVATE", "SHARED", "SWAPPED", "MEMFD", "HOLDERS");
	for (size_t i = 0; i < nr_pairs; i++) {
		const struct pair *p = &pairs[i];
		long ps = getpagesize();
		char id[24];

		if (p->queried)
			snprintf(id, sizeof(id), "%llu",
				 (unsigned long long)p->stats.id);
		else
			snprintf(id, sizeof(id), "?");
		printf("%-6s  %10s  %10s  %10s  %10s  %8lu  ", id,
		       p->size ? human(p->size, b[0], 32) : "?",
		       p->queried ? human(p->stats.private_pages * ps, b[1], 32) : "-",
		       p->queried ? human(p->stats.shared_pages * ps, b[2], 32) : "-",
		       p->queried ? human(p->stats.swapped_pages * ps, b[3], 32) : "-",
		       p->memfd_ino);
		print_holders(p, ", ");
		if (!p->queried)
			printf("%-6s  (%s)\n", "", p->why_not);
	}
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_pair(const struct pair *p)
{
	printf("    {\n      \"id\": ");
	if (p->queried)
		printf("%llu", (unsigned long long)p->stats.id);
	else
		printf("null");
	printf(",\n      \"queried\": %s,\n      \"error\": ",
	       p->queried ? "true" : "false");
	if (p->queried)
		printf("null");
	else
		json_string(p->why_not);
	if (p->size)
		printf(",\n      \"size\": %llu", (unsigned long long)p->size);
	else
		printf(",\n      \"size\": null");
	printf(",\n      \"memfd_ino\": ");
	if (p->memfd_ino)
		printf("%lu", p->memfd_ino);
	else
		printf("null");
	printf(",\n      \"holders\": [");
	for (size_t i = 0; i < p->nr_holders; i++) {
		const struct holder *h = &p->holders[i];

		printf("%s\n        {\"pid\": %d, \"comm\": ", i ? "," : "",
		       h->pid);
		json_string(h->comm);
		printf(", \"fd\": ");
		if (h->kind == HOLD_MAPPING)
			printf("null");
		else
			printf("%d", h->fd);
		printf(", \"file\": \"%s\"}", hold_names[h->kind]);
	}
	printf("%s],\n      \"extents\": [", p->nr_holders ? "\n      " : "");
	for (size_t i = 0; i < p->nr_ext; i++) {
		const struct gmem_pair_extent_details *e = &p->ext[i];

		printf("%s\n        {\"offset\": %llu, \"size\": %llu, \"state\": \"%s\"",
		       i ? "," : "", (unsigned long long)e->offset,
		       (unsigned long long)e->size, state_name(e->state));
		if (p->details) {
			printf(", \"resident_pages\": %llu",
			       (unsigned long long)e->resident_pages);
			printf(", \"swapped_pages\": %llu",
			       (unsigned long long)e->swapped_pages);
			printf(", \"pinned_pages\": %llu",
			       (unsigned long long)e->pinned_pages);
			printf(", \"movable_pages\": %llu, \"orders\": [",
			       (unsigned long long)e->movable_pages);
			print_orders(e->orders, ", ", "");
			printf("]");
		}
		printf("}");
	}
	printf("%s],\n      \"counters\": ", p->nr_ext ? "\n      " : "");
	if (!p->queried) {
		printf("null\n    }");
		return;
	}
	printf("{");
	for (size_t i = 0; i < NR_COUNTERS; i++)
		printf("%s\n        \"%s\": %llu", i ? "," : "",
		       counters[i].name, counter(p, &counters[i]));
	printf("\n      }\n    }");
}

static void print_json(int unreadable)
{
	printf("{\n  \"version\": %d,\n  \"page_size\": %d,\n  \"pairs\": [\n",
	       JSON_VERSION, getpagesize());
	for (size_t i = 0; i < nr_pairs; i++) {
		json_pair(&pairs[i]);
		printf("%s\n", i + 1 < nr_pairs ? "," : "");
	}
	printf("  ],\n  \"unreadable_processes\": %d\n}\n", unreadable);
}

static const char help_text[] =
"usage: gmem-inspect [--json] <pid> <fd>    the pair of private fd <fd> of <pid>\n"
"       gmem-inspect [--json] -f <fd>       the pair of this process's fd <fd>\n"
"       gmem-inspect [--json] [-v] --all    every pair on the system\n"
"       gmem-inspect --help\n"
"Prints a gmem_pair's id, size, holders, the extent of each state (shared,\n"
"shared-hole, private, private-hole) and its counters.  <fd> is the private\n"
"fd (" PRIVATE_LINK " in /proc/<pid>/fd).  --all lists every pair\n"
"(-v: each in full); a pair seen only through its memfd cannot be queried.\n"
"  -j, --json     JSON (schema: Documentation/mm/gmem_pair_tools.rst)\n"
"  -v, --verbose  with --all: every pair in full, not one line each\n"
"Exit: 0 ok, 1 usage, 2 no such process or fd, 3 no permission (ptrace),\n"
"      4 not a pair, 5 fd closed meanwhile or query failed.\n";

static int parse_int(const char *s, int *v)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (!*s || *end || errno || n < 0 || n > INT_MAX)
		return -1;
	*v = n;
	return 0;
}

static void print_one(void)
{
	if (json)
		print_json(0);
	else
		print_pair(&pairs[0]);
}

/* gmem-inspect PID FD and -f FD: @pid is getpid() for -f. */
static int inspect_one(pid_t pid, int fd, bool own)
{
	struct holder h = { .pid = pid, .fd = fd, .kind = HOLD_PRIVATE };
	char link[PATH_MAX], proc[32];
	struct pair *p;
	int pfd, err;

	err = fd_link(pid, fd, link, sizeof(link));
	snprintf(proc, sizeof(proc), "/proc/%d", pid);
	if (err == -ENOENT && !access(proc, F_OK)) {
		fprintf(stderr, "gmem-inspect: process %d has no fd %d\n", pid, fd);
		return EXIT_NO_PROCESS;
	}
	if (err == -ENOENT || err == -ESRCH) {
		fprintf(stderr, "gmem-inspect: no process %d\n", pid);
		return EXIT_NO_PROCESS;
	}
	if (err == -EACCES || err == -EPERM) {
		fprintf(stderr, "gmem-inspect: no permission to read the fds of process %d (%s)\n",
			pid, NO_PTRACE);
		return EXIT_PERMISSION;
	}
	if (err) {
		fprintf(stderr, "gmem-inspect: /proc/%d/fd/%d: %s\n", pid, fd,
			strerror(-err));
		return EXIT_QUERY;
	}
	if (strcmp(link, PRIVATE_LINK)) {
		fprintf(stderr, "gmem-inspect: fd %d of process %d is not a pair: %s%s\n",
			fd, pid, link, strcmp(link, MEMFD_LINK) ? "" :
			", a pair's memfd (give " PRIVATE_LINK " or use --all)");
		return EXIT_NOT_PAIR;
	}
	if (own) {
		pfd = fd;
	} else {
		pfd = grab_fd(pid, fd);
		if (pfd == -EPERM || pfd == -EACCES) {
			fprintf(stderr, "gmem-inspect: pidfd_getfd(%d, %d): no permission (%s)\n",
				pid, fd, NO_PTRACE);
			return EXIT_PERMISSION;
		}
		if (pfd == -ESRCH) {
			fprintf(stderr, "gmem-inspect: process %d exited\n", pid);
			return EXIT_QUERY;
		}
		if (pfd == -EBADF) {
			fprintf(stderr, "gmem-inspect: fd %d of process %d was closed meanwhile\n",
				fd, pid);
			return EXIT_QUERY;
		}
		if (pfd < 0) {
			fprintf(stderr, "gmem-inspect: pidfd_getfd(%d, %d): %s\n",
				pid, fd, strerror(-pfd));
			return EXIT_QUERY;
		}
	}
	p = new_pair();
	err = query(pfd, p);
	if (!own)
		close(pfd);
	if (err == -ENOTTY) {
		fprintf(stderr, "gmem-inspect: fd %d of process %d is a guest_memfd, not a pair\n",
			fd, pid);
		return EXIT_NOT_PAIR;
	}
	if (err) {
		fprintf(stderr, "gmem-inspect: GMEM_PAIR_QUERY: %s\n", strerror(-err));
		return EXIT_QUERY;
	}
	read_comm(pid, h.comm, sizeof(h.comm));
	add_holder(p, &h);
	print_one();
	return EXIT_OK;
}

/* --all: a private fd found in /proc; returns 0 or -errno of pidfd_getfd. */
static int found_private(const struct holder *h)
{
	struct pair tmp = { 0 };
	int fd = grab_fd(h->pid, h->fd), err;

	if (fd < 0)
		return fd;
	err = query(fd, &tmp);
	close(fd);
	if (err) {	/* not a pair (-ENOTTY), or gone */
		free(tmp.ext);
		return 0;
	}
	/* Only queried pairs so far: the same pair has the same id (or memfd) */
	for (size_t i = 0; i < nr_pairs; i++) {
		if (tmp.stats.id ? pairs[i].stats.id == tmp.stats.id :
				   pairs[i].memfd_ino == tmp.memfd_ino) {
			free(tmp.ext);
			add_holder(&pairs[i], h);
			return 0;
		}
	}
	*new_pair() = tmp;
	add_holder(&pairs[nr_pairs - 1], h);
	return 0;
}

/* --all: the memfd mappings of @pid (one holder per memfd). */
static void scan_maps(pid_t pid, const char *comm, struct holder **mem,
		      size_t *nr_mem)
{
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long ino;
		bool seen = false;
		int name = 0;

		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%*s %*s %*s %*s %lu %n", &ino, &name) != 1 ||
		    !name || strcmp(line + name, MEMFD_LINK))
			continue;
		for (size_t i = 0; i < *nr_mem && !seen; i++)
			seen = (*mem)[i].pid == pid && (*mem)[i].ino == ino &&
			       (*mem)[i].kind == HOLD_MAPPING;
		if (seen)	/* one holder per memfd, however many VMAs */
			continue;
		*mem = xrealloc(*mem, (*nr_mem + 1) * sizeof(**mem));
		(*mem)[(*nr_mem)++] = (struct holder){ .pid = pid, .fd = -1,
			.kind = HOLD_MAPPING, .ino = ino };
		snprintf((*mem)[*nr_mem - 1].comm, sizeof((*mem)->comm), "%s", comm);
	}
	fclose(f);
}

static int inspect_all(void)
{
	struct holder *mem = NULL;
	size_t nr_mem = 0;
	int unreadable = 0, denied = 0;
	struct dirent *de, *fe;
	DIR *proc, *fds;

	proc = opendir("/proc");
	if (!proc) {
		perror("gmem-inspect: /proc");
		return EXIT_QUERY;
	}
	while ((de = readdir(proc))) {
		char path[64], link[PATH_MAX], comm[32];
		pid_t pid;

		if (parse_int(de->d_name, &pid) || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		fds = opendir(path);
		if (!fds) {
			if (errno == EACCES || errno == EPERM)
				unreadable++;
			continue;	/* or it exited */
		}
		read_comm(pid, comm, sizeof(comm));
		while ((fe = readdir(fds))) {
			struct holder h = { .pid = pid };
			struct stat st;
			int err;

			if (parse_int(fe->d_name, &h.fd) ||
			    fd_link(pid, h.fd, link, sizeof(link)))
				continue;
			snprintf(h.comm, sizeof(h.comm), "%s", comm);
			if (!strcmp(link, PRIVATE_LINK)) {
				h.kind = HOLD_PRIVATE;
				err = found_private(&h);
				if (err == -EPERM || err == -EACCES) {
					/* Listed as not queried below. */
					denied++;
					h.ino = 0;
					mem = xrealloc(mem, (nr_mem + 1) * sizeof(*mem));
					mem[nr_mem++] = h;
				}
			} else if (!strcmp(link, MEMFD_LINK)) {
				snprintf(path, sizeof(path), "/proc/%d/fd/%d",
					 pid, h.fd);
				if (stat(path, &st))
					continue;
				h.kind = HOLD_MEMFD;
				h.ino = st.st_ino;
				mem = xrealloc(mem, (nr_mem + 1) * sizeof(*mem));
				mem[nr_mem++] = h;
			}
		}
		closedir(fds);
		scan_maps(pid, comm, &mem, &nr_mem);
	}
	closedir(proc);

	/* Memfds and mappings join the pair of their memfd's inode. */
	for (size_t i = 0; i < nr_mem; i++) {
		struct holder *h = &mem[i];
		struct pair *p = NULL;
		char path[64];
		struct stat st;

		for (size_t j = 0; j < nr_pairs && !p; j++)
			if (h->ino && pairs[j].memfd_ino == h->ino &&
			    (pairs[j].queried || h->kind != HOLD_PRIVATE))
				p = &pairs[j];
		if (!p) {
			p = new_pair();
			p->memfd_ino = h->ino;
			p->why_not = h->kind == HOLD_PRIVATE ?
				"no permission to take the private fd" :
				"memfd only: the query needs the private fd";
			snprintf(path, sizeof(path), "/proc/%d/fd/%d", h->pid, h->fd);
			if (h->kind == HOLD_MEMFD && !stat(path, &st))
				p->size = st.st_size;
		}
		add_holder(p, h);
	}
	free(mem);

	if (json) {
		print_json(unreadable);
	} else if (!nr_pairs) {
		printf("no gmem_pair found\n");
	} else if (verbose) {
		for (size_t i = 0; i < nr_pairs; i++) {
			printf("%s", i ? "\n" : "");
			print_pair(&pairs[i]);
		}
	} else {
		print_table();
	}
	if (unreadable)
		fprintf(stderr, "gmem-inspect: %d processes not inspected (%s)\n",
			unreadable, "no permission to read their fds");
	return denied ? EXIT_PERMISSION : EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool all = false;
	int opt, fd = -1, pid;

	while ((opt = getopt_long(argc, argv, "af:jvh", opts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			all = true;
			break;
		case 'f':
			if (parse_int(optarg, &fd)) {
				fprintf(stderr, "gmem-inspect: bad fd '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'j':
			json = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			fputs(help_text, stdout);
			return EXIT_OK;
		default:
			fputs(help_text, stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (all && fd < 0 && !argc)
		return inspect_all();
	if (!all && fd >= 0 && !argc) {
		if (fcntl(fd, F_GETFD) < 0) {
			fprintf(stderr, "gmem-inspect: fd %d is not open\n", fd);
			return EXIT_NO_PROCESS;
		}
		return inspect_one(getpid(), fd, true);
	}
	if (!all && fd < 0 && argc == 2 && !parse_int(argv[0], &pid) &&
	    !parse_int(argv[1], &fd) && pid > 0)
		return inspect_one(pid, fd, false);
	fputs(help_text, stderr);
	return EXIT_USAGE;
}
