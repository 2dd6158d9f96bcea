/**
 * A per-CPU write-combining buffer (x86 WC memory type; Arm Normal non-cacheable with gathering):
 * a few line-sized entries that collect stores until a barrier, an eviction for a new line, or an
 * uncached access drains them. Until then RAM, and so every device, still holds the old bytes.
 */
import type { SparseRam } from '../memory/ram.js';

export class WcBuffer {
  /** Line number held by each entry, or -1. */
  private readonly lines: Float64Array;
  /** Which bytes of each entry were written (1 per byte). */
  private readonly mask: Uint8Array;
  private readonly data: Uint8Array;
  /** Allocation order, to evict the oldest entry when a new line needs one. */
  private readonly age: Float64Array;
  private tick = 0;
  private used = 0;

  constructor(
    readonly entries: number,
    private readonly lineSize: number,
    private readonly ram: SparseRam,
    /** Called for each run of bytes that reaches RAM. */
    private readonly onDrain: (phys: number, len: number) => void,
  ) {
    this.lines = new Float64Array(entries).fill(-1);
    this.mask = new Uint8Array(entries * lineSize);
    this.data = new Uint8Array(entries * lineSize);
    this.age = new Float64Array(entries);
  }

  get isEmpty(): boolean {
    return this.used === 0;
  }

  /** Buffers a store of src[off..off+len) at phys. */
  store(phys: number, src: Uint8Array, off: number, len: number): void {
    while (len > 0) {
      const line = Math.floor(phys / this.lineSize);
      const inLine = phys - line * this.lineSize;
      const n = Math.min(len, this.lineSize - inLine);
      const e = this.entryFor(line);
      const at = e * this.lineSize + inLine;
      this.data.set(src.subarray(off, off + n), at);
      this.mask.fill(1, at, at + n);
      phys += n;
      off += n;
      len -= n;
    }
  }

  /** Overlays buffered bytes onto dst (a load by the same CPU sees its own stores). */
  forward(phys: number, dst: Uint8Array, off: number, len: number): void {
    if (this.used === 0) return;
    for (let e = 0; e < this.entries; e++) {
      const line = this.lines[e] as number;
      if (line < 0) continue;
      const lineAddr = line * this.lineSize;
      const a = Math.max(phys, lineAddr);
      const b = Math.min(phys + len, lineAddr + this.lineSize);
      for (let p = a; p < b; p++) {
        const i = e * this.lineSize + (p - lineAddr);
        if (this.mask[i] === 1) dst[off + (p - phys)] = this.data[i] as number;
      }
    }
  }

  /** Writes every entry to RAM, oldest first. */
  drainAll(): void {
    while (this.used > 0) this.drain(this.oldest());
  }

  private entryFor(line: number): number {
    let free = -1;
    for (let e = 0; e < this.entries; e++) {
      if (this.lines[e] === line) return e;
      if (free < 0 && this.lines[e] === -1) free = e;
    }
    if (free < 0) {
      free = this.oldest();
      this.drain(free);
    }
    this.lines[free] = line;
    this.age[free] = ++this.tick;
    this.used++;
    return free;
  }

  private oldest(): number {
    let o = -1;
    for (let e = 0; e < this.entries; e++) {
      if (this.lines[e] === -1) continue;
      if (o < 0 || (this.age[e] as number) < (this.age[o] as number)) o = e;
    }
    return o;
  }

  /** Writes the written bytes of entry e to RAM as contiguous runs, then frees it. */
  private drain(e: number): void {
    const lineAddr = (this.lines[e] as number) * this.lineSize;
    const base = e * this.lineSize;
    for (let i = 0; i < this.lineSize;) {
      if (this.mask[base + i] === 0) {
        i++;
        continue;
      }
      let j = i;
      while (j < this.lineSize && this.mask[base + j] === 1) j++;
      this.ram.write(lineAddr + i, this.data, base + i, j - i);
      this.onDrain(lineAddr + i, j - i);
      i = j;
    }
    this.mask.fill(0, base, base + this.lineSize);
    this.lines[e] = -1;
    this.used--;
  }
}
