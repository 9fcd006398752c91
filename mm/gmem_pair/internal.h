/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _MM_GMEM_PAIR_INTERNAL_H
#define _MM_GMEM_PAIR_INTERNAL_H

#include <linux/gmem_pair.h>
#include <linux/refcount.h>
#include <linux/atomic.h>

/**
 * struct gmem_pair - a private file glued to a shmem memfd
 *
 * Lock order (outermost first):
 *   shared inode i_rwsem (conversions; shmem write, fallocate, truncate)
 *     private mapping invalidate_lock (KVM gets pfns under it for read)
 *       shared mapping invalidate_lock (shmem page lookups under it for read)
 *         folio lock
 *           i_pages xa_lock of either mapping
 *
 * @id: unique for the life of the system, never reused: tracepoints and
 *	GMEM_PAIR_QUERY (stats.id) name the pair by it.
 * @refs: one reference for the private file (dropped by
 *	gmem_pair_release_private()) and one for the shared inode (dropped
 *	when it is evicted).  The pair is freed with the last one.
 * @shared_file: the memfd; the private side holds this reference so that
 *	GMEM_PAIR_GET_SHARED_FD can hand out new descriptors.  Cleared by
 *	gmem_pair_release_private().
 * @shared_mapping: the memfd's page cache; valid while the pair lives (the
 *	shared inode holds a reference to the pair, not the reverse).
 * @private_mapping: the private file's page cache; NULL once the private
 *	file is gone.  Written under both invalidate_locks for write.
 * @nr_pages: size of both files in pages; fixed.
 * @private_bits: bit set = offset is private.  Written with both
 *	invalidate_locks held for write; read with either held (shared side:
 *	the shared mapping's, KVM side: the private mapping's).
 * @ops: callbacks of the private file's owner.
 * @stat_*: counters reported by GMEM_PAIR_QUERY.
 */
struct gmem_pair {
	u64 id;
	refcount_t refs;
	struct file *shared_file;
	struct address_space *shared_mapping;
	struct address_space *private_mapping;
	pgoff_t nr_pages;
	unsigned long *private_bits;
	const struct gmem_pair_client_ops *ops;

	atomic64_t stat_to_shared;
	atomic64_t stat_to_private;
	atomic64_t stat_conversions;
	atomic64_t stat_refused_pinned;
	atomic64_t stat_refused_movable;
	atomic64_t stat_migrated;
};

static inline struct inode *gmem_pair_shared_inode(struct gmem_pair *pair)
{
	return pair->shared_mapping->host;
}

/*
 * Largest pair: its state bitmap (one bit per page) and a conversion's
 * scratch bitmap stay within kvmalloc()'s INT_MAX bytes, i.e. just under
 * 64 TiB of 4K pages.
 */
#define GMEM_PAIR_MAX_PAGES	((loff_t)round_down(INT_MAX, sizeof(long)) * \
				 BITS_PER_BYTE)
#define GMEM_PAIR_MAX_SIZE	(GMEM_PAIR_MAX_PAGES << PAGE_SHIFT)

/* Extents one GMEM_PAIR_QUERY call returns at most. */
#define GMEM_PAIR_QUERY_MAX_EXTENTS	1024

void gmem_pair_put(struct gmem_pair *pair);
void gmem_pair_fill_stats(struct gmem_pair *pair, struct gmem_pair_stats *st);
int gmem_pair_query_extents(struct gmem_pair *pair, struct gmem_pair_query *q,
			    void __user *out);

#endif /* _MM_GMEM_PAIR_INTERNAL_H */
