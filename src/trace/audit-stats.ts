/**
 * Per-device statistics of a trace audit: calls by event, bytes mapped, live mappings over time,
 * sizes, directions, SWIOTLB bounces and the range of DMA addresses in use. Addresses are
 * TraceU64 (a number while it is a safe integer, else a bigint) and are printed as hex.
 */
import type { TraceU64 } from '../kernel/dma/trace-format.js';

/** `0x<hex>` of an address. */
export function hexAddr(a: TraceU64): string {
  return '0x' + a.toString(16);
}

/** `0x%016llx`: a bus address as dma-debug prints it. */
export function devAddr16(a: TraceU64): string {
  return '0x' + a.toString(16).padStart(16, '0');
}

/** a + n, exact past 2^53. */
export function addrPlus(a: TraceU64, n: number): TraceU64 {
  if (typeof a === 'number' && a + n <= Number.MAX_SAFE_INTEGER) return a + n;
  const s = BigInt(a) + BigInt(n);
  return s <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s;
}

/** a - b as a number (the offset of an address inside a mapping). */
export function addrDiff(a: TraceU64, b: TraceU64): number {
  return typeof a === 'number' && typeof b === 'number' ? a - b : Number(BigInt(a) - BigInt(b));
}

/** The power-of-two bucket of a size: 4096 holds 2049..4096 bytes. */
export function sizeBucket(size: number): number {
  let b = 1;
  while (b < size) b *= 2;
  return b;
}

/** A bucket's label: "<=4K" holds 2049..4096 bytes. */
export function bucketLabel(b: number): string {
  if (b >= 1 << 30) return `<=${b / (1 << 30)}G`;
  if (b >= 1 << 20) return `<=${b / (1 << 20)}M`;
  if (b >= 1 << 10) return `<=${b / (1 << 10)}K`;
  return `<=${b}`;
}

/** The statistics of one device, as the JSON document prints them. */
export interface DeviceStats {
  /** Calls by event name (failed maps included). */
  readonly calls: Readonly<Record<string, number>>;
  /** The device joined an IOMMU group in the trace (its DMA addresses are IOVAs). */
  readonly behindIommu: boolean;
  /** Streaming maps (dma_map_page/resource/sg) that succeeded. */
  readonly maps: number;
  /** Maps that returned DMA_MAPPING_ERROR, and allocations that returned NULL. */
  readonly failedMaps: number;
  readonly failedAllocs: number;
  /** Bytes of the successful streaming maps (sg: the sum of the DMA segments). */
  readonly bytesMapped: number;
  /** Bytes of the successful coherent allocations. */
  readonly bytesAllocated: number;
  /** dma_free of NULL with size 0: a no-op in the kernel, not an error. */
  readonly noopFrees: number;
  /** Mappings and allocations made in the trace and not yet undone. */
  readonly live: {
    readonly atEnd: number;
    readonly peak: number;
    /** Timestamp (as printed) and line of the call that reached the peak; null if never live. */
    readonly peakTimestamp: string | null;
    readonly peakLine: number | null;
  };
  /** Maps and allocations by power-of-two size bucket ("<=2K": 1025..2048 bytes). */
  readonly sizes: Readonly<Record<string, number>>;
  /** Streaming maps by direction. */
  readonly directions: Readonly<Record<string, number>>;
  /** swiotlb_bounced events; slots in use derived from the bounced maps (2 KiB slots). */
  readonly swiotlb: { readonly bounced: number; readonly slotsHighWater: number };
  /** Lowest and highest DMA address in use (IOVAs behind an IOMMU); null when none. */
  readonly dmaRange: { readonly min: string | null; readonly max: string | null };
}

/** Counts one more `k` (a Map: objects with keys added at run time are slow to update). */
function inc(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** Accumulates one device's statistics. */
export class DeviceStatsBuilder {
  private readonly calls = new Map<string, number>();
  behindIommu = false;
  maps = 0;
  failedMaps = 0;
  failedAllocs = 0;
  bytesMapped = 0;
  bytesAllocated = 0;
  noopFrees = 0;
  live = 0;
  peak = 0;
  peakTimestamp: string | null = null;
  peakLine: number | null = null;
  private readonly sizes = new Map<number, number>();
  private readonly directions = new Map<string, number>();
  bounced = 0;
  slots = 0;
  slotsHighWater = 0;
  private min: TraceU64 | null = null;
  private max: TraceU64 | null = null;

  setBehindIommu(): void {
    this.behindIommu = true;
  }

  call(event: string): void {
    inc(this.calls, event);
  }

  /** A mapping or allocation began. */
  added(size: number, timestamp: string, line: number): void {
    const b = sizeBucket(size);
    this.sizes.set(b, (this.sizes.get(b) ?? 0) + 1);
    if (++this.live > this.peak) {
      this.peak = this.live;
      this.peakTimestamp = timestamp;
      this.peakLine = line;
    }
  }

  /** A streaming map in `dir` (a direction name). */
  mapped(dir: string, bytes: number): void {
    this.maps++;
    this.bytesMapped += bytes;
    inc(this.directions, dir);
  }

  /** [start, start + size) was in use. */
  range(start: TraceU64, size: number): void {
    const end = addrPlus(start, Math.max(size, 1) - 1);
    if (this.min === null || start < this.min) this.min = start;
    if (this.max === null || end > this.max) this.max = end;
  }

  /** SWIOTLB slots taken (+) or given back (-). */
  slotsUsed(n: number): void {
    this.slots += n;
    if (this.slots > this.slotsHighWater) this.slotsHighWater = this.slots;
  }

  build(): DeviceStats {
    return {
      calls: Object.fromEntries(this.calls),
      behindIommu: this.behindIommu,
      maps: this.maps,
      failedMaps: this.failedMaps,
      failedAllocs: this.failedAllocs,
      bytesMapped: this.bytesMapped,
      bytesAllocated: this.bytesAllocated,
      noopFrees: this.noopFrees,
      live: {
        atEnd: this.live,
        peak: this.peak,
        peakTimestamp: this.peakTimestamp,
        peakLine: this.peakLine,
      },
      sizes: Object.fromEntries(
        [...this.sizes].sort((a, b) => a[0] - b[0]).map(([b, n]) => [bucketLabel(b), n]),
      ),
      directions: Object.fromEntries(this.directions),
      swiotlb: { bounced: this.bounced, slotsHighWater: this.slotsHighWater },
      dmaRange: {
        min: this.min === null ? null : hexAddr(this.min),
        max: this.max === null ? null : hexAddr(this.max),
      },
    };
  }
}
