/**
 * DOC: the DMA API's front door (kernel/dma/mapping.c, Linux 6.12). Every entry point has the
 * kernel's shape: validate the arguments, dispatch to the device's path (dma-direct, or IOMMU DMA
 * for a device in a DMA domain: dma_go_direct / use_dma_iommu), then the tracepoint and the
 * dma-debug hook in the kernel's order. Failures are the kernel's return values, never
 * exceptions; only what the kernel BUG()s on throws. Streaming single and resource mappings and
 * coherent allocations are here; scatter-gather (mapping-sg.ts), non-coherent allocations
 * (mapping-pages.ts), mmap and sg_table export (mapping-mmap.ts) and the managed dmam_* calls
 * (mapping-managed.ts) are in files of their own that DmaApi delegates to.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../lib/addr.js';
import type { Device } from '../device/device.js';
import { ConfigError } from '../../lib/errors.js';
import { DMA_MAPPING_ERROR } from '../device/dma-range.js';
import { KernelBug } from '../bug.js';
import type { KernelVm } from '../mm/kmem.js';
import type { Pfn } from '../mm/page.js';
import type { KernelLog } from '../printk.js';
import { DevWarnOnce } from './warn.js';
import { DmaDataDirection, validDmaDirection } from './direction.js';
import type { CoherentBuffer, DmaMapOps } from './map-ops.js';
import { DMA_ATTR_NO_KERNEL_MAPPING, DMA_ATTR_NO_WARN, DMA_ATTR_WRITE_COMBINE } from './attrs.js';
import {
  GFP_ATOMIC,
  __GFP_COMP,
  __GFP_DMA,
  __GFP_DMA32,
  __GFP_HIGHMEM,
  __GFP_NOWARN,
} from '../mm/gfp.js';
import * as masks from './masks.js';
import * as sg from './mapping-sg.js';
import * as managed from './mapping-managed.js';
import * as mmap from './mapping-mmap.js';
import type { VmAreaStruct } from './mapping-mmap.js';
import * as pages from './mapping-pages.js';
import type { SgTable, Scatterlist } from '../lib/scatterlist.js';
import { getOrder } from '../mm/page-frames.js';
import { dmaAllocFromDevCoherent, dmaReleaseFromDevCoherent } from './coherent.js';
import type { DmaDirect } from './direct.js';
import type { IommuDma } from './iommu.js';
import type { MaskEnv } from './masks.js';
import type { Gfp } from '../mm/gfp.js';
import type { DmaDebugHooks, DmaTraceBus } from './hooks.js';
import { NO_DMA_DEBUG, traceDmaMap, traceDmaUnmap } from './hooks.js';

export { KernelBug } from '../bug.js';

/** The `dma_addr_t *dma_handle` out-parameter of the allocation calls. */
export interface DmaHandle {
  dma: DmaAddr;
}

export interface DmaApiDeps {
  /** dma-direct. */
  readonly direct: DmaDirect;
  /** IOMMU DMA, or null when no IOMMU driver runs. */
  readonly iommu: IommuDma | null;
  readonly masks: MaskEnv;
  readonly vm: KernelVm;
  /** page_to_phys for the page-based calls. */
  readonly pageToPhys: (page: Pfn) => PhysAddr;
  readonly debug: DmaDebugHooks;
  readonly trace: DmaTraceBus;
  readonly log: KernelLog;
  /** smp_processor_id(), for WARNING lines. */
  readonly cpu: () => number;
}

export class DmaApi {
  private readonly warned: DevWarnOnce;
  /** Maps left before an injected failure (0: none armed). */
  private failCountdown = 0;

  private readonly sgDeps: sg.SgDeps;
  private readonly pagesDeps: pages.PagesDeps;
  private readonly mmapDeps: mmap.MmapDeps;
  private readonly managedDeps: managed.ManagedDeps;

  constructor(private readonly d: DmaApiDeps) {
    this.warned = new DevWarnOnce(d.log, d.cpu);
    this.sgDeps = { pageToPhys: d.pageToPhys, debug: d.debug, trace: d.trace };
    const { direct, iommu, vm, log, cpu } = d;
    const pageSize = d.masks.profile.pageSize;
    this.pagesDeps = { ...this.sgDeps, direct, iommu, vm, pageSize, warned: this.warned };
    this.mmapDeps = { profile: d.masks.profile, vm, iommu };
    this.managedDeps = {
      log,
      cpu,
      alloc: (dev, size, handle, gfp, attrs) => this.dmaAllocAttrs(dev, size, handle, gfp, attrs),
      free: (dev, size, vaddr, dma, attrs) => {
        this.dmaFreeAttrs(dev, size, vaddr, dma, attrs);
      },
    };
  }

  /**
   * The path that serves `dev`: IOMMU DMA when its default domain is a DMA domain
   * (use_dma_iommu), else dma-direct (dma_go_direct with no ops).
   * @linux kernel/dma/mapping.c dma_go_direct
   */
  getDmaOps(dev: Device): DmaMapOps {
    return dev.dmaIommu && this.d.iommu !== null ? this.d.iommu : this.d.direct;
  }

  /**
   * dma_map_page_attrs - maps `size` bytes at `offset` in `page` for `dev`.
   * @returns the bus address; DMA_MAPPING_ERROR on failure (test it with dmaMappingError)
   * @linux kernel/dma/mapping.c dma_map_page_attrs
   */
  dmaMapPageAttrs(
    dev: Device,
    page: Pfn,
    offset: number,
    size: number,
    dir: DmaDataDirection,
    attrs = 0,
  ): DmaAddr {
    return this.mapPhys(dev, (this.d.pageToPhys(page) + offset) as PhysAddr, size, dir, attrs);
  }

  dmaMapPage(dev: Device, page: Pfn, offset: number, size: number, dir: DmaDataDirection): DmaAddr {
    return this.dmaMapPageAttrs(dev, page, offset, size, dir, 0);
  }

  /**
   * dma_map_single_attrs - maps a kernel buffer (linear map or kernel image; not vmalloc).
   * @returns the bus address; DMA_MAPPING_ERROR for vmalloc memory (with the kernel's warning)
   *   or when the mapping fails. Stack and kernel-image buffers are mapped as the kernel maps
   *   them; dma-debug's mapSingle hook sees them first and reports them.
   * @linux include/linux/dma-mapping.h dma_map_single_attrs
   */
  dmaMapSingleAttrs(
    dev: Device,
    ptr: VirtAddr,
    size: number,
    dir: DmaDataDirection,
    attrs = 0,
  ): DmaAddr {
    if (this.d.vm.isVmallocAddr(ptr)) {
      this.warned.warn(
        dev,
        'rejecting DMA map of vmalloc memory',
        'include/linux/dma-mapping.h dma_map_single_attrs',
      );
      return DMA_MAPPING_ERROR;
    }
    this.d.debug.mapSingle(dev, ptr, size);
    if (this.d.vm.resolve(ptr) < 0) {
      // MODEL: the kernel maps whatever page virt_to_page() computes for a bogus pointer; here
      // there is no such page, so the map fails (dma-debug has reported the invalid area).
      return DMA_MAPPING_ERROR;
    }
    return this.mapPhys(dev, this.d.vm.virtToPhys(ptr), size, dir, attrs);
  }

  dmaMapSingle(dev: Device, ptr: VirtAddr, size: number, dir: DmaDataDirection): DmaAddr {
    return this.dmaMapSingleAttrs(dev, ptr, size, dir, 0);
  }

  /**
   * dma_unmap_page_attrs - ends a streaming mapping; the CPU owns the buffer again.
   * @linux kernel/dma/mapping.c dma_unmap_page_attrs
   */
  dmaUnmapPageAttrs(
    dev: Device,
    addr: DmaAddr,
    size: number,
    dir: DmaDataDirection,
    attrs = 0,
  ): void {
    checkDirection(dir);
    this.getDmaOps(dev).unmapPhys(dev, addr, size, dir, attrs);
    traceDmaUnmap(this.d.trace, 'dma_unmap_page', dev, dir, addr, size, attrs);
    this.d.debug.unmapPhys(dev, addr, size, dir);
  }

  dmaUnmapPage(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void {
    this.dmaUnmapPageAttrs(dev, addr, size, dir, 0);
  }

  dmaUnmapSingleAttrs(
    dev: Device,
    addr: DmaAddr,
    size: number,
    dir: DmaDataDirection,
    attrs = 0,
  ): void {
    this.dmaUnmapPageAttrs(dev, addr, size, dir, attrs);
  }

  dmaUnmapSingle(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void {
    this.dmaUnmapPageAttrs(dev, addr, size, dir, 0);
  }

  /**
   * dma_map_resource - maps MMIO of another device (peer-to-peer) for `dev`: never bounced, never
   * cache-maintained; behind an IOMMU an IOVA mapped IOMMU_MMIO.
   * MODEL: no check that `phys` is not RAM (6.12's mapping.c has none; unverified).
   * @returns the bus address, or DMA_MAPPING_ERROR (unreachable without an IOMMU, or no IOVA)
   * @linux kernel/dma/mapping.c dma_map_resource
   */
  dmaMapResource(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    attrs = 0,
  ): DmaAddr {
    checkDirection(dir);
    const addr = this.getDmaOps(dev).mapResource(dev, phys, size, dir, attrs);
    traceDmaMap(this.d.trace, 'dma_map_resource', dev, dir, addr, size, phys, attrs);
    this.d.debug.mapResource(dev, phys, size, dir, addr, attrs);
    return addr;
  }

  /**
   * dma_unmap_resource - ends a dma_map_resource mapping (nothing to undo with dma-direct).
   * @linux kernel/dma/mapping.c dma_unmap_resource
   */
  dmaUnmapResource(
    dev: Device,
    addr: DmaAddr,
    size: number,
    dir: DmaDataDirection,
    attrs = 0,
  ): void {
    checkDirection(dir);
    this.getDmaOps(dev).unmapResource(dev, addr, size, dir, attrs);
    traceDmaUnmap(this.d.trace, 'dma_unmap_resource', dev, dir, addr, size, attrs);
    this.d.debug.unmapResource(dev, addr, size, dir);
  }

  /**
   * dma_mapping_error - whether a map call failed. Drivers must call it on every address a map
   * returns (dma-debug reports those that never were).
   * @linux include/linux/dma-mapping.h dma_mapping_error
   */
  dmaMappingError(dev: Device, addr: DmaAddr): boolean {
    this.d.debug.mappingError(dev, addr);
    return addr === DMA_MAPPING_ERROR;
  }

  /**
   * dma_sync_single_for_cpu - gives the buffer back to the CPU without unmapping it. Skipped, with
   * its tracepoint, for a device that never needs syncs (coherent and never bounced), as 6.12 does.
   * @linux kernel/dma/mapping.c __dma_sync_single_for_cpu
   */
  dmaSyncSingleForCpu(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void {
    checkDirection(dir);
    if (!this.devNeedSync(dev)) return;
    this.getDmaOps(dev).syncSingleForCpu(dev, addr, size, dir);
    if (this.d.trace.on)
      this.d.trace.emit({
        event: 'dma_sync_single_for_cpu',
        device: dev.name,
        dir,
        dmaAddr: addr,
        size,
      });
    this.d.debug.syncSingleForCpu(dev, addr, size, dir);
  }

  /**
   * dma_sync_single_for_device - hands the buffer to the device again.
   * @linux kernel/dma/mapping.c __dma_sync_single_for_device
   */
  dmaSyncSingleForDevice(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void {
    checkDirection(dir);
    if (!this.devNeedSync(dev)) return;
    this.getDmaOps(dev).syncSingleForDevice(dev, addr, size, dir);
    if (this.d.trace.on)
      this.d.trace.emit({
        event: 'dma_sync_single_for_device',
        device: dev.name,
        dir,
        dmaAddr: addr,
        size,
      });
    this.d.debug.syncSingleForDevice(dev, addr, size, dir);
  }

  /** dma_sync_single_range_for_cpu: dma_sync_single_for_cpu of [addr + offset, + size). */
  dmaSyncSingleRangeForCpu(
    dev: Device,
    addr: DmaAddr,
    offset: number,
    size: number,
    dir: DmaDataDirection,
  ): void {
    this.dmaSyncSingleForCpu(dev, (addr + offset) as DmaAddr, size, dir);
  }

  /** dma_sync_single_range_for_device: dma_sync_single_for_device of [addr + offset, + size). */
  dmaSyncSingleRangeForDevice(
    dev: Device,
    addr: DmaAddr,
    offset: number,
    size: number,
    dir: DmaDataDirection,
  ): void {
    this.dmaSyncSingleForDevice(dev, (addr + offset) as DmaAddr, size, dir);
  }

  /**
   * dma_alloc_attrs - coherent memory for `dev`; the bus address goes to `handle.dma`. A device
   * with its own coherent pool (dma_declare_coherent_memory) is served from it only.
   * @param gfp allocation flags; zone modifiers are ignored (the mask decides), __GFP_COMP is
   *   refused with a warning as in the kernel
   * @param attrs DMA_ATTR_*; with DMA_ATTR_NO_KERNEL_MAPPING dma-direct makes no kernel mapping
   *   and returns an opaque cookie, only for dmaMmapAttrs and dmaFreeAttrs (same attrs)
   * @returns the CPU address (or cookie), or null when out of memory, the device's pool is full,
   *   or for __GFP_COMP
   * @linux kernel/dma/mapping.c dma_alloc_attrs
   */
  dmaAllocAttrs(
    dev: Device,
    size: number,
    handle: DmaHandle,
    gfp: Gfp,
    attrs = 0,
  ): VirtAddr | null {
    if ((gfp & __GFP_COMP) !== 0) {
      this.warned.warn(
        dev,
        'dma_alloc_attrs with __GFP_COMP',
        'kernel/dma/mapping.c dma_alloc_attrs',
      );
      return null;
    }
    const own: { vaddr: VirtAddr | null } = { vaddr: null };
    if (dmaAllocFromDevCoherent(dev, size, handle, own)) {
      // A device with its own pool never falls back to normal memory; dma-debug is not told.
      this.traceAlloc(dev, size, handle.dma, own.vaddr, gfp, attrs);
      return own.vaddr;
    }
    const flags = gfp & ~(__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM);
    const buf = this.allocBackend(dev, size, flags, attrs);
    handle.dma = buf?.dma ?? (0 as DmaAddr);
    this.traceAlloc(dev, size, handle.dma, buf?.vaddr ?? null, flags, attrs);
    if (buf === null) return null;
    // debug_dma_alloc_coherent ignores a NO_KERNEL_MAPPING cookie: it is no kernel address.
    if (!this.isNoMappingCookie(dev, attrs))
      this.d.debug.allocCoherent(dev, size, buf.dma, buf.vaddr, attrs);
    return buf.vaddr;
  }

  /**
   * dma_free_attrs - frees what dma_alloc_attrs returned, with the same attrs: to the device's own
   * pool if it came from there, else to the path; freeing NULL is a no-op (traced).
   * @linux kernel/dma/mapping.c dma_free_attrs
   */
  dmaFreeAttrs(dev: Device, size: number, vaddr: VirtAddr | null, dma: DmaAddr, attrs = 0): void {
    const order = getOrder(size, this.d.masks.profile.pageSize);
    if (vaddr !== null && dmaReleaseFromDevCoherent(dev, order, vaddr)) return;
    if (this.d.trace.on) {
      this.d.trace.emit({
        event: 'dma_free',
        device: dev.name,
        dir: DmaDataDirection.BIDIRECTIONAL,
        dmaAddr: dma,
        size,
        virtAddr: this.tracePtr(dev, vaddr, attrs),
        attrs,
      });
    }
    if (vaddr === null) return;
    if (this.isNoMappingCookie(dev, attrs)) {
      pages.dmaDirectFreeNoMapping(this.pagesDeps, dev, size, vaddr);
      return;
    }
    this.d.debug.freeCoherent(dev, size, vaddr, dma);
    this.getDmaOps(dev).free(dev, size, vaddr, dma, attrs);
  }

  /** dma_alloc_coherent. */
  dmaAllocCoherent(dev: Device, size: number, handle: DmaHandle, gfp: Gfp): VirtAddr | null {
    return this.dmaAllocAttrs(dev, size, handle, gfp, 0);
  }

  /** dma_free_coherent. */
  dmaFreeCoherent(dev: Device, size: number, vaddr: VirtAddr | null, dma: DmaAddr): void {
    this.dmaFreeAttrs(dev, size, vaddr, dma, 0);
  }

  /** dma_alloc_wc: a write-combining mapping for a non-coherent device (DMA_ATTR_WRITE_COMBINE). */
  dmaAllocWc(dev: Device, size: number, handle: DmaHandle, gfp: Gfp): VirtAddr | null {
    return this.dmaAllocAttrs(dev, size, handle, gfp, DMA_ATTR_WRITE_COMBINE);
  }

  /** dma_free_wc. */
  dmaFreeWc(dev: Device, size: number, vaddr: VirtAddr | null, dma: DmaAddr): void {
    this.dmaFreeAttrs(dev, size, vaddr, dma, DMA_ATTR_WRITE_COMBINE);
  }

  /** dmam_alloc_attrs: dma_alloc_attrs, freed when the driver unbinds. @returns as dmaAllocAttrs */
  dmamAllocAttrs(
    dev: Device,
    size: number,
    handle: DmaHandle,
    gfp: Gfp,
    attrs = 0,
  ): VirtAddr | null {
    return managed.dmamAllocAttrs(this.managedDeps, dev, size, handle, gfp, attrs);
  }

  /** dmam_alloc_coherent: dmam_alloc_attrs with DMA_ATTR_NO_WARN for __GFP_NOWARN. */
  dmamAllocCoherent(dev: Device, size: number, handle: DmaHandle, gfp: Gfp): VirtAddr | null {
    const attrs = (gfp & __GFP_NOWARN) !== 0 ? DMA_ATTR_NO_WARN : 0;
    return managed.dmamAllocAttrs(this.managedDeps, dev, size, handle, gfp, attrs);
  }

  /** dmam_free_coherent: frees now; WARNs when no managed allocation matches. */
  dmamFreeCoherent(dev: Device, size: number, vaddr: VirtAddr, dma: DmaAddr): void {
    managed.dmamFreeCoherent(this.managedDeps, dev, size, vaddr, dma);
  }

  /** dma_mmap_attrs: maps a coherent buffer into `vma`. @returns 0 or -ENXIO */
  dmaMmapAttrs(
    dev: Device,
    vma: VmAreaStruct,
    cpuAddr: VirtAddr,
    dmaAddr: DmaAddr,
    size: number,
    attrs = 0,
  ): number {
    return mmap.dmaMmapAttrs(this.mmapDeps, dev, vma, cpuAddr, dmaAddr, size, attrs);
  }

  /** dma_mmap_coherent. @returns 0 or -ENXIO */
  dmaMmapCoherent(
    dev: Device,
    vma: VmAreaStruct,
    cpuAddr: VirtAddr,
    dmaAddr: DmaAddr,
    size: number,
  ): number {
    return mmap.dmaMmapAttrs(this.mmapDeps, dev, vma, cpuAddr, dmaAddr, size, 0);
  }

  /** dma_mmap_wc: for a dma_alloc_wc buffer. @returns 0 or -ENXIO */
  dmaMmapWc(
    dev: Device,
    vma: VmAreaStruct,
    cpuAddr: VirtAddr,
    dmaAddr: DmaAddr,
    size: number,
  ): number {
    return mmap.dmaMmapAttrs(
      this.mmapDeps,
      dev,
      vma,
      cpuAddr,
      dmaAddr,
      size,
      DMA_ATTR_WRITE_COMBINE,
    );
  }

  /** dma_can_mmap. */
  dmaCanMmap(dev: Device): boolean {
    return mmap.dmaCanMmap(this.mmapDeps, dev);
  }

  /** dma_get_sgtable_attrs: the pages of a coherent buffer as a table. @returns 0 or -errno */
  dmaGetSgtableAttrs(
    dev: Device,
    sgt: SgTable,
    cpuAddr: VirtAddr,
    dmaAddr: DmaAddr,
    size: number,
    _attrs = 0,
  ): number {
    return mmap.dmaGetSgtableAttrs(this.mmapDeps, dev, sgt, cpuAddr, dmaAddr, size);
  }

  /** dma_get_sgtable. @returns 0 or -errno */
  dmaGetSgtable(
    dev: Device,
    sgt: SgTable,
    cpuAddr: VirtAddr,
    dmaAddr: DmaAddr,
    size: number,
  ): number {
    return mmap.dmaGetSgtableAttrs(this.mmapDeps, dev, sgt, cpuAddr, dmaAddr, size);
  }

  /** dma_alloc_pages: cacheable pages the driver syncs like a streaming mapping. @returns or null */
  dmaAllocPages(
    dev: Device,
    size: number,
    handle: DmaHandle,
    dir: DmaDataDirection,
    gfp: Gfp,
  ): Pfn | null {
    return pages.dmaAllocPages(this.pagesDeps, dev, size, handle, dir, gfp);
  }

  /** dma_free_pages. */
  dmaFreePages(dev: Device, size: number, page: Pfn, dma: DmaAddr, dir: DmaDataDirection): void {
    pages.dmaFreePages(this.pagesDeps, dev, size, page, dma, dir);
  }

  /** dma_alloc_noncoherent: dma_alloc_pages as a kernel address. @returns it, or null */
  dmaAllocNoncoherent(
    dev: Device,
    size: number,
    handle: DmaHandle,
    dir: DmaDataDirection,
    gfp: Gfp,
  ): VirtAddr | null {
    return pages.dmaAllocNoncoherent(this.pagesDeps, dev, size, handle, dir, gfp);
  }

  /** dma_free_noncoherent. */
  dmaFreeNoncoherent(
    dev: Device,
    size: number,
    vaddr: VirtAddr,
    dma: DmaAddr,
    dir: DmaDataDirection,
  ): void {
    pages.dmaFreeNoncoherent(this.pagesDeps, dev, size, vaddr, dma, dir);
  }

  /** dma_alloc_noncontiguous: one DMA segment over possibly many CPU entries. @returns or null */
  dmaAllocNoncontiguous(
    dev: Device,
    size: number,
    dir: DmaDataDirection,
    gfp: Gfp,
    attrs = 0,
  ): SgTable | null {
    return pages.dmaAllocNoncontiguous(this.pagesDeps, dev, size, dir, gfp, attrs);
  }

  /** dma_free_noncontiguous. */
  dmaFreeNoncontiguous(dev: Device, size: number, sgt: SgTable, dir: DmaDataDirection): void {
    pages.dmaFreeNoncontiguous(this.pagesDeps, dev, size, sgt, dir);
  }

  /** dma_vmap_noncontiguous: a contiguous cacheable view. @returns it, or null */
  dmaVmapNoncontiguous(dev: Device, size: number, sgt: SgTable): VirtAddr | null {
    return pages.dmaVmapNoncontiguous(this.pagesDeps, dev, size, sgt);
  }

  /** dma_vunmap_noncontiguous. */
  dmaVunmapNoncontiguous(dev: Device, vaddr: VirtAddr): void {
    pages.dmaVunmapNoncontiguous(this.pagesDeps, dev, vaddr);
  }

  /**
   * dma_map_sg_attrs - maps a scatterlist of `nents` entries.
   * @returns the number of DMA segments, or 0 on failure (nothing stays mapped)
   * @linux kernel/dma/mapping.c dma_map_sg_attrs
   */
  dmaMapSgAttrs(
    dev: Device,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs = 0,
  ): number {
    checkDirection(dir);
    const n = sg.mapSg(this.sgDeps, this.getDmaOps(dev), dev, sgl, nents, dir, attrs);
    if (n > 0) this.markNeedSync(dev, sgl.dmaAddress);
    return Math.max(n, 0);
  }

  dmaMapSg(dev: Device, sgl: Scatterlist, nents: number, dir: DmaDataDirection): number {
    return this.dmaMapSgAttrs(dev, sgl, nents, dir, 0);
  }

  /** dma_unmap_sg_attrs: `nents` must be what was passed to the map, not what it returned. */
  dmaUnmapSgAttrs(
    dev: Device,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs = 0,
  ): void {
    checkDirection(dir);
    sg.unmapSg(this.sgDeps, this.getDmaOps(dev), dev, sgl, nents, dir, attrs);
  }

  dmaUnmapSg(dev: Device, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void {
    this.dmaUnmapSgAttrs(dev, sgl, nents, dir, 0);
  }

  /**
   * dma_map_sgtable - maps sgt.origNents entries and sets sgt.nents.
   * @returns 0, or a negative errno (-EIO: will not succeed if retried as is)
   */
  dmaMapSgtable(dev: Device, sgt: SgTable, dir: DmaDataDirection, attrs = 0): number {
    checkDirection(dir);
    const rc = sg.mapSgtable(this.sgDeps, this.getDmaOps(dev), dev, sgt, dir, attrs);
    if (rc === 0 && sgt.sgl !== null) this.markNeedSync(dev, sgt.sgl.dmaAddress);
    return rc;
  }

  /** dma_unmap_sgtable. */
  dmaUnmapSgtable(dev: Device, sgt: SgTable, dir: DmaDataDirection, attrs = 0): void {
    if (sgt.sgl !== null) this.dmaUnmapSgAttrs(dev, sgt.sgl, sgt.origNents, dir, attrs);
  }

  /** dma_sync_sg_for_cpu (skipped with its tracepoint when the device never needs syncs). */
  dmaSyncSgForCpu(dev: Device, sgl: Scatterlist, nelems: number, dir: DmaDataDirection): void {
    checkDirection(dir);
    if (this.devNeedSync(dev))
      sg.syncSg(this.sgDeps, this.getDmaOps(dev), dev, sgl, nelems, dir, true);
  }

  /** dma_sync_sg_for_device. */
  dmaSyncSgForDevice(dev: Device, sgl: Scatterlist, nelems: number, dir: DmaDataDirection): void {
    checkDirection(dir);
    if (this.devNeedSync(dev))
      sg.syncSg(this.sgDeps, this.getDmaOps(dev), dev, sgl, nelems, dir, false);
  }

  /** dma_set_mask. @returns 0, or -EIO when the platform cannot honour `mask`. */
  dmaSetMask(dev: Device, mask: bigint): number {
    return masks.dmaSetMask(this.d.masks, dev, mask);
  }

  /** dma_set_coherent_mask. @returns 0 or -EIO. */
  dmaSetCoherentMask(dev: Device, mask: bigint): number {
    return masks.dmaSetCoherentMask(this.d.masks, dev, mask);
  }

  /** dma_set_mask_and_coherent. @returns 0 or -EIO. */
  dmaSetMaskAndCoherent(dev: Device, mask: bigint): number {
    return masks.dmaSetMaskAndCoherent(this.d.masks, dev, mask);
  }

  /** dma_supported: always with IOMMU DMA, else what dma-direct can give. */
  dmaSupported(dev: Device, mask: bigint): boolean {
    return dev.dmaIommu || masks.dmaSupported(this.d.masks, mask);
  }

  /** dma_get_mask. */
  dmaGetMask(dev: Device): bigint {
    return dev.dmaMask;
  }

  /** dma_get_required_mask. */
  dmaGetRequiredMask(_dev: Device): bigint {
    return masks.dmaGetRequiredMask(this.d.masks);
  }

  /** dma_addressing_limited. */
  dmaAddressingLimited(dev: Device): boolean {
    return masks.dmaAddressingLimited(this.d.masks, dev);
  }

  /** dma_max_mapping_size. */
  dmaMaxMappingSize(dev: Device): number {
    return this.getDmaOps(dev).maxMappingSize(dev);
  }

  /** dma_opt_mapping_size: min(the path's preferred size, the maximum). */
  dmaOptMappingSize(dev: Device): number {
    const ops = this.getDmaOps(dev);
    return Math.min(ops.optMappingSize(), ops.maxMappingSize(dev));
  }

  /** dma_get_merge_boundary: 0 when the path does not merge segments. */
  dmaGetMergeBoundary(dev: Device): number {
    return this.getDmaOps(dev).getMergeBoundary(dev);
  }

  /** dma_get_cache_alignment. */
  dmaGetCacheAlignment(): number {
    return masks.dmaGetCacheAlignment(this.d.masks);
  }

  /** dma_set_max_seg_size. */
  dmaSetMaxSegSize(dev: Device, size: number): void {
    dev.dmaParms.maxSegmentSize = size;
  }

  /** dma_set_seg_boundary. */
  dmaSetSegBoundary(dev: Device, mask: bigint): void {
    dev.dmaParms.segmentBoundaryMask = mask;
  }

  /** dma_set_min_align_mask. */
  dmaSetMinAlignMask(dev: Device, mask: number): void {
    dev.dmaParms.minAlignMask = mask;
  }

  /** pci_alloc_consistent (legacy, seeds): dma_alloc_coherent with GFP_ATOMIC. */
  pciAllocConsistent(pdev: Device, size: number, handle: DmaHandle): VirtAddr | null {
    return this.dmaAllocAttrs(pdev, size, handle, GFP_ATOMIC, 0);
  }

  /** pci_free_consistent (legacy). */
  pciFreeConsistent(pdev: Device, size: number, vaddr: VirtAddr | null, dma: DmaAddr): void {
    this.dmaFreeAttrs(pdev, size, vaddr, dma, 0);
  }

  /** dma_alloc_writecombine (legacy name of dma_alloc_wc). */
  dmaAllocWritecombine(dev: Device, size: number, handle: DmaHandle, gfp: Gfp): VirtAddr | null {
    return this.dmaAllocWc(dev, size, handle, gfp);
  }

  /** dma_free_writecombine (legacy name of dma_free_wc). */
  dmaFreeWritecombine(dev: Device, size: number, vaddr: VirtAddr | null, dma: DmaAddr): void {
    this.dmaFreeWc(dev, size, vaddr, dma);
  }

  /**
   * Fault injection for driver tests: streaming map number `nth` from now (1 = the next one)
   * fails with DMA_MAPPING_ERROR, as an exhausted IOMMU or bounce pool would fail it; 0 disarms.
   * MODEL: Linux's fault-injection framework (Documentation/fault-injection) has no DMA mapping
   * point in 6.12; drivers meet these failures only when a pool runs out.
   */
  injectMapFailure(nth: number): void {
    if (!Number.isSafeInteger(nth) || nth < 0)
      throw new ConfigError(
        `injectMapFailure: ${String(nth)} is not a map count; give an integer >= 1 (0 disarms)`,
      );
    this.failCountdown = nth;
  }

  /** Counts a streaming map down to the injected failure. */
  private injectedFailure(): boolean {
    if (this.failCountdown <= 0) return false;
    return --this.failCountdown === 0;
  }

  /** dma_need_sync: whether the driver's syncs do anything for this mapping. */
  dmaNeedSync(dev: Device, addr: DmaAddr): boolean {
    return this.devNeedSync(dev) && this.getDmaOps(dev).needSync(dev, addr);
  }

  private mapPhys(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): DmaAddr {
    checkDirection(dir);
    const addr = this.injectedFailure()
      ? DMA_MAPPING_ERROR
      : this.getDmaOps(dev).mapPhys(dev, phys, size, dir, attrs);
    this.markNeedSync(dev, addr);
    traceDmaMap(this.d.trace, 'dma_map_page', dev, dir, addr, size, phys, attrs);
    this.d.debug.mapPhys(dev, phys, size, dir, addr, attrs);
    return addr;
  }

  /** The path's allocation: dma_direct_alloc_no_mapping for a NO_KERNEL_MAPPING cookie. */
  private allocBackend(dev: Device, size: number, gfp: Gfp, attrs: number): CoherentBuffer | null {
    if (!this.isNoMappingCookie(dev, attrs))
      return this.getDmaOps(dev).alloc(dev, size, gfp, attrs);
    const nowarn = (attrs & DMA_ATTR_NO_WARN) !== 0 ? __GFP_NOWARN : 0;
    return pages.dmaDirectAllocNoMapping(this.pagesDeps, dev, size, gfp | nowarn);
  }

  /** dma-direct hands out (and takes back) a cookie, not an address, for NO_KERNEL_MAPPING. */
  private isNoMappingCookie(dev: Device, attrs: number): boolean {
    return (attrs & DMA_ATTR_NO_KERNEL_MAPPING) !== 0 && this.getDmaOps(dev) === this.d.direct;
  }

  /** %p of the CPU address; a cookie prints as its page frame number (see dmaDirectAllocNoMapping). */
  private tracePtr(dev: Device, vaddr: VirtAddr | null, attrs: number): string | 0 {
    if (vaddr === null) return 0;
    return this.isNoMappingCookie(dev, attrs) ? vaddr.toString(16) : this.d.vm.format(vaddr);
  }

  /** trace_dma_alloc, after the allocator returned (also on failure). */
  private traceAlloc(
    dev: Device,
    size: number,
    dma: DmaAddr,
    vaddr: VirtAddr | null,
    flags: Gfp,
    attrs: number,
  ): void {
    if (!this.d.trace.on) return;
    this.d.trace.emit({
      event: 'dma_alloc',
      device: dev.name,
      dir: DmaDataDirection.BIDIRECTIONAL,
      dmaAddr: dma,
      size,
      virtAddr: this.tracePtr(dev, vaddr, attrs),
      flags,
      attrs,
    });
  }

  /** dma_reset_need_sync: a bounced mapping makes the device's syncs count from now on. */
  private markNeedSync(dev: Device, addr: DmaAddr): void {
    if (!dev.dmaCoherent || dev.dmaNeedSync || addr === DMA_MAPPING_ERROR) return;
    if (this.getDmaOps(dev).needSync(dev, addr)) dev.dmaNeedSync = true;
  }

  /**
   * dma_dev_need_sync: dev->dma_skip_sync starts as dev_is_dma_coherent and a bounce clears it;
   * with CONFIG_DMA_API_DEBUG (a checker attached) no sync is skipped, so dma-debug sees them all.
   */
  private devNeedSync(dev: Device): boolean {
    return !dev.dmaCoherent || dev.dmaNeedSync || this.d.debug !== NO_DMA_DEBUG;
  }
}

/** BUG_ON(!valid_dma_direction(dir)): a bad direction stops the kernel. */
function checkDirection(dir: DmaDataDirection): void {
  if (!validDmaDirection(dir)) {
    throw new KernelBug(`kernel BUG at kernel/dma/mapping.c: invalid DMA direction ${String(dir)}`);
  }
}
