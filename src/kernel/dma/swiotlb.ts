/**
 * SWIOTLB bounce buffering (kernel/dma/swiotlb.c, include/trace/events/swiotlb.h, Linux 6.12):
 * mapping through bounce slots, the copy rules per direction, the swiotlb_bounced trace record,
 * debugfs counters and an inspection view. The pool and slot search are in swiotlb-pool.ts, boot
 * set-up in swiotlb-init.ts. Left out: highmem page-by-page copies, dynamic/transient pools.
 */
import { EINVAL } from '../errno.js';
import { MemAttr } from '../../machine/memory/attr.js';
import { SimulatorBug } from '../../lib/errors.js';
import { DmaDataDirection } from './direction.js';
import {
  INVALID_PHYS_ADDR,
  IO_TLB_SEGSIZE,
  IO_TLB_SIZE,
  SWIOTLB_MAP_ERROR,
  nrSlots,
  swiotlbAlignOffset,
  swiotlbPoolFindSlots,
  swiotlbReleaseSlots,
  type IoTlbMem,
  type IoTlbPool,
  type SwiotlbDevice,
} from './swiotlb-pool.js';

export * from './swiotlb-pool.js';
export * from './swiotlb-init.js';

/** DMA_ATTR_SKIP_CPU_SYNC (include/linux/dma-mapping.h). */
const DMA_ATTR_SKIP_CPU_SYNC = 1 << 5;
/** DMA_ATTR_NO_WARN (include/linux/dma-mapping.h). */
const DMA_ATTR_NO_WARN = 1 << 8;

/**
 * swiotlb_tbl_map_single: takes bounce slots for [origAddr, origAddr + mappingSize) and copies
 * the original into them (6.12 does so whatever the direction, so that a partial device write
 * cannot expose stale bounce contents).
 * @param mem - the device's io_tlb_mem (dev->dma_io_tlb_mem)
 * @param allocAlignMask - extra alignment of the allocation (IOMMU granule - 1), 0 for dma-direct
 * @param dir - unused for the copy in 6.12 (kept for the kernel's signature)
 * @param attrs - DMA_ATTR_* bits; DMA_ATTR_NO_WARN silences the "buffer is full" message
 * @returns the bounce physical address (low bits under min_align_mask equal origAddr's), or
 *   SWIOTLB_MAP_ERROR when no pool exists or no run of slots is free (retry after unmaps can help)
 * @linux kernel/dma/swiotlb.c swiotlb_tbl_map_single
 */
export function swiotlbTblMapSingle(
  mem: IoTlbMem | null,
  dev: SwiotlbDevice,
  origAddr: number,
  mappingSize: number,
  allocAlignMask: number,
  dir: DmaDataDirection,
  attrs: number,
): number {
  if (mem === null || mem.nslabs === 0) {
    mem?.env.log.ratelimited(
      'swiotlb_tbl_map_single',
      'warn',
      `${dev.logPrefix}: Can not allocate SWIOTLB buffer earlier and can't now provide you with the DMA bounce buffer`,
    );
    return SWIOTLB_MAP_ERROR;
  }
  if (allocAlignMask > mem.pageSize - 1) warnOnce(mem, dev, 'align', ALIGN_WARNING);
  const offset = swiotlbAlignOffset(dev, allocAlignMask, origAddr);
  const size = alignUp(mappingSize + offset, allocAlignMask + 1);
  const pool = mem.defpool;
  let index = swiotlbPoolFindSlots(mem, pool, dev, origAddr, size, allocAlignMask);
  if (index === -1) {
    if ((attrs & DMA_ATTR_NO_WARN) === 0) {
      mem.env.log.ratelimited(
        'swiotlb_tbl_map_single',
        'warn',
        `${dev.logPrefix}: swiotlb buffer is full (sz: ${size} bytes), total ${mem.nslabs} (slots), used ${mem.totalUsed} (slots)`,
      );
    }
    return SWIOTLB_MAP_ERROR;
  }
  const pad = Math.floor(offset / IO_TLB_SIZE);
  index += pad;
  pool.padSlots[index] = pad;
  for (let i = 0; i < nrSlots(size) - pad; i++)
    pool.origAddr[index + i] = origAddr + i * IO_TLB_SIZE;
  const tlbAddr = pool.slotAddr(index) + (offset & (IO_TLB_SIZE - 1));
  swiotlbBounce(mem, dev, tlbAddr, mappingSize, DmaDataDirection.TO_DEVICE, pool);
  return tlbAddr;
}

const ALIGN_WARNING = 'Alloc alignment may prevent fulfilling requests with max mapping_size';

/** What swiotlbTblUnmapSingle did. */
export const enum SwiotlbUnmapResult {
  /** Slots copied back as the direction asks and released. */
  RELEASED = 0,
  /** The address is not in any pool: nothing to do (the kernel's swiotlb_find_pool is NULL). */
  NOT_SWIOTLB = 1,
  /** Inside a pool but not the start of a live bounce buffer: left alone (see MODEL). */
  NOT_LIVE = 2,
}

/**
 * swiotlb_tbl_unmap_single: copies the bounce buffer back to the original for FROM_DEVICE and
 * BIDIRECTIONAL (unless DMA_ATTR_SKIP_CPU_SYNC), then frees the slots.
 * MODEL: the kernel silently ignores an address outside every pool and does not check an address
 * inside one, corrupting its free lists on a double or bogus unmap; here such an unmap changes
 * nothing and returns NOT_LIVE for the checker (dma-debug reports it in the kernel).
 * @returns RELEASED, NOT_SWIOTLB or NOT_LIVE
 * @linux kernel/dma/swiotlb.c __swiotlb_tbl_unmap_single
 */
export function swiotlbTblUnmapSingle(
  mem: IoTlbMem | null,
  dev: SwiotlbDevice,
  tlbAddr: number,
  mappingSize: number,
  dir: DmaDataDirection,
  attrs: number,
): SwiotlbUnmapResult {
  const pool = swiotlbFindPool(mem, tlbAddr);
  if (mem === null || pool === null) return SwiotlbUnmapResult.NOT_SWIOTLB;
  if (!isLiveBuffer(pool, dev, tlbAddr)) return SwiotlbUnmapResult.NOT_LIVE;
  const back = dir === DmaDataDirection.FROM_DEVICE || dir === DmaDataDirection.BIDIRECTIONAL;
  if ((attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0 && back) {
    swiotlbBounce(mem, dev, tlbAddr, mappingSize, DmaDataDirection.FROM_DEVICE, pool);
  }
  swiotlbReleaseSlots(mem, pool, dev, tlbAddr);
  return SwiotlbUnmapResult.RELEASED;
}

function isLiveBuffer(pool: IoTlbPool, dev: SwiotlbDevice, tlbAddr: number): boolean {
  const offset = swiotlbAlignOffset(dev, 0, tlbAddr);
  const real = Math.floor((tlbAddr - offset - pool.start) / IO_TLB_SIZE);
  const first = real - (pool.padSlots[real] ?? 0);
  return (
    pool.list[real] === 0 && pool.origAddr[real] !== INVALID_PHYS_ADDR && pool.owner.has(first)
  );
}

/**
 * swiotlb_sync_single_for_device: TO_DEVICE and BIDIRECTIONAL copy original → bounce;
 * FROM_DEVICE copies nothing.
 * @throws SimulatorBug for DMA_NONE (the kernel BUGs; the mapping layer rejects it earlier)
 * @linux kernel/dma/swiotlb.c swiotlb_sync_single_for_device
 */
export function swiotlbSyncSingleForDevice(
  mem: IoTlbMem,
  dev: SwiotlbDevice,
  tlbAddr: number,
  size: number,
  dir: DmaDataDirection,
): void {
  const pool = poolOf(mem, tlbAddr);
  if (dir === DmaDataDirection.TO_DEVICE || dir === DmaDataDirection.BIDIRECTIONAL) {
    swiotlbBounce(mem, dev, tlbAddr, size, DmaDataDirection.TO_DEVICE, pool);
  } else if (dir !== DmaDataDirection.FROM_DEVICE) {
    throw new SimulatorBug(`kernel BUG in swiotlb_sync_single_for_device: direction ${dir}`);
  }
}

/**
 * swiotlb_sync_single_for_cpu: FROM_DEVICE and BIDIRECTIONAL copy bounce → original;
 * TO_DEVICE copies nothing.
 * @throws SimulatorBug for DMA_NONE (the kernel BUGs; the mapping layer rejects it earlier)
 * @linux kernel/dma/swiotlb.c swiotlb_sync_single_for_cpu
 */
export function swiotlbSyncSingleForCpu(
  mem: IoTlbMem,
  dev: SwiotlbDevice,
  tlbAddr: number,
  size: number,
  dir: DmaDataDirection,
): void {
  const pool = poolOf(mem, tlbAddr);
  if (dir === DmaDataDirection.FROM_DEVICE || dir === DmaDataDirection.BIDIRECTIONAL) {
    swiotlbBounce(mem, dev, tlbAddr, size, DmaDataDirection.FROM_DEVICE, pool);
  } else if (dir !== DmaDataDirection.TO_DEVICE) {
    throw new SimulatorBug(`kernel BUG in swiotlb_sync_single_for_cpu: direction ${dir}`);
  }
}

function poolOf(mem: IoTlbMem, tlbAddr: number): IoTlbPool {
  const pool = swiotlbFindPool(mem, tlbAddr);
  if (pool === null) throw new SimulatorBug(`swiotlb sync of ${tlbAddr.toString(16)}: no pool`);
  return pool;
}

/**
 * swiotlb_bounce: copies between the bounce buffer at `tlbAddr` and the original recorded for its
 * slot (TO_DEVICE: original → bounce, otherwise bounce → original), `size` bytes, through the
 * CPU (cacheable kernel memcpy). The original location is per slot, so a partial sync at an
 * offset finds it; a size beyond the allocation is truncated with the kernel's warning. A free
 * slot copies nothing.
 * @linux kernel/dma/swiotlb.c swiotlb_bounce
 */
export function swiotlbBounce(
  mem: IoTlbMem,
  dev: SwiotlbDevice,
  tlbAddr: number,
  size: number,
  dir: DmaDataDirection,
  pool: IoTlbPool,
): void {
  const index = Math.floor((tlbAddr - pool.start) / IO_TLB_SIZE);
  let origAddr = pool.origAddr[index] ?? INVALID_PHYS_ADDR;
  if (origAddr === INVALID_PHYS_ADDR) return;
  // May be negative when tlbAddr points into the first bytes of a later slot.
  const tlbOffset = (tlbAddr % IO_TLB_SIZE) - swiotlbAlignOffset(dev, 0, origAddr);
  origAddr += tlbOffset;
  const allocSize = (pool.allocSize[index] ?? 0) - tlbOffset;
  let len = size;
  if (len > allocSize) {
    warnOnce(
      mem,
      dev,
      'overflow',
      `Buffer overflow detected. Allocation size: ${allocSize}. Mapping size: ${len}.`,
    );
    len = allocSize;
  }
  if (len <= 0) return;
  const toDevice = dir === DmaDataDirection.TO_DEVICE;
  const buf = mem.takeBounceBuffer(len);
  mem.env.mem.read(toDevice ? origAddr : tlbAddr, buf, 0, len, MemAttr.CACHEABLE);
  mem.env.mem.write(toDevice ? tlbAddr : origAddr, buf, 0, len, MemAttr.CACHEABLE);
  mem.giveBounceBuffer(buf);
}

/**
 * swiotlb_find_pool: the pool of `mem` that holds `phys`.
 * @returns the pool, or null when `phys` is not a bounce buffer address (or mem is null)
 * @linux kernel/dma/swiotlb.c swiotlb_find_pool
 */
export function swiotlbFindPool(mem: IoTlbMem | null, phys: number): IoTlbPool | null {
  if (mem === null) return null;
  for (const p of mem.pools) if (p.contains(phys)) return p;
  return null;
}

/**
 * is_swiotlb_buffer: `phys` lies inside one of the device's bounce pools.
 * @linux include/linux/swiotlb.h is_swiotlb_buffer
 */
export function isSwiotlbBuffer(mem: IoTlbMem | null, phys: number): boolean {
  return swiotlbFindPool(mem, phys) !== null;
}

/**
 * is_swiotlb_force_bounce: every streaming mapping of the device bounces.
 * @linux include/linux/swiotlb.h is_swiotlb_force_bounce
 */
export function isSwiotlbForceBounce(mem: IoTlbMem | null): boolean {
  return mem?.forceBounce ?? false;
}

/**
 * is_swiotlb_active: the device has a pool with slots.
 * @linux kernel/dma/swiotlb.c is_swiotlb_active
 */
export function isSwiotlbActive(mem: IoTlbMem | null): boolean {
  return mem !== null && mem.nslabs > 0;
}

/**
 * swiotlb_max_mapping_size: one segment (256 KiB) minus min_align_mask rounded up to a slot.
 * @returns bytes
 * @linux kernel/dma/swiotlb.c swiotlb_max_mapping_size
 */
export function swiotlbMaxMappingSize(dev: SwiotlbDevice): number {
  const m = dev.dmaParms.minAlignMask;
  const minAlign = m === 0 ? 0 : Math.ceil(m / IO_TLB_SIZE) * IO_TLB_SIZE;
  return IO_TLB_SIZE * IO_TLB_SEGSIZE - minAlign;
}

/** Fields of the swiotlb:swiotlb_bounced tracepoint. */
export interface SwiotlbBouncedRecord {
  readonly devName: string;
  /** *dev->dma_mask (0 without one). */
  readonly dmaMask: bigint;
  /** phys_to_dma of the original buffer (dma-direct) or its physical address (IOMMU-DMA). */
  readonly devAddr: number;
  readonly size: number;
  /** is_swiotlb_force_bounce(dev). */
  readonly force: boolean;
}

/**
 * trace_swiotlb_bounced: the record swiotlb_map emits before taking slots.
 * @linux include/trace/events/swiotlb.h swiotlb_bounced
 */
export function traceSwiotlbBounced(
  mem: IoTlbMem | null,
  dev: SwiotlbDevice,
  devAddr: number,
  size: number,
): SwiotlbBouncedRecord {
  return {
    devName: dev.name,
    dmaMask: dev.dmaMask,
    devAddr,
    size,
    force: isSwiotlbForceBounce(mem),
  };
}

/** The record as ftrace prints it after "swiotlb_bounced: ". */
export function formatSwiotlbBounced(r: SwiotlbBouncedRecord): string {
  return (
    `dev_name: ${r.devName} dma_mask=${r.dmaMask.toString(16)} ` +
    `dev_addr=${r.devAddr.toString(16)} size=${r.size} ${r.force ? 'FORCE' : 'NORMAL'}`
  );
}

/** The debugfs files of swiotlb/ and their values. */
export type SwiotlbDebugfsFile = 'io_tlb_nslabs' | 'io_tlb_used' | 'io_tlb_used_hiwater';

/**
 * Reads a debugfs file of swiotlb/ ("%llu\n").
 * @linux kernel/dma/swiotlb.c swiotlb_create_debugfs_files
 */
export function swiotlbDebugfsRead(mem: IoTlbMem, file: SwiotlbDebugfsFile): string {
  const v =
    file === 'io_tlb_nslabs'
      ? mem.nslabs
      : file === 'io_tlb_used'
        ? mem.totalUsed
        : mem.usedHiwater;
  return `${v}\n`;
}

/**
 * Writes io_tlb_used_hiwater: only 0 is accepted and resets the mark.
 * @returns 0, or -EINVAL for any other value
 * @linux kernel/dma/swiotlb.c io_tlb_hiwater_set
 */
export function swiotlbHiwaterWrite(mem: IoTlbMem, value: number): number {
  if (value !== 0) return -EINVAL;
  mem.usedHiwater = 0;
  return 0;
}

/** One live bounce buffer, for reports and the visualizer. */
export interface SwiotlbAllocation {
  /** First slot (including padding slots) and its count. */
  readonly slot: number;
  readonly nSlots: number;
  readonly tlbAddr: number;
  readonly origAddr: number;
  readonly device: string;
}

/** One area's occupation. */
export interface SwiotlbAreaReport {
  readonly area: number;
  readonly used: number;
  /** Where the next search in this area starts (slot relative to the area). */
  readonly index: number;
  readonly allocations: readonly SwiotlbAllocation[];
}

/** Slots in use per area of the default pool and who holds them, lowest slot first. */
export function swiotlbInspect(mem: IoTlbMem): SwiotlbAreaReport[] {
  const pool = mem.defpool;
  const byArea: SwiotlbAllocation[][] = pool.areas.map(() => []);
  const firsts = [...pool.owner.keys()].sort((a, b) => a - b);
  for (const slot of firsts) {
    const real = findRealSlot(pool, slot);
    const nSlots = nrSlots(pool.allocSize[slot] ?? 0);
    byArea[Math.floor(slot / pool.areaNslabs)]?.push({
      slot,
      nSlots: Math.max(nSlots, real - slot + 1),
      tlbAddr: pool.slotAddr(real),
      origAddr: pool.origAddr[real] ?? INVALID_PHYS_ADDR,
      device: pool.owner.get(slot) ?? '',
    });
  }
  return pool.areas.map((a, i) => ({
    area: i,
    used: a.used,
    index: a.index,
    allocations: byArea[i] ?? [],
  }));
}

function findRealSlot(pool: IoTlbPool, first: number): number {
  let s = first;
  while (s < pool.nslabs && pool.origAddr[s] === INVALID_PHYS_ADDR && s - first < IO_TLB_SEGSIZE)
    s++;
  return s;
}

/** dev_WARN_ONCE: once per message key and pool. */
function warnOnce(mem: IoTlbMem, dev: SwiotlbDevice, key: string, text: string): void {
  if (mem.warned.has(key)) return;
  mem.warned.add(key);
  mem.env.log.warn(`${dev.logPrefix}: ${text}`);
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
