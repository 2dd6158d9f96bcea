/**
 * Memory zones (include/linux/mmzone.h struct zone, mm/mm_init.c zone sizing, Linux 6.12): one
 * node whose zones are cut from the profile's limits (ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, and
 * ZONE_HIGHMEM above lowmem on 32-bit profiles), plus an always-empty ZONE_MOVABLE. Each zone owns
 * the descriptors of the frames it spans, its buddy free lists and its counters.
 * MODEL: one NUMA node; no ZONE_DEVICE; no CMA or isolated pageblocks.
 */
import { ConfigError } from '../../lib/errors.js';
import type { ArchProfile } from '../../machine/profile.js';
import { MIGRATE_MOVABLE, MIGRATE_PCPTYPES } from './gfp.js';
import { MemMap } from './page.js';
import { PageLists } from './page-list.js';
import type { PerCpuPages } from './pcp.js';

/** MAX_PAGE_ORDER: the largest buddy order (4 MiB blocks with 4 KiB pages), on all profiles. */
export const MAX_PAGE_ORDER = 10;
/** NR_PAGE_ORDERS: orders 0 .. MAX_PAGE_ORDER. */
export const NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1;

/** Zone names as /proc/zoneinfo prints them (mm/page_alloc.c zone_names). */
export type ZoneName = 'DMA' | 'DMA32' | 'Normal' | 'HighMem' | 'Movable';

/** A physical range [base, base + size), page-aligned where the allocator needs it. */
export interface PhysRange {
  readonly base: number;
  readonly size: number;
}

/** What a zone covers, before any page is freed into it. */
export interface ZoneSpan {
  readonly name: ZoneName;
  /** zone_start_pfn (0 for an empty zone). */
  readonly startPfn: number;
  /** spanned_pages: first to last present pfn, holes included. */
  readonly spanned: number;
  /** present_pages: pages of memory in the span (free and reserved). */
  readonly present: number;
}

/** struct zone: one zone's frames, free lists, counters, watermarks and per-CPU lists. */
export class Zone {
  /** zone->name: "DMA", "DMA32", "Normal", "HighMem", "Movable". */
  readonly name: ZoneName;
  /** zone_start_pfn. */
  readonly startPfn: number;
  /** spanned_pages. */
  readonly spannedPages: number;
  /** First pfn past the span. */
  readonly endPfn: number;
  /** present_pages. */
  readonly presentPages: number;
  /** managed_pages: pages handed to the buddy allocator at boot; written by boot freeing. */
  managedPages = 0;
  /** NR_FREE_PAGES: pages on the buddy free lists (PCP pages not included). */
  nrFree = 0;
  /** The frames of the span. */
  readonly mem: MemMap;
  /** free_area[order].free_list[migratetype], list index order * MIGRATE_PCPTYPES + type. */
  readonly free: PageLists;
  /** pageblock_order: 9 where THP/hugetlb set it (64-bit profiles), else MAX_PAGE_ORDER. */
  readonly pageblockOrder: number;
  /** Migrate type of each pageblock of the span (the pageblock bitmap). */
  readonly blockType: Uint8Array;
  /** Index 0's offset in its pageblock: (i + blockOffset) >>> pageblockOrder indexes blockType. */
  private readonly blockOffset: number;
  /** populated_zone: the zone has present pages. */
  readonly populated: boolean;
  /** page_group_by_mobility_disabled, set for tiny machines by the page allocator. */
  mobilityDisabled = false;
  /** _watermark[WMARK_MIN/LOW/HIGH/PROMO] in pages; written by setupPerZoneWmarks. */
  readonly watermark = new Int32Array(4);
  /** lowmem_reserve[zone idx]: pages kept back from allocations that could use zone idx. */
  lowmemReserve: readonly number[] = [];
  /** Per-CPU page lists, one per CPU; filled by the page allocator. */
  pcp: readonly PerCpuPages[] = [];

  /**
   * @param idx zone_idx: position among the node's configured zones
   * @param span the zone's extent
   */
  constructor(
    readonly idx: number,
    span: ZoneSpan,
    pageblockOrder: number,
  ) {
    this.startPfn = span.startPfn;
    this.spannedPages = span.spanned;
    this.presentPages = span.present;
    this.pageblockOrder = pageblockOrder;
    this.mem = new MemMap(span.startPfn, span.spanned);
    this.free = new PageLists(NR_PAGE_ORDERS * MIGRATE_PCPTYPES, this.mem);
    const pbPages = 2 ** pageblockOrder;
    this.blockOffset = span.startPfn % pbPages;
    const nBlocks = Math.ceil((this.blockOffset + span.spanned) / pbPages);
    this.blockType = new Uint8Array(nBlocks).fill(MIGRATE_MOVABLE);
    this.populated = span.present > 0;
    this.endPfn = span.startPfn + span.spanned;
    this.name = span.name;
  }

  /** zone_spans_pfn. */
  spans(p: number): boolean {
    return p >= this.startPfn && p < this.startPfn + this.spannedPages;
  }

  /** get_pageblock_migratetype of the frame at index `i`. */
  blockTypeOf(i: number): number {
    return this.blockType[(i + this.blockOffset) >>> this.pageblockOrder] as number;
  }

  /** set_pageblock_migratetype for the block holding index `i`. */
  setBlockType(i: number, mt: number): void {
    this.blockType[(i + this.blockOffset) >>> this.pageblockOrder] = mt;
  }

  /** Free pages on the lists of `order`, all types (free_area[order].nr_free). */
  nrFreeAt(order: number): number {
    let n = 0;
    for (let mt = 0; mt < MIGRATE_PCPTYPES; mt++)
      n += this.free.count[order * MIGRATE_PCPTYPES + mt] as number;
    return n;
  }
}

/**
 * Cuts the node into zones as free_area_init does: each configured zone's arch range clipped to
 * the node's span (first to last byte of memory), holes included in `spanned`.
 * @param profile zone limits
 * @param lowmemEnd first physical address past lowmem (LinearMap.lowmemEnd)
 * @param memory all memory of the node, free or reserved, page-aligned
 * @returns the configured zones lowest first, ZONE_MOVABLE last (empty)
 */
export function zoneSpans(
  profile: ArchProfile,
  lowmemEnd: number,
  memory: readonly PhysRange[],
): ZoneSpan[] {
  const page = profile.pageSize;
  const nodeStart = Math.min(...memory.map((r) => r.base)) / page;
  const nodeEnd = Math.max(...memory.map((r) => r.base + r.size)) / page;
  const limits: [ZoneName, number][] = [];
  if (profile.zoneDmaLimit !== null) limits.push(['DMA', profile.zoneDmaLimit / page]);
  if (profile.zoneDma32Limit !== null) limits.push(['DMA32', profile.zoneDma32Limit / page]);
  limits.push(['Normal', profile.lowmemBytes === null ? Infinity : lowmemEnd / page]);
  if (profile.lowmemBytes !== null) limits.push(['HighMem', Infinity]);
  let low = 0;
  const spans = limits.map(([name, high]) => {
    const start = Math.max(low, nodeStart);
    const end = Math.min(high, nodeEnd);
    low = Math.max(low, high);
    if (end <= start) return { name, startPfn: 0, spanned: 0, present: 0 };
    return {
      name,
      startPfn: start,
      spanned: end - start,
      present: pagesIn(memory, start, end, page),
    };
  });
  spans.push({ name: 'Movable', startPfn: 0, spanned: 0, present: 0 });
  return spans;
}

/** Pages of `ranges` between pfns `start` and `end`. */
function pagesIn(ranges: readonly PhysRange[], start: number, end: number, page: number): number {
  let n = 0;
  for (const r of ranges) {
    const s = Math.max(start, r.base / page);
    const e = Math.min(end, (r.base + r.size) / page);
    if (e > s) n += e - s;
  }
  return n;
}

/** Checks that ranges are page-aligned, non-empty, sorted and disjoint. */
export function checkRanges(ranges: readonly PhysRange[], page: number, what: string): void {
  let prevEnd = -1;
  for (const r of ranges) {
    if (
      r.base % page !== 0 ||
      r.size % page !== 0 ||
      r.size <= 0 ||
      !Number.isSafeInteger(r.base + r.size)
    ) {
      throw new ConfigError(
        `${what}: range ${r.base.toString(16)}+${r.size.toString(16)} is not whole pages`,
      );
    }
    if (r.base < prevEnd)
      throw new ConfigError(`${what}: ranges overlap or are not sorted at ${r.base.toString(16)}`);
    prevEnd = r.base + r.size;
  }
}
