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
 *
 * Folios move in batches (a folio_batch, ascending index): per batch, one
 * lock round trip for each of the two i_pages locks and the lruvec lock,
 * and page cache, NR_ISOLATED statistics summed per lruvec or node.  That
 * per-folio work, not the data, is what a move costs.
 */
#include <linux/dax.h>
#include <linux/delay.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/mm_inline.h>
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
static enum node_stat_item gmem_pair_isolated_item(struct folio *folio)
{
	return NR_ISOLATED_ANON + folio_is_file_lru(folio);
}

static void gmem_pair_mod_isolated(struct folio *folio, long sign)
{
	node_stat_mod_folio(folio, gmem_pair_isolated_item(folio),
			    sign * folio_nr_pages(folio));
}

/* As gmem_pair_mod_isolated() for @nr folios, one update per node run. */
static void gmem_pair_mod_isolated_many(struct folio **folios,
					unsigned int nr, long sign)
{
	enum node_stat_item item = NR_ISOLATED_ANON;
	struct pglist_data *pgdat = NULL;
	long pages = 0;
	unsigned int i;

	for (i = 0; i < nr; i++) {
		struct folio *folio = folios[i];

		if (folio_pgdat(folio) != pgdat ||
		    gmem_pair_isolated_item(folio) != item) {
			if (pages)
				mod_node_page_state(pgdat, item, pages);
			pgdat = folio_pgdat(folio);
			item = gmem_pair_isolated_item(folio);
			pages = 0;
		}
		pages += sign * folio_nr_pages(folio);
	}
	if (pages)
		mod_node_page_state(pgdat, item, pages);
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

/**
 * gmem_pair_isolate_batch - take folios off the LRU, as many as possible
 * @fbatch: folios referenced by the caller
 * @first: the first of @fbatch to isolate
 * @list: where the isolated folios go (linked by ->lru), in order
 *
 * As folio_isolate_lru() for each folio from @first on, taking the lruvec
 * lock once per run of folios that share it; stops at the first folio that
 * is not on the LRU (gmem_pair_isolate() drains and tries it again).
 *
 * Return: the index in @fbatch of that folio, or the count if none.
 */
unsigned int gmem_pair_isolate_batch(struct folio_batch *fbatch,
				     unsigned int first, struct list_head *list)
{
	struct lruvec *lruvec = NULL;
	unsigned int i;

	for (i = first; i < folio_batch_count(fbatch); i++) {
		struct folio *folio = fbatch->folios[i];

		if (!folio_test_clear_lru(folio))
			break;
		folio_get(folio);
		lruvec = folio_lruvec_relock_irq(folio, lruvec);
		lruvec_del_folio(lruvec, folio);
		list_add_tail(&folio->lru, list);
	}
	if (lruvec)
		unlock_page_lruvec_irq(lruvec);
	gmem_pair_mod_isolated_many(fbatch->folios + first, i - first, 1);
	return i;
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

/*
 * Page cache statistics of the private file (NR_FILE_PAGES, NR_FILE_THPS),
 * summed per lruvec under its i_pages lock (interrupts off).
 */
struct gmem_pair_cache_stats {
	struct lruvec *lruvec;
	long pages;
	long thps;
};

static void gmem_pair_cache_stats_flush(struct gmem_pair_cache_stats *st)
{
	if (!st->lruvec)
		return;
	__mod_lruvec_state(st->lruvec, NR_FILE_PAGES, st->pages);
	if (st->thps)
		__mod_lruvec_state(st->lruvec, NR_FILE_THPS, st->thps);
	st->pages = 0;
	st->thps = 0;
}

/* @folio is locked and off the LRU: its memcg and node are stable. */
static void gmem_pair_cache_stats_add(struct gmem_pair_cache_stats *st,
				      struct folio *folio, long sign)
{
	struct lruvec *lruvec = folio_lruvec(folio);
	long nr = sign * folio_nr_pages(folio);

	if (lruvec != st->lruvec) {
		gmem_pair_cache_stats_flush(st);
		st->lruvec = lruvec;
	}
	st->pages += nr;
	if (folio_test_pmd_mappable(folio))
		st->thps += nr;
}

/*
 * Take frozen folios out of the private file: what __filemap_remove_folio()
 * does for each (no shadow entries: the file is unevictable), in one
 * i_pages lock round trip.
 */
static void gmem_pair_remove_private(struct address_space *mapping,
				     struct folio_batch *fbatch)
{
	struct gmem_pair_cache_stats st = { };
	XA_STATE(xas, &mapping->i_pages, 0);
	pgoff_t next = ULONG_MAX;
	unsigned int i;

	mapping_set_update(&xas, mapping);
	xas_lock_irq(&xas);
	for (i = 0; i < folio_batch_count(fbatch); i++) {
		struct folio *folio = fbatch->folios[i];

		VM_WARN_ON_ONCE_FOLIO(folio->mapping != mapping, folio);
		xas_seek_folio(&xas, folio, &next);
		xas_store(&xas, NULL);	/* clears the marks too */
		folio->mapping = NULL;
		mapping->nrpages -= folio_nr_pages(folio);
		gmem_pair_cache_stats_add(&st, folio, -1);
	}
	gmem_pair_cache_stats_flush(&st);
	xas_unlock_irq(&xas);
}

/*
 * Put locked, unfrozen folios (->index set) into the private file, as
 * __filemap_add_folio() does for each, in one i_pages lock round trip;
 * xarray nodes are allocated __GFP_NOFAIL.  A shared offset is a hole of
 * the private file (the conversion's locks keep it one).
 */
static void gmem_pair_add_private(struct address_space *mapping,
				  struct folio_batch *fbatch)
{
	struct gmem_pair_cache_stats st = { };
	XA_STATE(xas, &mapping->i_pages, 0);
	unsigned int i = 0;
	pgoff_t next;

	mapping_set_update(&xas, mapping);
	do {
		next = ULONG_MAX;
		xas_lock_irq(&xas);
		for (; i < folio_batch_count(fbatch); i++) {
			struct folio *folio = fbatch->folios[i];

			if (WARN_ON_ONCE(xas_seek_folio(&xas, folio, &next) ||
					 (folio_test_large(folio) &&
					  xas_find_conflict(&xas))))
				continue;
			folio->mapping = mapping;
			xas_store(&xas, folio);
			if (xas_error(&xas)) {
				folio->mapping = NULL;
				break;
			}
			folio_ref_add(folio, folio_nr_pages(folio));
			mapping->nrpages += folio_nr_pages(folio);
			gmem_pair_cache_stats_add(&st, folio, 1);
		}
		gmem_pair_cache_stats_flush(&st);
		xas_unlock_irq(&xas);
	} while (xas_nomem(&xas, GFP_KERNEL | __GFP_NOFAIL));
}

/*
 * To the memfd: an ordinary shmem folio at the same index, dirty (it has
 * no copy anywhere else), swap-backed, on an evictable LRU.  Return: pages
 * inserted, for shmem_recalc_moved().
 */
static long gmem_pair_move_batch_to_shared(struct gmem_pair *pair,
					   struct folio_batch *fbatch)
{
	struct address_space *private = pair->private_mapping;
	struct folio_batch rest;
	unsigned int i, n;
	long pages = 0;

	gmem_pair_remove_private(private, fbatch);
	for (i = 0; i < folio_batch_count(fbatch); i++) {
		gmem_pair_unfreeze_uncached(fbatch->folios[i]);
		folio_set_swapbacked(fbatch->folios[i]);
	}
	n = shmem_insert_folios(gmem_pair_shared_inode(pair), fbatch);
	for (i = 0; i < n; i++) {
		folio_mark_dirty(fbatch->folios[i]);
		pages += folio_nr_pages(fbatch->folios[i]);
	}
	/* Only a page at a private offset of the memfd gets here. */
	if (WARN_ON_ONCE(n < folio_batch_count(fbatch))) {
		folio_batch_init(&rest);
		for (i = n; i < folio_batch_count(fbatch); i++) {
			folio_clear_swapbacked(fbatch->folios[i]);
			folio_batch_add(&rest, fbatch->folios[i]);
		}
		gmem_pair_add_private(private, &rest);
	}
	return pages;
}

/*
 * To the private file, which is unevictable: the folios land on the
 * unevictable LRU and compaction skips them.  Memcg charges move with them.
 */
static void gmem_pair_move_batch_to_private(struct gmem_pair *pair,
					    struct folio_batch *fbatch)
{
	unsigned int i;

	shmem_remove_folios(gmem_pair_shared_inode(pair), fbatch);
	for (i = 0; i < folio_batch_count(fbatch); i++) {
		gmem_pair_unfreeze_uncached(fbatch->folios[i]);
		folio_clear_swapbacked(fbatch->folios[i]);
	}
	gmem_pair_add_private(pair->private_mapping, fbatch);
}

/**
 * gmem_pair_move_batch - move frozen folios to the other file of the pair
 * @pair: the pair
 * @fbatch: locked, isolated, frozen, uptodate folios, all of one file
 *	(shared ones unmapped), ascending index
 * @to_private: the direction
 *
 * For a to-shared move the memfd's blocks were charged with
 * shmem_charge_inserts(); the caller passes the pages inserted to
 * shmem_recalc_moved() once its moves are done.  Afterwards each folio is
 * back on an LRU, unfrozen; the caller still holds its reference and the
 * folio lock.
 *
 * Return: pages inserted into the memfd.
 */
long gmem_pair_move_batch(struct gmem_pair *pair, struct folio_batch *fbatch,
			  bool to_private)
{
	long inserted = 0;
	unsigned int i;

	gmem_pair_mod_isolated_many(fbatch->folios, folio_batch_count(fbatch),
				    -1);
	if (to_private)
		gmem_pair_move_batch_to_private(pair, fbatch);
	else
		inserted = gmem_pair_move_batch_to_shared(pair, fbatch);
	for (i = 0; i < folio_batch_count(fbatch); i++)
		folio_putback_lru(fbatch->folios[i]);
	/*
	 * Onto the LRU now, not when this CPU's LRU batch fills: the task may
	 * run on another CPU by the next conversion of these folios, which
	 * could then isolate them only after lru_add_drain_all().
	 */
	lru_add_drain();
	return inserted;
}
