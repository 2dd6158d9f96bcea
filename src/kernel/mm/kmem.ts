/**
 * The kernel's virtual memory as code sees it through a pointer: a virtual address resolves
 * through the linear map, the kernel image mapping or the vmalloc page table to a physical
 * address and a memory attribute, and the access is made by the current CPU with that attribute
 * (so cached, uncached and write-combining mappings of one page behave as they do on hardware).
 * A pointer that maps nothing is an oops, as dereferencing it would be.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../lib/addr.js';
import { MemAttr } from '../../machine/memory/attr.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { VaLayout } from '../arch/layout.js';
import type { LinearMap } from './linear-map.js';
import type { KernelMemOps } from './types.js';
import { vaString } from './va.js';
import type { VmallocSpace } from './vmalloc.js';

/** An access through a pointer that maps nothing: the kernel would oops. */
export class KernelOops extends Error {
  override readonly name = 'KernelOops';
}

export class KernelVm {
  /** Of the last resolve(): the attribute of the mapping. */
  private attr: MemAttr = MemAttr.CACHEABLE;
  /** VirtAddr and size of the kernel image mapping when it is not in the linear map. */
  private readonly imageVa: number;
  private readonly scratch = new Uint8Array(8);
  private readonly view = new DataView(this.scratch.buffer);
  private readonly le: boolean;

  constructor(
    private readonly profile: ArchProfile,
    readonly linear: LinearMap,
    readonly vmalloc: VmallocSpace,
    readonly layout: VaLayout,
    /** Physical address of the kernel image. */
    readonly imagePhys: PhysAddr,
    private readonly mem: KernelMemOps,
  ) {
    this.imageVa = layout.imageVaddr === null ? -1 : Number(layout.imageVaddr - profile.vaBase);
    this.le = !profile.bigEndian;
  }

  /** The full address as the kernel prints it with %px. */
  format(va: VirtAddr): string {
    return vaString(this.profile, va);
  }

  /** Virtual address of the kernel image's first byte (_text). */
  get imageStart(): VirtAddr {
    return (this.imageVa >= 0 ? this.imageVa : this.linear.physToVirt(this.imagePhys)) as VirtAddr;
  }

  /** True for an address inside the kernel image (text, data, bss): not DMA-able. */
  isKernelImage(va: VirtAddr): boolean {
    return va >= this.imageStart && va < this.imageStart + this.layout.imageSize;
  }

  /** is_vmalloc_addr. */
  isVmallocAddr(va: VirtAddr): boolean {
    return this.vmalloc.isVmallocAddr(va);
  }

  /** virt_addr_valid: a linear-map address backed by RAM. */
  virtAddrValid(va: VirtAddr): boolean {
    return this.linear.contains(va);
  }

  /**
   * The physical address behind `va` (and the mapping's attribute in `lastAttr`), or -1 if
   * nothing maps it. Linear map first: it is where nearly every DMA buffer lives.
   */
  resolve(va: VirtAddr): number {
    if (this.linear.contains(va)) {
      this.attr = MemAttr.CACHEABLE;
      return this.linear.virtToPhys(va);
    }
    if (this.imageVa >= 0 && va >= this.imageVa && va < this.imageVa + this.layout.imageSize) {
      this.attr = MemAttr.CACHEABLE;
      return this.imagePhys + (va - this.imageVa);
    }
    const phys = this.vmalloc.translate(va);
    this.attr = this.vmalloc.attr;
    return phys;
  }

  /** Attribute of the mapping found by the last resolve(). */
  get lastAttr(): MemAttr {
    return this.attr;
  }

  /** slow_virt_to_phys for any mapped address; an oops for an unmapped one. */
  virtToPhys(va: VirtAddr): PhysAddr {
    const p = this.resolve(va);
    if (p < 0) this.oops(va, 'read');
    return p as PhysAddr;
  }

  /**
   * virt_to_bus (legacy, seeds): the physical address plus the profile's bus offset. Right only
   * under the direct mapping; behind an IOMMU or with bounce buffering the device needs the
   * address the DMA API returns, and the DMA layer reports the misuse.
   */
  virtToBus(va: VirtAddr): DmaAddr {
    return (this.virtToPhys(va) + this.profile.busOffset) as DmaAddr;
  }

  /** bus_to_virt (legacy): the inverse, into the linear map. */
  busToVirt(bus: DmaAddr): VirtAddr {
    return this.linear.physToVirt(bus - this.profile.busOffset);
  }

  /** memcpy from kernel memory at `va` into dst[off..off+len). */
  read(va: VirtAddr, dst: Uint8Array, off: number, len: number): void {
    this.eachPiece(va, len, 'read', (phys, attr, at, n) => {
      this.mem.read(phys, dst, off + at, n, attr);
    });
  }

  /** memcpy src[off..off+len) into kernel memory at `va`. */
  write(va: VirtAddr, src: Uint8Array, off: number, len: number): void {
    this.eachPiece(va, len, 'write', (phys, attr, at, n) => {
      this.mem.write(phys, src, off + at, n, attr);
    });
  }

  /** memset. */
  memset(va: VirtAddr, value: number, len: number): void {
    this.eachPiece(va, len, 'write', (phys, attr, _at, n) => {
      this.mem.memset(phys, value, n, attr);
    });
  }

  readU8(va: VirtAddr): number {
    this.read(va, this.scratch, 0, 1);
    return this.scratch[0] as number;
  }

  readU16(va: VirtAddr): number {
    this.read(va, this.scratch, 0, 2);
    return this.view.getUint16(0, this.le);
  }

  readU32(va: VirtAddr): number {
    this.read(va, this.scratch, 0, 4);
    return this.view.getUint32(0, this.le);
  }

  /** 64-bit load (exact; bigint). */
  readU64(va: VirtAddr): bigint {
    this.read(va, this.scratch, 0, 8);
    return this.view.getBigUint64(0, this.le);
  }

  writeU8(va: VirtAddr, v: number): void {
    this.scratch[0] = v;
    this.write(va, this.scratch, 0, 1);
  }

  writeU16(va: VirtAddr, v: number): void {
    this.view.setUint16(0, v, this.le);
    this.write(va, this.scratch, 0, 2);
  }

  writeU32(va: VirtAddr, v: number): void {
    this.view.setUint32(0, v, this.le);
    this.write(va, this.scratch, 0, 4);
  }

  writeU64(va: VirtAddr, v: bigint): void {
    this.view.setBigUint64(0, v, this.le);
    this.write(va, this.scratch, 0, 8);
  }

  /** Calls fn per physically contiguous piece: linear and image pieces are one, vmalloc per page. */
  private eachPiece(
    va: VirtAddr,
    len: number,
    op: string,
    fn: (phys: number, attr: MemAttr, at: number, n: number) => void,
  ): void {
    const page = this.profile.pageSize;
    for (let at = 0; at < len;) {
      const cur = (va + at) as VirtAddr;
      const phys = this.resolve(cur);
      if (phys < 0) this.oops(cur, op);
      const attr = this.attr;
      const inLinear = attr === MemAttr.CACHEABLE && !this.vmalloc.isVmallocAddr(cur);
      const n = inLinear ? len - at : Math.min(len - at, page - (cur % page));
      fn(phys, attr, at, n);
      at += n;
    }
  }

  private oops(va: VirtAddr, op: string): never {
    throw new KernelOops(
      `BUG: unable to handle page fault for address: ${this.format(va)} (${op}: no kernel mapping)`,
    );
  }
}
