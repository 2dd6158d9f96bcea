/**
 * The records the reader yields: the model's DmaTraceEvent (src/kernel/dma/trace.ts, the 6.12.107
 * layout of the real traces) plus the layouts the model does not print — the first 6.12 release's
 * dma_alloc/dma_free and dma_map_sg, the events added after 6.12 (include/trace/events/dma.h:
 * dma_map_phys, dma_alloc_pages, dma_alloc_sgt, dma_map_sg_err, ...) and iommu:io_page_fault —
 * with printers for them, so every parsed line can be printed back.
 */
import type { DmaDataDirection } from '../kernel/dma/direction.js';
import type {
  DmaAllocTraceEvent,
  DmaFreeTraceEvent,
  DmaMapSgTraceEvent,
  DmaMapTraceEvent,
  DmaTraceEvent,
  DmaUnmapTraceEvent,
} from '../kernel/dma/trace.js';
import { traceEventFields } from '../kernel/dma/trace.js';
import type { TracePtr, TraceU64 } from '../kernel/dma/trace-format.js';
import {
  DMA_ATTR_TRACE_NAMES,
  decodeDmaDataDirection,
  formatTraceArray,
  formatTracePtr,
  u64hex,
  u64hex16,
} from '../kernel/dma/trace-format.js';
import type { Gfp } from '../kernel/mm/gfp.js';
import { showGfpFlags } from '../kernel/mm/gfp.js';
import { NEWER_DMA_ATTR_NAMES } from './fields.js';

type Renamed<T, E extends string> = Omit<T, 'event'> & { readonly event: E };

/** dma_map_phys (6.18 name of dma_map_page; resource maps carry MMIO in attrs). */
export type DmaMapPhysTraceEvent = Renamed<DmaMapTraceEvent, 'dma_map_phys'>;
/** dma_unmap_phys (6.18 name of dma_unmap_page). */
export type DmaUnmapPhysTraceEvent = Renamed<DmaUnmapTraceEvent, 'dma_unmap_phys'>;
/** dma_alloc_pages and dma_alloc_sgt_err: the dma_alloc class under other names (6.13+). */
export type DmaAllocPagesTraceEvent = Renamed<
  DmaAllocTraceEvent,
  'dma_alloc_pages' | 'dma_alloc_sgt_err'
>;
/** dma_free_pages: the dma_free class under another name (6.13+). */
export type DmaFreePagesTraceEvent = Renamed<DmaFreeTraceEvent, 'dma_free_pages'>;

/** dma_alloc_sgt / dma_free_sgt: a non-contiguous allocation as an sg_table (6.13+). */
export interface DmaSgtTraceEvent {
  readonly event: 'dma_alloc_sgt' | 'dma_free_sgt';
  readonly device: string;
  readonly dir: DmaDataDirection;
  readonly dmaAddr: TraceU64;
  readonly size: number;
  /** sg_phys() of each entry of the table. */
  readonly physAddrs: readonly TraceU64[];
  /** GFP flags (dma_alloc_sgt only; null for dma_free_sgt, which does not print them). */
  readonly flags: Gfp | null;
  /** DMA_ATTR_* bits (dma_alloc_sgt only; null for dma_free_sgt). */
  readonly attrs: number | null;
}

/**
 * dma_map_sg_err: a backend returned an unexpected error (6.13+).
 * MODEL: the kernel prints this list under the label `dma_addrs`, but it holds sg_phys().
 */
export interface DmaMapSgErrTraceEvent {
  readonly event: 'dma_map_sg_err';
  readonly device: string;
  readonly dir: DmaDataDirection;
  readonly physAddrs: readonly TraceU64[];
  /** The negative errno. */
  readonly err: number;
  readonly attrs: number;
}

/**
 * dma_alloc / dma_free of 6.12-rc1 to -rc3 (commit 038eb433dc14): no dir, phys_addr instead of
 * virt_addr. (6.12-rc4 switched to virt_addr: DmaAllocNoDirTraceEvent.)
 */
export interface DmaAllocPhysTraceEvent {
  readonly event: 'dma_alloc' | 'dma_free';
  readonly layout: 'phys';
  readonly device: string;
  readonly dmaAddr: TraceU64;
  readonly size: number;
  readonly physAddr: TraceU64;
  /** GFP flags (dma_alloc only; null for dma_free). */
  readonly flags: Gfp | null;
  readonly attrs: number;
}

/**
 * dma_alloc / dma_free of v6.12.0 (from -rc4, commit 78b2770c935f) until `dir=` came in 6.13 (and
 * into later 6.12 stable releases): no dir, the hashed %p virt_addr.
 */
export interface DmaAllocNoDirTraceEvent {
  readonly event: 'dma_alloc' | 'dma_free';
  readonly layout: 'nodir';
  readonly device: string;
  readonly dmaAddr: TraceU64;
  readonly size: number;
  /** The hashed pointer as printed (only good for matching an alloc with its free). */
  readonly virtAddr: TracePtr;
  /** GFP flags (dma_alloc only; null for dma_free). */
  readonly flags: Gfp | null;
  readonly attrs: number;
}

/**
 * dma_map_sg without the nents=/ents= counts: kernels before the DMA_TRACE_MAX_ENTRIES cap
 * (2026, backported to stable; the real 6.12.107 traces have the counts).
 */
export interface DmaMapSgPlainTraceEvent extends DmaMapSgTraceEvent {
  readonly layout: 'plain';
}

/** iommu:io_page_fault - a device touched an IOVA its domain does not map (or not that way). */
export interface IommuIoPageFaultTraceEvent {
  readonly event: 'io_page_fault';
  /** dev_driver_string() of the device. */
  readonly driver: string;
  readonly device: string;
  readonly iova: TraceU64;
  /** IOMMU_FAULT_* bits as printed with %04x. */
  readonly flags: number;
}

/** Events the model has no record for. */
export type ExtraTraceEvent =
  | DmaMapPhysTraceEvent
  | DmaUnmapPhysTraceEvent
  | DmaAllocPagesTraceEvent
  | DmaFreePagesTraceEvent
  | DmaSgtTraceEvent
  | DmaMapSgErrTraceEvent
  | DmaAllocPhysTraceEvent
  | DmaAllocNoDirTraceEvent
  | DmaMapSgPlainTraceEvent
  | IommuIoPageFaultTraceEvent;

/** Every record the reader yields. */
export type ParsedTraceEvent = DmaTraceEvent | ExtraTraceEvent;

const ALL_ATTR_NAMES = [...DMA_ATTR_TRACE_NAMES, ...NEWER_DMA_ATTR_NAMES];

/** decode_dma_attrs with the newer names too (MMIO, ...): what 6.18+ kernels print. */
export function decodeNewerDmaAttrs(attrs: number): string {
  const parts: string[] = [];
  let rest = attrs;
  for (const [bit, name] of ALL_ATTR_NAMES) {
    if ((rest & bit) === 0) continue;
    parts.push(name);
    rest -= bit;
  }
  if (rest !== 0) parts.push('0x' + rest.toString(16));
  return parts.join('|');
}

/** Whether a record is one the model prints itself (src/kernel/dma/trace.ts). */
export function isModelTraceEvent(ev: ParsedTraceEvent): ev is DmaTraceEvent {
  if ('layout' in ev) return false;
  switch (ev.event) {
    case 'dma_map_phys':
    case 'dma_unmap_phys':
    case 'dma_alloc_pages':
    case 'dma_alloc_sgt_err':
    case 'dma_free_pages':
    case 'dma_alloc_sgt':
    case 'dma_free_sgt':
    case 'dma_map_sg_err':
    case 'io_page_fault':
      return false;
    default:
      return true;
  }
}

function head(device: string, dir: DmaDataDirection): string {
  return `${device} dir=${decodeDmaDataDirection(dir)}`;
}

function addrSize(dmaAddr: TraceU64, size: number): string {
  return `dma_addr=${u64hex(dmaAddr)} size=${size}`;
}

function allocLike(ev: DmaAllocPagesTraceEvent): string {
  const ptr: TracePtr = ev.virtAddr;
  return `${head(ev.device, ev.dir)} ${addrSize(ev.dmaAddr, ev.size)} virt_addr=${formatTracePtr(ptr)} flags=${showGfpFlags(ev.flags)} attrs=${decodeNewerDmaAttrs(ev.attrs)}`;
}

function sgt(ev: DmaSgtTraceEvent): string {
  const base = `${head(ev.device, ev.dir)} ${addrSize(ev.dmaAddr, ev.size)} phys_addrs=${formatTraceArray(ev.physAddrs)}`;
  if (ev.flags === null || ev.attrs === null) return base;
  return `${base} flags=${showGfpFlags(ev.flags)} attrs=${decodeNewerDmaAttrs(ev.attrs)}`;
}

/** The two no-dir layouts of 6.12 (phys_addr in -rc1..3, virt_addr from -rc4). */
function allocNoDir(ev: DmaAllocPhysTraceEvent | DmaAllocNoDirTraceEvent): string {
  const addr =
    ev.layout === 'phys'
      ? `phys_addr=${u64hex(ev.physAddr)}`
      : `virt_addr=${formatTracePtr(ev.virtAddr)}`;
  const base = `${ev.device} ${addrSize(ev.dmaAddr, ev.size)} ${addr}`;
  const flags = ev.flags === null ? '' : ` flags=${showGfpFlags(ev.flags)}`;
  return `${base}${flags} attrs=${decodeNewerDmaAttrs(ev.attrs)}`;
}

function mapSgPlain(ev: DmaMapSgPlainTraceEvent): string {
  const arrays = `dma_addrs=${formatTraceArray(ev.dmaAddrs)} sizes=${formatTraceArray(ev.sizes)} phys_addrs=${formatTraceArray(ev.physAddrs)}`;
  return `${head(ev.device, ev.dir)} ${arrays} attrs=${decodeNewerDmaAttrs(ev.attrs)}`;
}

function extraFields(ev: ExtraTraceEvent): string {
  if ('layout' in ev) return ev.layout === 'plain' ? mapSgPlain(ev) : allocNoDir(ev);
  switch (ev.event) {
    case 'dma_map_phys':
      return `${head(ev.device, ev.dir)} ${addrSize(ev.dmaAddr, ev.size)} phys_addr=${u64hex(ev.physAddr)} attrs=${decodeNewerDmaAttrs(ev.attrs)}`;
    case 'dma_unmap_phys':
      return `${head(ev.device, ev.dir)} ${addrSize(ev.dmaAddr, ev.size)} attrs=${decodeNewerDmaAttrs(ev.attrs)}`;
    case 'dma_alloc_pages':
    case 'dma_alloc_sgt_err':
      return allocLike(ev);
    case 'dma_free_pages':
      return `${head(ev.device, ev.dir)} ${addrSize(ev.dmaAddr, ev.size)} virt_addr=${formatTracePtr(ev.virtAddr)} attrs=${decodeNewerDmaAttrs(ev.attrs)}`;
    case 'dma_alloc_sgt':
    case 'dma_free_sgt':
      return sgt(ev);
    case 'dma_map_sg_err':
      return `${head(ev.device, ev.dir)} dma_addrs=${formatTraceArray(ev.physAddrs)} err=${ev.err} attrs=${decodeNewerDmaAttrs(ev.attrs)}`;
    case 'io_page_fault':
      return `IOMMU:${ev.driver} ${ev.device} iova=0x${u64hex16(ev.iova)} flags=0x${ev.flags.toString(16).padStart(4, '0')}`;
  }
}

/**
 * The fields text of any parsed record, as its kernel printed it: the model's printer for the
 * 6.12.107 layout, the ones above for the rest.
 * @param ev a record from the reader
 * @returns the text after "event: "
 */
export function formatParsedFields(ev: ParsedTraceEvent): string {
  return isModelTraceEvent(ev) ? traceEventFields(ev) : extraFields(ev);
}
