/**
 * dma-direct coherent allocations (kernel/dma/direct.c dma_direct_alloc / dma_direct_free, Linux
 * 6.12; facts §3.3): a non-blocking request for a non-coherent device on a remapping arch comes
 * from the atomic pools (kernel/dma/pool.c); otherwise the default CMA area first
 * (kernel/dma/contiguous.c), then pages from the zone the coherent mask needs, retried lower when
 * they land too high; for a coherent device the linear-map address, for a non-coherent one a remap
 * with the arch's DMA attribute after the cache lines of the pages were written back and dropped.
 * Frees go back to the source: the pool that holds the address, the CMA area, or the buddy
 * allocator. Per-device coherent pools (kernel/dma/coherent.c) are tried by the caller first.
 *
 * DMA_ATTR_NO_KERNEL_MAPPING is served by the dispatcher (mapping-pages.ts) from the same pages.
 * MODEL: not modelled: memory encryption, restricted SWIOTLB pools. A non-coherent device on x86
 * or PReP (no CONFIG_DMA_DIRECT_REMAP: the kernel refuses with "coherent DMA allocations not supported on
 * this platform") gets a remap as on arm64, and never the atomic pools.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../lib/addr.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { ArchDmaSync } from '../arch/dma-sync.js';
import type { Device } from '../device/device.js';
import { dmaToPhys, physToDma } from '../device/dma-range.js';
import {
  GFP_DMA,
  GFP_DMA32,
  __GFP_DMA,
  __GFP_DMA32,
  __GFP_NOWARN,
  __GFP_ZERO,
  gfpflagsAllowBlocking,
} from '../mm/gfp.js';
import type { Gfp } from '../mm/gfp.js';
import type { KernelVm } from '../mm/kmem.js';
import type { PageAllocator } from '../mm/page-alloc.js';
import type { Pfn } from '../mm/page.js';
import type { Vmap } from '../mm/vmap.js';
import { DMA_ATTR_NO_WARN } from './attrs.js';
import type { DmaContiguous } from './contiguous.js';
import type { AtomicPools } from './pool.js';
import type { CoherentBuffer } from './map-ops.js';
import { dmaPgprot } from './pgprot.js';
import { dmaCommonContiguousRemap, dmaDirectRemap } from './remap.js';

export interface DirectAllocDeps {
  readonly profile: ArchProfile;
  readonly pages: PageAllocator;
  readonly vm: KernelVm;
  readonly vmap: Vmap;
  readonly arch: ArchDmaSync;
  /** CMA; absent: no CMA area (pages come from the buddy allocator only). */
  readonly cma?: DmaContiguous;
  /** The atomic pools; absent or null: none (CONFIG_DMA_COHERENT_POOL off). */
  readonly pools?: AtomicPools | null;
}

export class DmaDirectAlloc {
  constructor(private readonly d: DirectAllocDeps) {}

  /**
   * dma_direct_alloc - zeroed, physically contiguous memory both the CPU and `dev` may use.
   * @returns the CPU and bus addresses, or null when no page in reach was free (warned unless
   *   __GFP_NOWARN / DMA_ATTR_NO_WARN) or, for a non-blocking request, no pool could serve it
   * @linux kernel/dma/direct.c dma_direct_alloc
   */
  alloc(dev: Device, size: number, gfp: Gfp, attrs: number): CoherentBuffer | null {
    const bytes = this.pageAlign(size);
    const flags = (gfp & ~__GFP_ZERO) | ((attrs & DMA_ATTR_NO_WARN) !== 0 ? __GFP_NOWARN : 0);
    const pools = this.d.pools ?? null;
    if (
      !dev.dmaCoherent &&
      dmaDirectRemap(this.d.profile) &&
      !gfpflagsAllowBlocking(flags) &&
      pools !== null
    )
      return this.allocFromPool(pools, dev, bytes, flags);
    const page = this.allocPages(dev, bytes, flags);
    if (page === null) return null;
    const phys = this.d.pages.pageToPhys(page);
    // A highmem page (possible from CMA) has no linear address: it is always remapped.
    const linear = this.d.pages.pageAddress(page);
    const vaddr = dev.dmaCoherent && linear !== null ? linear : this.remap(phys, bytes, attrs);
    if (vaddr === null) {
      this.freePages(dev, page, bytes);
      return null;
    }
    this.d.vm.memset(vaddr, 0, bytes);
    return { vaddr, dma: physToDma(dev, phys) };
  }

  /**
   * dma_direct_free - undoes alloc: back to the atomic pool holding the address, or drops the
   * remap and frees the pages to CMA or the buddy allocator.
   * @linux kernel/dma/direct.c dma_direct_free
   */
  free(dev: Device, size: number, vaddr: VirtAddr, dma: DmaAddr): void {
    const bytes = this.pageAlign(size);
    if (this.d.pools?.dmaFreeFromPool(dev, vaddr, bytes) === true) return;
    if (this.d.vm.isVmallocAddr(vaddr)) this.d.vmap.vunmap(vaddr);
    this.freePages(dev, this.d.pages.physToPage(dmaToPhys(dev, dma)), bytes);
  }

  /**
   * dma_coherent_ok: the whole buffer lies below min_not_zero(coherent_dma_mask, bus_dma_limit)
   * in bus addresses.
   * @linux kernel/dma/direct.c dma_coherent_ok
   */
  coherentOk(dev: Device, phys: number, bytes: number): boolean {
    return physToDma(dev, phys) + bytes - 1 <= this.coherentLimit(dev);
  }

  /** dma_direct_alloc_from_pool: the zone flags the mask needs, memory that passes coherentOk. */
  private allocFromPool(
    pools: AtomicPools,
    dev: Device,
    bytes: number,
    gfp: Gfp,
  ): CoherentBuffer | null {
    const got = pools.dmaAllocFromPool(dev, bytes, gfp | this.optimalGfpMask(dev), (d, p, n) =>
      this.coherentOk(d, p, n),
    );
    if (got === null) return null;
    return { vaddr: got.vaddr, dma: physToDma(dev, this.d.pages.pageToPhys(got.page)) };
  }

  /**
   * __dma_direct_alloc_pages: the zone from the coherent mask, the default CMA area if the caller
   * may sleep and the area is in reach, then the page allocator, retried with GFP_DMA32 and
   * GFP_DMA while the pages land beyond the device's reach.
   */
  allocPages(dev: Device, bytes: number, gfp: Gfp): Pfn | null {
    gfp |= this.optimalGfpMask(dev);
    const cma = this.d.cma?.dmaAllocContiguous(dev, bytes, gfp) ?? null;
    if (cma !== null) {
      if (this.coherentOk(dev, this.d.pages.pageToPhys(cma), bytes)) return cma;
      this.freePages(dev, cma, bytes);
    }
    const order = this.d.pages.getOrder(bytes);
    const { zoneDmaLimit, zoneDma32Limit } = this.d.profile;
    for (;;) {
      const page = this.d.pages.allocPages(gfp, order);
      if (page === null) return null;
      if (this.coherentOk(dev, this.d.pages.pageToPhys(page), bytes)) return page;
      this.d.pages.freePagesPage(page, order);
      if (zoneDma32Limit !== null && (gfp & (__GFP_DMA32 | __GFP_DMA)) === 0) gfp |= GFP_DMA32;
      else if (zoneDmaLimit !== null && (gfp & __GFP_DMA) === 0)
        gfp = (gfp & ~__GFP_DMA32) | GFP_DMA;
      else return null;
    }
  }

  /** dma_direct_optimal_gfp_mask: the lowest zone the coherent limit needs, as a GFP flag. */
  private optimalGfpMask(dev: Device): Gfp {
    const physLimit = dmaToPhys(dev, this.coherentLimit(dev));
    const { zoneDmaLimit } = this.d.profile;
    if (zoneDmaLimit !== null && physLimit < zoneDmaLimit) return GFP_DMA;
    return physLimit <= 0xffff_ffff ? GFP_DMA32 : 0;
  }

  /** dma_free_contiguous: the CMA area if the pages are its own, else __free_pages. */
  freePages(dev: Device, page: Pfn, bytes: number): void {
    if (this.d.cma !== undefined) this.d.cma.dmaFreeContiguous(dev, page, bytes);
    else this.d.pages.freePagesPage(page, this.d.pages.getOrder(bytes));
  }

  /** min_not_zero(coherent_dma_mask, bus_dma_limit), as a number. */
  private coherentLimit(dev: Device): number {
    const mask = dev.coherentDmaMaskLimit;
    return dev.busDmaLimit === 0 ? mask : Math.min(mask, dev.busDmaLimit);
  }

  /** The uncached alias of a non-coherent allocation (dma_pgprot, then the remap). */
  private remap(phys: PhysAddr, bytes: number, attrs: number): VirtAddr | null {
    this.d.arch.prepCoherent(phys, bytes);
    const attr = dmaPgprot(this.d.profile.name, false, attrs);
    return dmaCommonContiguousRemap(
      this.d.vmap,
      this.d.profile.pageSize,
      phys,
      bytes,
      attr,
      'dma_direct_alloc',
    );
  }

  private pageAlign(size: number): number {
    return Math.ceil(size / this.d.profile.pageSize) * this.d.profile.pageSize;
  }
}
