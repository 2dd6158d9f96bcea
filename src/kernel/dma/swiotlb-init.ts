/**
 * SWIOTLB boot set-up (kernel/dma/swiotlb.c, Linux 6.12): the `swiotlb=` parameter, the number of
 * areas, and the default pool allocated from low memory by memblock. Left out: late init from the
 * page allocator, SWIOTLB_ANY remapping callbacks, restricted-dma-pool reserved memory.
 */
import { ConfigError } from '../../lib/errors.js';
import type { SwiotlbParam } from '../cmdline.js';
import type { Memblock } from '../mm/memblock.js';
import type { KernelLog } from '../printk.js';
import {
  IO_TLB_DEFAULT_SIZE,
  IO_TLB_MIN_SLABS,
  IO_TLB_SEGSIZE,
  IO_TLB_SHIFT,
  IoTlbMem,
  IoTlbPool,
  type SwiotlbEnv,
} from './swiotlb-pool.js';

/** swiotlb_init flags (include/linux/swiotlb.h). */
export const SWIOTLB_VERBOSE = 1 << 0;
export const SWIOTLB_FORCE = 1 << 1;
export const SWIOTLB_ANY = 1 << 2;

const PR = 'software IO TLB: ';
/** sizeof(struct io_tlb_slot) on 64-bit: u64, size_t, two u16, padded (unverified). */
const SLOT_STRUCT_BYTES = 24;
/** sizeof(struct io_tlb_area) without lock debugging (unverified). */
const AREA_STRUCT_BYTES = 16;
const SMP_CACHE_BYTES = 64;

/** The boot-time settings swiotlb.c keeps in its static variables (default_nslabs ...). */
export interface SwiotlbBootConfig {
  /** default_nslabs: slots of the default pool. */
  nslabs: number;
  /** default_nareas: 0 until set by `swiotlb=` or at init from the CPU count. */
  nareas: number;
  /** swiotlb_force_bounce (swiotlb=force). */
  force: boolean;
  /** swiotlb_force_disable (swiotlb=noforce). */
  disable: boolean;
}

/**
 * setup_io_tlb_npages: applies the parsed `swiotlb=` parameter (nslabs already rounded up to a
 * multiple of IO_TLB_SEGSIZE by the parser) to the defaults.
 * @param param - BootParams.swiotlb, or null when the parameter is absent
 * @param log - for the "area num" message when nareas is given
 * @returns the boot configuration
 * @linux kernel/dma/swiotlb.c setup_io_tlb_npages
 */
export function setupIoTlbNpages(param: SwiotlbParam | null, log: KernelLog): SwiotlbBootConfig {
  const cfg: SwiotlbBootConfig = {
    nslabs: IO_TLB_DEFAULT_SIZE >> IO_TLB_SHIFT,
    nareas: 0,
    force: false,
    disable: false,
  };
  if (param === null) return cfg;
  if (param.nslabs !== null) cfg.nslabs = param.nslabs;
  if (param.nareas !== null) swiotlbAdjustNareas(cfg, param.nareas, log);
  cfg.force = param.mode === 'force';
  cfg.disable = param.mode === 'noforce';
  return cfg;
}

/**
 * swiotlb_adjust_nareas: rounds `nareas` up to a power of two (0 → 1), prints "area num", and
 * raises the slot count to at least IO_TLB_SEGSIZE per area, rounded to a power of two.
 * @linux kernel/dma/swiotlb.c swiotlb_adjust_nareas
 */
export function swiotlbAdjustNareas(cfg: SwiotlbBootConfig, nareas: number, log: KernelLog): void {
  const n = nareas <= 0 ? 1 : roundupPowOfTwo(nareas);
  cfg.nareas = n;
  log.info(`${PR}area num ${n}.`);
  if (roundUpDefaultNslabs(cfg)) {
    log.info(`${PR}SWIOTLB bounce buffer size roundup to ${(cfg.nslabs << IO_TLB_SHIFT) >> 20}MB`);
  }
}

function roundUpDefaultNslabs(cfg: SwiotlbBootConfig): boolean {
  if (cfg.nareas === 0) return false;
  if (cfg.nslabs < IO_TLB_SEGSIZE * cfg.nareas) cfg.nslabs = IO_TLB_SEGSIZE * cfg.nareas;
  else if (isPow2(cfg.nslabs)) return false;
  cfg.nslabs = roundupPowOfTwo(cfg.nslabs);
  return true;
}

/** limit_nareas: fewer areas when the pool has under IO_TLB_SEGSIZE slots per area. */
function limitNareas(nareas: number, nslots: number): number {
  return nslots < nareas * IO_TLB_SEGSIZE ? Math.floor(nslots / IO_TLB_SEGSIZE) : nareas;
}

/** Options of swiotlbInitRemap. */
export interface SwiotlbInitOptions {
  /** The arch says some memory is beyond a device's reach (x86: RAM above 4 GiB). */
  readonly addressingLimit: boolean;
  /** SWIOTLB_VERBOSE | SWIOTLB_FORCE | SWIOTLB_ANY. */
  readonly flags: number;
  /** num_possible_cpus(). */
  readonly nPossibleCpus: number;
}

/**
 * swiotlb_init_remap: allocates the default pool from memblock (low memory unless SWIOTLB_ANY),
 * halving it down to IO_TLB_MIN_SLABS on failure, plus the slot and area arrays.
 * @param memblock - the early allocator, before memblock_free_all
 * @param cfg - from setupIoTlbNpages (updated: nareas, nslabs as adjusted)
 * @param env - the pool's memory access, log and CPU (env.log gets the boot messages)
 * @returns the io_tlb_mem, or null when SWIOTLB is not needed, disabled by swiotlb=noforce, or
 *   no low memory could be found ("No low mem" / allocation failure messages)
 * @throws ConfigError if the slot arrays cannot be allocated (the kernel panics)
 * @linux kernel/dma/swiotlb.c swiotlb_init_remap
 */
export function swiotlbInitRemap(
  memblock: Memblock,
  cfg: SwiotlbBootConfig,
  opts: SwiotlbInitOptions,
  env: SwiotlbEnv,
): IoTlbMem | null {
  if (!opts.addressingLimit && !cfg.force) return null;
  if (cfg.disable) return null;
  const force = cfg.force || (opts.flags & SWIOTLB_FORCE) !== 0;
  if (cfg.nareas === 0) swiotlbAdjustNareas(cfg, opts.nPossibleCpus, env.log);
  const pageSize = memblock.profile.pageSize;
  let nslabs = cfg.nslabs;
  let nareas = limitNareas(cfg.nareas, nslabs);
  let start = swiotlbMemblockAlloc(memblock, nslabs, opts.flags, env.log);
  while (start === null) {
    if (nslabs <= IO_TLB_MIN_SLABS) return null;
    nslabs = alignUp(nslabs >> 1, IO_TLB_SEGSIZE);
    nareas = limitNareas(nareas, nslabs);
    start = swiotlbMemblockAlloc(memblock, nslabs, opts.flags, env.log);
  }
  if (cfg.nslabs !== nslabs) {
    env.log.info(`${PR}SWIOTLB bounce buffer size adjusted ${cfg.nslabs} -> ${nslabs} slabs`);
    cfg.nslabs = nslabs;
  }
  earlyAlloc(memblock, alignUp(SLOT_STRUCT_BYTES * nslabs, pageSize), pageSize, 'swiotlb slots');
  earlyAlloc(memblock, AREA_STRUCT_BYTES * nareas, SMP_CACHE_BYTES, 'swiotlb areas');
  const mem = new IoTlbMem(new IoTlbPool(start, nslabs, nareas), force, {
    ...env,
    pageSize,
  });
  if ((opts.flags & SWIOTLB_VERBOSE) !== 0) swiotlbPrintInfo(mem, env.log);
  return mem;
}

/**
 * swiotlb_init: swiotlbInitRemap from the parsed `swiotlb=` parameter in one step.
 * @returns the io_tlb_mem or null (see swiotlbInitRemap)
 * @linux kernel/dma/swiotlb.c swiotlb_init
 */
export function swiotlbInit(
  memblock: Memblock,
  param: SwiotlbParam | null,
  opts: SwiotlbInitOptions,
  env: SwiotlbEnv,
): IoTlbMem | null {
  return swiotlbInitRemap(memblock, setupIoTlbNpages(param, env.log), opts, env);
}

/**
 * swiotlb_print_info: "mapped [mem start-end] (NMB)", end exclusive.
 * @linux kernel/dma/swiotlb.c swiotlb_print_info
 */
export function swiotlbPrintInfo(mem: IoTlbMem, log: KernelLog): void {
  const p = mem.defpool;
  const mb = p.nslabs >> (20 - IO_TLB_SHIFT);
  log.info(`${PR}mapped [mem ${pa(p.start)}-${pa(p.end)}] (${mb}MB)`);
}

function swiotlbMemblockAlloc(
  memblock: Memblock,
  nslabs: number,
  flags: number,
  log: KernelLog,
): number | null {
  const page = memblock.profile.pageSize;
  const bytes = alignUp(nslabs * (1 << IO_TLB_SHIFT), page);
  const start =
    (flags & SWIOTLB_ANY) !== 0
      ? memblock.alloc(bytes, page, 'swiotlb buffer')
      : memblock.allocLow(bytes, page, 'swiotlb buffer');
  if (start === null) {
    log.warn(`${PR}swiotlb_memblock_alloc: Failed to allocate ${bytes} bytes tlb structure`);
  }
  return start;
}

function earlyAlloc(memblock: Memblock, size: number, align: number, name: string): void {
  if (memblock.alloc(size, align, name) === null) {
    throw new ConfigError(
      `swiotlb_init_remap: Failed to allocate ${size} bytes align=0x${align.toString(16)}`,
    );
  }
}

/** %pa: 0x and 16 hex digits. */
function pa(a: number): string {
  return `0x${a.toString(16).padStart(16, '0')}`;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function isPow2(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function roundupPowOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
