// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair: GMEM_PAIR_QUERY, the state of a pair as extents.
 *
 * An extent is a run of offsets in one state: private (a page in the
 * private file), private hole, shared (a page or swap entry in the memfd),
 * shared hole.  Its end is the first offset where the state bitmap or the
 * presence of an entry in the page cache of the extent's side changes, so
 * a walk costs what the extents and the pages in them cost: holes are
 * skipped with xa_find(), runs of the bitmap with find_next_bit().  With
 * GMEM_PAIR_QUERY_DETAILS, each extent's folios are looked at once more,
 * a folio at a time, for what they are (resident, swapped, pinned,
 * movable, orders).
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rcupdate_wait.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>
#include "internal.h"

static u32 gmem_pair_state(struct gmem_pair *pair, pgoff_t index)
{
	if (test_bit(index, pair->private_bits))
		return xa_load(&pair->private_mapping->i_pages, index) ?
		       GMEM_PAIR_STATE_PRIVATE : GMEM_PAIR_STATE_PRIVATE_HOLE;
	/* A swap entry counts as a shared page. */
	return xa_load(&pair->shared_mapping->i_pages, index) ?
	       GMEM_PAIR_STATE_SHARED : GMEM_PAIR_STATE_SHARED_HOLE;
}

/* The first index in [@index, @end) that holds an entry; @end if none. */
static pgoff_t gmem_pair_next_entry(struct xarray *xa, pgoff_t index,
				    pgoff_t end)
{
	unsigned long found = index;

	if (xa_find(xa, &found, end - 1, XA_PRESENT))
		return found;
	return end;
}

/*
 * The first index in [@index, @end) without an entry; @end if none.  Walks
 * the entries, a large folio or swap entry at a time.
 */
static pgoff_t gmem_pair_next_hole(struct xarray *xa, pgoff_t index,
				   pgoff_t end)
{
	XA_STATE(xas, xa, index);
	pgoff_t next = index;
	void *entry;

	rcu_read_lock();
	xas_for_each(&xas, entry, end - 1) {
		unsigned long nr;

		if (xas_retry(&xas, entry))
			continue;
		if (xas.xa_index > next)
			break;
		nr = 1UL << xas_get_order(&xas);
		next = max(next, round_down(xas.xa_index, nr) + nr);
		if (need_resched()) {
			xas_pause(&xas);
			cond_resched_rcu();
		}
	}
	rcu_read_unlock();
	return min(next, end);
}

/* Count the folios and swap entries of [@start, @end) of @mapping into @d. */
static void gmem_pair_extent_detail(struct address_space *mapping,
				    pgoff_t start, pgoff_t end,
				    struct gmem_pair_extent_details *d)
{
	XA_STATE(xas, &mapping->i_pages, start);
	void *entry;

	rcu_read_lock();
	xas_for_each(&xas, entry, end - 1) {
		struct folio *folio = entry;
		unsigned long nr, pages;
		pgoff_t head;

		if (xas_retry(&xas, entry))
			continue;
		nr = 1UL << xas_get_order(&xas);
		head = round_down(xas.xa_index, nr);
		pages = min(end, head + nr) - max(start, head);
		if (xa_is_value(entry)) {
			d->swapped_pages += pages;
			continue;
		}
		if (!folio_try_get(folio))
			goto retry;
		if (unlikely(folio != xas_reload(&xas))) {
			folio_put(folio);
			goto retry;
		}
		d->resident_pages += pages;
		d->orders |= BIT(folio_order(folio));
		if (folio_maybe_dma_pinned(folio))
			d->pinned_pages += pages;
		if (!folio_is_longterm_pinnable(folio))
			d->movable_pages += pages;
		folio_put(folio);
		if (need_resched()) {
			xas_pause(&xas);
			cond_resched_rcu();
		}
		continue;
retry:
		xas_reset(&xas);
	}
	rcu_read_unlock();
}

/* The index after the extent of @state that starts at @index. */
static pgoff_t gmem_pair_extent_end(struct gmem_pair *pair, pgoff_t index,
				    u32 state)
{
	bool private = state == GMEM_PAIR_STATE_PRIVATE ||
		       state == GMEM_PAIR_STATE_PRIVATE_HOLE;
	struct address_space *mapping = private ? pair->private_mapping :
						  pair->shared_mapping;
	pgoff_t end;

	if (private)
		end = find_next_zero_bit(pair->private_bits, pair->nr_pages,
					 index);
	else
		end = find_next_bit(pair->private_bits, pair->nr_pages, index);
	if (state == GMEM_PAIR_STATE_PRIVATE ||
	    state == GMEM_PAIR_STATE_SHARED)
		return gmem_pair_next_hole(&mapping->i_pages, index, end);
	return gmem_pair_next_entry(&mapping->i_pages, index, end);
}

/**
 * gmem_pair_query_extents - GMEM_PAIR_QUERY
 * @pair: the pair; the caller holds the private file open
 * @q: the request; nr_extents and next_offset are updated
 * @out: where the extents go: struct gmem_pair_extent[], or
 *	struct gmem_pair_extent_details[] with GMEM_PAIR_QUERY_DETAILS
 *
 * Under both invalidate_locks for read: no conversion runs meanwhile
 * (faults, which take them for read too, may fill shared holes).  The
 * extents are copied out after the locks are dropped (the buffer may live
 * in the memfd itself).
 *
 * Return: 0, -EINVAL for a bad request, -ENOMEM or -EFAULT.
 */
int gmem_pair_query_extents(struct gmem_pair *pair, struct gmem_pair_query *q,
			    void __user *out)
{
	u32 max = min_t(u32, q->nr_extents, GMEM_PAIR_QUERY_MAX_EXTENTS);
	bool details = q->flags & GMEM_PAIR_QUERY_DETAILS;
	struct gmem_pair_extent_details *ext;
	pgoff_t index;
	u32 i, n = 0;
	int err = 0;

	if (q->flags & ~GMEM_PAIR_QUERY_DETAILS || !PAGE_ALIGNED(q->offset))
		return -EINVAL;
	if (q->offset > ((u64)pair->nr_pages << PAGE_SHIFT))
		return -EINVAL;
	ext = kvcalloc(max ?: 1, sizeof(*ext), GFP_KERNEL);
	if (!ext)
		return -ENOMEM;

	filemap_invalidate_lock_shared(pair->private_mapping);
	filemap_invalidate_lock_shared(pair->shared_mapping);
	index = q->offset >> PAGE_SHIFT;
	while (index < pair->nr_pages && n < max) {
		u32 state = gmem_pair_state(pair, index);
		pgoff_t first = index;

		/* a fault may fill a hole meanwhile: at least one page */
		index = max(gmem_pair_extent_end(pair, index, state), first + 1);
		ext[n].offset = (u64)first << PAGE_SHIFT;
		ext[n].size = (u64)(index - first) << PAGE_SHIFT;
		ext[n].state = state;
		if (details && state == GMEM_PAIR_STATE_PRIVATE)
			gmem_pair_extent_detail(pair->private_mapping, first,
						index, &ext[n]);
		else if (details && state == GMEM_PAIR_STATE_SHARED)
			gmem_pair_extent_detail(pair->shared_mapping, first,
						index, &ext[n]);
		n++;
		cond_resched();
	}
	gmem_pair_fill_stats(pair, &q->stats);
	filemap_invalidate_unlock_shared(pair->shared_mapping);
	filemap_invalidate_unlock_shared(pair->private_mapping);

	for (i = 0; i < n && !err; i++) {
		struct gmem_pair_extent e = {
			.offset = ext[i].offset,
			.size = ext[i].size,
			.state = ext[i].state,
		};

		if (details)
			err = copy_to_user(out + i * sizeof(ext[i]), &ext[i],
					   sizeof(ext[i]));
		else
			err = copy_to_user(out + i * sizeof(e), &e, sizeof(e));
		if (err)
			err = -EFAULT;
	}
	q->nr_extents = n;
	q->next_offset = (u64)index << PAGE_SHIFT;
	kvfree(ext);
	return err;
}
