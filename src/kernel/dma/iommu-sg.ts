/**
 * DOC: scatter-gather over IOMMU DMA (drivers/iommu/dma-iommu.c iommu_dma_map_sg, __finalise_sg,
 * __invalidate_sg, iommu_dma_unmap_sg, Linux 6.12; facts §5.5)
 *
 * All entries share one IOVA allocation. Each entry is widened in place to whole granules (its
 * offset in the first granule parked in sg_dma_address, its length in sg_dma_len), padding is
 * added before an entry that would cross the device's segment boundary, and the widened entries
 * are mapped back to back. __finalise_sg then restores the entries and writes the DMA segments:
 * an entry joins the current segment when it starts on a granule, the running address is not on
 * a segment boundary and the segment stays within max_segment_size; an entry that ends before its
 * last granule ends closes the segment. Entries past the segment count get DMA_MAPPING_ERROR.
 * When the arm64 kmalloc bounce rule applies to any entry, every entry is mapped on its own
 * through iommu_dma_map_page instead, and the list is marked SG_DMA_SWIOTLB.
 */
import type { DmaAddr, PhysAddr } from '../../lib/addr.js';
import { dmaAddr } from '../../lib/addr.js';
import type { Device } from '../device/device.js';
import { DMA_MAPPING_ERROR } from '../device/dma-range.js';
import { EINVAL, EIO, ENOMEM } from '../errno.js';
import type { IommuCore, IommuSgRun } from '../iommu/iommu.js';
import type { Scatterlist } from '../lib/scatterlist.js';
import { forEachSg, sgDmaIsSwiotlb, sgDmaMarkSwiotlb } from '../lib/scatterlist.js';
import type { Pfn } from '../mm/page.js';
import { DMA_ATTR_SKIP_CPU_SYNC } from './attrs.js';
import type { DmaDataDirection } from './direction.js';
import type { IommuDma } from './iommu.js';
import { IOVA_GRANULE, dmaInfoToProt } from './iommu.js';

export interface IommuSgDeps {
  readonly dma: IommuDma;
  readonly core: IommuCore;
  readonly pageToPhys: (page: Pfn) => PhysAddr;
}

/** dma_get_seg_boundary as the size of a segment window (mask + 1), or Infinity for none. */
function segWindow(dev: Device): number {
  const mask = dev.dmaParms.segmentBoundaryMask;
  return mask >= 1n << 52n ? Infinity : Number(mask) + 1;
}

function sgPhys(d: IommuSgDeps, sg: Scatterlist): PhysAddr {
  return (d.pageToPhys(sg.page) + sg.offset) as PhysAddr;
}

/**
 * iommu_dma_map_sg.
 * @returns the number of DMA segments, or -ENOMEM (no IOVA space), -EINVAL (mapping failed), -EIO
 *   (a bounced entry failed)
 * @linux drivers/iommu/dma-iommu.c iommu_dma_map_sg
 */
export function iommuDmaMapSg(
  d: IommuSgDeps,
  dev: Device,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
  attrs: number,
): number {
  const list = [...forEachSg(sgl, nents)];
  if (list.some((s) => d.dma.devUseSwiotlb(dev, s.length, dir))) {
    return mapSgSwiotlb(d, dev, list, dir, attrs);
  }
  if ((attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) iommuDmaSyncSg(d, dev, sgl, nents, dir, false);
  const iovaLen = widen(list, segWindow(dev));
  if (iovaLen === 0) return finaliseSg(dev, list, 0);
  const iova = d.dma.allocIova(dev, iovaLen, dev.dmaMaskLimit);
  if (iova === 0) {
    invalidateSg(list);
    return -ENOMEM;
  }
  const { domain, cookie } = d.dma.domainAndCookie(dev);
  const runs: IommuSgRun[] = list.map((s) => ({ phys: sgPhys(d, s), len: s.length }));
  const prot = dmaInfoToProt(dir, dev.dmaCoherent, attrs);
  const mapped = d.core.mapSg(domain, iova, runs, prot);
  if (mapped < iovaLen) {
    cookie.iovad.freeIovaFast(iova / IOVA_GRANULE, iovaLen / IOVA_GRANULE);
    invalidateSg(list);
    return mapped === -ENOMEM ? -ENOMEM : -EINVAL;
  }
  return finaliseSg(dev, list, iova);
}

/**
 * The first pass of iommu_dma_map_sg: widens each entry to whole granules, stashing its offset in
 * the first granule and its length, and pads the previous entry where this one would cross a
 * segment boundary. @returns the total IOVA length
 */
function widen(list: readonly Scatterlist[], window: number): number {
  let iovaLen = 0;
  let prev: Scatterlist | null = null;
  for (const s of list) {
    const off = s.offset % IOVA_GRANULE;
    const padLen = window === Infinity ? 0 : (window - (iovaLen % window)) % window;
    s.dmaAddress = dmaAddr(off);
    s.dmaLength = s.length;
    s.offset -= off;
    const len = Math.ceil((s.length + off) / IOVA_GRANULE) * IOVA_GRANULE;
    s.length = len;
    if (prev !== null && padLen !== 0 && padLen < len - 1) {
      prev.length += padLen;
      iovaLen += padLen;
    }
    iovaLen += len;
    prev = s;
  }
  return iovaLen;
}

/**
 * __finalise_sg: restores the entries and writes the merged DMA segments from `iova` on.
 * @returns the segment count
 */
function finaliseSg(dev: Device, list: readonly Scatterlist[], iova: number): number {
  const window = segWindow(dev);
  const maxLen = dev.dmaParms.maxSegmentSize;
  let dma = iova;
  let curLen = 0;
  let count = 0;
  let ci = -1;
  list.forEach((s, i) => {
    const sIovaOff = s.dmaAddress as number;
    const sLength = s.dmaLength;
    const sIovaLen = s.length;
    s.dmaAddress = DMA_MAPPING_ERROR;
    s.dmaLength = 0;
    s.offset += sIovaOff;
    s.length = sLength;
    const onBoundary = window === Infinity ? dma === 0 : dma % window === 0;
    if (curLen !== 0 && sIovaOff === 0 && !onBoundary && maxLen - curLen >= sLength) {
      curLen += sLength;
    } else {
      if (i > 0) ci++;
      else ci = 0;
      curLen = sLength;
      count++;
      (list[ci] as Scatterlist).dmaAddress = (dma + sIovaOff) as DmaAddr;
    }
    (list[ci] as Scatterlist).dmaLength = curLen;
    dma += sIovaLen;
    if (sLength + sIovaOff < sIovaLen) curLen = 0;
  });
  return count;
}

/** __invalidate_sg: undoes `widen` after a failed map. */
function invalidateSg(list: readonly Scatterlist[]): void {
  for (const s of list) {
    if (s.dmaAddress !== DMA_MAPPING_ERROR) s.offset += s.dmaAddress as number;
    if (s.dmaLength !== 0) s.length = s.dmaLength;
    s.dmaAddress = DMA_MAPPING_ERROR;
    s.dmaLength = 0;
  }
}

/**
 * iommu_dma_map_sg_swiotlb: every entry through iommu_dma_map_page; on a failure the mapped ones
 * are unmapped without syncing.
 */
function mapSgSwiotlb(
  d: IommuSgDeps,
  dev: Device,
  list: readonly Scatterlist[],
  dir: DmaDataDirection,
  attrs: number,
): number {
  const first = list[0];
  if (first !== undefined) sgDmaMarkSwiotlb(first);
  for (const [i, s] of list.entries()) {
    const addr = d.dma.mapPhys(dev, sgPhys(d, s), s.length, dir, attrs);
    if (addr === DMA_MAPPING_ERROR) {
      for (const m of list.slice(0, i))
        d.dma.unmapPhys(dev, m.dmaAddress, m.length, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
      return -EIO;
    }
    s.dmaAddress = addr;
    s.dmaLength = s.length;
  }
  return list.length;
}

/**
 * iommu_dma_unmap_sg: syncs for the CPU, then one unmap from the first segment's start to the
 * end of the last non-empty segment (or per entry for a bounced list).
 * @linux drivers/iommu/dma-iommu.c iommu_dma_unmap_sg
 */
export function iommuDmaUnmapSg(
  d: IommuSgDeps,
  dev: Device,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
  attrs: number,
): void {
  if ((attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0) iommuDmaSyncSg(d, dev, sgl, nents, dir, true);
  const list = [...forEachSg(sgl, nents)];
  if (sgDmaIsSwiotlb(sgl)) {
    for (const s of list)
      d.dma.unmapPhys(dev, s.dmaAddress, s.dmaLength, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
    return;
  }
  const first = list[0];
  if (first === undefined || first.dmaLength === 0) return;
  let end = 0;
  for (const s of list) {
    if (s.dmaLength === 0) break;
    end = s.dmaAddress + s.dmaLength;
  }
  d.dma.iommuDmaUnmap(dev, first.dmaAddress, end - first.dmaAddress);
}

/**
 * iommu_dma_sync_sg_for_cpu / _for_device: per entry through the single-buffer sync for a bounced
 * list, else the arch's cache maintenance on each entry's pages.
 */
export function iommuDmaSyncSg(
  d: IommuSgDeps,
  dev: Device,
  sgl: Scatterlist,
  nents: number,
  dir: DmaDataDirection,
  forCpu: boolean,
): void {
  const bounced = sgDmaIsSwiotlb(sgl);
  if (!bounced && dev.dmaCoherent) return;
  for (const s of forEachSg(sgl, nents)) {
    if (bounced) {
      if (forCpu) d.dma.syncSingleForCpu(dev, s.dmaAddress, s.length, dir);
      else d.dma.syncSingleForDevice(dev, s.dmaAddress, s.length, dir);
    } else {
      d.dma.archSync(sgPhys(d, s), s.length, dir, forCpu);
    }
  }
}
