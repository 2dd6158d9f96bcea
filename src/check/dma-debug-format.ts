/**
 * How dma-debug prints (kernel/dma/debug.c, lib/vsprintf.c, Linux 6.12): the name tables
 * (type2name, dir2name), `0x%016llx` bus addresses, `%pa` physical addresses and the debugfs
 * `dump` line.
 */
import type { DmaAddr, PhysAddr } from '../lib/addr.js';
import type { DmaDataDirection } from '../kernel/dma/direction.js';
import type { DebugEntry } from './dma-debug-entries.js';
import { MAP_ERR_NAMES } from './dma-debug-entries.js';

/** dir2name. */
const DIR_NAMES = ['DMA_BIDIRECTIONAL', 'DMA_TO_DEVICE', 'DMA_FROM_DEVICE', 'DMA_NONE'] as const;

/** dir2name[dir]. */
export function dirName(dir: DmaDataDirection): string {
  return DIR_NAMES[dir];
}

/** `0x%016llx` of a bus address; DMA_MAPPING_ERROR (-1 in the model) prints as all ones. */
export function devAddr(a: DmaAddr | number): string {
  return '0x' + (a < 0 ? 'f'.repeat(16) : a.toString(16).padStart(16, '0'));
}

/** `%llx`: no prefix, no padding. */
export function llx(a: DmaAddr | number): string {
  return a < 0 ? 'f'.repeat(16) : a.toString(16);
}

/**
 * `%pa`: a phys_addr_t in hex with 0x, zero-padded to its width (8 bytes where physical
 * addresses pass 32 bits, else 4).
 */
export function pa(p: PhysAddr | number, physBytes: number): string {
  return '0x' + p.toString(16).padStart(physBytes * 2, '0');
}

/**
 * One line of the debugfs `dump` file (dump_show), without the newline:
 * `driver device type idx N P=%pa D=%llx L=%llx cln=%pa direction map-error-state`.
 */
export function dumpLine(idx: number, e: DebugEntry, cln: number, physBytes: number): string {
  return (
    `${e.dev.driverString} ${e.dev.name} ${e.type} idx ${idx} P=${pa(e.phys, physBytes)} ` +
    `D=${llx(e.dmaAddr)} L=${llx(e.size)} cln=${pa(cln, physBytes)} ${dirName(e.dir)} ` +
    MAP_ERR_NAMES[e.mapErr]
  );
}
