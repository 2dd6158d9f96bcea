/**
 * DOC: the vmalloc area (mm/vmalloc.c): virtual ranges handed out lowest-address-first with a
 * guard page after each (alloc_vmap_area), and the kernel page-table entries that map them page
 * by page to physical pages with a memory attribute. vmalloc, vmap, ioremap, memremap and
 * VMAP_STACK stacks all live here; is_vmalloc_addr tells its addresses from linear-map ones.
 *
 * MODEL: the free-space search is a scan over the sorted busy areas (the kernel keeps an
 * augmented rb-tree; both find the lowest fit); lazy TLB purging of freed areas is not modelled:
 * a freed range is reusable at once.
 */
import type { PhysAddr, VirtAddr } from '../../lib/addr.js';
import { hex } from '../../lib/addr.js';
import { ConfigError, SimulatorBug } from '../../lib/errors.js';
import { MemAttr } from '../../machine/memory/attr.js';

export type VmKind = 'vmalloc' | 'vmap' | 'ioremap' | 'memremap' | 'stack';

/** One mapped range (struct vm_struct). */
export interface VmArea {
  /** First byte (page-aligned). */
  readonly addr: VirtAddr;
  /** Bytes mapped, without the guard page. */
  readonly size: number;
  readonly kind: VmKind;
  readonly attr: MemAttr;
  /** Physical address of each mapped page, in order. */
  readonly pages: readonly PhysAddr[];
  /** Who asked for it (the caller shown by /proc/vmallocinfo). */
  readonly caller: string;
}

export class VmallocSpace {
  /** Busy ranges sorted by address; each occupies size + guard. */
  private areas: VmArea[] = [];
  /** Kernel page table of the area: virtual page number → its area. */
  private readonly pte = new Map<number, VmArea>();
  /** The area the last translate found. */
  private last: VmArea | undefined;
  /** Of the last translate: the attribute of the mapping. */
  attr: MemAttr = MemAttr.CACHEABLE;

  constructor(
    /** VirtAddr of VMALLOC_START and VMALLOC_END. */
    readonly start: VirtAddr,
    readonly end: VirtAddr,
    private readonly pageSize: number,
  ) {}

  /** True for an address inside [VMALLOC_START, VMALLOC_END): is_vmalloc_addr. */
  isVmallocAddr(va: VirtAddr): boolean {
    return va >= this.start && va < this.end;
  }

  /**
   * Maps `pages` at the lowest free address aligned to `align` (a power of two, >= page size).
   * @returns the mapped area, or null when the vmalloc space has no room (the caller warns)
   */
  map(
    pages: readonly PhysAddr[],
    attr: MemAttr,
    kind: VmKind,
    caller: string,
    align = this.pageSize,
  ): VmArea | null {
    if (pages.length === 0) throw new ConfigError(`${caller}: nothing to map (0 pages)`);
    const size = pages.length * this.pageSize;
    const addr = this.findFree(size + this.pageSize, align);
    if (addr < 0) return null;
    const area: VmArea = { addr: addr as VirtAddr, size, kind, attr, pages, caller };
    this.areas = [...this.areas, area].sort((a, b) => a.addr - b.addr);
    const vpn0 = addr / this.pageSize;
    for (let i = 0; i < pages.length; i++) this.pte.set(vpn0 + i, area);
    return area;
  }

  /** Removes the area starting at `va` and returns it; undefined if no area starts there. */
  unmap(va: VirtAddr): VmArea | undefined {
    const area = this.areas.find((a) => a.addr === va);
    if (area === undefined) return undefined;
    this.areas = this.areas.filter((a) => a !== area);
    const vpn0 = area.addr / this.pageSize;
    for (let i = 0; i < area.pages.length; i++) this.pte.delete(vpn0 + i);
    if (this.last === area) this.last = undefined;
    return area;
  }

  /** The area containing `va` (find_vm_area), if any. */
  find(va: VirtAddr): VmArea | undefined {
    return this.pte.get(Math.floor(va / this.pageSize));
  }

  /** Physical address `va` maps to, with `attr` set; -1 when unmapped (a page fault). */
  translate(va: VirtAddr): number {
    // A driver's MMIO accessors hit the same ioremap area over and over (a one-entry TLB).
    let area = this.last;
    if (area === undefined || va < area.addr || va >= area.addr + area.size) {
      area = this.pte.get(Math.floor(va / this.pageSize));
      if (area === undefined) return -1;
      this.last = area;
    }
    const off = va - area.addr;
    const page = area.pages[Math.floor(off / this.pageSize)];
    if (page === undefined) throw new SimulatorBug(`vmalloc pte for ${hex(va)} outside its area`);
    this.attr = area.attr;
    return page + (off % this.pageSize);
  }

  /** The mapped areas, lowest first. */
  get list(): readonly VmArea[] {
    return this.areas;
  }

  /** Lowest address >= start, aligned, with `span` free bytes before the next area; -1 if none. */
  private findFree(span: number, align: number): number {
    let candidate = alignUp(this.start, align);
    for (const a of this.areas) {
      if (candidate + span <= a.addr) break;
      candidate = Math.max(candidate, alignUp(a.addr + a.size + this.pageSize, align));
    }
    return candidate + span <= this.end ? candidate : -1;
  }
}

function alignUp(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}
