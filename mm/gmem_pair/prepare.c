// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair: the blocking part of a to-private conversion, done before the
 * conversion takes the locks that stop faults.
 *
 * Swap-in I/O and migration off ZONE_MOVABLE/CMA can each take
 * milliseconds.  Under the conversion's locks (convert.c), every fault of
 * the memfd at any offset and every private lookup by KVM would wait for
 * them.  gmem_pair_prepare() does them first, holding only what an ordinary
 * lookup of the memfd holds, one folio at a time.
 *
 * It only makes the locked steps cheaper, never decides anything: they look
 * at every folio again and do what was undone in between (a page reclaimed
 * again is swapped in under the locks, a folio that did not migrate is
 * migrated there once more), so a race costs time, never correctness.
 */
#include <linux/mm.h>
#include <linux/migrate.h>
#include <linux/pagemap.h>
#include <linux/rcupdate_wait.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/xarray.h>
#include "../internal.h"
#include "internal.h"
#include "move.h"
#include "prepare.h"
#include "trace.h"

/*
 * Why the folios migrate_pages() left on @list (the folio it was given, or
 * the parts of it that did not migrate if it split it) stayed, seen while
 * they are still isolated: a FOLL_PIN pin, or references that neither the
 * isolation, the page cache nor the folio's mappings account for (a page
 * in a pipe after vmsplice(), a FOLL_GET reference, an mlock batch).  Such
 * a holder keeps the folio from moving whatever its zone, so it is the
 * reason to report, not ZONE_MOVABLE.  GMEM_PAIR_ERR_MOVABLE if nothing in
 * sight holds it (a transient reference gone by now).
 */
static u32 gmem_pair_unmigrated(struct list_head *list)
{
	u32 reason = GMEM_PAIR_ERR_MOVABLE;
	struct folio *folio;

	list_for_each_entry(folio, list, lru) {
		if (folio_maybe_dma_pinned(folio))
			return GMEM_PAIR_ERR_PINNED;
		if (folio_ref_count(folio) > 1 + folio_nr_pages(folio) +
					     folio_mapcount(folio))
			reason = GMEM_PAIR_ERR_REFERENCED;
	}
	return reason;
}

/**
 * gmem_pair_migrate_folio - migrate a memfd folio off ZONE_MOVABLE/CMA
 * @pair: the pair
 * @folio: unlocked folio of the memfd; the caller's reference is consumed
 * @index: its offset (for the tracepoint)
 * @reason: set to why it did not migrate (GMEM_PAIR_ERR_*) on failure
 *
 * As FOLL_LONGTERM pinning does: memalloc_pin_save() keeps the target off
 * ZONE_MOVABLE and CMA, large folios included (alloc_migration_target()
 * asks for GFP_TRANSHUGE, which is movable).
 *
 * Return: 0 if it migrated.  Otherwise the folio is back on the LRU and:
 * -EBUSY with GMEM_PAIR_ERR_REFERENCED if it could not be isolated from the
 * LRU or other references held it back, -EBUSY with GMEM_PAIR_ERR_PINNED if
 * it is maybe DMA-pinned, -ENOMEM with GMEM_PAIR_ERR_NOMEM if no target
 * could be allocated, -EXDEV with GMEM_PAIR_ERR_MOVABLE if it failed with
 * none of these in sight (it is still on ZONE_MOVABLE/CMA).
 */
int gmem_pair_migrate_folio(struct gmem_pair *pair, struct folio *folio,
			    pgoff_t index, u32 *reason)
{
	struct migration_target_control mtc = {
		.nid = NUMA_NO_NODE,
		.gfp_mask = GFP_USER | __GFP_NOWARN,
		.reason = MR_LONGTERM_PIN,
	};
	long nr = folio_nr_pages(folio);
	unsigned int pin_flags;
	LIST_HEAD(list);
	int ret;

	if (!gmem_pair_isolate(folio)) {
		folio_put(folio);
		*reason = GMEM_PAIR_ERR_REFERENCED;
		return -EBUSY;
	}
	list_add_tail(&folio->lru, &list);
	/* a reference of ours would fail the migration: isolation holds it */
	folio_put(folio);

	pin_flags = memalloc_pin_save();
	ret = migrate_pages(&list, alloc_migration_target, NULL,
			    (unsigned long)&mtc, MIGRATE_SYNC, MR_LONGTERM_PIN,
			    NULL);
	memalloc_pin_restore(pin_flags);
	trace_gmem_pair_migrate(pair, index, nr, ret);
	if (ret) {
		/* -ENOMEM, or the number of folios that did not migrate */
		if (ret == -ENOMEM) {
			*reason = GMEM_PAIR_ERR_NOMEM;
		} else {
			*reason = gmem_pair_unmigrated(&list);
			ret = *reason == GMEM_PAIR_ERR_MOVABLE ? -EXDEV : -EBUSY;
		}
		putback_movable_pages(&list);
		return ret;
	}
	atomic64_add(nr, &pair->stat_migrated);
	return 0;
}

/*
 * The first offset in [@index, @end) whose folio is swapped out or, with
 * @migrate, on ZONE_MOVABLE/CMA; @end if none.  A hint, read under RCU.
 */
static pgoff_t gmem_pair_next_blocking(struct address_space *mapping,
				       pgoff_t index, pgoff_t end,
				       bool migrate)
{
	XA_STATE(xas, &mapping->i_pages, index);
	pgoff_t found = end;
	void *entry;

	rcu_read_lock();
	xas_for_each(&xas, entry, end - 1) {
		if (xas_retry(&xas, entry))
			continue;
		if (xa_is_value(entry) ||
		    (migrate && !folio_is_longterm_pinnable(entry))) {
			found = xas.xa_index;
			break;
		}
		if (need_resched()) {
			xas_pause(&xas);
			cond_resched_rcu();
		}
	}
	rcu_read_unlock();
	return found;
}

/**
 * gmem_pair_prepare - swap in and migrate a range before converting it
 * @pair: the pair; no lock of the pair is held
 * @start: first index of a to-private conversion
 * @end: index after the last
 * @migrate: GMEM_PAIR_CONVERT_MIGRATE: migrate folios off ZONE_MOVABLE/CMA
 *
 * Best effort (see the top of this file): a lookup error, a private
 * offset, a pinned folio or a failed migration is left to the locked
 * steps, which report it.  Each folio is looked at once.
 */
void gmem_pair_prepare(struct gmem_pair *pair, pgoff_t start, pgoff_t end,
		       bool migrate)
{
	struct inode *inode = gmem_pair_shared_inode(pair);
	pgoff_t index = start;
	u32 reason;	/* unused: the locked steps report */

	/* Nothing on swap and nothing to migrate: no walk at all. */
	if (!migrate && !READ_ONCE(SHMEM_I(inode)->swapped))
		return;
	while ((index = gmem_pair_next_blocking(pair->shared_mapping, index,
						end, migrate)) < end) {
		struct folio *folio;

		if (fatal_signal_pending(current))
			return;
		/* swaps in; -EACCES at a private offset, -ENOENT on a hole */
		if (shmem_get_folio(inode, index, 0, &folio, SGP_NOALLOC)) {
			index++;
			continue;
		}
		index = folio_next_index(folio);
		folio_unlock(folio);
		if (migrate && !folio_is_longterm_pinnable(folio) &&
		    !folio_maybe_dma_pinned(folio))
			gmem_pair_migrate_folio(pair, folio, folio->index,
						&reason);
		else
			folio_put(folio);
		cond_resched();
	}
}
