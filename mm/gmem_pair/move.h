/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _MM_GMEM_PAIR_MOVE_H
#define _MM_GMEM_PAIR_MOVE_H

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
void gmem_pair_putback(struct folio *folio);
void gmem_pair_make_uptodate(struct folio *folio);
void gmem_pair_move_to_shared(struct gmem_pair *pair, struct folio *folio);
void gmem_pair_move_to_private(struct gmem_pair *pair, struct folio *folio);

#endif /* _MM_GMEM_PAIR_MOVE_H */
