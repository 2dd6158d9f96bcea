/**
 * kmalloc (mm/slab_common.c, mm/slub.c, include/linux/slab.h, Linux 6.12): the kmalloc caches
 * kmalloc-8 .. kmalloc-8k (with -96 and -192) in four kinds (normal, dma-, -rcl, -cg), the size
 * to cache mapping, ARCH_KMALLOC_MINALIGN, kmalloc_large for sizes above 8 KiB, kfree, ksize and
 * kmalloc_size_roundup.
 *
 * DOC: alignment. The smallest cache is ARCH_KMALLOC_MINALIGN bytes (KMALLOC_MIN_SIZE); smaller
 * requests round up to it. kmalloc-96 exists only when that minimum is at most 32 and
 * kmalloc-192 when it is at most 64 (create_kmalloc_caches, setup_kmalloc_cache_index_table).
 * Objects sit s->size apart from a page boundary, so a power-of-two cache is naturally aligned
 * and on arm64 (minimum 8, cache line 64, ARCH_DMA_MINALIGN 128) two kmalloc(32) buffers share a
 * cache line: the case dma_kmalloc_needs_bounce() exists for.
 * MODEL: no CONFIG_RANDOM_KMALLOC_CACHES (the kernel would pick one of 16 copies of each normal
 * cache by call site), no kmem_buckets, no cache merging; kfree's pointer checks are always on,
 * as with slab_debug=F, and reported every time (the kernel warns once for a non-slab page).
 */
import type { VirtAddr } from '../../lib/addr.js';
import { MemAttr } from '../../machine/memory/attr.js';
import type { KernelLog } from '../printk.js';
import type { Gfp } from './gfp.js';
import { __GFP_ACCOUNT, __GFP_COMP, __GFP_DMA, __GFP_RECLAIMABLE, __GFP_ZERO } from './gfp.js';
import { GFP_DMA, GFP_SLAB_BUG_MASK } from './gfp.js';
import type { PageAllocator } from './page-alloc.js';
import type { Pfn } from './page.js';
import type { CurrentTask } from './report.js';
import { slabBug, slabFix, SWAPPER, warnHeader } from './report.js';
import { KmemCache } from './slab.js';
import type { Slab } from './slab.js';
import { kmallocFixFlags, Slub } from './slub.js';
import type { KernelMemOps } from './types.js';
import { vaString } from './va.js';
import { MAX_PAGE_ORDER } from './zone.js';

/** KMALLOC_SHIFT_HIGH for SLUB: PAGE_SHIFT + 1, the largest cache is 8 KiB. */
const KMALLOC_SHIFT_HIGH = 13;
/** KMALLOC_MAX_CACHE_SIZE. */
export const KMALLOC_MAX_CACHE_SIZE = 1 << KMALLOC_SHIFT_HIGH;
/**
 * ZERO_SIZE_PTR: what kmalloc(0) returns; kfree and ksize accept it, dereferencing it faults.
 * MODEL: the kernel's value is the address 0x10, below the kernel's address window on 64-bit
 * profiles; here it is -16, a VirtAddr no mapping has. (A VirtAddr of 0 is a real address: on
 * arm64 PAGE_OFFSET is the bottom of the window, so the first RAM byte is VirtAddr 0.)
 */
export const ZERO_SIZE_PTR = -16 as VirtAddr;

/** enum kmalloc_cache_type, with the name prefix and suffix of each kind. */
export type KmallocType = 'normal' | 'dma' | 'reclaim' | 'cgroup';
const TYPE_NAMES: Readonly<Record<KmallocType, (size: string) => string>> = {
  normal: (s) => `kmalloc-${s}`,
  dma: (s) => `dma-kmalloc-${s}`,
  reclaim: (s) => `kmalloc-rcl-${s}`,
  cgroup: (s) => `kmalloc-cg-${s}`,
};

/** kmalloc's inputs: the page allocator and the kernel services it uses. */
export interface KmallocConfig {
  readonly pages: PageAllocator;
  /** The CPU side of kzalloc and __GFP_ZERO. */
  readonly mem: KernelMemOps;
  readonly log: KernelLog;
  /** smp_processor_id(). */
  readonly cpu: () => number;
  /** Present CPUs (slab orders depend on it); default 1. */
  readonly nCpus?: number;
  /** current, for messages; default swapper/0. */
  readonly current?: () => CurrentTask;
}

/** The kmalloc caches and kmalloc/kzalloc/kfree/ksize over SLUB. */
export class Kmalloc {
  /** KMALLOC_MIN_SIZE: ARCH_KMALLOC_MINALIGN or 8, whichever is larger. */
  readonly minSize: number;
  /** The caches by kind, index = kmalloc index (1 = 96, 2 = 192, n = 2^n bytes). */
  readonly caches: Readonly<Record<KmallocType, readonly (KmemCache | undefined)[]>>;
  /** The SLUB engine, with the live slabs. */
  readonly slub: Slub;
  /** The same caches indexed by kind number (normal, dma, reclaim, cgroup) for the fast path. */
  private readonly byType: readonly (readonly (KmemCache | undefined)[])[];
  /** kmalloc_size_index: cache index for sizes 1..192, by (size - 1) / 8. */
  private readonly sizeIndex: Uint8Array;
  private readonly pages: PageAllocator;
  private readonly mem: KernelMemOps;
  private readonly log: KernelLog;
  private readonly cpu: () => number;
  private readonly current: () => CurrentTask;
  private readonly hasZoneDma: boolean;

  /** Creates the kmalloc caches as create_kmalloc_caches does at boot. */
  constructor(cfg: KmallocConfig) {
    this.pages = cfg.pages;
    this.mem = cfg.mem;
    this.log = cfg.log;
    this.cpu = cfg.cpu;
    this.current = cfg.current ?? (() => SWAPPER);
    const profile = cfg.pages.profile;
    this.minSize = Math.max(8, profile.kmallocMinAlign);
    this.hasZoneDma = profile.zoneDmaLimit !== null;
    this.sizeIndex = sizeIndexTable(this.minSize);
    this.slub = new Slub({ pages: cfg.pages, log: cfg.log, cpu: cfg.cpu });
    const make = (type: KmallocType): (KmemCache | undefined)[] =>
      createKmallocCaches(
        type,
        this.minSize,
        profile.kmallocMinAlign,
        profile.pageSize,
        cfg.nCpus ?? 1,
      );
    this.caches = {
      normal: make('normal'),
      dma: this.hasZoneDma ? make('dma') : [],
      reclaim: make('reclaim'),
      cgroup: make('cgroup'),
    };
    this.byType = [this.caches.normal, this.caches.dma, this.caches.reclaim, this.caches.cgroup];
  }

  /**
   * kmalloc - allocates `size` bytes from the matching kmalloc cache, or whole pages above 8 KiB.
   * @param gfp GFP_KERNEL, GFP_ATOMIC, GFP_DMA (dma-kmalloc caches), __GFP_ZERO, ...
   * @returns the object's address, ZERO_SIZE_PTR for size 0, or null when out of memory
   * @linux mm/slub.c __do_kmalloc_node
   */
  kmalloc(size: number, gfp: Gfp): VirtAddr | null {
    // A negative size is a huge size_t to the kernel: kmalloc_large, which fails with a WARN.
    if (!(size >= 0 && size <= KMALLOC_MAX_CACHE_SIZE)) return this.kmallocLarge(size, gfp);
    if (size === 0) return ZERO_SIZE_PTR;
    const s = this.kmallocSlab(size, gfp);
    const va = this.slub.alloc(s, gfp);
    if (va < 0) return null;
    if ((gfp & __GFP_ZERO) !== 0) {
      const phys = this.pages.linearMap.virtToPhys(va as VirtAddr);
      this.mem.memset(phys, 0, s.objectSize, MemAttr.CACHEABLE);
    }
    return va as VirtAddr;
  }

  /** kzalloc - kmalloc with __GFP_ZERO: the whole object is zeroed through the CPU. */
  kzalloc(size: number, gfp: Gfp): VirtAddr | null {
    return this.kmalloc(size, gfp | __GFP_ZERO);
  }

  /**
   * kmalloc_slab - the cache kmalloc(size, gfp) uses.
   * @param size 1 .. KMALLOC_MAX_CACHE_SIZE
   * @linux mm/slab.h kmalloc_slab
   */
  kmallocSlab(size: number, gfp: Gfp): KmemCache {
    const index =
      size <= 192 ? (this.sizeIndex[(size - 1) >> 3] as number) : 32 - Math.clz32(size - 1);
    return (this.byType[this.kmallocType(gfp)] as readonly KmemCache[])[index] as KmemCache;
  }

  /**
   * kmalloc_large - sizes above KMALLOC_MAX_CACHE_SIZE: a compound page allocation of
   * get_order(size), page-aligned.
   * @returns the address, or null (order > MAX_PAGE_ORDER warns in the page allocator)
   * @linux mm/slub.c ___kmalloc_large_node
   */
  kmallocLarge(size: number, gfp: Gfp): VirtAddr | null {
    let flags = gfp;
    if ((flags & GFP_SLAB_BUG_MASK) !== 0) flags = kmallocFixFlags(this.log, flags);
    const page = this.pages.allocPages(flags | __GFP_COMP, this.pages.getOrder(size));
    return page === null ? null : this.pages.pageAddress(page);
  }

  /**
   * kfree - frees what kmalloc returned. A pointer that is not a live object is reported (SLUB's
   * "Invalid object pointer" / "Object already free", or free_large_kmalloc's WARN for a page
   * that is neither a slab nor compound) and nothing is freed.
   * @param ptr the object, null or ZERO_SIZE_PTR (both ignored)
   * @linux mm/slub.c kfree
   */
  kfree(ptr: VirtAddr | null): void {
    if (ptr === null || ptr === ZERO_SIZE_PTR) return;
    const page = this.pageOf(ptr);
    const id = page === null ? -2 : this.pages.folioSlab(page);
    const slab = id >= 0 ? this.slub.slab(id) : null;
    if (id === -1 && page !== null) {
      this.freeLargeKmalloc(page, ptr);
    } else if (slab === null) {
      this.badPointer(ptr);
    } else {
      const obj = this.checkObject(slab, ptr);
      if (obj >= 0) this.slub.free(slab, obj);
    }
  }

  /**
   * ksize - the usable size of an allocation: its cache's object size, or the whole compound
   * page for a large one.
   * @returns bytes; 0 for null, ZERO_SIZE_PTR or a pointer kmalloc did not return (WARN)
   * @linux mm/slab_common.c __ksize
   */
  ksize(ptr: VirtAddr | null): number {
    if (ptr === null || ptr === ZERO_SIZE_PTR) return 0;
    const page = this.pageOf(ptr);
    const id = page === null ? -2 : this.pages.folioSlab(page);
    if (id >= 0) return (this.slub.slab(id) as Slab).cache.objectSize;
    const head = page === null ? null : this.pages.compoundHead(page);
    const bytes = head === null ? 0 : this.pageSize << this.pages.compoundOrder(head);
    if (head === null || bytes <= KMALLOC_MAX_CACHE_SIZE || this.pages.pageAddress(head) !== ptr) {
      warnHeader(this.log, this.cpu(), this.current(), 'mm/slab_common.c __ksize');
      return 0;
    }
    return bytes;
  }

  /**
   * kmalloc_size_roundup - the size kmalloc(size) really gives.
   * @returns the cache's object size, the page-rounded size above 8 KiB, or `size` for 0 and
   *   sizes beyond KMALLOC_MAX_SIZE
   * @linux mm/slab_common.c kmalloc_size_roundup
   */
  kmallocSizeRoundup(size: number): number {
    if (size > 0 && size <= KMALLOC_MAX_CACHE_SIZE) return this.kmallocSlab(size, 0).objectSize;
    if (size > 0 && size <= this.pageSize << MAX_PAGE_ORDER)
      return this.pageSize << this.pages.getOrder(size);
    return size;
  }

  /** Every kmalloc cache, in creation order (normal, dma, reclaim, cgroup; small to large). */
  allCaches(): KmemCache[] {
    const out: KmemCache[] = [];
    for (const list of Object.values(this.caches))
      for (const s of list) if (s !== undefined) out.push(s);
    return out;
  }

  /**
   * kmalloc_type: dma- for __GFP_DMA (with a ZONE_DMA), -rcl for __GFP_RECLAIMABLE, -cg for
   * __GFP_ACCOUNT, in that order of precedence.
   * @returns the index into byType
   */
  private kmallocType(gfp: Gfp): number {
    if ((gfp & (__GFP_DMA | __GFP_RECLAIMABLE | __GFP_ACCOUNT)) === 0) return 0;
    if (this.hasZoneDma && (gfp & GFP_DMA) !== 0) return 1;
    return (gfp & __GFP_RECLAIMABLE) !== 0 ? 2 : (gfp & __GFP_ACCOUNT) !== 0 ? 3 : 0;
  }

  private get pageSize(): number {
    return this.pages.profile.pageSize;
  }

  /** virt_to_page of a pointer, or null when it is not a linear-map address. */
  private pageOf(ptr: VirtAddr): Pfn | null {
    const lm = this.pages.linearMap;
    return lm.contains(ptr) ? this.pages.physToPage(lm.virtToPhys(ptr)) : null;
  }

  /** free_large_kmalloc: drops the compound page; an order-0 page is kmalloc's misuse (WARN). */
  private freeLargeKmalloc(page: Pfn, ptr: VirtAddr): void {
    const head = this.pages.compoundHead(page);
    if (this.pages.compoundOrder(head) === 0) this.badPointer(ptr);
    else this.pages.putPage(head);
  }

  /**
   * free_consistency_checks: the pointer must be an object boundary of the slab and the object
   * must be allocated.
   * @returns the object's index, or -1 after reporting
   */
  private checkObject(slab: Slab, ptr: VirtAddr): number {
    // The page lookup put ptr inside the slab's pages, so the offset is a small integer.
    const off = (ptr - slab.va) | 0;
    const size = slab.cache.size;
    const obj = (off / size) | 0;
    if (off - obj * size !== 0 || obj >= slab.objects) {
      this.slabReport(slab, ptr, 'Invalid object pointer');
      return -1;
    }
    if (slab.isFree[obj] === 1) {
      this.slabReport(slab, ptr, 'Object already free');
      return -1;
    }
    return obj;
  }

  /** WARN_ON_ONCE(order == 0) in free_large_kmalloc, with its "object pointer" line. */
  private badPointer(ptr: VirtAddr): void {
    warnHeader(this.log, this.cpu(), this.current(), 'mm/slub.c free_large_kmalloc');
    this.log.warn(`object pointer: 0x${vaString(this.pages.profile, ptr)}`);
  }

  /** free_consistency_checks' report: the BUG banner and "FIX <cache>: Object at ... not freed". */
  private slabReport(slab: Slab, ptr: VirtAddr, what: string): void {
    const p = `0x${vaString(this.pages.profile, ptr)}`;
    slabBug(this.log, slab.cache.name, what === 'Invalid object pointer' ? `${what} ${p}` : what);
    slabFix(this.log, slab.cache.name, `Object at ${p} not freed`);
  }
}

/**
 * kmalloc_size_index after setup_kmalloc_cache_index_table: sizes below KMALLOC_MIN_SIZE use the
 * smallest cache; without kmalloc-96 (minimum 64 and up) 72..96 use kmalloc-128, without
 * kmalloc-192 (minimum 128 and up) 136..192 use kmalloc-256.
 */
function sizeIndexTable(minSize: number): Uint8Array {
  const t = Uint8Array.of(3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2);
  const shiftLow = Math.log2(minSize);
  for (let i = 8; i < minSize; i += 8) t[(i - 1) >> 3] = shiftLow;
  if (minSize >= 64) for (let i = 72; i <= 96; i += 8) t[(i - 1) >> 3] = 7;
  if (minSize >= 128) for (let i = 136; i <= 192; i += 8) t[(i - 1) >> 3] = 8;
  return t;
}

/**
 * create_kmalloc_caches for one kind: kmalloc-96 and -192 where the minimum allows, then the
 * powers of two from KMALLOC_MIN_SIZE to 8 KiB, aligned to ARCH_KMALLOC_MINALIGN or, for powers
 * of two, to their size (create_boot_cache).
 */
function createKmallocCaches(
  type: KmallocType,
  minSize: number,
  minAlign: number,
  pageSize: number,
  nCpus: number,
): (KmemCache | undefined)[] {
  const caches: (KmemCache | undefined)[] = [];
  const allocflags = type === 'dma' ? GFP_DMA : type === 'reclaim' ? __GFP_RECLAIMABLE : 0;
  const add = (index: number, size: number): void => {
    const name = TYPE_NAMES[type](size >= 1024 ? `${size / 1024}k` : String(size));
    // 6.12 raises only power-of-two caches to their size (later kernels: the largest
    // power-of-two divisor, e.g. 32 for kmalloc-96); placement is the same either way.
    const align = (size & (size - 1)) === 0 ? Math.max(minAlign, size) : minAlign;
    caches[index] = new KmemCache({ name, objectSize: size, align, allocflags }, pageSize, nCpus);
  };
  if (minSize <= 32) add(1, 96);
  if (minSize <= 64) add(2, 192);
  for (let i = Math.log2(minSize); i <= KMALLOC_SHIFT_HIGH; i++) add(i, 1 << i);
  return caches;
}
