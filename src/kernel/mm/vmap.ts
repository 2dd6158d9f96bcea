/**
 * The kernel calls that hand out vmalloc-area mappings: vmalloc/vzalloc/vfree (mm/vmalloc.c),
 * vmap/vunmap of given pages with a chosen attribute (what the DMA layer uses to remap coherent
 * buffers for non-coherent devices and to stitch IOMMU page arrays into one range), and
 * ioremap/ioremap_wc/iounmap, memremap/memunmap (kernel/iomem.c, arch/x86/mm/ioremap.c).
 */
import type { PhysAddr, VirtAddr } from '../../lib/addr.js';
import { hex } from '../../lib/addr.js';
import { MemAttr } from '../../machine/memory/attr.js';
import type { KernelLog } from '../printk.js';
import type { KernelVm } from './kmem.js';
import type { VmallocSpace } from './vmalloc.js';

/** Where vmalloc gets its pages: order-0 pages of the page allocator. */
export interface PageSource {
  /** One zeroed-or-not page (GFP_KERNEL | __GFP_HIGHMEM as vmalloc asks), or null. */
  allocPage(zero: boolean): PhysAddr | null;
  freePage(phys: PhysAddr): void;
}

/** memremap flags (include/linux/io.h). */
export const MEMREMAP_WB = 1 << 0;
export const MEMREMAP_WT = 1 << 1;
export const MEMREMAP_WC = 1 << 2;

export interface VmapDeps {
  readonly space: VmallocSpace;
  readonly vm: KernelVm;
  readonly pages: PageSource;
  readonly log: KernelLog;
  readonly pageSize: number;
  /** True if [phys, phys+size) overlaps RAM the kernel manages (memblock memory). */
  readonly isKernelRam: (phys: number, size: number) => boolean;
}

export class Vmap {
  constructor(private readonly d: VmapDeps) {}

  /** vmalloc: virtually contiguous memory from scattered pages. @returns null when out of memory. */
  vmalloc(size: number, zero = false): VirtAddr | null {
    const n = Math.ceil(size / this.d.pageSize);
    if (n <= 0) return null;
    const pages: PhysAddr[] = [];
    for (let i = 0; i < n; i++) {
      const p = this.d.pages.allocPage(zero);
      if (p === null) {
        this.release(pages);
        this.d.log.warn(
          `vmalloc error: size ${n * this.d.pageSize}, failed to allocate pages, mode:0xcc0(GFP_KERNEL)`,
        );
        return null;
      }
      pages.push(p);
    }
    const area = this.d.space.map(pages, MemAttr.CACHEABLE, 'vmalloc', 'vmalloc');
    if (area === null) {
      this.release(pages);
      this.d.log.warn(`vmalloc error: size ${n * this.d.pageSize}, vm_struct allocation failed`);
      return null;
    }
    return area.addr;
  }

  /** vzalloc. */
  vzalloc(size: number): VirtAddr | null {
    return this.vmalloc(size, true);
  }

  /** vfree: unmaps and frees the pages; vfree(NULL) is a no-op. */
  vfree(va: VirtAddr | null): void {
    if (va === null) return;
    const area = this.d.space.find(va);
    if (area?.addr !== va || area.kind !== 'vmalloc') {
      this.d.log.err(`Trying to vfree() nonexistent vm area (${this.d.vm.format(va)})`);
      return;
    }
    this.d.space.unmap(va);
    this.release(area.pages);
  }

  /** vmap: maps the given pages contiguously with `attr` (VM_MAP; pgprot from the caller). */
  vmap(pages: readonly PhysAddr[], attr: MemAttr, caller = 'vmap'): VirtAddr | null {
    return this.d.space.map(pages, attr, 'vmap', caller)?.addr ?? null;
  }

  /** vunmap: removes a vmap mapping; the pages stay the caller's. */
  vunmap(va: VirtAddr): void {
    const area = this.d.space.find(va);
    if (area?.addr !== va || area.kind !== 'vmap') {
      this.d.log.err(`Trying to vunmap() nonexistent vm area (${this.d.vm.format(va)})`);
      return;
    }
    this.d.space.unmap(va);
  }

  /** ioremap: an uncached mapping of device memory or of RAM the kernel does not manage. */
  ioremap(phys: number, size: number): VirtAddr | null {
    return this.remapIo(phys, size, MemAttr.UNCACHED, 'ioremap');
  }

  /** ioremap_wc: the same, write-combining. */
  ioremapWc(phys: number, size: number): VirtAddr | null {
    return this.remapIo(phys, size, MemAttr.WC, 'ioremap_wc');
  }

  /** iounmap. */
  iounmap(va: VirtAddr): void {
    this.unmapKind(va, 'ioremap', 'iounmap');
  }

  /**
   * memremap: a normal-memory mapping. MEMREMAP_WB of RAM in the linear map returns the linear
   * address (try_ram_remap); otherwise a new mapping with the asked attribute.
   * MODEL: MEMREMAP_WT is mapped uncached (write-through is not modelled).
   * @returns null for bad flags or no space
   */
  memremap(phys: number, size: number, flags: number): VirtAddr | null {
    if (
      (flags & MEMREMAP_WB) !== 0 &&
      this.d.vm.linear.isLowmem(phys) &&
      this.d.isKernelRam(phys, size)
    ) {
      return this.d.vm.linear.physToVirt(phys);
    }
    const attr =
      (flags & MEMREMAP_WB) !== 0
        ? MemAttr.CACHEABLE
        : (flags & MEMREMAP_WC) !== 0
          ? MemAttr.WC
          : (flags & MEMREMAP_WT) !== 0
            ? MemAttr.UNCACHED
            : -1;
    if (attr === -1) {
      this.d.log.warn(`memremap attempted with unknown flags 0x${flags.toString(16)}`);
      return null;
    }
    return this.mapRange(phys, size, attr, 'memremap', 'memremap');
  }

  /** memunmap: undoes memremap (nothing to do for a linear-map address). */
  memunmap(va: VirtAddr): void {
    if (this.d.vm.linear.contains(va)) return;
    this.unmapKind(va, 'memremap', 'memunmap');
  }

  private remapIo(phys: number, size: number, attr: MemAttr, caller: string): VirtAddr | null {
    if (this.d.isKernelRam(phys, size)) {
      // arch/x86/mm/ioremap.c refuses RAM the page allocator owns.
      this.d.log.warn(`ioremap on RAM at ${hex(phys)} - ${hex(phys + size - 1)}`);
      return null;
    }
    return this.mapRange(phys, size, attr, 'ioremap', caller);
  }

  private mapRange(
    phys: number,
    size: number,
    attr: MemAttr,
    kind: 'ioremap' | 'memremap',
    caller: string,
  ): VirtAddr | null {
    const ps = this.d.pageSize;
    const first = Math.floor(phys / ps) * ps;
    const n = Math.ceil((phys + size - first) / ps);
    const pages = Array.from({ length: n }, (_, i) => (first + i * ps) as PhysAddr);
    const area = this.d.space.map(pages, attr, kind, caller);
    return area === null ? null : ((area.addr + (phys - first)) as VirtAddr);
  }

  private unmapKind(va: VirtAddr, kind: 'ioremap' | 'memremap', fn: string): void {
    const area = this.d.space.find(va);
    if (area?.kind !== kind) {
      this.d.log.warn(`${fn}: bad address ${this.d.vm.format(va)}`);
      return;
    }
    this.d.space.unmap(area.addr);
  }

  private release(pages: readonly PhysAddr[]): void {
    for (const p of pages) this.d.pages.freePage(p);
  }
}
