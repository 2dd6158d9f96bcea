/**
 * /proc/buddyinfo and /proc/zoneinfo (mm/vmstat.c frag_show_print, zoneinfo_show_print, Linux
 * 6.12), and the same numbers as data for the visualizer. zoneinfo is a subset: the watermark
 * block, the sizes, protection, nr_free_pages, the per-CPU lists and start_pfn; the per-node
 * stats, the other zone counters and "vm stats threshold" are left out.
 */
import { MIGRATE_PCPTYPES } from './gfp.js';
import type { PageFrames } from './page-frames.js';
import { WMARK_HIGH, WMARK_LOW, WMARK_MIN, WMARK_PROMO } from './watermark.js';
import type { Zone, ZoneName } from './zone.js';
import { NR_PAGE_ORDERS } from './zone.js';

/** One CPU's lists of one zone. */
export interface PcpSummary {
  readonly cpu: number;
  readonly count: number;
  readonly high: number;
  readonly batch: number;
  readonly highMin: number;
  readonly highMax: number;
}

/** One zone as the visualizer shows it. */
export interface ZoneSummary {
  readonly name: ZoneName;
  readonly startPfn: number;
  readonly spanned: number;
  readonly present: number;
  readonly managed: number;
  /** NR_FREE_PAGES (buddy lists). */
  readonly free: number;
  /** Free blocks per order, all migrate types (the buddyinfo row). */
  readonly freeBlocks: readonly number[];
  /** Free blocks per order and migrate type (UNMOVABLE, MOVABLE, RECLAIMABLE). */
  readonly freeBlocksByType: readonly (readonly number[])[];
  readonly watermark: {
    readonly min: number;
    readonly low: number;
    readonly high: number;
    readonly promo: number;
  };
  readonly protection: readonly number[];
  readonly pcp: readonly PcpSummary[];
}

/**
 * The zones as data.
 * @returns every configured zone, lowest first, populated or not
 */
export function zoneSummaries(pa: PageFrames): ZoneSummary[] {
  return pa.zones.map((z) => ({
    name: z.name,
    startPfn: z.startPfn,
    spanned: z.spannedPages,
    present: z.presentPages,
    managed: z.managedPages,
    free: z.nrFree,
    freeBlocks: Array.from({ length: NR_PAGE_ORDERS }, (_, o) => z.nrFreeAt(o)),
    freeBlocksByType: Array.from({ length: NR_PAGE_ORDERS }, (_, o) => freeByType(z, o)),
    watermark: {
      min: z.watermark[WMARK_MIN] as number,
      low: z.watermark[WMARK_LOW] as number,
      high: z.watermark[WMARK_HIGH] as number,
      promo: z.watermark[WMARK_PROMO] as number,
    },
    protection: z.lowmemReserve,
    pcp: z.pcp.map((p, cpu) => ({
      cpu,
      count: p.count,
      high: p.high,
      batch: p.batch,
      highMin: p.highMin,
      highMax: p.highMax,
    })),
  }));
}

/** Free blocks of `order` on each migrate type's list. */
function freeByType(z: Zone, order: number): number[] {
  const out: number[] = [];
  for (let mt = 0; mt < MIGRATE_PCPTYPES; mt++)
    out.push(z.free.count[order * MIGRATE_PCPTYPES + mt] as number);
  return out;
}

/**
 * /proc/buddyinfo: one row per populated zone, free blocks of each order 0..10.
 * @returns e.g. "Node 0, zone      DMA      1      0 ...      3 \n" (each row ends in a space)
 * @linux mm/vmstat.c frag_show_print
 */
export function buddyinfo(pa: PageFrames): string {
  let out = '';
  for (const z of pa.zones) {
    if (!z.populated) continue;
    out += `Node 0, zone ${z.name.padStart(8)} `;
    for (let o = 0; o < NR_PAGE_ORDERS; o++) out += `${String(z.nrFreeAt(o)).padStart(6)} `;
    out += '\n';
  }
  return out;
}

/**
 * /proc/zoneinfo, the subset described above.
 * @linux mm/vmstat.c zoneinfo_show_print
 */
export function zoneinfo(pa: PageFrames): string {
  return pa.zones.map(zoneBlock).join('');
}

function zoneBlock(z: Zone): string {
  const w = z.watermark;
  let out =
    `Node 0, zone ${z.name.padStart(8)}` +
    `\n  pages free     ${z.nrFree}` +
    `\n        boost    0` +
    `\n        min      ${w[WMARK_MIN] as number}` +
    `\n        low      ${w[WMARK_LOW] as number}` +
    `\n        high     ${w[WMARK_HIGH] as number}` +
    `\n        promo    ${w[WMARK_PROMO] as number}` +
    `\n        spanned  ${z.spannedPages}` +
    `\n        present  ${z.presentPages}` +
    `\n        managed  ${z.managedPages}` +
    `\n        cma      0` +
    `\n        protection: (${z.lowmemReserve.join(', ')})`;
  if (!z.populated) return out + '\n';
  out += `\n      nr_free_pages ${z.nrFree}`;
  out += '\n  pagesets';
  // The field padding of the 6.7+ pagesets block is unverified.
  z.pcp.forEach((p, cpu) => {
    out +=
      `\n    cpu: ${cpu}` +
      `\n              count:    ${p.count}` +
      `\n              high:     ${p.high}` +
      `\n              batch:    ${p.batch}` +
      `\n              high_min: ${p.highMin}` +
      `\n              high_max: ${p.highMax}`;
  });
  out += `\n  node_unreclaimable:  0` + `\n  start_pfn:           ${z.startPfn}` + '\n';
  return out;
}
