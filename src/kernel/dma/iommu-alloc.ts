/**
 * DOC: coherent allocations over IOMMU DMA (drivers/iommu/dma-iommu.c iommu_dma_alloc,
 * iommu_dma_alloc_remap, __iommu_dma_alloc_pages, iommu_dma_free, Linux 6.12; facts §5.7)
 *
 * A blocking allocation without DMA_ATTR_FORCE_CONTIGUOUS needs no physically contiguous memory:
 * it takes pages of the largest order the IOMMU can map in one entry (2 MiB, else 4 KiB; only
 * 4 KiB with ALLOC_SINGLE_PAGES), falling back to smaller orders, maps them into one IOVA range
 * below the coherent mask and stitches them together in vmalloc space. Otherwise the memory is
 * one contiguous block from the page allocator, remapped only for a non-coherent device.
 * MODEL: a non-blocking allocation for a non-coherent device takes contiguous pages and remaps
 * them, where the kernel would use the atomic pool; no CMA here; DMA_ATTR_NO_KERNEL_MAPPING
 * still makes a mapping.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../lib/addr.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { ArchDmaSync } from '../arch/dma-sync.js';
import type { Device } from '../device/device.js';
import { DMA_MAPPING_ERROR } from '../device/dma-range.js';
import type { IommuCore } from '../iommu/iommu.js';
import { __GFP_DIRECT_RECLAIM, __GFP_HIGHMEM, __GFP_NORETRY, __GFP_NOWARN } from '../mm/gfp.js';
import type { Gfp } from '../mm/gfp.js';
import type { KernelVm } from '../mm/kmem.js';
import type { PageAllocator } from '../mm/page-alloc.js';
import type { Pfn } from '../mm/page.js';
import type { Vmap } from '../mm/vmap.js';
import { DMA_ATTR_ALLOC_SINGLE_PAGES, DMA_ATTR_FORCE_CONTIGUOUS } from './attrs.js';
import { DmaDataDirection } from './direction.js';
import type { IommuDma } from './iommu.js';
import { IOVA_GRANULE, dmaInfoToProt } from './iommu.js';
import type { CoherentBuffer } from './map-ops.js';
import { dmaPgprot } from './pgprot.js';

/** Page orders the IOMMU maps in one entry: 4 KiB (0) and 2 MiB (9). */
const IOMMU_ORDERS = [9, 0] as const;

export interface IommuAllocDeps {
  readonly core: IommuCore;
  readonly profile: ArchProfile;
  readonly arch: ArchDmaSync;
  readonly pages: PageAllocator;
  readonly vm: KernelVm;
  readonly vmap: Vmap;
}

/** How a live allocation was made, to free it the same way. */
type Backing =
  | { readonly kind: 'pages'; readonly pages: readonly Pfn[] }
  | { readonly kind: 'contiguous'; readonly page: Pfn; readonly order: number };

export class IommuDmaAlloc {
  private readonly live = new Map<VirtAddr, Backing>();

  constructor(
    private readonly dma: IommuDma,
    private readonly d: IommuAllocDeps,
  ) {}

  /**
   * iommu_dma_alloc - zeroed memory mapped for `dev` below its coherent mask.
   * @returns the CPU and bus addresses, or null
   */
  alloc(dev: Device, size: number, gfp: Gfp, attrs: number): CoherentBuffer | null {
    const blocking = (gfp & __GFP_DIRECT_RECLAIM) !== 0;
    const buf =
      blocking && (attrs & DMA_ATTR_FORCE_CONTIGUOUS) === 0
        ? this.allocRemap(dev, size, gfp, attrs)
        : this.allocContiguous(dev, size, gfp, attrs);
    if (buf !== null) this.d.vm.memset(buf.vaddr, 0, this.pageAlign(size));
    return buf;
  }

  /**
   * iommu_dma_free - unmaps the IOVA range, then frees the pages the way they came.
   * @linux drivers/iommu/dma-iommu.c iommu_dma_free
   */
  free(dev: Device, size: number, vaddr: VirtAddr, dma: DmaAddr): void {
    this.dma.iommuDmaUnmap(dev, dma, size);
    const b = this.live.get(vaddr);
    if (b === undefined) return;
    this.live.delete(vaddr);
    if (this.d.vm.isVmallocAddr(vaddr)) this.d.vmap.vunmap(vaddr);
    if (b.kind === 'pages') for (const p of b.pages) this.d.pages.freePagesPage(p, 0);
    else this.d.pages.freePagesPage(b.page, b.order);
  }

  /** iommu_dma_alloc_remap: scattered pages, one IOVA range, one vmalloc-space alias. */
  private allocRemap(dev: Device, size: number, gfp: Gfp, attrs: number): CoherentBuffer | null {
    const bytes = this.pageAlign(size);
    const orders = (attrs & DMA_ATTR_ALLOC_SINGLE_PAGES) !== 0 ? [0] : [...IOMMU_ORDERS];
    const pages = this.allocPages(bytes / this.d.profile.pageSize, orders, gfp);
    if (pages === null) return null;
    const phys = pages.map((p) => this.d.pages.pageToPhys(p));
    const fail = (): null => {
      for (const p of pages) this.d.pages.freePagesPage(p, 0);
      return null;
    };
    const iova = this.dma.allocIova(dev, bytes, dev.coherentDmaMaskLimit);
    if (iova === 0) return fail();
    const runs = phys.map((p) => ({ phys: p, len: this.d.profile.pageSize }));
    if (!dev.dmaCoherent)
      for (const p of phys) this.d.arch.prepCoherent(p, this.d.profile.pageSize);
    const prot = dmaInfoToProt(DmaDataDirection.BIDIRECTIONAL, dev.dmaCoherent, attrs);
    const { domain, cookie } = this.dma.domainAndCookie(dev);
    if (this.d.core.mapSg(domain, iova, runs, prot) < bytes) {
      cookie.iovad.freeIovaFast(iova / IOVA_GRANULE, bytes / IOVA_GRANULE);
      return fail();
    }
    const attr = dmaPgprot(this.d.profile.name, dev.dmaCoherent, attrs);
    const vaddr = this.d.vmap.vmap(phys, attr, 'iommu_dma_alloc_remap');
    if (vaddr === null) {
      this.dma.iommuDmaUnmap(dev, iova, bytes);
      return fail();
    }
    this.live.set(vaddr, { kind: 'pages', pages });
    return { vaddr, dma: iova as DmaAddr };
  }

  /**
   * __iommu_dma_alloc_pages: `count` order-0 pages, taken in the largest allowed order that
   * still fits, splitting each high-order block; an order that fails is not tried again.
   * @returns the pages, or null (nothing kept) when even order 0 fails
   */
  private allocPages(count: number, orders: number[], gfp: Gfp): Pfn[] | null {
    const flags = gfp | __GFP_NOWARN | __GFP_HIGHMEM;
    const out: Pfn[] = [];
    while (out.length < count) {
      const left = count - out.length;
      let page: Pfn | null = null;
      let order = 0;
      for (const o of orders.filter((x) => 1 << x <= left)) {
        const last = o === Math.min(...orders);
        page = this.d.pages.allocPages(flags | (last ? 0 : __GFP_NORETRY), o);
        if (page !== null) {
          order = o;
          break;
        }
        orders = orders.filter((x) => x !== o);
      }
      if (page === null) {
        for (const p of out) this.d.pages.freePagesPage(p, 0);
        return null;
      }
      if (order > 0) this.d.pages.splitPage(page, order);
      for (let i = 0; i < 1 << order; i++) out.push((page + i) as Pfn);
    }
    return out;
  }

  /**
   * iommu_dma_alloc_pages + __iommu_dma_map: one contiguous block, its linear address (or a remap
   * for a non-coherent device), mapped whole below the coherent mask.
   */
  private allocContiguous(
    dev: Device,
    size: number,
    gfp: Gfp,
    attrs: number,
  ): CoherentBuffer | null {
    const order = this.d.pages.getOrder(size);
    const page = this.d.pages.allocPages(gfp, order);
    if (page === null) return null;
    const phys = this.d.pages.pageToPhys(page);
    const bytes = this.pageAlign(size);
    const vaddr = dev.dmaCoherent ? this.d.pages.pageAddress(page) : this.remap(phys, bytes, attrs);
    const prot = dmaInfoToProt(DmaDataDirection.BIDIRECTIONAL, dev.dmaCoherent, attrs);
    const dma =
      vaddr === null
        ? DMA_MAPPING_ERROR
        : this.dma.iommuDmaMap(dev, phys, size, prot, dev.coherentDmaMaskLimit);
    if (vaddr === null || dma === DMA_MAPPING_ERROR) {
      if (vaddr !== null && this.d.vm.isVmallocAddr(vaddr)) this.d.vmap.vunmap(vaddr);
      this.d.pages.freePagesPage(page, order);
      return null;
    }
    this.live.set(vaddr, { kind: 'contiguous', page, order });
    return { vaddr, dma };
  }

  /** dma_common_contiguous_remap after arch_dma_prep_coherent. */
  private remap(phys: PhysAddr, bytes: number, attrs: number): VirtAddr | null {
    this.d.arch.prepCoherent(phys, bytes);
    const ps = this.d.profile.pageSize;
    const pages = Array.from({ length: bytes / ps }, (_, i) => (phys + i * ps) as PhysAddr);
    return this.d.vmap.vmap(pages, dmaPgprot(this.d.profile.name, false, attrs), 'iommu_dma_alloc');
  }

  private pageAlign(size: number): number {
    const ps = this.d.profile.pageSize;
    return Math.ceil(size / ps) * ps;
  }
}
