/**
 * The dma:*, iommu:map/unmap and swiotlb:swiotlb_bounced tracepoints as typed records, printed as
 * the 6.12 stable kernel of the real traces prints them (include/trace/events/dma.h, iommu.h,
 * swiotlb.h of Debian 6.12.107). Left out: events newer than 6.12 (dma_map_phys, dma_*_sgt, ...).
 */
import { assert } from '../../lib/errors.js';
import type { Gfp } from '../mm/gfp.js';
import { showGfpFlags } from '../mm/gfp.js';
import type { DmaDataDirection } from './direction.js';
import type { FtraceContext, TracePtr, TraceU64 } from './trace-format.js';
import {
  decodeDmaAttrs,
  decodeDmaDataDirection,
  formatFtraceLine,
  formatTraceArray,
  formatTracePtr,
  u64hex,
  u64hex16,
} from './trace-format.js';

/**
 * DOC: dma trace events
 *
 * Each record holds what the tracepoint stores in its ring-buffer entry; the printers turn it into
 * the text after "event: " exactly as the kernel's TP_printk does, and traceEventLine() adds the
 * ftrace columns. Addresses are TraceU64 so that 64-bit values (a failed map's
 * DMA_MAPPING_ERROR) stay exact; sizes and counts are plain numbers.
 *
 * The real traces' kernel (6.12.107) differs from the first 6.12 release in two events: dma_alloc
 * and dma_free print `dir=` and a %p `virt_addr=` (not `phys_addr=`), and dma_map_sg prints
 * `nents=`/`ents=` counts and stores at most DMA_TRACE_MAX_ENTRIES array entries. We follow the
 * traces.
 */

/**
 * How many sg entries dma_map_sg records per array; longer lists are cut and marked.
 * @linux include/trace/events/dma.h DMA_TRACE_MAX_ENTRIES
 */
export const DMA_TRACE_MAX_ENTRIES = 128;

/** The fields every dma event starts with. */
interface DmaEventBase {
  /** dev_name() of the device, e.g. "0000:00:01.0". */
  readonly device: string;
  /** The direction the caller passed (DMA_BIDIRECTIONAL for coherent allocations). */
  readonly dir: DmaDataDirection;
}

/**
 * dma_map_page / dma_map_resource: a streaming map, recorded after the backend returned.
 * @linux include/trace/events/dma.h dma_map_page
 */
export interface DmaMapTraceEvent extends DmaEventBase {
  readonly event: 'dma_map_page' | 'dma_map_resource';
  /** Address handed to the device; DMA_MAPPING_ERROR when the map failed. */
  readonly dmaAddr: TraceU64;
  /** Bytes mapped. */
  readonly size: number;
  /** Physical address of the buffer (of the MMIO resource for dma_map_resource). */
  readonly physAddr: TraceU64;
  /** DMA_ATTR_* bits. */
  readonly attrs: number;
}

/**
 * dma_unmap_page / dma_unmap_resource.
 * @linux include/trace/events/dma.h dma_unmap_page
 */
export interface DmaUnmapTraceEvent extends DmaEventBase {
  readonly event: 'dma_unmap_page' | 'dma_unmap_resource';
  /** The address the map returned. */
  readonly dmaAddr: TraceU64;
  /** Bytes, as passed to the unmap. */
  readonly size: number;
  /** DMA_ATTR_* bits. */
  readonly attrs: number;
}

/**
 * dma_alloc: a coherent allocation, recorded after the backend returned (also on failure).
 * @linux include/trace/events/dma.h dma_alloc
 */
export interface DmaAllocTraceEvent extends DmaEventBase {
  readonly event: 'dma_alloc';
  /** The handle (0 or whatever the backend left there on failure). */
  readonly dmaAddr: TraceU64;
  /** Bytes requested. */
  readonly size: number;
  /** The CPU address returned, as %p shows it (see formatTracePtr()); NULL on failure. */
  readonly virtAddr: TracePtr;
  /** GFP flags the caller passed. */
  readonly flags: Gfp;
  /** DMA_ATTR_* bits. */
  readonly attrs: number;
}

/**
 * dma_free: recorded before the memory is freed.
 * @linux include/trace/events/dma.h dma_free
 */
export interface DmaFreeTraceEvent extends DmaEventBase {
  readonly event: 'dma_free';
  /** The handle being freed. */
  readonly dmaAddr: TraceU64;
  /** Bytes, as passed to the free. */
  readonly size: number;
  /** The CPU address being freed, as %p shows it. */
  readonly virtAddr: TracePtr;
  /** DMA_ATTR_* bits. */
  readonly attrs: number;
}

/**
 * dma_map_sg: recorded after the backend returned `ents` > 0 DMA segments for `nents` entries.
 * @linux include/trace/events/dma.h dma_map_sg
 */
export interface DmaMapSgTraceEvent extends DmaEventBase {
  readonly event: 'dma_map_sg';
  /** Entries passed in (the full count, even past DMA_TRACE_MAX_ENTRIES). */
  readonly nents: number;
  /** DMA segments returned (the full count). */
  readonly ents: number;
  /** sg_phys() of the entries passed in: at least min(nents, DMA_TRACE_MAX_ENTRIES). */
  readonly physAddrs: readonly TraceU64[];
  /** sg_dma_address() of the segments: at least min(ents, DMA_TRACE_MAX_ENTRIES). */
  readonly dmaAddrs: readonly TraceU64[];
  /** sg_dma_len() of the segments, as many as dmaAddrs. */
  readonly sizes: readonly number[];
  /** DMA_ATTR_* bits. */
  readonly attrs: number;
}

/**
 * dma_unmap_sg: recorded before the backend unmaps.
 * @linux include/trace/events/dma.h dma_unmap_sg
 */
export interface DmaUnmapSgTraceEvent extends DmaEventBase {
  readonly event: 'dma_unmap_sg';
  /** sg_phys() of each of the nents entries passed to the unmap (no cap). */
  readonly physAddrs: readonly TraceU64[];
  /** DMA_ATTR_* bits. */
  readonly attrs: number;
}

/**
 * dma_sync_single_for_cpu / _for_device: recorded after the backend synced.
 * MODEL: 6.12 returns before the tracepoint when the sync is a no-op (coherent, no SWIOTLB);
 * whoever emits the record decides that, not this file.
 * @linux include/trace/events/dma.h dma_sync_single_for_cpu
 */
export interface DmaSyncSingleTraceEvent extends DmaEventBase {
  readonly event: 'dma_sync_single_for_cpu' | 'dma_sync_single_for_device';
  /** Start of the synced range. */
  readonly dmaAddr: TraceU64;
  /** Bytes synced. */
  readonly size: number;
}

/**
 * dma_sync_sg_for_cpu / _for_device: the DMA segments of the nents entries passed in.
 * @linux include/trace/events/dma.h dma_sync_sg_for_cpu
 */
export interface DmaSyncSgTraceEvent extends DmaEventBase {
  readonly event: 'dma_sync_sg_for_cpu' | 'dma_sync_sg_for_device';
  /** sg_dma_address() of each entry. */
  readonly dmaAddrs: readonly TraceU64[];
  /** sg_dma_len() of each entry, as many as dmaAddrs. */
  readonly sizes: readonly number[];
}

/**
 * iommu:map - a range written into an IOMMU domain's page tables.
 * @linux include/trace/events/iommu.h map
 */
export interface IommuMapTraceEvent {
  readonly event: 'map';
  /** First IOVA mapped. */
  readonly iova: TraceU64;
  /** Physical address it maps to. */
  readonly paddr: TraceU64;
  /** Bytes mapped. */
  readonly size: number;
}

/**
 * iommu:unmap - a range removed from an IOMMU domain's page tables.
 * @linux include/trace/events/iommu.h unmap
 */
export interface IommuUnmapTraceEvent {
  readonly event: 'unmap';
  /** First IOVA to unmap. */
  readonly iova: TraceU64;
  /** Bytes asked for. */
  readonly size: number;
  /** Bytes the page tables actually gave up. */
  readonly unmappedSize: number;
}

/**
 * iommu:add_device_to_group - a device joined an IOMMU group.
 * @linux include/trace/events/iommu.h add_device_to_group
 */
export interface IommuAddDeviceTraceEvent {
  readonly event: 'add_device_to_group';
  readonly groupId: number;
  /** dev_name() of the device. */
  readonly device: string;
}

/**
 * iommu:attach_device_to_domain - a device was attached to its group's domain.
 * @linux include/trace/events/iommu.h attach_device_to_domain
 */
export interface IommuAttachDeviceTraceEvent {
  readonly event: 'attach_device_to_domain';
  readonly device: string;
}

/**
 * swiotlb:swiotlb_bounced - a streaming map about to be bounced through a SWIOTLB slot.
 * @linux include/trace/events/swiotlb.h swiotlb_bounced
 */
export interface SwiotlbBouncedTraceEvent {
  readonly event: 'swiotlb_bounced';
  /** dev_name() of the device. */
  readonly device: string;
  /** The device's DMA mask (64-bit: keep it a bigint past 2^53). */
  readonly dmaMask: TraceU64;
  /** The original buffer's physical address (not the slot). */
  readonly devAddr: TraceU64;
  /** Bytes mapped. */
  readonly size: number;
  /** Bouncing was forced (swiotlb=force) rather than needed. */
  readonly force: boolean;
}

/** Any event this file can print. */
export type DmaTraceEvent =
  | DmaMapTraceEvent
  | DmaUnmapTraceEvent
  | DmaAllocTraceEvent
  | DmaFreeTraceEvent
  | DmaMapSgTraceEvent
  | DmaUnmapSgTraceEvent
  | DmaSyncSingleTraceEvent
  | DmaSyncSgTraceEvent
  | IommuMapTraceEvent
  | IommuUnmapTraceEvent
  | IommuAddDeviceTraceEvent
  | IommuAttachDeviceTraceEvent
  | SwiotlbBouncedTraceEvent;

function head(ev: DmaEventBase): string {
  return `${ev.device} dir=${decodeDmaDataDirection(ev.dir)}`;
}

function count(n: number): number {
  assert(Number.isSafeInteger(n) && n >= 0, () => `trace size or count ${n} is negative`);
  return n;
}

function size(n: number): string {
  return String(count(n));
}

/**
 * The fields of dma_map_page / dma_map_resource.
 * @param ev the record
 * @returns e.g. "0000:00:01.0 dir=FROM_DEVICE dma_addr=865f8c0 size=1522 phys_addr=865f8c0 attrs="
 * @linux include/trace/events/dma.h dma_map_page
 */
export function formatDmaMap(ev: DmaMapTraceEvent): string {
  return `${head(ev)} dma_addr=${u64hex(ev.dmaAddr)} size=${size(ev.size)} phys_addr=${u64hex(ev.physAddr)} attrs=${decodeDmaAttrs(ev.attrs)}`;
}

/**
 * The fields of dma_unmap_page / dma_unmap_resource.
 * @param ev the record
 * @returns e.g. "0000:00:01.0 dir=TO_DEVICE dma_addr=8573002 size=90 attrs="
 * @linux include/trace/events/dma.h dma_unmap_page
 */
export function formatDmaUnmap(ev: DmaUnmapTraceEvent): string {
  return `${head(ev)} dma_addr=${u64hex(ev.dmaAddr)} size=${size(ev.size)} attrs=${decodeDmaAttrs(ev.attrs)}`;
}

/**
 * The fields of dma_alloc.
 * @param ev the record
 * @returns e.g. "... dir=BIDIRECTIONAL dma_addr=13fce000 size=4096 virt_addr=00000000b0697534
 *   flags=GFP_KERNEL attrs="
 * @linux include/trace/events/dma.h dma_alloc
 */
export function formatDmaAlloc(ev: DmaAllocTraceEvent): string {
  return `${head(ev)} dma_addr=${u64hex(ev.dmaAddr)} size=${size(ev.size)} virt_addr=${formatTracePtr(ev.virtAddr)} flags=${showGfpFlags(ev.flags)} attrs=${decodeDmaAttrs(ev.attrs)}`;
}

/**
 * The fields of dma_free.
 * @param ev the record
 * @returns e.g. "... dir=BIDIRECTIONAL dma_addr=13fce000 size=4096 virt_addr=00000000b0697534 attrs="
 * @linux include/trace/events/dma.h dma_free
 */
export function formatDmaFree(ev: DmaFreeTraceEvent): string {
  return `${head(ev)} dma_addr=${u64hex(ev.dmaAddr)} size=${size(ev.size)} virt_addr=${formatTracePtr(ev.virtAddr)} attrs=${decodeDmaAttrs(ev.attrs)}`;
}

/**
 * The fields of dma_map_sg: the counts (recorded/full), " [TRUNCATED]" when either list was cut
 * at DMA_TRACE_MAX_ENTRIES, then the recorded arrays.
 * @param ev the record; its arrays must hold at least the recorded number of entries
 * @returns e.g. "... dir=FROM_DEVICE nents=2/2 ents=1/1 dma_addrs={0xfffe0000} sizes={0x2000}
 *   phys_addrs={0x2b1c3000,0x2b1c2000} attrs=NO_WARN"
 * @linux include/trace/events/dma.h dma_map_sg
 */
export function formatDmaMapSg(ev: DmaMapSgTraceEvent): string {
  const nents = Math.min(count(ev.nents), DMA_TRACE_MAX_ENTRIES);
  const ents = Math.min(count(ev.ents), DMA_TRACE_MAX_ENTRIES);
  assert(ev.sizes.length >= ents, () => `dma_map_sg has ${ev.sizes.length} of ${ents} sizes`);
  const cut = ev.nents > DMA_TRACE_MAX_ENTRIES || ev.ents > DMA_TRACE_MAX_ENTRIES;
  const counts = `nents=${nents}/${ev.nents} ents=${ents}/${ev.ents}${cut ? ' [TRUNCATED]' : ''}`;
  const arrays =
    `dma_addrs=${formatTraceArray(ev.dmaAddrs, ents)} sizes=${formatTraceArray(ev.sizes, ents)}` +
    ` phys_addrs=${formatTraceArray(ev.physAddrs, nents)}`;
  return `${head(ev)} ${counts} ${arrays} attrs=${decodeDmaAttrs(ev.attrs)}`;
}

/**
 * The fields of dma_unmap_sg (physical addresses only: the DMA ones are not recorded).
 * @param ev the record
 * @returns e.g. "0000:00:01.0 dir=FROM_DEVICE phys_addrs={0x2b1c3000,0x2b1c2000} attrs="
 * @linux include/trace/events/dma.h dma_unmap_sg
 */
export function formatDmaUnmapSg(ev: DmaUnmapSgTraceEvent): string {
  return `${head(ev)} phys_addrs=${formatTraceArray(ev.physAddrs)} attrs=${decodeDmaAttrs(ev.attrs)}`;
}

/**
 * The fields of dma_sync_single_for_cpu / _for_device.
 * @param ev the record
 * @returns e.g. "0000:00:01.0 dir=FROM_DEVICE dma_addr=3c900000 size=68"
 * @linux include/trace/events/dma.h dma_sync_single_for_cpu
 */
export function formatDmaSyncSingle(ev: DmaSyncSingleTraceEvent): string {
  return `${head(ev)} dma_addr=${u64hex(ev.dmaAddr)} size=${size(ev.size)}`;
}

/**
 * The fields of dma_sync_sg_for_cpu / _for_device.
 * @param ev the record; sizes must be as many as dmaAddrs
 * @returns e.g. "0000:00:01.0 dir=FROM_DEVICE dma_addrs={0x1000,0x3000} sizes={0x200,0x200}"
 * @linux include/trace/events/dma.h dma_sync_sg_for_cpu
 */
export function formatDmaSyncSg(ev: DmaSyncSgTraceEvent): string {
  const n = ev.dmaAddrs.length;
  assert(
    ev.sizes.length === n,
    () => `dma_sync_sg has ${n} addresses but ${ev.sizes.length} sizes`,
  );
  return `${head(ev)} dma_addrs=${formatTraceArray(ev.dmaAddrs)} sizes=${formatTraceArray(ev.sizes)}`;
}

function iovaEnd(iova: TraceU64, n: number): TraceU64 {
  if (typeof iova === 'bigint') return iova + BigInt(n);
  const end = iova + n;
  return Number.isSafeInteger(end) ? end : BigInt(iova) + BigInt(n);
}

/**
 * The fields of iommu:map; the second IOVA is the end (iova + size), exclusive.
 * @param ev the record
 * @returns e.g. "IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000003e524000
 *   size=4096"
 * @linux include/trace/events/iommu.h map
 */
export function formatIommuMap(ev: IommuMapTraceEvent): string {
  const range = `iova=0x${u64hex16(ev.iova)} - 0x${u64hex16(iovaEnd(ev.iova, ev.size))}`;
  return `IOMMU: ${range} paddr=0x${u64hex16(ev.paddr)} size=${size(ev.size)}`;
}

/**
 * The fields of iommu:unmap; the second IOVA is iova + size (asked for, not unmapped).
 * @param ev the record
 * @returns e.g. "IOMMU: iova=0x00000000ffe59000 - 0x00000000ffe5a000 size=4096 unmapped_size=4096"
 * @linux include/trace/events/iommu.h unmap
 */
export function formatIommuUnmap(ev: IommuUnmapTraceEvent): string {
  const range = `iova=0x${u64hex16(ev.iova)} - 0x${u64hex16(iovaEnd(ev.iova, ev.size))}`;
  return `IOMMU: ${range} size=${size(ev.size)} unmapped_size=${size(ev.unmappedSize)}`;
}

/**
 * The fields of swiotlb:swiotlb_bounced.
 * @param ev the record
 * @returns e.g. "dev_name: 0000:00:01.0 dma_mask=ffffffff dev_addr=8baf8c0 size=1522 FORCE"
 * @linux include/trace/events/swiotlb.h swiotlb_bounced
 */
export function formatSwiotlbBounced(ev: SwiotlbBouncedTraceEvent): string {
  const what = `dma_mask=${u64hex(ev.dmaMask)} dev_addr=${u64hex(ev.devAddr)} size=${size(ev.size)}`;
  return `dev_name: ${ev.device} ${what} ${ev.force ? 'FORCE' : 'NORMAL'}`;
}

/**
 * The text a record's TP_printk produces (what follows "event: " in a trace line).
 * @param ev any record
 * @returns the fields, byte for byte as the 6.12 kernel prints them
 */
export function traceEventFields(ev: DmaTraceEvent): string {
  switch (ev.event) {
    case 'dma_map_page':
    case 'dma_map_resource':
      return formatDmaMap(ev);
    case 'dma_unmap_page':
    case 'dma_unmap_resource':
      return formatDmaUnmap(ev);
    case 'dma_alloc':
      return formatDmaAlloc(ev);
    case 'dma_free':
      return formatDmaFree(ev);
    case 'dma_map_sg':
      return formatDmaMapSg(ev);
    case 'dma_unmap_sg':
      return formatDmaUnmapSg(ev);
    case 'dma_sync_single_for_cpu':
    case 'dma_sync_single_for_device':
      return formatDmaSyncSingle(ev);
    case 'dma_sync_sg_for_cpu':
    case 'dma_sync_sg_for_device':
      return formatDmaSyncSg(ev);
    case 'map':
      return formatIommuMap(ev);
    case 'unmap':
      return formatIommuUnmap(ev);
    case 'add_device_to_group':
      return `IOMMU: groupID=${count(ev.groupId)} device=${ev.device}`;
    case 'attach_device_to_domain':
      return `IOMMU: device=${ev.device}`;
    case 'swiotlb_bounced':
      return formatSwiotlbBounced(ev);
  }
}

/**
 * A complete ftrace line for a record, as /sys/kernel/tracing/trace prints it.
 * @param ctx task, pid, cpu, flags and timestamp of the event
 * @param ev the record
 * @returns e.g. "              ip-155     [001] .....     5.323548: dma_map_page: 0000:00:01.0 ..."
 */
export function traceEventLine(ctx: FtraceContext, ev: DmaTraceEvent): string {
  return formatFtraceLine(ctx, ev.event, traceEventFields(ev));
}
