/**
 * Fidelity of the SWIOTLB slot search (issue 8): replays the bounces of a swiotlb=force trace
 * through the simulator's pool (kernel/dma/swiotlb*.ts) and compares the slot addresses.
 */
import { KernelLog } from '../kernel/printk.js';
import { DMA_ATTR_SKIP_CPU_SYNC } from '../kernel/dma/attrs.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import type { SwiotlbDevice } from '../kernel/dma/swiotlb.js';
import {
  IO_TLB_DEFAULT_SIZE,
  IO_TLB_SHIFT,
  IO_TLB_SIZE,
  IoTlbMem,
  IoTlbPool,
  SWIOTLB_MAP_ERROR,
  swiotlbTblMapSingle,
  swiotlbTblUnmapSingle,
} from '../kernel/dma/swiotlb.js';
import { Clock } from '../machine/clock/clock.js';
import type { FidelityReport } from './fidelity.js';
import { FidelityTally, LiveMap, MAPPING_ERROR, big, cpusOf, num, sgKey } from './fidelity.js';
import type { TraceRecord } from './reader.js';

export interface SwiotlbAgreementOptions {
  /** Physical address of the default pool; default inferred (see inferPoolStart). */
  readonly poolStart?: number;
  /** Slots of the pool; default the kernel's 64 MiB (32768). */
  readonly nslabs?: number;
  /** Areas; default num_possible_cpus() rounded up to a power of two (CPUs the trace names). */
  readonly nareas?: number;
  /** dma_get_min_align_mask of the device (nvme: 0xfff); default 0 (e1000). */
  readonly minAlignMask?: number;
  /** Divergences listed; default 10. */
  readonly maxDivergences?: number;
}

function roundupPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The maps that bounce: dma_map_page/dma_map_phys (and each entry of an unmerged sg list). */
function isBounceMap(rec: TraceRecord): boolean {
  const e = rec.ev.event;
  return e === 'dma_map_page' || e === 'dma_map_phys' || e === 'dma_map_sg';
}

/**
 * Where the pool starts. The kernel allocates it from memblock at boot (top-down in low memory,
 * below whatever else memblock reserved first), so its address cannot be computed from the
 * command line; it is inferred instead. A search starts in the area of the mapping CPU
 * (cpu & (nareas - 1)) at that area's next-fit index, 0 at boot, so the slot of a map minus the
 * start of its CPU's area is the pool start for the first map on each CPU, and above it for any
 * later one. The lowest such value over all maps, rounded down to a page, is the pool start.
 * @returns the inferred start, or null when the trace bounces nothing
 */
export function inferPoolStart(
  records: readonly TraceRecord[],
  nslabs: number,
  nareas: number,
): number | null {
  const areaBytes = (nslabs / nareas) * IO_TLB_SIZE;
  let best: number | null = null;
  for (const rec of records) {
    if (!isBounceMap(rec)) continue;
    const ev = rec.ev;
    const addrs = 'dmaAddrs' in ev ? ev.dmaAddrs : 'dmaAddr' in ev ? [ev.dmaAddr] : [];
    for (const a of addrs) {
      if (big(a) === MAPPING_ERROR) continue;
      const slot = num(a) - (num(a) % IO_TLB_SIZE);
      const cand = slot - (rec.cpu & (nareas - 1)) * areaBytes;
      if (best === null || cand < best) best = cand;
    }
  }
  return best === null ? null : best - (best % 4096);
}

/**
 * Replays the bounces of a swiotlb=force trace (dma-direct): each dma_map_page takes slots with
 * swiotlb_tbl_map_single (alloc_align_mask 0) on the line's CPU, each unmap releases the slots
 * the simulator gave; a dma_map_sg is replayed entry by entry when dma-direct left it unmerged
 * (ents == nents). Coherent allocations do not use the pool and are ignored.
 * @param records the parsed trace
 * @param opts pool geometry (see SwiotlbAgreementOptions)
 * @returns counts, percentage and the first divergences
 */
export function swiotlbAgreement(
  records: readonly TraceRecord[],
  opts: SwiotlbAgreementOptions = {},
): FidelityReport {
  const nslabs = opts.nslabs ?? IO_TLB_DEFAULT_SIZE >> IO_TLB_SHIFT;
  const nareas = opts.nareas ?? roundupPow2(cpusOf(records));
  const tally = new FidelityTally(opts.maxDivergences ?? 10);
  const start = opts.poolStart ?? inferPoolStart(records, nslabs, nareas);
  if (start === null) return tally.report();
  let cpu = 0;
  const env = {
    mem: { memset: () => undefined, read: () => undefined, write: () => undefined },
    log: new KernelLog(new Clock()),
    cpu: () => cpu,
  };
  const mem = new IoTlbMem(new IoTlbPool(start, nslabs, nareas), true, env);
  const devs = new Map<string, SwiotlbDevice>();
  const devOf = (name: string): SwiotlbDevice => {
    let d = devs.get(name);
    if (d === undefined) {
      d = {
        name,
        logPrefix: name,
        dmaMask: 0xffff_ffff_ffff_ffffn,
        dmaParms: {
          maxSegmentSize: 65536,
          segmentBoundaryMask: 0xffff_ffffn,
          minAlignMask: opts.minAlignMask ?? 0,
        },
      };
      devs.set(name, d);
    }
    return d;
  };
  const live = new LiveMap<{ addr: number; size: number }[]>();
  const TO_DEVICE = DmaDataDirection.TO_DEVICE;
  /** swiotlb_map: one bounce; returns the simulated slot address (or -1). */
  const bounce = (
    rec: TraceRecord,
    dev: SwiotlbDevice,
    phys: number,
    size: number,
    dma: bigint,
  ) => {
    const addr = swiotlbTblMapSingle(mem, dev, phys, size, 0, TO_DEVICE, 0);
    tally.compare(rec.line, rec.ev.event, dma, addr === SWIOTLB_MAP_ERROR ? -1n : BigInt(addr));
    return addr;
  };
  const release = (device: string, key: string): void => {
    const m = live.take(key);
    if (m === undefined) {
      tally.preexisting++;
      return;
    }
    for (const b of m) {
      if (b.addr === SWIOTLB_MAP_ERROR) continue;
      // SKIP_CPU_SYNC: nothing to copy back; only the slots matter.
      swiotlbTblUnmapSingle(mem, devOf(device), b.addr, b.size, TO_DEVICE, DMA_ATTR_SKIP_CPU_SYNC);
    }
  };

  for (const rec of records) {
    cpu = rec.cpu;
    const ev = rec.ev;
    switch (ev.event) {
      case 'dma_map_page':
      case 'dma_map_phys': {
        const dma = big(ev.dmaAddr);
        if (dma === MAPPING_ERROR) {
          tally.skipped++;
          break;
        }
        const addr = bounce(rec, devOf(ev.device), num(ev.physAddr), ev.size, dma);
        live.add(`${ev.device}|${dma.toString(16)}`, [{ addr, size: ev.size }]);
        break;
      }
      case 'dma_map_sg': {
        if (ev.dmaAddrs.length !== ev.physAddrs.length || ev.sizes.length !== ev.physAddrs.length) {
          tally.skipped++;
          break;
        }
        const dev = devOf(ev.device);
        const bufs = ev.physAddrs.map((p, i) => {
          const size = ev.sizes[i] ?? 0;
          return { addr: bounce(rec, dev, num(p), size, big(ev.dmaAddrs[i] ?? 0)), size };
        });
        live.add(sgKey(ev.device, ev.physAddrs), bufs);
        break;
      }
      case 'dma_unmap_page':
      case 'dma_unmap_phys':
        release(ev.device, `${ev.device}|${big(ev.dmaAddr).toString(16)}`);
        break;
      case 'dma_unmap_sg':
        release(ev.device, sgKey(ev.device, ev.physAddrs));
        break;
      default:
        break;
    }
  }
  return tally.report();
}
