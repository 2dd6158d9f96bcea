/**
 * The coherence checker's words: where a finding points (the three addresses of a span of a
 * tracked buffer), the message grammar of dma-debug (`[key=value]` details) and the one-line fixes.
 */
import type { Tracked } from './coherence-owners.js';
import { dirName } from './dma-debug-format.js';

/** The coherence findings' kinds (README "Checkers"). */
export type CoherenceKind =
  | 'stale-cpu-read'
  | 'stale-device-read'
  | 'lost-device-write'
  | 'cpu-access-device-owned'
  | 'device-access-unowned'
  | 'wc-not-drained'
  | 'missing-barrier';

/** One bit per kind, for a buffer's set of kinds already reported. */
export const KIND_BIT: Readonly<Record<CoherenceKind, number>> = {
  'stale-cpu-read': 1,
  'stale-device-read': 2,
  'lost-device-write': 4,
  'cpu-access-device-owned': 8,
  'device-access-unowned': 16,
  'wc-not-drained': 32,
  'missing-barrier': 64,
};

/** The three addresses and the size of what a finding is about; -1 where unknown. */
export interface Place {
  readonly vaddr: number;
  readonly phys: number;
  readonly bus: number;
  readonly size: number;
}

/** The place of [off, off + len) of `t` (offsets into its bus range). */
export function placeIn(t: Tracked, off: number, len: number): Place {
  const r = t.cpu.find((c) => off >= c.dmaOff && off < c.dmaOff + c.len) ?? t.cpu[0];
  return {
    vaddr: t.vaddr >= 0 ? t.vaddr + off : -1,
    phys: r === undefined ? -1 : r.phys + off - r.dmaOff,
    bus: t.dmaAddr + off,
    size: len,
  };
}

/** Offset into `t`'s bus range of CPU physical address `phys`, or -1 when outside it. */
export function offsetOf(t: Tracked, phys: number): number {
  for (const r of t.cpu)
    if (phys >= r.phys && phys < r.phys + r.len) return r.dmaOff + phys - r.phys;
  return -1;
}

/** `[key=value]` details of a place, in the dma-debug grammar. */
export function details(p: Place, format: (va: number) => string): string {
  const v = p.vaddr >= 0 ? `[virtual address=${format(p.vaddr)}] ` : '';
  const ph = p.phys >= 0 ? `[physical address=${hex(p.phys)}] ` : '';
  return `${v}${ph}[device address=${hex(p.bus)}] [size=${p.size} bytes]`;
}

export function hex(a: number): string {
  return '0x' + a.toString(16);
}

/** The sync call that hands `t` to `to`, as the driver would write it. */
export function syncCall(t: Tracked, to: 'cpu' | 'device'): string {
  const d = dirName(t.dir);
  if (t.type === 'sg') return `dma_sync_sg_for_${to}(dev, sgl, nents, ${d})`;
  return `dma_sync_single_for_${to}(dev, ${hex(t.dmaAddr)}, ${t.size}, ${d})`;
}

/** The fix for a CPU access to a buffer the device owns. */
export function fixCpuAccess(t: Tracked, load: boolean): string {
  return `call ${syncCall(t, 'cpu')} (or unmap) before ${load ? 'reading' : 'writing'} it`;
}

/** The fix for a device access the device does not own, by reason. */
export function fixDeviceAccess(t: Tracked | null, why: 'outside' | 'cpu' | 'direction'): string {
  if (t === null || why === 'outside')
    return 'map the buffer before the device may use it, and unmap it only after the device is done';
  if (why === 'cpu') return `call ${syncCall(t, 'device')} before the device uses it again`;
  return `map it with DMA_BIDIRECTIONAL (not ${dirName(t.dir)}) if the device both reads and writes it`;
}

export const FIX_WC =
  'call wmb() after filling write-combining memory, before the device may read it (writel() has it, writel_relaxed() does not)';
export const FIX_BARRIER =
  'call dma_wmb() between writing the data and publishing it, and ring the doorbell with writel(), not writel_relaxed()';

/** The fix for cache-line sharing: ARCH_DMA_MINALIGN bytes of its own for the DMA buffer. */
export function fixSharing(minAlign: number): string {
  return `give the DMA buffer cache lines of its own: align and pad it to ARCH_DMA_MINALIGN (${minAlign} bytes)`;
}
