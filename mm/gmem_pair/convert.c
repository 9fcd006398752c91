// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair: convert a range between private and shared.
 *
 * A conversion holds, for its whole duration, the shared inode's i_rwsem and
 * both mappings' invalidate_locks for write (order in internal.h).  Under
 * them no shmem lookup of the range (fault, read, write, splice, fallocate)
 * and no private lookup (KVM) can run, so the per-offset state and the
 * folios' home can be changed together.  Fault-around and GUP-fast take
 * none of these locks: they only find folios that are already in the
 * memfd's page cache, so every folio leaving the memfd is unmapped under its
 * lock and frozen (refcount) before it moves.
 *
 * All or nothing, without ever moving a folio back: everything that can
 * fail happens before the first move.
 *
 * 0. Prepare, without the locks (prepare.c): a to-private swaps in the
 *    range and migrates it off ZONE_MOVABLE/CMA, so that the locked steps
 *    rarely wait for I/O or migration.
 * 1. Collect: look up each folio of the range that has to move; swap in
 *    what was reclaimed again, split a large folio the range covers in
 *    part, migrate one off ZONE_MOVABLE/CMA (GMEM_PAIR_CONVERT_MIGRATE),
 *    refuse a pinned, movable or still mapped one; zero one that was never
 *    written; isolate it from the LRU and keep it locked and referenced on
 *    a list.
 * 2. Freeze: freeze the reference count of every collected folio, so that
 *    nobody holds or takes a reference, and charge the memfd's blocks for a
 *    to-shared.  A folio that will not freeze unfreezes the others; the
 *    conversion waits a little and tries again, a bounded number of times.
 * 3. Move: every folio leaves one page cache and enters the other, which
 *    cannot fail, and the range's state bits flip.  Nothing sleeps while
 *    folios are frozen but an xarray node allocation (__GFP_NOFAIL): a
 *    lookup that finds a frozen folio spins on it.
 *
 * A refusal in 1 or 2 puts every collected folio back: nothing changed.
 * Where 1 or 2 needs every CPU's LRU batches drained (a folio off the LRU
 * or with one reference too many), the conversion puts everything back,
 * drops its locks, drains (lru_add_drain_all() waits for a work item on
 * every CPU) and runs 1 to 3 once more; a second time is a refusal.
 *
 * So a fault or a KVM lookup at any offset waits for steps 1 to 3 only:
 * work proportional to the folios moved, plus at most
 * GMEM_PAIR_FREEZE_TRIES short waits for transient references, plus the
 * swap-in or migration of a folio reclaimed or allocated again since step
 * 0 (see Documentation/mm/gmem_pair.rst).
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/swap.h>
#include <linux/migrate.h>
#include <linux/huge_mm.h>
#include <linux/delay.h>
#include <linux/errno.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/overflow.h>
#include <linux/ktime.h>
#include <linux/log2.h>
#include "../internal.h"
#include "internal.h"
#include "move.h"
#include "prepare.h"
#define CREATE_TRACE_POINTS
#include "trace.h"

struct gmem_pair_conv {
	struct gmem_pair *pair;
	struct gmem_pair_convert *args;
	pgoff_t start;
	pgoff_t end;
	bool to_private;
	/* bit n: a folio of order n moved (tracepoint) */
	unsigned long orders;
	/* lru_add_drain_all() ran in this call, without the locks */
	bool drained;
	/* the last index migrated off ZONE_MOVABLE/CMA: migrate once */
	pgoff_t migrated;
	/* collected folios: locked, referenced, isolated (linked by ->lru) */
	struct list_head folios;
	/* collected folios not isolated yet: locked, referenced */
	struct folio_batch pending;
	/* gmem_pair_isolate_pending() runs: a refusal of its own is first */
	bool isolating;
	unsigned long nr_pages;
	unsigned long moved;
};

static int gmem_pair_isolate_pending(struct gmem_pair_conv *c);

/*
 * Report a refusal at @index (of @folio, if there is one): error_offset and
 * error_reason, the counters and the gmem_pair_refuse tracepoint.
 */
static int gmem_pair_refuse(struct gmem_pair_conv *c, pgoff_t index,
			    u32 reason, struct folio *folio, int err)
{
	/*
	 * Collected folios below @index wait for their isolation: one that
	 * fails it is the first offending offset, reported instead.
	 */
	if (folio_batch_count(&c->pending) && !c->isolating) {
		int ret = gmem_pair_isolate_pending(c);

		if (ret)
			return ret;
	}
	trace_gmem_pair_refuse(c->pair, index, reason, folio, err);
	c->args->error_offset = (u64)index << PAGE_SHIFT;
	c->args->error_reason = reason;
	if (reason == GMEM_PAIR_ERR_MOVABLE)
		atomic64_inc(&c->pair->stat_refused_movable);
	else if (reason == GMEM_PAIR_ERR_PINNED ||
		 reason == GMEM_PAIR_ERR_REFERENCED ||
		 reason == GMEM_PAIR_ERR_MAPPED ||
		 reason == GMEM_PAIR_ERR_SPLIT)
		atomic64_inc(&c->pair->stat_refused_pinned);
	return err;
}

/* A lookup that failed: -EIO is a swap read error, the rest is memory. */
static int gmem_pair_refuse_lookup(struct gmem_pair_conv *c, pgoff_t index,
				   int err)
{
	if (err == -EINTR)
		return gmem_pair_refuse(c, index, GMEM_PAIR_ERR_NONE, NULL, err);
	return gmem_pair_refuse(c, index, err == -EIO ? GMEM_PAIR_ERR_IO :
				GMEM_PAIR_ERR_NOMEM, NULL, err);
}

static bool gmem_pair_split_once(struct folio *folio)
{
	return !split_folio(folio);
}

/* Does [c->start, c->end) cover only part of @folio? */
static bool gmem_pair_partial(struct gmem_pair_conv *c, struct folio *folio)
{
	return folio_test_large(folio) &&
	       (folio->index < c->start || folio_next_index(folio) > c->end);
}

/*
 * Internal: put everything back, drop the locks, drain every CPU's LRU
 * batches and convert again (once per call; see the top of this file).
 */
#define GMEM_PAIR_RETRY_DRAINED	(-EAGAIN)

/*
 * @folio failed a step that a reference from an LRU batch on another CPU
 * would fail: drain and retry, once.  Return: that, or the refusal.
 */
static int gmem_pair_refuse_or_drain(struct gmem_pair_conv *c, pgoff_t index,
				     u32 reason, struct folio *folio)
{
	if (!c->drained)
		return GMEM_PAIR_RETRY_DRAINED;
	return gmem_pair_refuse(c, index, reason, folio, -EBUSY);
}

/*
 * Split a locked large folio the range covers in part; this CPU's LRU
 * batches are drained first.  Return: 0 to look the index up again, or a
 * refusal.
 */
static int gmem_pair_split(struct gmem_pair_conv *c, struct folio *folio,
			   pgoff_t index)
{
	if (gmem_pair_try_local(folio, gmem_pair_split_once))
		return 0;
	return gmem_pair_refuse_or_drain(c, index, GMEM_PAIR_ERR_SPLIT, folio);
}

/*
 * Migrate a ZONE_MOVABLE/CMA folio of the memfd to unmovable memory
 * (gmem_pair_migrate_folio()), under the locks: step 0 did not, or the
 * folio was allocated since.  Each index is migrated once here: a target
 * that is still movable is refused, never migrated again.  A migration
 * that failed is not recorded as done: after a drain the second pass tries
 * it again.  Consumes the caller's reference; the folio is unlocked.
 *
 * Return: 0 to look the index up again, or a refusal: the reason the
 * migration gave (a folio held by a reference or a pin stays where it is
 * whatever the zone, so it is refused as such, not as movable).
 */
static int gmem_pair_migrate_unmovable(struct gmem_pair_conv *c,
				       struct folio *folio, pgoff_t index)
{
	u32 reason;
	int ret;

	ret = gmem_pair_migrate_folio(c->pair, folio, index, &reason);
	if (!ret) {
		c->migrated = index;
		return 0;
	}
	if (reason == GMEM_PAIR_ERR_REFERENCED)
		return gmem_pair_refuse_or_drain(c, index, reason, NULL);
	return gmem_pair_refuse(c, index, reason, NULL, ret);
}

/*
 * @folio at @index would not come off the LRU, even after draining this
 * CPU's batches: refused as pinned if it may be, else as referenced (or
 * every CPU's batches are drained, once).
 */
static int gmem_pair_refuse_unisolated(struct gmem_pair_conv *c,
				       struct folio *folio, pgoff_t index)
{
	if (folio_maybe_dma_pinned(folio))
		return gmem_pair_refuse(c, index, GMEM_PAIR_ERR_PINNED, folio,
					-EBUSY);
	return gmem_pair_refuse_or_drain(c, index, GMEM_PAIR_ERR_REFERENCED,
					 folio);
}

/*
 * Isolate the pending folios from the LRU, one lruvec lock round trip per
 * run of folios that share a lruvec.  One that is not on the LRU is tried
 * again after draining this CPU's LRU batches, then refused (or every
 * CPU's batches are drained, once).
 */
static int gmem_pair_isolate_pending(struct gmem_pair_conv *c)
{
	struct folio_batch *fbatch = &c->pending;
	unsigned int i = 0, nr = folio_batch_count(fbatch);
	int ret = 0;

	c->isolating = true;
	while (i < nr) {
		struct folio *folio;

		i = gmem_pair_isolate_batch(fbatch, i, &c->folios);
		if (i == nr)
			break;
		folio = fbatch->folios[i];
		if (!gmem_pair_isolate(folio)) {
			ret = gmem_pair_refuse_unisolated(c, folio,
							  folio->index);
			break;
		}
		list_add_tail(&folio->lru, &c->folios);
		i++;
	}
	/* after a refusal: the folios not isolated */
	for (; i < nr; i++) {
		folio_unlock(fbatch->folios[i]);
		folio_put(fbatch->folios[i]);
	}
	folio_batch_reinit(fbatch);
	c->isolating = false;
	return ret;
}

/*
 * Keep a locked, referenced folio that passed its checks for the move; it
 * is isolated from the LRU with the ones pending before it.  On a refusal
 * it is unlocked and released.
 */
static long gmem_pair_collect_folio(struct gmem_pair_conv *c,
				    struct folio *folio, pgoff_t index)
{
	long ret = folio_next_index(folio) - index;

	gmem_pair_make_uptodate(folio);
	/*
	 * Not on the LRU: swapped in or migrated just now, it waits in this
	 * CPU's LRU batch.  Isolate it at once, before this task can move to
	 * another CPU, whose drain would not reach it.
	 */
	if (!folio_test_lru(folio)) {
		int err = gmem_pair_isolate_pending(c);

		if (!err && !gmem_pair_isolate(folio))
			err = gmem_pair_refuse_unisolated(c, folio, index);
		if (err) {
			folio_unlock(folio);
			folio_put(folio);
			return err;
		}
		list_add_tail(&folio->lru, &c->folios);
		c->nr_pages += folio_nr_pages(folio);
		return ret;
	}
	c->nr_pages += folio_nr_pages(folio);
	if (!folio_batch_add(&c->pending, folio)) {
		int err = gmem_pair_isolate_pending(c);

		/* the folio is unlocked and released with the batch */
		if (err)
			return err;
	}
	return ret;
}

/*
 * Collect the memfd folio at @index for a to-private.
 * Return: offsets done (> 0), 0 to look at @index again, or a refusal.
 */
static long gmem_pair_collect_shared(struct gmem_pair_conv *c, pgoff_t index)
{
	struct folio *folio;
	long ret;

	ret = shmem_lock_folio_noalloc(gmem_pair_shared_inode(c->pair), index,
				       &folio);
	if (ret == -ENOENT)
		return 1;	/* a hole: nothing to move */
	if (ret)
		return gmem_pair_refuse_lookup(c, index, ret);

	if (folio_maybe_dma_pinned(folio)) {
		ret = gmem_pair_refuse(c, index, GMEM_PAIR_ERR_PINNED, folio,
				       -EBUSY);
		goto drop;
	}
	if (gmem_pair_partial(c, folio)) {
		ret = gmem_pair_split(c, folio, index);
		goto drop;
	}
	if (!folio_is_longterm_pinnable(folio)) {
		if (!(c->args->flags & GMEM_PAIR_CONVERT_MIGRATE) ||
		    c->migrated == index) {
			ret = gmem_pair_refuse(c, index, GMEM_PAIR_ERR_MOVABLE,
					       folio, -EXDEV);
			goto drop;
		}
		folio_unlock(folio);
		return gmem_pair_migrate_unmovable(c, folio, index);
	}
	if (folio_mapped(folio))
		unmap_mapping_folio(folio);
	if (folio_mapped(folio)) {
		ret = gmem_pair_refuse(c, index, GMEM_PAIR_ERR_MAPPED, folio,
				       -EBUSY);
		goto drop;
	}
	/* a refusal from the batch: it unlocked and released the folio */
	return gmem_pair_collect_folio(c, folio, index);
drop:
	folio_unlock(folio);
	folio_put(folio);
	return ret;
}

/* As gmem_pair_collect_shared(), for the private folio at @index. */
static long gmem_pair_collect_private(struct gmem_pair_conv *c, pgoff_t index)
{
	struct folio *folio;
	long ret;

	folio = filemap_lock_folio(c->pair->private_mapping, index);
	if (IS_ERR(folio))
		return 1;
	if (!gmem_pair_partial(c, folio))
		return gmem_pair_collect_folio(c, folio, index);
	ret = gmem_pair_split(c, folio, index);
	folio_unlock(folio);
	folio_put(folio);
	return ret;
}

/* Step 1: collect every folio of the range that has to move. */
static int gmem_pair_collect(struct gmem_pair_conv *c)
{
	unsigned long *bits = c->pair->private_bits;
	pgoff_t index = c->start;
	long ret;

	while (index < c->end) {
		if (c->to_private)
			index = find_next_zero_bit(bits, c->end, index);
		else
			index = find_next_bit(bits, c->end, index);
		if (index >= c->end)
			break;
		if (fatal_signal_pending(current))
			return gmem_pair_refuse(c, index, GMEM_PAIR_ERR_NONE,
						NULL, -EINTR);
		ret = c->to_private ? gmem_pair_collect_shared(c, index) :
				      gmem_pair_collect_private(c, index);
		if (ret < 0)
			return ret;
		index += ret;
		cond_resched();
	}
	return gmem_pair_isolate_pending(c);
}

/* A refusal: every collected folio goes back where it was. */
static void gmem_pair_release(struct gmem_pair_conv *c)
{
	struct folio *folio, *next;
	unsigned int i;

	for (i = 0; i < folio_batch_count(&c->pending); i++) {
		folio_unlock(c->pending.folios[i]);
		folio_put(c->pending.folios[i]);
	}
	folio_batch_reinit(&c->pending);
	list_for_each_entry_safe(folio, next, &c->folios, lru) {
		list_del(&folio->lru);
		gmem_pair_putback(folio);
		folio_unlock(folio);
		folio_put(folio);
	}
}

/*
 * Freeze every collected folio.  Return: NULL, or the folio that would not
 * freeze, with the ones before it unfrozen again.
 */
static struct folio *gmem_pair_freeze_all(struct gmem_pair_conv *c)
{
	struct folio *folio, *failed = NULL;

	list_for_each_entry(folio, &c->folios, lru) {
		if (!folio_ref_freeze(folio, gmem_pair_expected_refs(folio))) {
			failed = folio;
			break;
		}
	}
	if (!failed)
		return NULL;
	list_for_each_entry(folio, &c->folios, lru) {
		if (folio == failed)
			break;
		folio_ref_unfreeze(folio, gmem_pair_expected_refs(folio));
	}
	return failed;
}

/*
 * Step 2: make sure nobody but the conversion references the collected
 * folios.  Brief references of others (a GUP-fast walk, a reader between
 * lookup and release, this CPU's LRU batches) are waited for, a few ms at
 * most; another CPU's LRU batch is drained without the locks, once.
 */
static int gmem_pair_freeze(struct gmem_pair_conv *c)
{
	struct folio *failed;
	int tries;

	for (tries = 0; ; tries++) {
		failed = gmem_pair_freeze_all(c);
		if (!failed)
			return 0;
		if (folio_maybe_dma_pinned(failed))
			return gmem_pair_refuse(c, failed->index,
						GMEM_PAIR_ERR_PINNED, failed,
						-EBUSY);
		/*
		 * A mlock, activate or add batch of another CPU filled since
		 * the collect step holds a reference: drain them all, once.
		 */
		if (!c->drained || tries == GMEM_PAIR_FREEZE_TRIES)
			return gmem_pair_refuse_or_drain(c, failed->index,
							 GMEM_PAIR_ERR_REFERENCED,
							 failed);
		lru_add_drain();
		usleep_range(100, 200);
	}
}

/*
 * Move a batch of frozen folios; then, for each, drop what a DISCARD drops,
 * unlock it and release the conversion's reference.  Return: pages inserted
 * into the memfd.
 */
static long gmem_pair_move_fbatch(struct gmem_pair_conv *c,
				  struct folio_batch *fbatch)
{
	u32 dir = c->to_private ? GMEM_PAIR_TO_PRIVATE : GMEM_PAIR_TO_SHARED;
	long inserted;
	unsigned int i;

	inserted = gmem_pair_move_batch(c->pair, fbatch, c->to_private);
	for (i = 0; i < folio_batch_count(fbatch); i++) {
		struct folio *folio = fbatch->folios[i];
		long nr = folio_nr_pages(folio);

		/* DISCARD: drop what just left the memfd, nothing else */
		if (c->to_private &&
		    (c->args->flags & GMEM_PAIR_CONVERT_DISCARD))
			truncate_inode_folio(c->pair->private_mapping, folio);
		trace_gmem_pair_move(c->pair, folio->index, nr, dir);
		folio_unlock(folio);
		folio_put(folio);
		c->moved += nr;
		c->orders |= BIT(ilog2(nr));
	}
	folio_batch_reinit(fbatch);
	return inserted;
}

/*
 * Step 3: move every frozen folio, a batch at a time; cannot fail, never
 * sleeps while a folio is frozen (xarray node allocations apart).  Each
 * folio is unlocked once it moved, before the state bits flip: whoever
 * reads the bits holds one of the invalidate_locks this conversion holds
 * for write.
 */
static void gmem_pair_move_all(struct gmem_pair_conv *c)
{
	struct folio *folio, *next;
	struct folio_batch fbatch;
	long inserted = 0;

	folio_batch_init(&fbatch);
	list_for_each_entry_safe(folio, next, &c->folios, lru) {
		list_del(&folio->lru);
		if (!folio_batch_add(&fbatch, folio))
			inserted += gmem_pair_move_fbatch(c, &fbatch);
	}
	if (folio_batch_count(&fbatch))
		inserted += gmem_pair_move_fbatch(c, &fbatch);
	if (c->moved)
		shmem_recalc_moved(gmem_pair_shared_inode(c->pair), inserted);
	if (c->to_private)
		bitmap_set(c->pair->private_bits, c->start, c->end - c->start);
	else
		bitmap_clear(c->pair->private_bits, c->start, c->end - c->start);
}

/* Collect, freeze, move: a refusal before the move changes nothing. */
static int gmem_pair_convert_range(struct gmem_pair_conv *c)
{
	struct inode *shared = gmem_pair_shared_inode(c->pair);
	bool charged = false;
	int err;

	err = gmem_pair_collect(c);
	if (!err && !c->to_private && c->nr_pages) {
		err = shmem_charge_inserts(shared, c->nr_pages);
		if (err)
			gmem_pair_refuse(c, c->start, GMEM_PAIR_ERR_NOMEM,
					 NULL, err);
		charged = !err;
	}
	if (!err)
		err = gmem_pair_freeze(c);
	if (err) {
		if (charged)
			shmem_uncharge_inserts(shared, c->nr_pages);
		gmem_pair_release(c);
		c->nr_pages = 0;
		return err;
	}
	gmem_pair_move_all(c);
	return 0;
}

/**
 * gmem_pair_split_edges - split private folios [@start, @end) covers in part
 * @pair: the pair; the private mapping's invalidate_lock is held for write
 * @start: first index of a range about to be truncated
 * @end: index after the last
 *
 * A large private folio (a shmem THP moved in whole) cut by a partial
 * punch or discard must split first: truncation would otherwise split it
 * itself and, if that failed, drop a clean folio whole (the contents of
 * its neighbours lost) or keep a dirty one in place.
 *
 * Return: 0, or -EBUSY if a folio did not split (nothing was removed).
 */
int gmem_pair_split_edges(struct gmem_pair *pair, pgoff_t start, pgoff_t end)
{
	pgoff_t edges[] = { start, end - 1 };
	bool drained = false;
	int i;

	lockdep_assert_held_write(&pair->private_mapping->invalidate_lock);
	for (i = 0; i < ARRAY_SIZE(edges); i++) {
		struct folio *folio;
		bool split = true;

		folio = filemap_lock_folio(pair->private_mapping, edges[i]);
		if (IS_ERR(folio))
			continue;
		if (folio_test_large(folio) &&
		    (folio->index < start || folio_next_index(folio) > end))
			split = gmem_pair_try_drained(folio, &drained,
						      gmem_pair_split_once);
		folio_unlock(folio);
		folio_put(folio);
		if (!split)
			return -EBUSY;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(gmem_pair_split_edges);

/**
 * gmem_pair_check_convert - is @args a valid GMEM_PAIR_CONVERT request?
 * @pair: the pair
 * @args: the request
 *
 * Page aligned, non-empty, inside the file, no overflow, known direction
 * and flags, reserved fields zero.
 *
 * Return: 0 or -EINVAL.
 */
int gmem_pair_check_convert(struct gmem_pair *pair,
			    const struct gmem_pair_convert *args)
{
	u64 end;
	int i;

	if (args->pad)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(args->reserved); i++)
		if (args->reserved[i])
			return -EINVAL;
	if (args->direction != GMEM_PAIR_TO_SHARED &&
	    args->direction != GMEM_PAIR_TO_PRIVATE)
		return -EINVAL;
	if (args->flags & ~(GMEM_PAIR_CONVERT_DISCARD |
			    GMEM_PAIR_CONVERT_MIGRATE))
		return -EINVAL;
	if ((args->flags & GMEM_PAIR_CONVERT_MIGRATE) &&
	    args->direction != GMEM_PAIR_TO_PRIVATE)
		return -EINVAL;
	if (!args->size || !PAGE_ALIGNED(args->offset) ||
	    !PAGE_ALIGNED(args->size))
		return -EINVAL;
	if (check_add_overflow(args->offset, args->size, &end) ||
	    end > ((u64)pair->nr_pages << PAGE_SHIFT))
		return -EINVAL;
	return 0;
}
EXPORT_SYMBOL_GPL(gmem_pair_check_convert);

/*
 * Steps 1 to 3 under the locks.  Return: 0, a refusal, or
 * GMEM_PAIR_RETRY_DRAINED with nothing changed and nothing collected.
 */
static int gmem_pair_convert_locked(struct gmem_pair_conv *c)
{
	struct gmem_pair *pair = c->pair;
	struct gmem_pair_convert *args = c->args;
	struct address_space *private;
	int err;

	inode_lock(gmem_pair_shared_inode(pair));
	private = pair->private_mapping;
	filemap_invalidate_lock(private);
	filemap_invalidate_lock(pair->shared_mapping);

	if (c->to_private) {
		unmap_mapping_range(pair->shared_mapping, args->offset,
				    args->size, 0);
		err = gmem_pair_convert_range(c);
	} else {
		/* Nothing is mapped from the private file any more. */
		pair->ops->invalidate_begin(private, c->start, c->end);
		if (args->flags & GMEM_PAIR_CONVERT_DISCARD) {
			/* Only private offsets have private pages. */
			err = gmem_pair_split_edges(pair, c->start, c->end);
			if (err) {
				gmem_pair_refuse(c, c->start, GMEM_PAIR_ERR_SPLIT,
						 NULL, err);
			} else {
				truncate_inode_pages_range(private, args->offset,
							   args->offset +
							   args->size - 1);
				bitmap_clear(pair->private_bits, c->start,
					     c->end - c->start);
			}
		} else {
			err = gmem_pair_convert_range(c);
		}
		pair->ops->invalidate_end(private, c->start, c->end);
	}

	filemap_invalidate_unlock(pair->shared_mapping);
	filemap_invalidate_unlock(private);
	inode_unlock(gmem_pair_shared_inode(pair));
	return err;
}

/**
 * gmem_pair_convert - GMEM_PAIR_CONVERT
 * @pair: the pair; the caller holds the private file open
 * @args: the request; error_offset and error_reason are filled on error
 *
 * The private file's owner may hold its own locks around this (KVM holds
 * slots_lock and brackets the call with its MMU invalidation).
 *
 * Return: 0, -EINVAL for a bad request, -EBUSY for a pinned, referenced,
 * mapped or unsplittable page (with GMEM_PAIR_CONVERT_MIGRATE also one
 * that a pin or reference kept from migrating), -EXDEV for a
 * ZONE_MOVABLE/CMA page (with GMEM_PAIR_CONVERT_MIGRATE: one that did not
 * migrate for no reason in sight), -ENOMEM/-ENOSPC (also for a migration
 * target), -EIO for a swap read error, -EINTR on a fatal signal.  On error
 * nothing in the range changed.
 */
long gmem_pair_convert(struct gmem_pair *pair, struct gmem_pair_convert *args)
{
	struct gmem_pair_conv c = {
		.pair = pair,
		.args = args,
		.to_private = args->direction == GMEM_PAIR_TO_PRIVATE,
		.migrated = ULONG_MAX,
		.folios = LIST_HEAD_INIT(c.folios),
	};
	/* the duration is for the tracepoint only */
	u64 t0 = trace_gmem_pair_convert_enabled() ? ktime_get_ns() : 0;
	int err;

	args->error_offset = 0;
	args->error_reason = GMEM_PAIR_ERR_NONE;
	err = gmem_pair_check_convert(pair, args);
	if (err)
		return err;
	c.start = args->offset >> PAGE_SHIFT;
	c.end = c.start + (args->size >> PAGE_SHIFT);
	folio_batch_init(&c.pending);

	if (c.to_private)
		gmem_pair_prepare(pair, c.start, c.end,
				  args->flags & GMEM_PAIR_CONVERT_MIGRATE);
	err = gmem_pair_convert_locked(&c);
	if (err == GMEM_PAIR_RETRY_DRAINED) {
		lru_add_drain_all();
		c.drained = true;
		err = gmem_pair_convert_locked(&c);
	}

	if (!err) {
		atomic64_inc(&pair->stat_conversions);
		atomic64_add(c.moved, c.to_private ? &pair->stat_to_private :
						     &pair->stat_to_shared);
	}
	trace_gmem_pair_convert(pair, args, c.moved, c.orders,
				t0 ? ktime_get_ns() - t0 : 0, err);
	return err;
}
EXPORT_SYMBOL_GPL(gmem_pair_convert);
