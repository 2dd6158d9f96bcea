/**
 * Field parsers of the dma:*, iommu:* and swiotlb:* events, one per TP_printk layout
 * (include/trace/events/dma.h, iommu.h, swiotlb.h of Linux 6.12 and later). Each reads the text
 * after "event: " into the record src/kernel/dma/trace.ts (or ./events.ts) prints back.
 */
import { DMA_TRACE_MAX_ENTRIES } from '../kernel/dma/trace.js';
import type {
  DmaMapSgTraceEvent,
  DmaMapTraceEvent,
  DmaUnmapTraceEvent,
  IommuMapTraceEvent,
  IommuUnmapTraceEvent,
} from '../kernel/dma/trace.js';
import type { TraceU64 } from '../kernel/dma/trace-format.js';
import type {
  DmaAllocPhysTraceEvent,
  DmaMapSgErrTraceEvent,
  DmaMapSgPlainTraceEvent,
  DmaSgtTraceEvent,
  IommuIoPageFaultTraceEvent,
  ParsedTraceEvent,
} from './events.js';
import type { FieldCursor } from './fields.js';
import { FieldError, decimal, hexU64, quote } from './fields.js';

/** Reads one event's fields; throws FieldError. */
export type EventParser = (c: FieldCursor, name: string) => ParsedTraceEvent;

/** "<dev> dir=<DIR>": dev_name() may hold spaces, so it runs to " dir=". */
function device(c: FieldCursor): string {
  const dev = c.until(' dir=');
  if (dev === '') throw new FieldError('empty device name');
  return dev;
}

function map(c: FieldCursor, name: string): ParsedTraceEvent {
  const dev = device(c);
  const ev = {
    event: name as DmaMapTraceEvent['event'] | 'dma_map_phys',
    device: dev,
    dir: c.dir(' dir='),
    dmaAddr: c.hex(' dma_addr='),
    size: c.dec(' size='),
    physAddr: c.hex(' phys_addr='),
    attrs: c.attrs(' attrs='),
  };
  c.done();
  return ev;
}

function unmap(c: FieldCursor, name: string): ParsedTraceEvent {
  const dev = device(c);
  const ev = {
    event: name as DmaUnmapTraceEvent['event'] | 'dma_unmap_phys',
    device: dev,
    dir: c.dir(' dir='),
    dmaAddr: c.hex(' dma_addr='),
    size: c.dec(' size='),
    attrs: c.attrs(' attrs='),
  };
  c.done();
  return ev;
}

/** The hashed %p value as printed: 16 hex digits kept as text (only good for matching). */
function ptr(c: FieldCursor, label: string): string {
  c.lit(label);
  const tok = c.token();
  if (hexU64(tok) === null) throw new FieldError(`bad ${label.trim().slice(0, -1)} ${quote(tok)}`);
  return tok;
}

/** dma_alloc of the first 6.12 release: "<dev> dma_addr=... phys_addr=... flags=... attrs=". */
function allocPhys(c: FieldCursor, name: string, free: boolean): ParsedTraceEvent {
  const dev = c.until(' dma_addr=');
  const ev: DmaAllocPhysTraceEvent = {
    event: name as DmaAllocPhysTraceEvent['event'],
    layout: 'phys',
    device: dev,
    dmaAddr: c.hex(' dma_addr='),
    size: c.dec(' size='),
    physAddr: c.hex(' phys_addr='),
    flags: free ? null : c.gfp(' flags='),
    attrs: c.attrs(' attrs='),
  };
  c.done();
  return ev;
}

/** Whether the fields have no " dir=" before " dma_addr=": the first 6.12 release's layout. */
function isPhysLayout(c: FieldCursor, name: string): boolean {
  if (name !== 'dma_alloc' && name !== 'dma_free') return false;
  const d = c.text.indexOf(' dir=', c.pos);
  return d < 0 || d > c.text.indexOf(' dma_addr=', c.pos);
}

function alloc(c: FieldCursor, name: string): ParsedTraceEvent {
  if (isPhysLayout(c, name)) return allocPhys(c, name, false);
  const dev = device(c);
  const ev = {
    // One class, several names (dma_alloc_pages, dma_alloc_sgt_err), one record shape.
    event: name as 'dma_alloc',
    device: dev,
    dir: c.dir(' dir='),
    dmaAddr: c.hex(' dma_addr='),
    size: c.dec(' size='),
    virtAddr: ptr(c, ' virt_addr='),
    flags: c.gfp(' flags='),
    attrs: c.attrs(' attrs='),
  };
  c.done();
  return ev;
}

function free(c: FieldCursor, name: string): ParsedTraceEvent {
  if (isPhysLayout(c, name)) return allocPhys(c, name, true);
  const dev = device(c);
  const ev = {
    // dma_free_pages too: the same class.
    event: name as 'dma_free',
    device: dev,
    dir: c.dir(' dir='),
    dmaAddr: c.hex(' dma_addr='),
    size: c.dec(' size='),
    virtAddr: ptr(c, ' virt_addr='),
    attrs: c.attrs(' attrs='),
  };
  c.done();
  return ev;
}

/** "<label><recorded>/<full>" of dma_map_sg. */
function countPair(c: FieldCursor, label: string): [recorded: number, full: number] {
  c.lit(label);
  const tok = c.token();
  const slash = tok.indexOf('/');
  const a = slash < 0 ? null : decimal(tok, 0, slash);
  const b = slash < 0 ? null : decimal(tok, slash + 1);
  if (a === null || b === null)
    throw new FieldError(`bad ${label.trim().slice(0, -1)} ${quote(tok)}`);
  if (a !== Math.min(b, DMA_TRACE_MAX_ENTRIES)) {
    throw new FieldError(`${label.trim()}${tok}: recorded count is not min(full, 128)`);
  }
  return [a, b];
}

function checkLength(what: string, got: number, want: number): void {
  if (got !== want) throw new FieldError(`${what} has ${got} entries, expected ${want}`);
}

/** dma_map_sg: the 6.12.107 layout with counts, or the plain one without. */
function mapSg(c: FieldCursor): ParsedTraceEvent {
  const dev = device(c);
  const dir = c.dir(' dir=');
  if (!c.text.startsWith(' nents=', c.pos)) return mapSgPlain(c, dev, dir);
  const [nRec, nents] = countPair(c, ' nents=');
  const [eRec, ents] = countPair(c, ' ents=');
  const cut = c.maybe(' [TRUNCATED]');
  if (cut !== (nents > DMA_TRACE_MAX_ENTRIES || ents > DMA_TRACE_MAX_ENTRIES)) {
    throw new FieldError(
      `[TRUNCATED] ${cut ? 'present' : 'missing'} for nents=${nents} ents=${ents}`,
    );
  }
  const dmaAddrs = c.u64Array(' dma_addrs=');
  const sizes = c.u32Array(' sizes=');
  const physAddrs = c.u64Array(' phys_addrs=');
  checkLength('dma_addrs', dmaAddrs.length, eRec);
  checkLength('sizes', sizes.length, eRec);
  checkLength('phys_addrs', physAddrs.length, nRec);
  const ev: DmaMapSgTraceEvent = {
    event: 'dma_map_sg',
    device: dev,
    dir,
    nents,
    ents,
    physAddrs,
    dmaAddrs,
    sizes,
    attrs: c.attrs(' attrs='),
  };
  c.done();
  return ev;
}

function mapSgPlain(c: FieldCursor, dev: string, dir: DmaMapSgTraceEvent['dir']): ParsedTraceEvent {
  const dmaAddrs = c.u64Array(' dma_addrs=');
  const sizes = c.u32Array(' sizes=');
  checkLength('sizes', sizes.length, dmaAddrs.length);
  const physAddrs = c.u64Array(' phys_addrs=');
  const ev: DmaMapSgPlainTraceEvent = {
    event: 'dma_map_sg',
    layout: 'plain',
    device: dev,
    dir,
    nents: physAddrs.length,
    ents: dmaAddrs.length,
    physAddrs,
    dmaAddrs,
    sizes,
    attrs: c.attrs(' attrs='),
  };
  c.done();
  return ev;
}

function unmapSg(c: FieldCursor): ParsedTraceEvent {
  const dev = device(c);
  const ev = {
    event: 'dma_unmap_sg' as const,
    device: dev,
    dir: c.dir(' dir='),
    physAddrs: c.u64Array(' phys_addrs='),
    attrs: c.attrs(' attrs='),
  };
  c.done();
  return ev;
}

function syncSingle(c: FieldCursor, name: string): ParsedTraceEvent {
  const dev = device(c);
  const ev = {
    event: name as 'dma_sync_single_for_cpu' | 'dma_sync_single_for_device',
    device: dev,
    dir: c.dir(' dir='),
    dmaAddr: c.hex(' dma_addr='),
    size: c.dec(' size='),
  };
  c.done();
  return ev;
}

function syncSg(c: FieldCursor, name: string): ParsedTraceEvent {
  const dev = device(c);
  const dir = c.dir(' dir=');
  const dmaAddrs = c.u64Array(' dma_addrs=');
  const sizes = c.u32Array(' sizes=');
  checkLength('sizes', sizes.length, dmaAddrs.length);
  c.done();
  return {
    event: name as 'dma_sync_sg_for_cpu' | 'dma_sync_sg_for_device',
    device: dev,
    dir,
    dmaAddrs,
    sizes,
  };
}

function sgt(c: FieldCursor, name: string): ParsedTraceEvent {
  const dev = device(c);
  const alloc = name === 'dma_alloc_sgt';
  const ev: DmaSgtTraceEvent = {
    event: alloc ? 'dma_alloc_sgt' : 'dma_free_sgt',
    device: dev,
    dir: c.dir(' dir='),
    dmaAddr: c.hex(' dma_addr='),
    size: c.dec(' size='),
    physAddrs: c.u64Array(' phys_addrs='),
    flags: alloc ? c.gfp(' flags=') : null,
    attrs: alloc ? c.attrs(' attrs=') : null,
  };
  c.done();
  return ev;
}

function mapSgErr(c: FieldCursor): ParsedTraceEvent {
  const dev = device(c);
  const ev: DmaMapSgErrTraceEvent = {
    event: 'dma_map_sg_err',
    device: dev,
    dir: c.dir(' dir='),
    physAddrs: c.u64Array(' dma_addrs='),
    err: c.int(' err='),
    attrs: c.attrs(' attrs='),
  };
  c.done();
  return ev;
}

/**
 * The end IOVA the iommu events print must be iova + size (computed at print time, not stored;
 * a u64 sum, so a range ending at the top of the space prints 0).
 */
function checkIovaEnd(iova: TraceU64, end: TraceU64, size: number): void {
  const ok =
    typeof iova === 'number' && typeof end === 'number' && iova + size <= Number.MAX_SAFE_INTEGER
      ? iova + size === end
      : BigInt.asUintN(64, BigInt(iova) + BigInt(size)) === BigInt(end);
  if (!ok) throw new FieldError(`iova end 0x${end.toString(16)} is not iova + size`);
}

function iommuMap(c: FieldCursor): ParsedTraceEvent {
  c.lit('IOMMU:');
  const iova = c.hex0x(' iova=');
  const end = c.hex0x(' - ');
  const ev: IommuMapTraceEvent = {
    event: 'map',
    iova,
    paddr: c.hex0x(' paddr='),
    size: c.dec(' size='),
  };
  c.done();
  checkIovaEnd(iova, end, ev.size);
  return ev;
}

function iommuUnmap(c: FieldCursor): ParsedTraceEvent {
  c.lit('IOMMU:');
  const iova = c.hex0x(' iova=');
  const end = c.hex0x(' - ');
  const ev: IommuUnmapTraceEvent = {
    event: 'unmap',
    iova,
    size: c.dec(' size='),
    unmappedSize: c.dec(' unmapped_size='),
  };
  c.done();
  checkIovaEnd(iova, end, ev.size);
  return ev;
}

function addDeviceToGroup(c: FieldCursor): ParsedTraceEvent {
  const groupId = c.dec('IOMMU: groupID=');
  c.lit(' device=');
  const dev = c.text.slice(c.pos);
  if (dev === '') throw new FieldError('empty device name');
  return { event: 'add_device_to_group', groupId, device: dev };
}

function attachDevice(c: FieldCursor): ParsedTraceEvent {
  c.lit('IOMMU: device=');
  const dev = c.text.slice(c.pos);
  if (dev === '') throw new FieldError('empty device name');
  return { event: 'attach_device_to_domain', device: dev };
}

function ioPageFault(c: FieldCursor): ParsedTraceEvent {
  c.lit('IOMMU:');
  const driver = c.token();
  c.lit(' ');
  const dev = c.until(' iova=');
  const iova = c.hex0x(' iova=');
  const flags = c.hex0x(' flags=');
  if (typeof flags !== 'number' || flags > 0xffff_ffff) throw new FieldError(`bad flags`);
  c.done();
  const ev: IommuIoPageFaultTraceEvent = {
    event: 'io_page_fault',
    driver,
    device: dev,
    iova,
    flags,
  };
  return ev;
}

function swiotlbBounced(c: FieldCursor): ParsedTraceEvent {
  c.lit('dev_name: ');
  const dev = c.until(' dma_mask=');
  const dmaMask = c.hex(' dma_mask=');
  const devAddr = c.hex(' dev_addr=');
  const size = c.dec(' size=');
  c.lit(' ');
  const mode = c.token();
  if (mode !== 'FORCE' && mode !== 'NORMAL') throw new FieldError(`bad force ${quote(mode)}`);
  c.done();
  return { event: 'swiotlb_bounced', device: dev, dmaMask, devAddr, size, force: mode === 'FORCE' };
}

/**
 * The parser of each event name the reader understands; any other name is counted and skipped.
 * Names are printed without their system, so "map"/"unmap" are iommu's.
 */
export const EVENT_PARSERS: ReadonlyMap<string, EventParser> = new Map<string, EventParser>([
  ['dma_map_page', map],
  ['dma_map_resource', map],
  ['dma_map_phys', map],
  ['dma_unmap_page', unmap],
  ['dma_unmap_resource', unmap],
  ['dma_unmap_phys', unmap],
  ['dma_alloc', alloc],
  ['dma_alloc_pages', alloc],
  ['dma_alloc_sgt_err', alloc],
  ['dma_free', free],
  ['dma_free_pages', free],
  ['dma_alloc_sgt', sgt],
  ['dma_free_sgt', sgt],
  ['dma_map_sg', mapSg],
  ['dma_map_sg_err', mapSgErr],
  ['dma_unmap_sg', unmapSg],
  ['dma_sync_single_for_cpu', syncSingle],
  ['dma_sync_single_for_device', syncSingle],
  ['dma_sync_sg_for_cpu', syncSg],
  ['dma_sync_sg_for_device', syncSg],
  ['map', iommuMap],
  ['unmap', iommuUnmap],
  ['add_device_to_group', addDeviceToGroup],
  ['attach_device_to_domain', attachDevice],
  ['io_page_fault', ioPageFault],
  ['swiotlb_bounced', swiotlbBounced],
]);
