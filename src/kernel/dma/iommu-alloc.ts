/**
 * DOC: coherent allocations over IOMMU DMA (drivers/iommu/dma-iommu.c iommu_dma_alloc,
 * iommu_dma_alloc_remap, __iommu_dma_alloc_pages, iommu_dma_free, Linux 6.12; facts §5.7)
 *
 * A blocking allocation without DMA_ATTR_FORCE_CONTIGUOUS needs no physically contiguous memory:
 * it takes pages of the largest order the IOMMU can map in one entry (2 MiB, else 4 KiB; only
 * 4 KiB with ALLOC_SINGLE_PAGES), falling back to smaller orders, maps them into one IOVA range
 * below the coherent mask and stitches them together in vmalloc space. Otherwise the memory is
 * one contiguous block from the page allocator, remapped only for a non-coherent device.
 * A non-blocking allocation for a non-coherent device cannot remap, so it comes from the
 * atomic pools (pool.ts).
 * MODEL: no CMA here; DMA_ATTR_NO_KERNEL_MAPPING still makes a mapping.
 *
 * Also here: the non-coherent allocations of IOMMU DMA (dma_alloc_pages through
 * dma_common_alloc_pages, dma_alloc_noncontiguous and its vmap), which share the page and IOVA
 * steps of the remap allocation.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../lib/addr.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { ArchDmaSync } from '../arch/dma-sync.js';
import type { Device } from '../device/device.js';
import { DMA_MAPPING_ERROR } from '../device/dma-range.js';
import type { IommuCore } from '../iommu/iommu.js';
import { __GFP_HIGHMEM, __GFP_NORETRY, __GFP_NOWARN, gfpflagsAllowBlocking } from '../mm/gfp.js';
import type { Gfp } from '../mm/gfp.js';
import type { KernelVm } from '../mm/kmem.js';
import type { PageAllocator } from '../mm/page-alloc.js';
import type { Pfn } from '../mm/page.js';
import type { Vmap } from '../mm/vmap.js';
import type { AtomicPools } from './pool.js';
import { SimulatorBug } from '../../lib/errors.js';
import { MemAttr } from '../../machine/memory/attr.js';
import { SgTable, allocTableFromPages, sgFreeTable } from '../lib/scatterlist.js';
import {
  DMA_ATTR_ALLOC_SINGLE_PAGES,
  DMA_ATTR_FORCE_CONTIGUOUS,
  DMA_ATTR_SKIP_CPU_SYNC,
} from './attrs.js';
import { DmaDataDirection } from './direction.js';
import type { IommuDma } from './iommu.js';
import { IOVA_GRANULE, dmaInfoToProt } from './iommu.js';
import type { CoherentBuffer } from './map-ops.js';
import { dmaPgprot } from './pgprot.js';
import { dmaCommonContiguousRemap } from './remap.js';

/** Page orders the IOMMU maps in one entry: 4 KiB (0) and 2 MiB (9). */
const IOMMU_ORDERS = [9, 0] as const;

export interface IommuAllocDeps {
  readonly core: IommuCore;
  readonly profile: ArchProfile;
  readonly arch: ArchDmaSync;
  readonly pages: PageAllocator;
  readonly vm: KernelVm;
  readonly vmap: Vmap;
  /** The atomic pools, or null without CONFIG_DMA_COHERENT_POOL. */
  readonly pools: AtomicPools | null;
}

/** How a live allocation was made, to free it the same way. */
type Backing =
  | { readonly kind: 'pages'; readonly pages: readonly Pfn[] }
  | { readonly kind: 'contiguous'; readonly page: Pfn; readonly order: number }
  | { readonly kind: 'pool' };

export class IommuDmaAlloc {
  private readonly live = new Map<VirtAddr, Backing>();
  /** struct dma_sgt_handle: the pages of each live noncontiguous allocation. */
  private readonly sgtPages = new WeakMap<SgTable, readonly Pfn[]>();

  constructor(
    private readonly dma: IommuDma,
    private readonly d: IommuAllocDeps,
  ) {}

  /**
   * iommu_dma_alloc - zeroed memory mapped for `dev` below its coherent mask.
   * @returns the CPU and bus addresses, or null
   */
  alloc(dev: Device, size: number, gfp: Gfp, attrs: number): CoherentBuffer | null {
    const blocking = gfpflagsAllowBlocking(gfp);
    let buf: CoherentBuffer | null;
    if (blocking && (attrs & DMA_ATTR_FORCE_CONTIGUOUS) === 0)
      buf = this.allocRemap(dev, size, gfp, attrs);
    else if (!blocking && !dev.dmaCoherent && this.d.pools !== null)
      buf = this.allocFromPool(this.d.pools, dev, size, gfp, attrs);
    else buf = this.allocContiguous(dev, size, gfp, attrs);
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
    if (b.kind === 'pool') {
      this.d.pools?.dmaFreeFromPool(dev, vaddr, this.pageAlign(size));
      return;
    }
    if (this.d.vm.isVmallocAddr(vaddr)) this.d.vmap.vunmap(vaddr);
    if (b.kind === 'pages') this.freePageList(b.pages);
    else this.d.pages.freePagesPage(b.page, b.order);
  }

  /** iommu_dma_alloc_remap: scattered pages, one IOVA range, one vmalloc-space alias. */
  private allocRemap(dev: Device, size: number, gfp: Gfp, attrs: number): CoherentBuffer | null {
    const nc = this.allocNoncontiguousPages(dev, size, gfp, attrs);
    if (nc === null) return null;
    const attr = dmaPgprot(this.d.profile.name, dev.dmaCoherent, attrs);
    const phys = nc.pages.map((p) => this.d.pages.pageToPhys(p));
    const vaddr = this.d.vmap.vmap(phys, attr, 'iommu_dma_alloc_remap');
    if (vaddr === null) {
      this.dma.iommuDmaUnmap(dev, nc.iova, nc.bytes);
      this.freePageList(nc.pages);
      return null;
    }
    this.live.set(vaddr, { kind: 'pages', pages: nc.pages });
    return { vaddr, dma: nc.iova as DmaAddr };
  }

  /**
   * dma_common_find_pages: the pages behind a live remap allocation (scattered pages stitched
   * together in vmalloc space); null for anything else, contiguous remaps included.
   * @linux kernel/dma/remap.c dma_common_find_pages
   */
  findPages(vaddr: VirtAddr): readonly Pfn[] | null {
    const b = this.live.get(vaddr);
    return b?.kind === 'pages' ? b.pages : null;
  }

  /**
   * iommu_dma_alloc_noncontiguous - scattered pages mapped at one IOVA range below the coherent
   * mask: one CPU entry per run of physically contiguous pages, one DMA segment (sgl's dma
   * address and length) over the whole range. The pages keep their cacheable linear addresses.
   * @returns the table (nents not yet set; the caller makes it 1), or null
   * @linux drivers/iommu/dma-iommu.c iommu_dma_alloc_noncontiguous
   */
  allocNoncontiguous(dev: Device, size: number, gfp: Gfp, attrs: number): SgTable | null {
    const nc = this.allocNoncontiguousPages(dev, size, gfp, attrs);
    if (nc === null) return null;
    const sgt = new SgTable();
    allocTableFromPages(this.d.profile.pageSize, sgt, nc.pages, 0, nc.bytes);
    if (sgt.sgl === null) throw new SimulatorBug('iommu_dma_alloc_noncontiguous: empty table');
    sgt.sgl.dmaAddress = nc.iova as DmaAddr;
    sgt.sgl.dmaLength = nc.bytes;
    this.sgtPages.set(sgt, nc.pages);
    return sgt;
  }

  /**
   * iommu_dma_free_noncontiguous - unmaps the range and frees the pages; the table is emptied.
   * @linux drivers/iommu/dma-iommu.c iommu_dma_free_noncontiguous
   */
  freeNoncontiguous(dev: Device, size: number, sgt: SgTable): void {
    const pages = this.sgtPages.get(sgt);
    if (pages === undefined || sgt.sgl === null)
      throw new SimulatorBug(`${dev.name}: dma_free_noncontiguous of a table it did not allocate`);
    this.dma.iommuDmaUnmap(dev, sgt.sgl.dmaAddress, size);
    this.freePageList(pages);
    this.sgtPages.delete(sgt);
    sgFreeTable(sgt);
  }

  /**
   * iommu_dma_vmap_noncontiguous - one cacheable kernel mapping over the table's pages.
   * @returns the address, or null when the vmalloc area is full
   * @linux drivers/iommu/dma-iommu.c iommu_dma_vmap_noncontiguous
   */
  vmapNoncontiguous(sgt: SgTable): VirtAddr | null {
    const pages = this.sgtPages.get(sgt) ?? [];
    const phys = pages.map((p) => this.d.pages.pageToPhys(p));
    return this.d.vmap.vmap(phys, MemAttr.CACHEABLE, 'iommu_dma_vmap_noncontiguous');
  }

  /**
   * iommu_dma_vunmap_noncontiguous.
   * @linux drivers/iommu/dma-iommu.c iommu_dma_vunmap_noncontiguous
   */
  vunmapNoncontiguous(vaddr: VirtAddr): void {
    this.d.vmap.vunmap(vaddr);
  }

  /**
   * dma_common_alloc_pages - pages from the page allocator, mapped at an IOVA below the streaming
   * mask without cache maintenance (the caller syncs), then zeroed through the linear map.
   * @returns the first page and its bus address, or null
   * @linux kernel/dma/ops_helpers.c dma_common_alloc_pages
   */
  allocPages(
    dev: Device,
    size: number,
    dir: DmaDataDirection,
    gfp: Gfp,
  ): { page: Pfn; dma: DmaAddr } | null {
    const order = this.d.pages.getOrder(size);
    const page = this.d.pages.allocPages(gfp, order);
    if (page === null) return null;
    const phys = this.d.pages.pageToPhys(page);
    const dma = this.dma.mapPhys(dev, phys, size, dir, DMA_ATTR_SKIP_CPU_SYNC);
    const vaddr = this.d.pages.pageAddress(page);
    if (dma === DMA_MAPPING_ERROR || vaddr === null) {
      if (dma !== DMA_MAPPING_ERROR) this.dma.iommuDmaUnmap(dev, dma, size);
      this.d.pages.freePagesPage(page, order);
      return null;
    }
    this.d.vm.memset(vaddr, 0, size);
    return { page, dma };
  }

  /**
   * dma_common_free_pages - unmaps without cache maintenance and frees the pages.
   * @linux kernel/dma/ops_helpers.c dma_common_free_pages
   */
  freePages(dev: Device, size: number, page: Pfn, dma: DmaAddr, dir: DmaDataDirection): void {
    this.dma.unmapPhys(dev, dma, size, dir, DMA_ATTR_SKIP_CPU_SYNC);
    this.d.pages.freePagesPage(page, this.d.pages.getOrder(size));
  }

  /**
   * __iommu_dma_alloc_noncontiguous: pages for `size` bytes, written back and dropped from the
   * cache for a non-coherent device, mapped read-write at one IOVA range below the coherent mask.
   * @returns the pages, the IOVA and the page-aligned length; null with nothing kept
   */
  private allocNoncontiguousPages(
    dev: Device,
    size: number,
    gfp: Gfp,
    attrs: number,
  ): { pages: Pfn[]; iova: number; bytes: number } | null {
    const bytes = this.pageAlign(size);
    const orders = (attrs & DMA_ATTR_ALLOC_SINGLE_PAGES) !== 0 ? [0] : [...IOMMU_ORDERS];
    const pages = this.iommuDmaAllocPages(bytes / this.d.profile.pageSize, orders, gfp);
    if (pages === null) return null;
    const phys = pages.map((p) => this.d.pages.pageToPhys(p));
    const iova = this.dma.allocIova(dev, bytes, dev.coherentDmaMaskLimit);
    if (iova === 0) return this.freePageList(pages);
    const runs = phys.map((p) => ({ phys: p, len: this.d.profile.pageSize }));
    if (!dev.dmaCoherent)
      for (const p of phys) this.d.arch.prepCoherent(p, this.d.profile.pageSize);
    const prot = dmaInfoToProt(DmaDataDirection.BIDIRECTIONAL, dev.dmaCoherent, attrs);
    const { domain, cookie } = this.dma.domainAndCookie(dev);
    if (this.d.core.mapSg(domain, iova, runs, prot) < bytes) {
      cookie.iovad.freeIovaFast(iova / IOVA_GRANULE, bytes / IOVA_GRANULE);
      return this.freePageList(pages);
    }
    return { pages, iova, bytes };
  }

  /** __iommu_dma_free_pages. @returns null, for the failure paths */
  private freePageList(pages: readonly Pfn[]): null {
    for (const p of pages) this.d.pages.freePagesPage(p, 0);
    return null;
  }

  /**
   * __iommu_dma_alloc_pages: `count` order-0 pages, taken in the largest allowed order that
   * still fits, splitting each high-order block; an order that fails is not tried again.
   * @returns the pages, or null (nothing kept) when even order 0 fails
   */
  private iommuDmaAllocPages(count: number, orders: number[], gfp: Gfp): Pfn[] | null {
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

  /** dma_alloc_from_pool, then the whole buffer mapped below the coherent mask. */
  private allocFromPool(
    pools: AtomicPools,
    dev: Device,
    size: number,
    gfp: Gfp,
    attrs: number,
  ): CoherentBuffer | null {
    const got = pools.dmaAllocFromPool(dev, this.pageAlign(size), gfp, null);
    if (got === null) return null;
    const phys = this.d.pages.pageToPhys(got.page);
    const prot = dmaInfoToProt(DmaDataDirection.BIDIRECTIONAL, false, attrs);
    const dma = this.dma.iommuDmaMap(dev, phys, size, prot, dev.coherentDmaMaskLimit);
    if (dma === DMA_MAPPING_ERROR) {
      pools.dmaFreeFromPool(dev, got.vaddr, this.pageAlign(size));
      return null;
    }
    this.live.set(got.vaddr, { kind: 'pool' });
    return { vaddr: got.vaddr, dma };
  }

  /** dma_common_contiguous_remap after arch_dma_prep_coherent. */
  private remap(phys: PhysAddr, bytes: number, attrs: number): VirtAddr | null {
    this.d.arch.prepCoherent(phys, bytes);
    const attr = dmaPgprot(this.d.profile.name, false, attrs);
    const ps = this.d.profile.pageSize;
    return dmaCommonContiguousRemap(this.d.vmap, ps, phys, bytes, attr, 'iommu_dma_alloc');
  }

  private pageAlign(size: number): number {
    const ps = this.d.profile.pageSize;
    return Math.ceil(size / ps) * ps;
  }
}
