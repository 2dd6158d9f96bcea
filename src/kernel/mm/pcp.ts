/**
 * Per-CPU page lists (struct per_cpu_pages, mm/page_alloc.c, Linux 6.12): orders 0 to 3 are
 * allocated from and freed to a list per CPU, order and migrate type. An empty list is refilled
 * with `batch` blocks taken one by one from the buddy lists (so they come in buddy order) and
 * appended; frees go to the head and allocations take the head, so a freed page is the next one
 * handed out on that CPU. When a CPU holds `high` pages or more, a batch goes back to the buddy
 * lists, oldest first, starting with the list just freed to.
 * MODEL: `high` stays at high_min (6.12 tunes it between high_min and high_max as the CPU frees
 * and allocates, and decays it from vmstat work); no free_high batching of high-order frees and
 * no THP (pageblock-order) list. alloc_factor (refills double while a CPU only allocates) and
 * free_count (drains grow while it only frees) follow the 6.7 PCP auto-tuning work; their exact
 * 6.12 arithmetic is unverified.
 */
import { MIGRATE_PCPTYPES } from './gfp.js';
import { freeOnePage } from './buddy.js';
import { rmqueue } from './fallback.js';
import { PG_PCP } from './page.js';
import { PageLists } from './page-list.js';
import { WMARK_LOW } from './watermark.js';
import type { Zone } from './zone.js';

/** PAGE_ALLOC_COSTLY_ORDER: the largest order kept on PCP lists. */
export const PAGE_ALLOC_COSTLY_ORDER = 3;
/** NR_LOWORDER_PCP_LISTS: one list per migrate type and order 0..3, index order * 3 + type. */
export const NR_PCP_LISTS = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER + 1);
/** CONFIG_PCP_BATCH_SCALE_MAX default. */
const PCP_BATCH_SCALE_MAX = 5;
/** MIN_PERCPU_PAGELIST_HIGH_FRACTION: high_max is an eighth of the zone over the CPUs. */
const HIGH_MAX_FRACTION = 8;

/** struct per_cpu_pages: one CPU's lists of one zone. */
export class PerCpuPages {
  /** Pages on all lists (pcp->count). */
  count = 0;
  /** The lists, over the zone's frames. */
  readonly lists: PageLists;
  /** pcp->batch: blocks per refill and pages per drain. */
  readonly batch: number;
  /** pcp->high: the drain threshold (fixed at high_min, see MODEL above). */
  readonly high: number;
  /** pcp->high_min and high_max as 6.12 computes them (reported only). */
  readonly highMin: number;
  readonly highMax: number;
  /** pcp->free_count: pages freed since the last allocation, decayed by allocations. */
  freeCount = 0;
  /** pcp->alloc_factor: order-0 refills double while the CPU only allocates. */
  allocFactor = 0;

  /**
   * @param z the zone, after its watermarks are set
   * @param nCpus online CPUs (the high value is split across them)
   */
  constructor(z: Zone, nCpus: number, pageSize: number) {
    this.lists = new PageLists(NR_PCP_LISTS, z.mem);
    this.batch = Math.max(1, zoneBatchsize(z.managedPages, pageSize));
    this.highMin = zoneHighsize(z, this.batch, nCpus, 0);
    this.highMax = zoneHighsize(z, this.batch, nCpus, HIGH_MAX_FRACTION);
    this.high = this.highMin;
  }
}

/**
 * zone_batchsize - about 0.1% of the zone or 1 MiB, whichever is smaller, divided by four and
 * clamped to 2^n - 1.
 * @returns the batch before the caller's max(1, ...)
 * @linux mm/page_alloc.c zone_batchsize
 */
export function zoneBatchsize(managed: number, pageSize: number): number {
  let batch = Math.floor(Math.min(Math.floor(managed / 1024), (1024 * 1024) / pageSize) / 4);
  if (batch < 1) batch = 1;
  return 2 ** Math.floor(Math.log2(batch + (batch >> 1))) - 1;
}

/**
 * zone_highsize - the low watermark (or managed/fraction) split over the CPUs, at least 4 batches.
 * @linux mm/page_alloc.c zone_highsize
 */
function zoneHighsize(z: Zone, batch: number, nCpus: number, fraction: number): number {
  const total =
    fraction === 0 ? (z.watermark[WMARK_LOW] as number) : Math.floor(z.managedPages / fraction);
  return Math.max(Math.floor(total / nCpus), batch << 2);
}

/**
 * nr_pcp_alloc - how many blocks of `order` a refill takes.
 * @linux mm/page_alloc.c nr_pcp_alloc
 */
function nrPcpAlloc(pcp: PerCpuPages, order: number): number {
  const base = pcp.batch;
  if (pcp.high < base) return 1;
  let batch = order === 0 ? base << pcp.allocFactor : base;
  if (order === 0) {
    const maxNrAlloc = Math.max(pcp.high - pcp.count - base, base);
    if (batch <= maxNrAlloc && pcp.allocFactor < PCP_BATCH_SCALE_MAX) pcp.allocFactor++;
    batch = Math.min(batch, maxNrAlloc);
  }
  return batch > 1 ? Math.max(batch >> order, 2) : batch;
}

/**
 * __rmqueue_pcplist - a block of `order` and type `mt` from this CPU's list, refilling it from
 * the buddy lists (rmqueue_bulk) when empty.
 * @returns the block's index, or -1 if the zone has none
 * @linux mm/page_alloc.c rmqueue_pcplist
 */
export function rmqueuePcplist(
  z: Zone,
  pcp: PerCpuPages,
  order: number,
  mt: number,
  noFragment: boolean,
): number {
  const l = order * MIGRATE_PCPTYPES + mt;
  const lists = pcp.lists;
  pcp.freeCount >>= 1;
  if ((lists.head[l] as number) < 0) rmqueueBulk(z, pcp, order, mt, noFragment);
  const i = lists.head[l] as number;
  if (i < 0) return -1;
  lists.del(l, i);
  z.mem.flags[i] = 0;
  pcp.count -= 1 << order;
  return i;
}

/** rmqueue_bulk: appends up to nr_pcp_alloc blocks to list (order, mt). */
function rmqueueBulk(
  z: Zone,
  pcp: PerCpuPages,
  order: number,
  mt: number,
  noFragment: boolean,
): void {
  const n = nrPcpAlloc(pcp, order);
  const l = order * MIGRATE_PCPTYPES + mt;
  for (let k = 0; k < n; k++) {
    const i = rmqueue(z, order, mt, noFragment);
    if (i < 0) break;
    z.mem.flags[i] = PG_PCP;
    z.mem.order[i] = order;
    pcp.lists.addTail(l, i);
    pcp.count += 1 << order;
  }
}

/**
 * free_unref_page_commit - puts a freed block of `order` at the head of its PCP list and drains
 * a batch when the CPU holds `high` pages.
 * @param mt the migrate type of the block's pageblock
 * @linux mm/page_alloc.c free_unref_page_commit
 */
export function freeUnrefPageCommit(
  z: Zone,
  pcp: PerCpuPages,
  i: number,
  mt: number,
  order: number,
): void {
  const l = order * MIGRATE_PCPTYPES + mt;
  pcp.allocFactor >>= 1;
  z.mem.flags[i] = PG_PCP;
  z.mem.order[i] = order;
  pcp.lists.addHead(l, i);
  pcp.count += 1 << order;
  if (pcp.freeCount < pcp.batch << PCP_BATCH_SCALE_MAX) pcp.freeCount += 1 << order;
  if (pcp.count >= pcp.high) freePcppagesBulk(z, pcp, nrPcpFree(pcp), l);
}

/**
 * nr_pcp_free - pages to drain: the recent frees, at least a batch, leaving a batch.
 * @linux mm/page_alloc.c nr_pcp_free
 */
function nrPcpFree(pcp: PerCpuPages): number {
  if (pcp.high < pcp.batch) return 1;
  return Math.min(Math.max(pcp.freeCount, pcp.batch), pcp.high - pcp.batch);
}

/**
 * free_pcppages_bulk - returns `count` pages to the buddy lists, taking from the tail of each
 * non-empty list in turn, beginning with list `pindex`.
 * @linux mm/page_alloc.c free_pcppages_bulk
 */
export function freePcppagesBulk(z: Zone, pcp: PerCpuPages, count: number, pindex: number): void {
  const lists = pcp.lists;
  count = Math.min(count, pcp.count);
  pindex--;
  while (count > 0) {
    do {
      if (++pindex >= NR_PCP_LISTS) pindex = 0;
    } while ((lists.head[pindex] as number) < 0);
    const order = Math.floor(pindex / MIGRATE_PCPTYPES);
    do {
      const i = lists.tail[pindex] as number;
      lists.del(pindex, i);
      z.mem.flags[i] = 0;
      count -= 1 << order;
      pcp.count -= 1 << order;
      freeOnePage(z, i, order, z.blockTypeOf(i), false);
    } while (count > 0 && (lists.head[pindex] as number) >= 0);
  }
}

/**
 * drain_pages_zone - all of one CPU's pages of `z` back to the buddy lists.
 * @linux mm/page_alloc.c drain_pages_zone
 */
export function drainPagesZone(z: Zone, pcp: PerCpuPages): void {
  if (pcp.count > 0) freePcppagesBulk(z, pcp, pcp.count, 0);
}
