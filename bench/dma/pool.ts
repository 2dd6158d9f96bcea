/**
 * dma_pool rates. `dma/pool`: dma_pool_alloc + dma_pool_free pairs on a pool of 64-byte blocks.
 * `dma/pool-vs-bitmap`: the same pairs on a pool with 10 000 full chunks, against the pre-2.6.24
 * per-page bitmap pool of drivers/base/dmapool.c (seed 004), implemented here as the baseline.
 */
import type { DmaAddr, VirtAddr } from '../../src/lib/addr.js';
import { U64_MAX } from '../../src/kernel/device/dma-mask.js';
import { Device } from '../../src/kernel/device/device.js';
import { DmaPools, dmaPoolAlloc, dmaPoolCreate, dmaPoolFree } from '../../src/kernel/mm/dmapool.js';
import type { CoherentChunk, DmaHandle, DmaPool, DmaPoolOps } from '../../src/kernel/mm/dmapool.js';
import { GFP_KERNEL } from '../../src/kernel/mm/gfp.js';
import { KernelLog } from '../../src/kernel/printk.js';
import { Clock } from '../../src/machine/clock/clock.js';
import type { BenchResult } from '../types.js';
import { steadyRate } from '../timing.js';

const PAGE_SIZE = 4096;
const BLOCK = 64;
const N_PAGES = 10_000;
/** x86-64 linear map: vaddr = dma + this (dma-direct, no IOMMU). */
const VA_OFF = 0x39e0_8000_0000;

/** Chunks from a bump allocator; no memory behind them (nothing is poisoned or zeroed). */
class BumpCoherent implements DmaPoolOps {
  private next = 0x1_0000_0000;

  allocCoherent(_dev: Device, size: number): CoherentChunk {
    const dma = this.next;
    this.next += Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    return { vaddr: (dma + VA_OFF) as VirtAddr, dma: dma as DmaAddr };
  }

  freeCoherent(): void {
    /* nothing to give back */
  }

  memset(): void {
    throw new Error('dma_pool bench: memset on the non-debug fast path');
  }
}

function benchDevice(): Device {
  return new Device({
    name: '0000:00:01.0',
    bus: 'pci',
    dmaMask: U64_MAX,
    coherentDmaMask: U64_MAX,
    dmaCoherent: true,
    dmaRangeMap: null,
    busDmaLimit: 0,
    dmaParms: { maxSegmentSize: 65536, segmentBoundaryMask: U64_MAX, minAlignMask: 0 },
    dmaPort: null,
  });
}

function newPool(ops: BumpCoherent): DmaPool {
  const pools = new DmaPools({ ops, log: new KernelLog(new Clock()), pageSize: PAGE_SIZE });
  const pool = dmaPoolCreate(pools, 'bench', benchDevice(), BLOCK, BLOCK, 0);
  if (pool === null) throw new Error('dma_pool bench: create failed');
  return pool;
}

/** dma_pool_alloc + dma_pool_free pairs per second on a 64-byte pool. */
export function benchDmaPool(): BenchResult {
  const pool = newPool(new BumpCoherent());
  const h: DmaHandle = { dma: 0 as DmaAddr };
  let sink = 0;
  const rate = steadyRate((n) => {
    for (let i = 0; i < n; i++) {
      const v = dmaPoolAlloc(pool, GFP_KERNEL, h);
      if (v === null) throw new Error('dma_pool bench: out of memory');
      sink += h.dma & 0xfff;
      dmaPoolFree(pool, v, h.dma);
    }
  });
  if (sink < 0) throw new Error('dma_pool bench: bad checksum');
  return {
    name: 'dma/pool',
    value: Math.round(rate),
    unit: 'pairs/s',
    target: 20e6,
    better: 'higher',
  };
}

/**
 * The dma_pool of Linux 2.6 before 2.6.24 (drivers/base/dmapool.c; seed 004): a bitmap per chunk
 * (bit set = free), alloc scans the chunks newest first and each bitmap word for a set bit, free
 * finds the chunk by a linear scan of the list (pool_find_page) and sets the bit. The bitmap words
 * are 32 bits wide, as on a 32-bit kernel. Left out: locking, the wait queue, debug poisoning.
 */
class BitmapDmaPool {
  readonly blocksPerPage: number;
  private readonly mapWords: number;
  private readonly pageVaddr: Float64Array;
  private readonly pageDma: Float64Array;
  private readonly inUse: Int32Array;
  private readonly bitmap: Uint32Array;
  /** Chunks in creation order; the list (list_add at the head) is walked from the end. */
  private nPages = 0;

  constructor(
    private readonly ops: BumpCoherent,
    private readonly dev: Device,
    private readonly size: number,
    private readonly allocation: number,
    maxPages: number,
  ) {
    this.blocksPerPage = Math.floor(allocation / size);
    this.mapWords = Math.ceil(this.blocksPerPage / 32);
    this.pageVaddr = new Float64Array(maxPages);
    this.pageDma = new Float64Array(maxPages);
    this.inUse = new Int32Array(maxPages);
    this.bitmap = new Uint32Array(maxPages * this.mapWords);
  }

  /** dma_pool_alloc: first free bit of the first chunk that has one; else a new chunk. */
  alloc(handle: DmaHandle): number {
    const bpp = this.blocksPerPage;
    const words = this.mapWords;
    const bitmap = this.bitmap;
    for (let pi = this.nPages - 1; pi >= 0; pi--) {
      const w0 = pi * words;
      for (let map = 0, i = 0; i < bpp; i += 32, map++) {
        const word = bitmap[w0 + map] as number;
        if (word === 0) continue;
        const bit = 31 - Math.clz32(word & -word);
        if (i + bit < bpp) {
          bitmap[w0 + map] = word & ~(1 << bit);
          return this.ready(pi, (32 * map + bit) * this.size, handle);
        }
      }
    }
    const pi = this.allocPage();
    if (pi < 0) return -1;
    bitmap[pi * words] = (bitmap[pi * words] as number) & ~1;
    return this.ready(pi, 0, handle);
  }

  /** dma_pool_free: pool_find_page by dma, then set the block's bit. */
  free(vaddr: number, dma: number): void {
    let pi = this.nPages - 1;
    for (; pi >= 0; pi--) {
      const base = this.pageDma[pi] as number;
      if (dma < base) continue;
      if (dma < base + this.allocation) break;
    }
    if (pi < 0) throw new Error('bitmap pool: bad dma');
    const block = Math.floor((vaddr - (this.pageVaddr[pi] as number)) / this.size);
    const w = pi * this.mapWords + (block >>> 5);
    this.bitmap[w] = (this.bitmap[w] as number) | (1 << (block & 31));
    this.inUse[pi] = (this.inUse[pi] as number) - 1;
  }

  private ready(pi: number, offset: number, handle: DmaHandle): number {
    this.inUse[pi] = (this.inUse[pi] as number) + 1;
    handle.dma = ((this.pageDma[pi] as number) + offset) as DmaAddr;
    return (this.pageVaddr[pi] as number) + offset;
  }

  /** pool_alloc_page: a new chunk with every bit set (all free), linked at the list head. */
  private allocPage(): number {
    if (this.nPages === this.pageVaddr.length) return -1;
    const c = this.ops.allocCoherent(this.dev, this.allocation);
    const pi = this.nPages++;
    this.pageVaddr[pi] = c.vaddr;
    this.pageDma[pi] = c.dma;
    const w0 = pi * this.mapWords;
    for (let w = 0; w < this.mapWords; w++) {
      const bits = Math.min(32, this.blocksPerPage - 32 * w);
      this.bitmap[w0 + w] = bits === 32 ? 0xffff_ffff : (1 << bits) - 1;
    }
    return pi;
  }
}

/** Which live block each pair frees (then allocates back): a fixed pseudo-random sequence. */
function pickSequence(nBlocks: number, len: number): Int32Array {
  const out = new Int32Array(len);
  let x = 0x2545f491;
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x % nBlocks;
  }
  return out;
}

interface Workload {
  readonly vaddr: Float64Array;
  readonly dma: Float64Array;
  readonly pick: Int32Array;
}

/** Fills N_PAGES chunks with `alloc` and records every block. */
function fill(nBlocks: number, alloc: (h: DmaHandle) => number): Workload {
  const h: DmaHandle = { dma: 0 as DmaAddr };
  const vaddr = new Float64Array(nBlocks);
  const dma = new Float64Array(nBlocks);
  for (let i = 0; i < nBlocks; i++) {
    vaddr[i] = alloc(h);
    dma[i] = h.dma;
  }
  return { vaddr, dma, pick: pickSequence(nBlocks, 1 << 12) };
}

/**
 * Pairs per second of {free a random live block, allocate one} with N_PAGES full chunks: the
 * allocation gets the freed block back, so both algorithms do the same work.
 */
function pairRate(
  w: Workload,
  alloc: (h: DmaHandle) => number,
  free: (v: number, d: number) => void,
  batch: number,
): number {
  const h: DmaHandle = { dma: 0 as DmaAddr };
  let j = 0;
  return steadyRate(
    (n) => {
      for (let i = 0; i < n; i++) {
        const k = w.pick[j++ & 0xfff] as number;
        free(w.vaddr[k] as number, w.dma[k] as number);
        if (alloc(h) !== w.vaddr[k]) throw new Error('dma_pool bench: wrong block');
      }
    },
    { batch, warmupMs: 500, windows: 3, windowMs: 300 },
  );
}

/** Our pool over the old bitmap pool, pairs per second, with 10 000 chunks in use. */
export function benchDmaPoolVsBitmap(): BenchResult {
  const nBlocks = N_PAGES * (PAGE_SIZE / BLOCK);
  const ops = new BumpCoherent();
  const pool = newPool(ops);
  const allocNew = (h: DmaHandle): number => dmaPoolAlloc(pool, GFP_KERNEL, h) ?? -1;
  const freeNew = (v: number, d: number): void => {
    dmaPoolFree(pool, v as VirtAddr, d as DmaAddr);
  };
  const ours = pairRate(fill(nBlocks, allocNew), allocNew, freeNew, 1 << 14);
  const old = new BitmapDmaPool(ops, benchDevice(), BLOCK, PAGE_SIZE, N_PAGES);
  const allocOld = (h: DmaHandle): number => old.alloc(h);
  const freeOld = (v: number, d: number): void => {
    old.free(v, d);
  };
  const base = pairRate(fill(nBlocks, allocOld), allocOld, freeOld, 16);
  return {
    name: 'dma/pool-vs-bitmap',
    value: ours / base,
    unit: 'ratio',
    baseline: Math.round(base),
    target: 100,
    better: 'higher',
  };
}
