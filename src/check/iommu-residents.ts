/**
 * What lives in a range of physical memory, as the kernel's allocators can tell: the objects of a
 * SLUB slab (kmalloc caches; live or free, and a slab's unused tail), pages of the page allocator
 * (allocated, free, reserved) and memory no zone manages. The IOMMU exposure report names these
 * as what a device can reach besides its own buffer.
 */
import type { VirtAddr } from '../lib/addr.js';
import { hex } from '../lib/addr.js';
import type { Kernel } from '../kernel/kernel.js';
import type { Pfn } from '../kernel/mm/page.js';
import type { Slab } from '../kernel/mm/slab.js';

export type ResidentKind =
  | 'slab-object'
  | 'free-slab-object'
  | 'slab-unused'
  | 'page'
  | 'free-page'
  | 'reserved-page'
  | 'unmanaged';

/** One thing found in the range asked about. */
export interface Resident {
  readonly kind: ResidentKind;
  /** What it is: "kmalloc-64 object 1", "page 0x1234 (order-0 allocation)", ... */
  readonly name: string;
  /** Where the object or page run starts, and its size in bytes. */
  readonly phys: number;
  readonly size: number;
  /** Its linear-map address as the kernel prints it, where it has one. */
  readonly vaddr?: string;
  /** The part of it inside the range asked about. */
  readonly from: number;
  readonly len: number;
  /** Allocated (or of unknown use), rather than free. */
  readonly live: boolean;
}

/** Everything in [phys, phys + len), in address order; page runs of one kind are merged. */
export function residentsOf(k: Kernel, phys: number, len: number): Resident[] {
  const pageSize = k.machine.profile.pageSize;
  const out: Resident[] = [];
  const end = phys + len;
  for (let a = phys; a < end;) {
    const pageEnd = Math.min(end, (Math.floor(a / pageSize) + 1) * pageSize);
    const pfn = k.pages.physToPage(a);
    const id = k.pages.folioSlab(pfn);
    const slab = id >= 0 ? k.kmalloc.slub.slab(id) : null;
    if (slab !== null) slabResidents(k, slab, a, pageEnd, out);
    else addPage(out, pageResident(k, pfn, a, pageEnd - a), pageSize);
    a = pageEnd;
  }
  return out;
}

/** The objects (and unused tail) of `slab` overlapping [a, b). */
function slabResidents(k: Kernel, slab: Slab, a: number, b: number, out: Resident[]): void {
  const { size, objectSize, name } = slab.cache;
  const first = Math.max(0, Math.floor((a - slab.phys) / size));
  for (let i = first; i < slab.objects; i++) {
    const start = slab.phys + i * size;
    if (start >= b) return;
    const from = Math.max(a, start);
    const to = Math.min(b, start + objectSize);
    if (to <= from) continue;
    const live = slab.isFree[i] === 0;
    out.push({
      kind: live ? 'slab-object' : 'free-slab-object',
      name: `${name} object ${i}`,
      phys: start,
      size: objectSize,
      vaddr: k.vm.format((slab.va + i * size) as VirtAddr),
      from,
      len: to - from,
      live,
    });
  }
  const tail = slab.phys + slab.objects * size;
  const from = Math.max(a, tail);
  if (from < b) {
    const slabEnd = slab.phys + (k.machine.profile.pageSize << slab.order);
    const what = `${name} slab ${hex(slab.phys)}: unused tail`;
    out.push({
      kind: 'slab-unused',
      name: what,
      phys: tail,
      size: slabEnd - tail,
      from,
      len: b - from,
      live: false,
    });
  }
}

/** A page the slab allocator does not own, by the page allocator's descriptor. */
function pageResident(k: Kernel, pfn: Pfn, from: number, len: number): Resident {
  const pageSize = k.machine.profile.pageSize;
  const phys = pfn * pageSize;
  const info = k.pages.page(pfn);
  const base = { phys, size: pageSize, from, len };
  const va = k.linear.isLowmem(phys) ? { vaddr: k.vm.format(k.linear.physToVirt(phys)) } : {};
  if (info === null)
    return {
      kind: 'unmanaged',
      name: `${hex(phys)}: not managed by the page allocator`,
      ...base,
      live: true,
    };
  if (info.flags.includes('reserved'))
    return {
      kind: 'reserved-page',
      name: `page ${hex(pfn)} (reserved)`,
      ...base,
      ...va,
      live: true,
    };
  const head = k.pages.compoundHead(pfn);
  if (k.pages.pageCount(pfn) === 0)
    return { kind: 'free-page', name: `page ${hex(pfn)} (free)`, ...base, ...va, live: false };
  const order = k.pages.compoundOrder(head);
  const of = head === pfn ? '' : ` of ${hex(head)}`;
  return {
    kind: 'page',
    name: `page ${hex(pfn)}${of} (order-${order} allocation)`,
    ...base,
    ...va,
    live: true,
  };
}

/** Appends `r`, merged into the previous one when both are free, reserved or unmanaged pages. */
function addPage(out: Resident[], r: Resident, pageSize: number): void {
  const last = out[out.length - 1];
  const mergeable = r.kind === 'free-page' || r.kind === 'reserved-page' || r.kind === 'unmanaged';
  if (last?.kind !== r.kind || !mergeable || last.phys + last.size !== r.phys) {
    out.push(r);
    return;
  }
  const size = last.size + r.size;
  const pages = `${hex(last.phys / pageSize)}..${hex((last.phys + size) / pageSize - 1)}`;
  const name =
    r.kind === 'unmanaged'
      ? `${hex(last.phys)}+${hex(size)}: not managed by the page allocator`
      : `pages ${pages} (${r.kind === 'free-page' ? 'free' : 'reserved'})`;
  out[out.length - 1] = { ...last, name, size, len: last.len + r.len };
}
