/** The BAR0 register storage: one 32-bit word per register offset (128 KiB window). */
import { PCI_ID } from './regs.js';

export class RegFile {
  private readonly words = new Uint32Array(PCI_ID.BAR0_SIZE / 4);

  get(off: number): number {
    return this.words[off >>> 2] ?? 0;
  }

  set(off: number, v: number): void {
    this.words[off >>> 2] = v >>> 0;
  }

  or(off: number, bits: number): void {
    this.set(off, this.get(off) | bits);
  }

  clear(): void {
    this.words.fill(0);
  }
}
