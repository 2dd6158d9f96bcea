/**
 * Physical RAM with sparse backing: host memory is spent only on chunks that were written.
 * Reads of a never-written chunk return zeros without allocating it. All copies are typed-array
 * block copies; nothing here works byte by byte.
 */

/** Backing granule: a host allocation unit, independent of the simulated PAGE_SIZE. */
export const CHUNK_SHIFT = 16;
export const CHUNK_SIZE = 1 << CHUNK_SHIFT;
/** `phys & CHUNK_MASK` is exact for any safe integer: `&` keeps the low 32 bits. */
const CHUNK_MASK = CHUNK_SIZE - 1;
/** Copies up to this many bytes go byte by byte: cheaper than creating a subarray view. */
const SMALL = 16;

export class SparseRam {
  private readonly chunks = new Map<number, Uint8Array>();
  /** One-entry lookup cache: most accesses hit the chunk of the previous one. */
  private lastIndex = -1;
  private lastChunk: Uint8Array | undefined;

  /** Bytes of host memory holding simulated RAM. */
  get residentBytes(): number {
    return this.chunks.size * CHUNK_SIZE;
  }

  /** Copies `len` bytes at `phys` into `dst[off..]`. Unwritten memory reads as zero. */
  read(phys: number, dst: Uint8Array, off: number, len: number): void {
    while (len > 0) {
      const inChunk = phys & CHUNK_MASK;
      const n = Math.min(len, CHUNK_SIZE - inChunk);
      const c = this.chunk(phys, false);
      if (c === undefined) dst.fill(0, off, off + n);
      else if (n <= SMALL) for (let i = 0; i < n; i++) dst[off + i] = c[inChunk + i] as number;
      else dst.set(c.subarray(inChunk, inChunk + n), off);
      phys += n;
      off += n;
      len -= n;
    }
  }

  /** Copies `len` bytes from `src[off..]` to `phys`. */
  write(phys: number, src: Uint8Array, off: number, len: number): void {
    while (len > 0) {
      const inChunk = phys & CHUNK_MASK;
      const n = Math.min(len, CHUNK_SIZE - inChunk);
      const c = this.chunk(phys, true) as Uint8Array;
      if (n <= SMALL) for (let i = 0; i < n; i++) c[inChunk + i] = src[off + i] as number;
      else c.set(src.subarray(off, off + n), inChunk);
      phys += n;
      off += n;
      len -= n;
    }
  }

  /** Fills `len` bytes at `phys` with `value`; filling untouched memory with 0 allocates nothing. */
  fill(phys: number, value: number, len: number): void {
    while (len > 0) {
      const inChunk = phys & CHUNK_MASK;
      const n = Math.min(len, CHUNK_SIZE - inChunk);
      const c = this.chunk(phys, value !== 0);
      if (c !== undefined) c.fill(value, inChunk, inChunk + n);
      phys += n;
      len -= n;
    }
  }

  /**
   * The backing array holding `phys` and the offset of `phys` in it, for block copies by callers
   * that walk memory themselves. `create` false returns undefined for never-written memory.
   */
  chunk(phys: number, create: boolean): Uint8Array | undefined {
    const idx = Math.floor(phys / CHUNK_SIZE);
    if (idx === this.lastIndex) return this.lastChunk;
    let c = this.chunks.get(idx);
    if (c === undefined) {
      if (!create) return undefined;
      c = new Uint8Array(CHUNK_SIZE);
      this.chunks.set(idx, c);
    }
    this.lastIndex = idx;
    this.lastChunk = c;
    return c;
  }
}
