/**
 * The per-CPU IOVA range caches of drivers/iommu/iova.c (Linux 6.12): magazines of freed pfns per
 * CPU and size order, and a global depot of full magazines trimmed by delayed work.
 * Left out: locking, CPU hotplug, and magazine allocation failure (GFP_ATOMIC never fails here).
 */
import { assert, SimulatorBug } from '../../lib/errors.js';
import type { Clock } from '../../machine/clock/clock.js';

/** Cached sizes are 2^0 .. 2^(IOVA_RANGE_CACHE_MAX_SIZE - 1) pages (1..32). */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
/** pfns per magazine (a magazine is 1024 bytes on 64-bit: a count and 127 pfns). */
export const IOVA_MAG_SIZE = 127;
/** Delay of the depot-trimming work: 100 ms, in simulated ns. */
export const IOVA_DEPOT_DELAY_NS = 100_000_000;

/**
 * DOC: range caches
 * A free of a 1..32-page IOVA does not go back to the tree: its pfn is pushed onto the CPU's
 * `loaded` magazine for its size order. When `loaded` is full it is swapped with `prev`; when both
 * are full, `loaded` goes onto the global depot (a LIFO stack) and a fresh magazine takes its place.
 * An allocation pops in the reverse order, so frees come back LIFO per CPU. Whenever a magazine
 * enters the depot, a trim is scheduled IOVA_DEPOT_DELAY later on the simulated clock (at most one
 * pending per size order, like schedule_delayed_work on an already queued item); each run gives one
 * depot magazine's pfns back to the tree while the depot holds more magazines than there are CPUs,
 * and re-arms itself when it freed one. MODEL: the trim is an event on the machine Clock
 * (clock.schedule), not a workqueue item; arming it on every depot push follows 6.7+ (unverified).
 */

/** Ceiling of log2(size) for size >= 1; equals fls_long(size - 1). */
export function orderBase2(size: number): number {
  return flsLong(size - 1);
}

/** Index of the highest set bit, 1-based (0 for 0), for integers below 2^53. */
export function flsLong(x: number): number {
  if (x < 0x80000000) return 32 - Math.clz32(x);
  const high = Math.floor(x / 0x100000000);
  return high > 0 ? 64 - Math.clz32(high) : 32 - Math.clz32(x >>> 0);
}

/** Empty magazines kept for reuse per IovaRcaches. */
const MAX_SPARE_MAGS = 8;

/** A stack of up to IOVA_MAG_SIZE pfns (struct iova_magazine). */
class IovaMagazine {
  /** Number of valid pfns at the bottom of `pfns`; written by push/pop. */
  size = 0;
  /** Cached pfn_lo values, in push order. */
  readonly pfns = new Float64Array(IOVA_MAG_SIZE);

  get full(): boolean {
    return this.size === IOVA_MAG_SIZE;
  }

  push(pfn: number): void {
    this.pfns[this.size++] = pfn;
  }

  /** Takes the topmost pfn <= limitPfn (swapping the top into its slot); 0 when none fits. */
  pop(limitPfn: number): number {
    const pfns = this.pfns;
    let i = this.size - 1;
    while (i >= 0 && (pfns[i] as number) > limitPfn) i--;
    if (i < 0) return 0;
    const pfn = pfns[i] as number;
    pfns[i] = pfns[--this.size] as number;
    return pfn;
  }
}

/** One CPU's pair of magazines for one size order (struct iova_cpu_rcache). */
interface IovaCpuRcache {
  /** The magazine pushed to and popped from first. */
  loaded: IovaMagazine;
  /** The spare, swapped with `loaded` when that is full (insert) or empty (get). */
  prev: IovaMagazine;
}

/** The cache of one size order (struct iova_rcache). */
interface IovaRcache {
  readonly cpuRcaches: IovaCpuRcache[];
  /** Full magazines; the last element is the top of the kernel's linked list. */
  readonly depot: IovaMagazine[];
  /** Whether a trim is queued on the clock (delayed work pending). */
  workPending: boolean;
}

/** Wiring of the range caches. */
export interface IovaRcacheOptions {
  /** Online (= possible) CPUs. */
  readonly nCpus: number;
  /** The CPU the caller runs on, 0 <= cpu < nCpus. */
  readonly cpu: () => number;
  /** Simulated time for the depot trim. */
  readonly clock: Clock;
}

/** All size orders' caches of one IOVA domain. */
export class IovaRcaches {
  private readonly rcaches: IovaRcache[] = [];
  /**
   * Empty magazines dropped by `get`, reused by `insert` instead of allocating (host-side only:
   * the kernel frees and allocates them; no count or order the model shows depends on it).
   */
  private readonly spareMags: IovaMagazine[] = [];
  /** Set by destroy(): pending trims then do nothing (cancel_delayed_work_sync). */
  private dead = false;

  /**
   * @param opts CPUs and clock.
   * @param release gives one cached pfn back to the tree (private_find_iova + remove_iova).
   */
  constructor(
    private readonly opts: IovaRcacheOptions,
    private readonly release: (pfn: number) => void,
  ) {
    for (let order = 0; order < IOVA_RANGE_CACHE_MAX_SIZE; order++) {
      const cpuRcaches = Array.from({ length: opts.nCpus }, () => ({
        loaded: new IovaMagazine(),
        prev: new IovaMagazine(),
      }));
      this.rcaches.push({ cpuRcaches, depot: [], workPending: false });
    }
  }

  /**
   * Caches a freed IOVA of `size` pages starting at `pfn`.
   * @returns false when the size is not cacheable (the caller frees it in the tree).
   * @linux drivers/iommu/iova.c iova_rcache_insert
   */
  insert(pfn: number, size: number): boolean {
    const order = orderBase2(size);
    if (order >= IOVA_RANGE_CACHE_MAX_SIZE) return false;
    const rcache = this.rcaches[order] as IovaRcache;
    const c = this.cpuRcache(rcache);
    if (c.loaded.full) {
      if (c.prev.full) {
        rcache.depot.push(c.loaded);
        this.scheduleTrim(rcache);
        c.loaded = this.spareMags.pop() ?? new IovaMagazine();
      } else {
        const t = c.prev;
        c.prev = c.loaded;
        c.loaded = t;
      }
    }
    c.loaded.push(pfn);
    return true;
  }

  /**
   * Takes a cached IOVA of `size` pages that ends below `limitPfn` (exclusive).
   * @returns its first pfn, or 0 when the cache has none (the caller then asks the tree).
   * @linux drivers/iommu/iova.c iova_rcache_get
   */
  get(size: number, limitPfn: number): number {
    const order = orderBase2(size);
    if (order >= IOVA_RANGE_CACHE_MAX_SIZE) return 0;
    const rcache = this.rcaches[order] as IovaRcache;
    const c = this.cpuRcache(rcache);
    if (c.loaded.size === 0) {
      if (c.prev.size > 0) {
        const t = c.prev;
        c.prev = c.loaded;
        c.loaded = t;
      } else {
        const mag = rcache.depot.pop();
        if (mag === undefined) return 0;
        if (this.spareMags.length < MAX_SPARE_MAGS) this.spareMags.push(c.loaded);
        c.loaded = mag;
      }
    }
    return c.loaded.pop(limitPfn - size);
  }

  /**
   * Gives every IOVA cached by `cpu` back to the tree.
   * @param cpu the CPU whose loaded and prev magazines are emptied.
   * @linux drivers/iommu/iova.c free_cpu_cached_iovas
   */
  freeCpuCachedIovas(cpu: number): void {
    for (const rcache of this.rcaches) {
      const c = rcache.cpuRcaches[cpu];
      assert(c !== undefined, () => `iova: no CPU ${cpu}`);
      this.freePfns(c.loaded);
      this.freePfns(c.prev);
    }
  }

  /**
   * Gives every IOVA in the depots back to the tree.
   * @linux drivers/iommu/iova.c free_global_cached_iovas
   */
  freeGlobalCachedIovas(): void {
    for (const rcache of this.rcaches) {
      for (let mag = rcache.depot.pop(); mag !== undefined; mag = rcache.depot.pop()) {
        this.freePfns(mag);
      }
    }
  }

  /** Drops all magazines without touching the tree (the domain is going away). */
  destroy(): void {
    this.dead = true;
    for (const rcache of this.rcaches) {
      rcache.depot.length = 0;
      for (const c of rcache.cpuRcaches) c.loaded.size = c.prev.size = 0;
    }
  }

  /** Online CPUs. */
  get nCpus(): number {
    return this.opts.nCpus;
  }

  /** Number of IOVAs in `cpu`'s loaded and prev magazines, all orders. */
  cachedOnCpu(cpu: number): number {
    let n = 0;
    for (const rcache of this.rcaches) {
      const c = rcache.cpuRcaches[cpu];
      if (c !== undefined) n += c.loaded.size + c.prev.size;
    }
    return n;
  }

  /** Number of full magazines in the depot of each order 0..5. */
  depotDepths(): number[] {
    return this.rcaches.map((r) => r.depot.length);
  }

  private cpuRcache(rcache: IovaRcache): IovaCpuRcache {
    const cpu = this.opts.cpu();
    const c = rcache.cpuRcaches[cpu];
    if (c === undefined) throw new SimulatorBug(`iova: CPU ${cpu} out of range`);
    return c;
  }

  private freePfns(mag: IovaMagazine): void {
    for (let i = 0; i < mag.size; i++) this.release(mag.pfns[i] as number);
    mag.size = 0;
  }

  /** schedule_delayed_work: a no-op while a trim of this order is already queued. */
  private scheduleTrim(rcache: IovaRcache): void {
    if (rcache.workPending) return;
    rcache.workPending = true;
    this.opts.clock.schedule(IOVA_DEPOT_DELAY_NS, () => {
      this.trimDepot(rcache);
    });
  }

  /** iova_depot_work_func: frees one depot magazine while the depot outnumbers the CPUs. */
  private trimDepot(rcache: IovaRcache): void {
    rcache.workPending = false;
    if (this.dead || rcache.depot.length <= this.opts.nCpus) return;
    const mag = rcache.depot.pop() as IovaMagazine;
    this.freePfns(mag);
    this.scheduleTrim(rcache);
  }
}
