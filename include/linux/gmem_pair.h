/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gmem_pair: a private file (guest_memfd) glued to a shmem memfd.
 *
 * The pair owns the per-offset state (private or shared) and moves folios
 * between the two page caches.  The private file's owner (KVM's
 * guest_memfd) is a client: it hands its address_space to the pair and
 * registers callbacks that the pair calls before folios leave it.
 */
#ifndef _LINUX_GMEM_PAIR_H
#define _LINUX_GMEM_PAIR_H

#include <linux/types.h>
#include <linux/fs.h>
#include <uapi/linux/gmem_pair.h>

struct gmem_pair;

/**
 * struct gmem_pair_client_ops - callbacks of the private file's owner
 * @invalidate_begin: folios in [@start, @end) are about to leave the private
 *	file: drop every mapping of them (KVM: zap private SPTEs).
 * @invalidate_end: the move of [@start, @end) is done.
 *
 * Both run with the private mapping's invalidate_lock held for write.
 */
struct gmem_pair_client_ops {
	void (*invalidate_begin)(struct address_space *private_mapping,
				 pgoff_t start, pgoff_t end);
	void (*invalidate_end)(struct address_space *private_mapping,
			       pgoff_t start, pgoff_t end);
};

#ifdef CONFIG_GMEM_PAIR
struct gmem_pair *gmem_pair_create(struct address_space *private_mapping,
				   loff_t size, u64 flags,
				   const struct gmem_pair_client_ops *ops);
void gmem_pair_release_private(struct gmem_pair *pair);
long gmem_pair_ioctl(struct gmem_pair *pair, unsigned int cmd,
		     unsigned long arg);
int gmem_pair_check_convert(struct gmem_pair *pair,
			    const struct gmem_pair_convert *args);
long gmem_pair_convert(struct gmem_pair *pair, struct gmem_pair_convert *args);
long gmem_pair_convert_report(struct gmem_pair_convert __user *uargs,
			      const struct gmem_pair_convert *args, long ret);
bool gmem_pair_range_private(struct gmem_pair *pair, pgoff_t start,
			     pgoff_t end);
pgoff_t gmem_pair_state_run(struct gmem_pair *pair, pgoff_t index,
			    pgoff_t end, bool *private);
int gmem_pair_split_edges(struct gmem_pair *pair, pgoff_t start, pgoff_t end);
bool gmem_pair_maps_shared(struct gmem_pair *pair, unsigned long addr,
			   u64 offset, u64 size);

/* shmem side, called from mm/shmem.c for paired memfds only */
int gmem_pair_shared_access_begin(struct gmem_pair *pair, pgoff_t start,
				  pgoff_t end, bool fault);
void gmem_pair_shared_relock(struct gmem_pair *pair);
void gmem_pair_shared_access_end(struct gmem_pair *pair);
void gmem_pair_shared_evict(struct gmem_pair *pair);
unsigned long gmem_pair_shared_orders(struct gmem_pair *pair, pgoff_t index,
				      unsigned long orders);
#else
static inline struct gmem_pair *
gmem_pair_create(struct address_space *private_mapping, loff_t size,
		 u64 flags, const struct gmem_pair_client_ops *ops)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void gmem_pair_release_private(struct gmem_pair *pair) { }

static inline long gmem_pair_ioctl(struct gmem_pair *pair, unsigned int cmd,
				   unsigned long arg)
{
	return -ENOTTY;
}

static inline int gmem_pair_check_convert(struct gmem_pair *pair,
					  const struct gmem_pair_convert *args)
{
	return -EOPNOTSUPP;
}

static inline long gmem_pair_convert(struct gmem_pair *pair,
				     struct gmem_pair_convert *args)
{
	return -EOPNOTSUPP;
}

static inline long
gmem_pair_convert_report(struct gmem_pair_convert __user *uargs,
			 const struct gmem_pair_convert *args, long ret)
{
	return ret;
}

static inline bool gmem_pair_range_private(struct gmem_pair *pair,
					   pgoff_t start, pgoff_t end)
{
	return true;
}

static inline pgoff_t gmem_pair_state_run(struct gmem_pair *pair,
					  pgoff_t index, pgoff_t end,
					  bool *private)
{
	*private = true;
	return end;
}

static inline int gmem_pair_split_edges(struct gmem_pair *pair,
					pgoff_t start, pgoff_t end)
{
	return 0;
}

static inline bool gmem_pair_maps_shared(struct gmem_pair *pair,
					 unsigned long addr, u64 offset,
					 u64 size)
{
	return false;
}

static inline int gmem_pair_shared_access_begin(struct gmem_pair *pair,
						pgoff_t start, pgoff_t end,
						bool fault)
{
	return 0;
}

static inline void gmem_pair_shared_relock(struct gmem_pair *pair) { }

static inline void gmem_pair_shared_access_end(struct gmem_pair *pair) { }
static inline void gmem_pair_shared_evict(struct gmem_pair *pair) { }

static inline unsigned long gmem_pair_shared_orders(struct gmem_pair *pair,
						    pgoff_t index,
						    unsigned long orders)
{
	return orders;
}
#endif /* CONFIG_GMEM_PAIR */

#endif /* _LINUX_GMEM_PAIR_H */
