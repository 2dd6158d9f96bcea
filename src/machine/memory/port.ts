/**
 * A byte-level path to physical memory. The IOMMU walks its tables through one (coherently, as
 * VT-d with ECAP.C set does); the kernel writes them through another (the CPU).
 */
export interface MemPort {
  read(phys: number, dst: Uint8Array, off: number, len: number): void;
  write(phys: number, src: Uint8Array, off: number, len: number): void;
}
