/**
 * DOC: exporting coherent buffers (kernel/dma/mapping.c dma_mmap_attrs, dma_can_mmap,
 * dma_get_sgtable_attrs; kernel/dma/direct.c dma_direct_mmap, dma_direct_get_sgtable;
 * drivers/iommu/dma-iommu.c iommu_dma_mmap, iommu_dma_get_sgtable; kernel/dma/coherent.c
 * dma_mmap_from_dev_coherent; Linux 6.12; facts §1.11).
 *
 * The model has no user space: a mapping is made into a VmAreaStruct that records what
 * remap_pfn_range / vm_map_pages would put in the page table (one pfn per page of the area) and
 * the page protection dma_pgprot chose. dma_get_sgtable describes the buffer's pages in an
 * sg_table: one entry for a physically contiguous buffer, one per run of contiguous pages for an
 * IOMMU allocation stitched together from scattered pages.
 * MODEL: the global coherent pool (CONFIG_DMA_GLOBAL_POOL) is not modelled.
 */
import type { DmaAddr, VirtAddr } from '../../lib/addr.js';
import { MemAttr } from '../../machine/memory/attr.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { Device } from '../device/device.js';
import { dmaToPhys } from '../device/dma-range.js';
import { ENXIO } from '../errno.js';
import type { SgTable } from '../lib/scatterlist.js';
import { allocTableFromPages, sgAllocTable, sgSetPage } from '../lib/scatterlist.js';
import type { KernelVm } from '../mm/kmem.js';
import type { Pfn } from '../mm/page.js';
import { DmaCoherentMem } from './coherent.js';
import type { IommuDma } from './iommu.js';
import { dmaPgprot } from './pgprot.js';
import { dmaDirectRemap } from './remap.js';

/** struct vm_area_struct: the part of a user mapping the dma_mmap_* calls read and write. */
export class VmAreaStruct {
  /** vm_page_prot: the memory type of the user mapping; set by dma_mmap_attrs (dma_pgprot). */
  vmPageProt: MemAttr = MemAttr.CACHEABLE;
  /**
   * What the mapping put in the page table: the pfn behind each page of the area, from vm_start
   * up; empty until a dma_mmap_* call succeeds.
   */
  pfns: Pfn[] = [];

  constructor(
    /** vm_start: the user address of the area. */
    readonly vmStart: number,
    /** vm_pgoff: the offset into the buffer, in pages, that the area starts at. */
    readonly vmPgoff: number,
    /** vma_pages(): the area's length in pages. */
    readonly nPages: number,
  ) {}
}

export interface MmapDeps {
  readonly profile: ArchProfile;
  readonly vm: KernelVm;
  readonly iommu: IommuDma | null;
}

function useDmaIommu(d: MmapDeps, dev: Device): IommuDma | null {
  return dev.dmaIommu ? d.iommu : null;
}

function nrPages(d: MmapDeps, size: number): number {
  return Math.ceil(size / d.profile.pageSize);
}

/** PHYS_PFN(virt_to_phys / vmalloc_to_pfn) of a kernel address. */
function virtToPfn(d: MmapDeps, vaddr: VirtAddr): Pfn {
  return Math.floor(d.vm.virtToPhys(vaddr) / d.profile.pageSize) as Pfn;
}

/** The area's pages lie inside a buffer of `count` pages. */
function fits(vma: VmAreaStruct, count: number): boolean {
  return vma.vmPgoff < count && vma.nPages <= count - vma.vmPgoff;
}

/** remap_pfn_range(vma, vm_start, pfn, vma_pages << PAGE_SHIFT): consecutive pfns. @returns 0 */
function remapPfnRange(vma: VmAreaStruct, pfn: number): number {
  vma.pfns = Array.from({ length: vma.nPages }, (_, i) => (pfn + i) as Pfn);
  return 0;
}

/**
 * dma_mmap_from_dev_coherent - maps a block of `dev`'s own coherent pool.
 * @returns null when `vaddr` is not in the pool (the caller goes on); else 0 or -ENXIO
 * @linux kernel/dma/coherent.c dma_mmap_from_dev_coherent
 */
function dmaMmapFromDevCoherent(
  d: MmapDeps,
  dev: Device,
  vma: VmAreaStruct,
  vaddr: VirtAddr,
  size: number,
): number | null {
  const mem = dev.dmaMem instanceof DmaCoherentMem ? dev.dmaMem : null;
  const end = mem === null ? 0 : mem.virtBase + mem.size * mem.pageSize;
  if (mem === null || vaddr < mem.virtBase || vaddr + size > end) return null;
  const start = Math.floor((vaddr - mem.virtBase) / mem.pageSize);
  if (!fits(vma, nrPages(d, size))) return -ENXIO;
  return remapPfnRange(vma, mem.pfnBase + start + vma.vmPgoff);
}

/**
 * dma_mmap_attrs - maps a coherent buffer into a user area, with the protection dma_pgprot
 * gives: cacheable for a coherent device, the arch's uncached or write-combining type otherwise.
 * @param cpuAddr what dma_alloc_attrs returned (a cookie with DMA_ATTR_NO_KERNEL_MAPPING)
 * @param attrs the attrs of the allocation
 * @returns 0, or -ENXIO when the area reaches past the buffer
 * @linux kernel/dma/mapping.c dma_mmap_attrs
 */
export function dmaMmapAttrs(
  d: MmapDeps,
  dev: Device,
  vma: VmAreaStruct,
  cpuAddr: VirtAddr,
  dmaAddr: DmaAddr,
  size: number,
  attrs: number,
): number {
  vma.vmPageProt = dmaPgprot(d.profile.name, dev.dmaCoherent, attrs);
  const fromPool = dmaMmapFromDevCoherent(d, dev, vma, cpuAddr, size);
  if (fromPool !== null) return fromPool;
  if (!fits(vma, nrPages(d, size))) return -ENXIO;
  if (useDmaIommu(d, dev) === null) {
    // dma_direct_mmap: the pages behind the bus address.
    const pfn = Math.floor(dmaToPhys(dev, dmaAddr) / d.profile.pageSize);
    return remapPfnRange(vma, pfn + vma.vmPgoff);
  }
  // iommu_dma_mmap: a remap allocation maps its own pages (vm_map_pages), anything else the
  // contiguous pages behind the kernel address.
  const pages = iommuFindPages(d, cpuAddr);
  if (pages === null) return remapPfnRange(vma, virtToPfn(d, cpuAddr) + vma.vmPgoff);
  vma.pfns = pages.slice(vma.vmPgoff, vma.vmPgoff + vma.nPages);
  return 0;
}

/** dma_common_find_pages behind IOMMU DMA: the pages of a live remap allocation, or null. */
function iommuFindPages(d: MmapDeps, cpuAddr: VirtAddr): readonly Pfn[] | null {
  if (d.iommu === null || !d.vm.isVmallocAddr(cpuAddr)) return null;
  return d.iommu.allocator.findPages(cpuAddr);
}

/**
 * dma_can_mmap - whether dma_mmap_attrs can map this device's coherent buffers: always behind an
 * IOMMU; with dma-direct for a coherent device, or where non-coherent buffers can be given an
 * uncached user mapping (CONFIG_DMA_NONCOHERENT_MMAP, selected with CONFIG_DMA_DIRECT_REMAP).
 * @linux kernel/dma/mapping.c dma_can_mmap
 */
export function dmaCanMmap(d: MmapDeps, dev: Device): boolean {
  if (useDmaIommu(d, dev) !== null) return true;
  return dev.dmaCoherent || dmaDirectRemap(d.profile);
}

/**
 * dma_get_sgtable_attrs - fills `sgt` with the pages of a coherent buffer: one entry of
 * PAGE_ALIGN(size) bytes for contiguous memory, one entry per run of contiguous pages (size bytes
 * in all) for an IOMMU remap allocation.
 * @returns 0, or a negative errno from sg_alloc_table
 * @linux kernel/dma/mapping.c dma_get_sgtable_attrs
 */
export function dmaGetSgtableAttrs(
  d: MmapDeps,
  dev: Device,
  sgt: SgTable,
  cpuAddr: VirtAddr,
  dmaAddr: DmaAddr,
  size: number,
): number {
  const ps = d.profile.pageSize;
  let page: Pfn;
  if (useDmaIommu(d, dev) === null) {
    // dma_direct_get_sgtable: dma_direct_to_page.
    page = Math.floor(dmaToPhys(dev, dmaAddr) / ps) as Pfn;
  } else {
    // iommu_dma_get_sgtable.
    const pages = iommuFindPages(d, cpuAddr);
    if (pages !== null)
      return allocTableFromPages(ps, sgt, pages.slice(0, nrPages(d, size)), 0, size);
    page = virtToPfn(d, cpuAddr);
  }
  const ret = sgAllocTable(sgt, 1);
  if (ret === 0 && sgt.sgl !== null) sgSetPage(sgt.sgl, page, nrPages(d, size) * ps, 0);
  return ret;
}
