/**
 * The SLUB allocation and free paths (mm/slub.c, Linux 6.12, CONFIG_SLUB_CPU_PARTIAL): each CPU
 * hands out objects of its active slab in freelist order; objects freed on that CPU to that slab
 * go back to the front of the CPU's freelist (LIFO). A free to any other slab goes to that slab's
 * own freelist; a slab that was full then joins the freeing CPU's partial list. When the active
 * slab runs dry the CPU takes, in turn, the objects freed to it meanwhile, its next partial slab,
 * slabs from the node's partial list, or a new slab from the page allocator.
 * MODEL: one node; no slab deactivation except when a slab runs out (no cpu flush or shrink);
 * no pfmemalloc slabs; allocation statistics are not kept.
 */
import { hex } from '../../lib/addr.js';
import { assert, SimulatorBug } from '../../lib/errors.js';
import type { KernelLog } from '../printk.js';
import type { Gfp } from './gfp.js';
import {
  __GFP_DIRECT_RECLAIM,
  __GFP_NOFAIL,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RECLAIM,
  GFP_SLAB_BUG_MASK,
  GFP_SLAB_PASS_MASK,
  gfpString,
} from './gfp.js';
import type { PageAllocator } from './page-alloc.js';
import type { KmemCacheCpu } from './slab.js';
import { Slab } from './slab.js';
import type { KmemCache } from './slab.js';

/** What SLUB needs: pages, the log, and the current CPU. */
export interface SlubDeps {
  readonly pages: PageAllocator;
  readonly log: KernelLog;
  /** smp_processor_id(). */
  readonly cpu: () => number;
}

/** The SLUB allocator for any number of caches: their slabs and the alloc/free paths. */
export class Slub {
  /** Live slabs by id (the id is kept in the first page's page->private). */
  private readonly slabs: (Slab | null)[] = [];
  private readonly freeIds: number[] = [];

  constructor(private readonly d: SlubDeps) {}

  /** The slab with id `id`, or null. */
  slab(id: number): Slab | null {
    return this.slabs[id] ?? null;
  }

  /**
   * slab_alloc_node - one object of cache `s`.
   * @returns its linear-map address, or -1 when no slab could be allocated (warned unless
   *   __GFP_NOWARN)
   * @linux mm/slub.c slab_alloc_node
   */
  alloc(s: KmemCache, gfp: Gfp): number {
    const c = s.cpu[this.d.cpu()];
    if (c === undefined) throw new SimulatorBug(`${s.name}: CPU ${this.d.cpu()} is not online`);
    const slab = c.slab;
    const obj = c.freelist;
    if (slab === null || obj < 0) return this.slowAlloc(s, c, gfp);
    c.freelist = slab.nextFree[obj] as number;
    slab.isFree[obj] = 0;
    return slab.va + obj * s.size;
  }

  /**
   * do_slab_free - returns object `obj` of `slab`: to the CPU freelist if it is this CPU's active
   * slab, else through __slab_free. The caller has checked that the object is allocated.
   * @linux mm/slub.c do_slab_free
   */
  free(slab: Slab, obj: number): void {
    const c = slab.cache.cpu[this.d.cpu()] as KmemCacheCpu;
    slab.isFree[obj] = 1;
    if (slab === c.slab) {
      slab.nextFree[obj] = c.freelist;
      c.freelist = obj;
      return;
    }
    this.slowFree(slab, obj);
  }

  /** ___slab_alloc: refills the CPU's freelist from the sources in the kernel's order. */
  private slowAlloc(s: KmemCache, c: KmemCacheCpu, gfp: Gfp): number {
    if (c.slab !== null) {
      const fl = takeFreelist(c.slab, false);
      if (fl >= 0) return loadFreelist(c, c.slab, fl);
      c.slab = null;
    }
    const partial = c.partial;
    if (partial !== null) {
      c.partial = partial.cpuNext;
      partial.cpuNext = null;
      c.slab = partial;
      const fl = takeFreelist(partial, false);
      assert(fl >= 0, () => `${s.name}: a CPU partial slab without free objects`);
      return loadFreelist(c, partial, fl);
    }
    const slab = this.getPartialNode(s) ?? this.newSlab(s, gfp);
    if (slab === null) {
      this.slabOutOfMemory(s, gfp);
      return -1;
    }
    c.slab = slab;
    return loadFreelist(c, slab, takeFreelist(slab, true));
  }

  /**
   * get_partial_node - takes the first slab off the node's partial list for the CPU, and more
   * onto its partial list until it holds half of cpu_partial_slabs.
   */
  private getPartialNode(s: KmemCache): Slab | null {
    let partial: Slab | null = null;
    let moved = 0;
    for (let slab = s.partialHead; slab !== null;) {
      const next = slab.nodeNext;
      removePartial(s, slab);
      if (partial === null) {
        partial = slab;
      } else {
        this.putCpuPartial(s, slab, false);
        if (++moved > s.cpuPartialSlabs >> 1) break;
      }
      slab = next;
    }
    return partial;
  }

  /**
   * __slab_free - a free to a slab that is not this CPU's active slab.
   * @linux mm/slub.c __slab_free
   */
  private slowFree(slab: Slab, obj: number): void {
    const s = slab.cache;
    const prior = slab.freelist;
    slab.nextFree[obj] = prior;
    slab.freelist = obj;
    slab.inuse--;
    if (slab.frozen) return;
    if (prior < 0) {
      this.putCpuPartial(s, slab, true);
      return;
    }
    if (!slab.onNodePartial) return;
    if (slab.inuse === 0 && s.nrPartial >= s.minPartial) {
      removePartial(s, slab);
      this.discardSlab(slab);
    }
  }

  /**
   * put_cpu_partial - puts `slab` first on this CPU's partial list; with `drain`, a full list is
   * first moved to the node (__put_partials).
   */
  private putCpuPartial(s: KmemCache, slab: Slab, drain: boolean): void {
    const c = s.cpu[this.d.cpu()] as KmemCacheCpu;
    let old = c.partial;
    let toPut: Slab | null = null;
    if (old !== null && drain && old.cpuSlabs >= s.cpuPartialSlabs) {
      toPut = old;
      old = null;
    }
    slab.cpuSlabs = (old?.cpuSlabs ?? 0) + 1;
    slab.cpuNext = old;
    c.partial = slab;
    if (toPut !== null) this.putPartials(s, toPut);
  }

  /**
   * __put_partials - moves a CPU partial chain to the node list tail; empty slabs beyond
   * min_partial are freed (in reverse order of the chain, as the kernel collects them).
   */
  private putPartials(s: KmemCache, chain: Slab): void {
    const discard: Slab[] = [];
    for (let slab: Slab | null = chain; slab !== null;) {
      const next: Slab | null = slab.cpuNext;
      slab.cpuNext = null;
      if (slab.inuse === 0 && s.nrPartial >= s.minPartial) discard.push(slab);
      else addPartialTail(s, slab);
      slab = next;
    }
    for (let k = discard.length - 1; k >= 0; k--) this.discardSlab(discard[k] as Slab);
  }

  /**
   * new_slab / allocate_slab - pages for a slab: the preferred order without reclaim or warning,
   * else the minimum order with the caller's flags. Flags kmalloc may not pass (__GFP_DMA32,
   * __GFP_HIGHMEM) are removed with kmalloc_fix_flags' warning.
   * @returns the slab, its freelist in address order, or null
   */
  private newSlab(s: KmemCache, gfp: Gfp): Slab | null {
    let flags = gfp;
    if ((flags & GFP_SLAB_BUG_MASK) !== 0) flags = kmallocFixFlags(this.d.log, flags);
    flags = (flags & GFP_SLAB_PASS_MASK) | s.allocflags;
    let first = (flags | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_NOFAIL;
    if ((first & __GFP_DIRECT_RECLAIM) !== 0 && s.order > s.minOrder) {
      first = (first | __GFP_NOMEMALLOC) & ~__GFP_RECLAIM;
    }
    const pa = this.d.pages;
    let order = s.order;
    let page = pa.allocPages(first, order);
    if (page === null) {
      order = s.minOrder;
      page = pa.allocPages(flags, order);
      if (page === null) return null;
    }
    const id = this.freeIds.pop() ?? this.slabs.length;
    const va = pa.pageAddress(page);
    assert(va !== null, () => `${s.name}: slab page ${hex(page)} has no linear address`);
    const slab = new Slab(id, s, page, order, pa.pageToPhys(page), va);
    this.slabs[id] = slab;
    pa.setPageSlab(page, id);
    s.nrSlabs++;
    s.totalObjects += slab.objects;
    return slab;
  }

  /** discard_slab: gives the slab's pages back (__free_pages). */
  private discardSlab(slab: Slab): void {
    const s = slab.cache;
    s.nrSlabs--;
    s.totalObjects -= slab.objects;
    this.d.pages.clearPageSlab(slab.page);
    this.d.pages.freePagesPage(slab.page, slab.order);
    this.slabs[slab.id] = null;
    this.freeIds.push(slab.id);
  }

  /** slab_out_of_memory: the rate-limited report when no slab could be had. */
  private slabOutOfMemory(s: KmemCache, gfp: Gfp): void {
    if ((gfp & __GFP_NOWARN) !== 0) return;
    const log = this.d.log;
    const free = partialFreeObjects(s);
    const shown = log.ratelimited(
      'slab_out_of_memory',
      'warn',
      `SLUB: Unable to allocate memory on node -1, gfp=${hex(gfp)}(${gfpString(gfp)})`,
    );
    if (!shown) return;
    log.warn(
      `  cache: ${s.name}, object size: ${s.objectSize}, buffer size: ${s.size}, ` +
        `default order: ${s.order}, min order: ${s.minOrder}`,
    );
    log.warn(`  node 0: slabs: ${s.nrSlabs}, objs: ${s.totalObjects}, free: ${free}`);
  }
}

/**
 * get_freelist / freeze_slab: takes the slab's whole freelist for a CPU; every object counts
 * as in use from now on.
 * @param freeze make the slab frozen regardless (a slab just taken from a list or made)
 * @returns the first object, or -1
 */
function takeFreelist(slab: Slab, freeze: boolean): number {
  const fl = slab.freelist;
  slab.freelist = -1;
  slab.inuse = slab.objects;
  slab.frozen = freeze || fl >= 0;
  return fl;
}

/** load_freelist: hands out `fl`, the rest of its chain becomes the CPU freelist. */
function loadFreelist(c: KmemCacheCpu, slab: Slab, fl: number): number {
  c.freelist = slab.nextFree[fl] as number;
  slab.isFree[fl] = 0;
  return slab.va + fl * slab.cache.size;
}

/** add_partial(n, slab, DEACTIVATE_TO_TAIL). */
function addPartialTail(s: KmemCache, slab: Slab): void {
  slab.nodePrev = s.partialTail;
  slab.nodeNext = null;
  if (s.partialTail !== null) s.partialTail.nodeNext = slab;
  else s.partialHead = slab;
  s.partialTail = slab;
  slab.onNodePartial = true;
  s.nrPartial++;
}

/** remove_partial. */
function removePartial(s: KmemCache, slab: Slab): void {
  if (slab.nodePrev !== null) slab.nodePrev.nodeNext = slab.nodeNext;
  else s.partialHead = slab.nodeNext;
  if (slab.nodeNext !== null) slab.nodeNext.nodePrev = slab.nodePrev;
  else s.partialTail = slab.nodePrev;
  slab.nodePrev = null;
  slab.nodeNext = null;
  slab.onNodePartial = false;
  s.nrPartial--;
}

/** count_partial(n, count_free): free objects on the node's partial slabs. */
export function partialFreeObjects(s: KmemCache): number {
  let n = 0;
  for (let slab = s.partialHead; slab !== null; slab = slab.nodeNext)
    n += slab.objects - slab.inuse;
  return n;
}

/**
 * kmalloc_fix_flags - drops __GFP_DMA32 and __GFP_HIGHMEM, which slab pages may not have.
 * @returns the fixed flags
 * @linux mm/slub.c kmalloc_fix_flags
 */
export function kmallocFixFlags(log: KernelLog, gfp: Gfp): Gfp {
  const invalid = gfp & GFP_SLAB_BUG_MASK;
  const fixed = gfp & ~GFP_SLAB_BUG_MASK;
  log.warn(
    `Unexpected gfp: ${hex(invalid)} (${gfpString(invalid)}). ` +
      `Fixing up to gfp: ${hex(fixed)} (${gfpString(fixed)}). Fix your code!`,
  );
  return fixed;
}
