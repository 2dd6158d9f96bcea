/**
 * The mem_map as the rest of the kernel sees it (include/linux/mm.h, page-flags.h, Linux 6.12):
 * pfn to zone, page_address, virt_to_page, reference counts, compound heads and the slab mark of
 * the frames the page allocator manages. The allocator extends this with alloc and free.
 */
import type { PhysAddr, VirtAddr } from '../../lib/addr.js';
import { hex } from '../../lib/addr.js';
import { assert } from '../../lib/errors.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { LinearMap } from './linear-map.js';
import type { Node } from './node.js';
import type { PageInfo, Pfn } from './page.js';
import { pageInfo, PG_HEAD, PG_SLAB, PG_TAIL } from './page.js';
import type { Zone } from './zone.js';

/**
 * get_order - the order of the smallest block of pages holding `size` bytes.
 * @param size bytes, > 0 (get_order(0) is 64 - PAGE_SHIFT on 64-bit kernels; so it is here)
 * @param pageSize PAGE_SIZE, default 4096
 * @returns ceil(log2(size / pageSize)), 0 for sizes up to one page
 * @linux include/asm-generic/getorder.h get_order
 */
export function getOrder(size: number, pageSize = 4096): number {
  if (size <= 0) return 64 - Math.log2(pageSize);
  let order = 0;
  for (let n = Math.floor((size - 1) / pageSize); n > 0; n = Math.floor(n / 2)) order++;
  return order;
}

/** The frames of a booted node: pfn, zone, address and reference queries (no alloc or free). */
export class PageFrames {
  /** Populated zones, searched by zoneOf. */
  protected readonly populated: readonly Zone[];
  /** 1 / PAGE_SIZE (exact: a power of two), to turn divisions into multiplications. */
  private readonly perPage: number;
  /** The zone zoneOf found last, tried first next time. */
  private lastZone: Zone | null = null;

  /**
   * @param node the booted node
   * @param linearMap lowmem's kernel addresses
   */
  constructor(
    readonly profile: ArchProfile,
    readonly node: Node,
    readonly linearMap: LinearMap,
  ) {
    this.populated = node.zones.filter((z) => z.populated);
    this.perPage = 1 / profile.pageSize;
  }

  /** The node's zones, lowest first (ZONE_MOVABLE last, empty). */
  get zones(): readonly Zone[] {
    return this.node.zones;
  }

  /** page_count - references to the page's folio (its head's _refcount). */
  pageCount(page: Pfn): number {
    return this.pageRefCount(this.compoundHead(page));
  }

  /** page_ref_count - this page's own _refcount (0 for tails and free pages). */
  pageRefCount(page: Pfn): number {
    const z = this.zoneOf(page);
    return z === null ? 0 : (z.mem.refcount[page - z.startPfn] as number);
  }

  /** compound_head - the head of a compound page, or the page itself. */
  compoundHead(page: Pfn): Pfn {
    const z = this.zoneOf(page);
    if (z === null) return page;
    const i = page - z.startPfn;
    return ((z.mem.flags[i] as number) & PG_TAIL) !== 0
      ? ((z.startPfn + (z.mem.prev[i] as number)) as Pfn)
      : page;
  }

  /** compound_order - the order of a compound head, 0 for any other page. */
  compoundOrder(page: Pfn): number {
    const z = this.zoneOf(page);
    if (z === null) return 0;
    const i = page - z.startPfn;
    return ((z.mem.flags[i] as number) & PG_HEAD) !== 0 ? (z.mem.order[i] as number) : 0;
  }

  /** PageHighMem - the page has no linear-map address. */
  pageHighMem(page: Pfn): boolean {
    return this.zoneOf(page)?.name === 'HighMem';
  }

  /**
   * page_address - the linear-map address of a lowmem page.
   * @returns the address, or null for a highmem page (which needs kmap)
   */
  pageAddress(page: Pfn): VirtAddr | null {
    const phys = page * this.profile.pageSize;
    return this.linearMap.isLowmem(phys) ? this.linearMap.physToVirt(phys) : null;
  }

  /** page_to_phys. */
  pageToPhys(page: Pfn): PhysAddr {
    return (page * this.profile.pageSize) as PhysAddr;
  }

  /** phys_to_page: the page holding physical address `phys`. */
  physToPage(phys: number): Pfn {
    return Math.floor(phys * this.perPage) as Pfn;
  }

  /** virt_addr_valid - `va` is a linear-map address of a page this allocator manages. */
  virtAddrValid(va: VirtAddr): boolean {
    return (
      this.linearMap.contains(va) &&
      this.zoneOf(this.physToPage(this.linearMap.virtToPhys(va))) !== null
    );
  }

  /** virt_to_page of a linear-map address (check virtAddrValid first). */
  virtToPage(va: VirtAddr): Pfn {
    return this.physToPage(this.linearMap.virtToPhys(va));
  }

  /** The zone holding `page`, or null when no zone manages it (pfn_valid fails). */
  pageZone(page: Pfn): Zone | null {
    return this.zoneOf(page);
  }

  /** The descriptor of `page` as an object, or null if no zone spans it. */
  page(page: Pfn): PageInfo | null {
    const z = this.zoneOf(page);
    return z === null ? null : pageInfo(z.mem, page - z.startPfn, z.name);
  }

  /** get_order with this machine's page size. */
  getOrder(size: number): number {
    return getOrder(size, this.profile.pageSize);
  }

  /** Marks a slab's first page (__folio_set_slab) and stores the slab's id in page->private. */
  setPageSlab(page: Pfn, id: number): void {
    const z = this.zoneOf(page);
    assert(z !== null, () => `setPageSlab: pfn ${hex(page)} has no zone`);
    const i = page - z.startPfn;
    z.mem.flags[i] = (z.mem.flags[i] as number) | PG_SLAB;
    z.mem.next[i] = id;
  }

  /** __folio_clear_slab. */
  clearPageSlab(page: Pfn): void {
    const z = this.zoneOf(page);
    assert(z !== null, () => `clearPageSlab: pfn ${hex(page)} has no zone`);
    const i = page - z.startPfn;
    z.mem.flags[i] = (z.mem.flags[i] as number) & ~PG_SLAB;
    z.mem.next[i] = -1;
  }

  /**
   * folio_slab(virt_to_folio()) for kfree: the slab id of the folio holding `page`.
   * @returns the id stored by setPageSlab, -1 if the folio is not a slab, -2 if no zone has the page
   */
  folioSlab(page: Pfn): number {
    const z = this.zoneOf(page);
    if (z === null) return -2;
    let i = page - z.startPfn;
    const m = z.mem;
    if (((m.flags[i] as number) & PG_TAIL) !== 0) i = m.prev[i] as number;
    return ((m.flags[i] as number) & PG_SLAB) !== 0 ? (m.next[i] as number) : -1;
  }

  /** NR_FREE_PAGES over all zones (buddy lists only; PCP pages are not counted). */
  nrFreePages(): number {
    return this.populated.reduce((n, z) => n + z.nrFree, 0);
  }

  /** page_zone: the populated zone spanning pfn `p`, or null. */
  protected zoneOf(p: number): Zone | null {
    const last = this.lastZone;
    if (last !== null && p >= last.startPfn && p < last.endPfn) return last;
    const zones = this.populated;
    for (let k = 0; k < zones.length; k++) {
      const z = zones[k] as Zone;
      if (p >= z.startPfn && p < z.endPfn) {
        this.lastZone = z;
        return z;
      }
    }
    return null;
  }
}
