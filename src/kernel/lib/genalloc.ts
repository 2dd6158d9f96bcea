/**
 * A general-purpose special-memory allocator (lib/genalloc.c, Linux 6.12) as the atomic DMA pools
 * use it: chunks of address space, each with a bitmap of 2^minAllocOrder-byte units, searched
 * newest chunk first with gen_pool_first_fit_order_align. Other algorithms, owners and NUMA
 * nodes are left out.
 */
import { SimulatorBug } from '../../lib/errors.js';
import type { Bitmap } from './bitmap.js';
import { bitmapClear, bitmapFindNextZeroAreaOff, bitmapSet, bitmapZalloc } from './bitmap.js';

/** struct gen_pool_chunk: one added range. */
interface GenPoolChunk {
  /** start_addr: the first (virtual) address the pool hands out from this chunk. */
  readonly startAddr: number;
  /** phys_addr: the physical address of startAddr. */
  readonly physAddr: number;
  /** Bytes. */
  readonly size: number;
  /** avail: bytes not handed out; written by alloc and free. */
  avail: number;
  readonly bits: Bitmap;
}

export class GenPool {
  /** Newest first: gen_pool_add puts a chunk at the head of the list. */
  private readonly chunks: GenPoolChunk[] = [];

  /**
   * gen_pool_create with gen_pool_first_fit_order_align.
   * @param minAllocOrder log2 of the allocation unit (PAGE_SHIFT for the DMA pools)
   */
  constructor(readonly minAllocOrder: number) {}

  /**
   * gen_pool_add_virt - adds [virt, virt + size) backed by physical memory from `phys`.
   * @linux lib/genalloc.c gen_pool_add_owner
   */
  addVirt(virt: number, phys: number, size: number): void {
    const nbits = size / 2 ** this.minAllocOrder;
    if (!Number.isInteger(nbits) || nbits <= 0)
      throw new SimulatorBug(`gen_pool_add_virt: size ${size} is not a whole number of units`);
    this.chunks.unshift({
      startAddr: virt,
      physAddr: phys,
      size,
      avail: size,
      bits: bitmapZalloc(nbits),
    });
  }

  /**
   * gen_pool_alloc - the first chunk with room, at the first free run aligned to the run's size
   * rounded up to a power of two (gen_pool_first_fit_order_align).
   * @returns the address, or 0 when no chunk has room (the kernel's failure value)
   * @linux lib/genalloc.c gen_pool_alloc_algo_owner
   */
  alloc(size: number): number {
    if (size <= 0) return 0;
    const nbits = Math.ceil(size / 2 ** this.minAllocOrder);
    const alignMask = 2 ** Math.ceil(Math.log2(nbits)) - 1;
    for (const c of this.chunks) {
      if (size > c.avail) continue;
      const bit = bitmapFindNextZeroAreaOff(c.bits, c.bits.length, 0, nbits, alignMask);
      if (bit < 0) continue;
      bitmapSet(c.bits, bit, nbits);
      c.avail -= nbits * 2 ** this.minAllocOrder;
      return c.startAddr + bit * 2 ** this.minAllocOrder;
    }
    return 0;
  }

  /**
   * gen_pool_free - gives [addr, addr + size) back.
   * @throws SimulatorBug for an address no chunk holds (the kernel BUG()s)
   * @linux lib/genalloc.c gen_pool_free_owner
   */
  free(addr: number, size: number): void {
    const c = this.chunkOf(addr, 1);
    if (c === undefined) throw new SimulatorBug(`gen_pool_free: ${addr} is in no chunk`);
    const nbits = Math.ceil(size / 2 ** this.minAllocOrder);
    bitmapClear(c.bits, (addr - c.startAddr) / 2 ** this.minAllocOrder, nbits);
    c.avail += nbits * 2 ** this.minAllocOrder;
  }

  /** gen_pool_has_addr: [addr, addr + size) lies inside one chunk. */
  hasAddr(addr: number, size: number): boolean {
    return this.chunkOf(addr, size) !== undefined;
  }

  /** gen_pool_virt_to_phys. @returns -1 for an address outside the pool */
  virtToPhys(addr: number): number {
    const c = this.chunkOf(addr, 1);
    return c === undefined ? -1 : c.physAddr + (addr - c.startAddr);
  }

  /** gen_pool_avail: free bytes over all chunks. */
  get avail(): number {
    return this.chunks.reduce((s, c) => s + c.avail, 0);
  }

  /** gen_pool_size: bytes over all chunks. */
  get size(): number {
    return this.chunks.reduce((s, c) => s + c.size, 0);
  }

  private chunkOf(addr: number, size: number): GenPoolChunk | undefined {
    return this.chunks.find((c) => addr >= c.startAddr && addr + size <= c.startAddr + c.size);
  }
}
