/**
 * The page frame descriptor (struct page, include/linux/mm_types.h and page-flags.h, Linux 6.12),
 * kept as parallel typed arrays over a zone's page frames (a mem_map) instead of one object per
 * page: a 64 GiB machine has 16 M frames, at 14 bytes each here. A page is named by its pfn.
 */
declare const pfnBrand: unique symbol;
/** A page frame number: the model's `struct page *` (pfn_to_page / page_to_pfn are the identity). */
export type Pfn = number & { readonly [pfnBrand]: 'Pfn' };

/** Makes a Pfn of a number the caller checked. */
export const pfn = (n: number): Pfn => n as Pfn;

/** PageBuddy: the first page of a free block on a buddy free list; `order` is the block's. */
export const PG_BUDDY = 1 << 0;
/** On a per-CPU free list; `order` is the list's. (The kernel marks nothing; the model does.) */
export const PG_PCP = 1 << 1;
/** PageReserved: never given to the allocator (memblock reservation or a hole). */
export const PG_RESERVED = 1 << 2;
/** PageHead: first page of a compound page; `order` is the compound order. */
export const PG_HEAD = 1 << 3;
/** PageTail: later page of a compound page; `prev` holds the head's index. */
export const PG_TAIL = 1 << 4;
/** PageSlab: a slab's first page; `next` holds the slab id (page->private). */
export const PG_SLAB = 1 << 5;

const FLAG_NAMES: readonly (readonly [number, string])[] = [
  [PG_BUDDY, 'buddy'],
  [PG_PCP, 'pcp'],
  [PG_RESERVED, 'reserved'],
  [PG_HEAD, 'head'],
  [PG_TAIL, 'tail'],
  [PG_SLAB, 'slab'],
];

/**
 * The descriptors of one zone's frames, index i = pfn - basePfn. While a page is free, `next`
 * and `prev` link it into a free list (page->buddy_list / pcp_list); while it is allocated
 * they hold page->private and the compound head, as the kernel's unions do.
 */
export class MemMap {
  /** PG_* bits; written by the buddy allocator, compound set-up and the slab allocator. */
  readonly flags: Uint8Array;
  /** Buddy order of a free block head, list order of a PCP page, compound order of a head. */
  readonly order: Uint8Array;
  /** page->_refcount: 0 while free, 1 after allocation, get_page/put_page move it. */
  readonly refcount: Int32Array;
  /** Next list member (index, -1 = none) while free; page->private while allocated. */
  readonly next: Int32Array;
  /** Previous list member while free; the compound head's index on a tail page. */
  readonly prev: Int32Array;

  /**
   * @param basePfn pfn of index 0
   * @param nPages frames covered (the zone's span)
   */
  constructor(
    readonly basePfn: number,
    readonly nPages: number,
  ) {
    this.flags = new Uint8Array(nPages).fill(PG_RESERVED);
    this.order = new Uint8Array(nPages);
    this.refcount = new Int32Array(nPages).fill(1);
    this.next = new Int32Array(nPages).fill(-1);
    this.prev = new Int32Array(nPages).fill(-1);
  }
}

/** One page's descriptor as a plain object, for reports and the visualizer. */
export interface PageInfo {
  readonly pfn: Pfn;
  /** Zone name as /proc/zoneinfo prints it. */
  readonly zone: string;
  readonly refcount: number;
  /** Buddy, PCP-list or compound order; 0 otherwise. */
  readonly order: number;
  /** Flag names: buddy, pcp, reserved, head, tail, slab. */
  readonly flags: readonly string[];
  /** page->private of an allocated page (-1 when unset), or null while the page is free. */
  readonly private: number | null;
  /** Compound head of a tail page, else null. */
  readonly compoundHead: Pfn | null;
}

/** Builds the PageInfo of index `i` of `mem`. */
export function pageInfo(mem: MemMap, i: number, zone: string): PageInfo {
  const f = mem.flags[i] as number;
  const free = (f & (PG_BUDDY | PG_PCP)) !== 0;
  return {
    pfn: pfn(mem.basePfn + i),
    zone,
    refcount: mem.refcount[i] as number,
    order: (f & (PG_BUDDY | PG_PCP | PG_HEAD)) !== 0 ? (mem.order[i] as number) : 0,
    flags: FLAG_NAMES.filter(([bit]) => (f & bit) !== 0).map(([, name]) => name),
    private: free ? null : (mem.next[i] as number),
    compoundHead: (f & PG_TAIL) !== 0 ? pfn(mem.basePfn + (mem.prev[i] as number)) : null,
  };
}
