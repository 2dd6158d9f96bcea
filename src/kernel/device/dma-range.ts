/**
 * A device's dma_range_map (include/linux/dma-direct.h, Linux 6.12): bus_dma_region entries that
 * translate CPU physical addresses to the bus addresses the device emits, from DT `dma-ranges`
 * or the platform's fixed offset. No map means identity; an address no region covers has no bus
 * address: DMA_MAPPING_ERROR one way, (phys_addr_t)-1 the other, both represented here as -1.
 * MODEL: phys_to_dma's memory-encryption bit (AMD SME) is not modelled: phys_to_dma is
 * __phys_to_dma.
 */
import type { DmaAddr, PhysAddr } from '../../lib/addr.js';
import { hex } from '../../lib/addr.js';
import { ConfigError } from '../../lib/errors.js';
import type { ArchProfile } from '../../machine/profile.js';
import { EINVAL } from '../errno.js';

/** struct bus_dma_region: [cpuStart, cpuStart + size) is seen by the device at dmaStart. */
export interface BusDmaRegion {
  readonly cpuStart: number;
  readonly dmaStart: number;
  readonly size: number;
}

/** What the translation helpers need of a device. */
export interface HasDmaRangeMap {
  dmaRangeMap: readonly BusDmaRegion[] | null;
}

/** DMA_MAPPING_ERROR (~(dma_addr_t)0) as the model represents it: -1, never a real bus address. */
export const DMA_MAPPING_ERROR = -1 as DmaAddr;

/** (phys_addr_t)-1, what dma_to_phys returns for a bus address no region covers: -1 here. */
export const INVALID_PHYS_ADDR = -1 as PhysAddr;

/**
 * translate_phys_to_dma: the first region containing `paddr`, else DMA_MAPPING_ERROR.
 * @linux include/linux/dma-direct.h translate_phys_to_dma
 */
export function translatePhysToDma(map: readonly BusDmaRegion[], paddr: number): DmaAddr {
  for (const r of map) {
    const off = paddr - r.cpuStart;
    if (off >= 0 && off < r.size) return (r.dmaStart + off) as DmaAddr;
  }
  return DMA_MAPPING_ERROR;
}

/**
 * translate_dma_to_phys: the first region containing `dmaAddr`, else INVALID_PHYS_ADDR.
 * @linux include/linux/dma-direct.h translate_dma_to_phys
 */
export function translateDmaToPhys(map: readonly BusDmaRegion[], dmaAddr: number): PhysAddr {
  for (const r of map) {
    const off = dmaAddr - r.dmaStart;
    if (off >= 0 && off < r.size) return (r.cpuStart + off) as PhysAddr;
  }
  return INVALID_PHYS_ADDR;
}

/**
 * phys_to_dma / __phys_to_dma: identity without a map. @returns DMA_MAPPING_ERROR if unmapped
 * @linux include/linux/dma-direct.h __phys_to_dma
 */
export function physToDma(dev: HasDmaRangeMap, paddr: PhysAddr | number): DmaAddr {
  return dev.dmaRangeMap === null ? (paddr as DmaAddr) : translatePhysToDma(dev.dmaRangeMap, paddr);
}

/**
 * dma_to_phys: identity without a map. @returns INVALID_PHYS_ADDR if no region covers it
 * @linux include/linux/dma-direct.h dma_to_phys
 */
export function dmaToPhys(dev: HasDmaRangeMap, dmaAddr: DmaAddr | number): PhysAddr {
  return dev.dmaRangeMap === null
    ? (dmaAddr as PhysAddr)
    : translateDmaToPhys(dev.dmaRangeMap, dmaAddr);
}

/**
 * dma_range_map_min: the lowest bus address of the map.
 * @linux include/linux/dma-direct.h dma_range_map_min
 */
export function dmaRangeMapMin(map: readonly BusDmaRegion[]): number {
  return Math.min(...map.map((r) => r.dmaStart));
}

/**
 * dma_range_map_max: the highest bus address of the map (inclusive).
 * @linux include/linux/dma-direct.h dma_range_map_max
 */
export function dmaRangeMapMax(map: readonly BusDmaRegion[]): number {
  return Math.max(...map.map((r) => r.dmaStart + r.size - 1));
}

/**
 * dma_direct_set_offset: gives a device without a map one region with the offset
 * dmaStart - cpuStart; nothing when the offset is 0. `onError` prints the dev_err.
 * @returns 0, or -EINVAL when the device already has a map
 * @linux kernel/dma/direct.c dma_direct_set_offset
 */
export function dmaDirectSetOffset(
  dev: HasDmaRangeMap,
  cpuStart: number,
  dmaStart: number,
  size: number,
  onError: (text: string) => void,
): number {
  if (dev.dmaRangeMap !== null) {
    onError('attempt to add DMA range to existing map');
    return -EINVAL;
  }
  if (cpuStart === dmaStart) return 0;
  dev.dmaRangeMap = [{ cpuStart, dmaStart, size }];
  return 0;
}

/**
 * The map a device gets from its platform when nothing describes one: the profile's bus offset
 * as one region from physical 0 (PReP: physical 0 is bus 0x80000000, so 2 GiB of RAM is
 * reachable below bus 4 GiB). null when the offset is 0. MODEL: ppc32 keeps this offset in
 * archdata (PCI_DRAM_OFFSET, unverified); the model expresses it as dma-ranges.
 */
export function defaultDmaRangeMap(profile: ArchProfile): BusDmaRegion[] | null {
  if (profile.busOffset === 0) return null;
  const size = 2 ** profile.physAddrBits - Math.max(profile.busOffset, 0);
  return [{ cpuStart: 0, dmaStart: profile.busOffset, size }];
}

/**
 * Checks a dma-ranges description; `where` names it in the error.
 * @throws ConfigError for a non-integer, negative, empty or overflowing region
 */
export function checkDmaRanges(map: readonly BusDmaRegion[], where: string): void {
  if (map.length === 0)
    throw new ConfigError(`${where}: dma-ranges is empty (leave it out for none)`);
  for (const r of map) {
    const ok = [r.cpuStart, r.dmaStart, r.size].every((v) => Number.isSafeInteger(v) && v >= 0);
    if (!ok || r.size === 0 || r.cpuStart + r.size > 2 ** 52 || r.dmaStart + r.size > 2 ** 52) {
      throw new ConfigError(
        `${where}: dma-ranges entry (bus ${String(r.dmaStart)}, cpu ${String(r.cpuStart)}, size ${String(r.size)}) must be non-negative integers with size > 0, ending below 2^52`,
      );
    }
  }
}

/**
 * The single offset (bus - physical) the interconnect applies for this map.
 * @throws ConfigError when the regions disagree: the machine models one offset per device
 */
export function portOffset(map: readonly BusDmaRegion[] | null, where: string): number {
  if (map === null) return 0;
  const offsets = new Set(map.map((r) => r.dmaStart - r.cpuStart));
  if (offsets.size > 1) {
    const list = [...offsets].map((o) => (o < 0 ? '-' + hex(-o) : hex(o))).join(', ');
    throw new ConfigError(
      `${where}: dma-ranges with different offsets (${list}) are not modelled: the interconnect applies one offset per device`,
    );
  }
  return map[0] === undefined ? 0 : map[0].dmaStart - map[0].cpuStart;
}
