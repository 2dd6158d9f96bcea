/**
 * Zone watermarks and the lowmem reserve (mm/page_alloc.c init_per_zone_wmark_min,
 * __setup_per_zone_wmarks, setup_per_zone_lowmem_reserve, __zone_watermark_ok; Linux 6.12 with
 * the default sysctls: min_free_kbytes from RAM size, watermark_scale_factor 10,
 * lowmem_reserve_ratio 256 256 32 0 0). The reserve is what keeps GFP_KERNEL allocations out of
 * ZONE_DMA on a real machine: a zone only serves an allocation that could have used a higher
 * zone while it keeps lowmem_reserve[that zone] pages free on top of the watermark.
 * MODEL: no watermark boost and no highatomic reserve; khugepaged's larger min_free_kbytes
 * (set_recommended_min_free_kbytes, e.g. 45056 KiB with two zones, on kernels with THP) is not
 * applied: pass minFreeKbytes to the allocator to get it.
 */
import type { Gfp } from './gfp.js';
import {
  __GFP_DIRECT_RECLAIM,
  __GFP_HIGH,
  __GFP_KSWAPD_RECLAIM,
  __GFP_NOMEMALLOC,
  MIGRATE_PCPTYPES,
} from './gfp.js';
import type { Zone, ZoneName } from './zone.js';
import { MAX_PAGE_ORDER } from './zone.js';

/** Indices of Zone.watermark (enum zone_watermarks). */
export const WMARK_MIN = 0;
export const WMARK_LOW = 1;
export const WMARK_HIGH = 2;
export const WMARK_PROMO = 3;

/** alloc_flags bits (mm/internal.h). The low two bits pick the watermark. */
export const ALLOC_WMARK_MIN = WMARK_MIN;
export const ALLOC_WMARK_LOW = WMARK_LOW;
export const ALLOC_WMARK_MASK = 0x03;
export const ALLOC_NON_BLOCK = 0x10;
/** Equal to __GFP_HIGH by design. */
export const ALLOC_MIN_RESERVE = 0x20;
export const ALLOC_NOFRAGMENT = 0x100;
export const ALLOC_HIGHATOMIC = 0x200;
/** Equal to __GFP_KSWAPD_RECLAIM by design. */
export const ALLOC_KSWAPD = 0x800;

const WATERMARK_SCALE_FACTOR = 10;
const LOWMEM_RESERVE_RATIO: Readonly<Record<ZoneName, number>> = {
  DMA: 256,
  DMA32: 256,
  Normal: 32,
  HighMem: 0,
  Movable: 0,
};

const isLowmemZone = (z: Zone): boolean => z.name !== 'HighMem' && z.name !== 'Movable';

/**
 * calculate_min_free_kbytes - sqrt(lowmem KiB * 16), clamped to [128, 262144].
 * @param zones the node's zones after boot freeing
 * @param pageSize PAGE_SIZE
 * @returns min_free_kbytes
 * @linux mm/page_alloc.c calculate_min_free_kbytes
 */
export function calculateMinFreeKbytes(zones: readonly Zone[], pageSize: number): number {
  let lowmem = 0;
  for (const z of zones) if (isLowmemZone(z)) lowmem += z.managedPages;
  const kbytes = Math.floor(Math.sqrt(lowmem * (pageSize / 1024) * 16));
  return Math.min(262144, Math.max(128, kbytes));
}

/**
 * __setup_per_zone_wmarks - min shares min_free_kbytes among lowmem zones by size (highmem gets
 * managed/1024 clamped to [32, 128]); low, high and promo each add max(min/4, 0.1% of the zone).
 * @linux mm/page_alloc.c __setup_per_zone_wmarks
 */
export function setupPerZoneWmarks(
  zones: readonly Zone[],
  minFreeKbytes: number,
  pageSize: number,
): void {
  const pagesMin = Math.floor(minFreeKbytes / (pageSize / 1024));
  let lowmem = 0;
  for (const z of zones) if (isLowmemZone(z)) lowmem += z.managedPages;
  for (const z of zones) {
    const share = lowmem === 0 ? 0 : Math.floor((pagesMin * z.managedPages) / lowmem);
    z.watermark[WMARK_MIN] = isLowmemZone(z)
      ? share
      : Math.min(128, Math.max(32, Math.floor(z.managedPages / 1024)));
    const gap = Math.max(share >> 2, multFrac(z.managedPages, WATERMARK_SCALE_FACTOR, 10000));
    z.watermark[WMARK_LOW] = z.watermark[WMARK_MIN] + gap;
    z.watermark[WMARK_HIGH] = z.watermark[WMARK_LOW] + gap;
    z.watermark[WMARK_PROMO] = z.watermark[WMARK_HIGH] + gap;
  }
}

/** mult_frac(x, n, d) without overflow, in integers. */
function multFrac(x: number, n: number, d: number): number {
  return Math.floor(x / d) * n + Math.floor(((x % d) * n) / d);
}

/**
 * setup_per_zone_lowmem_reserve - for each zone and each higher zone j, the managed pages of the
 * zones above it up to j, divided by the zone's ratio (0 when the ratio or the zone is empty).
 * @linux mm/page_alloc.c setup_per_zone_lowmem_reserve
 */
export function setupPerZoneLowmemReserve(zones: readonly Zone[]): void {
  for (const z of zones) {
    const ratio = LOWMEM_RESERVE_RATIO[z.name];
    const clear = ratio === 0 || z.managedPages === 0;
    let above = 0;
    z.lowmemReserve = zones.map((upper) => {
      if (upper.idx <= z.idx) return 0;
      above += upper.managedPages;
      return clear ? 0 : Math.floor(above / ratio);
    });
  }
}

/**
 * __zone_watermark_ok - whether `z` may serve an allocation of `order` and keep `mark` pages plus
 * the reserve for `highestIdx` free; __GFP_HIGH halves the mark, non-blocking callers cut it by
 * a further quarter.
 * @param free NR_FREE_PAGES of the zone
 * @returns true if the allocation may proceed
 * @linux mm/page_alloc.c __zone_watermark_ok
 */
export function zoneWatermarkOk(
  z: Zone,
  order: number,
  mark: number,
  highestIdx: number,
  allocFlags: number,
): boolean {
  let min = mark;
  const free = z.nrFree - ((1 << order) - 1);
  if ((allocFlags & ALLOC_MIN_RESERVE) !== 0) {
    min -= min >> 1;
    if ((allocFlags & ALLOC_NON_BLOCK) !== 0) min -= min >> 2;
  }
  if (free <= min + (z.lowmemReserve[highestIdx] as number)) return false;
  if (order === 0) return true;
  for (let o = order; o <= MAX_PAGE_ORDER; o++) {
    for (let mt = 0; mt < MIGRATE_PCPTYPES; mt++) {
      if ((z.free.head[o * MIGRATE_PCPTYPES + mt] as number) >= 0) return true;
    }
  }
  return false;
}

/**
 * zone_watermark_fast - the order-0 shortcut of zoneWatermarkOk, with the watermark the alloc
 * flags select.
 * @linux mm/page_alloc.c zone_watermark_fast
 */
export function zoneWatermarkFast(
  z: Zone,
  order: number,
  highestIdx: number,
  allocFlags: number,
): boolean {
  const mark = z.watermark[allocFlags & ALLOC_WMARK_MASK] as number;
  if (order === 0 && z.nrFree > mark + (z.lowmemReserve[highestIdx] as number)) return true;
  return zoneWatermarkOk(z, order, mark, highestIdx, allocFlags);
}

/**
 * gfp_to_alloc_flags - the slow path's flags: the min watermark, __GFP_HIGH's reserve access, and
 * more for callers that cannot reclaim.
 * @linux mm/page_alloc.c gfp_to_alloc_flags
 */
export function gfpToAllocFlags(gfp: Gfp, order: number): number {
  let flags = ALLOC_WMARK_MIN | (gfp & (__GFP_HIGH | __GFP_KSWAPD_RECLAIM));
  if ((gfp & __GFP_DIRECT_RECLAIM) === 0 && (gfp & __GFP_NOMEMALLOC) === 0) {
    flags |= ALLOC_NON_BLOCK;
    if (order > 0) flags |= ALLOC_HIGHATOMIC;
  }
  return flags;
}
