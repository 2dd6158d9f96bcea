/**
 * The page fragment allocator network drivers take receive buffers from (mm/page_frag_cache.c
 * __page_frag_alloc_align, net/core/skbuff.c netdev_alloc_frag): a 32 KiB compound page carved
 * from its top down, one page reference per fragment, the fragment freed by put_page.
 * MODEL: one cache (not per CPU); a used-up page is never recycled in place (the kernel reuses
 * it when every fragment came back), so addresses after the first page can differ from Linux's.
 */
import type { VirtAddr } from '../../lib/addr.js';
import { GFP_ATOMIC, __GFP_COMP, __GFP_NORETRY, __GFP_NOWARN } from '../mm/gfp.js';
import type { Gfp } from '../mm/gfp.js';
import type { Pfn } from '../mm/page.js';
import type { PageAllocator } from '../mm/page-alloc.js';

/** PAGE_FRAG_CACHE_MAX_SIZE: 32 KiB, order 3 with 4 KiB pages. */
export const PAGE_FRAG_CACHE_MAX_SIZE = 32768;

export interface PageFragDeps {
  readonly pages: PageAllocator;
  readonly pageSize: number;
  readonly pageAddress: (page: Pfn) => VirtAddr | null;
  readonly virtToPage: (va: VirtAddr) => Pfn;
}

export class PageFragCache {
  private page: Pfn | null = null;
  private va = 0 as VirtAddr;
  private size = 0;
  private offset = 0;

  constructor(private readonly d: PageFragDeps) {}

  /**
   * page_frag_alloc_align: `fragsz` bytes aligned to `align` (a power of two), or null.
   * @linux mm/page_frag_cache.c __page_frag_alloc_align
   */
  alloc(fragsz: number, gfp: Gfp = GFP_ATOMIC, align = 1): VirtAddr | null {
    let off = (this.offset - fragsz) & ~(align - 1);
    if (this.page === null || off < 0) {
      if (!this.refill(gfp) || this.size < fragsz) return null;
      off = (this.offset - fragsz) & ~(align - 1);
    }
    this.offset = off;
    this.d.pages.getPage(this.page as Pfn);
    return (this.va + off) as VirtAddr;
  }

  /** page_frag_free / skb_free_frag: drops the fragment's page reference. */
  free(addr: VirtAddr): void {
    this.d.pages.putPage(this.d.virtToPage(addr));
  }

  /** __page_frag_cache_refill: an order-3 compound page, else one page. */
  private refill(gfp: Gfp): boolean {
    if (this.page !== null) this.d.pages.putPage(this.page);
    this.page = null;
    const order = Math.log2(PAGE_FRAG_CACHE_MAX_SIZE / this.d.pageSize);
    const big = order > 0 ? gfp | __GFP_COMP | __GFP_NOWARN | __GFP_NORETRY : gfp;
    let page = this.d.pages.allocPages(big, Math.max(0, order));
    let size = PAGE_FRAG_CACHE_MAX_SIZE;
    if (page === null && order > 0) {
      page = this.d.pages.allocPages(gfp, 0);
      size = this.d.pageSize;
    }
    if (page === null) return false;
    this.page = page;
    this.va = this.d.pageAddress(page) ?? (0 as VirtAddr);
    this.size = size;
    this.offset = size;
    return true;
  }
}
