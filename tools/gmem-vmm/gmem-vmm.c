// SPDX-License-Identifier: GPL-2.0
/*
 * gmem-vmm: a small VMM on a gmem_pair, with an unmodified vhost-user
 * backend (Debian's qemu-storage-daemon) sharing the pair's memfd.
 *
 * The VMM creates a KVM_X86_SW_PROTECTED_VM, a paired guest_memfd, maps the
 * pair's memfd MAP_SHARED and binds both files to one memslot.  It starts
 * qemu-storage-daemon with a vhost-user-blk export of a disk image holding a
 * known pattern and hands it the memfd in SET_MEM_TABLE.  The guest is a
 * virtio-blk driver: a split virtqueue in shared memory, notified through a
 * KVM ioeventfd that is the backend's kick eventfd (the VMM is not in the
 * data path); the VMM only waits on the call eventfd when the guest asks.
 *
 * The story, one block per step, each check printed:
 *  1. the backend reads the disk into a shared guest buffer; the guest checks
 *  2. the guest makes the buffer private (KVM_HC_MAP_GPA_RANGE; the VMM
 *     converts with KVM_SET_MEMORY_ATTRIBUTES): the folios move, the guest
 *     reads the same bytes, a probe process that has the memfd (SCM_RIGHTS)
 *     takes SIGBUS there
 *  3. the guest computes a digest of every page of the private buffer,
 *     converts the result range to shared and has the backend write it to
 *     disk; the VMM checks the disk image
 *  4. a to-private conversion is refused while another process pins a page
 *     (io_uring fixed buffer): the VMM tells the guest and prints page and
 *     reason; the pin is dropped and the guest's retry succeeds
 *  5. the hand-off time next to a copy-based hand-off of the same buffer
 *
 *   gmem-vmm [-b buffer-MiB] [-m pair-MiB] [-w workdir] [-i gmem-inspect|none]
 *            [-q qemu-storage-daemon] [-B skip-convert]
 *   gmem-vmm -Q qemu-system-x86_64 [-m pair-MiB]
 *
 * -B skip-convert: the VMM answers the guest's hypercalls without converting
 * (a deliberately broken VMM: the checks must fail).
 * -Q: instead of the story, check that an unmodified QEMU takes the pair's
 * memfd as guest RAM and passes it to the same backend in SET_MEM_TABLE.
 *
 * Exit status 0 if every check passed, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
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
#include <linux/kvm_para.h>
#include <linux/pci_regs.h>
#include <linux/sizes.h>
#include <linux/vhost_types.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

#define PAIR_SLOT	10
#define PLAIN_SLOT	11
#define PAIR_GPA	BIT_ULL(32)
#define PLAIN_GPA	BIT_ULL(35)
#define NOTIFY_PORT	0x6000

/* Layout of the pair: the virtqueue and request headers, then the buffer. */
#define QSZ		256
#define RING_DESC	0x0000
#define RING_AVAIL	0x1000
#define RING_USED	0x2000
#define REQ_HDRS	0x3000
#define REQ_STATUS	0x4000
#define BUF_OFF		SZ_2M
#define REQ_BYTES	SZ_4M		/* data bytes per virtio-blk request */
#define REQ_BATCH	64		/* requests in flight (3 descriptors each) */
#define SECTOR		512
#define WORDS_PER_PAGE	(PAGE_SIZE / 8)
#define PIN_PAGE	5		/* page of the result range step 4 pins */

/* <linux/io_uring.h> does not build with tools/include; two numbers of it */
#define IORING_REGISTER_BUFFERS		0
#define IORING_UNREGISTER_BUFFERS	1

/* ucall stages (args[1]); args[2..5] are stage specific */
enum {
	SYNC_WAIT = 1,		/* wait for the backend's call eventfd */
	SYNC_READ_DONE,		/* failed requests, words wrong */
	SYNC_COPY_START,
	SYNC_COPY_END,
	SYNC_COPY_DONE,		/* words wrong */
	SYNC_PRIV_START,
	SYNC_PRIV_DONE,		/* hypercall result */
	SYNC_PRIV_CHECKED,	/* words wrong */
	SYNC_RESULT_WRITTEN,	/* hypercall result, failed requests */
	SYNC_PIN_PLEASE,
	SYNC_REFUSED,		/* hypercall result */
	SYNC_RETRIED,		/* hypercall result, result words wrong */
};

/* What the guest needs to know; copied into the guest before it runs. */
struct guest_params {
	uint64_t buf_gpa;	/* the buffer, in the pair */
	uint64_t buf_bytes;
	uint64_t res_bytes;	/* the result range, at the start of the buffer */
	uint64_t res_sector;	/* where the result goes on the disk */
	uint64_t copy_gpa;	/* plain guest_memfd slot, private */
};

static struct guest_params gp;

/* The known pattern: word i of the disk. */
static inline uint64_t pattern(uint64_t i)
{
	return (i + 1) * 0x9e3779b97f4a7c15ULL ^ 0x676d656d70616972ULL;
}

/* Digest of one page (FNV-1a over its words), seeded with its index. */
static inline uint64_t page_digest(const uint64_t *w, uint64_t page)
{
	uint64_t d = 0xcbf29ce484222325ULL ^ page;

	for (int k = 0; k < WORDS_PER_PAGE; k++)
		d = (d ^ w[k]) * 0x100000001b3ULL;
	return d;
}

/* ---------------------------------------------------------------- guest */

static uint16_t g_avail_idx;

static struct vring_desc *g_desc(void)
{
	return (void *)(PAIR_GPA + RING_DESC);
}

static struct vring_avail *g_avail(void)
{
	return (void *)(PAIR_GPA + RING_AVAIL);
}

static struct vring_used *g_used(void)
{
	return (void *)(PAIR_GPA + RING_USED);
}

/* Queue request @slot: header, data, status; the backend writes for IN. */
static void guest_queue_req(int slot, uint32_t type, uint64_t sector,
			    uint64_t gpa, uint32_t len)
{
	struct virtio_blk_outhdr *hdr = (void *)(PAIR_GPA + REQ_HDRS);
	uint8_t *status = (void *)(PAIR_GPA + REQ_STATUS);
	struct vring_desc *d = g_desc() + 3 * slot;
	struct vring_avail *avail = g_avail();

	hdr[slot].type = type;
	hdr[slot].ioprio = 0;
	hdr[slot].sector = sector;
	status[slot] = 0xff;
	d[0].addr = PAIR_GPA + REQ_HDRS + slot * sizeof(*hdr);
	d[0].len = sizeof(*hdr);
	d[0].flags = VRING_DESC_F_NEXT;
	d[0].next = 3 * slot + 1;
	d[1].addr = gpa;
	d[1].len = len;
	d[1].flags = VRING_DESC_F_NEXT |
		     (type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0);
	d[1].next = 3 * slot + 2;
	d[2].addr = PAIR_GPA + REQ_STATUS + slot;
	d[2].len = 1;
	d[2].flags = VRING_DESC_F_WRITE;
	d[2].next = 0;
	avail->ring[g_avail_idx++ % QSZ] = 3 * slot;
}

/* Publish, kick (ioeventfd: straight to the backend), wait; failed count. */
static uint64_t guest_submit(int nr)
{
	uint8_t *status = (void *)(PAIR_GPA + REQ_STATUS);
	uint64_t failed = 0;

	barrier();	/* x86: stores are ordered; keep the compiler's too */
	WRITE_ONCE(g_avail()->idx, g_avail_idx);
	outl(NOTIFY_PORT, 0);
	while (READ_ONCE(g_used()->idx) != g_avail_idx)
		GUEST_SYNC(SYNC_WAIT);
	barrier();
	for (int i = 0; i < nr; i++)
		failed += READ_ONCE(status[i]) != VIRTIO_BLK_S_OK;
	return failed;
}

/* Transfer [gpa, gpa + len) to or from the disk at @sector. */
static uint64_t guest_blk_io(uint32_t type, uint64_t sector, uint64_t gpa,
			     uint64_t len)
{
	uint64_t failed = 0;
	int nr = 0;

	while (len) {
		uint64_t chunk = len < REQ_BYTES ? len : REQ_BYTES;

		guest_queue_req(nr++, type, sector, gpa, chunk);
		sector += chunk / SECTOR;
		gpa += chunk;
		len -= chunk;
		if (nr == REQ_BATCH || !len) {
			failed += guest_submit(nr);
			nr = 0;
		}
	}
	return failed;
}

/* Words of [gpa, gpa + len) that are not the disk's pattern from word 0. */
static uint64_t guest_check_pattern(uint64_t gpa, uint64_t len)
{
	uint64_t *w = (void *)gpa;
	uint64_t wrong = 0;

	for (uint64_t i = 0; i < len / 8; i++)
		wrong += READ_ONCE(w[i]) != pattern(i);
	return wrong;
}

static void guest_code(void)
{
	uint64_t *buf = (void *)gp.buf_gpa;
	uint64_t *dst = (void *)gp.copy_gpa;
	uint64_t nr_pages = gp.buf_bytes / PAGE_SIZE, ret, fold = 0, wrong;

	/* 1. the backend fills the shared buffer from the disk */
	ret = guest_blk_io(VIRTIO_BLK_T_IN, 0, gp.buf_gpa, gp.buf_bytes);
	GUEST_SYNC_ARGS(SYNC_READ_DONE, ret,
			guest_check_pattern(gp.buf_gpa, gp.buf_bytes), 0, 0);

	/* 5. (measured here) the copy-based hand-off of the same buffer */
	GUEST_SYNC(SYNC_COPY_START);
	for (uint64_t i = 0; i < gp.buf_bytes / 8; i++)	/* not memcpy() */
		WRITE_ONCE(dst[i], READ_ONCE(buf[i]));
	GUEST_SYNC(SYNC_COPY_END);
	GUEST_SYNC_ARGS(SYNC_COPY_DONE,
			guest_check_pattern(gp.copy_gpa, gp.buf_bytes), 0, 0, 0);

	/* 2. hand the buffer to private memory in place */
	GUEST_SYNC(SYNC_PRIV_START);
	ret = __kvm_hypercall_map_gpa_range(gp.buf_gpa, gp.buf_bytes,
					    KVM_MAP_GPA_RANGE_ENCRYPTED);
	GUEST_SYNC_ARGS(SYNC_PRIV_DONE, ret, 0, 0, 0);
	GUEST_SYNC_ARGS(SYNC_PRIV_CHECKED,
			guest_check_pattern(gp.buf_gpa, gp.buf_bytes), 0, 0, 0);

	/*
	 * 3. a digest of every page, written in place to word p of the
	 * result range (page p / 512 <= p: already digested).
	 */
	for (uint64_t p = 0; p < nr_pages; p++) {
		uint64_t d = page_digest(buf + p * WORDS_PER_PAGE, p);

		buf[p] = d;
		fold ^= d;
	}
	ret = __kvm_hypercall_map_gpa_range(gp.buf_gpa, gp.res_bytes, 0);
	GUEST_SYNC_ARGS(SYNC_RESULT_WRITTEN, ret,
			ret ? 0 : guest_blk_io(VIRTIO_BLK_T_OUT, gp.res_sector,
					       gp.buf_gpa, gp.res_bytes), 0, 0);

	/* 4. private again: refused while a page is pinned, then retried */
	GUEST_SYNC(SYNC_PIN_PLEASE);
	ret = __kvm_hypercall_map_gpa_range(gp.buf_gpa, gp.res_bytes,
					    KVM_MAP_GPA_RANGE_ENCRYPTED);
	GUEST_SYNC_ARGS(SYNC_REFUSED, ret, 0, 0, 0);
	ret = __kvm_hypercall_map_gpa_range(gp.buf_gpa, gp.res_bytes,
					    KVM_MAP_GPA_RANGE_ENCRYPTED);
	for (uint64_t p = 0; p < nr_pages; p++)
		fold ^= buf[p];
	wrong = fold != 0;
	GUEST_SYNC_ARGS(SYNC_RETRIED, ret, wrong, 0, 0);
	GUEST_DONE();
}

/* ----------------------------------------------------------------- host */

static int failures, checks;

static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	checks++;
	failures += !ok;
	printf("  [%s] ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void say(const char *fmt, ...)
{
	va_list ap;

	printf("  ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *const reason_names[] = {
	[GMEM_PAIR_ERR_NONE]		= "none",
	[GMEM_PAIR_ERR_PINNED]		= "pinned (FOLL_PIN)",
	[GMEM_PAIR_ERR_REFERENCED]	= "extra references",
	[GMEM_PAIR_ERR_MAPPED]		= "still mapped",
	[GMEM_PAIR_ERR_SPLIT]		= "large folio did not split",
	[GMEM_PAIR_ERR_MOVABLE]		= "ZONE_MOVABLE or CMA",
	[GMEM_PAIR_ERR_NOMEM]		= "out of memory",
	[GMEM_PAIR_ERR_IO]		= "swap read error",
};

static const char *reason_name(uint32_t r)
{
	return r < ARRAY_SIZE(reason_names) ? reason_names[r] : "unknown";
}

/* ------------------------------------------- probe and pin helper process */

enum { H_MEMFD, H_PROBE, H_PIN, H_UNPIN, H_EXIT };

struct h_msg {
	uint32_t cmd;
	uint32_t pad;
	uint64_t off;
	uint64_t len;
};

struct h_reply {
	int64_t ret;		/* PROBE: 0 read, 1 SIGBUS; others: 0 or -errno */
	uint64_t val;
};

static sigjmp_buf h_jmp;

static void h_sigbus(int sig)
{
	siglongjmp(h_jmp, 1);
}

static int send_fd(int sock, const void *data, size_t len, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, 0) == (ssize_t)len ? 0 : -1;
}

/*
 * A separate process that gets the memfd over SCM_RIGHTS (forked before the
 * VM exists: it inherits nothing of it), maps it like a vhost-user backend
 * and reads where it is told, or pins pages with an io_uring fixed buffer.
 */
static void helper_main(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	uint64_t params[16];	/* struct io_uring_params, 120 bytes */
	uint8_t *map = NULL;
	struct h_reply r;
	struct iovec iov;
	struct h_msg m;
	int ring = -1;

	signal(SIGBUS, h_sigbus);
	for (;;) {
		struct iovec mi = { .iov_base = &m, .iov_len = sizeof(m) };
		struct msghdr mh = {
			.msg_iov = &mi, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *c;
		int fd = -1;

		if (recvmsg(sock, &mh, 0) != sizeof(m))
			_exit(1);
		c = CMSG_FIRSTHDR(&mh);
		if (c && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
		r.ret = 0;
		r.val = 0;
		switch (m.cmd) {
		case H_MEMFD:
			map = mmap(NULL, m.len, PROT_READ | PROT_WRITE, MAP_SHARED,
				   fd, 0);
			r.ret = map == MAP_FAILED ? -errno : 0;
			close(fd);
			break;
		case H_PROBE:
			if (sigsetjmp(h_jmp, 1))
				r.ret = 1;
			else
				r.val = READ_ONCE(*(uint64_t *)(map + m.off));
			break;
		case H_PIN:
			memset(&params, 0, sizeof(params));
			ring = syscall(__NR_io_uring_setup, 4, params);
			if (ring < 0) {
				r.ret = -errno;
				break;
			}
			iov.iov_base = (void *)(map + m.off);
			iov.iov_len = m.len;
			if (syscall(__NR_io_uring_register, ring,
				    IORING_REGISTER_BUFFERS, &iov, 1)) {
				r.ret = -errno;
				close(ring);
				ring = -1;
			}
			break;
		case H_UNPIN:
			if (syscall(__NR_io_uring_register, ring,
				    IORING_UNREGISTER_BUFFERS, NULL, 0))
				r.ret = -errno;
			close(ring);
			ring = -1;
			break;
		default:
			_exit(0);
		}
		if (write(sock, &r, sizeof(r)) != sizeof(r))
			_exit(1);
	}
}

struct vmm {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	int pfd, sfd;			/* the pair: private fd, memfd */
	uint8_t *hva;			/* the memfd, mapped */
	uint64_t pair_bytes;
	int helper;			/* socket to the helper */
	pid_t helper_pid, qsd_pid;
	int vu;				/* vhost-user socket */
	int kick, call;			/* eventfds */
	const char *inspect;
	char *workdir, *img, *sock, *log;
	bool skip_convert;
	/* what the hypercall handler saw last */
	double convert_secs;
	int convert_errno;
	uint64_t refused_offset;
	uint32_t refused_reason;
	uint64_t calls;			/* call eventfd signals */
};

static struct vmm *vmm_for_exit;

static struct h_reply helper(struct vmm *v, uint32_t cmd, uint64_t off,
			     uint64_t len, int fd)
{
	struct h_msg m = { .cmd = cmd, .off = off, .len = len };
	struct h_reply r = { .ret = -EIO };

	TEST_ASSERT(!send_fd(v->helper, &m, sizeof(m), fd), "probe process: send");
	TEST_ASSERT(read(v->helper, &r, sizeof(r)) == sizeof(r),
		    "probe process: no reply");
	return r;
}

/* The helper reads pair offset @off: true if it took SIGBUS. */
static bool probe_sigbus(struct vmm *v, uint64_t off, uint64_t *val)
{
	struct h_reply r = helper(v, H_PROBE, off, 0, -1);

	if (val)
		*val = r.val;
	return r.ret == 1;
}

/* ---------------------------------------------------- vhost-user front end */

enum {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
};

#define VHOST_USER_VERSION		0x1
#define VHOST_USER_REPLY		BIT(2)
#define VHOST_USER_NEED_REPLY		BIT(3)
#define VHOST_USER_PROTOCOL_FEATURES	30	/* VHOST_USER_F_PROTOCOL_FEATURES */
#define VHOST_USER_PROTOCOL_F_REPLY_ACK	3
#define VHOST_USER_PROTOCOL_F_CONFIG	9
#define VHOST_USER_HDR			12

struct vu_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	union {
		uint64_t u64;
		struct vhost_vring_state state;
		struct vhost_vring_addr addr;
		struct {
			uint32_t nregions;
			uint32_t padding;
			struct vu_region regions[1];
		} mem;
		struct {
			uint32_t offset;
			uint32_t size;
			uint32_t flags;
			uint8_t region[64];
		} config;
	} payload;
} __packed;

static const char *const vu_names[] = {
	[VHOST_USER_GET_FEATURES]		= "GET_FEATURES",
	[VHOST_USER_SET_FEATURES]		= "SET_FEATURES",
	[VHOST_USER_SET_OWNER]			= "SET_OWNER",
	[VHOST_USER_SET_MEM_TABLE]		= "SET_MEM_TABLE",
	[VHOST_USER_SET_VRING_NUM]		= "SET_VRING_NUM",
	[VHOST_USER_SET_VRING_ADDR]		= "SET_VRING_ADDR",
	[VHOST_USER_SET_VRING_BASE]		= "SET_VRING_BASE",
	[VHOST_USER_SET_VRING_KICK]		= "SET_VRING_KICK",
	[VHOST_USER_SET_VRING_CALL]		= "SET_VRING_CALL",
	[VHOST_USER_GET_PROTOCOL_FEATURES]	= "GET_PROTOCOL_FEATURES",
	[VHOST_USER_SET_PROTOCOL_FEATURES]	= "SET_PROTOCOL_FEATURES",
	[VHOST_USER_SET_VRING_ENABLE]		= "SET_VRING_ENABLE",
	[VHOST_USER_GET_CONFIG]			= "GET_CONFIG",
};

/*
 * Send @req with @size payload bytes (and @fd).  GET_* requests are
 * answered; with @ack (REPLY_ACK negotiated) others are too, by a u64 that
 * is 0 on success.
 */
static void vu_call(struct vmm *v, struct vu_msg *m, uint32_t req,
		    uint32_t size, int fd, bool ack)
{
	bool get = req == VHOST_USER_GET_FEATURES ||
		   req == VHOST_USER_GET_PROTOCOL_FEATURES ||
		   req == VHOST_USER_GET_CONFIG;

	m->request = req;
	m->flags = VHOST_USER_VERSION | (ack && !get ? VHOST_USER_NEED_REPLY : 0);
	m->size = size;
	TEST_ASSERT(!send_fd(v->vu, m, VHOST_USER_HDR + size, fd),
		    "vhost-user %s: send: %s", vu_names[req], strerror(errno));
	if (!get && !ack)
		return;
	TEST_ASSERT(recv(v->vu, m, VHOST_USER_HDR, MSG_WAITALL) == VHOST_USER_HDR,
		    "vhost-user %s: no reply (backend log: %s)", vu_names[req],
		    v->log);
	TEST_ASSERT(m->request == req && (m->flags & VHOST_USER_REPLY) &&
		    m->size <= sizeof(m->payload), "vhost-user %s: bad reply",
		    vu_names[req]);
	TEST_ASSERT(!m->size || recv(v->vu, &m->payload, m->size, MSG_WAITALL) ==
		    m->size, "vhost-user %s: short reply", vu_names[req]);
	TEST_ASSERT(get || !m->payload.u64, "vhost-user %s: backend says %lu",
		    vu_names[req], m->payload.u64);
}

static void vu_u64(struct vmm *v, uint32_t req, uint64_t val, int fd,
		   bool ack)
{
	struct vu_msg m = { .payload.u64 = val };

	vu_call(v, &m, req, sizeof(uint64_t), fd, ack);
}

static void vu_state(struct vmm *v, uint32_t req, uint32_t num, bool ack)
{
	struct vu_msg m = { .payload.state = { .index = 0, .num = num } };

	vu_call(v, &m, req, sizeof(m.payload.state), -1, ack);
}

/*
 * Start qemu-storage-daemon on the image and wait for its socket; connect
 * to it if @connect_it (its vhost-user server serves one front end at a
 * time: not if QEMU is to be the front end).
 */
static void start_backend(struct vmm *v, const char *qsd, bool connect_it)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *blockdev, *export;
	int status, logfd;

	TEST_ASSERT(asprintf(&blockdev, "driver=file,node-name=d0,filename=%s",
			     v->img) > 0 &&
		    asprintf(&export,
			     "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=%s,writable=on",
			     v->sock) > 0, "asprintf");
	say("starting %s --blockdev %s --export %s", qsd, blockdev, export);
	fflush(stdout);
	v->qsd_pid = fork();
	TEST_ASSERT(v->qsd_pid >= 0, "fork");
	if (!v->qsd_pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		logfd = open(v->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (logfd >= 0) {
			dup2(logfd, 1);
			dup2(logfd, 2);
		}
		execlp(qsd, qsd, "--blockdev", blockdev, "--export", export,
		       NULL);
		_exit(127);
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", v->sock);
	v->vu = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	for (int i = 0; ; i++) {	/* 120 s: it starts slowly under TCG */
		if (connect_it ? !connect(v->vu, (struct sockaddr *)&sa, sizeof(sa)) :
		    !access(v->sock, F_OK))
			break;
		TEST_ASSERT(waitpid(v->qsd_pid, &status, WNOHANG) == 0,
			    "qemu-storage-daemon exited (log: %s)", v->log);
		TEST_ASSERT(i < 1200, "no socket %s after 120 s", v->sock);
		usleep(100000);
	}
	say("qemu-storage-daemon pid %d listening on %s%s", v->qsd_pid, v->sock,
	    connect_it ? "; connected" : "");
}

/* The size of @pid's mappings of the pair's memfd (memfd:gmem_pair). */
static uint64_t mapped_pair_bytes(pid_t pid)
{
	unsigned long start, end;
	uint64_t bytes = 0;
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:gmem_pair") &&
		    sscanf(line, "%lx-%lx", &start, &end) == 2)
			bytes += end - start;
	if (f)
		fclose(f);
	return bytes;
}

/* The vhost-user handshake, memory table and ring; as QEMU orders it. */
static void setup_vhost_user(struct vmm *v)
{
	uint64_t want = BIT_ULL(VIRTIO_F_VERSION_1) |
			BIT_ULL(VHOST_USER_PROTOCOL_FEATURES) |
			BIT_ULL(VIRTIO_BLK_F_BLK_SIZE) |
			BIT_ULL(VIRTIO_BLK_F_SEG_MAX);
	uint64_t features, protocol = 0, ack = 0, mapped;
	struct vu_msg m = { 0 };
	struct virtio_blk_config cfg = { 0 };
	struct kvm_ioeventfd ioev = {
		.addr = NOTIFY_PORT, .len = 4, .flags = KVM_IOEVENTFD_FLAG_PIO,
	};

	vu_call(v, &m, VHOST_USER_GET_FEATURES, 0, -1, true);
	features = m.payload.u64;
	TEST_ASSERT(features & BIT_ULL(VIRTIO_F_VERSION_1),
		    "backend lacks VIRTIO_F_VERSION_1");
	if (features & BIT_ULL(VHOST_USER_PROTOCOL_FEATURES)) {
		vu_call(v, &m, VHOST_USER_GET_PROTOCOL_FEATURES, 0, -1, true);
		protocol = m.payload.u64 &
			   (BIT_ULL(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			    BIT_ULL(VHOST_USER_PROTOCOL_F_CONFIG));
		vu_u64(v, VHOST_USER_SET_PROTOCOL_FEATURES, protocol, -1, false);
		ack = !!(protocol & BIT_ULL(VHOST_USER_PROTOCOL_F_REPLY_ACK));
	}
	vu_u64(v, VHOST_USER_SET_OWNER, 0, -1, ack);
	say("vhost-user: GET_FEATURES 0x%lx, negotiated 0x%lx; protocol features 0x%lx%s",
	    features, features & want, protocol, ack ? " (REPLY_ACK)" : "");
	if (protocol & BIT_ULL(VHOST_USER_PROTOCOL_F_CONFIG)) {
		memset(&m, 0, sizeof(m));
		m.payload.config.size = offsetof(struct virtio_blk_config,
						 physical_block_exp);
		vu_call(v, &m, VHOST_USER_GET_CONFIG, 12 + m.payload.config.size,
			-1, true);
		TEST_ASSERT(m.size > 12, "GET_CONFIG failed");
		memcpy(&cfg, m.payload.config.region, m.payload.config.size);
		say("vhost-user: GET_CONFIG: capacity %llu sectors, blk_size %u, seg_max %u",
		    cfg.capacity, cfg.blk_size, cfg.seg_max);
	}
	vu_u64(v, VHOST_USER_SET_FEATURES, features & want, -1, ack);

	/* the whole pair, by its memfd: the backend maps it MAP_SHARED */
	memset(&m, 0, sizeof(m));
	m.payload.mem.nregions = 1;
	m.payload.mem.regions[0] = (struct vu_region) {
		.guest_phys_addr = PAIR_GPA, .memory_size = v->pair_bytes,
		.userspace_addr = (uint64_t)v->hva, .mmap_offset = 0,
	};
	vu_call(v, &m, VHOST_USER_SET_MEM_TABLE, 8 + sizeof(struct vu_region),
		v->sfd, ack);
	say("vhost-user: SET_MEM_TABLE: gpa 0x%lx, %lu MiB: the pair's memfd by SCM_RIGHTS%s",
	    PAIR_GPA, v->pair_bytes >> 20, ack ? ", acked" : "");
	mapped = mapped_pair_bytes(v->qsd_pid);
	check(mapped == v->pair_bytes,
	      "qemu-storage-daemon mapped the pair's memfd: %lu MiB of memfd:gmem_pair in /proc/%d/maps",
	      mapped >> 20, v->qsd_pid);

	vu_state(v, VHOST_USER_SET_VRING_NUM, QSZ, ack);
	vu_state(v, VHOST_USER_SET_VRING_BASE, 0, ack);
	memset(&m, 0, sizeof(m));
	m.payload.addr = (struct vhost_vring_addr) {
		.index = 0,
		.desc_user_addr = (uint64_t)(v->hva + RING_DESC),
		.avail_user_addr = (uint64_t)(v->hva + RING_AVAIL),
		.used_user_addr = (uint64_t)(v->hva + RING_USED),
	};
	vu_call(v, &m, VHOST_USER_SET_VRING_ADDR, sizeof(m.payload.addr), -1,
		ack);

	/* the guest's notify port is the backend's kick eventfd */
	v->kick = eventfd(0, EFD_CLOEXEC);
	v->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	TEST_ASSERT(v->kick >= 0 && v->call >= 0, "eventfd");
	ioev.fd = v->kick;
	vm_ioctl(v->vm, KVM_IOEVENTFD, &ioev);
	vu_u64(v, VHOST_USER_SET_VRING_KICK, 0, v->kick, ack);
	vu_u64(v, VHOST_USER_SET_VRING_CALL, 0, v->call, ack);
	if (features & want & BIT_ULL(VHOST_USER_PROTOCOL_FEATURES))
		vu_state(v, VHOST_USER_SET_VRING_ENABLE, 1, ack);
	say("vhost-user: vring 0: %d entries, enabled; kick: a KVM ioeventfd on port 0x%x,",
	    QSZ, NOTIFY_PORT);
	say("            call: an eventfd the VMM polls");
}

/* ----------------------------------------------------------------- VMM */

/* Run gmem-inspect on our pair, its output indented under the step. */
static void run_inspect(struct vmm *v)
{
	char pid[16], fd[16], line[256];
	int status, pipefd[2];
	pid_t child;
	FILE *out;

	if (!v->inspect)
		return;
	snprintf(pid, sizeof(pid), "%d", getpid());
	snprintf(fd, sizeof(fd), "%d", v->pfd);
	say("%s %s %s:", v->inspect, pid, fd);
	TEST_ASSERT(!pipe2(pipefd, O_CLOEXEC), "pipe");
	child = fork();
	TEST_ASSERT(child >= 0, "fork");
	if (!child) {
		dup2(pipefd[1], 1);
		execl(v->inspect, v->inspect, pid, fd, NULL);
		_exit(127);
	}
	close(pipefd[1]);
	out = fdopen(pipefd[0], "r");
	while (fgets(line, sizeof(line), out))
		printf("    %s", line);
	fclose(out);
	waitpid(child, &status, 0);
	check(WIFEXITED(status) && !WEXITSTATUS(status),
	      "gmem-inspect exit status %d", WEXITSTATUS(status));
}

static struct gmem_pair_stats stats(struct vmm *v)
{
	struct gmem_pair_extent ext;
	struct gmem_pair_query q = {
		.extents = (uint64_t)&ext, .nr_extents = 1,
	};

	TEST_ASSERT(!ioctl(v->pfd, GMEM_PAIR_QUERY, &q), "GMEM_PAIR_QUERY");
	return q.stats;
}

/* State of pair offset @off, from GMEM_PAIR_QUERY. */
static uint32_t state_at(struct vmm *v, uint64_t off, uint64_t *len)
{
	struct gmem_pair_extent ext;
	struct gmem_pair_query q = {
		.offset = off, .extents = (uint64_t)&ext, .nr_extents = 1,
	};

	TEST_ASSERT(!ioctl(v->pfd, GMEM_PAIR_QUERY, &q) && q.nr_extents == 1,
		    "GMEM_PAIR_QUERY");
	if (len)
		*len = ext.size;
	return ext.state;
}

/*
 * KVM_HC_MAP_GPA_RANGE: convert with KVM_SET_MEMORY_ATTRIBUTES.  That
 * reports only an errno: on a refusal ask the pair which page and why
 * (GMEM_PAIR_CONVERT on the private fd checks the same things; if the cause
 * went away meanwhile it converts, KVM's attributes included).
 */
static void handle_map_gpa_range(struct vmm *v, struct kvm_run *run)
{
	uint64_t gpa = run->hypercall.args[0];
	uint64_t size = run->hypercall.args[1] * PAGE_SIZE;
	bool priv = run->hypercall.args[2] & KVM_MAP_GPA_RANGE_ENCRYPTED;
	struct kvm_memory_attributes attr = {
		.address = gpa, .size = size,
		.attributes = priv ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
	};
	struct gmem_pair_convert c = {
		.offset = gpa - PAIR_GPA, .size = size,
		.direction = priv ? GMEM_PAIR_TO_PRIVATE : GMEM_PAIR_TO_SHARED,
		.flags = priv ? GMEM_PAIR_CONVERT_MIGRATE : 0,
	};
	double t0 = now();
	int r = 0;

	TEST_ASSERT(run->hypercall.nr == KVM_HC_MAP_GPA_RANGE,
		    "hypercall %llu", run->hypercall.nr);
	TEST_ASSERT(gpa >= PAIR_GPA && gpa + size <= PAIR_GPA + v->pair_bytes,
		    "MAP_GPA_RANGE outside the pair: 0x%lx", gpa);
	if (v->skip_convert)
		say("hypercall MAP_GPA_RANGE: -B skip-convert: NOT converting");
	else
		r = __vm_ioctl(v->vm, KVM_SET_MEMORY_ATTRIBUTES, &attr);
	v->convert_secs = now() - t0;
	v->convert_errno = r ? errno : 0;
	say("hypercall MAP_GPA_RANGE gpa 0x%lx, %lu KiB, to %s: SET_MEMORY_ATTRIBUTES %s%s (%.3fs)",
	    gpa, size >> 10, priv ? "private" : "shared",
	    v->skip_convert ? "SKIPPED" : r ? "failed: " : "ok",
	    r ? strerror(errno) : "", v->convert_secs);
	if (r && (errno == EBUSY || errno == EXDEV)) {
		if (!ioctl(v->pfd, GMEM_PAIR_CONVERT, &c)) {
			say("  GMEM_PAIR_CONVERT of the same range succeeded: the cause went away");
			v->convert_errno = 0;
		} else {
			v->convert_errno = errno;
			v->refused_offset = c.error_offset;
			v->refused_reason = c.error_reason;
			say("  refused: %s at pair offset 0x%llx (gpa 0x%llx, buf page %llu): %s",
			    strerror(errno), c.error_offset,
			    PAIR_GPA + c.error_offset,
			    (c.error_offset - BUF_OFF) / PAGE_SIZE,
			    reason_name(c.error_reason));
		}
	}
	run->hypercall.ret = -(uint64_t)v->convert_errno;
}

/* Wait for the backend's used-ring notification (the call eventfd). */
static void wait_call(struct vmm *v)
{
	struct pollfd p = { .fd = v->call, .events = POLLIN };
	uint64_t n;
	int status;

	for (int i = 0; i < 600; i++) {
		if (poll(&p, 1, 1000) == 1)
			break;
		TEST_ASSERT(waitpid(v->qsd_pid, &status, WNOHANG) == 0,
			    "qemu-storage-daemon died (log: %s)", v->log);
	}
	TEST_ASSERT(p.revents & POLLIN, "backend: no call in 600 s");
	TEST_ASSERT(read(v->call, &n, sizeof(n)) == sizeof(n), "read call");
	v->calls += n;
}

/* Run the guest until a stage other than SYNC_WAIT; returns the ucall. */
static uint64_t run_guest(struct vmm *v, struct ucall *uc)
{
	struct kvm_run *run = v->vcpu->run;

	for (;;) {
		vcpu_run(v->vcpu);
		if (run->exit_reason == KVM_EXIT_HYPERCALL) {
			handle_map_gpa_range(v, run);
			continue;
		}
		TEST_ASSERT(run->exit_reason == KVM_EXIT_IO, "exit reason %s",
			    exit_reason_str(run->exit_reason));
		switch (get_ucall(v->vcpu, uc)) {
		case UCALL_SYNC:
			if (uc->args[1] == SYNC_WAIT) {
				wait_call(v);
				continue;
			}
			return uc->args[1];
		case UCALL_DONE:
			return 0;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(*uc);
		default:
			TEST_FAIL("unexpected ucall");
		}
	}
}

static void expect_stage(struct vmm *v, struct ucall *uc, uint64_t stage)
{
	uint64_t got = run_guest(v, uc);

	TEST_ASSERT(got == stage, "guest at stage %lu, expected %lu", got, stage);
}

static void write_image(struct vmm *v, uint64_t buf_bytes, uint64_t disk_bytes)
{
	const size_t chunk = SZ_1M;
	uint64_t *b = malloc(chunk);
	int fd = open(v->img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	TEST_ASSERT(fd >= 0 && b, "create %s", v->img);
	for (uint64_t off = 0; off < disk_bytes; off += chunk) {
		for (size_t i = 0; i < chunk / 8; i++)
			b[i] = off < buf_bytes ? pattern(off / 8 + i) :
				0xeeeeeeeeeeeeeeeeULL;
		TEST_ASSERT(pwrite(fd, b, chunk, off) == chunk, "write image");
	}
	close(fd);
	free(b);
}

/* Words of the disk's result area that are not the digest of their page. */
static uint64_t check_result_on_disk(struct vmm *v, uint64_t buf_bytes,
				     uint64_t res_bytes)
{
	uint64_t nr_pages = buf_bytes / PAGE_SIZE, wrong = 0;
	uint64_t *res = malloc(res_bytes), page[WORDS_PER_PAGE];
	int fd = open(v->img, O_RDONLY | O_CLOEXEC);

	TEST_ASSERT(fd >= 0 && res, "open %s", v->img);
	TEST_ASSERT(pread(fd, res, res_bytes, buf_bytes) == res_bytes,
		    "read image");
	for (uint64_t p = 0; p < nr_pages; p++) {
		for (int k = 0; k < WORDS_PER_PAGE; k++)
			page[k] = pattern(p * WORDS_PER_PAGE + k);
		wrong += res[p] != page_digest(page, p);
	}
	close(fd);
	free(res);
	return wrong;
}

/* Print a log file of a child, indented; nothing if empty. */
static void print_log(const char *what, const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");
	bool first = true;

	while (f && fgets(line, sizeof(line), f)) {
		if (first)
			say("%s (%s):", what, path);
		first = false;
		printf("    %s", line);
	}
	if (f)
		fclose(f);
}

/* ------------------------------------- unmodified QEMU 7.2 on the pair */

/*
 * QEMU's qtest protocol on its stdin/stdout: port and memory accesses as
 * text, no guest code runs (booting firmware under nested TCG is too slow).
 */
struct qtest {
	FILE *in, *out;
	pid_t pid;
	char line[256];		/* the last answer */
};

static __printf(2, 3) uint64_t qt(struct qtest *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(q->in, fmt, ap);
	va_end(ap);
	fputc('\n', q->in);
	fflush(q->in);
	TEST_ASSERT(fgets(q->line, sizeof(q->line), q->out) &&
		    !strncmp(q->line, "OK", 2), "qtest: no OK from QEMU");
	return strtoull(q->line + 2, NULL, 16);
}

#define QT_DEV		4	/* the device's PCI slot (addr=0x4) */
#define QT_BAR_ADDR	0xfe000000UL
#define QT_RING		0x10000UL	/* in the first region: low RAM */

static uint64_t qt_cfg_read(struct qtest *q, int reg, char size)
{
	qt(q, "outl 0xcf8 0x%x", 0x80000000 | QT_DEV << 11 | (reg & ~3));
	return qt(q, "in%c 0x%x", size, 0xcfc + (reg & 3));
}

static void qt_cfg_write(struct qtest *q, int reg, char size, uint32_t val)
{
	qt(q, "outl 0xcf8 0x%x", 0x80000000 | QT_DEV << 11 | (reg & ~3));
	qt(q, "out%c 0x%x 0x%x", size, 0xcfc + (reg & 3), val);
}

/*
 * QEMU (unmodified) takes the pair's memfd as guest RAM and hands it to
 * qemu-storage-daemon: drive QEMU's vhost-user-blk-pci like a virtio driver
 * to DRIVER_OK (QEMU then starts vhost-user: SET_MEM_TABLE with its fd of
 * the memfd), and look at both processes' mappings.
 */
static void qemu_check(struct vmm *v, const char *qemu)
{
	char *mem, *chardev, *size, *log;
	int in[2], out[2], cap, bar = -1, status, logfd;
	uint64_t common = 0, mapped, feat;
	struct qtest q;

	printf("== QEMU: an unmodified QEMU with the pair's memfd as guest RAM, same backend\n");
	TEST_ASSERT(asprintf(&mem,
			     "memory-backend-file,id=mem,size=%luM,mem-path=/proc/%d/fd/%d,share=on",
			     v->pair_bytes >> 20, getpid(), v->sfd) > 0 &&
		    asprintf(&chardev, "socket,id=vu,path=%s", v->sock) > 0 &&
		    asprintf(&size, "%luM", v->pair_bytes >> 20) > 0 &&
		    asprintf(&log, "%s/qemu.log", v->workdir) > 0, "asprintf");
	say("%s -machine pc,memory-backend=mem -m %s -object %s -chardev %s", qemu,
	    size, mem, chardev);
	say("    -device vhost-user-blk-pci,chardev=vu,addr=0x4,disable-legacy=on -qtest stdio");
	TEST_ASSERT(!pipe2(in, O_CLOEXEC) && !pipe2(out, O_CLOEXEC), "pipe");
	alarm(300);	/* QEMU may not answer: SIGALRM ends us (and, by PDEATHSIG, it) */
	q.pid = fork();
	TEST_ASSERT(q.pid >= 0, "fork");
	if (!q.pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (logfd >= 0)
			dup2(logfd, 2);
		execlp(qemu, qemu, "-machine", "pc,memory-backend=mem", "-m", size,
		       "-object", mem, "-chardev", chardev, "-device",
		       "vhost-user-blk-pci,chardev=vu,addr=0x4,disable-legacy=on",
		       "-qtest", "stdio", "-qtest-log", "/dev/null", "-display",
		       "none", "-nodefaults", NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	q.in = fdopen(in[1], "w");
	q.out = fdopen(out[0], "r");

	feat = qt_cfg_read(&q, 0, 'l');	/* QEMU answers: it is up */
	mapped = mapped_pair_bytes(q.pid);
	check(mapped == v->pair_bytes,
	      "QEMU (pid %d) runs with the pair's memfd as guest RAM: %lu MiB of memfd:gmem_pair mapped",
	      q.pid, mapped >> 20);

	/*
	 * A virtio 1.0 driver's steps, up to DRIVER_OK.  First let QEMU handle
	 * the vhost-user connection event it queued at start (it fetches the
	 * backend's features again: a read meanwhile can miss VERSION_1).
	 */
	sleep(1);
	for (cap = qt_cfg_read(&q, PCI_CAPABILITY_LIST, 'b'); cap;
	     cap = qt_cfg_read(&q, cap + 1, 'b')) {
		if (qt_cfg_read(&q, cap, 'b') == PCI_CAP_ID_VNDR &&
		    qt_cfg_read(&q, cap + 3, 'b') == VIRTIO_PCI_CAP_COMMON_CFG) {
			bar = qt_cfg_read(&q, cap + 4, 'b');
			common = qt_cfg_read(&q, cap + 8, 'l');
		}
	}
	TEST_ASSERT(bar >= 0, "no virtio common config capability");
	say("qtest: PCI 00:04.0 %04lx:%04lx, virtio common config in BAR%d at 0x%lx",
	    feat & 0xffff, feat >> 16, bar, common);
	qt_cfg_write(&q, PCI_BASE_ADDRESS_0 + 4 * bar, 'l', QT_BAR_ADDR);
	qt_cfg_write(&q, PCI_BASE_ADDRESS_0 + 4 * bar + 4, 'l', 0);
	qt_cfg_write(&q, PCI_COMMAND, 'w', PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	common += QT_BAR_ADDR;
#define COMMON(f)	(common + offsetof(struct virtio_pci_common_cfg, f))
	qt(&q, "writeb 0x%lx 0", COMMON(device_status));
	qt(&q, "writeb 0x%lx 0x%x", COMMON(device_status),
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	qt(&q, "writel 0x%lx 1", COMMON(device_feature_select));
	feat = qt(&q, "readl 0x%lx", COMMON(device_feature)) << 32;
	TEST_ASSERT(feat & BIT_ULL(VIRTIO_F_VERSION_1),
		    "no VIRTIO_F_VERSION_1: QEMU said '%s'", q.line);
	qt(&q, "writel 0x%lx 1", COMMON(guest_feature_select));
	qt(&q, "writel 0x%lx 1", COMMON(guest_feature));
	qt(&q, "writeb 0x%lx 0x%x", COMMON(device_status),
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	   VIRTIO_CONFIG_S_FEATURES_OK);
	qt(&q, "writew 0x%lx 0", COMMON(queue_select));
	qt(&q, "writeq 0x%lx 0x%lx", COMMON(queue_desc_lo), QT_RING);
	qt(&q, "writeq 0x%lx 0x%lx", COMMON(queue_avail_lo), QT_RING + 0x1000);
	qt(&q, "writeq 0x%lx 0x%lx", COMMON(queue_used_lo), QT_RING + 0x2000);
	qt(&q, "writew 0x%lx 1", COMMON(queue_enable));
	qt(&q, "writeb 0x%lx 0x%x", COMMON(device_status),
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	status = qt(&q, "readb 0x%lx", COMMON(device_status));
	check(status == 0xf && !(status & VIRTIO_CONFIG_S_NEEDS_RESET),
	      "virtio device status 0x%x: DRIVER_OK, QEMU started vhost-user", status);
#undef COMMON
	mapped = mapped_pair_bytes(v->qsd_pid);
	check(mapped > 0,
	      "qemu-storage-daemon mapped the memfd QEMU sent (ADD_MEM_REG/SET_MEM_TABLE): %lu MiB",
	      mapped >> 20);
	/*
	 * Not checked: QEMU 7.2 may then stop and restart vhost-user, and
	 * the restart's ADD_MEM_REG can make this libvhost-user (7.2) panic
	 * ("remapping queue 0 for new memory region") and drop the
	 * connection.  The same happens with a plain file as guest RAM.
	 */
	sleep(2);
	say("2 s later: qemu-storage-daemon maps %lu MiB of memfd:gmem_pair (not checked)",
	    mapped_pair_bytes(v->qsd_pid) >> 20);
	alarm(0);
	fclose(q.in);
	kill(q.pid, SIGTERM);
	waitpid(q.pid, &status, 0);
	fclose(q.out);
	print_log("QEMU's stderr", log);
	unlink(log);
	free(log);
	free(mem);
	free(chardev);
	free(size);
}

static void cleanup(void)
{
	struct vmm *v = vmm_for_exit;
	int status;

	if (!v)
		return;
	vmm_for_exit = NULL;
	if (v->qsd_pid > 0) {
		kill(v->qsd_pid, SIGTERM);
		waitpid(v->qsd_pid, &status, 0);
		print_log("qemu-storage-daemon's output", v->log);
	}
	if (v->helper_pid > 0) {
		kill(v->helper_pid, SIGKILL);
		waitpid(v->helper_pid, &status, 0);
	}
	if (v->img)
		unlink(v->img);
	if (v->sock)
		unlink(v->sock);
	if (v->log && !failures)
		unlink(v->log);
	if (v->workdir && !failures)
		rmdir(v->workdir);
}

static void print_usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [-b buffer-MiB] [-m pair-MiB] [-w workdir] [-i gmem-inspect|none]\n"
		"          [-q qemu-storage-daemon] [-B skip-convert]\n"
		"       %s -Q qemu-system-x86_64 [-m pair-MiB]\n", argv0, argv0);
	exit(2);
}

int main(int argc, char *argv[])
{
	const struct vm_shape shape = {
		.mode = VM_MODE_DEFAULT, .type = KVM_X86_SW_PROTECTED_VM,
	};
	uint64_t buf_mib = 256, pair_mib = 512, buf_bytes, res_bytes, nr_pages;
	const char *qsd = "/usr/bin/qemu-storage-daemon", *qemu = NULL;
	double t_start, t, t_copy, t_guest_move, move_ioctl, t_read;
	struct gmem_pair_stats st;
	char *inspect_path = NULL;
	struct vmm v = { 0 };
	int sv[2], opt, plain;
	struct ucall uc;
	uint64_t val, len;
	uint32_t state;
	bool bus;
	void *plain_hva;
	void *area;

	while ((opt = getopt(argc, argv, "b:m:w:i:q:B:Q:h")) != -1) {
		switch (opt) {
		case 'b':
			buf_mib = strtoull(optarg, NULL, 0);
			break;
		case 'm':
			pair_mib = strtoull(optarg, NULL, 0);
			break;
		case 'w':
			v.workdir = strdup(optarg);
			break;
		case 'i':
			inspect_path = optarg;
			break;
		case 'q':
			qsd = optarg;
			break;
		case 'Q':
			qemu = optarg;
			buf_mib = 2;
			break;
		case 'B':
			if (strcmp(optarg, "skip-convert"))
				print_usage(argv[0]);
			v.skip_convert = true;
			break;
		default:
			print_usage(argv[0]);
		}
	}
	buf_bytes = buf_mib << 20;
	nr_pages = buf_bytes / PAGE_SIZE;
	res_bytes = nr_pages * 8;
	v.pair_bytes = pair_mib << 20;
	if (!buf_mib || buf_mib % 2 || buf_mib > 1024 ||
	    BUF_OFF + buf_bytes > v.pair_bytes) {
		fprintf(stderr, "buffer: 2 to 1024 MiB, even, inside the pair after 2 MiB\n");
		print_usage(argv[0]);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	t_start = now();

	/* the probe/pin helper: forked before the pair exists */
	TEST_ASSERT(!socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
		    "socketpair");
	v.helper_pid = fork();
	TEST_ASSERT(v.helper_pid >= 0, "fork");
	if (!v.helper_pid) {
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		helper_main(sv[1]);
	}
	close(sv[1]);
	v.helper = sv[0];
	vmm_for_exit = &v;
	atexit(cleanup);

	if (!inspect_path) {
		char *self = strdup(program_invocation_name);

		TEST_ASSERT(asprintf(&inspect_path, "%s/gmem-inspect",
				     dirname(self)) > 0, "asprintf");
	}
	if (strcmp(inspect_path, "none") && !access(inspect_path, X_OK))
		v.inspect = inspect_path;
	if (!v.workdir) {
		v.workdir = strdup("/tmp/gmem-vmm.XXXXXX");
		TEST_ASSERT(mkdtemp(v.workdir), "mkdtemp");
	}
	TEST_ASSERT(asprintf(&v.img, "%s/disk.img", v.workdir) > 0 &&
		    asprintf(&v.sock, "%s/vhost-user-blk.sock", v.workdir) > 0 &&
		    asprintf(&v.log, "%s/qemu-storage-daemon.log", v.workdir) > 0,
		    "asprintf");

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_GMEM_PAIR));
	printf("gmem-vmm: pair %lu MiB, buffer %lu MiB, result %lu KiB; times are TCG wall time\n",
	       pair_mib, buf_mib, res_bytes >> 10);
	printf("== setup: disk image, vhost-user backend, VM on a pair\n");
	t = now();
	write_image(&v, buf_bytes, buf_bytes + SZ_2M);
	say("disk image %s: %lu MiB pattern + 2 MiB result area (%.1f s)", v.img,
	    buf_mib, now() - t);
	start_backend(&v, qsd, !qemu);

	v.vm = __vm_create_shape_with_one_vcpu(shape, &v.vcpu, 64, guest_code);
	vm_enable_cap(v.vm, KVM_CAP_EXIT_HYPERCALL, BIT_ULL(KVM_HC_MAP_GPA_RANGE));
	v.pfd = vm_create_guest_memfd(v.vm, v.pair_bytes, GUEST_MEMFD_FLAG_PAIRED |
				      GUEST_MEMFD_FLAG_PAIR_SHARED);
	v.sfd = ioctl(v.pfd, GMEM_PAIR_GET_SHARED_FD, O_CLOEXEC);
	TEST_ASSERT(v.sfd >= 0, "GMEM_PAIR_GET_SHARED_FD");
	area = mmap(NULL, v.pair_bytes + SZ_2M, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	TEST_ASSERT(area != MAP_FAILED, "reserve");
	v.hva = (uint8_t *)(((unsigned long)area + SZ_2M - 1) & ~(SZ_2M - 1UL));
	TEST_ASSERT(mmap(v.hva, v.pair_bytes, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, v.sfd, 0) == v.hva,
		    "mmap memfd");
	vm_set_user_memory_region2(v.vm, PAIR_SLOT, KVM_MEM_GUEST_MEMFD,
				   PAIR_GPA, v.pair_bytes, v.hva, v.pfd, 0);
	virt_map_level(v.vm, PAIR_GPA, PAIR_GPA, v.pair_bytes, PG_LEVEL_2M);
	say("VM: KVM_X86_SW_PROTECTED_VM; pair: private fd %d, memfd %d, all shared at start;",
	    v.pfd, v.sfd);
	say("    memslot %d at gpa 0x%lx, memfd mapped MAP_SHARED at %p", PAIR_SLOT,
	    PAIR_GPA, v.hva);

	if (qemu) {
		qemu_check(&v, qemu);
		goto out;
	}

	/* a plain guest_memfd slot, private and populated: the copy's target */
	plain = vm_create_guest_memfd(v.vm, buf_bytes, 0);
	plain_hva = mmap(NULL, buf_bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	TEST_ASSERT(plain_hva != MAP_FAILED, "mmap");
	vm_set_user_memory_region2(v.vm, PLAIN_SLOT, KVM_MEM_GUEST_MEMFD,
				   PLAIN_GPA, buf_bytes, plain_hva, plain, 0);
	vm_set_memory_attributes(v.vm, PLAIN_GPA, buf_bytes,
				 KVM_MEMORY_ATTRIBUTE_PRIVATE);
	TEST_ASSERT(!fallocate(plain, FALLOC_FL_KEEP_SIZE, 0, buf_bytes),
		    "fallocate plain guest_memfd");
	virt_map_level(v.vm, PLAIN_GPA, PLAIN_GPA, buf_bytes, PG_LEVEL_2M);

	gp = (struct guest_params) {
		.buf_gpa = PAIR_GPA + BUF_OFF, .buf_bytes = buf_bytes,
		.res_bytes = res_bytes, .res_sector = buf_bytes / SECTOR,
		.copy_gpa = PLAIN_GPA,
	};
	sync_global_to_guest(v.vm, gp);

	/* the probe process and the backend get the memfd the same way */
	check(helper(&v, H_MEMFD, 0, v.pair_bytes, v.sfd).ret == 0,
	      "probe process (pid %d) got the memfd over SCM_RIGHTS and mapped it",
	      v.helper_pid);
	setup_vhost_user(&v);
	say("setup took %.1f s", now() - t_start);
	run_inspect(&v);

	printf("== step 1: the backend reads the disk into a %lu MiB shared guest buffer\n",
	       buf_mib);
	t = now();
	expect_stage(&v, &uc, SYNC_READ_DONE);
	t_read = now() - t;
	say("guest: %lu virtio-blk IN requests of %d MiB, kicks by ioeventfd, %lu calls (%.1f s)",
	    DIV_ROUND_UP(buf_bytes, REQ_BYTES), REQ_BYTES >> 20, v.calls,
	    t_read);
	check(uc.args[2] == 0, "all requests completed with VIRTIO_BLK_S_OK (%lu failed)",
	      uc.args[2]);
	check(uc.args[3] == 0,
	      "guest checked the %lu words of the buffer: %lu differ from the disk's pattern",
	      buf_bytes / 8, uc.args[3]);
	bus = probe_sigbus(&v, BUF_OFF, &val);
	check(!bus && val == pattern(0),
	      "probe process reads the pattern at the buffer's start (0x%lx)", val);
	st = stats(&v);
	check(st.private_pages == 0 && st.shared_pages >= nr_pages,
	      "pair: %llu shared pages, %llu private", st.shared_pages,
	      st.private_pages);
	run_inspect(&v);

	/* the copy-based hand-off (step 5), measured while the buffer is shared */
	expect_stage(&v, &uc, SYNC_COPY_START);
	t = now();
	expect_stage(&v, &uc, SYNC_COPY_END);
	t_copy = now() - t;
	expect_stage(&v, &uc, SYNC_COPY_DONE);

	printf("== step 2: the guest hands the buffer to private memory in place\n");
	expect_stage(&v, &uc, SYNC_PRIV_START);
	t = now();
	expect_stage(&v, &uc, SYNC_PRIV_DONE);
	t_guest_move = now() - t;
	move_ioctl = v.convert_secs;
	check(uc.args[2] == 0, "hypercall KVM_HC_MAP_GPA_RANGE(private) returned %ld",
	      (long)uc.args[2]);
	st = stats(&v);
	check(st.private_pages == nr_pages,
	      "pair: %llu private pages (want %lu), %llu pages moved to private so far, no copy",
	      st.private_pages, nr_pages, st.to_private_pages);
	state = state_at(&v, BUF_OFF, &len);
	check(state == GMEM_PAIR_STATE_PRIVATE && len == buf_bytes,
	      "GMEM_PAIR_QUERY: [0x%lx, +%lu MiB) private", (uint64_t)BUF_OFF,
	      len >> 20);
	check(probe_sigbus(&v, BUF_OFF, NULL) &&
	      probe_sigbus(&v, BUF_OFF + buf_bytes / 2, NULL) &&
	      probe_sigbus(&v, BUF_OFF + buf_bytes - 8, NULL),
	      "probe process takes SIGBUS at the buffer's first, middle and last word, and survives");
	check(!probe_sigbus(&v, RING_USED, NULL),
	      "probe process still reads the shared virtqueue page");
	expect_stage(&v, &uc, SYNC_PRIV_CHECKED);
	check(uc.args[2] == 0, "guest reads the pattern through the private file: %lu words differ",
	      uc.args[2]);
	run_inspect(&v);

	printf("== step 3: the guest computes on private memory, the backend writes the result\n");
	expect_stage(&v, &uc, SYNC_RESULT_WRITTEN);
	check(uc.args[2] == 0,
	      "hypercall KVM_HC_MAP_GPA_RANGE(shared) of the %lu KiB result returned %ld",
	      res_bytes >> 10, (long)uc.args[2]);
	check(uc.args[3] == 0, "virtio-blk OUT of the result: %lu requests failed",
	      uc.args[3]);
	check(check_result_on_disk(&v, buf_bytes, res_bytes) == 0,
	      "disk image at %lu MiB holds the guest's %lu page digests (recomputed by the VMM)",
	      buf_mib, nr_pages);
	check(!probe_sigbus(&v, BUF_OFF, NULL) &&
	      probe_sigbus(&v, BUF_OFF + res_bytes, NULL),
	      "probe process reads the shared result, takes SIGBUS just after it");
	run_inspect(&v);

	printf("== step 4: a to-private conversion refused while another process pins a page\n");
	expect_stage(&v, &uc, SYNC_PIN_PLEASE);
	val = helper(&v, H_PIN, BUF_OFF + PIN_PAGE * PAGE_SIZE, PAGE_SIZE, -1).ret;
	check(val == 0,
	      "probe process pins page %d of the result (pair offset 0x%lx) with an io_uring fixed buffer (%s)",
	      PIN_PAGE, (uint64_t)BUF_OFF + PIN_PAGE * PAGE_SIZE,
	      val ? strerror(-val) : "FOLL_PIN | FOLL_LONGTERM");
	v.refused_reason = 0;
	expect_stage(&v, &uc, SYNC_REFUSED);
	check((int64_t)uc.args[2] == -EBUSY,
	      "guest's hypercall returned %ld (-EBUSY expected)",
	      (long)uc.args[2]);
	check(v.refused_offset == BUF_OFF + PIN_PAGE * PAGE_SIZE &&
	      v.refused_reason == GMEM_PAIR_ERR_PINNED,
	      "VMM reported the pinned page: offset 0x%lx, reason %s",
	      v.refused_offset, reason_name(v.refused_reason));
	state = state_at(&v, BUF_OFF, &len);
	check(state == GMEM_PAIR_STATE_SHARED && len >= res_bytes,
	      "nothing changed: the result range is still shared");
	check(helper(&v, H_UNPIN, 0, 0, -1).ret == 0,
	      "probe process dropped the pin (IORING_UNREGISTER_BUFFERS)");
	expect_stage(&v, &uc, SYNC_RETRIED);
	check(uc.args[2] == 0, "guest's retry returned %ld", (long)uc.args[2]);
	check(uc.args[3] == 0, "guest reads its result back through the private file");
	st = stats(&v);
	check(st.private_pages == nr_pages && st.refused_pinned >= 1,
	      "pair: %llu private pages, %llu refusal(s) for pins counted (KVM's and the VMM's query)",
	      st.private_pages, st.refused_pinned);
	check(probe_sigbus(&v, BUF_OFF + PIN_PAGE * PAGE_SIZE, NULL),
	      "probe process takes SIGBUS at the formerly pinned page");
	run_inspect(&v);

	printf("== step 5: hand-off of the %lu MiB buffer to private memory\n", buf_mib);
	say("(TCG wall time, one run: compare ratios only)");
	say("move (pair):  KVM_SET_MEMORY_ATTRIBUTES %.3f s, seen by the guest %.3f s",
	    move_ioctl, t_guest_move);
	say("copy (plain guest_memfd slot, prefaulted; the guest copies 8 bytes at a time): %.3f s",
	    t_copy);
	say("copy/move: %.1fx", t_copy / t_guest_move);
	check(t_guest_move < t_copy, "the move is faster than the copy");
	TEST_ASSERT_EQ(run_guest(&v, &uc), 0);

out:
	printf("gmem-vmm: %d checks, %d failed; %.1f s (TCG)\n", checks, failures,
	       now() - t_start);
	printf("gmem-vmm: %s\n", failures ? "FAIL" : "PASS");
	cleanup();
	kvm_vm_free(v.vm);
	return failures ? 1 : 0;
}
