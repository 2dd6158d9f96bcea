/**
 * Which lines the cache holds, one bit per line of physical memory (a snoop filter with line
 * precision): device snoops, cleans and invalidates visit only resident lines of their range
 * instead of searching the cache's sets for every line. Bits live in one Uint32Array per 2 MiB
 * region that ever held a line, found through a map with a one-entry cache, since consecutive
 * fills, drops and walks mostly fall in one region.
 */
import { SimulatorBug } from '../../lib/errors.js';

/** Bytes of physical memory per region of bits. */
const REGION_SHIFT = 21;

export class LinePresence {
  private readonly regions = new Map<number, Uint32Array>();
  /** log2(lines per region). */
  private readonly regionLineShift: number;
  private readonly regionLineMask: number;
  /** First line of the region last looked up, and its bits. */
  private lastStart = -1;
  private lastBits: Uint32Array | undefined;
  /** Resident lines in all. */
  lines = 0;

  constructor(lineShift: number) {
    this.regionLineShift = REGION_SHIFT - lineShift;
    this.regionLineMask = (1 << this.regionLineShift) - 1;
  }

  private bits(line: number, create: boolean): Uint32Array | undefined {
    const start = this.lastStart;
    if (line >= start && line <= start + this.regionLineMask && start >= 0) return this.lastBits;
    const r = Math.floor(line / (this.regionLineMask + 1));
    let b = this.regions.get(r);
    if (b === undefined) {
      if (!create) return undefined;
      b = new Uint32Array((this.regionLineMask + 1) >>> 5);
      this.regions.set(r, b);
    }
    this.lastStart = r * (this.regionLineMask + 1);
    this.lastBits = b;
    return b;
  }

  has(line: number): boolean {
    const b = this.bits(line, false);
    const i = line & this.regionLineMask;
    return b !== undefined && ((b[i >>> 5] as number) & (1 << (i & 31))) !== 0;
  }

  add(line: number): void {
    const b = this.bits(line, true) as Uint32Array;
    const i = line & this.regionLineMask;
    b[i >>> 5] = (b[i >>> 5] as number) | (1 << (i & 31));
    this.lines++;
  }

  remove(line: number): void {
    const b = this.bits(line, false);
    const i = line & this.regionLineMask;
    const bit = 1 << (i & 31);
    if (b === undefined || ((b[i >>> 5] as number) & bit) === 0)
      throw new SimulatorBug(`cache presence bits lost line ${line}`);
    b[i >>> 5] = (b[i >>> 5] as number) & ~bit;
    this.lines--;
  }

  /** The first resident line in [line, end), or `end` when there is none. */
  next(line: number, end: number): number {
    let l = line;
    while (l < end) {
      const b = this.bits(l, false);
      const i = l & this.regionLineMask;
      if (b === undefined) {
        l += this.regionLineMask + 1 - i; // the whole region is empty
        continue;
      }
      const w = ((b[i >>> 5] as number) >>> (i & 31)) << (i & 31);
      if (w !== 0) {
        const found = l - (i & 31) + (31 - Math.clz32(w & -w));
        return found < end ? found : end;
      }
      l += 32 - (i & 31);
    }
    return end;
  }
}
