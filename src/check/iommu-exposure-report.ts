/**
 * The IOMMU exposure report's shapes and words: what one live mapping exposes besides its buffer,
 * the lazy-invalidation windows in which a device still reached unmapped memory, what a rogue
 * device could reach, and their text lines (one finding's message, and the `lines()` report).
 */
import { hex } from '../lib/addr.js';
import type { Resident } from './iommu-residents.js';

/** The IOMMU exposure findings' kinds (README "Checkers"). */
export type IommuExposureKind = 'iommu-subpage-exposure' | 'iommu-stale-access';

/** Bytes of an IOMMU page of a mapping that are not the mapped buffer. */
export interface ExposedRange {
  /** Bus address (IOVA) of the first exposed byte. */
  readonly dmaAddr: number;
  readonly phys: number;
  readonly len: number;
  /** What the device may do there: 'r', 'w' or 'rw' (the IOMMU page's rights: the direction). */
  readonly rights: string;
  /** What lives there. */
  readonly residents: readonly Resident[];
}

/** One live mapping behind an IOMMU and what else its IOMMU pages expose. */
export interface MappingExposure {
  readonly device: string;
  /** 'single' (dma_map_single/page), 'sg' (one DMA segment) or 'coherent'. */
  readonly type: string;
  /** DMA_TO_DEVICE, DMA_FROM_DEVICE or DMA_BIDIRECTIONAL. */
  readonly dir: string;
  /** The call that made it, and when. */
  readonly origin: string;
  /** Bus addresses of the IOMMU pages the mapping made reachable: [iovaStart, iovaEnd). */
  readonly iovaStart: number;
  readonly iovaEnd: number;
  /** The buffer: bus address, bytes, physical address of its first byte. */
  readonly dmaAddr: number;
  readonly size: number;
  readonly phys: number;
  readonly exposed: readonly ExposedRange[];
  /** Sum of the exposed ranges' lengths. */
  readonly exposedBytes: number;
  /** Live kernel objects in the exposed bytes that are not the buffer's own allocation. */
  readonly others: readonly Resident[];
}

/** `exposure()`: every live mapping behind an IOMMU. */
export interface ExposureReport {
  /** Whether the kernel runs IOMMU DMA at all. */
  readonly iommu: boolean;
  readonly note: string;
  readonly mappings: readonly MappingExposure[];
}

/** A device access that succeeded through an IOTLB entry of an unmapped range. */
export interface StaleAccess {
  readonly t: number;
  readonly op: 'read' | 'write';
  readonly dmaAddr: number;
  readonly phys: number;
  readonly len: number;
  /** What lives at those bytes at the time of the access. */
  readonly residents: readonly Resident[];
}

/** An unmapped range a device still reached, from the unmap to the invalidation that closed it. */
export interface StaleWindow {
  readonly device: string;
  readonly origin: string;
  /** Bus addresses of its IOMMU pages: [iovaStart, iovaEnd). */
  readonly iovaStart: number;
  readonly iovaEnd: number;
  /** Simulated times in ns; closedAt and windowNs are null while no invalidation closed it. */
  readonly unmappedAt: number;
  readonly closedAt: number | null;
  readonly windowNs: number | null;
  readonly accesses: readonly StaleAccess[];
}

/** A run of bus addresses a device can reach, as one scan found it. */
export interface RogueReach {
  readonly dmaAddr: number;
  readonly len: number;
  readonly phys: number;
  readonly rights: string;
  /** A present page-table entry, or an IOTLB entry left behind by an unmap (lazy mode). */
  readonly via: 'page-table' | 'stale-iotlb';
  /** The live mapping that covers it (its origin), or null when none does. */
  readonly mapping: string | null;
  readonly residents: readonly Resident[];
}

/** `rogueScan(dev)`: everything a device could reach if it tried every bus address. */
export interface RogueReport {
  readonly device: string;
  /** Whether an IOMMU translates its requests. */
  readonly iommu: boolean;
  /** Its domain's type (DMA, DMA-FQ, identity) or 'none'. */
  readonly domain: string;
  /** How the reach was found. */
  readonly method: string;
  readonly note: string;
  readonly reach: readonly RogueReach[];
  /** Sum of the reach's lengths. */
  readonly bytes: number;
}

const MAX_NAMED = 4;

/** "kmalloc-64 object 0 (ffff888001000000), ... and 3 more". */
export function nameResidents(rs: readonly Resident[]): string {
  const named = rs
    .slice(0, MAX_NAMED)
    .map((r) => (r.vaddr === undefined ? r.name : `${r.name} (${r.vaddr})`));
  const more = rs.length > MAX_NAMED ? `, and ${rs.length - MAX_NAMED} more` : '';
  return named.join(', ') + more;
}

/** 'read', 'write' or 'read and write' for a set of rights strings. */
export function rightsVerb(rights: readonly string[]): string {
  const r = rights.some((x) => x.includes('r'));
  const w = rights.some((x) => x.includes('w'));
  return r && w ? 'read and write' : w ? 'write' : 'read';
}

/** The message of an `iommu-subpage-exposure` finding. */
export function exposureMessage(x: MappingExposure): string {
  const bytes = x.others.reduce((n, r) => n + r.len, 0);
  const verb = rightsVerb(x.exposed.map((e) => e.rights));
  return (
    `device can ${verb} ${bytes} bytes of other kernel objects in the IOMMU pages of its buffer ` +
    `[device address=${hex(x.dmaAddr)}] [size=${x.size} bytes] ` +
    `[IOMMU pages=${hex(x.iovaStart)}-${hex(x.iovaEnd - 1)}] [exposed=${x.exposedBytes} bytes]: ` +
    nameResidents(x.others)
  );
}

export const FIX_SUBPAGE =
  'give the DMA buffer whole IOMMU pages of its own (page-aligned and a multiple of 4096 bytes, e.g. alloc_pages or dma_alloc_coherent), or bounce it through SWIOTLB';
export const FIX_STALE =
  "stop the device's DMA before unmapping its buffer; iommu.strict=1 invalidates the IOTLB at the unmap and closes this window";

/** Text lines of an exposure report: a head line, then per mapping its exposed ranges. */
export function exposureLines(rep: ExposureReport): string[] {
  const out = [`IOMMU exposure: ${rep.note}`];
  for (const x of rep.mappings) {
    out.push(
      `  ${x.device} ${x.origin}: IOMMU pages ${hex(x.iovaStart)}-${hex(x.iovaEnd - 1)}, ` +
        `buffer ${hex(x.dmaAddr)}+${x.size} (phys ${hex(x.phys)}), ${x.exposedBytes} bytes exposed`,
    );
    for (const e of x.exposed) {
      out.push(`    ${hex(e.dmaAddr)}+${e.len} (phys ${hex(e.phys)}) ${e.rights}:`);
      for (const r of e.residents) out.push(`      ${residentLine(r)}`);
    }
  }
  return out;
}

/** Text lines of the stale windows. */
export function staleLines(ws: readonly StaleWindow[]): string[] {
  const out: string[] = [];
  for (const w of ws) {
    const closed =
      w.windowNs === null ? 'still open' : `closed at t=${w.closedAt}ns, window ${w.windowNs} ns`;
    out.push(
      `IOMMU stale IOTLB: ${w.device} ${hex(w.iovaStart)}-${hex(w.iovaEnd - 1)} unmapped at ` +
        `t=${w.unmappedAt}ns, ${closed}; ${w.accesses.length} access(es) got through (${w.origin})`,
    );
    for (const a of w.accesses)
      out.push(
        `  t=${a.t}ns ${a.op} ${hex(a.dmaAddr)}+${a.len} (phys ${hex(a.phys)}): ${nameResidents(a.residents)}`,
      );
  }
  return out;
}

/** Text lines of a rogue scan. */
export function rogueLines(rep: RogueReport): string[] {
  const out = [`rogue ${rep.device} (${rep.domain}; ${rep.method}): ${rep.note}`];
  for (const r of rep.reach) {
    const m = r.mapping === null ? 'no live mapping' : r.mapping;
    out.push(
      `  ${hex(r.dmaAddr)}+${hex(r.len)} -> phys ${hex(r.phys)} ${r.rights} via ${r.via} (${m})`,
    );
    for (const x of r.residents) out.push(`    ${residentLine(x)}`);
  }
  return out;
}

function residentLine(r: Resident): string {
  const va = r.vaddr === undefined ? '' : ` ${r.vaddr}`;
  return `${r.name}${va}: ${r.len} of its ${r.size} bytes at phys ${hex(r.from)}${r.live ? '' : ' (free)'}`;
}
