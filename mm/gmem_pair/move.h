/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _MM_GMEM_PAIR_MOVE_H
#define _MM_GMEM_PAIR_MOVE_H

#include <linux/pagevec.h>

/*
 * Bounded wait for transient references: rounds of freezing every
 * collected folio, 100-200us apart.
 */
#define GMEM_PAIR_FREEZE_TRIES	20

int gmem_pair_expected_refs(struct folio *folio);
bool gmem_pair_try_local(struct folio *folio,
			 bool (*attempt)(struct folio *folio));
bool gmem_pair_try_drained(struct folio *folio, bool *drained,
			   bool (*attempt)(struct folio *folio));
bool gmem_pair_isolate(struct folio *folio);
unsigned int gmem_pair_isolate_batch(struct folio_batch *fbatch,
				     unsigned int first, struct list_head *list);
void gmem_pair_putback(struct folio *folio);
void gmem_pair_make_uptodate(struct folio *folio);
long gmem_pair_move_batch(struct gmem_pair *pair, struct folio_batch *fbatch,
			  bool to_private);

#endif /* _MM_GMEM_PAIR_MOVE_H */
