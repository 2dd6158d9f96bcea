/**
 * DOC: the atomic pools (kernel/dma/pool.c, Linux 6.12; facts §10.3). Remapping pages uncached
 * may sleep, so a coherent allocation for a non-coherent device that must not sleep (GFP_ATOMIC)
 * is served from memory remapped at boot: up to three gen_pools, one per zone (GFP_KERNEL,
 * GFP_DMA if ZONE_DMA has memory, GFP_DMA32 if the profile has ZONE_DMA32), each sized by
 * coherent_pool= or 128 KiB per GiB of RAM (at least 128 KiB, at most one MAX_PAGE_ORDER block),
 * filled from CMA when the default area lies in the zone, else from the page allocator. When a
 * pool's free space drops below that size a work item grows it by its current size; the work runs
 * on the machine's clock, after the current event.
 * MODEL: memory encryption (set_memory_decrypted) is not modelled.
 */
import type { VirtAddr } from '../../lib/addr.js';
import { KIB, GIB } from '../../lib/units.js';
import type { Clock } from '../../machine/clock/clock.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { ArchDmaSync } from '../arch/dma-sync.js';
import type { Device } from '../device/device.js';
import { GenPool } from '../lib/genalloc.js';
import type { Gfp } from '../mm/gfp.js';
import { GFP_DMA, GFP_DMA32, GFP_KERNEL, gfpString } from '../mm/gfp.js';
import type { KernelVm } from '../mm/kmem.js';
import type { Pfn } from '../mm/page.js';
import type { PageAllocator } from '../mm/page-alloc.js';
import type { Vmap } from '../mm/vmap.js';
import { MAX_PAGE_ORDER } from '../mm/zone.js';
import { SWAPPER, warnHeader } from '../mm/report.js';
import type { KernelLog } from '../printk.js';
import type { DmaContiguous } from './contiguous.js';
import { dmaPgprot } from './pgprot.js';
import { dmaCommonContiguousRemap, dmaDirectRemap } from './remap.js';

/** dma_coherent_ok, or any other test the pool's memory must pass for `dev`. */
export type PhysAddrOk = (dev: Device, phys: number, size: number) => boolean;

export interface AtomicPoolDeps {
  readonly profile: ArchProfile;
  readonly pages: PageAllocator;
  readonly vm: KernelVm;
  readonly vmap: Vmap;
  readonly arch: ArchDmaSync;
  readonly cma: DmaContiguous;
  readonly log: KernelLog;
  /** Where the expansion work item runs (schedule_work). */
  readonly clock: Clock;
  /** smp_processor_id(), for WARN lines. */
  readonly cpu: () => number;
}

/**
 * CONFIG_DMA_COHERENT_POOL: selected by DMA_DIRECT_REMAP (arm64, arm32 here) and on x86 by
 * AMD_MEM_ENCRYPT, which distribution kernels enable (unverified for every distribution); PReP's
 * coherent ppc32 has neither.
 */
export function dmaCoherentPool(profile: ArchProfile): boolean {
  return profile.name !== 'prep';
}

export class AtomicPools {
  /** atomic_pool_kernel, atomic_pool_dma, atomic_pool_dma32: null when absent or failed. */
  private kernel: GenPool | null = null;
  private dma: GenPool | null = null;
  private dma32: GenPool | null = null;
  /** debugfs dma_pools/pool_size_*: bytes added to each pool so far. */
  private sizeKernel = 0;
  private sizeDma = 0;
  private sizeDma32 = 0;
  /** atomic_pool_work is queued and has not run yet. */
  private workPending = false;

  private constructor(
    private readonly d: AtomicPoolDeps,
    /** atomic_pool_size: the size each pool starts with and is kept above. */
    readonly atomicPoolSize: number,
  ) {}

  /**
   * dma_atomic_pool_init - sizes and fills the pools at boot (postcore_initcall).
   * @param coherentPool coherent_pool= in bytes, or null for the default
   * @linux kernel/dma/pool.c dma_atomic_pool_init
   */
  static init(d: AtomicPoolDeps, coherentPool: number | null): AtomicPools {
    const size = coherentPool !== null && coherentPool > 0 ? coherentPool : defaultPoolSize(d);
    const p = new AtomicPools(d, size);
    p.kernel = p.initPool(GFP_KERNEL);
    const dmaZone = d.pages.zones.find((z) => z.name === 'DMA');
    if (dmaZone !== undefined && dmaZone.managedPages > 0) p.dma = p.initPool(GFP_KERNEL | GFP_DMA);
    if (d.profile.zoneDma32Limit !== null) p.dma32 = p.initPool(GFP_KERNEL | GFP_DMA32);
    return p;
  }

  /**
   * dma_alloc_from_pool - zeroed memory from the pool the flags point at, falling back through
   * the others while the memory is missing or fails `physAddrOk`.
   * @param size bytes, page-aligned by the caller
   * @returns the first page and the pool's (remapped) address; null with a WARN when no pool
   *   could serve it (a retry helps once the expansion work has run)
   * @linux kernel/dma/pool.c dma_alloc_from_pool
   */
  dmaAllocFromPool(
    dev: Device,
    size: number,
    gfp: Gfp,
    physAddrOk: PhysAddrOk | null,
  ): { page: Pfn; vaddr: VirtAddr } | null {
    for (let pool = this.guessPool(null, gfp); pool !== null; pool = this.guessPool(pool, gfp)) {
      const got = this.allocFrom(dev, size, pool, physAddrOk);
      if (got !== null) return got;
    }
    this.d.log.warn(`Failed to get suitable pool for ${dev.name}`);
    warnHeader(this.d.log, this.d.cpu(), SWAPPER, 'kernel/dma/pool.c dma_alloc_from_pool');
    return null;
  }

  /**
   * dma_free_from_pool - gives memory back to the pool holding it.
   * @returns false when no pool holds [vaddr, vaddr + size): the memory came from elsewhere
   * @linux kernel/dma/pool.c dma_free_from_pool
   */
  dmaFreeFromPool(dev: Device, vaddr: VirtAddr, size: number): boolean {
    for (let pool = this.guessPool(null, 0); pool !== null; pool = this.guessPool(pool, 0)) {
      if (!pool.hasAddr(vaddr, size)) continue;
      pool.free(vaddr, size);
      return true;
    }
    return false;
  }

  /** debugfs dma_pools/pool_size_dma: bytes. */
  get poolSizeDma(): number {
    return this.sizeDma;
  }

  /** debugfs dma_pools/pool_size_dma32: bytes. */
  get poolSizeDma32(): number {
    return this.sizeDma32;
  }

  /** debugfs dma_pools/pool_size_kernel: bytes. */
  get poolSizeKernel(): number {
    return this.sizeKernel;
  }

  /** __dma_atomic_pool_init: one pool, filled once, with its boot message. */
  private initPool(gfp: Gfp): GenPool | null {
    const pool = new GenPool(Math.log2(this.d.profile.pageSize));
    if (!this.expand(pool, this.atomicPoolSize, gfp)) {
      this.d.log.err(
        `DMA: failed to allocate ${Math.floor(this.atomicPoolSize / KIB)} KiB ${gfpString(gfp)} pool for atomic allocation`,
      );
      return null;
    }
    this.d.log.info(
      `DMA: preallocated ${Math.floor(pool.size / KIB)} KiB ${gfpString(gfp)} pool for atomic allocations`,
    );
    return pool;
  }

  /**
   * atomic_pool_expand - adds one block of up to `poolSize` bytes (halving the order until the
   * allocation succeeds), cleaned from the cache and remapped uncached where the arch remaps.
   * @returns false when not even one page was free or the remap failed
   */
  private expand(pool: GenPool, poolSize: number, gfp: Gfp): boolean {
    const { pages, cma, profile } = this.d;
    let order = Math.min(pages.getOrder(poolSize), MAX_PAGE_ORDER);
    let page: Pfn | null = null;
    for (;;) {
      if (this.cmaInZone(gfp)) page = cma.dmaAllocFromContiguous(2 ** order, order, false);
      page ??= pages.allocPages(gfp, order);
      if (page !== null || order === 0) break;
      order--;
    }
    if (page === null) return false;
    const bytes = profile.pageSize * 2 ** order;
    const phys = pages.pageToPhys(page);
    this.d.arch.prepCoherent(phys, bytes);
    const vaddr = dmaDirectRemap(profile)
      ? dmaCommonContiguousRemap(
          this.d.vmap,
          profile.pageSize,
          phys,
          bytes,
          dmaPgprot(profile.name, false, 0),
          'atomic_pool_expand',
        )
      : pages.pageAddress(page);
    if (vaddr === null) {
      cma.dmaFreeContiguous(null, page, bytes);
      return false;
    }
    pool.addVirt(vaddr, phys, bytes);
    this.sizeAdd(gfp, bytes);
    return true;
  }

  /** __dma_alloc_from_pool. */
  private allocFrom(
    dev: Device,
    size: number,
    pool: GenPool,
    physAddrOk: PhysAddrOk | null,
  ): { page: Pfn; vaddr: VirtAddr } | null {
    const vaddr = pool.alloc(size) as VirtAddr;
    if (vaddr === 0) return null;
    const phys = pool.virtToPhys(vaddr);
    if (physAddrOk !== null && !physAddrOk(dev, phys, size)) {
      pool.free(vaddr, size);
      return null;
    }
    if (pool.avail < this.atomicPoolSize) this.scheduleWork();
    this.d.vm.memset(vaddr, 0, size);
    return { page: this.d.pages.physToPage(phys), vaddr };
  }

  /**
   * dma_guess_pool: the first pool for the flags (DMA32, DMA, else kernel), then kernel → DMA32
   * (or DMA) → DMA.
   */
  private guessPool(prev: GenPool | null, gfp: Gfp): GenPool | null {
    if (prev === null) {
      if (this.d.profile.zoneDma32Limit !== null && (gfp & GFP_DMA32) !== 0) return this.dma32;
      if (this.dma !== null && (gfp & GFP_DMA) !== 0) return this.dma;
      return this.kernel;
    }
    if (prev === this.kernel) return this.dma32 ?? this.dma;
    if (prev === this.dma32) return this.dma;
    return null;
  }

  /** cma_in_zone: the default CMA area lies wholly in the zone `gfp` asks for. */
  private cmaInZone(gfp: Gfp): boolean {
    const area = this.d.cma.defaultArea;
    if (area === null || area.size === 0) return false;
    const end = area.base + area.size;
    const { zoneDmaLimit, zoneDma32Limit } = this.d.profile;
    if (zoneDmaLimit !== null && (gfp & GFP_DMA) !== 0) return end <= zoneDmaLimit;
    if (zoneDma32Limit !== null && (gfp & GFP_DMA32) !== 0)
      return end <= Math.max(4 * GIB, zoneDmaLimit ?? 0);
    return true;
  }

  /** schedule_work(&atomic_pool_work): at most one run queued at a time. */
  private scheduleWork(): void {
    if (this.workPending) return;
    this.workPending = true;
    this.d.clock.schedule(0, () => {
      this.workPending = false;
      this.workFn();
    });
  }

  /** atomic_pool_work_fn: grows every pool whose free space fell below atomic_pool_size. */
  private workFn(): void {
    this.resize(this.dma, GFP_KERNEL | GFP_DMA);
    this.resize(this.dma32, GFP_KERNEL | GFP_DMA32);
    this.resize(this.kernel, GFP_KERNEL);
  }

  /** atomic_pool_resize: doubles a pool that ran low. */
  private resize(pool: GenPool | null, gfp: Gfp): void {
    if (pool !== null && pool.avail < this.atomicPoolSize) this.expand(pool, pool.size, gfp);
  }

  /** dma_atomic_pool_size_add. */
  private sizeAdd(gfp: Gfp, bytes: number): void {
    if ((gfp & GFP_DMA) !== 0) this.sizeDma += bytes;
    else if ((gfp & GFP_DMA32) !== 0) this.sizeDma32 += bytes;
    else this.sizeKernel += bytes;
  }
}

/**
 * The default atomic_pool_size: 128 KiB per GiB of totalram_pages, at most MAX_ORDER_NR_PAGES
 * pages, at least 128 KiB. CMA pages count as RAM, as they do in the kernel (they are managed
 * pages there).
 */
function defaultPoolSize(d: AtomicPoolDeps): number {
  const managed = d.pages.zones.reduce((s, z) => s + z.managedPages, 0);
  const cma = d.cma.areas.reduce((s, a) => s + a.count, 0);
  const pages = Math.min(Math.floor((managed + cma) / (GIB / (128 * KIB))), 2 ** MAX_PAGE_ORDER);
  return Math.max(pages * d.profile.pageSize, 128 * KIB);
}
