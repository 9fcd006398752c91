/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _MM_GMEM_PAIR_MOVE_H
#define _MM_GMEM_PAIR_MOVE_H

/* Bounded wait for transient references: tries of 100-200us each. */
#define GMEM_PAIR_FREEZE_TRIES	20

bool gmem_pair_try_drained(struct folio *folio, bool *drained,
			   bool (*attempt)(struct folio *folio));
bool gmem_pair_isolate(struct folio *folio, bool *drained);
bool gmem_pair_freeze(struct folio *folio, bool *drained);
int gmem_pair_move_to_shared(struct gmem_pair *pair, struct folio *folio);
int gmem_pair_move_to_private(struct gmem_pair *pair, struct folio *folio,
			      pgoff_t index);

#endif /* _MM_GMEM_PAIR_MOVE_H */
