/**
 * Migrate-type fallback (mm/page_alloc.c, Linux 6.12 after the 6.10 freelist-hygiene rework):
 * when the lists of the requested type are empty, take the largest block of another type and,
 * where allowed, claim its whole pageblock for the requested type. At boot every pageblock is
 * MOVABLE, so the first GFP_KERNEL (UNMOVABLE) allocation in a zone claims the first order-10
 * block on the MOVABLE list rather than a smaller block.
 * The shape (the fallback returns the page it took) is that of 6.10-6.14 (unverified for 6.12).
 * MODEL: no watermark boosting (boost_watermark) and no CMA or HIGHATOMIC lists; an allocated page
 * never counts as movable when a pageblock is weighed, since the model has no LRU pages.
 */
import {
  MIGRATE_MOVABLE,
  MIGRATE_PCPTYPES,
  MIGRATE_RECLAIMABLE,
  MIGRATE_UNMOVABLE,
} from './gfp.js';
import { delFromFreeList, expand, rmqueueSmallest } from './buddy.js';
import { PG_BUDDY } from './page.js';
import type { Zone } from './zone.js';
import { MAX_PAGE_ORDER } from './zone.js';

/** fallbacks[]: the types each type may borrow from, in order. */
const FALLBACKS: readonly (readonly number[])[] = [
  [MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE], // UNMOVABLE
  [MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE], // MOVABLE
  [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE], // RECLAIMABLE
];

/**
 * can_steal_fallback - whether an allocation of type `startMt` that found a block of `order`
 * elsewhere may try to claim the block's whole pageblock.
 * @linux mm/page_alloc.c can_steal_fallback
 */
function canStealFallback(z: Zone, order: number, startMt: number): boolean {
  return order >= z.pageblockOrder >> 1 || startMt !== MIGRATE_MOVABLE || z.mobilityDisabled;
}

/**
 * find_suitable_fallback - the first type in fallbacks[startMt] with a free block of `order`.
 * @returns that type, or -1
 * @linux mm/page_alloc.c find_suitable_fallback
 */
function findSuitableFallback(z: Zone, order: number, startMt: number): number {
  for (const mt of FALLBACKS[startMt] as readonly number[]) {
    if ((z.free.head[order * MIGRATE_PCPTYPES + mt] as number) >= 0) return mt;
  }
  return -1;
}

/**
 * __rmqueue_fallback - takes a block from another type's lists: the largest one, except that a
 * MOVABLE allocation that may not claim the block splits the smallest one instead.
 * @param noFragment ALLOC_NOFRAGMENT: only whole pageblocks may change type
 * @returns the allocated block's index, or -1
 * @linux mm/page_alloc.c __rmqueue_fallback
 */
export function rmqueueFallback(
  z: Zone,
  order: number,
  startMt: number,
  noFragment: boolean,
): number {
  const minOrder = noFragment && order < z.pageblockOrder ? z.pageblockOrder : order;
  for (let o = MAX_PAGE_ORDER; o >= minOrder; o--) {
    const fb = findSuitableFallback(z, o, startMt);
    if (fb < 0) continue;
    const canSteal = canStealFallback(z, o, startMt);
    if (!canSteal && startMt === MIGRATE_MOVABLE && o > order)
      return stealSmallest(z, order, startMt);
    return stealSuitableFallback(z, o, fb, order, startMt, canSteal);
  }
  return -1;
}

/** The find_smallest branch of __rmqueue_fallback. */
function stealSmallest(z: Zone, order: number, startMt: number): number {
  for (let o = order; o <= MAX_PAGE_ORDER; o++) {
    const fb = findSuitableFallback(z, o, startMt);
    if (fb >= 0) return stealSuitableFallback(z, o, fb, order, startMt, false);
  }
  return -1;
}

/**
 * steal_suitable_fallback - allocates from the head block of list (`curOrder`, `fb`): a block of
 * a pageblock or more changes type outright; a smaller one takes its pageblock along when half
 * of the pageblock is free (or compatible), else only the block itself is split.
 * @returns the allocated block's index
 * @linux mm/page_alloc.c steal_suitable_fallback
 */
function stealSuitableFallback(
  z: Zone,
  curOrder: number,
  fb: number,
  order: number,
  startMt: number,
  wholeBlock: boolean,
): number {
  const i = z.free.head[curOrder * MIGRATE_PCPTYPES + fb] as number;
  const blockType = z.blockTypeOf(i);
  if (curOrder >= z.pageblockOrder) {
    delFromFreeList(z, i, curOrder, blockType);
    for (let k = 0; k < 1 << curOrder; k += 1 << z.pageblockOrder) z.setBlockType(i + k, startMt);
    expand(z, i, order, curOrder, startMt);
    return i;
  }
  const claimed = wholeBlock ? claimPageblock(z, i, blockType, startMt) : false;
  if (claimed) return rmqueueSmallest(z, order, startMt);
  delFromFreeList(z, i, curOrder, blockType);
  expand(z, i, order, curOrder, blockType);
  return i;
}

/**
 * The pageblock test and move of steal_suitable_fallback: counts the free pages of the block
 * holding `i` (prep_move_freepages_block) and, if enough, moves them all to `startMt`'s lists
 * (__move_freepages_block, each to the list tail) and retypes the block.
 * @returns whether the block was claimed
 */
function claimPageblock(z: Zone, i: number, blockType: number, startMt: number): boolean {
  const pbPages = 2 ** z.pageblockOrder;
  const startPfn = Math.floor((z.startPfn + i) / pbPages) * pbPages;
  if (!z.spans(startPfn) || !z.spans(startPfn + pbPages - 1)) return false;
  const first = startPfn - z.startPfn;
  let free = 0;
  for (let k = first; k < first + pbPages;) {
    if (((z.mem.flags[k] as number) & PG_BUDDY) === 0) {
      k++;
      continue;
    }
    free += 1 << (z.mem.order[k] as number);
    k += 1 << (z.mem.order[k] as number);
  }
  const alike = startMt !== MIGRATE_MOVABLE && blockType === MIGRATE_MOVABLE ? pbPages - free : 0;
  if (free + alike < pbPages / 2 && !z.mobilityDisabled) return false;
  moveFreepagesBlock(z, first, pbPages, blockType, startMt);
  return true;
}

/** __move_freepages_block: moves every free block of the pageblock to `newMt`'s list tails. */
function moveFreepagesBlock(
  z: Zone,
  first: number,
  pbPages: number,
  oldMt: number,
  newMt: number,
): void {
  for (let k = first; k < first + pbPages;) {
    if (((z.mem.flags[k] as number) & PG_BUDDY) === 0) {
      k++;
      continue;
    }
    const o = z.mem.order[k] as number;
    z.free.del(o * MIGRATE_PCPTYPES + oldMt, k);
    z.free.addTail(o * MIGRATE_PCPTYPES + newMt, k);
    k += 1 << o;
  }
  z.setBlockType(first, newMt);
}

/**
 * __rmqueue - a block of `order` for type `mt`: from its own lists, else borrowed from another
 * type's.
 * @returns the block's index, or -1 when the zone has no block of that order or larger
 * @linux mm/page_alloc.c __rmqueue
 */
export function rmqueue(z: Zone, order: number, mt: number, noFragment: boolean): number {
  const i = rmqueueSmallest(z, order, mt);
  return i >= 0 ? i : rmqueueFallback(z, order, mt, noFragment);
}
