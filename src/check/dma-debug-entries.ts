/**
 * DOC: dma-debug's bookkeeping (kernel/dma/debug.c, Linux 6.12): one entry per live mapping in a
 * hash of 16384 buckets keyed by bits 13 and up of the bus address, the kernel's best-fit lookups
 * (exact for unmap, containing for sync, walking back through earlier buckets), and the active
 * cacheline tracking that catches two streaming mappings of one cache line.
 * Entries are recycled through a free list as the kernel's dma_entry_alloc/dma_entry_free do, so
 * a map and an unmap allocate nothing.
 * MODEL: the free list grows one entry at a time (the kernel preallocates 65536 entries and grows
 * a page at a time; the counters are kept, the memory is not); no saved stack trace (the API call
 * that mapped stands in).
 */
import type { DmaAddr, PhysAddr } from '../lib/addr.js';
import type { Device } from '../kernel/device/device.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import { EmptiedKeys, SeqList } from './lists.js';

/** dma_debug_single ... dma_debug_resource: the API family that made an entry. */
export type EntryType = 'single' | 'scatter-gather' | 'coherent' | 'resource';

/** enum map_err_types. */
export const enum MapErr {
  CHECK_NOT_APPLICABLE = 0,
  NOT_CHECKED = 1,
  CHECKED = 2,
}

/** maperr2str. */
export const MAP_ERR_NAMES = [
  'dma map error check not applicable',
  'dma map error not checked',
  'dma map error checked',
] as const;

/** struct dma_debug_entry; also the `ref` the checks compare against. */
export class DebugEntry {
  dev!: Device;
  dmaAddr!: DmaAddr;
  size!: number;
  type!: EntryType;
  dir!: DmaDataDirection;
  /** 'nents' passed to dma_map_sg (0 for other types). */
  sgCallEnts!: number;
  /** What dma_map_sg returned (0 for other types). */
  sgMappedEnts!: number;
  phys!: PhysAddr;
  /** Whether dma_mapping_error() was called on it; written by the mapping_error hook. */
  mapErr!: MapErr;
  /** The API call that made it (the model's "Mapped at:" stack). */
  mappedAt!: string;

  /**
   * Fills every field: type, addresses, size and direction; no sg counts; map error state not
   * applicable unless given.
   */
  set(
    dev: Device,
    type: EntryType,
    phys: PhysAddr,
    dmaAddr: DmaAddr,
    size: number,
    dir: DmaDataDirection,
    mapErr: MapErr = MapErr.CHECK_NOT_APPLICABLE,
    mappedAt = '',
  ): this {
    this.dev = dev;
    this.type = type;
    this.phys = phys;
    this.dmaAddr = dmaAddr;
    this.size = size;
    this.dir = dir;
    this.sgCallEnts = 0;
    this.sgMappedEnts = 0;
    this.mapErr = mapErr;
    this.mappedAt = mappedAt;
    return this;
  }

  /** The sg counts of an entry made by dma_map_sg, or of an sg ref. */
  sg(callEnts: number, mappedEnts: number): this {
    this.sgCallEnts = callEnts;
    this.sgMappedEnts = mappedEnts;
    return this;
  }
}

/** The fields a lookup compares (a DebugEntry, or a copy with one field changed). */
export type EntryRef = Readonly<Omit<DebugEntry, 'set' | 'sg'>>;

/** The free entries (dma_entry_alloc / dma_entry_free). */
export class EntryPool {
  private readonly free = new SeqList<DebugEntry>();

  /** dma_entry_alloc: a free entry, or a new one when none is free. */
  alloc(): DebugEntry {
    return this.free.pop() ?? new DebugEntry();
  }

  /** dma_entry_free: nothing may hold `e` afterwards. */
  release(e: DebugEntry): void {
    this.free.push(e);
  }
}

export const HASH_SIZE = 16384;
const HASH_FN_SHIFT = 13;
const HASH_STEP = 2 ** HASH_FN_SHIFT;
/** 1 / HASH_STEP: multiplying by a power of two's inverse is exact and cheaper than dividing. */
const PER_STEP = 1 / HASH_STEP;
/** ACTIVE_CACHELINE_MAX_OVERLAP: the overlap count lives in three radix-tree tags. */
export const ACTIVE_CACHELINE_MAX_OVERLAP = 7;

/** hash_fn: bits 13..26 of the bus address (DMA_MAPPING_ERROR, all ones, lands in the last). */
export function hashFn(dmaAddr: number): number {
  // `&` truncates toward zero, which is floor for the non-negative addresses.
  return dmaAddr < 0 ? HASH_SIZE - 1 : (dmaAddr * PER_STEP) & (HASH_SIZE - 1);
}

type Match = (ref: EntryRef, e: DebugEntry) => boolean;

const exactMatch: Match = (ref, e) => ref.dmaAddr === e.dmaAddr && ref.dev === e.dev;

const containingMatch: Match = (ref, e) =>
  ref.dev === e.dev && e.dmaAddr <= ref.dmaAddr && e.dmaAddr + e.size >= ref.dmaAddr + ref.size;

/** The hash of live entries. */
export class EntryHash {
  /** By bucket index; a bucket's list stays when it empties (no allocation per map). */
  private readonly buckets: (SeqList<DebugEntry> | undefined)[] = new Array<
    SeqList<DebugEntry> | undefined
  >(HASH_SIZE);
  /** Live entries (what nr_total_entries - num_free_entries counts). */
  nLive = 0;

  /** hash_bucket_add: at the tail of its bucket. */
  add(e: DebugEntry): void {
    const idx = hashFn(e.dmaAddr);
    let b = this.buckets[idx];
    if (b === undefined) this.buckets[idx] = b = new SeqList();
    b.push(e);
    this.nLive++;
  }

  /** hash_bucket_del. */
  remove(e: DebugEntry): void {
    const b = this.buckets[hashFn(e.dmaAddr)];
    if (b !== undefined && b.remove(e)) this.nLive--;
  }

  /** bucket_find_exact: best fit among entries of the same device and address. */
  findExact(ref: EntryRef): DebugEntry | null {
    return bestFit(this.buckets[hashFn(ref.dmaAddr)], ref, exactMatch);
  }

  /**
   * bucket_find_contain: an entry containing [ref.dmaAddr, + ref.size), looking in the ref's
   * bucket and then in earlier ones, as far back as address 0 or the whole table.
   */
  findContain(ref: EntryRef): DebugEntry | null {
    // DMA_MAPPING_ERROR is all ones in the kernel: the walk covers the whole table.
    const limit =
      ref.dmaAddr < 0 ? HASH_SIZE : Math.min(HASH_SIZE, Math.floor(ref.dmaAddr / HASH_STEP) + 1);
    let addr: number = ref.dmaAddr;
    for (let i = 0; i < limit; i++) {
      const e = bestFit(this.buckets[hashFn(addr)], ref, containingMatch);
      if (e !== null) return e;
      addr -= HASH_STEP;
    }
    return null;
  }

  /** debug_dma_mapping_error: the first unchecked entry of `dev` at `dmaAddr` becomes checked. */
  markChecked(dev: Device, dmaAddr: DmaAddr): void {
    const b = this.buckets[hashFn(dmaAddr)];
    if (b === undefined) return;
    for (let i = 0; i < b.n; i++) {
      const e = b.at(i);
      if (e.dev === dev && e.dmaAddr === dmaAddr && e.mapErr === MapErr.NOT_CHECKED) {
        e.mapErr = MapErr.CHECKED;
        return;
      }
    }
  }

  /** Every live entry with its bucket index, in the order the kernel walks the table. */
  *walk(): Generator<[number, DebugEntry]> {
    for (let idx = 0; idx < HASH_SIZE; idx++) {
      const b = this.buckets[idx];
      if (b !== undefined) for (let i = 0; i < b.n; i++) yield [idx, b.at(i)];
    }
  }
}

/**
 * __hash_bucket_find: a perfect fit (size, type, direction and sg count equal) at once; else the
 * best partial fit, but only when it is the sole candidate.
 */
function bestFit(
  bucket: SeqList<DebugEntry> | undefined,
  ref: EntryRef,
  match: Match,
): DebugEntry | null {
  let best: DebugEntry | null = null;
  let bestLvl = -1;
  let matches = 0;
  if (bucket === undefined) return null;
  for (let i = 0; i < bucket.n; i++) {
    const e = bucket.at(i);
    if (!match(ref, e)) continue;
    matches++;
    const lvl =
      Number(e.size === ref.size) +
      Number(e.type === ref.type) +
      Number(e.dir === ref.dir) +
      Number(e.sgCallEnts === ref.sgCallEnts);
    if (lvl === 4) return e;
    if (lvl > bestLvl) {
      bestLvl = lvl;
      best = e;
    }
  }
  return matches === 1 ? best : null;
}

/** ActiveCachelines' count of a line no mapping holds. */
const IDLE = -1;

/** What inserting a mapping's first cache line found. */
export const enum CachelineInsert {
  /** The line had no other active mapping (or the mapping is TO_DEVICE and not tracked). */
  OK = 0,
  /** -EEXIST: another active mapping covers the line. */
  EEXIST = 1,
  /** -EEXIST and the overlap counter overflowed its three tags. */
  OVERFLOW = 2,
}

/**
 * dma_active_cacheline: the first cache line of each live mapping that the device may write,
 * with a count of extra mappings of the same line (at most ACTIVE_CACHELINE_MAX_OVERLAP).
 */
export class ActiveCachelines {
  /** Extra mappings per active line; IDLE for a line that was active (see EmptiedKeys). */
  private readonly overlap = new Map<number, number>();
  private readonly idle = new EmptiedKeys(this.overlap, (n) => n === IDLE);

  /** 1 / L1_CACHE_BYTES (a power of two: exact). */
  private readonly perLine: number;

  constructor(/** L1_CACHE_BYTES. */ lineSize: number) {
    this.perLine = 1 / lineSize;
  }

  /** to_cacheline_number: physical address / L1_CACHE_BYTES. */
  cacheline(phys: PhysAddr): number {
    return Math.floor(phys * this.perLine);
  }

  /** active_cacheline_insert. */
  insert(e: DebugEntry): CachelineInsert {
    if (e.dir === DmaDataDirection.TO_DEVICE) return CachelineInsert.OK;
    const cln = this.cacheline(e.phys);
    const n = this.overlap.get(cln);
    if (n === undefined || n === IDLE) {
      this.overlap.set(cln, 0);
      if (n === IDLE) this.idle.refilled();
      return CachelineInsert.OK;
    }
    if (n + 1 > ACTIVE_CACHELINE_MAX_OVERLAP) return CachelineInsert.OVERFLOW;
    this.overlap.set(cln, n + 1);
    return CachelineInsert.EEXIST;
  }

  /** active_cacheline_remove: the line is idle when the last overlapping mapping goes. */
  remove(e: DebugEntry): void {
    if (e.dir === DmaDataDirection.TO_DEVICE) return;
    const cln = this.cacheline(e.phys);
    const n = this.overlap.get(cln);
    if (n === undefined || n === IDLE) return;
    this.overlap.set(cln, n === 0 ? IDLE : n - 1);
    if (n === 0) this.idle.emptied();
  }
}
