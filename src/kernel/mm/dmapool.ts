/**
 * dma_pool: small coherent DMA blocks carved from coherent chunks (mm/dmapool.c, Linux 6.12, the
 * O(1) pool-wide free-block stack of 2023). Left out: NUMA nodes, the pool spinlock and the
 * pools_reg_lock/pools_lock mutexes (the model is single-threaded).
 */
import { isValidAddr } from '../../lib/addr.js';
import type { DmaAddr, VirtAddr } from '../../lib/addr.js';
import { assert } from '../../lib/errors.js';
import type { Device } from '../device/device.js';
import { devmAdd } from '../device/devres.js';
import type { DevresEntry } from '../device/devres.js';
import type { KernelLog } from '../printk.js';
import { __GFP_ZERO } from './gfp.js';
import type { Gfp } from './gfp.js';

/**
 * DOC: dma_pool
 *
 * A pool hands out blocks of one size from chunks of `allocation` = max(size, PAGE_SIZE) bytes
 * that it gets from the coherent allocator. A new chunk is cut into blocks in ascending address
 * order, skipping to the next `boundary` multiple wherever a block would straddle one; the chain
 * of new blocks goes in front of the pool's single free-block list, so the lowest block of a new
 * chunk comes out first. dma_pool_alloc pops the head, dma_pool_free pushes on it (freed blocks are
 * reused most recent first). Chunks go back to the coherent allocator only on dma_pool_destroy.
 *
 * MODEL: the kernel keeps the free list inside the free blocks themselves (struct dma_block: next
 * pointer and dma address in the first bytes). Here the list is a stack of (vaddr, dma) pairs in
 * typed arrays beside the memory, so the first 16 bytes of a free block keep whatever was there
 * (the kernel overwrites them with the link). Order and addresses are the kernel's.
 */

/** POOL_POISON_FREED (include/linux/poison.h): fills free blocks when DMAPOOL_DEBUG is on. */
export const POOL_POISON_FREED = 0xa7;
/** POOL_POISON_ALLOCATED: fills a block handed out without zeroing when DMAPOOL_DEBUG is on. */
export const POOL_POISON_ALLOCATED = 0xa9;
const INT_MAX = 0x7fff_ffff;
/** Length of the per-pool name (char name[32], NUL included). */
const POOL_NAME_LEN = 32;

/** A coherent chunk: what dma_alloc_coherent returns. */
export interface CoherentChunk {
  readonly vaddr: VirtAddr;
  readonly dma: DmaAddr;
}

/** What the pool needs from the rest of the kernel: the coherent allocator and memory access. */
export interface DmaPoolOps {
  /** dma_alloc_coherent(dev, size, &dma, gfp). @returns the chunk, or null when out of memory */
  allocCoherent(dev: Device, size: number, gfp: Gfp): CoherentChunk | null;
  /** dma_free_coherent(dev, size, vaddr, dma). */
  freeCoherent(dev: Device, size: number, vaddr: VirtAddr, dma: DmaAddr): void;
  /** memset through the kernel mapping (KernelVm.memset). */
  memset(vaddr: VirtAddr, value: number, len: number): void;
  /** Reads memory (KernelVm.read); needed only for the DMAPOOL_DEBUG corruption check. */
  read?(vaddr: VirtAddr, dst: Uint8Array, off: number, len: number): void;
  /** How %p prints a kernel pointer; default the raw address in hex (as with no_hash_pointers). */
  formatPtr?(vaddr: VirtAddr): string;
}

/** Configuration of the dma_pool code of one kernel. */
export interface DmaPoolConfig {
  readonly ops: DmaPoolOps;
  readonly log: KernelLog;
  /** PAGE_SIZE in bytes; default 4096. */
  readonly pageSize?: number;
  /**
   * sizeof(struct dma_block), the smallest block: 16 on 64-bit (pointer + dma_addr_t), the
   * default; 8 on 32-bit with a 32-bit dma_addr_t (unverified for 32-bit with 64-bit dma_addr_t).
   */
  readonly dmaBlockSize?: number;
  /** sizeof(dma_addr_t): 8 (default) or 4; sets the width %pad prints. */
  readonly dmaAddrBytes?: number;
  /** DMAPOOL_DEBUG (defined by CONFIG_SLUB_DEBUG_ON): poisoning and the free checks. */
  readonly debug?: boolean;
  /** init_on_alloc=1: every block is zeroed when handed out. */
  readonly initOnAlloc?: boolean;
  /** init_on_free=1: every freed block is zeroed (only when DMAPOOL_DEBUG is off). */
  readonly initOnFree?: boolean;
}

/** The dma_addr_t out-parameter of dma_pool_alloc (`*handle`); reuse one to avoid allocation. */
export interface DmaHandle {
  dma: DmaAddr;
}

/**
 * The dma_pool code of one kernel: its configuration and every device's pool list
 * (dev->dma_pools, newest first), from which the sysfs `pools` file is printed.
 */
export class DmaPools {
  readonly ops: DmaPoolOps;
  readonly log: KernelLog;
  readonly pageSize: number;
  readonly dmaBlockSize: number;
  readonly dmaAddrBytes: number;
  readonly debug: boolean;
  readonly initOnAlloc: boolean;
  readonly initOnFree: boolean;
  /** dev->dma_pools of each device with at least one pool, newest first. */
  private readonly byDev = new Map<Device, DmaPool[]>();

  constructor(cfg: DmaPoolConfig) {
    this.ops = cfg.ops;
    this.log = cfg.log;
    this.pageSize = cfg.pageSize ?? 4096;
    this.dmaBlockSize = cfg.dmaBlockSize ?? 16;
    this.dmaAddrBytes = cfg.dmaAddrBytes ?? 8;
    this.debug = cfg.debug ?? false;
    this.initOnAlloc = cfg.initOnAlloc ?? false;
    this.initOnFree = cfg.initOnFree ?? false;
  }

  /** The pools of `dev`, newest first (the order the `pools` file lists them). */
  poolsOf(dev: Device): readonly DmaPool[] {
    return this.byDev.get(dev) ?? [];
  }

  /** True while `dev` has the sysfs attribute `pools` (from its first pool to its last destroy). */
  hasPoolsFile(dev: Device): boolean {
    return this.byDev.has(dev);
  }

  /** Links a new pool at the head of its device's list (list_add). */
  link(pool: DmaPool): void {
    const list = this.byDev.get(pool.dev);
    if (list === undefined) this.byDev.set(pool.dev, [pool]);
    else list.unshift(pool);
  }

  /** Unlinks a pool; the device's `pools` file goes with its last pool. */
  unlink(pool: DmaPool): void {
    const list = this.byDev.get(pool.dev);
    const i = list === undefined ? -1 : list.indexOf(pool);
    assert(list !== undefined && i >= 0, () => `dma_pool ${pool.name} is not on its device list`);
    list.splice(i, 1);
    if (list.length === 0) this.byDev.delete(pool.dev);
  }

  /** %pad: the dma address zero-padded to the width of dma_addr_t. */
  pad(dma: number): string {
    return '0x' + dma.toString(16).padStart(this.dmaAddrBytes * 2, '0');
  }

  /** %p of a kernel pointer. */
  ptr(vaddr: VirtAddr): string {
    return this.ops.formatPtr?.(vaddr) ?? '0x' + vaddr.toString(16);
  }
}

/** struct dma_pool. Fields are written only by the dma_pool functions of this file. */
export class DmaPool {
  /** The name as stored (truncated to 31 characters). */
  readonly name: string;
  /** Blocks handed out and not freed (nr_active). */
  nrActive = 0;
  /** Blocks carved from all chunks (nr_blocks). */
  nrBlocks = 0;
  /** Chunks allocated (nr_pages). */
  nrPages = 0;
  /** Free blocks: vaddr and dma of each, the head at index freeTop - 1. */
  private freeVaddr = new Float64Array(64);
  private freeDma = new Float64Array(64);
  private freeTop = 0;
  /** The chunks, oldest first (the kernel's page_list is newest first). */
  private readonly pageVaddr: number[] = [];
  private readonly pageDma: number[] = [];
  private readonly debugBuf: Uint8Array;

  constructor(
    readonly pools: DmaPools,
    name: string,
    /** The owning device (messages, the coherent allocator, the `pools` file). */
    readonly dev: Device,
    /** Block size in bytes, after the minimum and alignment. */
    readonly size: number,
    /** Chunk size in bytes: max(size, PAGE_SIZE). */
    readonly allocation: number,
    /** No block straddles a multiple of this (a power of two, <= allocation). */
    readonly boundary: number,
  ) {
    this.name = truncateName(name);
    this.debugBuf = pools.debug ? new Uint8Array(size) : new Uint8Array(0);
  }

  /** Free blocks on the pool's list. */
  get nrFree(): number {
    return this.freeTop;
  }

  /** The free list, head first, as [vaddr, dma] pairs (for tests and reports). */
  freeList(): [VirtAddr, DmaAddr][] {
    const out: [VirtAddr, DmaAddr][] = [];
    for (let i = this.freeTop - 1; i >= 0; i--)
      out.push([this.freeVaddr[i] as VirtAddr, this.freeDma[i] as DmaAddr]);
    return out;
  }

  /** The chunks as (vaddr, dma), oldest first. */
  chunks(): CoherentChunk[] {
    return this.pageVaddr.map((v, i) => ({
      vaddr: v as VirtAddr,
      dma: this.pageDma[i] as DmaAddr,
    }));
  }

  /**
   * pool_block_pop: takes the head of the free list.
   * @returns its vaddr (its dma in `handle`), or -1 when the list is empty
   * @linux mm/dmapool.c pool_block_pop
   */
  pop(handle: DmaHandle): number {
    const top = this.freeTop - 1;
    if (top < 0) return -1;
    this.freeTop = top;
    this.nrActive++;
    handle.dma = this.freeDma[top] as DmaAddr;
    return this.freeVaddr[top] as number;
  }

  /**
   * pool_block_push: the block becomes the head of the free list.
   * @linux mm/dmapool.c pool_block_push
   */
  push(vaddr: number, dma: number): void {
    const top = this.freeTop;
    if (top === this.freeVaddr.length) this.grow(top * 2);
    this.freeVaddr[top] = vaddr;
    this.freeDma[top] = dma;
    this.freeTop = top + 1;
  }

  /**
   * pool_initialise_page: cuts a new chunk into blocks and puts them, lowest address first, in
   * front of the free list.
   * @linux mm/dmapool.c pool_initialise_page
   */
  addChunk(chunk: CoherentChunk): void {
    const end = this.allocation - 1;
    assert(
      isValidAddr(chunk.vaddr + end) && isValidAddr(chunk.dma + end),
      () => `dma_pool ${this.name}: chunk ${chunk.vaddr}/${chunk.dma} is not an exact address`,
    );
    const offsets = carveOffsets(this.size, this.allocation, this.boundary);
    const n = offsets.length;
    if (this.freeTop + n > this.freeVaddr.length) this.grow(2 * (this.freeTop + n));
    // The stack's top is the list head, so the highest block goes in first.
    for (let i = n - 1; i >= 0; i--) {
      const off = offsets[i] as number;
      this.push(chunk.vaddr + off, chunk.dma + off);
    }
    this.nrBlocks += n;
    this.pageVaddr.push(chunk.vaddr);
    this.pageDma.push(chunk.dma);
    this.nrPages++;
  }

  /**
   * True if `dma` lies in one of the pool's chunks (the debug page search).
   * @linux mm/dmapool.c pool_find_page
   */
  ownsDma(dma: number): boolean {
    for (let i = this.pageDma.length - 1; i >= 0; i--) {
      const base = this.pageDma[i] as number;
      if (dma >= base && dma - base < this.allocation) return true;
    }
    return false;
  }

  /** True if the block at `vaddr` is on the free list (the debug double-free walk). */
  isFree(vaddr: number): boolean {
    for (let i = this.freeTop - 1; i >= 0; i--) if (this.freeVaddr[i] === vaddr) return true;
    return false;
  }

  /** Scratch buffer for the debug poison check. */
  get scratch(): Uint8Array {
    return this.debugBuf;
  }

  /** Forgets every chunk (after destroy). */
  dropChunks(): void {
    this.pageVaddr.length = 0;
    this.pageDma.length = 0;
    this.freeTop = 0;
  }

  private grow(cap: number): void {
    const v = new Float64Array(cap);
    const d = new Float64Array(cap);
    v.set(this.freeVaddr.subarray(0, this.freeTop));
    d.set(this.freeDma.subarray(0, this.freeTop));
    this.freeVaddr = v;
    this.freeDma = d;
  }
}

/**
 * The block offsets pool_initialise_page cuts from one chunk, ascending: blocks of `size` from
 * offset 0, jumping to the next multiple of `boundary` wherever a block would cross it.
 * @linux mm/dmapool.c pool_initialise_page
 */
export function carveOffsets(size: number, allocation: number, boundary: number): number[] {
  const out: number[] = [];
  let offset = 0;
  let nextBoundary = boundary;
  while (offset + size <= allocation) {
    if (offset + size > nextBoundary) {
      offset = nextBoundary;
      nextBoundary += boundary;
      continue;
    }
    out.push(offset);
    offset += size;
  }
  return out;
}

function truncateName(name: string): string {
  return name.length < POOL_NAME_LEN ? name : name.slice(0, POOL_NAME_LEN - 1);
}

function isPowerOf2(n: number): boolean {
  // Not n & (n - 1): bitwise operators would cut a size_t to 32 bits.
  return n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function devErr(pools: DmaPools, dev: Device, text: string): void {
  pools.log.err(`${dev.logPrefix}: ${text}`);
}

/**
 * dma_pool_create: makes a pool of `size`-byte blocks aligned to `align` that never cross a
 * multiple of `boundary`, and lists it in the device's sysfs `pools` file.
 * @param pools the dma_pool code of the kernel
 * @param name the pool's name (kept to 31 characters)
 * @param dev the device the memory is for; null fails
 * @param size block size in bytes; raised to sizeof(struct dma_block), then rounded up to `align`
 * @param align block alignment, a power of two; 0 means 1
 * @param boundary a power of two >= the block size that no block may straddle; 0 means the chunk
 *   size (max(size, PAGE_SIZE)); larger values are clipped to it
 * @returns the pool, or null when `dev` is null, `size` is 0 or above INT_MAX, `align` is not a
 *   power of two, or `boundary` is smaller than the block size or not a power of two (retrying
 *   with the same arguments cannot help)
 * @linux mm/dmapool.c dma_pool_create
 */
export function dmaPoolCreate(
  pools: DmaPools,
  name: string,
  dev: Device | null,
  size: number,
  align: number,
  boundary: number,
): DmaPool | null {
  if (dev === null || !isSize(size) || !isSize(align) || !isSize(boundary)) return null;
  if (align === 0) align = 1;
  else if (!isPowerOf2(align)) return null;
  if (size === 0 || size > INT_MAX) return null;
  if (size < pools.dmaBlockSize) size = pools.dmaBlockSize;
  size = Math.ceil(size / align) * align;
  const allocation = Math.max(size, pools.pageSize);
  if (boundary === 0) boundary = allocation;
  else if (boundary < size || !isPowerOf2(boundary)) return null;
  boundary = Math.min(boundary, allocation);
  const pool = new DmaPool(pools, name, dev, size, allocation, boundary);
  pools.link(pool);
  return pool;
}

/**
 * dma_pool_alloc: takes a block from the pool, getting a new chunk from the coherent allocator
 * when none is free.
 * @param pool the pool
 * @param gfp GFP flags for a new chunk; __GFP_ZERO zeroes the block
 * @param handle receives the block's DMA address
 * @returns the block's kernel virtual address, or null when a new chunk was needed and the
 *   coherent allocation failed (may succeed later, after memory is freed)
 * @linux mm/dmapool.c dma_pool_alloc
 */
export function dmaPoolAlloc(pool: DmaPool, gfp: Gfp, handle: DmaHandle): VirtAddr | null {
  let vaddr = pool.pop(handle);
  if (vaddr < 0) {
    const pools = pool.pools;
    const chunk = pools.ops.allocCoherent(pool.dev, pool.allocation, gfp & ~__GFP_ZERO);
    if (chunk === null) return null;
    // pool_init_page: a new chunk is poisoned as free memory under DMAPOOL_DEBUG.
    if (pools.debug) pools.ops.memset(chunk.vaddr, POOL_POISON_FREED, pool.allocation);
    pool.addChunk(chunk);
    vaddr = pool.pop(handle);
  }
  const pools = pool.pools;
  const zero = (gfp & __GFP_ZERO) !== 0 || pools.initOnAlloc;
  if (pools.debug) poolCheckBlock(pool, vaddr as VirtAddr, zero);
  if (zero) pools.ops.memset(vaddr as VirtAddr, 0, pool.size);
  return vaddr as VirtAddr;
}

/**
 * pool_check_block (DMAPOOL_DEBUG): a block on the free list must still hold the free poison
 * after its embedded struct dma_block; then it is poisoned as allocated unless it will be zeroed.
 * MODEL: the kernel follows the message with a hex dump of the block; not printed here.
 * @linux mm/dmapool.c pool_check_block
 */
function poolCheckBlock(pool: DmaPool, vaddr: VirtAddr, zero: boolean): void {
  const ops = pool.pools.ops;
  if (ops.read !== undefined) {
    const buf = pool.scratch;
    ops.read(vaddr, buf, 0, pool.size);
    for (let i = pool.pools.dmaBlockSize; i < pool.size; i++) {
      if (buf[i] === POOL_POISON_FREED) continue;
      const p = pool.pools.ptr(vaddr);
      devErr(pool.pools, pool.dev, `pool_check_block ${pool.name}, ${p} (corrupted)`);
      break;
    }
  }
  if (!zero) ops.memset(vaddr, POOL_POISON_ALLOCATED, pool.size);
}

/**
 * dma_pool_zalloc: dma_pool_alloc with __GFP_ZERO.
 * @returns the zeroed block's vaddr, or null as dma_pool_alloc
 * @linux include/linux/dmapool.h dma_pool_zalloc
 */
export function dmaPoolZalloc(pool: DmaPool, gfp: Gfp, handle: DmaHandle): VirtAddr | null {
  return dmaPoolAlloc(pool, gfp | __GFP_ZERO, handle);
}

/**
 * dma_pool_free: gives a block back; it becomes the next one handed out. Without DMAPOOL_DEBUG
 * nothing is checked, as in the kernel: a foreign or twice-freed block goes on the list and is
 * handed out again later. With DMAPOOL_DEBUG a dma address outside the pool's chunks ("bad dma")
 * or a block already on the free list ("already free") is reported and ignored, and a good block
 * is poisoned with POOL_POISON_FREED.
 * @param pool the pool the block came from
 * @param vaddr the block's virtual address, as dma_pool_alloc returned it
 * @param dma the block's DMA address, as dma_pool_alloc returned it
 * @linux mm/dmapool.c dma_pool_free
 */
export function dmaPoolFree(pool: DmaPool, vaddr: VirtAddr, dma: DmaAddr): void {
  const pools = pool.pools;
  if (pools.debug) {
    if (poolBlockErr(pool, vaddr, dma)) return;
  } else if (pools.initOnFree) {
    pools.ops.memset(vaddr, 0, pool.size);
  }
  pool.push(vaddr, dma);
  pool.nrActive--;
}

/**
 * pool_block_err (DMAPOOL_DEBUG): reports a free of a block the pool does not own or holds free.
 * The kernel prints __func__, hence the "pool_block_err" in front (6.12 wording).
 * @returns true if the free must be ignored
 * @linux mm/dmapool.c pool_block_err
 */
function poolBlockErr(pool: DmaPool, vaddr: VirtAddr, dma: DmaAddr): boolean {
  const pools = pool.pools;
  if (!pool.ownsDma(dma)) {
    const what = `${pools.ptr(vaddr)}/${pools.pad(dma)}`;
    devErr(pools, pool.dev, `pool_block_err ${pool.name}, ${what} (bad dma)`);
    return true;
  }
  if (pool.isFree(vaddr)) {
    devErr(pools, pool.dev, `pool_block_err ${pool.name}, dma ${pools.pad(dma)} already free`);
    return true;
  }
  pools.ops.memset(vaddr, POOL_POISON_FREED, pool.size);
  return false;
}

/**
 * dma_pool_destroy: unlists the pool and frees its chunks. With blocks still allocated it prints
 * "dma_pool_destroy <name> busy" and leaks the chunks on purpose (a device may still use them).
 * @param pool the pool, or null (nothing happens)
 * @linux mm/dmapool.c dma_pool_destroy
 */
export function dmaPoolDestroy(pool: DmaPool | null): void {
  if (pool === null) return;
  const pools = pool.pools;
  pools.unlink(pool);
  const busy = pool.nrActive !== 0;
  if (busy) devErr(pools, pool.dev, `dma_pool_destroy ${pool.name} busy`);
  else
    for (const c of pool.chunks())
      pools.ops.freeCoherent(pool.dev, pool.allocation, c.vaddr, c.dma);
  pool.dropChunks();
}

/**
 * dmam_pool_create: dma_pool_create whose pool is destroyed when the driver unbinds.
 * @returns the pool, or null as dma_pool_create (nothing is registered then)
 * @linux mm/dmapool.c dmam_pool_create
 */
export function dmamPoolCreate(
  pools: DmaPools,
  name: string,
  dev: Device,
  size: number,
  align: number,
  boundary: number,
): DmaPool | null {
  const pool = dmaPoolCreate(pools, name, dev, size, align, boundary);
  if (pool !== null)
    devmAdd(
      dev,
      'dmam_pool_create',
      () => {
        dmaPoolDestroy(pool);
      },
      pool,
    );
  return pool;
}

/**
 * dmam_pool_destroy: destroys a managed pool now and drops its devres entry.
 * @returns false if the pool was not a managed pool of its device (the kernel WARNs and leaves
 *   the pool alone; MODEL: the WARN splat is not printed)
 * @linux mm/dmapool.c dmam_pool_destroy
 */
export function dmamPoolDestroy(pool: DmaPool): boolean {
  const entry: DevresEntry | undefined = pool.dev.devres.find(
    (e) => e.name === 'dmam_pool_create' && e.data === pool,
  );
  if (entry === undefined) return false;
  return pool.dev.devres.release(entry);
}

/**
 * The sysfs `pools` attribute of a device: a header line and one line per pool (newest first)
 * with name, blocks in use, blocks in total, block size and chunks.
 * @returns the file's text, or null when the device has no pool (the file does not exist)
 * @linux mm/dmapool.c pools_show
 */
export function poolsShow(pools: DmaPools, dev: Device): string | null {
  if (!pools.hasPoolsFile(dev)) return null;
  let s = 'poolinfo - 0.1\n';
  for (const p of pools.poolsOf(dev)) {
    s += `${p.name.padEnd(16)} ${pad(p.nrActive, 4)} ${pad(p.nrBlocks, 4)} `;
    s += `${pad(p.size, 4)} ${pad(p.nrPages, 2)}\n`;
  }
  return s;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width);
}
