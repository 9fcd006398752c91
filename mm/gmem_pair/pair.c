// SPDX-License-Identifier: GPL-2.0
/*
 * gmem_pair: the pair object, its per-offset state and the checks the shmem
 * side makes on behalf of the pair.
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/slab.h>
#include "internal.h"
#include "trace.h"

/* Pair ids: 1, 2, ...; 64 bits never wrap. */
static atomic64_t gmem_pair_last_id = ATOMIC64_INIT(0);

static void gmem_pair_free(struct gmem_pair *pair)
{
	kvfree(pair->private_bits);
	kfree(pair);
}

void gmem_pair_put(struct gmem_pair *pair)
{
	if (refcount_dec_and_test(&pair->refs))
		gmem_pair_free(pair);
}

/**
 * gmem_pair_create - glue a new shmem memfd to a private file
 * @private_mapping: the private file's page cache (guest_memfd)
 * @size: size of both files, page aligned, at most GMEM_PAIR_MAX_SIZE
 * @flags: GUEST_MEMFD_FLAG_PAIR_SHARED to start all shared, else all private
 * @ops: the private file owner's invalidation callbacks
 *
 * The memfd is sized once and sealed against growing and shrinking; it
 * shows as "memfd:gmem_pair" in /proc/PID/maps.  The returned pair holds one
 * reference for the caller, to be dropped by gmem_pair_release_private().
 *
 * Return: the pair or an ERR_PTR(): -EINVAL for a bad size, -ENOMEM.
 */
struct gmem_pair *gmem_pair_create(struct address_space *private_mapping,
				   loff_t size, u64 flags,
				   const struct gmem_pair_client_ops *ops)
{
	struct gmem_pair *pair;
	struct file *file;
	struct inode *inode;
	int err = -ENOMEM;

	if (size <= 0 || !PAGE_ALIGNED(size) || size > GMEM_PAIR_MAX_SIZE)
		return ERR_PTR(-EINVAL);

	pair = kzalloc(sizeof(*pair), GFP_KERNEL_ACCOUNT);
	if (!pair)
		return ERR_PTR(-ENOMEM);
	pair->id = atomic64_inc_return(&gmem_pair_last_id);
	pair->nr_pages = size >> PAGE_SHIFT;
	pair->private_bits = kvcalloc(BITS_TO_LONGS(pair->nr_pages),
				      sizeof(unsigned long),
				      GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!pair->private_bits)
		goto err_free;
	if (!(flags & GUEST_MEMFD_FLAG_PAIR_SHARED))
		bitmap_set(pair->private_bits, 0, pair->nr_pages);

	file = shmem_file_setup("memfd:gmem_pair", size, VM_NORESERVE);
	if (IS_ERR(file)) {
		err = PTR_ERR(file);
		goto err_free;
	}
	file->f_mode |= FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE;
	file->f_flags |= O_LARGEFILE;
	inode = file_inode(file);

	refcount_set(&pair->refs, 2);	/* private side + shared inode */
	pair->shared_file = file;
	pair->shared_mapping = inode->i_mapping;
	pair->private_mapping = private_mapping;
	pair->ops = ops;
	/* Shmem THPs move into the private file whole. */
	mapping_set_large_folios(private_mapping);

	/* Fixed size; no further seals. */
	SHMEM_I(inode)->seals = F_SEAL_SEAL | F_SEAL_GROW | F_SEAL_SHRINK;
	shmem_set_gmem_pair(inode, pair);
	return pair;

err_free:
	gmem_pair_free(pair);
	return ERR_PTR(err);
}
EXPORT_SYMBOL_GPL(gmem_pair_create);

/**
 * gmem_pair_release_private - the private file is going away
 * @pair: the pair
 *
 * Called once, when the private file is released; no conversion can run
 * (conversions come through the private file).  The memfd lives on as long
 * as its descriptors and mappings do; its private ranges keep faulting
 * SIGBUS.
 */
void gmem_pair_release_private(struct gmem_pair *pair)
{
	struct address_space *private = pair->private_mapping;
	struct file *shared = pair->shared_file;

	filemap_invalidate_lock(private);
	filemap_invalidate_lock(pair->shared_mapping);
	pair->private_mapping = NULL;
	pair->shared_file = NULL;
	filemap_invalidate_unlock(pair->shared_mapping);
	filemap_invalidate_unlock(private);
	fput(shared);
	gmem_pair_put(pair);
}
EXPORT_SYMBOL_GPL(gmem_pair_release_private);

/**
 * gmem_pair_range_private - is every offset of [@start, @end) private?
 * @pair: the pair
 * @start: first index
 * @end: index after the last
 *
 * The private file's owner asks before it allocates or maps a private page;
 * it holds the private mapping's invalidate_lock (read or write), so the
 * answer holds until it drops the lock.
 */
bool gmem_pair_range_private(struct gmem_pair *pair, pgoff_t start,
			     pgoff_t end)
{
	lockdep_assert_held(&pair->private_mapping->invalidate_lock);
	if (end > pair->nr_pages)
		return false;
	return find_next_zero_bit(pair->private_bits, end, start) >= end;
}
EXPORT_SYMBOL_GPL(gmem_pair_range_private);

/**
 * gmem_pair_state_run - the state of @index, and how far it goes
 * @pair: the pair
 * @index: first index
 * @end: index after the last to look at
 * @private: set to the state of @index
 *
 * The caller holds the private mapping's invalidate_lock, as for
 * gmem_pair_range_private().
 *
 * Return: the first index in (@index, @end) in the other state, or @end.
 */
pgoff_t gmem_pair_state_run(struct gmem_pair *pair, pgoff_t index,
			    pgoff_t end, bool *private)
{
	lockdep_assert_held(&pair->private_mapping->invalidate_lock);
	end = min(end, pair->nr_pages);
	*private = test_bit(index, pair->private_bits);
	if (*private)
		return find_next_zero_bit(pair->private_bits, end, index);
	return find_next_bit(pair->private_bits, end, index);
}
EXPORT_SYMBOL_GPL(gmem_pair_state_run);

/**
 * gmem_pair_maps_shared - is the memfd mapped at [@addr, @addr + @size)?
 * @pair: the pair
 * @addr: start of the range in current->mm
 * @offset: the memfd offset @addr must map
 * @size: length of the range
 *
 * A VM binding the private file at @offset must take the shared pages of
 * the same offsets from the pair's memfd: every VMA of the range is a
 * MAP_SHARED mapping of the memfd, at the matching file offset.
 *
 * Return: true if so.
 */
bool gmem_pair_maps_shared(struct gmem_pair *pair, unsigned long addr,
			   u64 offset, u64 size)
{
	struct mm_struct *mm = current->mm;
	unsigned long end = addr + size;
	struct vm_area_struct *vma;
	bool ok = true;

	mmap_read_lock(mm);
	while (addr < end) {
		vma = vma_lookup(mm, addr);
		if (!vma || !vma->vm_file ||
		    vma->vm_file->f_mapping != pair->shared_mapping ||
		    !(vma->vm_flags & VM_SHARED) ||
		    linear_page_index(vma, addr) != offset >> PAGE_SHIFT) {
			ok = false;
			break;
		}
		offset += vma->vm_end - addr;
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return ok;
}
EXPORT_SYMBOL_GPL(gmem_pair_maps_shared);

/**
 * gmem_pair_shared_access_begin - may shmem look up [@start, @end)?
 * @pair: the memfd's pair
 * @start: first index
 * @end: index after the last
 * @fault: the lookup is a page fault (SIGBUS), not a syscall (EACCES)
 *
 * Called by shmem before every lookup or allocation in a paired memfd:
 * fault, read, write, splice, fallocate.  Takes the memfd's invalidate_lock
 * for read, which a conversion holds for write, and keeps it until
 * gmem_pair_shared_access_end(), which the caller calls whatever this
 * returns.  Offsets past the end are left to shmem's own checks.
 *
 * Return: 0, or -EACCES if a private offset is in the range: a fault there
 * (@fault) raises SIGBUS, read/write/fallocate fail; nothing is allocated.
 * Either is traced (gmem_pair:gmem_pair_sigbus).
 */
int gmem_pair_shared_access_begin(struct gmem_pair *pair, pgoff_t start,
				  pgoff_t end, bool fault)
{
	pgoff_t index;

	filemap_invalidate_lock_shared(pair->shared_mapping);
	end = min(end, pair->nr_pages);
	if (start >= end)
		return 0;
	index = find_next_bit(pair->private_bits, end, start);
	if (index >= end)
		return 0;
	trace_gmem_pair_sigbus(pair, index, fault);
	return -EACCES;
}

/**
 * gmem_pair_shared_relock - take the pair's lock again after a wait
 * @pair: the memfd's pair
 *
 * shmem drops the lock of gmem_pair_shared_access_begin() while a fault
 * waits for userspace (a userfaultfd handler) and takes it back with this
 * for the caller's gmem_pair_shared_access_end(); the fault is retried.
 */
void gmem_pair_shared_relock(struct gmem_pair *pair)
{
	filemap_invalidate_lock_shared(pair->shared_mapping);
}

void gmem_pair_shared_access_end(struct gmem_pair *pair)
{
	filemap_invalidate_unlock_shared(pair->shared_mapping);
}

/**
 * gmem_pair_shared_orders - large folio orders shmem may allocate at @index
 * @pair: the memfd's pair
 * @index: the faulting offset, shared
 * @orders: the orders shmem allows
 *
 * A large folio must not cover a private offset.  Called under
 * gmem_pair_shared_access_begin().
 *
 * Return: @orders without those whose aligned range holds a private offset.
 */
unsigned long gmem_pair_shared_orders(struct gmem_pair *pair, pgoff_t index,
				      unsigned long orders)
{
	unsigned long ok = 0;
	int order;

	for_each_set_bit(order, &orders, BITS_PER_LONG) {
		pgoff_t start = round_down(index, 1UL << order);
		pgoff_t end = start + (1UL << order);

		if (end <= pair->nr_pages &&
		    find_next_bit(pair->private_bits, end, start) >= end)
			ok |= BIT(order);
	}
	return ok;
}

/* The memfd's inode is being evicted: drop its reference. */
void gmem_pair_shared_evict(struct gmem_pair *pair)
{
	gmem_pair_put(pair);
}

void gmem_pair_fill_stats(struct gmem_pair *pair, struct gmem_pair_stats *st)
{
	struct inode *shared = gmem_pair_shared_inode(pair);

	memset(st, 0, sizeof(*st));
	st->size = (u64)pair->nr_pages << PAGE_SHIFT;
	st->private_pages = pair->private_mapping->nrpages;
	st->shared_pages = pair->shared_mapping->nrpages;
	st->swapped_pages = READ_ONCE(SHMEM_I(shared)->swapped);
	st->to_shared_pages = atomic64_read(&pair->stat_to_shared);
	st->to_private_pages = atomic64_read(&pair->stat_to_private);
	st->conversions = atomic64_read(&pair->stat_conversions);
	st->refused_pinned = atomic64_read(&pair->stat_refused_pinned);
	st->refused_movable = atomic64_read(&pair->stat_refused_movable);
	st->migrated_pages = atomic64_read(&pair->stat_migrated);
	st->id = pair->id;
}
