/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM gmem_pair

#if !defined(_MM_GMEM_PAIR_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _MM_GMEM_PAIR_TRACE_H

#include <linux/tracepoint.h>
#include <linux/mm.h>
#include <linux/sched.h>

/*
 * Every event names the pair by its id (GMEM_PAIR_QUERY's stats.id, printed
 * by gmem-inspect) and, where a process caused it, by pid and comm.
 */

/*
 * One GMEM_PAIR_CONVERT call (or KVM_SET_MEMORY_ATTRIBUTES on paired
 * memory): the range, the outcome, what moved, how long it took.
 * @orders: bit n set if a folio of order n moved.
 */
TRACE_EVENT(gmem_pair_convert,
	    TP_PROTO(struct gmem_pair *pair, struct gmem_pair_convert *args,
		     unsigned long moved, unsigned long orders,
		     u64 duration_ns, int ret),
	    TP_ARGS(pair, args, moved, orders, duration_ns, ret),
	    TP_STRUCT__entry(__field(unsigned long long, id)
			     __field(unsigned long, ino)
			     __field(unsigned long long, offset)
			     __field(unsigned long long, size)
			     __field(unsigned int, direction)
			     __field(unsigned int, flags)
			     __field(unsigned long, moved)
			     __field(unsigned long, orders)
			     __field(unsigned long long, duration_ns)
			     __field(int, ret)
			     __field(unsigned long long, error_offset)
			     __field(unsigned int, error_reason)
			     __field(int, pid)
			     __array(char, comm, TASK_COMM_LEN)),
	    TP_fast_assign(__entry->id = pair->id;
			   __entry->ino = pair->shared_mapping->host->i_ino;
			   __entry->offset = args->offset;
			   __entry->size = args->size;
			   __entry->direction = args->direction;
			   __entry->flags = args->flags;
			   __entry->moved = moved;
			   __entry->orders = orders;
			   __entry->duration_ns = duration_ns;
			   __entry->ret = ret;
			   __entry->error_offset = args->error_offset;
			   __entry->error_reason = args->error_reason;
			   __entry->pid = current->pid;
			   memcpy(__entry->comm, current->comm, TASK_COMM_LEN);),
	    TP_printk("pair %llu memfd ino %lu %s offset %#llx size %#llx flags %#x moved %lu orders %#lx ns %llu ret %d error_offset %#llx reason %u pid %d comm %s",
		      __entry->id, __entry->ino,
		      __entry->direction == GMEM_PAIR_TO_PRIVATE ?
		      "to-private" : "to-shared",
		      __entry->offset, __entry->size, __entry->flags,
		      __entry->moved, __entry->orders, __entry->duration_ns,
		      __entry->ret, __entry->error_offset,
		      __entry->error_reason, __entry->pid, __entry->comm)
);

/* One folio moved between the two page caches. */
TRACE_EVENT(gmem_pair_move,
	    TP_PROTO(struct gmem_pair *pair, pgoff_t index, long nr,
		     u32 direction),
	    TP_ARGS(pair, index, nr, direction),
	    TP_STRUCT__entry(__field(unsigned long long, id)
			     __field(unsigned long, ino)
			     __field(unsigned long, index)
			     __field(long, nr)
			     __field(unsigned int, direction)),
	    TP_fast_assign(__entry->id = pair->id;
			   __entry->ino = pair->shared_mapping->host->i_ino;
			   __entry->index = index;
			   __entry->nr = nr;
			   __entry->direction = direction;),
	    TP_printk("pair %llu memfd ino %lu index %#lx pages %ld %s",
		      __entry->id, __entry->ino, __entry->index, __entry->nr,
		      __entry->direction == GMEM_PAIR_TO_PRIVATE ?
		      "to-private" : "to-shared")
);

/*
 * A conversion refused: the offset, the reason (GMEM_PAIR_ERR_*), the
 * folio's order, reference count and pin count (-1, 0, 0 without a folio).
 */
TRACE_EVENT(gmem_pair_refuse,
	    TP_PROTO(struct gmem_pair *pair, pgoff_t index, u32 reason,
		     struct folio *folio, int err),
	    TP_ARGS(pair, index, reason, folio, err),
	    TP_STRUCT__entry(__field(unsigned long long, id)
			     __field(unsigned long long, offset)
			     __field(unsigned int, reason)
			     __field(int, err)
			     __field(int, order)
			     __field(int, refcount)
			     __field(int, pincount)
			     __field(int, pid)
			     __array(char, comm, TASK_COMM_LEN)),
	    TP_fast_assign(__entry->id = pair->id;
			   __entry->offset = (u64)index << PAGE_SHIFT;
			   __entry->reason = reason;
			   __entry->err = err;
			   __entry->order = folio ? folio_order(folio) : -1;
			   __entry->refcount = folio ? folio_ref_count(folio) : 0;
			   __entry->pincount = !folio ? 0 :
				folio_test_large(folio) ?
				atomic_read(&folio->_pincount) :
				folio_ref_count(folio) / GUP_PIN_COUNTING_BIAS;
			   __entry->pid = current->pid;
			   memcpy(__entry->comm, current->comm, TASK_COMM_LEN);),
	    TP_printk("pair %llu offset %#llx reason %u err %d order %d refcount %d pincount %d pid %d comm %s",
		      __entry->id, __entry->offset, __entry->reason,
		      __entry->err, __entry->order, __entry->refcount,
		      __entry->pincount, __entry->pid, __entry->comm)
);

/*
 * An access to the memfd at a private offset: a page fault (@fault: the
 * process gets SIGBUS) or a read, write, splice, fallocate or UFFDIO_COPY
 * (it gets EACCES).
 */
TRACE_EVENT(gmem_pair_sigbus,
	    TP_PROTO(struct gmem_pair *pair, pgoff_t index, bool fault),
	    TP_ARGS(pair, index, fault),
	    TP_STRUCT__entry(__field(unsigned long long, id)
			     __field(unsigned long long, offset)
			     __field(int, fault)
			     __field(int, pid)
			     __array(char, comm, TASK_COMM_LEN)),
	    TP_fast_assign(__entry->id = pair->id;
			   __entry->offset = (u64)index << PAGE_SHIFT;
			   __entry->fault = fault;
			   __entry->pid = current->pid;
			   memcpy(__entry->comm, current->comm, TASK_COMM_LEN);),
	    TP_printk("pair %llu offset %#llx %s pid %d comm %s",
		      __entry->id, __entry->offset,
		      __entry->fault ? "fault" : "syscall", __entry->pid,
		      __entry->comm)
);

/* Folios migrated off ZONE_MOVABLE/CMA for a to-private conversion. */
TRACE_EVENT(gmem_pair_migrate,
	    TP_PROTO(struct gmem_pair *pair, pgoff_t index, long nr, int ret),
	    TP_ARGS(pair, index, nr, ret),
	    TP_STRUCT__entry(__field(unsigned long long, id)
			     __field(unsigned long long, offset)
			     __field(long, nr)
			     __field(int, ret)),
	    TP_fast_assign(__entry->id = pair->id;
			   __entry->offset = (u64)index << PAGE_SHIFT;
			   __entry->nr = nr;
			   __entry->ret = ret;),
	    TP_printk("pair %llu offset %#llx pages %ld ret %d",
		      __entry->id, __entry->offset, __entry->nr, __entry->ret)
);

#endif /* _MM_GMEM_PAIR_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
