/**
 * A byte-level path to physical memory. The IOMMU walks its tables through one (coherently, as
 * VT-d with ECAP.C set does); the kernel writes them through another (the CPU).
 */
export interface MemPort {
  read(phys: number, dst: Uint8Array, off: number, len: number): void;
  write(phys: number, src: Uint8Array, off: number, len: number): void;
  /**
   * Optional: `read` of the 8 bytes at `phys`, decoded as a little-endian 64-bit value into
   * out[0] (bits 0..31) and out[1] (bits 32..63). A port that has it must do exactly what `read`
   * of 8 bytes does; it only saves the byte copy.
   */
  readLe64?(phys: number, out: Uint32Array): void;
  /** Optional: `write` of `lo` (bits 0..31) and `hi` (bits 32..63) as 8 little-endian bytes. */
  writeLe64?(phys: number, lo: number, hi: number): void;
}
