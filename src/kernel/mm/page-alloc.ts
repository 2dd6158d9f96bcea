/**
 * The page allocator's interface (mm/page_alloc.c, include/linux/gfp.h, Linux 6.12): alloc_pages
 * and __free_pages with their zone walk, watermarks, per-CPU lists and failure warning, the
 * address-returning wrappers (__get_free_pages, __get_dma_pages, free_pages), get_order, and the
 * struct page operations drivers use (page_address, get_page/put_page, split_page).
 *
 * DOC: one allocation. gfp_zone() gives the highest zone the flags allow; the zonelist is walked
 * from there down (NORMAL, DMA32, DMA; HIGHMEM first with __GFP_HIGHMEM), skipping a zone whose
 * free pages would drop below its low watermark plus its lowmem reserve for that highest zone.
 * Orders 0-3 come from this CPU's list, larger ones straight from the buddy lists. If no zone
 * qualifies, a second pass uses the min watermark (halved for __GFP_HIGH, less again for callers
 * that cannot sleep); then the allocation fails.
 * MODEL: no reclaim, compaction or OOM killer, so an allocation that would make the kernel reclaim
 * (or, for GFP_KERNEL of order <= 3, retry forever) fails at once with warn_alloc's message;
 * __GFP_NOFAIL is not honoured. warn_alloc prints its first line only (no stack, no Mem-Info).
 */
import type { VirtAddr } from '../../lib/addr.js';
import { SimulatorBug } from '../../lib/errors.js';
import { MemAttr } from '../../machine/memory/attr.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { KernelLog } from '../printk.js';
import { freeOnePage } from './buddy.js';
import { rmqueue } from './fallback.js';
import type { Gfp } from './gfp.js';
import {
  __GFP_COMP,
  __GFP_DMA,
  __GFP_DMA32,
  __GFP_HIGHMEM,
  __GFP_KSWAPD_RECLAIM,
  __GFP_NOWARN,
  __GFP_ZERO,
  GFP_DMA,
  GFP_ZONEMASK,
  gfpMigratetype,
  MIGRATE_UNMOVABLE,
} from './gfp.js';
import type { LinearMap } from './linear-map.js';
import { buildNode } from './node.js';
import { freePagesPrepare } from './page-check.js';
import { PageFrames } from './page-frames.js';
import type { Pfn } from './page.js';
import { PG_BUDDY, PG_HEAD, PG_PCP, PG_RESERVED, PG_TAIL } from './page.js';
import type { PerCpuPages } from './pcp.js';
import {
  drainPagesZone,
  freeUnrefPageCommit,
  PAGE_ALLOC_COSTLY_ORDER,
  rmqueuePcplist,
} from './pcp.js';
import type { CurrentTask } from './report.js';
import { badPage, SWAPPER, warnAllocLine, warnHeader } from './report.js';
import type { KernelMemOps } from './types.js';
import { vaString } from './va.js';
import {
  ALLOC_NOFRAGMENT,
  ALLOC_WMARK_LOW,
  gfpToAllocFlags,
  zoneWatermarkFast,
} from './watermark.js';
import type { PhysRange, Zone } from './zone.js';
import { MAX_PAGE_ORDER } from './zone.js';

/** The page allocator's inputs: the memory memblock hands over and the kernel services it uses. */
export interface PageAllocatorConfig {
  readonly profile: ArchProfile;
  /** Free physical ranges (memblock_free_all): page-aligned, sorted, disjoint, reserved excluded. */
  readonly free: readonly PhysRange[];
  /** All memory of the node, reserved included (memblock.memory), for spanned/present; default `free`. */
  readonly memory?: readonly PhysRange[];
  readonly linearMap: LinearMap;
  /** The CPU side of __GFP_ZERO. */
  readonly mem: KernelMemOps;
  readonly log: KernelLog;
  /** smp_processor_id(): the CPU the caller runs on, 0 .. nCpus - 1. */
  readonly cpu: () => number;
  /** Online CPUs; default 1. */
  readonly nCpus?: number;
  /** vm.min_free_kbytes; default computed as the kernel does (0 makes the min watermark 0). */
  readonly minFreeKbytes?: number;
  /** current, for messages; default swapper/0. */
  readonly current?: () => CurrentTask;
}

/**
 * The buddy page allocator of one node: alloc_pages/__free_pages and their wrappers, on top of
 * the frame queries of PageFrames.
 */
export class PageAllocator extends PageFrames {
  private readonly mem: KernelMemOps;
  private readonly log: KernelLog;
  private readonly cpu: () => number;
  private readonly current: () => CurrentTask;
  /** WARN_ON_ONCE sites that fired. */
  private readonly warned = new Set<string>();
  /** The zonelist for each highest zone index: its populated zones, highest first. */
  private readonly zonelists: readonly (readonly Zone[])[];
  /** The zone getPageFromFreelist last allocated from (for prepNewPage). */
  private allocZone: Zone | null = null;

  /** Builds the zones and frees the given ranges into them, as boot does. */
  constructor(cfg: PageAllocatorConfig) {
    super(
      cfg.profile,
      buildNode({
        profile: cfg.profile,
        free: cfg.free,
        ...(cfg.memory === undefined ? {} : { memory: cfg.memory }),
        lowmemEnd: cfg.linearMap.lowmemEnd,
        nCpus: cfg.nCpus ?? 1,
        ...(cfg.minFreeKbytes === undefined ? {} : { minFreeKbytes: cfg.minFreeKbytes }),
      }),
      cfg.linearMap,
    );
    this.mem = cfg.mem;
    this.log = cfg.log;
    this.cpu = cfg.cpu;
    this.current = cfg.current ?? (() => SWAPPER);
    this.zonelists = this.node.zones.map((_, highest) =>
      this.node.zones.filter((z) => z.populated && z.idx <= highest).reverse(),
    );
  }

  /**
   * alloc_pages - allocates 2^order contiguous pages.
   * @param gfp allocation flags: zone modifiers, __GFP_ZERO, __GFP_COMP, __GFP_NOWARN, ...
   * @param order 0 .. MAX_PAGE_ORDER
   * @returns the first page, or null when no allowed zone can serve it (warned unless
   *   __GFP_NOWARN; a retry helps only after pages are freed) or for order > MAX_PAGE_ORDER (WARN)
   * @linux mm/page_alloc.c __alloc_pages_noprof
   */
  allocPages(gfp: Gfp, order: number): Pfn | null {
    const zoneBits = gfp & (__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM);
    if (order >>> 0 !== order || order > MAX_PAGE_ORDER || (zoneBits & (zoneBits - 1)) !== 0) {
      if (!this.checkRequest(gfp, order)) return null;
    }
    const highest = this.node.zoneForGfp[gfp & GFP_ZONEMASK] as number;
    const mt = this.node.mobilityDisabled ? MIGRATE_UNMOVABLE : gfpMigratetype(gfp);
    const fast =
      ALLOC_WMARK_LOW | (gfp & __GFP_KSWAPD_RECLAIM) | (this.node.noFragment[highest] as number);
    let p = this.getPageFromFreelist(order, fast, highest, mt);
    if (p < 0) p = this.allocPagesSlowpath(gfp, order, highest, mt);
    if (p < 0) return null;
    this.prepNewPage(p, order, gfp);
    return p as Pfn;
  }

  /** alloc_page - allocPages(gfp, 0). */
  allocPage(gfp: Gfp): Pfn | null {
    return this.allocPages(gfp, 0);
  }

  /**
   * __get_free_pages - allocates 2^order lowmem pages and returns their linear-map address.
   * @returns the address, or null where the kernel returns 0 (see allocPages)
   * @linux mm/page_alloc.c __get_free_pages_noprof
   */
  getFreePages(gfp: Gfp, order: number): VirtAddr | null {
    const page = this.allocPages(gfp & ~__GFP_HIGHMEM, order);
    return page === null ? null : this.pageAddress(page);
  }

  /** __get_free_page - getFreePages(gfp, 0). */
  getFreePage(gfp: Gfp): VirtAddr | null {
    return this.getFreePages(gfp, 0);
  }

  /**
   * __get_dma_pages - getFreePages from ZONE_DMA (where there is one; else ZONE_NORMAL).
   * @linux include/linux/gfp.h __get_dma_pages
   */
  getDmaPages(gfp: Gfp, order: number): VirtAddr | null {
    return this.getFreePages(gfp | GFP_DMA, order);
  }

  /** get_zeroed_page - one zeroed lowmem page, or null. */
  getZeroedPage(gfp: Gfp): VirtAddr | null {
    return this.getFreePages(gfp | __GFP_ZERO, 0);
  }

  /**
   * free_pages - frees what getFreePages returned.
   * @param addr the address, or null (ignored, as 0 is)
   * @linux mm/page_alloc.c free_pages
   */
  freePages(addr: VirtAddr | null, order: number): void {
    if (addr === null) return;
    if (!this.virtAddrValid(addr)) {
      this.warn(
        'mm/page_alloc.c free_pages',
        `VM_BUG_ON(!virt_addr_valid(${vaString(this.profile, addr)}))`,
      );
      return;
    }
    this.freePagesPage(this.virtToPage(addr), order);
  }

  /**
   * __free_pages - drops the caller's reference to an allocation of 2^order pages; frees it when
   * that was the last one. If the first page is still referenced and the allocation is not
   * compound, the rest of it is freed now (the kernel's rule).
   * @param page what allocPages returned
   * @linux mm/page_alloc.c __free_pages
   */
  freePagesPage(page: Pfn, order: number): void {
    const z = this.zoneOf(page);
    if (z === null) {
      this.badPage(page, 'page is not managed by the page allocator');
      return;
    }
    const m = z.mem;
    const i = page - z.startPfn;
    const flags = m.flags[i] as number;
    const ref = (m.refcount[i] as number) - 1;
    if (ref < 0 || (flags & (PG_BUDDY | PG_PCP | PG_RESERVED)) !== 0) {
      this.badFree(page, ref + 1, flags);
      return;
    }
    m.refcount[i] = ref;
    if (ref === 0) {
      if (!this.freeUnrefPage(z, i, order)) m.refcount[i] = 1;
    } else if ((flags & PG_HEAD) === 0) {
      while (order-- > 0) this.freeUnrefPage(z, i + (1 << order), order);
    }
  }

  /**
   * put_page - drops a reference to the page's folio; the last one frees the whole folio (order 0
   * for a non-compound page).
   * @linux include/linux/mm.h put_page
   */
  putPage(page: Pfn): void {
    const head = this.compoundHead(page);
    const z = this.zoneOf(head);
    if (z === null) {
      this.badPage(page, 'page is not managed by the page allocator');
      return;
    }
    const i = head - z.startPfn;
    const ref = z.mem.refcount[i] as number;
    if (ref <= 0 || ((z.mem.flags[i] as number) & PG_RESERVED) !== 0) {
      this.badPage(
        head,
        ref <= 0
          ? 'VM_BUG_ON_PAGE(page_ref_count(page) == 0)'
          : 'PAGE_FLAGS_CHECK_AT_FREE flag(s) set',
      );
      return;
    }
    z.mem.refcount[i] = ref - 1;
    if (ref === 1 && !this.freeUnrefPage(z, i, this.compoundOrder(head))) z.mem.refcount[i] = 1;
  }

  /**
   * get_page - takes a reference to the page's folio.
   * @linux include/linux/mm.h get_page
   */
  getPage(page: Pfn): void {
    const head = this.compoundHead(page);
    const z = this.zoneOf(head);
    const i = z === null ? -1 : head - z.startPfn;
    if (z === null || (z.mem.refcount[i] as number) <= 0) {
      this.badPage(page, 'VM_BUG_ON_FOLIO(((unsigned int) folio_ref_count(folio) + 127u <= 127u))');
      return;
    }
    z.mem.refcount[i] = (z.mem.refcount[i] as number) + 1;
  }

  /**
   * split_page - turns a non-compound allocation of 2^order pages into as many order-0 pages,
   * each with one reference, to be freed one by one.
   * @linux mm/page_alloc.c split_page
   */
  splitPage(page: Pfn, order: number): void {
    const z = this.zoneOf(page);
    if (z === null) {
      this.badPage(page, 'page is not managed by the page allocator');
      return;
    }
    const i = page - z.startPfn;
    if (((z.mem.flags[i] as number) & (PG_HEAD | PG_TAIL)) !== 0) {
      this.badPage(page, 'VM_BUG_ON_PAGE(PageCompound(page))');
      return;
    }
    if ((z.mem.refcount[i] as number) <= 0) {
      this.badPage(page, 'VM_BUG_ON_PAGE(!page_count(page))');
      return;
    }
    for (let k = 1; k < 1 << order; k++) z.mem.refcount[i + k] = 1;
  }

  /** drain_all_pages - returns every CPU's listed pages to the buddy lists. */
  drainAllPages(): void {
    for (const z of this.populated) for (const pcp of z.pcp) drainPagesZone(z, pcp);
  }

  /**
   * get_page_from_freelist: walks the populated zones from `highest` down; a pass that may only
   * borrow whole pageblocks (ALLOC_NOFRAGMENT) is followed by one that may borrow anything.
   * @returns a pfn, or -1
   */
  private getPageFromFreelist(
    order: number,
    allocFlags: number,
    highest: number,
    mt: number,
  ): number {
    const zones = this.zonelists[highest] as readonly Zone[];
    for (;;) {
      const noFragment = (allocFlags & ALLOC_NOFRAGMENT) !== 0;
      for (let k = 0; k < zones.length; k++) {
        const z = zones[k] as Zone;
        if (!zoneWatermarkFast(z, order, highest, allocFlags)) continue;
        const i =
          order <= PAGE_ALLOC_COSTLY_ORDER
            ? rmqueuePcplist(z, this.pcpOf(z), order, mt, noFragment)
            : rmqueue(z, order, mt, noFragment);
        if (i >= 0) {
          this.allocZone = z;
          return z.startPfn + i;
        }
      }
      if (!noFragment) return -1;
      allocFlags &= ~ALLOC_NOFRAGMENT;
    }
  }

  /**
   * The checks of alloc_pages that normal requests never trip: order > MAX_PAGE_ORDER
   * (WARN_ON_ONCE_GFP, fails) and two zone modifiers at once (GFP_ZONE_BAD: a CONFIG_DEBUG_VM BUG;
   * otherwise the lowest zone is used, as here).
   * @returns false if the allocation fails
   */
  private checkRequest(gfp: Gfp, order: number): boolean {
    if (order >>> 0 !== order || order > MAX_PAGE_ORDER) {
      if ((gfp & __GFP_NOWARN) === 0) this.warnOnce('mm/page_alloc.c __alloc_pages_noprof');
      return false;
    }
    this.warnOnce('include/linux/gfp.h gfp_zone', 'VM_BUG_ON((GFP_ZONE_BAD >> bit) & 1)');
    return true;
  }

  /**
   * __alloc_pages_slowpath without reclaim: one more pass at the min watermark with the
   * caller's reserve access, then warn_alloc.
   * @returns a pfn, or -1
   */
  private allocPagesSlowpath(gfp: Gfp, order: number, highest: number, mt: number): number {
    const p = this.getPageFromFreelist(order, gfpToAllocFlags(gfp, order), highest, mt);
    if (p < 0) this.warnAlloc(gfp, order);
    return p;
  }

  /** The bad_page report of __free_pages for a page that is free or reserved. */
  private badFree(page: Pfn, ref: number, flags: number): void {
    if (ref <= 0 || (flags & (PG_BUDDY | PG_PCP)) !== 0) {
      this.badPage(page, 'VM_BUG_ON_PAGE(page_ref_count(page) == 0)');
    } else {
      this.badPage(page, 'PAGE_FLAGS_CHECK_AT_FREE flag(s) set');
    }
  }

  /** prep_new_page: the reference, zeroing, compound set-up. */
  private prepNewPage(p: number, order: number, gfp: Gfp): void {
    const z = this.allocZone as Zone;
    const i = p - z.startPfn;
    z.mem.refcount[i] = 1;
    z.mem.next[i] = -1;
    if ((gfp & (__GFP_ZERO | __GFP_COMP)) !== 0) this.prepZeroAndCompound(z, i, order, gfp);
  }

  /** The __GFP_ZERO and __GFP_COMP parts of prep_new_page (kernel_init_pages, prep_compound_page). */
  private prepZeroAndCompound(z: Zone, i: number, order: number, gfp: Gfp): void {
    const page = this.profile.pageSize;
    if ((gfp & __GFP_ZERO) !== 0) {
      this.mem.memset((z.startPfn + i) * page, 0, page << order, MemAttr.CACHEABLE);
    }
    if (order > 0 && (gfp & __GFP_COMP) !== 0) {
      z.mem.flags[i] = PG_HEAD;
      z.mem.order[i] = order;
      for (let k = i + 1; k < i + (1 << order); k++) {
        z.mem.flags[k] = PG_TAIL;
        z.mem.prev[k] = i;
      }
    }
  }

  /**
   * free_unref_page: checks the block, then puts it on this CPU's list or the buddy lists.
   * @returns false if the block was bad and was left alone
   */
  private freeUnrefPage(z: Zone, i: number, order: number): boolean {
    if (order === 0) z.mem.flags[i] = 0;
    else if (!this.freeBlockPrepare(z, i, order)) return false;
    const mt = z.blockTypeOf(i);
    if (order <= PAGE_ALLOC_COSTLY_ORDER) freeUnrefPageCommit(z, this.pcpOf(z), i, mt, order);
    else freeOnePage(z, i, order, mt, false);
    return true;
  }

  /** free_pages_prepare for a block of more than one page: reports a bad block. */
  private freeBlockPrepare(z: Zone, i: number, order: number): boolean {
    const bad = freePagesPrepare(z, i, order);
    if (bad !== null) this.badPage(bad.pfn, bad.reason);
    return bad === null;
  }

  /** The current CPU's lists of zone `z`. */
  private pcpOf(z: Zone): PerCpuPages {
    const pcp = z.pcp[this.cpu()];
    if (pcp === undefined)
      throw new SimulatorBug(`page allocator: CPU ${this.cpu()} is not online`);
    return pcp;
  }

  /**
   * warn_alloc: "<comm>: page allocation failure: order:N, mode:0x...(...), nodemask=(null)",
   * rate-limited, silent for __GFP_NOWARN and for GFP_DMA on a machine whose ZONE_DMA is empty.
   */
  private warnAlloc(gfp: Gfp, order: number): void {
    if ((gfp & __GFP_NOWARN) !== 0) return;
    if (
      (gfp & __GFP_DMA) !== 0 &&
      !this.node.zones.some((z) => z.name === 'DMA' && z.managedPages > 0)
    )
      return;
    this.log.ratelimited('warn_alloc', 'warn', warnAllocLine(this.current(), gfp, order));
  }

  /** WARN_ON_ONCE at `where`, with an optional message line. */
  private warnOnce(where: string, text?: string): void {
    if (this.warned.has(where)) return;
    this.warned.add(where);
    this.warn(where, text);
  }

  /** WARN_ON at `where`, with an optional message line. */
  private warn(where: string, text?: string): void {
    warnHeader(this.log, this.cpu(), this.current(), where);
    if (text !== undefined) this.log.warn(text);
  }

  private badPage(p: number, reason: string): void {
    badPage(this.log, this.current(), p, reason);
  }
}
