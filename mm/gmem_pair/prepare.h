/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _MM_GMEM_PAIR_PREPARE_H
#define _MM_GMEM_PAIR_PREPARE_H

int gmem_pair_migrate_folio(struct gmem_pair *pair, struct folio *folio,
			    pgoff_t index, u32 *reason);
void gmem_pair_prepare(struct gmem_pair *pair, pgoff_t start, pgoff_t end,
		       bool migrate);

#endif /* _MM_GMEM_PAIR_PREPARE_H */
