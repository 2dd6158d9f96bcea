/**
 * What a bus does to a new device's DMA setup before any driver sees it: default dma_parms, the
 * firmware's dma-ranges applied as of_dma_configure_id does (drivers/of/device.c: the range map,
 * bus_dma_limit = its highest bus address, both masks cut to DMA_BIT_MASK(ilog2(end) + 1)), and the
 * bus-master port of the device's hardware on the machine's interconnect.
 */
import { ConfigError } from '../../lib/errors.js';
import type { DmaPort } from '../../machine/bus/dma-port.js';
import type { Machine } from '../../machine/machine.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { DmaParms } from './device.js';
import { dmaBitMask, ilog2, U64_MAX } from './dma-mask.js';
import type { BusDmaRegion } from './dma-range.js';
import { checkDmaRanges, defaultDmaRangeMap, dmaRangeMapMax, portOffset } from './dma-range.js';

/** The kernel's defaults for dma_parms: 64 KiB segments, boundary ULONG_MAX, min_align_mask 0. */
export function defaultDmaParms(profile: ArchProfile): DmaParms {
  return { maxSegmentSize: 65536, segmentBoundaryMask: ulongMax(profile), minAlignMask: 0 };
}

/** ULONG_MAX of the profile: 2^64 - 1 on 64-bit kernels, 2^32 - 1 on 32-bit ones. */
export function ulongMax(profile: ArchProfile): bigint {
  return profile.vaBits > 32 ? U64_MAX : 0xffff_ffffn;
}

/** A device's DMA addressing after firmware configuration. */
export interface DmaAddressing {
  readonly dmaRangeMap: readonly BusDmaRegion[] | null;
  readonly busDmaLimit: number;
  readonly dmaMask: bigint;
  readonly coherentDmaMask: bigint;
}

/**
 * of_dma_configure_id's addressing part: with dma-ranges (given, or the profile's default offset)
 * the map is set, bus_dma_limit becomes the highest bus address and the masks are cut to its
 * width; without, nothing changes.
 * @throws ConfigError for malformed dma-ranges
 * @linux drivers/of/device.c of_dma_configure_id
 */
export function dmaConfigure(
  profile: ArchProfile,
  ranges: readonly BusDmaRegion[] | undefined,
  mask: bigint,
  where: string,
): DmaAddressing {
  if (ranges !== undefined) checkDmaRanges(ranges, where);
  const map = ranges ?? defaultDmaRangeMap(profile);
  if (map === null)
    return { dmaRangeMap: null, busDmaLimit: 0, dmaMask: mask, coherentDmaMask: mask };
  const end = dmaRangeMapMax(map);
  const cut = end > 0 ? dmaBitMask(ilog2(end) + 1) : 0n;
  return { dmaRangeMap: map, busDmaLimit: end, dmaMask: mask & cut, coherentDmaMask: mask & cut };
}

/** What the bus knows about a device's bus mastering. */
export interface BusMasterSpec {
  readonly name: string;
  /** PCI requester id or IOMMU stream id; absent: a free id from 0xffff down (non-PCI devices). */
  readonly requesterId?: number;
  readonly coherent: boolean;
  readonly dmaRangeMap: readonly BusDmaRegion[] | null;
  /** Absent: behind the IOMMU when the machine has one. */
  readonly behindIommu?: boolean;
}

/**
 * Attaches the device's hardware to the interconnect with its requester id, coherency and
 * dma-ranges offset. MODEL: platform and ISA devices have no PCI requester id; the model gives
 * them a free one from 0xffff down unless an `iommus` stream id names one.
 * @throws ConfigError for a clash, an IOMMU the machine lacks, or dma-ranges of several offsets
 */
export function attachBusMaster(machine: Machine, spec: BusMasterSpec): DmaPort {
  const rid = spec.requesterId ?? freeRequesterId(machine, spec.name);
  return machine.bus.attach({
    name: spec.name,
    requesterId: rid,
    coherent: spec.coherent,
    busOffset: portOffset(spec.dmaRangeMap, spec.name),
    ...(spec.behindIommu === undefined ? {} : { behindIommu: spec.behindIommu }),
  });
}

function freeRequesterId(machine: Machine, name: string): number {
  const used = new Set(machine.bus.masters.map((p) => p.requesterId));
  for (let rid = 0xffff; rid >= 0; rid--) if (!used.has(rid)) return rid;
  throw new ConfigError(`${name}: no free requester id left on the interconnect`);
}
