// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair: move one folio between the private file and the shmem memfd.
 *
 * A move takes the folio out of one page cache and puts the same folio into
 * the other at the same index: the data is never touched.  The caller holds
 * the pair's locks for a conversion (see internal.h) and the folio lock; the
 * folio is unmapped (shared side) and nobody else holds a reference, which
 * gmem_pair_freeze() checks atomically.
 */
#include <linux/delay.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/swap.h>
#include "../internal.h"
#include "internal.h"
#include "move.h"

/*
 * References the mover expects on a locked folio it looked up and isolated
 * from the LRU: its own lookup reference, the isolation reference and one
 * per page for the page cache.
 */
static int gmem_pair_expected_refs(struct folio *folio)
{
	return folio_nr_pages(folio) + 2;
}

/**
 * gmem_pair_try_drained - try @attempt, draining LRU batches between tries
 * @folio: locked folio, referenced by the caller
 * @drained: set once lru_add_drain_all() ran for this conversion
 * @attempt: what to try: isolate, split
 *
 * A folio just added to the page cache, moved, migrated, activated or
 * unmapped may sit in a per-CPU batch that holds a reference (and keeps it
 * off the LRU): drain this CPU's batches, and once per conversion every
 * CPU's, before giving up.
 *
 * Return: true if @attempt succeeded.
 */
bool gmem_pair_try_drained(struct folio *folio, bool *drained,
			   bool (*attempt)(struct folio *folio))
{
	if (attempt(folio))
		return true;
	lru_add_drain();
	if (attempt(folio))
		return true;
	if (*drained)
		return false;
	lru_add_drain_all();
	*drained = true;
	return attempt(folio);
}

/* Take a locked folio off the LRU; true if isolated. */
bool gmem_pair_isolate(struct folio *folio, bool *drained)
{
	return gmem_pair_try_drained(folio, drained, folio_isolate_lru);
}

/**
 * gmem_pair_freeze - make sure nobody but the mover references the folio
 * @folio: locked, isolated folio
 * @drained: see gmem_pair_try_drained()
 *
 * Freezing the reference count makes speculative lookups (GUP-fast,
 * pfn walkers) fail until the count is unfrozen.  Brief references of
 * others are waited for, a few milliseconds at most.
 *
 * Return: true if the count is frozen at gmem_pair_expected_refs().
 */
bool gmem_pair_freeze(struct folio *folio, bool *drained)
{
	int expected = gmem_pair_expected_refs(folio);
	int tries;

	for (tries = 0; tries < GMEM_PAIR_FREEZE_TRIES; tries++) {
		if (folio_ref_freeze(folio, expected))
			return true;
		if (folio_maybe_dma_pinned(folio))
			return false;
		if (!*drained) {
			lru_add_drain_all();
			*drained = true;
			continue;
		}
		usleep_range(100, 200);
	}
	return false;
}

/*
 * The page cache references leave with the folio; the mover keeps its own
 * and the isolation reference.
 */
static void gmem_pair_unfreeze_uncached(struct folio *folio)
{
	folio_ref_unfreeze(folio, 2);
}

static void gmem_pair_remove_private(struct folio *folio)
{
	struct address_space *mapping = folio->mapping;

	xa_lock_irq(&mapping->i_pages);
	__filemap_remove_folio(folio, NULL);
	xa_unlock_irq(&mapping->i_pages);
}

/**
 * gmem_pair_move_to_shared - move a frozen folio from the private file
 * @pair: the pair
 * @folio: locked, isolated, frozen folio of the private file
 *
 * On success the folio is an ordinary shmem folio at the same index: dirty
 * (it has no copy anywhere else), swap-backed and back on an evictable LRU.
 * On failure it is back in the private file, unchanged.  Either way the
 * caller still holds its reference and the folio lock.
 *
 * Return: 0 or a negative errno (-ENOMEM, -ENOSPC).
 */
int gmem_pair_move_to_shared(struct gmem_pair *pair, struct folio *folio)
{
	struct address_space *private = folio->mapping;
	pgoff_t index = folio->index;
	int err;

	gmem_pair_remove_private(folio);
	gmem_pair_unfreeze_uncached(folio);

	folio_set_swapbacked(folio);
	err = shmem_insert_folio(gmem_pair_shared_inode(pair), folio, index);
	if (err) {
		folio_clear_swapbacked(folio);
		/* The slot was ours a moment ago under the same locks. */
		if (WARN_ON_ONCE(__filemap_add_folio(private, folio, index,
						     GFP_KERNEL | __GFP_NOFAIL,
						     NULL)))
			return err;
		folio_putback_lru(folio);
		return err;
	}
	folio_mark_dirty(folio);
	folio_putback_lru(folio);
	return 0;
}

/**
 * gmem_pair_move_to_private - move a frozen folio from the memfd
 * @pair: the pair
 * @folio: locked, isolated, frozen, unmapped shmem folio
 * @index: its index
 *
 * The folio leaves the shmem page cache (and its block accounting) and
 * enters the private file, which is unevictable: it lands on the
 * unevictable LRU and compaction skips it.  Its memcg charge moves with it.
 *
 * Return: 0 or a negative errno; on failure the folio is back in the memfd.
 */
int gmem_pair_move_to_private(struct gmem_pair *pair, struct folio *folio,
			      pgoff_t index)
{
	struct inode *shared = gmem_pair_shared_inode(pair);
	int err;

	shmem_remove_folio(shared, folio);
	gmem_pair_unfreeze_uncached(folio);

	folio_clear_swapbacked(folio);
	err = __filemap_add_folio(pair->private_mapping, folio, index,
				  GFP_KERNEL, NULL);
	if (err) {
		folio_set_swapbacked(folio);
		if (WARN_ON_ONCE(shmem_insert_folio(shared, folio, index)))
			return err;
		folio_mark_dirty(folio);
		folio_putback_lru(folio);
		return err;
	}
	folio_putback_lru(folio);
	return 0;
}
