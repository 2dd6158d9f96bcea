/**
 * The Contiguous Memory Allocator as the DMA layer uses it (kernel/dma/contiguous.c and
 * mm/cma.c, Linux 6.12; facts §10.1): the areas memblock reserved at boot (cma= and device-tree
 * `reusable` shared-dma-pools, see mm/reserved-mem.ts), each handing out page runs from a bitmap,
 * and dma_alloc_contiguous / dma_free_contiguous over the default area.
 *
 * MODEL: CMA pages are not lent to movable allocations while unclaimed (the kernel frees them to
 * the buddy allocator as MIGRATE_CMA and migrates them away when claimed): here they stay out of
 * the page allocator, so a claim never has to migrate and never fails with -EBUSY. Per-NUMA
 * areas and per-device areas (memory-region pointing at a reusable node) are left out: every
 * device uses the default area.
 */
import type { Device } from '../device/device.js';
import type { Gfp } from '../mm/gfp.js';
import { __GFP_DIRECT_RECLAIM, __GFP_NOWARN } from '../mm/gfp.js';
import type { ReservedMem } from '../mm/reserved-mem.js';
import type { Pfn } from '../mm/page.js';
import { pfn } from '../mm/page.js';
import type { PageAllocator } from '../mm/page-alloc.js';
import type { KernelLog } from '../printk.js';
import { SimulatorBug } from '../../lib/errors.js';
import type { Bitmap } from '../lib/bitmap.js';
import { bitmapClear, bitmapFindNextZeroAreaOff, bitmapSet, bitmapZalloc } from '../lib/bitmap.js';

/** CONFIG_CMA_ALIGNMENT: the largest alignment order a DMA request gets (default 8, unverified). */
export const CMA_ALIGNMENT = 8;

/** struct cma: one area, one bit per page (order_per_bit 0, as for DMA areas). */
export class Cma {
  /** base_pfn. */
  readonly basePfn: number;
  /** count: pages. */
  readonly count: number;
  private readonly bitmap: Bitmap;

  constructor(
    /** cma->name: "reserved" for cma=, the node name for a device-tree area. */
    readonly name: string,
    base: number,
    size: number,
    private readonly pageSize: number,
    private readonly log: KernelLog,
  ) {
    this.basePfn = base / pageSize;
    this.count = size / pageSize;
    if (!Number.isInteger(this.basePfn) || !Number.isInteger(this.count))
      throw new SimulatorBug(`CMA area ${name} is not page-aligned`);
    this.bitmap = bitmapZalloc(this.count);
  }

  /**
   * cma_alloc - `count` pages whose first pfn is a multiple of 2^align.
   * @returns the first page, or null when no aligned free run is left (-ENOMEM, printed unless
   *   noWarn; freeing pages of the area can help)
   * @linux mm/cma.c cma_alloc
   */
  alloc(count: number, align: number, noWarn: boolean): Pfn | null {
    if (count === 0) return null;
    const mask = 2 ** align - 1;
    const offset = this.basePfn % (mask + 1);
    const no = bitmapFindNextZeroAreaOff(this.bitmap, this.count, 0, count, mask, offset);
    if (no >= 0) {
      bitmapSet(this.bitmap, no, count);
      return pfn(this.basePfn + no);
    }
    // MODEL: cma_debug_show_areas (the free-run listing after this line) is not printed.
    if (!noWarn)
      this.log.ratelimited(
        'cma_alloc',
        'err',
        `cma: cma_alloc: ${this.name}: alloc failed, req-size: ${count} pages, ret: -12`,
      );
    return null;
  }

  /**
   * cma_release - gives back pages cma_alloc handed out.
   * @returns false when the pages are not this area's (the caller frees them elsewhere)
   * @linux mm/cma.c cma_release
   */
  release(page: Pfn, count: number): boolean {
    if (page < this.basePfn || page >= this.basePfn + this.count) return false;
    if (page + count > this.basePfn + this.count)
      throw new SimulatorBug(`cma_release: ${count} pages from pfn ${page} overrun ${this.name}`);
    bitmapClear(this.bitmap, page - this.basePfn, count);
    return true;
  }

  /** cma_get_base: the first physical address. */
  get base(): number {
    return this.basePfn * this.pageSize;
  }

  /** cma_get_size: bytes. */
  get size(): number {
    return this.count * this.pageSize;
  }
}

export interface ContiguousDeps {
  readonly pages: PageAllocator;
  readonly log: KernelLog;
  readonly pageSize: number;
}

/** The DMA layer's CMA: the areas of this boot and the default one. */
export class DmaContiguous {
  /** Every CMA area memblock set up, in set-up order. */
  readonly areas: readonly Cma[];
  /** dma_contiguous_default_area: cma= or the linux,cma-default node; null for none. */
  readonly defaultArea: Cma | null;

  constructor(
    reserved: readonly ReservedMem[],
    private readonly d: ContiguousDeps,
  ) {
    const cma = reserved.filter((r) => r.kind === 'cma');
    this.areas = cma.map((r) => new Cma(r.name, r.base, r.size, d.pageSize, d.log));
    this.defaultArea = this.areas[cma.findIndex((r) => r.cmaDefault)] ?? null;
  }

  /**
   * dma_alloc_contiguous - pages for a coherent allocation from the default area.
   * @param size bytes, page-aligned by the caller
   * @returns the first page, or null when the caller may not sleep, the request is one page or
   *   less (not worth a CMA claim), there is no area, or it is full; the caller then tries the
   *   page allocator
   * @linux kernel/dma/contiguous.c dma_alloc_contiguous
   */
  dmaAllocContiguous(dev: Device, size: number, gfp: Gfp): Pfn | null {
    if ((gfp & __GFP_DIRECT_RECLAIM) === 0) return null;
    if (size <= this.d.pageSize || this.defaultArea === null) return null;
    const align = Math.min(this.d.pages.getOrder(size), CMA_ALIGNMENT);
    return this.defaultArea.alloc(size / this.d.pageSize, align, (gfp & __GFP_NOWARN) !== 0);
  }

  /**
   * dma_alloc_from_contiguous - `count` pages from the default area (the atomic pools' source).
   * @returns the first page, or null
   * @linux kernel/dma/contiguous.c dma_alloc_from_contiguous
   */
  dmaAllocFromContiguous(count: number, align: number, noWarn: boolean): Pfn | null {
    return this.defaultArea?.alloc(count, Math.min(align, CMA_ALIGNMENT), noWarn) ?? null;
  }

  /**
   * dma_free_contiguous - back to the default area if it came from there, else to the buddy
   * allocator.
   * @linux kernel/dma/contiguous.c dma_free_contiguous
   */
  dmaFreeContiguous(dev: Device | null, page: Pfn, size: number): void {
    const count = Math.ceil(size / this.d.pageSize);
    if (this.defaultArea?.release(page, count) === true) return;
    this.d.pages.freePagesPage(page, this.d.pages.getOrder(size));
  }
}
