/**
 * SLUB's data (mm/slab.h struct slab, struct kmem_cache, struct kmem_cache_cpu; mm/slub.c cache
 * geometry: calculate_order, set_cpu_partial, set_min_partial; Linux 6.12) for caches without
 * debugging, red zones or a constructor: objects are laid out back to back from the slab's first
 * byte, s->size apart, and a new slab's freelist runs in address order.
 * MODEL: CONFIG_SLAB_FREELIST_RANDOM (on in Debian) would shuffle that order; the model keeps the
 * kernel's non-random order. The free pointer lives in `nextFree`, not in the object's bytes.
 */
import type { Gfp } from './gfp.js';
import { __GFP_COMP } from './gfp.js';
import type { Pfn } from './page.js';
import { getOrder } from './page-frames.js';
import { PAGE_ALLOC_COSTLY_ORDER } from './pcp.js';
import { MAX_PAGE_ORDER } from './zone.js';

/** MAX_OBJS_PER_PAGE: slab->objects is 15 bits wide. */
const MAX_OBJS_PER_PAGE = 32767;
/** MIN_PARTIAL and MAX_PARTIAL: bounds of s->min_partial. */
const MIN_PARTIAL = 5;
const MAX_PARTIAL = 10;

/** One slab: 2^order pages cut into objects (struct slab). */
export class Slab {
  /** Index in the allocator's slab table, stored in the first page's page->private. */
  readonly id: number;
  readonly cache: KmemCache;
  /** First page. */
  readonly page: Pfn;
  readonly order: number;
  /** Physical and linear-map address of the first object. */
  readonly phys: number;
  readonly va: number;
  /** slab->objects. */
  readonly objects: number;
  /** The free pointer of each free object: index of the next free object, -1 at the end. */
  readonly nextFree: Int16Array;
  /** 1 while the object is free (on slab->freelist or a CPU freelist); for kfree's checks. */
  readonly isFree: Uint8Array;
  /** slab->freelist: first object freed back to this slab (not via a CPU freelist), -1 none. */
  freelist = -1;
  /** slab->inuse: objects not on slab->freelist (a CPU freelist's objects count as in use). */
  inuse = 0;
  /** slab->frozen: this is some CPU's active slab. */
  frozen = false;
  /** On the node's partial list (slab_test_node_partial), with its neighbours there. */
  onNodePartial = false;
  nodePrev: Slab | null = null;
  nodeNext: Slab | null = null;
  /** slab->next and slab->slabs of the per-CPU partial list (slabs: length from here). */
  cpuNext: Slab | null = null;
  cpuSlabs = 0;

  constructor(id: number, cache: KmemCache, page: Pfn, order: number, phys: number, va: number) {
    this.id = id;
    this.cache = cache;
    this.page = page;
    this.order = order;
    this.phys = phys;
    this.va = va;
    this.objects = order === cache.order ? cache.objects : cache.minObjects;
    this.nextFree = new Int16Array(this.objects);
    this.isFree = new Uint8Array(this.objects).fill(1);
    for (let k = 0; k < this.objects; k++) this.nextFree[k] = k + 1 < this.objects ? k + 1 : -1;
    this.freelist = 0;
  }
}

/** struct kmem_cache_cpu: one CPU's view of a cache. */
export class KmemCacheCpu {
  /** c->freelist: next object of the active slab to hand out, -1 none. */
  freelist = -1;
  /** c->slab: the active slab, or null. */
  slab: Slab | null = null;
  /** c->partial: head of this CPU's partial slabs. */
  partial: Slab | null = null;
}

/** What a cache is made of, before set-up (kmem_cache_args plus the kmalloc flags). */
export interface CacheSpec {
  readonly name: string;
  /** s->object_size. */
  readonly objectSize: number;
  /** Alignment asked for (ARCH_KMALLOC_MINALIGN, raised for kmalloc power-of-two sizes). */
  readonly align: number;
  /** s->allocflags before the order's __GFP_COMP: GFP_DMA for dma-kmalloc, ... */
  readonly allocflags: Gfp;
}

/** struct kmem_cache: one cache's geometry, per-CPU state and node partial list. */
export class KmemCache {
  readonly name: string;
  readonly objectSize: number;
  /** s->size: bytes from one object to the next. */
  readonly size: number;
  readonly align: number;
  /** oo_order(s->oo) and oo_objects(s->oo): the preferred slab. */
  readonly order: number;
  readonly objects: number;
  /** s->min: the fallback slab when the preferred order cannot be had. */
  readonly minOrder: number;
  readonly minObjects: number;
  readonly allocflags: Gfp;
  /** s->cpu_partial_slabs: per-CPU partial list length that triggers a drain. */
  readonly cpuPartialSlabs: number;
  /** s->min_partial: empty slabs kept on the node list before slabs are freed. */
  readonly minPartial: number;
  /** Per-CPU state, index = CPU. */
  readonly cpu: readonly KmemCacheCpu[];
  /** The node's partial list (n->partial), head and tail, and n->nr_partial. */
  partialHead: Slab | null = null;
  partialTail: Slab | null = null;
  nrPartial = 0;
  /** Slabs and objects of the cache (n->nr_slabs, n->total_objects). */
  nrSlabs = 0;
  totalObjects = 0;

  /**
   * kmem_cache_open's sizing for a cache without debugging or constructor.
   * @param nCpus present CPUs (calculate_order's min_objects grows with them)
   */
  constructor(spec: CacheSpec, pageSize: number, nCpus: number) {
    this.name = spec.name;
    this.objectSize = spec.objectSize;
    this.align = Math.max(spec.align, 8);
    this.size = Math.ceil(spec.objectSize / this.align) * this.align;
    this.order = calculateOrder(this.size, pageSize, nCpus);
    this.objects = Math.floor((pageSize << this.order) / this.size);
    this.minOrder = getOrder(this.size, pageSize);
    this.minObjects = Math.floor((pageSize << this.minOrder) / this.size);
    this.allocflags = spec.allocflags | (this.order > 0 ? __GFP_COMP : 0);
    this.cpuPartialSlabs = Math.ceil((cpuPartialObjects(this.size, pageSize) * 2) / this.objects);
    this.minPartial = Math.min(
      MAX_PARTIAL,
      Math.max(MIN_PARTIAL, Math.floor(Math.log2(this.size) / 2)),
    );
    this.cpu = Array.from({ length: nCpus }, () => new KmemCacheCpu());
  }
}

/**
 * calculate_order - the smallest order from the one holding min_objects up to
 * PAGE_ALLOC_COSTLY_ORDER that wastes at most 1/16 of the slab, then 1/8, then 1/4.
 * @param size s->size
 * @param nCpus num_present_cpus (min_objects = 4 * (fls(nr_cpus) + 1))
 * @returns the slab order
 * @linux mm/slub.c calculate_order
 */
export function calculateOrder(size: number, pageSize: number, nCpus: number): number {
  const objectsAt = (order: number): number => Math.floor((pageSize << order) / size);
  const fls = 32 - Math.clz32(nCpus);
  const maxObjects = Math.max(objectsAt(PAGE_ALLOC_COSTLY_ORDER), 1);
  const minObjects = Math.min(4 * (fls + 1), maxObjects);
  const minOrder = getOrder(minObjects * size, pageSize);
  if (objectsAt(minOrder) > MAX_OBJS_PER_PAGE)
    return getOrder(size * MAX_OBJS_PER_PAGE, pageSize) - 1;
  for (let fraction = 16; fraction > 1; fraction /= 2) {
    const order = calcSlabOrder(size, pageSize, minOrder, fraction);
    if (order <= PAGE_ALLOC_COSTLY_ORDER) return order;
  }
  const order = getOrder(size, pageSize);
  return Math.min(order, MAX_PAGE_ORDER);
}

/** calc_slab_order: the first order from minOrder whose leftover is at most 1/fraction. */
function calcSlabOrder(size: number, pageSize: number, minOrder: number, fraction: number): number {
  let order = minOrder;
  for (; order <= PAGE_ALLOC_COSTLY_ORDER; order++) {
    const slabSize = pageSize << order;
    if (slabSize % size <= slabSize / fraction) break;
  }
  return order;
}

/** set_cpu_partial: objects a CPU may keep on partial slabs, by object size. */
function cpuPartialObjects(size: number, pageSize: number): number {
  if (size >= pageSize) return 6;
  if (size >= 1024) return 24;
  if (size >= 256) return 52;
  return 120;
}
