// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair: move one folio between the private file and the shmem memfd.
 *
 * A move takes the folio out of one page cache and puts the same folio into
 * the other at the same index: the data is never touched.  The caller holds
 * the pair's locks for a conversion (see internal.h), the folio lock, a
 * reference and the LRU isolation; the folio is unmapped (shared side) and
 * its reference count is frozen (gmem_pair_freeze()), so nobody else can
 * reach it.  A move cannot fail: the memfd's blocks are charged before
 * (shmem_charge_inserts()) and xarray nodes are allocated __GFP_NOFAIL.
 */
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/swap.h>
#include <linux/vmstat.h>
#include "../internal.h"
#include "internal.h"
#include "move.h"

/*
 * References the mover expects on a locked folio it looked up and isolated
 * from the LRU: its own lookup reference, the isolation reference and one
 * per page for the page cache.
 */
int gmem_pair_expected_refs(struct folio *folio)
{
	return folio_nr_pages(folio) + 2;
}

/**
 * gmem_pair_try_local - try @attempt, draining this CPU's LRU batches once
 * @folio: locked folio, referenced by the caller
 * @attempt: what to try: isolate, split
 *
 * A folio just added to the page cache, moved, migrated, activated or
 * unmapped may sit in a per-CPU batch that holds a reference (and keeps it
 * off the LRU).  This CPU's batches are cheap to drain; every CPU's
 * (lru_add_drain_all()) waits for work on each of them, which a conversion
 * does without its locks (convert.c).
 *
 * Return: true if @attempt succeeded.
 */
bool gmem_pair_try_local(struct folio *folio,
			 bool (*attempt)(struct folio *folio))
{
	if (attempt(folio))
		return true;
	lru_add_drain();
	return attempt(folio);
}

/**
 * gmem_pair_try_drained - as gmem_pair_try_local(), then every CPU's batches
 * @folio: locked folio, referenced by the caller
 * @drained: set once lru_add_drain_all() ran for this caller
 * @attempt: what to try
 *
 * For callers that hold their locks anyway (a punch of the private file).
 *
 * Return: true if @attempt succeeded.
 */
bool gmem_pair_try_drained(struct folio *folio, bool *drained,
			   bool (*attempt)(struct folio *folio))
{
	if (gmem_pair_try_local(folio, attempt))
		return true;
	if (*drained)
		return false;
	lru_add_drain_all();
	*drained = true;
	return attempt(folio);
}

/* NR_ISOLATED_* counts the folio under the LRU list it was taken from. */
static void gmem_pair_mod_isolated(struct folio *folio, long sign)
{
	node_stat_mod_folio(folio, NR_ISOLATED_ANON + folio_is_file_lru(folio),
			    sign * folio_nr_pages(folio));
}

/**
 * gmem_pair_isolate - take a folio off the LRU
 * @folio: folio referenced by the caller
 *
 * Return: true if isolated; gmem_pair_putback() undoes it.
 */
bool gmem_pair_isolate(struct folio *folio)
{
	if (!gmem_pair_try_local(folio, folio_isolate_lru))
		return false;
	gmem_pair_mod_isolated(folio, 1);
	return true;
}

/* Undo gmem_pair_isolate() of a folio that did not move. */
void gmem_pair_putback(struct folio *folio)
{
	gmem_pair_mod_isolated(folio, -1);
	folio_putback_lru(folio);
}

/**
 * gmem_pair_make_uptodate - give a never-written folio defined contents
 * @folio: locked folio about to change file
 *
 * A folio that is not uptodate holds whatever its memory held before: a
 * shmem folio that was fallocated but never written, or a private folio
 * that KVM never prepared.  Each side would zero it at its first use; the
 * other side may not (KVM takes an uptodate private folio as prepared, and
 * memfd_pin_folios() pins shmem folios as they are).  Zero it before it
 * moves, as its first use would.
 */
void gmem_pair_make_uptodate(struct folio *folio)
{
	if (folio_test_uptodate(folio))
		return;
	folio_zero_range(folio, 0, folio_size(folio));
	folio_mark_uptodate(folio);
}

/* The page cache references leave with the folio. */
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

static void gmem_pair_add_private(struct address_space *private,
				  struct folio *folio, pgoff_t index)
{
	/* A shared offset is a hole of the private file (our locks keep it). */
	WARN_ON_ONCE(__filemap_add_folio(private, folio, index,
					 GFP_KERNEL | __GFP_NOFAIL, NULL));
}

/**
 * gmem_pair_move_to_shared - move a frozen folio from the private file
 * @pair: the pair
 * @folio: locked, isolated, frozen, uptodate folio of the private file
 *
 * The memfd's blocks for it were charged with shmem_charge_inserts().
 * Afterwards the folio is an ordinary shmem folio at the same index: dirty
 * (it has no copy anywhere else), swap-backed and on an evictable LRU.  The
 * caller still holds its reference and the folio lock.
 */
void gmem_pair_move_to_shared(struct gmem_pair *pair, struct folio *folio)
{
	struct address_space *private = folio->mapping;
	pgoff_t index = folio->index;

	gmem_pair_mod_isolated(folio, -1);
	gmem_pair_remove_private(folio);
	gmem_pair_unfreeze_uncached(folio);

	folio_set_swapbacked(folio);
	if (WARN_ON_ONCE(shmem_insert_folio(gmem_pair_shared_inode(pair),
					    folio, index))) {
		/* Only a page at a private offset of the memfd gets here. */
		folio_clear_swapbacked(folio);
		gmem_pair_add_private(private, folio, index);
		folio_putback_lru(folio);
		return;
	}
	folio_mark_dirty(folio);
	folio_putback_lru(folio);
}

/**
 * gmem_pair_move_to_private - move a frozen folio from the memfd
 * @pair: the pair
 * @folio: locked, isolated, frozen, unmapped, uptodate shmem folio
 *
 * The folio leaves the shmem page cache (and its block accounting) and
 * enters the private file, which is unevictable: it lands on the
 * unevictable LRU and compaction skips it.  Its memcg charge moves with it.
 */
void gmem_pair_move_to_private(struct gmem_pair *pair, struct folio *folio)
{
	pgoff_t index = folio->index;

	gmem_pair_mod_isolated(folio, -1);
	shmem_remove_folio(gmem_pair_shared_inode(pair), folio);
	gmem_pair_unfreeze_uncached(folio);

	folio_clear_swapbacked(folio);
	gmem_pair_add_private(pair->private_mapping, folio, index);
	folio_putback_lru(folio);
}
