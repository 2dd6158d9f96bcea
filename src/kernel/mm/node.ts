/**
 * The node (pg_data_t) at boot: zones cut from the profile, free memory handed to them
 * (memblock_free_all, then highmem), the tiny-machine mobility switch, watermarks, lowmem reserves,
 * per-CPU lists, and the gfp_zone() table (include/linux/gfp.h GFP_ZONE_TABLE; mm/mm_init.c,
 * mm/page_alloc.c build_all_zonelists; Linux 6.12).
 */
import { ConfigError } from '../../lib/errors.js';
import type { ArchProfile } from '../../machine/profile.js';
import { __GFP_DMA, __GFP_DMA32, __GFP_HIGHMEM, __GFP_MOVABLE, GFP_ZONEMASK } from './gfp.js';
import { freeBootHighmem, freeBootRange } from './buddy.js';
import { PerCpuPages } from './pcp.js';
import {
  ALLOC_NOFRAGMENT,
  calculateMinFreeKbytes,
  setupPerZoneLowmemReserve,
  setupPerZoneWmarks,
} from './watermark.js';
import type { PhysRange, ZoneName } from './zone.js';
import { checkRanges, MAX_PAGE_ORDER, Zone, zoneSpans } from './zone.js';

/** MIGRATE_TYPES with CMA and memory isolation configured, for the mobility switch. */
const MIGRATE_TYPES = 6;
/** sizeof(struct page) on 64-bit kernels. */
const STRUCT_PAGE_SIZE = 64;

/** What boot knows when it sets up the node. */
export interface NodeConfig {
  readonly profile: ArchProfile;
  /** Free ranges from memblock (page-aligned, sorted, disjoint). */
  readonly free: readonly PhysRange[];
  /** All memory of the node, reserved parts included; default `free`. */
  readonly memory?: readonly PhysRange[];
  /** First physical address past lowmem. */
  readonly lowmemEnd: number;
  readonly nCpus: number;
  /** vm.min_free_kbytes; default the kernel's sqrt rule. */
  readonly minFreeKbytes?: number;
}

/** The node after boot: zones and the tables the allocator indexes on every call. */
export interface Node {
  /** All configured zones, index = zone_idx. */
  readonly zones: readonly Zone[];
  /** gfp_zone(): highest zone index for gfp & GFP_ZONEMASK (0 for a GFP_ZONE_BAD combination). */
  readonly zoneForGfp: Int8Array;
  /** ALLOC_NOFRAGMENT or 0 for each highest zone index (alloc_flags_nofragment). */
  readonly noFragment: Int32Array;
  /** page_group_by_mobility_disabled. */
  readonly mobilityDisabled: boolean;
  /** min_free_kbytes in force. */
  readonly minFreeKbytes: number;
}

/**
 * Builds the node and frees its memory into the buddy lists.
 * @returns the node; throws ConfigError for ranges that are not whole, sorted pages
 */
export function buildNode(cfg: NodeConfig): Node {
  const page = cfg.profile.pageSize;
  checkRanges(cfg.free, page, 'page allocator free ranges');
  const memory = cfg.memory ?? cfg.free;
  checkRanges(memory, page, 'page allocator memory ranges');
  if (memory.length === 0) throw new ConfigError('page allocator: no memory');
  // Without THP/hugetlb (32-bit profiles) pageblocks are MAX_PAGE_ORDER blocks.
  const pbOrder = cfg.profile.vaBits > 32 ? 9 : MAX_PAGE_ORDER;
  const zones = zoneSpans(cfg.profile, cfg.lowmemEnd, memory).map(
    (s, idx) => new Zone(idx, s, pbOrder),
  );
  const present = zones.reduce((n, z) => n + z.presentPages, 0);
  const mobilityDisabled =
    present - Math.ceil((present * STRUCT_PAGE_SIZE) / page) < 2 ** pbOrder * MIGRATE_TYPES;
  for (const z of zones) z.mobilityDisabled = mobilityDisabled;
  for (const r of cfg.free) freeRange(zones, r.base / page, (r.base + r.size) / page);
  const minFreeKbytes = cfg.minFreeKbytes ?? calculateMinFreeKbytes(zones, page);
  setupPerZoneWmarks(zones, minFreeKbytes, page);
  setupPerZoneLowmemReserve(zones);
  for (const z of zones) {
    if (z.populated)
      z.pcp = Array.from({ length: cfg.nCpus }, () => new PerCpuPages(z, cfg.nCpus, page));
  }
  return {
    zones,
    zoneForGfp: gfpZoneTable(zones),
    noFragment: noFragmentTable(zones),
    mobilityDisabled,
    minFreeKbytes,
  };
}

/** Frees pfns [start, end) into the zones they fall in, lowmem in blocks, highmem by page. */
function freeRange(zones: readonly Zone[], start: number, end: number): void {
  for (const z of zones) {
    const s = Math.max(start, z.startPfn);
    const e = Math.min(end, z.endPfn);
    if (e <= s) continue;
    if (z.name === 'HighMem') freeBootHighmem(z, s, e);
    else freeBootRange(z, s, e);
  }
  const covered = zones.reduce(
    (n, z) => n + Math.max(0, Math.min(end, z.endPfn) - Math.max(start, z.startPfn)),
    0,
  );
  if (covered !== end - start)
    throw new ConfigError(`page allocator: free pfns ${start}-${end} lie outside memory`);
}

/**
 * GFP_ZONE_TABLE: __GFP_DMA, __GFP_DMA32 and __GFP_HIGHMEM pick their zone where it is configured
 * (OPT_ZONE_*: else ZONE_NORMAL); __GFP_MOVABLE with __GFP_HIGHMEM picks ZONE_MOVABLE. Any two of
 * the three zone bits together are GFP_ZONE_BAD: the table has no entry for them, so a kernel
 * without CONFIG_DEBUG_VM reads zone 0 (the lowest zone).
 */
function gfpZoneTable(zones: readonly Zone[]): Int8Array {
  const idx = (name: ZoneName): number => zones.find((z) => z.name === name)?.idx ?? -1;
  const normal = idx('Normal');
  const opt = (name: ZoneName): number => (idx(name) >= 0 ? idx(name) : normal);
  const table = new Int8Array(GFP_ZONEMASK + 1).fill(0);
  for (const movable of [0, __GFP_MOVABLE]) {
    table[movable] = normal;
    table[movable | __GFP_DMA] = opt('DMA');
    table[movable | __GFP_DMA32] = opt('DMA32');
    table[movable | __GFP_HIGHMEM] = movable !== 0 ? idx('Movable') : opt('HighMem');
  }
  return table;
}

/**
 * alloc_flags_nofragment: when the preferred zone is ZONE_NORMAL and ZONE_DMA32 is configured,
 * a first pass may only borrow whole pageblocks of another migrate type.
 */
function noFragmentTable(zones: readonly Zone[]): Int32Array {
  const hasDma32 = zones.some((z) => z.name === 'DMA32');
  return Int32Array.from(zones, (_, highest) => {
    let preferred = highest;
    while (preferred > 0 && !(zones[preferred] as Zone).populated) preferred--;
    return hasDma32 && zones[preferred]?.name === 'Normal' ? ALLOC_NOFRAGMENT : 0;
  });
}
