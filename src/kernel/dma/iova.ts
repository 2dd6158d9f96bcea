/**
 * The IOVA allocator of drivers/iommu/iova.c (Linux 6.12): top-down allocation of pfn ranges in an
 * ordered tree with cached start hints, reservations, and the per-CPU range caches
 * (iova-rcache.ts). Left out: locking, the iova kmem cache, CPU hotplug, the maple-tree rewrite.
 */
import { assert, ConfigError, SimulatorBug } from '../../lib/errors.js';
import { flsLong, IovaRcaches, type IovaRcacheOptions } from './iova-rcache.js';

/**
 * DOC: allocation walk
 * Allocated and reserved ranges are nodes of a tree ordered by pfn_lo; an anchor node sits above
 * everything. An allocation of `size` pages below `limit` starts at a cached node (cached32_node
 * for limits within 4 GiB, cached_node above) and walks towards lower addresses, proposing at each
 * step the highest (aligned) start that fits under the current node, until the proposal no longer
 * collides with the next lower node. The new node becomes the cached hint, so a series of
 * allocations proceeds downward in O(1) steps each, and ranges freed above the hint are not reused
 * until the walk fails and retries once between the limit and the hint. A 32-bit failure records
 * the size in max32_alloc_size so later requests of that size or more fail at once, until an IOVA
 * below 4 GiB is freed.
 */

/** pfn of the anchor node. MODEL: the kernel uses ~0UL; pfns here stay below 2^53. */
export const IOVA_ANCHOR = Number.MAX_SAFE_INTEGER;

/** An inclusive range of IOVA pfns (struct iova). */
export interface IovaRange {
  readonly pfnLo: number;
  readonly pfnHi: number;
}

/** One tree node for the visualizer. */
export interface IovaListEntry extends IovaRange {
  /** Made by reserveIova rather than an allocation. */
  readonly reserved: boolean;
}

/** Figures for reports. */
export interface IovaStats {
  /** Allocated ranges in the tree, including those parked in the range caches. */
  readonly live: number;
  /** Reserved ranges in the tree. */
  readonly reserved: number;
  /** IOVAs held in each CPU's magazines (all orders). */
  readonly cachedPerCpu: readonly number[];
  /** Full magazines in the depot of each size order 0..5. */
  readonly depotDepth: readonly number[];
  /** Smallest 32-bit request size known to fail (dma32bitPfn when none). */
  readonly max32AllocSize: number;
}

const NIL = 0;
const KIND_RESERVED = 1;

/**
 * A treap of disjoint pfn ranges in flat typed arrays, with parent links for in-order stepping.
 * MODEL: the kernel uses a red-black tree; only the order matters for the addresses handed out.
 */
class IovaTree {
  /** pfn_lo of each node (the key). */
  lo: Float64Array = new Float64Array(1024);
  /** pfn_hi of each node. */
  hi: Float64Array = new Float64Array(1024);
  /** Child and parent links, NIL for none. */
  left: Int32Array = new Int32Array(1024);
  right: Int32Array = new Int32Array(1024);
  parent: Int32Array = new Int32Array(1024);
  /** Heap priority (random, fixed sequence). */
  prio: Uint32Array = new Uint32Array(1024);
  /** KIND_RESERVED for reserveIova nodes, else 0. */
  kind: Uint8Array = new Uint8Array(1024);
  /** Root node, NIL when empty. */
  root = NIL;
  /** Linked nodes. */
  count = 0;
  /** Recycled node indices, threaded through `right`. */
  private freeList = NIL;
  /** Next never-used index (0 is NIL). */
  private top = 1;
  /** xorshift32 state for priorities: fixed, so runs are deterministic. */
  private seed = 0x2545f491;

  /** Makes and links a node; throws if a node with the same pfn_lo exists. */
  insert(pfnLo: number, pfnHi: number, kind: number): number {
    const n = this.newNode(pfnLo, pfnHi, kind);
    const { lo, left, right, parent } = this;
    let p = NIL;
    let cur = this.root;
    while (cur !== NIL) {
      p = cur;
      const key = lo[cur] as number;
      if (pfnLo === key) throw new SimulatorBug(`iova: pfn ${pfnLo} inserted twice`);
      cur = pfnLo < key ? (left[cur] as number) : (right[cur] as number);
    }
    parent[n] = p;
    if (p === NIL) this.root = n;
    else if (pfnLo < (lo[p] as number)) left[p] = n;
    else right[p] = n;
    const prio = this.prio;
    while (parent[n] !== NIL && (prio[n] as number) > (prio[parent[n]] as number)) {
      this.rotateUp(n);
    }
    this.count++;
    return n;
  }

  /** Unlinks node n and recycles its index. */
  erase(n: number): void {
    const { left, right, parent, prio } = this;
    for (;;) {
      const l = left[n] as number;
      const r = right[n] as number;
      if (l === NIL || r === NIL) break;
      this.rotateUp((prio[l] as number) > (prio[r] as number) ? l : r);
    }
    const child = left[n] !== NIL ? (left[n] as number) : (right[n] as number);
    const p = parent[n] as number;
    if (child !== NIL) parent[child] = p;
    if (p === NIL) this.root = child;
    else if (left[p] === n) left[p] = child;
    else right[p] = child;
    right[n] = this.freeList;
    this.freeList = n;
    this.count--;
  }

  /** In-order predecessor (rb_prev), NIL at the lowest node. */
  prev(n: number): number {
    const { left, right, parent } = this;
    let x = left[n] as number;
    if (x !== NIL) {
      for (let r = right[x] as number; r !== NIL; r = right[x] as number) x = r;
      return x;
    }
    let c = n;
    x = parent[c] as number;
    while (x !== NIL && left[x] === c) {
      c = x;
      x = parent[c] as number;
    }
    return x;
  }

  /** In-order successor (rb_next), NIL at the highest node. */
  next(n: number): number {
    const { left, right, parent } = this;
    let x = right[n] as number;
    if (x !== NIL) {
      for (let l = left[x] as number; l !== NIL; l = left[x] as number) x = l;
      return x;
    }
    let c = n;
    x = parent[c] as number;
    while (x !== NIL && right[x] === c) {
      c = x;
      x = parent[c] as number;
    }
    return x;
  }

  /** The node whose range holds pfn, or NIL. */
  findContaining(pfn: number): number {
    let cur = this.root;
    while (cur !== NIL) {
      if (pfn < (this.lo[cur] as number)) cur = this.left[cur] as number;
      else if (pfn > (this.hi[cur] as number)) cur = this.right[cur] as number;
      else return cur;
    }
    return NIL;
  }

  /** The lowest node with pfn_hi >= pfn (ranges are disjoint, so pfn_hi is ordered too). */
  firstHiAtLeast(pfn: number): number {
    let best = NIL;
    let cur = this.root;
    while (cur !== NIL) {
      if ((this.hi[cur] as number) >= pfn) {
        best = cur;
        cur = this.left[cur] as number;
      } else {
        cur = this.right[cur] as number;
      }
    }
    return best;
  }

  private newNode(pfnLo: number, pfnHi: number, kind: number): number {
    let n = this.freeList;
    if (n !== NIL) this.freeList = this.right[n] as number;
    else {
      if (this.top === this.lo.length) this.grow();
      n = this.top++;
    }
    let s = this.seed;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.seed = s;
    this.lo[n] = pfnLo;
    this.hi[n] = pfnHi;
    this.left[n] = this.right[n] = NIL;
    this.prio[n] = s >>> 0;
    this.kind[n] = kind;
    return n;
  }

  private grow(): void {
    const cap = this.lo.length * 2;
    const f64 = (a: Float64Array): Float64Array => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    const i32 = (a: Int32Array): Int32Array => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.lo = f64(this.lo);
    this.hi = f64(this.hi);
    this.left = i32(this.left);
    this.right = i32(this.right);
    this.parent = i32(this.parent);
    const prio = new Uint32Array(cap);
    prio.set(this.prio);
    this.prio = prio;
    const kind = new Uint8Array(cap);
    kind.set(this.kind);
    this.kind = kind;
  }

  /** Rotates n above its parent, keeping in-order sequence. */
  private rotateUp(n: number): void {
    const { left, right, parent } = this;
    const p = parent[n] as number;
    const g = parent[p] as number;
    if (left[p] === n) {
      const b = right[n] as number;
      left[p] = b;
      if (b !== NIL) parent[b] = p;
      right[n] = p;
    } else {
      const b = left[n] as number;
      right[p] = b;
      if (b !== NIL) parent[b] = p;
      left[n] = p;
    }
    parent[p] = n;
    parent[n] = g;
    if (g === NIL) this.root = n;
    else if (left[g] === p) left[g] = n;
    else right[g] = n;
  }
}

/**
 * Sets up an empty IOVA domain.
 * @param granule IOVA page size in bytes: a power of two, at most `pageSize`.
 * @param startPfn lowest pfn ever handed out (dma-iommu passes at least 1, so IOVA 0 stays unused).
 * @param pageSize the CPU page size (PAGE_SIZE), 4096 unless told.
 * @returns the domain; throws ConfigError on a bad granule.
 * @linux drivers/iommu/iova.c init_iova_domain
 */
export function initIovaDomain(granule: number, startPfn: number, pageSize = 4096): IovaDomain {
  if (!(granule > 0 && granule <= pageSize && (granule & (granule - 1)) === 0)) {
    throw new ConfigError(`iova: granule ${granule} must be a power of two <= ${pageSize}`);
  }
  if (!Number.isSafeInteger(startPfn) || startPfn < 0) {
    throw new ConfigError(`iova: bad start pfn ${startPfn}`);
  }
  return new IovaDomain(granule, startPfn);
}

/** An IOVA address space (struct iova_domain). */
export class IovaDomain {
  /** log2(granule): pfn = iova >> shift. */
  readonly shift: number;
  /** First pfn at or above 4 GiB: limits up to it count as 32-bit. */
  readonly dma32bitPfn: number;
  /** Smallest 32-bit size known to fail; written by the walk and by frees below 4 GiB. */
  private max32AllocSize: number;
  private readonly tree = new IovaTree();
  /** The node above all others. */
  private readonly anchor: number;
  /** Where walks for limits above 4 GiB start; written on insert and delete. */
  private cachedNode: number;
  /** Where walks for limits within 4 GiB start; written on insert and delete. */
  private cached32Node: number;
  private rcaches: IovaRcaches | null = null;

  /** Use initIovaDomain(), which checks the arguments. */
  constructor(
    readonly granule: number,
    readonly startPfn: number,
  ) {
    this.shift = 31 - Math.clz32(granule);
    this.dma32bitPfn = 2 ** (32 - this.shift);
    this.max32AllocSize = this.dma32bitPfn;
    this.anchor = this.tree.insert(IOVA_ANCHOR, IOVA_ANCHOR, 0);
    this.cachedNode = this.cached32Node = this.anchor;
  }

  /**
   * Sets up the per-CPU range caches used by allocIovaFast/freeIovaFast.
   * @param opts CPU count, current-CPU callback and the clock for the depot trim.
   * @linux drivers/iommu/iova.c iova_domain_init_rcaches
   */
  iovaDomainInitRcaches(opts: IovaRcacheOptions): void {
    if (this.rcaches !== null) throw new ConfigError('iova: range caches set up twice');
    if (!(Number.isInteger(opts.nCpus) && opts.nCpus >= 1)) {
      throw new ConfigError(`iova: bad CPU count ${opts.nCpus}`);
    }
    this.rcaches = new IovaRcaches(opts, (pfn) => {
      const n = this.tree.findContaining(pfn);
      assert(n !== NIL, () => `iova: cached pfn ${pfn} not in the tree`);
      this.removeIova(n);
    });
  }

  /**
   * Allocates `size` pages from the tree, as high as possible at or below `limitPfn`.
   * @param size number of pages, >= 1.
   * @param limitPfn highest pfn the range may include.
   * @param sizeAligned align pfn_lo to the power of two >= size.
   * @returns the new range, or null when no gap fits (retry helps only after frees).
   * @linux drivers/iommu/iova.c alloc_iova
   */
  allocIova(size: number, limitPfn: number, sizeAligned: boolean): IovaRange | null {
    const n = this.allocAndInsertIovaRange(size, limitPfn + 1, sizeAligned);
    return n === NIL ? null : this.rangeOf(n);
  }

  /**
   * Finds the allocated or reserved range that contains `pfn`.
   * @returns the range, or null when pfn is free.
   * @linux drivers/iommu/iova.c find_iova
   */
  findIova(pfn: number): IovaRange | null {
    const n = pfn < IOVA_ANCHOR ? this.tree.findContaining(pfn) : NIL;
    return n === NIL ? null : this.rangeOf(n);
  }

  /**
   * Frees the range that contains `pfn` back to the tree; does nothing if there is none.
   * @param pfn any pfn of the range.
   * @linux drivers/iommu/iova.c free_iova
   */
  freeIova(pfn: number): void {
    const n = pfn < IOVA_ANCHOR ? this.tree.findContaining(pfn) : NIL;
    if (n !== NIL) this.removeIova(n);
  }

  /**
   * Marks [pfnLo, pfnHi] as never to be allocated, merging with reservations or allocations it
   * overlaps (an overlapped node grows down to pfnLo; the part above it becomes a new node).
   * @returns the node that covers the top of the request, or null for nonsense pfns.
   * @linux drivers/iommu/iova.c reserve_iova
   */
  reserveIova(pfnLo: number, pfnHi: number): IovaRange | null {
    if (!(pfnLo >= 0 && pfnLo <= pfnHi && pfnHi < IOVA_ANCHOR)) return null;
    const t = this.tree;
    let lo = pfnLo;
    let overlap = false;
    // The kernel scans from rb_first; nodes entirely below pfnLo cannot overlap, so start later.
    for (let n = t.firstHiAtLeast(lo); n !== NIL && n !== this.anchor; n = t.next(n)) {
      if ((t.lo[n] as number) <= pfnHi && (t.hi[n] as number) >= lo) {
        if (lo < (t.lo[n] as number)) t.lo[n] = lo;
        if (pfnHi <= (t.hi[n] as number)) return this.rangeOf(n);
        lo = (t.hi[n] as number) + 1;
        overlap = true;
      } else if (overlap) {
        break;
      }
    }
    return this.rangeOf(t.insert(lo, pfnHi, KIND_RESERVED));
  }

  /**
   * Allocates a size-aligned IOVA of `size` pages (rounded up to a power of two below 32), from
   * the current CPU's range cache when it has one that fits, else from the tree.
   * @param size number of pages, >= 1.
   * @param limitPfn highest pfn the range may include.
   * @param flushRcache on failure, give all cached IOVAs back to the tree and try once more.
   * @returns pfn_lo of the range, or 0 when there is no space.
   * @linux drivers/iommu/iova.c alloc_iova_fast
   */
  allocIovaFast(size: number, limitPfn: number, flushRcache: boolean): number {
    const rc = this.rcaches;
    if (rc === null) throw new SimulatorBug('iova: allocIovaFast before iovaDomainInitRcaches');
    const nPages = size < 32 ? 2 ** flsLong(size - 1) : size;
    const pfn = rc.get(nPages, limitPfn + 1);
    if (pfn !== 0) return pfn;
    let n = this.allocAndInsertIovaRange(nPages, limitPfn + 1, true);
    if (n === NIL && flushRcache) {
      for (let cpu = 0; cpu < rc.nCpus; cpu++) rc.freeCpuCachedIovas(cpu);
      rc.freeGlobalCachedIovas();
      n = this.allocAndInsertIovaRange(nPages, limitPfn + 1, true);
    }
    return n === NIL ? 0 : (this.tree.lo[n] as number);
  }

  /**
   * Frees an IOVA from allocIovaFast: into the current CPU's range cache when its size is
   * cacheable, else back to the tree.
   * @param pfn pfn_lo of the range.
   * @param size the size passed to allocIovaFast.
   * @linux drivers/iommu/iova.c free_iova_fast
   */
  freeIovaFast(pfn: number, size: number): void {
    if (this.rcaches?.insert(pfn, size) === true) return;
    this.freeIova(pfn);
  }

  /**
   * Gives the IOVAs cached by one CPU back to the tree.
   * @linux drivers/iommu/iova.c free_cpu_cached_iovas
   */
  freeCpuCachedIovas(cpu: number): void {
    this.rcaches?.freeCpuCachedIovas(cpu);
  }

  /**
   * Gives the IOVAs in all depots back to the tree.
   * @linux drivers/iommu/iova.c free_global_cached_iovas
   */
  freeGlobalCachedIovas(): void {
    this.rcaches?.freeGlobalCachedIovas();
  }

  /**
   * Tears the domain down: drops the caches (cancelling pending trims) and every range.
   * @linux drivers/iommu/iova.c put_iova_domain
   */
  putIovaDomain(): void {
    this.rcaches?.destroy();
    this.rcaches = null;
    for (let n = this.tree.prev(this.anchor); n !== NIL; n = this.tree.prev(this.anchor)) {
      this.tree.erase(n);
    }
    this.cachedNode = this.cached32Node = this.anchor;
    this.max32AllocSize = this.dma32bitPfn;
  }

  /** Figures for reports. */
  stats(): IovaStats {
    let reserved = 0;
    const t = this.tree;
    for (let n = t.prev(this.anchor); n !== NIL; n = t.prev(n)) reserved += t.kind[n] as number;
    const rc = this.rcaches;
    return {
      live: t.count - 1 - reserved,
      reserved,
      cachedPerCpu:
        rc === null ? [] : Array.from({ length: rc.nCpus }, (_, c) => rc.cachedOnCpu(c)),
      depotDepth: rc === null ? [] : rc.depotDepths(),
      max32AllocSize: this.max32AllocSize,
    };
  }

  /** Every allocated and reserved range, lowest first (ranges parked in the caches included). */
  listRanges(): IovaListEntry[] {
    const t = this.tree;
    const out: IovaListEntry[] = [];
    for (let n = t.firstHiAtLeast(0); n !== this.anchor; n = t.next(n)) {
      out.push({ ...this.rangeOf(n), reserved: t.kind[n] === KIND_RESERVED });
    }
    return out;
  }

  private rangeOf(n: number): IovaRange {
    return { pfnLo: this.tree.lo[n] as number, pfnHi: this.tree.hi[n] as number };
  }

  /** __get_cached_rbnode. */
  private cachedRbnode(limitPfn: number): number {
    return limitPfn <= this.dma32bitPfn ? this.cached32Node : this.cachedNode;
  }

  /**
   * iova_find_limit: where to restart a failed walk. The kernel takes the anchor for limits above
   * 4 GiB, else a node at or just above the limit; starting from the lowest node ending at or
   * above the limit gives the same result with the fewest steps.
   */
  private findLimit(limitPfn: number): number {
    return limitPfn > this.dma32bitPfn ? this.anchor : this.tree.firstHiAtLeast(limitPfn);
  }

  /**
   * __alloc_and_insert_iova_range: the downward walk (see DOC above); `limitPfn` is exclusive.
   * @returns the new node, or NIL.
   */
  private allocAndInsertIovaRange(size: number, limitPfn: number, sizeAligned: boolean): number {
    assert(size >= 1 && Number.isSafeInteger(size), () => `iova: bad size ${size}`);
    if (limitPfn <= this.dma32bitPfn && size >= this.max32AllocSize) return NIL;
    const t = this.tree;
    const align = sizeAligned ? 2 ** flsLong(size - 1) : 1;
    let curr = this.cachedRbnode(limitPfn);
    const retryPfn = t.hi[curr] as number;
    let highPfn = limitPfn;
    let lowPfn = this.startPfn;
    let retried = false;
    for (;;) {
      let newPfn: number;
      do {
        highPfn = Math.min(highPfn, t.lo[curr] as number);
        newPfn = Math.floor((highPfn - size) / align) * align;
        curr = t.prev(curr);
      } while (curr !== NIL && newPfn <= (t.hi[curr] as number) && newPfn >= lowPfn);
      if (highPfn >= size && newPfn >= lowPfn) return this.insertAllocated(newPfn, size);
      // MODEL: the kernel retries while low_pfn is still start_pfn; a flag also ends the loop when
      // the hint sits just below start_pfn.
      if (!retried && retryPfn < limitPfn) {
        retried = true;
        highPfn = limitPfn;
        lowPfn = retryPfn + 1;
        curr = this.findLimit(limitPfn);
        continue;
      }
      // Recorded for any failed walk, though only 32-bit requests consult it (unverified).
      this.max32AllocSize = size;
      return NIL;
    }
  }

  /** Links a new allocation and moves the matching cached hint to it. */
  private insertAllocated(pfnLo: number, size: number): number {
    const n = this.tree.insert(pfnLo, pfnLo + size - 1, 0);
    if (pfnLo + size - 1 < this.dma32bitPfn) this.cached32Node = n;
    else this.cachedNode = n;
    return n;
  }

  /** remove_iova: moves hints that pointed at or below the node up past it, then unlinks it. */
  private removeIova(n: number): void {
    const t = this.tree;
    const lo = t.lo[n] as number;
    const hi = t.hi[n] as number;
    const c32 = this.cached32Node;
    if (n === c32 || (hi < this.dma32bitPfn && lo >= (t.lo[c32] as number))) {
      this.cached32Node = t.next(n);
    }
    if (lo < this.dma32bitPfn) this.max32AllocSize = this.dma32bitPfn;
    if (lo >= (t.lo[this.cachedNode] as number)) this.cachedNode = t.next(n);
    t.erase(n);
  }
}
