/**
 * struct dma_map_ops (include/linux/dma-map-ops.h, Linux 6.12; facts §2): what a DMA path does for
 * the dispatcher in mapping.ts. Two paths implement it, dma-direct (direct.ts) and IOMMU DMA
 * (iommu.ts); the dispatcher picks one per device as dma_go_direct / use_dma_iommu do, then adds
 * the tracepoints and dma-debug hooks itself.
 * MODEL: 6.12 calls iommu_dma_* directly rather than through an ops table ("dma-mapping: direct
 * calls for dma-iommu"); one interface for both paths keeps the dispatcher's skeleton uniform and
 * changes no behaviour.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../lib/addr.js';
import type { Device } from '../device/device.js';
import type { Scatterlist } from '../lib/scatterlist.js';
import type { Gfp } from '../mm/gfp.js';
import type { DmaDataDirection } from './direction.js';

/** What a successful coherent allocation hands back. */
export interface CoherentBuffer {
  /** The CPU's address: linear map, a remap, or the allocation's cookie with NO_KERNEL_MAPPING. */
  readonly vaddr: VirtAddr;
  readonly dma: DmaAddr;
}

export interface DmaMapOps {
  /** "direct" or "iommu": for reports and tests. */
  readonly name: string;
  /** ops->alloc: zeroed coherent memory, or null. */
  alloc(dev: Device, size: number, gfp: Gfp, attrs: number): CoherentBuffer | null;
  /** ops->free. */
  free(dev: Device, size: number, vaddr: VirtAddr, dma: DmaAddr, attrs: number): void;
  /** ops->map_page: the bus address or DMA_MAPPING_ERROR. */
  mapPhys(dev: Device, phys: PhysAddr, size: number, dir: DmaDataDirection, attrs: number): DmaAddr;
  /** ops->unmap_page. */
  unmapPhys(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection, attrs: number): void;
  /** ops->map_resource: MMIO of another device, never bounced or cache-maintained. */
  mapResource(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): DmaAddr;
  /** ops->unmap_resource. */
  unmapResource(
    dev: Device,
    addr: DmaAddr,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void;
  /** ops->map_sg: DMA segments written into the list; the count, or a negative errno. */
  mapSg(dev: Device, sgl: Scatterlist, nents: number, dir: DmaDataDirection, attrs: number): number;
  /** ops->unmap_sg, with the nents given to the map. */
  unmapSg(dev: Device, sgl: Scatterlist, nents: number, dir: DmaDataDirection, attrs: number): void;
  syncSingleForCpu(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void;
  syncSingleForDevice(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void;
  syncSgForCpu(dev: Device, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void;
  syncSgForDevice(dev: Device, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void;
  /** Whether syncs on `addr` do anything (dma_direct_need_sync / iommu_dma_need_sync). */
  needSync(dev: Device, addr: DmaAddr): boolean;
  /** ops->max_mapping_size. */
  maxMappingSize(dev: Device): number;
  /** ops->opt_mapping_size; SIZE_MAX when the path has no preference. */
  optMappingSize(): number;
  /** ops->get_merge_boundary: 0 when the path never merges segments. */
  getMergeBoundary(dev: Device): number;
}
