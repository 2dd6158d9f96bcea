/**
 * DOC: the flush queue of lazy IOMMU DMA domains (drivers/iommu/dma-iommu.c, "DMA-FQ", Linux 6.12;
 * facts §5.6). An unmap in a lazy domain clears the page-table entries but does not invalidate the
 * IOTLB; the freed IOVA waits in the current CPU's ring until a domain-wide flush has happened
 * since it was queued. A flush happens when a ring is full (at once) or when the 10 ms timer armed
 * by the first queued entry fires. Until then a device that still holds a translation in the IOTLB
 * reaches the unmapped buffer: the reduced isolation lazy mode trades for speed.
 *
 * Each entry records the flush-start counter when it was queued; entries are released once the
 * flush-finish counter has passed it. MODEL: no freelist of page-table pages (tables are kept,
 * see pagetable.ts), no single-queue mode for shadowing IOMMUs (32768 entries / 1 s).
 */
import type { Clock } from '../../machine/clock/clock.js';

/** IOVA_DEFAULT_FQ_SIZE: entries per CPU ring. */
export const IOVA_DEFAULT_FQ_SIZE = 256;
/** IOVA_DEFAULT_FQ_TIMEOUT: 10 ms, in ns. */
export const IOVA_DEFAULT_FQ_TIMEOUT_NS = 10_000_000;

export interface FlushQueueDeps {
  readonly clock: Clock;
  readonly nCpus: number;
  /** smp_processor_id(). */
  readonly cpu: () => number;
  /** iommu_flush_iotlb_all on the domain. */
  readonly flushIotlbAll: () => void;
  /** free_iova_fast of a released entry. */
  readonly freeIova: (pfn: number, pages: number) => void;
}

/** One CPU's ring, as parallel typed arrays indexed head..tail modulo the size. */
class FqRing {
  readonly pfn = new Float64Array(IOVA_DEFAULT_FQ_SIZE);
  readonly pages = new Float64Array(IOVA_DEFAULT_FQ_SIZE);
  readonly counter = new Float64Array(IOVA_DEFAULT_FQ_SIZE);
  head = 0;
  /** Entries in the ring. */
  count = 0;
}

export class IovaFlushQueue {
  private readonly rings: FqRing[];
  private flushStartCnt = 0;
  private flushFinishCnt = 0;
  private timerArmed = false;
  /** Domain flushes done, for reports and tests. */
  flushes = 0;

  constructor(private readonly d: FlushQueueDeps) {
    this.rings = Array.from({ length: d.nCpus }, () => new FqRing());
  }

  /** IOVAs waiting for a flush on all CPUs. */
  get pending(): number {
    return this.rings.reduce((n, r) => n + r.count, 0);
  }

  /**
   * queue_iova: parks an unmapped IOVA range until the IOTLB is flushed.
   * @linux drivers/iommu/dma-iommu.c queue_iova
   */
  queueIova(pfn: number, pages: number): void {
    const ring = this.rings[this.d.cpu()] as FqRing;
    this.ringFree(ring);
    if (ring.count === IOVA_DEFAULT_FQ_SIZE) {
      this.flushIotlb();
      this.ringFree(ring);
    }
    const idx = (ring.head + ring.count) % IOVA_DEFAULT_FQ_SIZE;
    ring.pfn[idx] = pfn;
    ring.pages[idx] = pages;
    ring.counter[idx] = this.flushStartCnt;
    ring.count++;
    if (!this.timerArmed) {
      this.timerArmed = true;
      this.d.clock.schedule(IOVA_DEFAULT_FQ_TIMEOUT_NS, () => {
        this.flushTimeout();
      });
    }
  }

  /**
   * fq_flush_timeout: flush the IOTLB and release every ring.
   * @linux drivers/iommu/dma-iommu.c fq_flush_timeout
   */
  flushTimeout(): void {
    this.timerArmed = false;
    this.flushIotlb();
    for (const ring of this.rings) this.ringFree(ring);
  }

  /** fq_flush_iotlb: start count, flush, finish count. */
  private flushIotlb(): void {
    this.flushStartCnt++;
    this.d.flushIotlbAll();
    this.flushes++;
    this.flushFinishCnt++;
  }

  /** fq_ring_free: releases the entries queued before the last completed flush. */
  private ringFree(ring: FqRing): void {
    while (ring.count > 0) {
      const i = ring.head;
      if ((ring.counter[i] as number) >= this.flushFinishCnt) break;
      this.d.freeIova(ring.pfn[i] as number, ring.pages[i] as number);
      ring.head = (i + 1) % IOVA_DEFAULT_FQ_SIZE;
      ring.count--;
    }
  }
}
