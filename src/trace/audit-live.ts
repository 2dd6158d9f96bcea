/**
 * The live mappings of one device during a trace audit: indexed by DMA address (each sg segment
 * too, for syncs) and, for dma_unmap_sg, which prints no DMA address, by the sg's first physical
 * address; plus the addresses whose mapping the trace saw end, to tell a second unmap from the
 * unmap of a mapping made before the trace began.
 */
import type { TraceU64 } from '../kernel/dma/trace-format.js';
import { decodeDmaDataDirection } from '../kernel/dma/trace-format.js';
import type { DeviceStatsBuilder } from './audit-stats.js';
import { addrPlus } from './audit-stats.js';
import type { AuditEntryType } from './audit-types.js';

/** A live mapping or allocation. */
export interface Live {
  readonly type: AuditEntryType;
  /** The event that made it ("" for a preexisting mapping seen first at a sync). */
  readonly event: string;
  /** Its (first) DMA address. */
  readonly dma: TraceU64;
  /** Bytes (sg: the sum of the segments); null when unknown (preexisting). */
  readonly size: number | null;
  /** enum dma_data_direction; null when unknown (preexisting). */
  readonly dir: number | null;
  /** The hashed %p CPU address of an allocation. */
  readonly virt: string | null;
  readonly phys: TraceU64 | null;
  /** sg entries passed to dma_map_sg (1 otherwise). */
  readonly nents: number;
  readonly line: number;
  readonly timestamp: string;
  /** Seen first at a sync: mapped before the trace began. */
  readonly preexisting: boolean;
  /** SWIOTLB slots it holds. */
  slots: number;
  /** Where it is indexed by DMA address. */
  readonly spans: Span[];
  /** An sg's first physical address (its key for dma_unmap_sg). */
  sgKey: TraceU64 | null;
}

/** A DMA address range of a live mapping (a whole mapping, or one sg segment). */
export interface Span {
  readonly entry: Live;
  readonly start: TraceU64;
  readonly size: number | null;
}

/** SWIOTLB slot size (IO_TLB_SIZE). */
const SLOT = 2048;

/** Slots a bounce of `size` bytes at slot address `dma` takes. */
export function slotsOf(dma: TraceU64, size: number): number {
  const off = typeof dma === 'number' ? dma % SLOT : Number(dma % BigInt(SLOT));
  return Math.ceil((off + size) / SLOT);
}

/** "TO_DEVICE", as the trace prints a direction. */
export function dirText(dir: number): string {
  return decodeDmaDataDirection(dir);
}

/** The span an unmap at its start address ends: the same type, size and direction first. */
export function pick(
  spans: readonly Span[] | undefined,
  type: AuditEntryType,
  size: number,
  dir: number,
): Span | undefined {
  if (spans === undefined) return undefined;
  let best: Span | undefined;
  let bestScore = -1;
  for (const s of spans) {
    const e = s.entry;
    if (e.dma !== s.start) continue;
    const score =
      (e.preexisting ? 0 : 1) +
      (e.type === type ? 8 : 0) +
      (e.size === size ? 4 : 0) +
      (e.dir === dir ? 2 : 0);
    if (score > bestScore) {
      best = s;
      bestScore = score;
    }
  }
  return best;
}

function contains(s: Span, dma: TraceU64, size: number): boolean {
  if (s.size === null) return s.start === dma;
  return s.start <= dma && addrPlus(dma, size) <= addrPlus(s.start, s.size);
}

/** A live span holding [dma, dma + size): the one starting there first, else any. */
export function findContaining(d: DeviceState, dma: TraceU64, size: number): Span | undefined {
  const exact = d.byDma.get(dma);
  if (exact !== undefined) for (const s of exact) if (contains(s, dma, size)) return s;
  for (const spans of d.byDma.values()) for (const s of spans) if (contains(s, dma, size)) return s;
  return undefined;
}

/** One device's replay state. */
export class DeviceState {
  /** Live spans by start address. */
  readonly byDma = new Map<TraceU64, Span[]>();
  /** Live sg mappings by first physical address. */
  readonly sgByPhys = new Map<TraceU64, Live[]>();
  /** DMA address → line of the unmap or free that ended its last mapping. */
  readonly ended = new Map<TraceU64, number>();
  /** sg first physical address → [line of its last unmap, its first DMA address]. */
  readonly endedSg = new Map<TraceU64, [number, TraceU64]>();
  /** Size of a swiotlb_bounced waiting for its dma_map_page. */
  pendingBounce: number | null = null;

  constructor(readonly stats: DeviceStatsBuilder) {}

  addSpan(e: Live, start: TraceU64, size: number | null): void {
    const s: Span = { entry: e, start, size };
    e.spans.push(s);
    const list = this.byDma.get(start);
    if (list === undefined) this.byDma.set(start, [s]);
    else list.push(s);
    this.ended.delete(start);
  }

  /** Ends a mapping at `line`. */
  remove(e: Live, line: number): void {
    for (const s of e.spans) {
      const list = this.byDma.get(s.start);
      if (list === undefined) continue;
      const i = list.indexOf(s);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byDma.delete(s.start);
      this.ended.set(s.start, line);
    }
    if (e.sgKey !== null) {
      const list = this.sgByPhys.get(e.sgKey);
      const i = list?.indexOf(e) ?? -1;
      if (list !== undefined && i >= 0) list.splice(i, 1);
      if (list?.length === 0) this.sgByPhys.delete(e.sgKey);
      this.endedSg.set(e.sgKey, [line, e.dma]);
    }
    if (e.preexisting) return;
    this.stats.live--;
    if (e.slots > 0) this.stats.slotsUsed(-e.slots);
  }

  /** The mappings made in the trace and still live, each once. */
  liveEntries(): Live[] {
    const seen = new Set<Live>();
    for (const spans of this.byDma.values())
      for (const s of spans) if (!s.entry.preexisting) seen.add(s.entry);
    return [...seen];
  }
}
