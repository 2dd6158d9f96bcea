/**
 * The statistics of a run's report: what the machine counted (cache, IOTLB), what the kernel
 * holds (SWIOTLB slots, zones) and what the trace events say over time (DMA mappings and IOVA
 * space live and at their peak).
 */
import type { Kernel } from '../kernel/kernel.js';
import type { DmaTraceEvent } from '../kernel/dma/trace.js';

export interface RunStats {
  /** The command line this kernel booted with (scenarios may add to the shared options'). */
  readonly cmdline: string;
  /** Bytes of RAM of this kernel's machine (a scenario may need more than --ram). */
  readonly ramBytes: number;
  /** Simulated time at the end of the run, in ns. */
  readonly simulatedNs: number;
  readonly cache: {
    readonly hits: number;
    readonly misses: number;
    readonly writebacks: number;
    readonly evictions: number;
    readonly linesCleaned: number;
    readonly linesInvalidated: number;
  };
  /** Null without an IOMMU. */
  readonly iotlb: {
    readonly hits: number;
    readonly misses: number;
    readonly invalidations: number;
    /** Invalidation requests issued (page, range, domain-wide and global together). */
    readonly invalidationRequests: number;
    /** CPU time those requests cost, at `invalidationNs` each (a charge; the clock does not move). */
    readonly invalidationWaitNs: number;
    readonly invalidationNs: number;
    readonly faults: number;
  } | null;
  /** Null when the kernel set up no bounce buffer pool. */
  readonly swiotlb: {
    readonly slots: number;
    readonly used: number;
    readonly highWater: number;
    readonly bounces: number;
  } | null;
  /** DMA API mappings and coherent allocations live at the end and at most. */
  readonly mappings: { readonly live: number; readonly peak: number; readonly peakAtNs: number };
  /** Bytes of IOVA space mapped in IOMMU page tables (iommu:map/unmap), now and at most. */
  readonly iova: { readonly liveBytes: number; readonly peakBytes: number } | null;
  readonly zones: readonly {
    readonly name: string;
    readonly managedPages: number;
    readonly freePages: number;
  }[];
}

/** Follows one kernel's trace events for the over-time figures. */
export class StatsTracker {
  private live = 0;
  private peak = 0;
  private peakAt = 0;
  private iovaLive = 0;
  private iovaPeak = 0;
  private bounces = 0;

  constructor(private readonly k: Kernel) {
    k.dmaTrace.subscribe((e) => {
      this.onEvent(e);
    });
  }

  private onEvent(e: DmaTraceEvent): void {
    switch (e.event) {
      case 'dma_map_page':
      case 'dma_map_resource':
        if (e.dmaAddr !== -1n) this.change(1);
        break;
      case 'dma_map_sg':
      case 'dma_alloc':
        this.change(1);
        break;
      case 'dma_unmap_page':
      case 'dma_unmap_resource':
      case 'dma_unmap_sg':
      case 'dma_free':
        this.change(-1);
        break;
      case 'map':
        this.iovaLive += e.size;
        if (this.iovaLive > this.iovaPeak) this.iovaPeak = this.iovaLive;
        break;
      case 'unmap':
        this.iovaLive -= e.unmappedSize;
        break;
      case 'swiotlb_bounced':
        this.bounces++;
        break;
      default:
        break;
    }
  }

  private change(d: number): void {
    this.live += d;
    if (this.live > this.peak) {
      this.peak = this.live;
      this.peakAt = this.k.machine.clock.now;
    }
  }

  snapshot(): RunStats {
    const m = this.k.machine;
    const c = m.cache.stats;
    const io = m.iommu;
    const tlb = this.k.swiotlb;
    return {
      cmdline: this.k.params.cmdline,
      ramBytes: m.physmap.ramBanks.reduce((n, b) => n + b.size, 0),
      simulatedNs: m.clock.now,
      cache: {
        hits: c.hits,
        misses: c.misses,
        writebacks: c.writebacks,
        evictions: c.evictions,
        linesCleaned: c.linesCleaned,
        linesInvalidated: c.linesInvalidated,
      },
      iotlb:
        io === null
          ? null
          : {
              hits: io.iotlb.stats.hits,
              misses: io.iotlb.stats.misses,
              invalidations: io.iotlb.stats.invalidations,
              invalidationRequests: Object.values(io.invalidationRequests).reduce(
                (a, b) => a + b,
                0,
              ),
              invalidationWaitNs: io.invalidationWaitNs,
              invalidationNs: io.invalidationNs,
              faults: io.faults.length + io.faultsDropped,
            },
      swiotlb:
        tlb === null
          ? null
          : {
              slots: tlb.nslabs,
              used: tlb.totalUsed,
              highWater: tlb.usedHiwater,
              bounces: this.bounces,
            },
      mappings: { live: this.live, peak: this.peak, peakAtNs: this.peakAt },
      iova: io === null ? null : { liveBytes: this.iovaLive, peakBytes: this.iovaPeak },
      zones: this.k.pages.node.zones
        .filter((z) => z.populated)
        .map((z) => ({ name: z.name, managedPages: z.managedPages, freePages: z.nrFree })),
    };
  }
}
