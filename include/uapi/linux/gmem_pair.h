/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * gmem_pair: confidential-VM guest memory as a private file glued to a
 * shmem memfd.  See Documentation/mm/gmem_pair.rst.
 */
#ifndef _UAPI_LINUX_GMEM_PAIR_H
#define _UAPI_LINUX_GMEM_PAIR_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * Flags of struct kvm_create_guest_memfd.  GUEST_MEMFD_FLAG_PAIRED makes the
 * new guest_memfd the private half of a pair; GUEST_MEMFD_FLAG_PAIR_SHARED
 * starts every offset shared instead of private.
 */
#define GUEST_MEMFD_FLAG_PAIRED		_BITULL(16)
#define GUEST_MEMFD_FLAG_PAIR_SHARED	_BITULL(17)

/*
 * KVM_CHECK_EXTENSION: KVM creates pairs, and KVM_SET_MEMORY_ATTRIBUTES on a
 * paired memslot converts the pair.  Out of tree: a number far from
 * upstream's.
 */
#define KVM_CAP_GMEM_PAIR		1024

#define GMEM_PAIR_IOC_MAGIC		0xB9

/*
 * GMEM_PAIR_GET_SHARED_FD: returns a new file descriptor of the pair's shared
 * memfd.  The argument is 0 or O_CLOEXEC.
 */
#define GMEM_PAIR_GET_SHARED_FD		_IO(GMEM_PAIR_IOC_MAGIC, 0x00)

/* struct gmem_pair_convert.direction */
#define GMEM_PAIR_TO_SHARED		0
#define GMEM_PAIR_TO_PRIVATE		1

/* struct gmem_pair_convert.flags */
/*
 * Drop the contents of the offsets that change state: they read as zeros
 * afterwards.  Offsets already in the requested state keep theirs.
 */
#define GMEM_PAIR_CONVERT_DISCARD	_BITUL(0)
/*
 * To-private: copy ZONE_MOVABLE/CMA pages to unmovable memory instead of
 * refusing them.  A page that does not migrate is refused for what kept it:
 * a pin or other references (EBUSY), no memory for the copy (ENOMEM); EXDEV
 * only if nothing in sight did.
 */
#define GMEM_PAIR_CONVERT_MIGRATE	_BITUL(1)

/* struct gmem_pair_convert.error_reason */
#define GMEM_PAIR_ERR_NONE		0
#define GMEM_PAIR_ERR_PINNED		1	/* FOLL_PIN pin: EBUSY */
#define GMEM_PAIR_ERR_REFERENCED	2	/* extra references: EBUSY */
#define GMEM_PAIR_ERR_MAPPED		3	/* still mapped after unmap: EBUSY */
#define GMEM_PAIR_ERR_SPLIT		4	/* large folio did not split: EBUSY */
#define GMEM_PAIR_ERR_MOVABLE		5	/* ZONE_MOVABLE or CMA, not migrated: EXDEV */
#define GMEM_PAIR_ERR_NOMEM		6	/* ENOMEM / ENOSPC */
#define GMEM_PAIR_ERR_IO		7	/* swap read error: EIO */

/*
 * GMEM_PAIR_CONVERT: move [offset, offset + size) to the other file.
 * All or nothing: on error nothing in the range changed, error_offset is the
 * first offending byte offset and error_reason says why (both are written
 * back on success too, as 0).  Offsets already in the requested state are
 * left alone.
 */
struct gmem_pair_convert {
	__u64 offset;
	__u64 size;
	__u32 direction;
	__u32 flags;
	__u64 error_offset;	/* out */
	__u32 error_reason;	/* out */
	__u32 pad;
	__u64 reserved[4];
};

#define GMEM_PAIR_CONVERT		_IOWR(GMEM_PAIR_IOC_MAGIC, 0x01, \
					      struct gmem_pair_convert)

/* struct gmem_pair_extent.state */
#define GMEM_PAIR_STATE_SHARED		0	/* in the memfd (resident or swapped) */
#define GMEM_PAIR_STATE_SHARED_HOLE	1	/* shared, no page yet */
#define GMEM_PAIR_STATE_PRIVATE		2	/* in the private file */
#define GMEM_PAIR_STATE_PRIVATE_HOLE	3	/* private, no page: memfd faults SIGBUS */

struct gmem_pair_extent {
	__u64 offset;
	__u64 size;
	__u32 state;
	__u32 pad;
};

/*
 * With GMEM_PAIR_QUERY_DETAILS, each extent also says what its pages are.
 * It starts as struct gmem_pair_extent does.  Counts are pages of the
 * extent (a large folio that starts before it counts only its pages in
 * it); holes have none.
 */
struct gmem_pair_extent_details {
	__u64 offset;
	__u64 size;
	__u32 state;
	__u32 orders;		/* bit n: the extent holds a folio of order n */
	__u64 resident_pages;	/* in the memfd's or the private file's page cache */
	__u64 swapped_pages;	/* memfd pages on swap */
	__u64 pinned_pages;	/* in folios that may be DMA-pinned (FOLL_PIN) */
	__u64 movable_pages;	/* on ZONE_MOVABLE or CMA */
	__u64 reserved[4];	/* 0 */
};

struct gmem_pair_stats {
	__u64 size;			/* bytes */
	__u64 private_pages;		/* resident in the private file */
	__u64 shared_pages;		/* resident in the memfd */
	__u64 swapped_pages;		/* memfd pages on swap */
	__u64 to_shared_pages;		/* pages moved private -> shared */
	__u64 to_private_pages;		/* pages moved shared -> private */
	__u64 conversions;		/* successful GMEM_PAIR_CONVERT calls */
	__u64 refused_pinned;		/* refusals: pinned, referenced, mapped */
	__u64 refused_movable;		/* refusals: ZONE_MOVABLE / CMA */
	__u64 migrated_pages;		/* copied off ZONE_MOVABLE / CMA */
	/* the pair's id, as in tracepoints (0: a kernel without ids) */
	__u64 id;
	__u64 reserved[5];
};

/* struct gmem_pair_query.flags */
#define GMEM_PAIR_QUERY_DETAILS		_BITUL(0)	/* struct gmem_pair_extent_details[] */

/*
 * GMEM_PAIR_QUERY: fill up to nr_extents extents starting at offset (the
 * first extent starts there), set nr_extents to the number filled and
 * next_offset to where the next call should start (size at the end).
 * A kernel without GMEM_PAIR_QUERY_DETAILS fails it with EINVAL.
 */
struct gmem_pair_query {
	__u64 offset;
	__u64 extents;		/* user pointer to struct gmem_pair_extent[], or
				 * gmem_pair_extent_details[] with _DETAILS
				 */
	__u32 nr_extents;	/* in: capacity, out: filled */
	__u32 flags;		/* 0 or GMEM_PAIR_QUERY_DETAILS */
	__u64 next_offset;	/* out */
	struct gmem_pair_stats stats;	/* out */
};

#define GMEM_PAIR_QUERY			_IOWR(GMEM_PAIR_IOC_MAGIC, 0x02, \
					      struct gmem_pair_query)

#endif /* _UAPI_LINUX_GMEM_PAIR_H */
