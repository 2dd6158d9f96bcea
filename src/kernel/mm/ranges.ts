/** Physical address ranges, the set operations memblock needs on them, and memblock's limits. */
import { GIB } from '../../lib/units.js';
import type { ArchProfile } from '../../machine/profile.js';

/** A physical range: [base, base + size). */
export interface Range {
  readonly base: number;
  readonly size: number;
}

/** Sorts and merges overlapping or touching ranges. */
export function mergeRanges(list: readonly Range[]): Range[] {
  const sorted = [...list].filter((r) => r.size > 0).sort((a, b) => a.base - b.base);
  const out: { base: number; size: number }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.base <= last.base + last.size) {
      last.size = Math.max(last.size, r.base + r.size - last.base);
    } else out.push({ base: r.base, size: r.size });
  }
  return out;
}

/** The parts of `from` outside every range of `minus`. */
export function subtractRanges(from: readonly Range[], minus: readonly Range[]): Range[] {
  const cuts = mergeRanges(minus);
  return from.flatMap((r) => {
    const out: Range[] = [];
    let pos = r.base;
    const end = r.base + r.size;
    for (const c of cuts) {
      if (c.base + c.size <= pos || c.base >= end) continue;
      if (c.base > pos) out.push({ base: pos, size: c.base - pos });
      pos = Math.max(pos, c.base + c.size);
    }
    if (pos < end) out.push({ base: pos, size: end - pos });
    return out;
  });
}

/** The parts of `a` inside some range of `b`. */
export function intersectRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  return subtractRanges(a, subtractRanges(a, b));
}

/** Top of the allocatable range with no lowmem limit: the model's widest address. */
export const NO_LIMIT = 2 ** 52;
/** ARCH_LOW_ADDRESS_LIMIT + 1 of memblock_alloc_low (x86 and arm64 with 32-bit ZONE_DMA). */
export const LOW_LIMIT = 4 * GIB;
/** CMA_MIN_ALIGNMENT_PAGES = pageblock_nr_pages (pageblock_order 9 with 4 KiB pages, unverified). */
export const PAGEBLOCK_PAGES = 512;

/** %pa: 0x and the physical address padded to the width of phys_addr_t. */
export function pa(profile: ArchProfile, phys: number): string {
  return '0x' + phys.toString(16).padStart(profile.physAddrBits > 32 ? 16 : 8, '0');
}
