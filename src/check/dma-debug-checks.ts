/**
 * The unmap and sync checks of dma-debug (kernel/dma/debug.c check_unmap, check_sync, Linux
 * 6.12): compare what the driver passes (`ref`) with the entry the map made, and report each
 * difference with the kernel's wording.
 */
import { DMA_MAPPING_ERROR } from '../kernel/device/dma-range.js';
import type { Device } from '../kernel/device/device.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import type { DebugEntry, EntryHash, EntryRef } from './dma-debug-entries.js';
import { MapErr } from './dma-debug-entries.js';
import { devAddr, dirName } from './dma-debug-format.js';
import type { Finding } from './findings.js';

/** err_printk as the checks see it. */
export interface Reporter {
  error(
    dev: Device,
    entry: DebugEntry | null,
    kind: string,
    msg: string,
    where: string,
    details: Partial<Pick<Finding, 'dmaAddr' | 'phys' | 'vaddr' | 'size'>>,
  ): void;
  /** `%pa` of a physical address. */
  pa(phys: number): string;
}

/**
 * check_unmap: the entry `ref` ends, compared field by field (size, function or CPU address, sg
 * count, direction, whether dma_mapping_error was called).
 * @returns the entry to free, or null when none matched (already reported)
 */
export function checkUnmap(hash: EntryHash, r: Reporter, ref: EntryRef): DebugEntry | null {
  const e = hash.findExact(ref);
  // The common case, a correct unmap, formats nothing.
  if (
    e !== null &&
    ref.size === e.size &&
    ref.type === e.type &&
    (e.type !== 'coherent' || ref.phys === e.phys) &&
    (ref.sgCallEnts === 0 || ref.type !== 'scatter-gather' || ref.sgCallEnts === e.sgCallEnts) &&
    ref.dir === e.dir &&
    e.mapErr !== MapErr.NOT_CHECKED
  )
    return e;
  const dev = ref.dev;
  const at = `[device address=${devAddr(ref.dmaAddr)}]`;
  const sized = `${at} [size=${ref.size} bytes]`;
  const d = { dmaAddr: ref.dmaAddr, size: ref.size };
  const w = 'check_unmap';
  if (e === null) {
    if (ref.dmaAddr === DMA_MAPPING_ERROR)
      r.error(
        dev,
        null,
        'unmap-invalid-address',
        'device driver tries to free an invalid DMA memory address',
        w,
        d,
      );
    else
      r.error(
        dev,
        null,
        'unmap-never-mapped',
        `device driver tries to free DMA memory it has not allocated ${sized}`,
        w,
        d,
      );
    return null;
  }
  const de = { ...d, phys: e.phys };
  if (ref.size !== e.size)
    r.error(
      dev,
      e,
      'unmap-wrong-size',
      `device driver frees DMA memory with different size ${at} [map size=${e.size} bytes] [unmap size=${ref.size} bytes]`,
      w,
      de,
    );
  if (ref.type !== e.type)
    r.error(
      dev,
      e,
      'unmap-wrong-function',
      `device driver frees DMA memory with wrong function ${sized} [mapped as ${e.type}] [unmapped as ${ref.type}]`,
      w,
      de,
    );
  else if (e.type === 'coherent' && ref.phys !== e.phys)
    r.error(
      dev,
      e,
      'free-wrong-cpu-address',
      `device driver frees DMA memory with different CPU address ${sized} [cpu alloc address=0x${r.pa(e.phys)}] [cpu free address=0x${r.pa(ref.phys)}]`,
      w,
      de,
    );
  if (ref.sgCallEnts !== 0 && ref.type === 'scatter-gather' && ref.sgCallEnts !== e.sgCallEnts)
    r.error(
      dev,
      e,
      'unmap-sg-wrong-nents',
      `device driver frees DMA sg list with different entry count [map count=${e.sgCallEnts}] [unmap count=${ref.sgCallEnts}]`,
      w,
      de,
    );
  if (ref.dir !== e.dir)
    r.error(
      dev,
      e,
      'unmap-wrong-direction',
      `device driver frees DMA memory with different direction ${sized} [mapped with ${dirName(e.dir)}] [unmapped with ${dirName(ref.dir)}]`,
      w,
      de,
    );
  if (e.mapErr === MapErr.NOT_CHECKED)
    r.error(
      dev,
      e,
      'map-error-not-checked',
      `device driver failed to check map error${sized} [mapped as ${e.type}]`,
      w,
      de,
    );
  return e;
}

/**
 * check_sync: `ref` must lie inside a live mapping of the device, in a direction the mapping
 * allows, over no more sg entries than were mapped.
 * MODEL: 6.12 looks only for a mapping that contains the whole range, so a sync running past the
 * end of a mapping is reported as memory it "has not allocated"; the model reports it as outside
 * the mapping that contains its start, with the kernel's range message (its offset+size relative
 * to that mapping).
 */
export function checkSync(hash: EntryHash, r: Reporter, ref: EntryRef, toCpu: boolean): void {
  const dev = ref.dev;
  const w = 'check_sync';
  const d = { dmaAddr: ref.dmaAddr, size: ref.size };
  const e = hash.findContain(ref);
  if (e === null) {
    const start = hash.findContain({ ...ref, size: 1 });
    if (start !== null) {
      const end = ref.dmaAddr - start.dmaAddr + ref.size;
      r.error(
        dev,
        start,
        'sync-outside-mapping',
        `device driver syncs DMA memory outside allocated range [device address=${devAddr(start.dmaAddr)}] [allocation size=${start.size} bytes] [sync offset+size=${end}]`,
        w,
        { ...d, phys: start.phys },
      );
    } else {
      r.error(
        dev,
        null,
        'sync-never-mapped',
        `device driver tries to sync DMA memory it has not allocated [device address=${devAddr(ref.dmaAddr)}] [size=${ref.size} bytes]`,
        w,
        d,
      );
    }
    return;
  }
  const de = { ...d, phys: e.phys };
  const fields = `[device address=${devAddr(ref.dmaAddr)}] [size=${e.size} bytes] [mapped with ${dirName(e.dir)}] [synced with ${dirName(ref.dir)}]`;
  // A bidirectional mapping may be synced any way; the kernel checks nothing more (not even sg).
  if (e.dir === DmaDataDirection.BIDIRECTIONAL) return;
  if (ref.dir !== e.dir)
    r.error(
      dev,
      e,
      'sync-wrong-direction',
      `device driver syncs DMA memory with different direction ${fields}`,
      w,
      de,
    );
  if (toCpu && e.dir !== DmaDataDirection.FROM_DEVICE && ref.dir !== DmaDataDirection.TO_DEVICE)
    r.error(
      dev,
      e,
      'sync-device-read-only',
      `device driver syncs device read-only DMA memory for cpu ${fields}`,
      w,
      de,
    );
  if (!toCpu && e.dir !== DmaDataDirection.TO_DEVICE && ref.dir !== DmaDataDirection.FROM_DEVICE)
    r.error(
      dev,
      e,
      'sync-device-write-only',
      `device driver syncs device write-only DMA memory to device ${fields}`,
      w,
      de,
    );
  if (ref.sgCallEnts !== 0 && ref.type === 'scatter-gather' && ref.sgCallEnts > e.sgCallEnts)
    r.error(
      dev,
      e,
      'sync-sg-wrong-nents',
      `device driver syncs DMA sg list count larger than map count [map count=${e.sgCallEnts}] [sync count=${ref.sgCallEnts}]`,
      w,
      de,
    );
}
