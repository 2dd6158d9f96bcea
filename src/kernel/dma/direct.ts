/**
 * dma-direct streaming mappings (kernel/dma/direct.h, Linux 6.12; facts §3.5): the bus address is
 * the physical address through the device's dma_range_map; a buffer the device cannot reach, or
 * every buffer under swiotlb=force, is bounced through SWIOTLB; a non-coherent device gets the
 * arch cache maintenance. Coherent allocations are in direct-alloc.ts; this class is the path's
 * face to the dispatcher (DmaMapOps).
 *
 * MODEL: P2PDMA is not modelled.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../lib/addr.js';
import type { ArchDmaSync } from '../arch/dma-sync.js';
import type { Device } from '../device/device.js';
import { DMA_MAPPING_ERROR, dmaToPhys, physToDma } from '../device/dma-range.js';
import type { KernelLog } from '../printk.js';
import { DevWarnOnce } from './warn.js';
import { DMA_ATTR_SKIP_CPU_SYNC } from './attrs.js';
import { DmaDataDirection } from './direction.js';
import type { DmaTraceSink } from './hooks.js';
import {
  SWIOTLB_MAP_ERROR,
  isSwiotlbActive,
  isSwiotlbBuffer,
  isSwiotlbForceBounce,
  swiotlbSyncSingleForCpu,
  swiotlbSyncSingleForDevice,
  swiotlbTblMapSingle,
  swiotlbTblUnmapSingle,
  traceSwiotlbBounced,
} from './swiotlb.js';
import type { IoTlbMem } from './swiotlb.js';
import type { CoherentBuffer, DmaMapOps } from './map-ops.js';
import type { DmaDirectAlloc } from './direct-alloc.js';
import type { Scatterlist } from '../lib/scatterlist.js';
import { forEachSg } from '../lib/scatterlist.js';
import type { Gfp } from '../mm/gfp.js';
import type { Pfn } from '../mm/page.js';
import { EIO } from '../errno.js';
import { dmaMaxMappingSize, SIZE_MAX } from './masks.js';
import type { MaskEnv } from './masks.js';

/** CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC: ARCH_DMA_MINALIGN and kmalloc_size_roundup. */
export interface KmallocBounce {
  readonly dmaMinAlign: number;
  readonly sizeRoundup: (size: number) => number;
}

/**
 * dma_kmalloc_needs_bounce: with kmalloc aligned below ARCH_DMA_MINALIGN (arm64 6.5+,
 * CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC), a small buffer that a non-coherent device writes may
 * share a cache line with other data, so it is bounced. Decided from size and direction alone:
 * the kernel cannot tell where the buffer came from.
 * @linux include/linux/dma-map-ops.h dma_kmalloc_needs_bounce
 */
export function dmaKmallocNeedsBounce(
  k: KmallocBounce | null,
  dev: Device,
  size: number,
  dir: DmaDataDirection,
): boolean {
  if (k === null || dev.dmaCoherent || dir === DmaDataDirection.TO_DEVICE) return false;
  if (size >= 2 * k.dmaMinAlign) return false;
  return k.sizeRoundup(size) % k.dmaMinAlign !== 0;
}

export interface DmaDirectDeps {
  readonly arch: ArchDmaSync;
  /** The default SWIOTLB pool (dev->dma_io_tlb_mem), or null. */
  readonly swiotlb: IoTlbMem | null;
  readonly log: KernelLog;
  readonly trace: DmaTraceSink;
  /** sizeof(dma_addr_t): 8 on 64-bit profiles, 4 on 32-bit ones. */
  readonly dmaAddrBytes: number;
  /** smp_processor_id(), for WARNING lines. */
  readonly cpu: () => number;
  /** CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC; null when off. */
  readonly kmallocBounce: KmallocBounce | null;
  /** The coherent allocator (dma_direct_alloc / dma_direct_free). */
  readonly alloc: DmaDirectAlloc;
  readonly masks: MaskEnv;
  /** page_to_phys, for scatterlist entries. */
  readonly pageToPhys: (page: Pfn) => PhysAddr;
}

export class DmaDirect implements DmaMapOps {
  readonly name = 'direct';
  private readonly warned: DevWarnOnce;

  constructor(private readonly d: DmaDirectDeps) {
    this.warned = new DevWarnOnce(d.log, d.cpu);
  }

  /**
   * dma_capable: the whole range lies below the device's mask and the bus limit.
   * @linux include/linux/dma-direct.h dma_capable
   */
  dmaCapable(dev: Device, addr: number, size: number): boolean {
    if (addr === DMA_MAPPING_ERROR) return false;
    const limit =
      dev.busDmaLimit === 0 ? dev.dmaMaskLimit : Math.min(dev.dmaMaskLimit, dev.busDmaLimit);
    return addr + size - 1 <= limit;
  }

  /**
   * dma_direct_map_page: the bus address of [phys, phys+size) for `dev`.
   * @returns the DMA address, or DMA_MAPPING_ERROR when the device cannot reach the buffer and
   *   there is no bounce pool (warned once), or when the pool is full (retry may help)
   * @linux kernel/dma/direct.h dma_direct_map_page
   */
  mapPhys(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): DmaAddr {
    if (isSwiotlbForceBounce(this.d.swiotlb)) return this.swiotlbMap(dev, phys, size, dir, attrs);
    const dmaAddr = physToDma(dev, phys);
    if (
      !this.dmaCapable(dev, dmaAddr, size) ||
      dmaKmallocNeedsBounce(this.d.kmallocBounce, dev, size, dir)
    ) {
      if (isSwiotlbActive(this.d.swiotlb)) return this.swiotlbMap(dev, phys, size, dir, attrs);
      return this.overflow(dev, 'DMA', dmaAddr, size, 'kernel/dma/direct.h dma_direct_map_page');
    }
    this.syncForDeviceUnlessSkipped(dev, phys, size, dir, attrs);
    return dmaAddr;
  }

  /**
   * dma_direct_unmap_page: syncs for the CPU (unless SKIP_CPU_SYNC), then frees a bounce slot.
   * @linux kernel/dma/direct.h dma_direct_unmap_page
   */
  unmapPhys(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection, attrs: number): void {
    const phys = dmaToPhys(dev, addr);
    if ((attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) this.syncSingleForCpu(dev, addr, size, dir);
    if (isSwiotlbBuffer(this.d.swiotlb, phys)) {
      swiotlbTblUnmapSingle(this.d.swiotlb, dev, phys, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
    }
  }

  /**
   * dma_direct_sync_single_for_device: bounce buffer first, then the cache.
   * @linux kernel/dma/direct.h dma_direct_sync_single_for_device
   */
  syncSingleForDevice(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void {
    const phys = dmaToPhys(dev, addr);
    if (this.d.swiotlb !== null && isSwiotlbBuffer(this.d.swiotlb, phys)) {
      swiotlbSyncSingleForDevice(this.d.swiotlb, dev, phys, size, dir);
    }
    if (!dev.dmaCoherent) this.d.arch.syncForDevice(phys, size, dir);
  }

  /**
   * dma_direct_sync_single_for_cpu: the cache first, then the bounce buffer back to the original.
   * @linux kernel/dma/direct.h dma_direct_sync_single_for_cpu
   */
  syncSingleForCpu(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void {
    const phys = dmaToPhys(dev, addr);
    if (!dev.dmaCoherent) this.d.arch.syncForCpu(phys, size, dir);
    if (this.d.swiotlb !== null && isSwiotlbBuffer(this.d.swiotlb, phys)) {
      swiotlbSyncSingleForCpu(this.d.swiotlb, dev, phys, size, dir);
    }
  }

  /** dma_direct_need_sync: syncs matter for a non-coherent device or a bounced address. */
  needSync(dev: Device, addr: DmaAddr): boolean {
    return !dev.dmaCoherent || isSwiotlbBuffer(this.d.swiotlb, dmaToPhys(dev, addr));
  }

  /** dma_direct_alloc (direct-alloc.ts). */
  alloc(dev: Device, size: number, gfp: Gfp, attrs: number): CoherentBuffer | null {
    return this.d.alloc.alloc(dev, size, gfp, attrs);
  }

  /** dma_direct_free. */
  free(dev: Device, size: number, vaddr: VirtAddr, dma: DmaAddr, _attrs: number): void {
    this.d.alloc.free(dev, size, vaddr, dma);
  }

  /**
   * __dma_direct_alloc_pages: physically contiguous pages below the coherent mask (the default
   * CMA area, then the zone the mask needs, retried lower), neither zeroed nor mapped.
   * @param bytes a multiple of PAGE_SIZE
   * @returns the first page, or null
   * @linux kernel/dma/direct.c __dma_direct_alloc_pages
   */
  allocPagesInReach(dev: Device, bytes: number, gfp: Gfp): Pfn | null {
    return this.d.alloc.allocPages(dev, bytes, gfp);
  }

  /**
   * __dma_direct_free_pages: back to the CMA area or the page allocator.
   * @linux kernel/dma/direct.c __dma_direct_free_pages
   */
  freePagesInReach(dev: Device, page: Pfn, bytes: number): void {
    this.d.alloc.freePages(dev, page, bytes);
  }

  /** arch_dma_prep_coherent: nothing of [phys, phys+bytes) may stay in the CPU cache. */
  archDmaPrepCoherent(phys: PhysAddr, bytes: number): void {
    this.d.arch.prepCoherent(phys, bytes);
  }

  /**
   * dma_direct_map_resource: MMIO is never bounced or cache-maintained, and its bus address is
   * the physical one (no dma_range_map translation in 6.12).
   * @linux kernel/dma/direct.c dma_direct_map_resource
   */
  mapResource(
    dev: Device,
    phys: PhysAddr,
    size: number,
    _dir: DmaDataDirection,
    _attrs: number,
  ): DmaAddr {
    if (this.dmaCapable(dev, phys, size)) return phys as number as DmaAddr;
    return this.overflow(dev, 'DMA', phys, size, 'kernel/dma/direct.c dma_direct_map_resource');
  }

  /** dma-direct has no unmap_resource: nothing was set up. */
  unmapResource(): void {
    /* nothing to undo */
  }

  /**
   * dma_direct_map_sg: maps each entry on its own (no merging, so the segment count is nents);
   * on a failure unmaps what was mapped without syncing.
   * @returns nents, or -EIO
   * @linux kernel/dma/direct.c dma_direct_map_sg
   */
  mapSg(
    dev: Device,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    const done: Scatterlist[] = [];
    for (const sg of forEachSg(sgl, nents)) {
      const addr = this.mapPhys(dev, this.sgPhys(sg), sg.length, dir, attrs);
      if (addr === DMA_MAPPING_ERROR) {
        const skip = attrs | DMA_ATTR_SKIP_CPU_SYNC;
        for (const m of done) this.unmapPhys(dev, m.dmaAddress, m.dmaLength, dir, skip);
        return -EIO;
      }
      sg.dmaAddress = addr;
      sg.dmaLength = sg.length;
      done.push(sg);
    }
    return nents;
  }

  /** dma_direct_unmap_sg. */
  unmapSg(
    dev: Device,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    for (const sg of forEachSg(sgl, nents))
      this.unmapPhys(dev, sg.dmaAddress, sg.dmaLength, dir, attrs);
  }

  /** dma_direct_sync_sg_for_cpu. */
  syncSgForCpu(dev: Device, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void {
    for (const sg of forEachSg(sgl, nents))
      this.syncSingleForCpu(dev, sg.dmaAddress, sg.dmaLength, dir);
  }

  /** dma_direct_sync_sg_for_device. */
  syncSgForDevice(dev: Device, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void {
    for (const sg of forEachSg(sgl, nents))
      this.syncSingleForDevice(dev, sg.dmaAddress, sg.dmaLength, dir);
  }

  /** dma_direct_max_mapping_size. */
  maxMappingSize(dev: Device): number {
    return dmaMaxMappingSize(this.d.masks, dev);
  }

  /** dma-direct has no preferred size. */
  optMappingSize(): number {
    return SIZE_MAX;
  }

  /** dma-direct never merges segments. */
  getMergeBoundary(): number {
    return 0;
  }

  private sgPhys(sg: Scatterlist): PhysAddr {
    return (this.d.pageToPhys(sg.page) + sg.offset) as PhysAddr;
  }

  /**
   * swiotlb_map: bounce [phys, phys+size) through a slot the device can reach.
   * @linux kernel/dma/swiotlb.c swiotlb_map
   */
  private swiotlbMap(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): DmaAddr {
    const rec = traceSwiotlbBounced(this.d.swiotlb, dev, physToDma(dev, phys), size);
    this.d.trace({
      event: 'swiotlb_bounced',
      device: rec.devName,
      dmaMask: rec.dmaMask,
      devAddr: rec.devAddr,
      size,
      force: rec.force,
    });
    const tlb = swiotlbTblMapSingle(this.d.swiotlb, dev, phys, size, 0, dir, attrs);
    if (tlb === SWIOTLB_MAP_ERROR) return DMA_MAPPING_ERROR;
    const dmaAddr = physToDma(dev, tlb);
    if (!this.dmaCapable(dev, dmaAddr, size)) {
      swiotlbTblUnmapSingle(this.d.swiotlb, dev, tlb, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
      return this.overflow(dev, 'swiotlb', dmaAddr, size, 'kernel/dma/swiotlb.c swiotlb_map');
    }
    this.syncForDeviceUnlessSkipped(dev, tlb, size, dir, attrs);
    return dmaAddr;
  }

  /** The non-coherent device's cache maintenance before it owns the buffer, unless SKIP_CPU_SYNC. */
  private syncForDeviceUnlessSkipped(
    dev: Device,
    phys: number,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    if (!dev.dmaCoherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0)
      this.d.arch.syncForDevice(phys, size, dir);
  }

  /** The "%s addr %pad+%zu overflow" dev_WARN_ONCE of an unreachable address; the map fails. */
  private overflow(dev: Device, what: string, addr: number, size: number, where: string): DmaAddr {
    const mask = dev.dmaMask.toString(16);
    const limit = dev.busDmaLimit.toString(16);
    this.warned.warn(
      dev,
      `${what} addr ${this.pad(addr)}+${size} overflow (mask ${mask}, bus limit ${limit}).`,
      where,
    );
    return DMA_MAPPING_ERROR;
  }

  /** %pad: 0x and the address padded to the width of dma_addr_t. */
  private pad(addr: number): string {
    return '0x' + addr.toString(16).padStart(this.d.dmaAddrBytes * 2, '0');
  }
}
