/**
 * The checks of a trace audit, with dma-debug's wording (kernel/dma/debug.c check_unmap,
 * check_sync, Linux 6.12; the live checker's src/check/dma-debug-checks.ts): each compares a call
 * with the live mapping it names and reports every difference.
 */
import type { TraceU64 } from '../kernel/dma/trace-format.js';
import type { Live, Span } from './audit-live.js';
import { dirText } from './audit-live.js';
import { addrDiff, devAddr16 } from './audit-stats.js';
import type { AuditEntryType } from './audit-types.js';

/** What a finding names beyond its kind and message. */
export interface Where {
  readonly bus?: TraceU64 | null;
  readonly phys?: TraceU64 | null;
  readonly virt?: string | null;
  readonly size?: number | null;
  readonly mappedAt?: number | null;
}

/** Records one finding of the call being checked. */
export type Report = (kind: string, message: string, w: Where) => void;

const DMA_TO_DEVICE = 1;
const DMA_FROM_DEVICE = 2;

function dma(dir: number): string {
  return `DMA_${dirText(dir)}`;
}

/** check_unmap: an unmap or free of `e` (a mapping the trace saw made). */
export function checkUnmap(
  report: Report,
  e: Live,
  type: AuditEntryType,
  bus: TraceU64,
  size: number,
  dir: number,
  virt: string | null,
): void {
  const badSize = e.size !== null && size !== e.size;
  const badVirt = virt !== null && e.virt !== null && virt !== e.virt;
  const badDir = e.dir !== null && dir !== e.dir;
  if (!badSize && type === e.type && !badVirt && !badDir) return;
  const at = `[device address=${devAddr16(bus)}]`;
  const sized = `${at} [size=${size} bytes]`;
  const w = { bus, size, virt, phys: e.phys, mappedAt: e.line };
  if (e.size !== null && size !== e.size)
    report('unmap-wrong-size', `device driver frees DMA memory with different size ${at} [map size=${e.size} bytes] [unmap size=${size} bytes]`, w); // prettier-ignore
  if (type !== e.type)
    report('unmap-wrong-function', `device driver frees DMA memory with wrong function ${sized} [mapped as ${e.type}] [unmapped as ${type}]`, w); // prettier-ignore
  else if (virt !== null && e.virt !== null && virt !== e.virt)
    report('free-wrong-cpu-address', `device driver frees DMA memory with different CPU address ${sized} [cpu alloc address=${e.virt}] [cpu free address=${virt}]`, w); // prettier-ignore
  if (e.dir !== null && dir !== e.dir)
    report('unmap-wrong-direction', `device driver frees DMA memory with different direction ${sized} [mapped with ${dma(e.dir)}] [unmapped with ${dma(dir)}]`, w); // prettier-ignore
}

/** check_unmap of a dma_unmap_sg of `e`, which names `nents` entries. */
export function checkUnmapSg(
  report: Report,
  e: Live,
  key: TraceU64,
  nents: number,
  dir: number,
): void {
  if (nents === e.nents && (e.dir === null || dir === e.dir)) return;
  const at = `[device address=${devAddr16(e.dma)}] [size=${e.size ?? 0} bytes]`;
  const w = { bus: e.dma, phys: key, size: e.size, mappedAt: e.line };
  if (nents !== e.nents)
    report('unmap-sg-wrong-nents', `device driver frees DMA sg list with different entry count [map count=${e.nents}] [unmap count=${nents}]`, w); // prettier-ignore
  if (e.dir !== null && dir !== e.dir)
    report('unmap-wrong-direction', `device driver frees DMA memory with different direction ${at} [mapped with ${dma(e.dir)}] [unmapped with ${dma(dir)}]`, w); // prettier-ignore
}

/** An unmap or free of a mapping the trace saw end at line `was`: the second one. */
export function reportDouble(
  report: Report,
  type: AuditEntryType,
  bus: TraceU64,
  size: number | null,
  was: number,
  w: Where,
): void {
  const coherent = type === 'coherent' || type === 'noncoherent';
  const sized = size === null ? '' : ` [size=${size} bytes]`;
  report(coherent ? 'double-free' : 'double-unmap', `device driver tries to free DMA memory it has not allocated [device address=${devAddr16(bus)}]${sized} [already ${coherent ? 'freed' : 'unmapped'} at line ${was}]`, { ...w, mappedAt: was }); // prettier-ignore
}

/**
 * A sync no live mapping contains: past the end of the one holding its start, or of an address
 * whose mapping the trace saw end. @returns false when neither (a preexisting mapping).
 */
export function reportSyncMiss(
  report: Report,
  start: Span | undefined,
  was: number | undefined,
  bus: TraceU64,
  size: number,
): boolean {
  if (start !== undefined) {
    const end = addrDiff(bus, start.start) + size;
    report('sync-outside-mapping', `device driver syncs DMA memory outside allocated range [device address=${devAddr16(start.start)}] [allocation size=${start.size ?? 0} bytes] [sync offset+size=${end}]`, { bus, size, phys: start.entry.phys, mappedAt: start.entry.line }); // prettier-ignore
    return true;
  }
  if (was === undefined) return false;
  report('sync-never-mapped', `device driver tries to sync DMA memory it has not allocated [device address=${devAddr16(bus)}] [size=${size} bytes] [unmapped at line ${was}]`, { bus, size, mappedAt: was }); // prettier-ignore
  return true;
}

/** check_sync of a sync inside `e`; sgCount: entries of a dma_sync_sg (0 for a single). */
export function checkSync(
  report: Report,
  e: Live,
  bus: TraceU64,
  size: number,
  dir: number,
  toCpu: boolean,
  sgCount: number,
): void {
  // A bidirectional mapping may be synced any way; the kernel checks nothing more.
  if (e.preexisting || e.dir === null || e.dir === 0) return;
  const bad =
    dir !== e.dir ||
    (toCpu && e.dir !== DMA_FROM_DEVICE && dir !== DMA_TO_DEVICE) ||
    (!toCpu && e.dir !== DMA_TO_DEVICE && dir !== DMA_FROM_DEVICE) ||
    (sgCount > 0 && e.type === 'scatter-gather' && sgCount > e.nents);
  if (!bad) return;
  const fields = `[device address=${devAddr16(bus)}] [size=${e.size ?? 0} bytes] [mapped with ${dma(e.dir)}] [synced with ${dma(dir)}]`;
  const w = { bus, size, phys: e.phys, mappedAt: e.line };
  if (dir !== e.dir)
    report('sync-wrong-direction', `device driver syncs DMA memory with different direction ${fields}`, w); // prettier-ignore
  if (toCpu && e.dir !== DMA_FROM_DEVICE && dir !== DMA_TO_DEVICE)
    report('sync-device-read-only', `device driver syncs device read-only DMA memory for cpu ${fields}`, w); // prettier-ignore
  if (!toCpu && e.dir !== DMA_TO_DEVICE && dir !== DMA_FROM_DEVICE)
    report('sync-device-write-only', `device driver syncs device write-only DMA memory to device ${fields}`, w); // prettier-ignore
  if (sgCount > 0 && e.type === 'scatter-gather' && sgCount > e.nents)
    report('sync-sg-wrong-nents', `device driver syncs DMA sg list count larger than map count [map count=${e.nents}] [sync count=${sgCount}]`, w); // prettier-ignore
}
