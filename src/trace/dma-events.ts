/**
 * Field parsers of the dma:*, iommu:* and swiotlb:* events, one per TP_printk layout
 * (include/trace/events/dma.h, iommu.h, swiotlb.h of Linux 6.12 and later). Each reads the text
 * after "event: " into the record src/kernel/dma/trace.ts (or ./events.ts) prints back.
 *
 * The dma events are "<device> <label><value> <label><value> ...": each is declared below as the
 * list of its fields in TP_printk order, read by one generic parser (fieldsParser). The layouts
 * with cross-field checks (dma_map_sg, dma_sync_sg_*) and the iommu and swiotlb events are
 * written out.
 */
import { DMA_TRACE_MAX_ENTRIES } from '../kernel/dma/trace.js';
import type {
  DmaMapSgTraceEvent,
  DmaMapTraceEvent,
  DmaSyncSingleTraceEvent,
  DmaUnmapTraceEvent,
  IommuMapTraceEvent,
  IommuUnmapTraceEvent,
} from '../kernel/dma/trace.js';
import type { TraceU64 } from '../kernel/dma/trace-format.js';
import type {
  DmaMapSgPlainTraceEvent,
  IommuIoPageFaultTraceEvent,
  ParsedTraceEvent,
} from './events.js';
import type { FieldCursor } from './fields.js';
import { FieldError, decimal, hexU64, quote } from './fields.js';

/** Reads one event's fields; throws FieldError. */
export type EventParser = (c: FieldCursor, name: string) => ParsedTraceEvent;

/** "<dev><label>": dev_name() may hold spaces, so it runs to the first field's label. */
function device(c: FieldCursor, label: string): string {
  const dev = c.until(label);
  if (dev === '') throw new FieldError('empty device name');
  return dev;
}

/** The hashed %p value as printed: 16 hex digits kept as text (only good for matching). */
function ptr(c: FieldCursor, label: string): string {
  c.lit(label);
  const tok = c.token();
  if (hexU64(tok) === null) throw new FieldError(`bad ${label.trim().slice(0, -1)} ${quote(tok)}`);
  return tok;
}

/** How each kind of value is read after its label (the printf conversion or decoder). */
const READ = {
  /** decode_dma_data_direction */
  dir: (c: FieldCursor, label: string) => c.dir(label),
  /** %llx */
  hex: (c: FieldCursor, label: string) => c.hex(label),
  /** %zu */
  dec: (c: FieldCursor, label: string) => c.dec(label),
  /** %d */
  int: (c: FieldCursor, label: string) => c.int(label),
  /** %p */
  ptr,
  /** show_gfp_flags */
  gfp: (c: FieldCursor, label: string) => c.gfp(label),
  /** decode_dma_attrs */
  attrs: (c: FieldCursor, label: string) => c.attrs(label),
  /** __print_array of u64 */
  u64s: (c: FieldCursor, label: string) => c.u64Array(label),
} as const;

/** One printed field: the record's key, the label before the value, how the value reads. */
type Field = readonly [key: string, label: string, kind: keyof typeof READ];

/**
 * A parser of "<device><field><field>...": the device name, then each field in order, then
 * nothing more. `fixed` are keys every record of the layout has whatever the line says (a layout
 * tag, the fields this layout does not print as null).
 *
 * The record's shape is checked by the round-trip tests (every layout is printed back by the
 * printers of ./events.ts and src/kernel/dma/trace.ts), not by the compiler.
 */
function fieldsParser(fields: readonly [Field, ...Field[]], fixed: object = {}): EventParser {
  const first = fields[0][1];
  const preset = Object.entries(fixed);
  return (c, name) => {
    const ev: Record<string, unknown> = { event: name, device: device(c, first) };
    for (const [key, value] of preset) ev[key] = value;
    for (const [key, label, kind] of fields) ev[key] = READ[kind](c, label);
    c.done();
    return ev as unknown as ParsedTraceEvent;
  };
}

const DIR: Field = ['dir', ' dir=', 'dir'];
const DMA_ADDR: Field = ['dmaAddr', ' dma_addr=', 'hex'];
const SIZE: Field = ['size', ' size=', 'dec'];
const PHYS_ADDR: Field = ['physAddr', ' phys_addr=', 'hex'];
const VIRT_ADDR: Field = ['virtAddr', ' virt_addr=', 'ptr'];
const PHYS_ADDRS: Field = ['physAddrs', ' phys_addrs=', 'u64s'];
const FLAGS: Field = ['flags', ' flags=', 'gfp'];
const ATTRS: Field = ['attrs', ' attrs=', 'attrs'];

/*
 * The three commonest layouts are written out: one function per layout lets the engine fit each
 * to its record's shape, which a parser shared by every layout cannot be (a tenth off an e1000
 * trace's check).
 */

/** class dma_map: dma_map_page, dma_map_resource (≤6.17), dma_map_phys (6.18+). */
function map(c: FieldCursor, name: string): ParsedTraceEvent {
  const ev = {
    event: name as DmaMapTraceEvent['event'],
    device: device(c, ' dir='),
    dir: c.dir(' dir='),
    dmaAddr: c.hex(' dma_addr='),
    size: c.dec(' size='),
    physAddr: c.hex(' phys_addr='),
    attrs: c.attrs(' attrs='),
  };
  c.done();
  return ev;
}

/** class dma_unmap: dma_unmap_page, dma_unmap_resource (≤6.17), dma_unmap_phys (6.18+). */
function unmap(c: FieldCursor, name: string): ParsedTraceEvent {
  const ev = {
    event: name as DmaUnmapTraceEvent['event'],
    device: device(c, ' dir='),
    dir: c.dir(' dir='),
    dmaAddr: c.hex(' dma_addr='),
    size: c.dec(' size='),
    attrs: c.attrs(' attrs='),
  };
  c.done();
  return ev;
}

/** dma_sync_single_for_cpu / _for_device. */
function syncSingle(c: FieldCursor, name: string): ParsedTraceEvent {
  const ev = {
    event: name as DmaSyncSingleTraceEvent['event'],
    device: device(c, ' dir='),
    dir: c.dir(' dir='),
    dmaAddr: c.hex(' dma_addr='),
    size: c.dec(' size='),
  };
  c.done();
  return ev;
}

/** class dma_alloc_class (6.13+, and 6.12 stable): dma_alloc, dma_alloc_pages, dma_alloc_sgt_err. */
const allocDir = fieldsParser([DIR, DMA_ADDR, SIZE, VIRT_ADDR, FLAGS, ATTRS]);
/** class dma_free_class (6.13+, and 6.12 stable): dma_free, dma_free_pages. */
const freeDir = fieldsParser([DIR, DMA_ADDR, SIZE, VIRT_ADDR, ATTRS]);
/** dma_alloc / dma_free of v6.12 (from -rc4): no dir, %p virt_addr. */
const allocNoDir = fieldsParser([DMA_ADDR, SIZE, VIRT_ADDR, FLAGS, ATTRS], { layout: 'nodir' });
const freeNoDir = fieldsParser([DMA_ADDR, SIZE, VIRT_ADDR, ATTRS], {
  layout: 'nodir',
  flags: null,
});
/** dma_alloc / dma_free of 6.12-rc1 to -rc3: no dir, phys_addr. */
const allocPhys = fieldsParser([DMA_ADDR, SIZE, PHYS_ADDR, FLAGS, ATTRS], { layout: 'phys' });
const freePhys = fieldsParser([DMA_ADDR, SIZE, PHYS_ADDR, ATTRS], { layout: 'phys', flags: null });
const allocSgt = fieldsParser([DIR, DMA_ADDR, SIZE, PHYS_ADDRS, FLAGS, ATTRS]);
const freeSgt = fieldsParser([DIR, DMA_ADDR, SIZE, PHYS_ADDRS], { flags: null, attrs: null });
/** dma_map_sg_err: the list printed as dma_addrs holds sg_phys() (see DmaMapSgErrTraceEvent). */
const mapSgErr = fieldsParser([
  DIR,
  ['physAddrs', ' dma_addrs=', 'u64s'],
  ['err', ' err=', 'int'],
  ATTRS,
]);
const unmapSg = fieldsParser([DIR, PHYS_ADDRS, ATTRS]);

/**
 * dma_alloc and dma_free by layout: "dir=" first (6.13+ and 6.12 stable), else v6.12's
 * "virt_addr=", else 6.12-rc's "phys_addr=". Only these two names had the older layouts.
 */
function byAllocLayout(withDir: EventParser, noDir: EventParser, phys: EventParser): EventParser {
  return (c, name) => {
    if (name !== 'dma_alloc' && name !== 'dma_free') return withDir(c, name);
    const d = c.find(' dir=');
    if (d >= 0 && d < c.find(' dma_addr=')) return withDir(c, name);
    return c.find(' phys_addr=') >= 0 ? phys(c, name) : noDir(c, name);
  };
}

const alloc = byAllocLayout(allocDir, allocNoDir, allocPhys);
const free = byAllocLayout(freeDir, freeNoDir, freePhys);

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
  const dev = device(c, ' dir=');
  const dir = c.dir(' dir=');
  if (!c.at(' nents=')) return mapSgPlain(c, dev, dir);
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

function syncSg(c: FieldCursor, name: string): ParsedTraceEvent {
  const dev = device(c, ' dir=');
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
  const dev = c.rest();
  if (dev === '') throw new FieldError('empty device name');
  return { event: 'add_device_to_group', groupId, device: dev };
}

function attachDevice(c: FieldCursor): ParsedTraceEvent {
  c.lit('IOMMU: device=');
  const dev = c.rest();
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
  if (typeof flags !== 'number' || flags > 0xffff_ffff) {
    throw new FieldError(`bad flags ${quote('0x' + flags.toString(16))}`);
  }
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
  ['dma_alloc_sgt', allocSgt],
  ['dma_free_sgt', freeSgt],
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
