/** What the memory-management code needs from the CPU side, as interfaces (kernel/arch implements). */
import type { MemAttr } from '../../machine/memory/attr.js';

/**
 * The kernel's own accesses to memory by physical address, as memset/memcpy through a mapping
 * with attribute `attr` on the current CPU (so they go through the data cache when cacheable).
 */
export interface KernelMemOps {
  memset(phys: number, value: number, len: number, attr: MemAttr): void;
  read(phys: number, dst: Uint8Array, off: number, len: number, attr: MemAttr): void;
  write(phys: number, src: Uint8Array, off: number, len: number, attr: MemAttr): void;
}
