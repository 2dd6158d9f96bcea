/**
 * The slab caches as data for the visualizer, and /proc/slabinfo (mm/slab_common.c
 * cache_show, mm/slub.c get_slabinfo, Linux 6.12). As SLUB counts them, objects on CPU slabs and
 * CPU partial slabs are "active"; only free objects on the node's partial list are not.
 */
import type { Pfn } from './page.js';
import type { KmemCache, Slab } from './slab.js';
import { partialFreeObjects } from './slub.js';

/** One cache as the visualizer shows it. */
export interface SlabCacheInfo {
  readonly name: string;
  readonly objectSize: number;
  /** Bytes from one object to the next (s->size). */
  readonly size: number;
  readonly align: number;
  /** Preferred slab order and its objects and pages. */
  readonly order: number;
  readonly objectsPerSlab: number;
  readonly pagesPerSlab: number;
  readonly nrSlabs: number;
  readonly numObjs: number;
  readonly activeObjs: number;
  /** Per CPU: the active slab's first page (null if none) and the partial slabs' first pages. */
  readonly cpus: readonly {
    readonly slab: Pfn | null;
    readonly freelistLength: number;
    readonly partial: readonly Pfn[];
  }[];
  /** First pages of the node's partial slabs, list order. */
  readonly nodePartial: readonly Pfn[];
}

/** The cache's state as data. */
export function slabCacheInfo(s: KmemCache): SlabCacheInfo {
  const nodePartial: Pfn[] = [];
  for (let slab = s.partialHead; slab !== null; slab = slab.nodeNext) nodePartial.push(slab.page);
  return {
    name: s.name,
    objectSize: s.objectSize,
    size: s.size,
    align: s.align,
    order: s.order,
    objectsPerSlab: s.objects,
    pagesPerSlab: 1 << s.order,
    nrSlabs: s.nrSlabs,
    numObjs: s.totalObjects,
    activeObjs: s.totalObjects - partialFreeObjects(s),
    cpus: s.cpu.map((c) => ({
      slab: c.slab?.page ?? null,
      freelistLength: c.slab === null ? 0 : chainLength(c.slab, c.freelist),
      partial: cpuPartials(c.partial),
    })),
    nodePartial,
  };
}

function chainLength(slab: Slab, first: number): number {
  let n = 0;
  for (let k = first; k >= 0; k = slab.nextFree[k] as number) n++;
  return n;
}

function cpuPartials(first: Slab | null): Pfn[] {
  const out: Pfn[] = [];
  for (let slab = first; slab !== null; slab = slab.cpuNext) out.push(slab.page);
  return out;
}

/**
 * /proc/slabinfo for the given caches, newest cache first as the kernel lists them.
 * @linux mm/slab_common.c cache_show
 */
export function slabinfo(caches: readonly KmemCache[]): string {
  let out =
    'slabinfo - version: 2.1\n' +
    '# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>' +
    ' : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n';
  for (const s of [...caches].reverse()) {
    const i = slabCacheInfo(s);
    out +=
      `${i.name.padEnd(17)} ${pad(i.activeObjs, 6)} ${pad(i.numObjs, 6)} ${pad(i.size, 6)} ` +
      `${pad(i.objectsPerSlab, 4)} ${pad(i.pagesPerSlab, 4)} : tunables    0    0    0 : slabdata ` +
      `${pad(i.nrSlabs, 6)} ${pad(i.nrSlabs, 6)}      0\n`;
  }
  return out;
}

const pad = (n: number, w: number): string => String(n).padStart(w);
