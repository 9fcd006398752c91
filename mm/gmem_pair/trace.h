/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM gmem_pair

#if !defined(_MM_GMEM_PAIR_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _MM_GMEM_PAIR_TRACE_H

#include <linux/tracepoint.h>

/* One GMEM_PAIR_CONVERT call: the range, the outcome, what moved. */
TRACE_EVENT(gmem_pair_convert,
	    TP_PROTO(struct gmem_pair *pair, struct gmem_pair_convert *args,
		     unsigned long moved, int ret),
	    TP_ARGS(pair, args, moved, ret),
	    TP_STRUCT__entry(__field(unsigned long, ino)
			     __field(unsigned long long, offset)
			     __field(unsigned long long, size)
			     __field(unsigned int, direction)
			     __field(unsigned int, flags)
			     __field(unsigned long, moved)
			     __field(int, ret)
			     __field(unsigned long long, error_offset)
			     __field(unsigned int, error_reason)),
	    TP_fast_assign(__entry->ino = pair->shared_mapping->host->i_ino;
			   __entry->offset = args->offset;
			   __entry->size = args->size;
			   __entry->direction = args->direction;
			   __entry->flags = args->flags;
			   __entry->moved = moved;
			   __entry->ret = ret;
			   __entry->error_offset = args->error_offset;
			   __entry->error_reason = args->error_reason;),
	    TP_printk("memfd ino %lu %s offset %#llx size %#llx flags %#x moved %lu ret %d error_offset %#llx reason %u",
		      __entry->ino,
		      __entry->direction == GMEM_PAIR_TO_PRIVATE ?
		      "to-private" : "to-shared",
		      __entry->offset, __entry->size, __entry->flags,
		      __entry->moved, __entry->ret, __entry->error_offset,
		      __entry->error_reason)
);

/* One folio moved between the two page caches. */
TRACE_EVENT(gmem_pair_move,
	    TP_PROTO(struct gmem_pair *pair, pgoff_t index, long nr,
		     u32 direction),
	    TP_ARGS(pair, index, nr, direction),
	    TP_STRUCT__entry(__field(unsigned long, ino)
			     __field(unsigned long, index)
			     __field(long, nr)
			     __field(unsigned int, direction)),
	    TP_fast_assign(__entry->ino = pair->shared_mapping->host->i_ino;
			   __entry->index = index;
			   __entry->nr = nr;
			   __entry->direction = direction;),
	    TP_printk("memfd ino %lu index %#lx pages %ld %s",
		      __entry->ino, __entry->index, __entry->nr,
		      __entry->direction == GMEM_PAIR_TO_PRIVATE ?
		      "to-private" : "to-shared")
);

#endif /* _MM_GMEM_PAIR_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
