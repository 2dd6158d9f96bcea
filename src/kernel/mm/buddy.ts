/**
 * The binary buddy allocator of one zone (mm/page_alloc.c, Linux 6.12): free lists per order and
 * migrate type, taking from the head of the smallest list that has a block and splitting it
 * (expand keeps the low half and puts the high halves at the list heads), freeing with merges
 * into the buddy at pfn ^ (1 << order), and the boot-time hand-over of free memory
 * (memblock_free_all) in increasing pfn order.
 *
 * DOC: where freed blocks go. A block freed at boot goes to the tail of its list (FPI_TO_TAIL), so
 * after boot every list runs in increasing pfn order and the lowest block is taken first. Later
 * frees go to the head, unless the buddy of the merged block's parent is free: then the block is
 * likely to merge soon and goes to the tail (buddy_merge_likely). Highmem is freed one page at a
 * time through the normal path, as arm and powerpc mem_init do, so its order-10 list ends up
 * highest block first (unverified: 6.12 arch/arm/mm/init.c free_highpages).
 */
import { assert } from '../../lib/errors.js';
import { MIGRATE_PCPTYPES } from './gfp.js';
import { PG_BUDDY, PG_RESERVED } from './page.js';
import type { Zone } from './zone.js';
import { MAX_PAGE_ORDER } from './zone.js';

/** True if index `i` of zone `z` heads a free block of exactly `order` (page_is_buddy). */
export function isBuddy(z: Zone, i: number, order: number): boolean {
  const m = z.mem;
  return (
    i >= 0 && i < m.nPages && ((m.flags[i] as number) & PG_BUDDY) !== 0 && m.order[i] === order
  );
}

/**
 * __add_to_free_list - puts the free block at `i` on the list of `order` and `mt`.
 * @param tail true for the list's tail (FPI_TO_TAIL or a likely merge), else its head
 * @linux mm/page_alloc.c __add_to_free_list
 */
export function addToFreeList(z: Zone, i: number, order: number, mt: number, tail: boolean): void {
  const m = z.mem;
  m.flags[i] = PG_BUDDY;
  m.order[i] = order;
  if (tail) z.free.addTail(order * MIGRATE_PCPTYPES + mt, i);
  else z.free.addHead(order * MIGRATE_PCPTYPES + mt, i);
  z.nrFree += 1 << order;
}

/**
 * del_page_from_free_list - takes the free block at `i` off its list.
 * @linux mm/page_alloc.c del_page_from_free_list
 */
export function delFromFreeList(z: Zone, i: number, order: number, mt: number): void {
  z.free.del(order * MIGRATE_PCPTYPES + mt, i);
  z.mem.flags[i] = 0;
  z.nrFree -= 1 << order;
}

/**
 * expand - splits the block at `i` from order `high` down to `low`, keeping the low half each
 * time and putting the high half at the head of its list.
 * @linux mm/page_alloc.c expand
 */
export function expand(z: Zone, i: number, low: number, high: number, mt: number): void {
  let size = 1 << high;
  while (high > low) {
    high--;
    size >>= 1;
    addToFreeList(z, i + size, high, mt, false);
  }
}

/**
 * __rmqueue_smallest - takes the first block of the smallest order >= `order` on the lists of
 * `mt` and splits it down to `order`.
 * @returns the block's index, or -1 if no list of `mt` has one
 * @linux mm/page_alloc.c __rmqueue_smallest
 */
export function rmqueueSmallest(z: Zone, order: number, mt: number): number {
  const head = z.free.head;
  for (let o = order; o <= MAX_PAGE_ORDER; o++) {
    const i = head[o * MIGRATE_PCPTYPES + mt] as number;
    if (i < 0) continue;
    delFromFreeList(z, i, o, mt);
    expand(z, i, order, o, mt);
    return i;
  }
  return -1;
}

/**
 * __free_one_page - returns the block at `i` to the free lists, merging it with its buddy while
 * the buddy is free and of the same order.
 * @param mt the migrate type of the block's pageblock
 * @param toTail FPI_TO_TAIL: boot-time freeing, always to the tail
 * @linux mm/page_alloc.c __free_one_page
 */
export function freeOnePage(z: Zone, i: number, order: number, mt: number, toTail: boolean): void {
  let p = z.startPfn + i;
  let buddyPfn = -1;
  while (order < MAX_PAGE_ORDER) {
    buddyPfn = buddyOf(p, order);
    const bi = i + (buddyPfn - p);
    if (!isBuddy(z, bi, order)) break;
    // Below pageblock_order a free buddy is always on the lists of our pageblock's type.
    const buddyMt = order >= z.pageblockOrder ? z.blockTypeOf(bi) : mt;
    delFromFreeList(z, bi, order, buddyMt);
    if (buddyMt !== mt) z.setBlockType(bi, mt);
    const merged = Math.min(buddyPfn, p);
    i += merged - p;
    p = merged;
    order++;
  }
  addToFreeList(z, i, order, mt, toTail || buddyMergeLikely(z, p, buddyPfn, i, order));
}

/**
 * buddy_merge_likely - whether the parent of the just-freed block has a free buddy, so that the
 * block will probably merge once its own buddy is freed (then it goes to the list tail).
 * @linux mm/page_alloc.c buddy_merge_likely
 */
function buddyMergeLikely(z: Zone, p: number, buddyPfn: number, i: number, order: number): boolean {
  if (order >= MAX_PAGE_ORDER - 1) return false;
  const higher = Math.min(buddyPfn, p);
  return isBuddy(z, i + (buddyOf(higher, order + 1) - p), order + 1);
}

/**
 * Marks `n` frames from index `i` as handed to the allocator (ClearPageReserved, refcount 0,
 * counted in managed_pages), as __free_pages_core does before the first free.
 */
function releaseFrames(z: Zone, i: number, n: number): void {
  const m = z.mem;
  for (let k = i; k < i + n; k++) {
    assert(
      ((m.flags[k] as number) & PG_RESERVED) !== 0,
      () => `pfn ${z.startPfn + k} freed twice at boot`,
    );
    m.flags[k] = 0;
    m.refcount[k] = 0;
  }
  z.managedPages += n;
}

/**
 * __free_pages_memory - frees the pfn range [start, end) of lowmem zone `z` at boot, in the
 * largest naturally aligned blocks, each to the tail of its list.
 * @linux mm/memblock.c __free_pages_memory
 */
export function freeBootRange(z: Zone, start: number, end: number): void {
  while (start < end) {
    let order = start === 0 ? MAX_PAGE_ORDER : Math.min(MAX_PAGE_ORDER, ctz(start));
    while (start + (1 << order) > end) order--;
    const i = start - z.startPfn;
    releaseFrames(z, i, 1 << order);
    freeOnePage(z, i, order, z.blockTypeOf(i), true);
    start += 1 << order;
  }
}

/**
 * free_highmem_page over [start, end): the highmem pages are freed one at a time through the
 * normal free path (the boot pageset passes each straight to the buddy lists).
 * @linux arch/arm/mm/init.c free_highpages
 */
export function freeBootHighmem(z: Zone, start: number, end: number): void {
  for (let p = start; p < end; p++) {
    const i = p - z.startPfn;
    releaseFrames(z, i, 1);
    freeOnePage(z, i, 0, z.blockTypeOf(i), false);
  }
}

/**
 * __find_buddy_pfn: pfn ^ (1 << order), written so that pfns above 2^31 (physical addresses past
 * 8 TiB) stay exact: `&` keeps the low 32 bits, which hold the bit that decides.
 */
function buddyOf(p: number, order: number): number {
  const bit = 1 << order;
  return (p & bit) !== 0 ? p - bit : p + bit;
}

/** __ffs: index of the lowest set bit of a positive integer (pfns may exceed 32 bits). */
function ctz(n: number): number {
  let k = 0;
  while (n % 2 === 0) {
    n /= 2;
    k++;
  }
  return k;
}
