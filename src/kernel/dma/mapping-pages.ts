/**
 * DOC: non-coherent allocations (kernel/dma/mapping.c dma_alloc_pages, dma_alloc_noncontiguous
 * and their frees, Linux 6.12; facts §1.12), and dma-direct's DMA_ATTR_NO_KERNEL_MAPPING
 * allocations (kernel/dma/direct.c dma_direct_alloc_no_mapping).
 *
 * The memory is normal cacheable memory the device can reach: the driver transfers ownership
 * with dma_sync_single_for_device / _for_cpu, as for a streaming mapping. dma-direct takes pages
 * below the coherent mask; IOMMU DMA takes any pages and maps them at one IOVA range.
 * dma_alloc_noncontiguous gives a table of one DMA segment: behind an IOMMU over scattered pages
 * (one CPU entry per physically contiguous run), otherwise over one contiguous allocation.
 *
 * 6.12 traces dma_alloc_pages and dma_free_pages as dma_map_page / dma_unmap_page, and
 * dma_alloc_noncontiguous / dma_free_noncontiguous as dma_map_sg / dma_unmap_sg (facts §8.1; the
 * dma_alloc_pages and dma_alloc_sgt events came in the next cycle).
 * MODEL: no memory encryption (force_dma_unencrypted), so no atomic-pool path here.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../lib/addr.js';
import type { Device } from '../device/device.js';
import { physToDma } from '../device/dma-range.js';
import { SgTable, sgAllocTable, sgFreeTable, sgSetPage } from '../lib/scatterlist.js';
import type { Gfp } from '../mm/gfp.js';
import { __GFP_COMP, __GFP_DMA, __GFP_DMA32, __GFP_HIGHMEM, __GFP_ZERO } from '../mm/gfp.js';
import type { KernelVm } from '../mm/kmem.js';
import type { Pfn } from '../mm/page.js';
import { DMA_ATTR_ALLOC_SINGLE_PAGES } from './attrs.js';
import type { DmaDirect } from './direct.js';
import type { DmaDataDirection } from './direction.js';
import type { IommuDma } from './iommu.js';
import type { CoherentBuffer } from './map-ops.js';
import { traceDmaMap, traceDmaUnmap } from './hooks.js';
import type { SgDeps } from './mapping-sg.js';
import { reportMapSg, reportUnmapSg } from './mapping-sg.js';
import type { DevWarnOnce } from './warn.js';

export interface PagesDeps extends SgDeps {
  readonly direct: DmaDirect;
  readonly iommu: IommuDma | null;
  readonly vm: KernelVm;
  readonly pageSize: number;
  readonly warned: DevWarnOnce;
}

/** The `dma_addr_t *dma_handle` out-parameter. */
interface Handle {
  dma: DmaAddr;
}

const WHERE = 'kernel/dma/mapping.c';

function useDmaIommu(d: PagesDeps, dev: Device): IommuDma | null {
  return dev.dmaIommu ? d.iommu : null;
}

function pageAlign(d: PagesDeps, size: number): number {
  return Math.ceil(size / d.pageSize) * d.pageSize;
}

/** WARN_ON_ONCE(cond) at `site`: true when `cond` held (and warned the first time). */
function warnOnOnce(d: PagesDeps, dev: Device, cond: boolean, what: string, site: string): boolean {
  if (cond) d.warned.warn(dev, `${site} with ${what}`, `${WHERE} ${site} (${what})`);
  return cond;
}

/**
 * __dma_alloc_pages: the checks and the path's allocation, without the tracepoint.
 * @linux kernel/dma/mapping.c __dma_alloc_pages
 */
function allocPagesBackend(
  d: PagesDeps,
  dev: Device,
  size: number,
  handle: Handle,
  dir: DmaDataDirection,
  gfp: Gfp,
): Pfn | null {
  const site = '__dma_alloc_pages';
  if (warnOnOnce(d, dev, dev.coherentDmaMask === 0n, 'no coherent DMA mask', site)) return null;
  const zone = (gfp & (__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM)) !== 0;
  if (warnOnOnce(d, dev, zone, 'zone flags', site)) return null;
  if (warnOnOnce(d, dev, (gfp & __GFP_COMP) !== 0, '__GFP_COMP', site)) return null;
  const bytes = pageAlign(d, size);
  const iommu = useDmaIommu(d, dev);
  const got =
    iommu === null
      ? dmaDirectAllocPages(d, dev, bytes, gfp)
      : iommu.allocator.allocPages(dev, bytes, dir, gfp);
  if (got === null) return null;
  handle.dma = got.dma;
  return got.page;
}

/**
 * dma_direct_alloc_pages: zeroed pages below the coherent mask, through the cacheable linear map
 * (the zeroes may sit dirty in the cache until the driver syncs for the device).
 * @linux kernel/dma/direct.c dma_direct_alloc_pages
 */
function dmaDirectAllocPages(
  d: PagesDeps,
  dev: Device,
  bytes: number,
  gfp: Gfp,
): { page: Pfn; dma: DmaAddr } | null {
  const page = d.direct.allocPagesInReach(dev, bytes, gfp);
  if (page === null) return null;
  const phys = d.pageToPhys(page);
  d.vm.memset(d.vm.linear.physToVirt(phys), 0, bytes);
  return { page, dma: physToDma(dev, phys) };
}

/** __dma_free_pages: the path's free. */
function freePagesBackend(
  d: PagesDeps,
  dev: Device,
  size: number,
  page: Pfn,
  dma: DmaAddr,
  dir: DmaDataDirection,
): void {
  const bytes = pageAlign(d, size);
  const iommu = useDmaIommu(d, dev);
  if (iommu === null) d.direct.freePagesInReach(dev, page, bytes);
  else iommu.allocator.freePages(dev, bytes, page, dma, dir);
}

/**
 * dma_alloc_pages - pages `dev` can reach, owned by the CPU until the driver syncs for the device.
 * @param size rounded up to whole pages
 * @param gfp no zone modifiers and no __GFP_COMP (warned once, null)
 * @returns the first page (bus address in `handle.dma`), or null
 * @linux kernel/dma/mapping.c dma_alloc_pages
 */
export function dmaAllocPages(
  d: PagesDeps,
  dev: Device,
  size: number,
  handle: Handle,
  dir: DmaDataDirection,
  gfp: Gfp,
): Pfn | null {
  const page = allocPagesBackend(d, dev, size, handle, dir, gfp);
  if (page === null) return null;
  const phys = d.pageToPhys(page);
  traceDmaMap(d.trace, 'dma_map_page', dev, dir, handle.dma, size, phys, 0);
  d.debug.mapPhys(dev, phys, size, dir, handle.dma, 0);
  return page;
}

/**
 * dma_free_pages - frees what dma_alloc_pages returned; dev, size, dma and dir as at the alloc.
 * @linux kernel/dma/mapping.c dma_free_pages
 */
export function dmaFreePages(
  d: PagesDeps,
  dev: Device,
  size: number,
  page: Pfn,
  dma: DmaAddr,
  dir: DmaDataDirection,
): void {
  traceDmaUnmap(d.trace, 'dma_unmap_page', dev, dir, dma, size, 0);
  d.debug.unmapPhys(dev, dma, size, dir);
  freePagesBackend(d, dev, size, page, dma, dir);
}

/**
 * dma_alloc_noncoherent - dma_alloc_pages, as a kernel address.
 * @returns the linear-map address, or null
 * @linux include/linux/dma-mapping.h dma_alloc_noncoherent
 */
export function dmaAllocNoncoherent(
  d: PagesDeps,
  dev: Device,
  size: number,
  handle: Handle,
  dir: DmaDataDirection,
  gfp: Gfp,
): VirtAddr | null {
  const page = dmaAllocPages(d, dev, size, handle, dir, gfp);
  return page === null ? null : d.vm.linear.physToVirt(d.pageToPhys(page));
}

/**
 * dma_free_noncoherent - dma_free_pages of virt_to_page(vaddr).
 * @linux include/linux/dma-mapping.h dma_free_noncoherent
 */
export function dmaFreeNoncoherent(
  d: PagesDeps,
  dev: Device,
  size: number,
  vaddr: VirtAddr,
  dma: DmaAddr,
  dir: DmaDataDirection,
): void {
  const page = (d.vm.virtToPhys(vaddr) / d.pageSize) as Pfn;
  dmaFreePages(d, dev, size, page, dma, dir);
}

/**
 * dma_alloc_noncontiguous - memory that is contiguous for the device only: a table of one DMA
 * segment (nents 1) over `orig_nents` CPU entries.
 * @param attrs 0 or DMA_ATTR_ALLOC_SINGLE_PAGES (anything else: warned once, null)
 * @returns the table, or null
 * @linux kernel/dma/mapping.c dma_alloc_noncontiguous
 */
export function dmaAllocNoncontiguous(
  d: PagesDeps,
  dev: Device,
  size: number,
  dir: DmaDataDirection,
  gfp: Gfp,
  attrs: number,
): SgTable | null {
  const site = 'dma_alloc_noncontiguous';
  if (warnOnOnce(d, dev, (attrs & ~DMA_ATTR_ALLOC_SINGLE_PAGES) !== 0, 'attrs', site)) return null;
  if (warnOnOnce(d, dev, (gfp & __GFP_COMP) !== 0, '__GFP_COMP', site)) return null;
  const iommu = useDmaIommu(d, dev);
  const sgt =
    iommu === null
      ? allocSingleSgt(d, dev, size, dir, gfp)
      : iommu.allocator.allocNoncontiguous(dev, size, gfp, attrs);
  if (sgt === null || sgt.sgl === null) return null;
  sgt.nents = 1;
  reportMapSg(d, dev, sgt.sgl, sgt.origNents, 1, dir, attrs);
  return sgt;
}

/**
 * alloc_single_sgt: without an IOMMU, one contiguous allocation in a one-entry table.
 * @linux kernel/dma/mapping.c alloc_single_sgt
 */
function allocSingleSgt(
  d: PagesDeps,
  dev: Device,
  size: number,
  dir: DmaDataDirection,
  gfp: Gfp,
): SgTable | null {
  const sgt = new SgTable();
  sgAllocTable(sgt, 1);
  const sg = sgt.sgl;
  if (sg === null) return null;
  const handle: Handle = { dma: 0 as DmaAddr };
  const page = allocPagesBackend(d, dev, size, handle, dir, gfp);
  if (page === null) return null;
  sgSetPage(sg, page, pageAlign(d, size), 0);
  sg.dmaAddress = handle.dma;
  sg.dmaLength = sg.length;
  return sgt;
}

/**
 * dma_free_noncontiguous - frees what dma_alloc_noncontiguous returned; the table is emptied.
 * @linux kernel/dma/mapping.c dma_free_noncontiguous
 */
export function dmaFreeNoncontiguous(
  d: PagesDeps,
  dev: Device,
  size: number,
  sgt: SgTable,
  dir: DmaDataDirection,
): void {
  const sg = sgt.sgl;
  if (sg === null) return;
  reportUnmapSg(d, dev, sg, sgt.origNents, dir, 0);
  const iommu = useDmaIommu(d, dev);
  if (iommu !== null) {
    iommu.allocator.freeNoncontiguous(dev, size, sgt);
    return;
  }
  freePagesBackend(d, dev, size, sg.page, sg.dmaAddress, dir);
  sgFreeTable(sgt);
}

/**
 * dma_vmap_noncontiguous - a contiguous, cacheable kernel view of the table's memory: a vmap of
 * the scattered pages behind an IOMMU, else the linear address of the one allocation. The
 * caller flushes (flush_kernel_vmap_range) and invalidates around the device's accesses.
 * @returns the address, or null when the vmalloc area is full
 * @linux kernel/dma/mapping.c dma_vmap_noncontiguous
 */
export function dmaVmapNoncontiguous(
  d: PagesDeps,
  dev: Device,
  _size: number,
  sgt: SgTable,
): VirtAddr | null {
  const iommu = useDmaIommu(d, dev);
  if (iommu !== null) return iommu.allocator.vmapNoncontiguous(sgt);
  return sgt.sgl === null ? null : d.vm.linear.physToVirt(d.pageToPhys(sgt.sgl.page));
}

/**
 * dma_vunmap_noncontiguous - drops the vmap; nothing to do without an IOMMU.
 * @linux kernel/dma/mapping.c dma_vunmap_noncontiguous
 */
export function dmaVunmapNoncontiguous(d: PagesDeps, dev: Device, vaddr: VirtAddr): void {
  useDmaIommu(d, dev)?.allocator.vunmapNoncontiguous(vaddr);
}

/**
 * dma_direct_alloc_no_mapping - DMA_ATTR_NO_KERNEL_MAPPING on dma-direct: pages in reach, not
 * zeroed, nothing of them left in the cache, and no kernel mapping. The CPU address returned is
 * an opaque cookie (the kernel's struct page pointer) for dma_mmap_attrs and dma_free_attrs only.
 * MODEL: the cookie is the page frame number; the kernel returns a vmemmap address.
 * @returns the cookie and the bus address, or null
 * @linux kernel/dma/direct.c dma_direct_alloc_no_mapping
 */
export function dmaDirectAllocNoMapping(
  d: PagesDeps,
  dev: Device,
  size: number,
  gfp: Gfp,
): CoherentBuffer | null {
  const bytes = pageAlign(d, size);
  const page = d.direct.allocPagesInReach(dev, bytes, gfp & ~__GFP_ZERO);
  if (page === null) return null;
  const phys: PhysAddr = d.pageToPhys(page);
  d.direct.archDmaPrepCoherent(phys, bytes);
  return { vaddr: page as number as VirtAddr, dma: physToDma(dev, phys) };
}

/**
 * The DMA_ATTR_NO_KERNEL_MAPPING branch of dma_direct_free: the cookie is the page.
 * @linux kernel/dma/direct.c dma_direct_free
 */
export function dmaDirectFreeNoMapping(
  d: PagesDeps,
  dev: Device,
  size: number,
  cookie: VirtAddr,
): void {
  d.direct.freePagesInReach(dev, cookie as number as Pfn, pageAlign(d, size));
}
