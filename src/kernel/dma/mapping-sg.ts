/**
 * Scatter-gather entry points of the DMA API (kernel/dma/mapping.c __dma_map_sg_attrs,
 * dma_unmap_sg_attrs, dma_sync_sg_for_*; facts §1.7, §3.5) over dma-direct: every entry is mapped
 * on its own, nothing is merged, so the DMA segment count equals nents. IOMMU-DMA's merging is a
 * later step.
 */
import type { DmaAddr, PhysAddr } from '../../lib/addr.js';
import type { Device } from '../device/device.js';
import { DMA_MAPPING_ERROR } from '../device/dma-range.js';
import { EIO } from '../errno.js';
import type { SgTable, Scatterlist } from '../lib/scatterlist.js';
import { forEachSg } from '../lib/scatterlist.js';
import type { Pfn } from '../mm/page.js';
import { DMA_ATTR_SKIP_CPU_SYNC } from './attrs.js';
import type { DmaDataDirection } from './direction.js';
import type { DmaDirect } from './direct.js';
import type { DmaDebugHooks, DmaTraceBus } from './hooks.js';

export interface SgDeps {
  readonly direct: DmaDirect;
  readonly pageToPhys: (page: Pfn) => PhysAddr;
  readonly debug: DmaDebugHooks;
  readonly trace: DmaTraceBus;
}

/**
 * __dma_map_sg_attrs over dma-direct (dma_direct_map_sg): maps each entry, setting its DMA address
 * and length; on a failure unmaps what was mapped (without syncing) and fails.
 * @returns the number of DMA segments (= nents), or -EIO
 * @linux kernel/dma/direct.c dma_direct_map_sg
 */
export function mapSg(
  d: SgDeps,
  dev: Device,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
  attrs: number,
): number {
  const done: Scatterlist[] = [];
  for (const sg of forEachSg(sgl, nents)) {
    const addr = d.direct.mapPhys(dev, phys(d, sg), sg.length, dir, attrs);
    if (addr === DMA_MAPPING_ERROR) {
      for (const m of done)
        d.direct.unmapPhys(dev, m.dmaAddress, m.dmaLength, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
      return -EIO;
    }
    sg.dmaAddress = addr;
    sg.dmaLength = sg.length;
    done.push(sg);
  }
  if (d.trace.on) {
    d.trace.emit({
      event: 'dma_map_sg',
      device: dev.name,
      dir,
      nents,
      ents: nents,
      physAddrs: done.map((sg) => phys(d, sg)),
      dmaAddrs: done.map((sg) => sg.dmaAddress),
      sizes: done.map((sg) => sg.dmaLength),
      attrs,
    });
  }
  d.debug.mapSg(dev, sgl, nents, nents, dir, attrs);
  return nents;
}

/**
 * dma_unmap_sg_attrs - unmaps the `nents` entries originally passed to the map.
 * @linux kernel/dma/mapping.c dma_unmap_sg_attrs
 */
export function unmapSg(
  d: SgDeps,
  dev: Device,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
  attrs: number,
): void {
  const list = [...forEachSg(sgl, nents)];
  if (d.trace.on) {
    d.trace.emit({
      event: 'dma_unmap_sg',
      device: dev.name,
      dir,
      physAddrs: list.map((sg) => phys(d, sg)),
      attrs,
    });
  }
  d.debug.unmapSg(dev, sgl, nents, dir);
  for (const sg of list) d.direct.unmapPhys(dev, sg.dmaAddress, sg.dmaLength, dir, attrs);
}

/**
 * dma_sync_sg_for_cpu / dma_sync_sg_for_device over the mapped segments.
 * @linux kernel/dma/direct.c dma_direct_sync_sg_for_cpu
 */
export function syncSg(
  d: SgDeps,
  dev: Device,
  sgl: Scatterlist,
  nelems: number,
  dir: DmaDataDirection,
  forCpu: boolean,
): void {
  const list = [...forEachSg(sgl, nelems)];
  for (const sg of list) {
    if (forCpu) d.direct.syncSingleForCpu(dev, sg.dmaAddress, sg.dmaLength, dir);
    else d.direct.syncSingleForDevice(dev, sg.dmaAddress, sg.dmaLength, dir);
  }
  if (d.trace.on) {
    d.trace.emit({
      event: forCpu ? 'dma_sync_sg_for_cpu' : 'dma_sync_sg_for_device',
      device: dev.name,
      dir,
      dmaAddrs: list.map((sg): DmaAddr => sg.dmaAddress),
      sizes: list.map((sg) => sg.dmaLength),
    });
  }
}

/**
 * dma_map_sgtable - maps a table's orig_nents entries and records the segment count in nents.
 * @returns 0, or a negative errno (-EIO: a buffer could not be mapped)
 * @linux kernel/dma/mapping.c dma_map_sgtable
 */
export function mapSgtable(
  d: SgDeps,
  dev: Device,
  sgt: SgTable,
  dir: DmaDataDirection,
  attrs: number,
): number {
  if (sgt.sgl === null) return -EIO;
  const n = mapSg(d, dev, sgt.sgl, sgt.origNents, dir, attrs);
  if (n < 0) return n;
  sgt.nents = n;
  return 0;
}

function phys(d: SgDeps, sg: Scatterlist): PhysAddr {
  return (d.pageToPhys(sg.page) + sg.offset) as PhysAddr;
}
