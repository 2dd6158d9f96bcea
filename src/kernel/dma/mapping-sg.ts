/**
 * Scatter-gather entry points of the DMA API (kernel/dma/mapping.c __dma_map_sg_attrs,
 * dma_unmap_sg_attrs, dma_sync_sg_for_*; facts §1.7, §2.2): the path's map_sg fills in the DMA
 * segments (dma-direct one per entry, IOMMU DMA merged), this file adds the tracepoints and the
 * dma-debug hooks in the kernel's order.
 */
import type { DmaAddr, PhysAddr } from '../../lib/addr.js';
import type { Device } from '../device/device.js';
import { EIO, EINVAL, ENOMEM } from '../errno.js';
import type { SgTable, Scatterlist } from '../lib/scatterlist.js';
import { forEachSg } from '../lib/scatterlist.js';
import type { Pfn } from '../mm/page.js';
import type { DmaDataDirection } from './direction.js';
import type { DmaDebugHooks, DmaTraceBus } from './hooks.js';
import type { DmaMapOps } from './map-ops.js';

export interface SgDeps {
  readonly pageToPhys: (page: Pfn) => PhysAddr;
  readonly debug: DmaDebugHooks;
  readonly trace: DmaTraceBus;
}

/** -EREMOTEIO: a P2PDMA segment the path cannot map. */
const EREMOTEIO = 121;

/**
 * __dma_map_sg_attrs: the path maps, then the tracepoint and dma-debug see the result.
 * @returns the number of DMA segments, or a negative errno (-EIO for an unexpected one)
 * @linux kernel/dma/mapping.c __dma_map_sg_attrs
 */
export function mapSg(
  d: SgDeps,
  ops: DmaMapOps,
  dev: Device,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
  attrs: number,
): number {
  const ents = ops.mapSg(dev, sgl, nents, dir, attrs);
  if (ents <= 0) {
    const known = ents === -EINVAL || ents === -ENOMEM || ents === -EIO || ents === -EREMOTEIO;
    return known ? ents : -EIO;
  }
  reportMapSg(d, dev, sgl, nents, ents, dir, attrs);
  return ents;
}

/**
 * trace_dma_map_sg and debug_dma_map_sg of `ents` mapped segments over `nents` entries (also
 * what dma_alloc_noncontiguous reports).
 */
export function reportMapSg(
  d: SgDeps,
  dev: Device,
  sgl: Scatterlist,
  nents: number,
  ents: number,
  dir: DmaDataDirection,
  attrs: number,
): void {
  if (d.trace.on) {
    const segs = [...forEachSg(sgl, ents)];
    d.trace.emit({
      event: 'dma_map_sg',
      device: dev.name,
      dir,
      nents,
      ents,
      physAddrs: [...forEachSg(sgl, nents)].map((sg) => phys(d, sg)),
      dmaAddrs: segs.map((sg) => sg.dmaAddress),
      sizes: segs.map((sg) => sg.dmaLength),
      attrs,
    });
  }
  d.debug.mapSg(dev, sgl, nents, ents, dir, attrs);
}

/**
 * dma_unmap_sg_attrs - unmaps the `nents` entries originally passed to the map.
 * @linux kernel/dma/mapping.c dma_unmap_sg_attrs
 */
export function unmapSg(
  d: SgDeps,
  ops: DmaMapOps,
  dev: Device,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
  attrs: number,
): void {
  reportUnmapSg(d, dev, sgl, nents, dir, attrs);
  ops.unmapSg(dev, sgl, nents, dir, attrs);
}

/** trace_dma_unmap_sg and debug_dma_unmap_sg (also what dma_free_noncontiguous reports). */
export function reportUnmapSg(
  d: SgDeps,
  dev: Device,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
  attrs: number,
): void {
  if (d.trace.on) {
    d.trace.emit({
      event: 'dma_unmap_sg',
      device: dev.name,
      dir,
      physAddrs: [...forEachSg(sgl, nents)].map((sg) => phys(d, sg)),
      attrs,
    });
  }
  d.debug.unmapSg(dev, sgl, nents, dir);
}

/**
 * dma_sync_sg_for_cpu / dma_sync_sg_for_device over the mapped segments.
 * @linux kernel/dma/direct.c dma_direct_sync_sg_for_cpu
 */
export function syncSg(
  d: SgDeps,
  ops: DmaMapOps,
  dev: Device,
  sgl: Scatterlist,
  nelems: number,
  dir: DmaDataDirection,
  forCpu: boolean,
): void {
  if (forCpu) ops.syncSgForCpu(dev, sgl, nelems, dir);
  else ops.syncSgForDevice(dev, sgl, nelems, dir);
  if (d.trace.on) {
    const list = [...forEachSg(sgl, nelems)];
    d.trace.emit({
      event: forCpu ? 'dma_sync_sg_for_cpu' : 'dma_sync_sg_for_device',
      device: dev.name,
      dir,
      dmaAddrs: list.map((sg): DmaAddr => sg.dmaAddress),
      sizes: list.map((sg) => sg.dmaLength),
    });
  }
  if (forCpu) d.debug.syncSgForCpu(dev, sgl, nelems, dir);
  else d.debug.syncSgForDevice(dev, sgl, nelems, dir);
}

/**
 * dma_map_sgtable - maps a table's orig_nents entries and records the segment count in nents.
 * @returns 0, or a negative errno (-EIO: a buffer could not be mapped)
 * @linux kernel/dma/mapping.c dma_map_sgtable
 */
export function mapSgtable(
  d: SgDeps,
  ops: DmaMapOps,
  dev: Device,
  sgt: SgTable,
  dir: DmaDataDirection,
  attrs: number,
): number {
  if (sgt.sgl === null) return -EIO;
  const n = mapSg(d, ops, dev, sgt.sgl, sgt.origNents, dir, attrs);
  if (n < 0) return n;
  sgt.nents = n;
  return 0;
}

function phys(d: SgDeps, sg: Scatterlist): PhysAddr {
  return (d.pageToPhys(sg.page) + sg.offset) as PhysAddr;
}
