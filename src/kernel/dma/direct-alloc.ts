/**
 * dma-direct coherent allocations (kernel/dma/direct.c dma_direct_alloc / dma_direct_free, Linux
 * 6.12; facts §3.3): pages from the zone the coherent mask needs, retried lower when they land
 * too high; for a coherent device the linear-map address, for a non-coherent one a remap with
 * the arch's DMA attribute after the cache lines of the pages were written back and dropped.
 *
 * MODEL: not yet modelled: the atomic pools for non-blocking GFP on non-coherent devices (the
 * pages come from the page allocator as for a blocking call), CMA, per-device coherent pools,
 * DMA_ATTR_NO_KERNEL_MAPPING cookies (a mapping is always made), memory encryption.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../lib/addr.js';
import { MemAttr } from '../../machine/memory/attr.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { ArchDmaSync } from '../arch/dma-sync.js';
import type { Device } from '../device/device.js';
import { dmaToPhys, physToDma } from '../device/dma-range.js';
import { GFP_DMA, GFP_DMA32, __GFP_DMA, __GFP_DMA32, __GFP_NOWARN, __GFP_ZERO } from '../mm/gfp.js';
import type { Gfp } from '../mm/gfp.js';
import type { KernelVm } from '../mm/kmem.js';
import type { PageAllocator } from '../mm/page-alloc.js';
import type { Pfn } from '../mm/page.js';
import type { Vmap } from '../mm/vmap.js';
import { DMA_ATTR_NO_WARN, DMA_ATTR_WRITE_COMBINE } from './attrs.js';

export interface DirectAllocDeps {
  readonly profile: ArchProfile;
  readonly pages: PageAllocator;
  readonly vm: KernelVm;
  readonly vmap: Vmap;
  readonly arch: ArchDmaSync;
}

/** What a successful allocation hands back. */
export interface CoherentBuffer {
  readonly vaddr: VirtAddr;
  readonly dma: DmaAddr;
}

export class DmaDirectAlloc {
  constructor(private readonly d: DirectAllocDeps) {}

  /**
   * dma_direct_alloc - zeroed, physically contiguous memory both the CPU and `dev` may use.
   * @returns the CPU and bus addresses, or null when no page in reach was free (warned unless
   *   __GFP_NOWARN / DMA_ATTR_NO_WARN)
   * @linux kernel/dma/direct.c dma_direct_alloc
   */
  alloc(dev: Device, size: number, gfp: Gfp, attrs: number): CoherentBuffer | null {
    const bytes = Math.ceil(size / this.d.profile.pageSize) * this.d.profile.pageSize;
    const flags = (gfp & ~__GFP_ZERO) | ((attrs & DMA_ATTR_NO_WARN) !== 0 ? __GFP_NOWARN : 0);
    const page = this.allocPages(dev, bytes, flags);
    if (page === null) return null;
    const phys = this.d.pages.pageToPhys(page);
    const vaddr = dev.dmaCoherent ? this.d.pages.pageAddress(page) : this.remap(phys, bytes, attrs);
    if (vaddr === null) {
      this.d.pages.freePagesPage(page, this.d.pages.getOrder(bytes));
      return null;
    }
    this.d.vm.memset(vaddr, 0, bytes);
    return { vaddr, dma: physToDma(dev, phys) };
  }

  /**
   * dma_direct_free - undoes alloc: drops the remap, frees the pages.
   * @linux kernel/dma/direct.c dma_direct_free
   */
  free(dev: Device, size: number, vaddr: VirtAddr, dma: DmaAddr): void {
    const bytes = Math.ceil(size / this.d.profile.pageSize) * this.d.profile.pageSize;
    if (this.d.vm.isVmallocAddr(vaddr)) this.d.vmap.vunmap(vaddr);
    const page = this.d.pages.physToPage(dmaToPhys(dev, dma));
    this.d.pages.freePagesPage(page, this.d.pages.getOrder(bytes));
  }

  /**
   * __dma_direct_alloc_pages: the zone from the coherent mask (dma_direct_optimal_gfp_mask), then
   * retries with GFP_DMA32 and GFP_DMA while the pages land beyond the device's reach.
   */
  private allocPages(dev: Device, bytes: number, gfp: Gfp): Pfn | null {
    const limit = this.coherentLimit(dev);
    const physLimit = dmaToPhys(dev, limit);
    const order = this.d.pages.getOrder(bytes);
    const { zoneDmaLimit, zoneDma32Limit } = this.d.profile;
    if (zoneDmaLimit !== null && physLimit < zoneDmaLimit) gfp |= GFP_DMA;
    else if (physLimit <= 0xffff_ffff) gfp |= GFP_DMA32;
    for (;;) {
      const page = this.d.pages.allocPages(gfp, order);
      if (page === null) return null;
      if (physToDma(dev, this.d.pages.pageToPhys(page)) + bytes - 1 <= limit) return page;
      this.d.pages.freePagesPage(page, order);
      if (zoneDma32Limit !== null && (gfp & (__GFP_DMA32 | __GFP_DMA)) === 0) gfp |= GFP_DMA32;
      else if (zoneDmaLimit !== null && (gfp & __GFP_DMA) === 0)
        gfp = (gfp & ~__GFP_DMA32) | GFP_DMA;
      else return null;
    }
  }

  /** min_not_zero(coherent_dma_mask, bus_dma_limit), as a number. */
  private coherentLimit(dev: Device): number {
    const mask = dev.coherentDmaMaskLimit;
    return dev.busDmaLimit === 0 ? mask : Math.min(mask, dev.busDmaLimit);
  }

  /**
   * The uncached alias of a non-coherent allocation (dma_common_contiguous_remap with dma_pgprot):
   * DMA_ATTR_WRITE_COMBINE → write-combining; otherwise pgprot_dmacoherent, which on arm64 is
   * Normal non-cacheable (so stores gather like write-combining and need a barrier), and on
   * arm32 strongly ordered.
   * MODEL: arm32 as with CONFIG_ARM_DMA_MEM_BUFFERABLE=n, the classic behaviour the seed
   * documents contrast with dma_alloc_writecombine; v7 kernels usually make it bufferable.
   */
  private remap(phys: PhysAddr, bytes: number, attrs: number): VirtAddr | null {
    this.d.arch.prepCoherent(phys, bytes);
    const wc = (attrs & DMA_ATTR_WRITE_COMBINE) !== 0 || this.d.profile.name === 'arm64';
    const pages = Array.from(
      { length: bytes / this.d.profile.pageSize },
      (_, i) => (phys + i * this.d.profile.pageSize) as PhysAddr,
    );
    return this.d.vmap.vmap(pages, wc ? MemAttr.WC : MemAttr.UNCACHED, 'dma_direct_alloc');
  }
}
