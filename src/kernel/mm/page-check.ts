/**
 * The checks the page allocator makes on a block being freed (mm/page_alloc.c
 * free_pages_prepare, free_tail_page_prepare, page_bad_reason; Linux 6.12).
 * MODEL: every page of the block is checked, as with CONFIG_DEBUG_VM; the kernel without it checks
 * less and would corrupt its lists where the model reports and refuses.
 */
import { PG_HEAD, PG_RESERVED, PG_TAIL } from './page.js';
import type { Zone } from './zone.js';

/** What is wrong with a freed block: the first bad page and dump_page's reason. */
export interface BadPage {
  readonly pfn: number;
  readonly reason: string;
}

/**
 * free_pages_prepare - checks the block of 2^order pages at index `i` and clears its page flags
 * (compound and slab marks included).
 * @returns null when the block may be freed, else the bad page (the block is left untouched)
 * @linux mm/page_alloc.c free_pages_prepare
 */
export function freePagesPrepare(z: Zone, i: number, order: number): BadPage | null {
  const m = z.mem;
  const head = m.flags[i] as number;
  if ((head & PG_HEAD) !== 0 && m.order[i] !== order) {
    return {
      pfn: z.startPfn + i,
      reason: 'VM_BUG_ON_PAGE(compound && compound_order(page) != order)',
    };
  }
  if (i + (1 << order) > m.nPages) {
    return { pfn: z.startPfn + i, reason: 'freed range runs past the end of its zone' };
  }
  for (let k = i + 1; k < i + (1 << order); k++) {
    const f = m.flags[k] as number;
    const compoundTail = (head & PG_HEAD) !== 0 && (f & PG_TAIL) !== 0;
    if ((f !== 0 && !compoundTail) || (m.refcount[k] as number) !== 0) {
      const reason =
        (f & PG_RESERVED) !== 0 ? 'PAGE_FLAGS_CHECK_AT_FREE flag(s) set' : 'nonzero mapcount';
      return { pfn: z.startPfn + k, reason };
    }
  }
  m.flags.fill(0, i, i + (1 << order));
  return null;
}
