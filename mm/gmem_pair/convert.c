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
 * All or nothing: the state of every offset flipped by this call is
 * recorded, and a failure moves those back before returning.
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/swap.h>
#include <linux/migrate.h>
#include <linux/huge_mm.h>
#include <linux/slab.h>
#include <linux/overflow.h>
#include "../internal.h"
#include "internal.h"
#include "move.h"
#define CREATE_TRACE_POINTS
#include "trace.h"

struct gmem_pair_conv {
	struct gmem_pair *pair;
	struct gmem_pair_convert *args;
	pgoff_t start;
	pgoff_t end;
	/* bit i: offset start + i changed state in this call */
	unsigned long *flipped;
	bool drained;
	unsigned long moved;
};

static int gmem_pair_refuse(struct gmem_pair_conv *c, pgoff_t index,
			    u32 reason, int err)
{
	c->args->error_offset = (u64)index << PAGE_SHIFT;
	c->args->error_reason = reason;
	if (reason == GMEM_PAIR_ERR_MOVABLE)
		atomic64_inc(&c->pair->stat_refused_movable);
	else if (reason != GMEM_PAIR_ERR_NOMEM)
		atomic64_inc(&c->pair->stat_refused_pinned);
	return err;
}

static void gmem_pair_flip(struct gmem_pair_conv *c, pgoff_t index,
			   unsigned long nr, bool to_private)
{
	if (to_private)
		bitmap_set(c->pair->private_bits, index, nr);
	else
		bitmap_clear(c->pair->private_bits, index, nr);
	if (c->flipped)
		bitmap_set(c->flipped, index - c->start, nr);
}

static bool gmem_pair_split_once(struct folio *folio)
{
	return !split_folio(folio);
}

/* Split a locked large folio; LRU batch references are drained first. */
static int gmem_pair_split(struct gmem_pair_conv *c, struct folio *folio)
{
	return gmem_pair_try_drained(folio, &c->drained,
				     gmem_pair_split_once) ? 0 : -EBUSY;
}

/*
 * Migrate a ZONE_MOVABLE/CMA folio of the memfd to unmovable memory, as
 * FOLL_LONGTERM pinning does.  Consumes the caller's reference; the folio
 * is unlocked.  The caller looks the index up again.
 */
static int gmem_pair_migrate_unmovable(struct gmem_pair_conv *c,
				       struct folio *folio, pgoff_t index)
{
	struct migration_target_control mtc = {
		.nid = NUMA_NO_NODE,
		.gfp_mask = GFP_USER | __GFP_NOWARN,
		.reason = MR_LONGTERM_PIN,
	};
	long nr = folio_nr_pages(folio);
	LIST_HEAD(list);
	int ret;

	if (!gmem_pair_isolate(folio, &c->drained)) {
		folio_put(folio);
		return gmem_pair_refuse(c, index, GMEM_PAIR_ERR_REFERENCED,
					-EBUSY);
	}
	node_stat_mod_folio(folio, NR_ISOLATED_ANON + folio_is_file_lru(folio),
			    nr);
	list_add_tail(&folio->lru, &list);
	folio_put(folio);

	ret = migrate_pages(&list, alloc_migration_target, NULL,
			    (unsigned long)&mtc, MIGRATE_SYNC, MR_LONGTERM_PIN,
			    NULL);
	if (ret) {
		putback_movable_pages(&list);
		return gmem_pair_refuse(c, index, GMEM_PAIR_ERR_MOVABLE,
					-EXDEV);
	}
	atomic64_add(nr, &c->pair->stat_migrated);
	return 0;
}

/*
 * Isolate, freeze and move a locked folio that passed its direction's
 * checks; @index is the offset reported on refusal.
 * Return: pages moved, or a negative errno with nothing changed.
 */
static long gmem_pair_move(struct gmem_pair_conv *c, struct folio *folio,
			   pgoff_t index, bool to_private)
{
	long nr = folio_nr_pages(folio);
	int err;

	if (!gmem_pair_isolate(folio, &c->drained))
		return gmem_pair_refuse(c, index, GMEM_PAIR_ERR_REFERENCED,
					-EBUSY);
	if (!gmem_pair_freeze(folio, &c->drained)) {
		folio_putback_lru(folio);
		return gmem_pair_refuse(c, index, folio_maybe_dma_pinned(folio) ?
					GMEM_PAIR_ERR_PINNED :
					GMEM_PAIR_ERR_REFERENCED, -EBUSY);
	}
	index = folio->index;
	if (to_private)
		err = gmem_pair_move_to_private(c->pair, folio, index);
	else
		err = gmem_pair_move_to_shared(c->pair, folio);
	if (err)
		return gmem_pair_refuse(c, index, GMEM_PAIR_ERR_NOMEM, err);
	gmem_pair_flip(c, index, nr, to_private);
	c->moved += nr;
	trace_gmem_pair_move(c->pair, index, nr, to_private ?
			     GMEM_PAIR_TO_PRIVATE : GMEM_PAIR_TO_SHARED);
	return nr;
}

/*
 * Checks and move of the memfd folio at @index.
 * Return: pages done (> 0), 0 to look at @index again, or a negative errno.
 */
static long gmem_pair_index_to_private(struct gmem_pair_conv *c, pgoff_t index)
{
	struct gmem_pair *pair = c->pair;
	struct folio *folio;
	long err;

	err = shmem_lock_folio_noalloc(gmem_pair_shared_inode(pair), index,
				       &folio);
	if (err == -ENOENT) {
		gmem_pair_flip(c, index, 1, true);
		return 1;
	}
	if (err)
		return gmem_pair_refuse(c, index, GMEM_PAIR_ERR_NOMEM, err);

	if (folio_maybe_dma_pinned(folio)) {
		err = gmem_pair_refuse(c, index, GMEM_PAIR_ERR_PINNED, -EBUSY);
		goto out;
	}
	/* A large folio moves whole if the range covers it, else splits. */
	if (folio_test_large(folio) &&
	    (folio->index < c->start || folio_next_index(folio) > c->end)) {
		if (gmem_pair_split(c, folio))
			err = gmem_pair_refuse(c, index, GMEM_PAIR_ERR_SPLIT,
					       -EBUSY);
		goto out;
	}
	if (!folio_is_longterm_pinnable(folio)) {
		if (!(c->args->flags & GMEM_PAIR_CONVERT_MIGRATE)) {
			err = gmem_pair_refuse(c, index, GMEM_PAIR_ERR_MOVABLE,
					       -EXDEV);
			goto out;
		}
		folio_unlock(folio);
		return gmem_pair_migrate_unmovable(c, folio, index);
	}

	if (folio_mapped(folio))
		unmap_mapping_folio(folio);
	if (folio_mapped(folio)) {
		err = gmem_pair_refuse(c, index, GMEM_PAIR_ERR_MAPPED, -EBUSY);
		goto out;
	}
	err = gmem_pair_move(c, folio, index, true);
out:
	folio_unlock(folio);
	folio_put(folio);
	return err;
}

/* As gmem_pair_index_to_private(), for the private folio at @index. */
static long gmem_pair_index_to_shared(struct gmem_pair_conv *c, pgoff_t index)
{
	struct gmem_pair *pair = c->pair;
	struct folio *folio;
	long err;

	folio = filemap_lock_folio(pair->private_mapping, index);
	if (IS_ERR(folio)) {
		gmem_pair_flip(c, index, 1, false);
		return 1;
	}
	if (folio_test_large(folio) &&
	    (folio->index < c->start || folio_next_index(folio) > c->end)) {
		if (gmem_pair_split(c, folio))
			err = gmem_pair_refuse(c, index, GMEM_PAIR_ERR_SPLIT,
					       -EBUSY);
		else
			err = 0;
		goto out;
	}
	err = gmem_pair_move(c, folio, index, false);
out:
	folio_unlock(folio);
	folio_put(folio);
	return err;
}

/* Walk [c->start, c->end), converting each offset not yet in the target. */
static int gmem_pair_convert_range(struct gmem_pair_conv *c, bool to_private)
{
	unsigned long *bits = c->pair->private_bits;
	pgoff_t index = c->start;
	long ret;

	while (index < c->end) {
		if (to_private)
			index = find_next_zero_bit(bits, c->end, index);
		else
			index = find_next_bit(bits, c->end, index);
		if (index >= c->end)
			break;
		if (fatal_signal_pending(current))
			return gmem_pair_refuse(c, index, GMEM_PAIR_ERR_NONE,
						-EINTR);
		ret = to_private ? gmem_pair_index_to_private(c, index) :
				   gmem_pair_index_to_shared(c, index);
		if (ret < 0)
			return ret;
		index += ret;
		cond_resched();
	}
	return 0;
}

/*
 * Move back every offset this call flipped.  Nobody could reach the moved
 * folios meanwhile but through fault-around on the memfd, which the
 * to-private checks handle; a failure here leaves the offset in a
 * consistent state (its bit tells where the folio is) and is reported.
 */
static void gmem_pair_rollback(struct gmem_pair_conv *c, bool to_private)
{
	struct gmem_pair_convert scratch = *c->args;
	struct gmem_pair_conv undo = *c;
	unsigned long i, n = c->end - c->start;
	int tries;
	long ret;

	/* Keep the caller's error report; do not record flips. */
	undo.args = &scratch;
	undo.flipped = NULL;
	for_each_set_bit(i, c->flipped, n) {
		pgoff_t index = c->start + i;

		for (tries = 0; tries < 3; tries++) {
			ret = to_private ? gmem_pair_index_to_shared(&undo, index) :
					   gmem_pair_index_to_private(&undo, index);
			if (ret)
				break;
		}
		WARN_ONCE(ret <= 0, "gmem_pair: rollback of offset %#llx: %ld\n",
			  (u64)index << PAGE_SHIFT, ret);
	}
}

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

/**
 * gmem_pair_convert - GMEM_PAIR_CONVERT
 * @pair: the pair; the caller holds the private file open
 * @args: the request; error_offset and error_reason are filled on error
 *
 * The private file's owner may hold its own locks around this (KVM holds
 * slots_lock, then updates its memory attributes to match).
 *
 * Return: 0, -EINVAL for a bad request, -EBUSY for a pinned, referenced or
 * unsplittable page, -EXDEV for a ZONE_MOVABLE/CMA page, -ENOMEM/-ENOSPC,
 * -EINTR on a fatal signal.  On error nothing in the range changed.
 */
long gmem_pair_convert(struct gmem_pair *pair, struct gmem_pair_convert *args)
{
	struct inode *shared = gmem_pair_shared_inode(pair);
	bool to_private = args->direction == GMEM_PAIR_TO_PRIVATE;
	struct gmem_pair_conv c = { .pair = pair, .args = args };
	struct address_space *private;
	loff_t lstart, lend;
	int err;

	args->error_offset = 0;
	args->error_reason = GMEM_PAIR_ERR_NONE;
	err = gmem_pair_check_convert(pair, args);
	if (err)
		return err;

	c.start = args->offset >> PAGE_SHIFT;
	c.end = c.start + (args->size >> PAGE_SHIFT);
	lstart = args->offset;
	lend = args->offset + args->size - 1;
	c.flipped = kvcalloc(BITS_TO_LONGS(c.end - c.start),
			     sizeof(unsigned long), GFP_KERNEL_ACCOUNT);
	if (!c.flipped)
		return -ENOMEM;

	inode_lock(shared);
	private = pair->private_mapping;
	filemap_invalidate_lock(private);
	filemap_invalidate_lock(pair->shared_mapping);

	if (to_private) {
		unmap_mapping_range(pair->shared_mapping, lstart, args->size, 0);
		err = gmem_pair_convert_range(&c, true);
		/*
		 * Discard: move (with every check), then drop the private
		 * copies.  shmem_truncate_range() here could swap in a boundary
		 * page through the paired lookup, whose lock we hold.
		 */
		if (!err && (args->flags & GMEM_PAIR_CONVERT_DISCARD)) {
			pair->ops->invalidate_begin(private, c.start, c.end);
			truncate_inode_pages_range(private, lstart, lend);
			pair->ops->invalidate_end(private, c.start, c.end);
		}
	} else {
		pair->ops->invalidate_begin(private, c.start, c.end);
		if (args->flags & GMEM_PAIR_CONVERT_DISCARD) {
			truncate_inode_pages_range(private, lstart, lend);
			bitmap_clear(pair->private_bits, c.start, c.end - c.start);
		} else {
			err = gmem_pair_convert_range(&c, false);
		}
		if (err)
			gmem_pair_rollback(&c, false);
		pair->ops->invalidate_end(private, c.start, c.end);
	}
	if (err && to_private) {
		pair->ops->invalidate_begin(private, c.start, c.end);
		gmem_pair_rollback(&c, true);
		pair->ops->invalidate_end(private, c.start, c.end);
	}

	filemap_invalidate_unlock(pair->shared_mapping);
	filemap_invalidate_unlock(private);
	inode_unlock(shared);

	if (!err) {
		atomic64_inc(&pair->stat_conversions);
		atomic64_add(c.moved, to_private ? &pair->stat_to_private :
						   &pair->stat_to_shared);
	}
	trace_gmem_pair_convert(pair, args, c.moved, err);
	kvfree(c.flipped);
	return err;
}
EXPORT_SYMBOL_GPL(gmem_pair_convert);
