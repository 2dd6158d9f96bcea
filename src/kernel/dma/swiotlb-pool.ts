/**
 * The SWIOTLB bounce-buffer pool: struct io_tlb_mem / io_tlb_pool / io_tlb_area / io_tlb_slot and
 * the slot search and release of kernel/dma/swiotlb.c (Linux 6.12, without CONFIG_SWIOTLB_DYNAMIC).
 * Left out: dynamic and transient pools, restricted-dma-pool allocation (for_alloc).
 *
 * DOC: slots, segments, areas
 * The pool is nslabs slots of 2 KiB. Free-space bookkeeping is per slot: `list[i]` is the number of
 * free slots from i to the end of i's 128-slot segment (0 = in use), so a run never spans two
 * segments. The pool is cut into nareas equal areas; a search starts in the current CPU's area at
 * that area's rotating `index` (next fit) and tries the other areas in turn.
 */
import { SimulatorBug } from '../../lib/errors.js';
import { KernelBug } from '../bug.js';
import type { Device } from '../device/device.js';
import type { KernelMemOps } from '../mm/types.js';
import type { KernelLog } from '../printk.js';

/** log2 of the slot size. */
export const IO_TLB_SHIFT = 11;
/** Bytes per slot ("slab"). */
export const IO_TLB_SIZE = 1 << IO_TLB_SHIFT;
/** Slots per segment: the longest run one mapping can take. */
export const IO_TLB_SEGSIZE = 128;
/** Default pool size in bytes (64 MiB = 32768 slots). */
export const IO_TLB_DEFAULT_SIZE = 64 * 1024 * 1024;
/** The boot allocator halves the pool down to this many slots (1 MiB) before giving up. */
export const IO_TLB_MIN_SLABS = (1024 * 1024) >> IO_TLB_SHIFT;
/** orig_addr of a free slot. MODEL: the kernel uses all-ones phys_addr_t; -1 here. */
export const INVALID_PHYS_ADDR = -1;
/**
 * What the map functions return when no slot is free or the request cannot be served: the
 * kernel returns (phys_addr_t)DMA_MAPPING_ERROR; the caller turns this into DMA_MAPPING_ERROR.
 */
export const SWIOTLB_MAP_ERROR = -1;

/** The part of struct device the pool reads. */
export type SwiotlbDevice = Pick<Device, 'name' | 'logPrefix' | 'dmaParms' | 'dmaMask'>;

/** What the pool needs from the rest of the kernel. */
export interface SwiotlbEnv {
  /** The kernel's memcpy by physical address (the bounce copies). */
  readonly mem: KernelMemOps;
  readonly log: KernelLog;
  /** raw_smp_processor_id(): the CPU the current call runs on. */
  readonly cpu: () => number;
  /** PAGE_SIZE in bytes; default 4096. */
  readonly pageSize?: number;
}

/** struct io_tlb_area: one lock domain of a pool. */
export class IoTlbArea {
  /** Slots of this area in use; written by search and release. */
  used = 0;
  /** Slot (relative to the area) where the next search starts; written by search. */
  index = 0;
}

/** struct io_tlb_pool: one contiguous bounce buffer with its slot table. */
export class IoTlbPool {
  /** First physical byte past the pool. */
  readonly end: number;
  /** Slots per area. */
  readonly areaNslabs: number;
  readonly areas: readonly IoTlbArea[];
  /** io_tlb_slot.orig_addr per slot: original address for this slot, INVALID_PHYS_ADDR if free. */
  readonly origAddr: Float64Array;
  /** io_tlb_slot.alloc_size per slot: bytes from this slot to the end of its allocation. */
  readonly allocSize: Uint32Array;
  /** io_tlb_slot.list per slot: free slots from here to the end of the segment, 0 in use. */
  readonly list: Uint16Array;
  /** io_tlb_slot.pad_slots: alignment padding slots before this (first real) slot. */
  readonly padSlots: Uint16Array;
  /** MODEL: who holds an allocation (device name by its first slot), for reports only. */
  readonly owner = new Map<number, string>();

  /**
   * swiotlb_init_io_tlb_pool: a pool of `nslabs` slots at physical address `start`, split into
   * `nareas` areas, all slots free.
   * @param start - physical address of the buffer (page aligned)
   * @param nslabs - number of slots, a multiple of IO_TLB_SEGSIZE
   * @param nareas - power of two with nslabs / nareas >= IO_TLB_SEGSIZE
   * @linux kernel/dma/swiotlb.c swiotlb_init_io_tlb_pool
   */
  constructor(
    readonly start: number,
    readonly nslabs: number,
    readonly nareas: number,
  ) {
    const ok =
      Number.isSafeInteger(start) &&
      start >= 0 &&
      Number.isInteger(nslabs) &&
      nslabs > 0 &&
      nslabs % IO_TLB_SEGSIZE === 0 &&
      isPow2(nareas) &&
      nslabs / nareas >= IO_TLB_SEGSIZE;
    if (!ok)
      throw new SimulatorBug(`swiotlb pool: start ${start}, ${nslabs} slabs, ${nareas} areas`);
    this.end = start + nslabs * IO_TLB_SIZE;
    this.areaNslabs = nslabs / nareas;
    this.areas = Array.from({ length: nareas }, () => new IoTlbArea());
    this.origAddr = new Float64Array(nslabs).fill(INVALID_PHYS_ADDR);
    this.allocSize = new Uint32Array(nslabs);
    this.list = new Uint16Array(nslabs);
    this.padSlots = new Uint16Array(nslabs);
    for (let i = 0; i < nslabs; i++) {
      this.list[i] = Math.min(IO_TLB_SEGSIZE - (i % IO_TLB_SEGSIZE), nslabs - i);
    }
  }

  /** Physical address of slot `index`. */
  slotAddr(index: number): number {
    return this.start + index * IO_TLB_SIZE;
  }

  /** True if `phys` lies inside the pool. */
  contains(phys: number): boolean {
    return phys >= this.start && phys < this.end;
  }
}

/** struct io_tlb_mem: the pools a device bounces through, with the global counters. */
export class IoTlbMem {
  /** Total slots (debugfs io_tlb_nslabs). */
  readonly nslabs: number;
  /** Slots in use now (debugfs io_tlb_used); written by search and release. */
  totalUsed = 0;
  /** Highest totalUsed seen (debugfs io_tlb_used_hiwater); reset by writing 0. */
  usedHiwater = 0;
  /** dev_WARN_ONCE call sites that have fired (MODEL: per io_tlb_mem, not per kernel image). */
  readonly warned = new Set<string>();
  /** MODEL: the host buffer a bounce copy goes through, reused; null while a copy holds it. */
  private bounceBuf: Uint8Array | null = new Uint8Array(BOUNCE_BUF_MIN);

  /**
   * @param defpool - the default pool
   * @param forceBounce - swiotlb=force: every streaming mapping bounces
   * @param env - memory access, log and current CPU
   * @param forAlloc - restricted pool that also serves coherent allocations
   */
  constructor(
    readonly defpool: IoTlbPool,
    readonly forceBounce: boolean,
    readonly env: SwiotlbEnv,
    readonly forAlloc = false,
  ) {
    this.nslabs = defpool.nslabs;
  }

  /** The pools (MODEL: only the default pool; no CONFIG_SWIOTLB_DYNAMIC). */
  get pools(): readonly IoTlbPool[] {
    return [this.defpool];
  }

  /** PAGE_SIZE. */
  get pageSize(): number {
    return this.env.pageSize ?? 4096;
  }

  /**
   * A host buffer of at least `len` bytes for one bounce copy (MODEL: the kernel's memcpy needs
   * none), so a copy does not allocate; hand it back with giveBounceBuffer. A nested copy (an
   * observer that maps during one) gets a fresh buffer.
   */
  takeBounceBuffer(len: number): Uint8Array {
    const b = this.bounceBuf;
    this.bounceBuf = null;
    return b !== null && b.length >= len ? b : new Uint8Array(Math.max(len, BOUNCE_BUF_MIN));
  }

  /** Returns what takeBounceBuffer gave out, for the next copy. */
  giveBounceBuffer(buf: Uint8Array): void {
    if (this.bounceBuf === null || buf.length > this.bounceBuf.length) this.bounceBuf = buf;
  }
}

/** Initial size of the reused bounce-copy buffer (grown to the largest copy seen). */
const BOUNCE_BUF_MIN = 4096;

/** DIV_ROUND_UP(val, IO_TLB_SIZE). */
export function nrSlots(val: number): number {
  return Math.ceil(val / IO_TLB_SIZE);
}

/**
 * swiotlb_align_offset: the low bits of `addr` a bounce buffer keeps (under the device's
 * min_align_mask and under `alignMask | (IO_TLB_SIZE - 1)`).
 * @linux kernel/dma/swiotlb.c swiotlb_align_offset
 */
export function swiotlbAlignOffset(dev: SwiotlbDevice, alignMask: number, addr: number): number {
  return lowAnd(lowAnd(addr, dev.dmaParms.minAlignMask), alignMask | (IO_TLB_SIZE - 1));
}

/**
 * swiotlb_pool_find_slots: searches the areas of `pool`, starting with the current CPU's.
 * @returns the first slot index of the allocation, or -1 when no area has room
 * @linux kernel/dma/swiotlb.c swiotlb_pool_find_slots
 */
export function swiotlbPoolFindSlots(
  mem: IoTlbMem,
  pool: IoTlbPool,
  dev: SwiotlbDevice,
  origAddr: number,
  allocSize: number,
  allocAlignMask: number,
): number {
  const start = mem.env.cpu() & (pool.nareas - 1);
  let i = start;
  do {
    const index = swiotlbSearchPoolArea(mem, pool, dev, i, origAddr, allocSize, allocAlignMask);
    if (index >= 0) return index;
    if (++i >= pool.nareas) i = 0;
  } while (i !== start);
  return -1;
}

/** The search's derived alignment parameters. */
interface SearchAlign {
  readonly allocAlignMask: number;
  readonly iotlbAlignMask: number;
  readonly stride: number;
}

function searchAlign(
  mem: IoTlbMem,
  dev: SwiotlbDevice,
  allocSize: number,
  allocAlignMask: number,
): SearchAlign {
  let iotlbAlignMask = dev.dmaParms.minAlignMask;
  let alignMask = allocAlignMask;
  // Streaming maps of a page or more stay page aligned when nothing else is asked (historical).
  if (alignMask === 0 && iotlbAlignMask === 0 && allocSize >= mem.pageSize) {
    alignMask = mem.pageSize - 1;
  }
  alignMask = (alignMask | (IO_TLB_SIZE - 1)) >>> 0;
  iotlbAlignMask = (iotlbAlignMask & ~alignMask) >>> 0;
  const stride = (Math.max(alignMask, iotlbAlignMask) >>> IO_TLB_SHIFT) + 1;
  return { allocAlignMask: alignMask, iotlbAlignMask, stride };
}

/**
 * get_max_slots(dma_get_seg_boundary(dev)) and the pool's start under the boundary mask, as
 * plain numbers; maxSlots 0 means the boundary cannot be crossed by any pool (>= 2^52 bytes).
 */
function segBoundary(dev: SwiotlbDevice, pool: IoTlbPool): { maxSlots: number; tblAddr: number } {
  const mask = dev.dmaParms.segmentBoundaryMask;
  if (mask >= 2n ** 52n) return { maxSlots: 0, tblAddr: pool.start };
  const size = Number(mask) + 1;
  return { maxSlots: Math.floor(size / IO_TLB_SIZE) || 1, tblAddr: pool.start % size };
}

/**
 * swiotlb_search_pool_area: next-fit search of one area for `nrSlots(allocSize)` free slots that
 * satisfy the alignment rules and do not cross the device's segment boundary; on success marks
 * them used and advances the area's index.
 * MODEL: slot addresses are compared as physical addresses; the kernel uses
 * phys_to_dma_unencrypted(pool->start), which equals it without a dma_range_map offset.
 * @returns the first slot index (including padding slots), or -1 when the area has no fit
 * @linux kernel/dma/swiotlb.c swiotlb_search_pool_area
 */
export function swiotlbSearchPoolArea(
  mem: IoTlbMem,
  pool: IoTlbPool,
  dev: SwiotlbDevice,
  areaIndex: number,
  origAddr: number,
  allocSize: number,
  allocAlignMask: number,
): number {
  const area = pool.areas[areaIndex];
  const nslots = nrSlots(allocSize);
  if (area === undefined) throw new SimulatorBug(`swiotlb search: no area ${areaIndex}`);
  // A zero-byte bounce: the kernel's BUG_ON(!nslots) in swiotlb_search_pool_area.
  if (nslots === 0)
    throw new KernelBug('kernel BUG at kernel/dma/swiotlb.c: a zero-size bounce (BUG_ON(!nslots))');
  if (nslots > pool.areaNslabs - area.used) return -1;
  const al = searchAlign(mem, dev, allocSize, allocAlignMask);
  const bound = segBoundary(dev, pool);
  const slotBase = areaIndex * pool.areaNslabs;
  let index = area.index;
  for (let checked = 0; checked < pool.areaNslabs;) {
    const slot = slotBase + index;
    const tlbAddr = bound.tblAddr + slot * IO_TLB_SIZE;
    const misaligned =
      lowAnd(tlbAddr, al.allocAlignMask) !== 0 ||
      (origAddr !== 0 &&
        lowAnd(tlbAddr, al.iotlbAlignMask) !== lowAnd(origAddr, al.iotlbAlignMask));
    if (misaligned) {
      index = wrapAreaIndex(pool, index + 1);
      checked++;
      continue;
    }
    if (!crossesBoundary(slot, nslots, bound) && (pool.list[slot] ?? 0) >= nslots) {
      takeSlots(mem, pool, dev, slot, nslots, allocSize, origAddr);
      area.index = wrapAreaIndex(pool, index + nslots);
      area.used += nslots;
      return slot;
    }
    index = wrapAreaIndex(pool, index + al.stride);
    checked += al.stride;
  }
  return -1;
}

/** iommu_is_span_boundary(slot, nslots, nr_slots(tbl_dma_addr), max_slots). */
function crossesBoundary(
  slot: number,
  nslots: number,
  b: { maxSlots: number; tblAddr: number },
): boolean {
  if (b.maxSlots === 0) return false;
  const first = (nrSlots(b.tblAddr) + slot) % b.maxSlots;
  return first + nslots > b.maxSlots;
}

/** Marks [slot, slot + nslots) used and renumbers the free run before it in its segment. */
function takeSlots(
  mem: IoTlbMem,
  pool: IoTlbPool,
  dev: SwiotlbDevice,
  slot: number,
  nslots: number,
  allocSize: number,
  origAddr: number,
): void {
  const offset = swiotlbAlignOffset(dev, 0, origAddr);
  for (let i = slot; i < slot + nslots; i++) {
    pool.list[i] = 0;
    pool.allocSize[i] = allocSize - (offset + (i - slot) * IO_TLB_SIZE);
  }
  let count = 0;
  for (let i = slot - 1; ioTlbOffset(i) !== IO_TLB_SEGSIZE - 1 && (pool.list[i] ?? 0) !== 0; i--) {
    pool.list[i] = ++count;
  }
  pool.owner.set(slot, dev.name);
  mem.totalUsed += nslots;
  if (mem.totalUsed > mem.usedHiwater) mem.usedHiwater = mem.totalUsed;
}

/**
 * swiotlb_release_slots: frees the allocation that `tlbAddr` points into (found from its first
 * slot's alloc_size and pad_slots) and merges it with the free runs around it in its segment.
 * MODEL: an address whose slot is free, or that is not the start of a live allocation, is left
 * alone and reported by the return value; the kernel does not check and would corrupt its lists.
 * @returns the number of slots freed, or 0 if `tlbAddr` is not a live bounce buffer
 * @linux kernel/dma/swiotlb.c swiotlb_release_slots
 */
export function swiotlbReleaseSlots(
  mem: IoTlbMem,
  pool: IoTlbPool,
  dev: SwiotlbDevice,
  tlbAddr: number,
): number {
  const offset = swiotlbAlignOffset(dev, 0, tlbAddr);
  const real = Math.floor((tlbAddr - offset - pool.start) / IO_TLB_SIZE);
  const index = real - (pool.padSlots[real] ?? 0);
  if (!isLiveStart(pool, real, index)) return 0;
  const nslots = nrSlots((pool.allocSize[index] ?? 0) + offset);
  const area = pool.areas[Math.floor(index / pool.areaNslabs)];
  if (area === undefined) throw new SimulatorBug(`swiotlb release: slot ${index}`);
  const segEnd = (Math.floor(index / IO_TLB_SEGSIZE) + 1) * IO_TLB_SEGSIZE;
  let count = index + nslots < segEnd ? (pool.list[index + nslots] ?? 0) : 0;
  for (let i = index + nslots - 1; i >= index; i--) {
    pool.list[i] = ++count;
    pool.origAddr[i] = INVALID_PHYS_ADDR;
    pool.allocSize[i] = 0;
    pool.padSlots[i] = 0;
  }
  for (let i = index - 1; ioTlbOffset(i) !== IO_TLB_SEGSIZE - 1 && (pool.list[i] ?? 0) !== 0; i--) {
    pool.list[i] = ++count;
  }
  area.used -= nslots;
  mem.totalUsed -= nslots;
  pool.owner.delete(index);
  return nslots;
}

/** The slot is in use and starts an allocation that the owner map knows. */
function isLiveStart(pool: IoTlbPool, real: number, index: number): boolean {
  return (
    index >= 0 &&
    real < pool.nslabs &&
    pool.list[real] === 0 &&
    pool.origAddr[real] !== INVALID_PHYS_ADDR &&
    pool.owner.has(index)
  );
}

/** wrap_area_index: an index past the area's end goes back to 0 (not modulo). */
function wrapAreaIndex(pool: IoTlbPool, index: number): number {
  return index >= pool.areaNslabs ? 0 : index;
}

/** io_tlb_offset: position of slot `i` in its segment (-1 gives 127, as unsigned arithmetic). */
function ioTlbOffset(i: number): number {
  return i & (IO_TLB_SEGSIZE - 1);
}

/** a & mask for an address a up to 2^52 and a mask below 2^32. */
function lowAnd(a: number, mask: number): number {
  return ((a % 0x100000000) & mask) >>> 0;
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}
