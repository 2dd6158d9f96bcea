/**
 * memblock, the boot-time memory map (mm/memblock.c, Linux 6.12): `memory` from the machine's RAM
 * banks cut by mem= / memmap=, `reserved` for firmware ranges, the kernel image and reserved-memory
 * regions (drivers/of/of_reserved_mem.c, kernel/dma/contiguous.c, kernel/dma/coherent.c), the
 * top-down early allocator, and the free ranges handed to the page allocator (memblock_free_all).
 *
 * DOC: RAM above mem= is removed from `memory` but stays RAM in the machine: the kernel does not
 * manage it, so a driver may ioremap it (the seed's "mem=62MB on a 64 MB machine"). On x86, mem=
 * is an address limit (e820__range_remove); elsewhere it is an amount of memory counted from the
 * lowest bank (memblock_mem_limit_remove_map). MODEL: x86's e820 is not modelled: the machine's
 * reserved ranges are memblock reservations inside `memory`, and x86 reserves the first 1 MiB
 * (reserve_real_mode) as the real kernel does. CMA areas and reserved-memory pools are left out
 * of the free ranges: the CMA allocator, not the buddy allocator, hands them out.
 */
import { hex } from '../../lib/addr.js';
import { ConfigError, SimulatorBug } from '../../lib/errors.js';
import { MIB } from '../../lib/units.js';
import type { PhysMap } from '../../machine/memory/physmap.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { BootParams } from '../cmdline.js';
import type { KernelLog } from '../printk.js';
import { LOW_LIMIT, NO_LIMIT, mergeRanges, subtractRanges, intersectRanges } from './ranges.js';
import type { Range } from './ranges.js';
import { setupReservedMemory } from './reserved-mem.js';
import type { ReservedMemoryNode, ReservedMem } from './reserved-mem.js';

export type { Range } from './ranges.js';
export { mergeRanges, subtractRanges, intersectRanges } from './ranges.js';
export type { ReservedMemoryNode, ReservedMem } from './reserved-mem.js';

/** A memblock region; `name` says who reserved it (a model addition, for reports). */
export interface MemblockRegion extends Range {
  /** MEMBLOCK_NONE or MEMBLOCK_NOMAP (memory not in the linear map, never allocated). */
  readonly flags: number;
  readonly name: string;
}

export const MEMBLOCK_NONE = 0;
export const MEMBLOCK_NOMAP = 0x4;

/** The kernel image: code, then data, then bss, from `base` (sizes in bytes). */
export interface KernelImage {
  readonly base: number;
  readonly code: number;
  readonly data: number;
  readonly bss?: number;
}

export interface MemblockConfig {
  readonly profile: ArchProfile;
  readonly physmap: PhysMap;
  /** mem=, memmap= and cma= are applied; null or absent for none. */
  readonly params?: BootParams | null;
  readonly kernelImage?: KernelImage;
  readonly reservedMemory?: readonly ReservedMemoryNode[];
  /** Boot messages ("Reserved memory: created ..."); none when absent. */
  readonly log?: KernelLog;
}

export class Memblock {
  private mem: Range[] = [];
  private nomap: Range[] = [];
  private rsv: MemblockRegion[] = [];
  private removedRam: Range[] = [];
  private rmem: ReservedMem[] = [];
  private freed = false;
  /** memblock.current_limit: allocations stay below it (the end of lowmem). */
  readonly currentLimit: number;

  constructor(
    readonly profile: ArchProfile,
    readonly kernelImage: KernelImage | null,
    private readonly log: KernelLog | null,
    firstRam: number,
  ) {
    this.currentLimit = profile.lowmemBytes === null ? NO_LIMIT : firstRam + profile.lowmemBytes;
  }

  /**
   * Builds memblock as setup_arch does: RAM, limits, reservations, reserved-memory, cma=.
   * @linux arch/x86/kernel/setup.c setup_arch
   */
  static boot(cfg: MemblockConfig): Memblock {
    const banks = cfg.physmap.ramBanks;
    const mb = new Memblock(
      cfg.profile,
      cfg.kernelImage ?? null,
      cfg.log ?? null,
      banks[0]?.base ?? 0,
    );
    for (const b of banks) mb.add(b.base, b.size);
    applyLimits(mb, cfg);
    reserveBootRanges(mb, cfg);
    setupReservedMemory(mb, cfg);
    return mb;
  }

  /** memblock.memory, lowest first, NOMAP parts as their own regions. */
  get memory(): readonly MemblockRegion[] {
    const plain = subtractRanges(this.mem, this.nomap).map((r) =>
      region(r, MEMBLOCK_NONE, 'memory'),
    );
    const nomap = intersectRanges(this.mem, this.nomap).map((r) =>
      region(r, MEMBLOCK_NOMAP, 'memory'),
    );
    return [...plain, ...nomap].sort((a, b) => a.base - b.base);
  }

  /** memblock.reserved, lowest first, one entry per reservation (overlaps are allowed). */
  get reserved(): readonly MemblockRegion[] {
    return this.rsv;
  }

  /** RAM of the machine that memblock does not manage (cut by mem= or memmap=), for ioremap. */
  get removed(): readonly Range[] {
    return this.removedRam;
  }

  /** Reserved-memory regions (DT nodes and the cma= area), in set-up order. */
  get reservedMem(): readonly ReservedMem[] {
    return this.rmem;
  }

  /**
   * memblock_phys_mem_size: bytes of memory.
   * @linux mm/memblock.c memblock_phys_mem_size
   */
  get memorySize(): number {
    return sum(this.mem);
  }

  /**
   * memblock_reserved_size: bytes reserved (overlaps counted once).
   * @linux mm/memblock.c memblock_reserved_size
   */
  get reservedSize(): number {
    return sum(mergeRanges(this.rsv));
  }

  /**
   * memblock_add: adds RAM to `memory`.
   * @linux mm/memblock.c memblock_add
   */
  add(base: number, size: number): void {
    this.mem = mergeRanges([...this.mem, { base, size }]);
  }

  /**
   * memblock_remove: takes a range out of `memory`; RAM in it counts as removed.
   * @linux mm/memblock.c memblock_remove
   */
  remove(base: number, size: number): void {
    const cut = intersectRanges(this.mem, [{ base, size }]);
    this.mem = subtractRanges(this.mem, cut);
    this.removedRam = mergeRanges([...this.removedRam, ...cut]);
  }

  /**
   * memblock_reserve: marks a range as in use.
   * @linux mm/memblock.c memblock_reserve
   */
  reserve(base: number, size: number, name: string): void {
    this.rsv = [...this.rsv, region({ base, size }, MEMBLOCK_NONE, name)].sort(
      (a, b) => a.base - b.base,
    );
  }

  /**
   * memblock_mark_nomap: the range stays memory but is neither mapped nor allocated.
   * @linux mm/memblock.c memblock_mark_nomap
   */
  markNomap(base: number, size: number): void {
    this.nomap = mergeRanges([...this.nomap, { base, size }]);
  }

  /**
   * memblock_phys_free: gives a reserved range back (splitting reservations as needed).
   * @linux mm/memblock.c memblock_phys_free
   */
  physFree(base: number, size: number): void {
    this.rsv = this.rsv.flatMap((r) =>
      subtractRanges([r], [{ base, size }]).map((p) => region(p, r.flags, r.name)),
    );
  }

  /**
   * memblock_phys_alloc_range: the highest `align`-aligned free range of `size` bytes inside
   * [start, end), below the current limit and above the first page, reserved for `name`; the
   * lowest instead when `bottomUp` (memblock_set_bottom_up(true) around the call).
   * @returns the physical address, or null when nothing fits (the kernel returns 0)
   * @linux mm/memblock.c memblock_phys_alloc_range
   */
  physAllocRange(
    size: number,
    align: number,
    start: number,
    end: number,
    name: string,
    bottomUp = false,
  ): number | null {
    if (this.freed)
      throw new SimulatorBug(`memblock allocation for ${name} after memblock_free_all`);
    if (!(size > 0) || !isPow2(align)) {
      throw new SimulatorBug(`memblock allocation for ${name}: size ${size}, align ${align}`);
    }
    const lo = Math.max(start, this.profile.pageSize);
    const hi = Math.min(end, this.currentLimit);
    const free = this.freeMemory();
    if (!bottomUp) free.reverse();
    for (const r of free) {
      const rLo = Math.max(r.base, lo);
      const rHi = Math.min(r.base + r.size, hi);
      const cand = bottomUp
        ? Math.ceil(rLo / align) * align
        : Math.floor((rHi - size) / align) * align;
      if (cand >= rLo && cand + size <= rHi) {
        this.reserve(cand, size, name);
        return cand;
      }
    }
    return null;
  }

  /**
   * memblock_alloc: anywhere below the current limit, top-down. @returns null on failure
   * @linux mm/memblock.c memblock_alloc
   */
  alloc(size: number, align: number, name: string): number | null {
    return this.physAllocRange(size, align, 0, NO_LIMIT, name);
  }

  /**
   * memblock_alloc_low: below 4 GiB (ARCH_LOW_ADDRESS_LIMIT), as for the SWIOTLB buffer.
   * @linux mm/memblock.c memblock_alloc_low
   */
  allocLow(size: number, align: number, name: string): number | null {
    return this.physAllocRange(size, align, 0, LOW_LIMIT, name);
  }

  /**
   * memblock_is_memory.
   * @linux mm/memblock.c memblock_is_memory
   */
  isMemory(phys: number): boolean {
    return this.mem.some((r) => phys >= r.base && phys < r.base + r.size);
  }

  /**
   * memblock_is_region_memory: the whole range is memory.
   * @linux mm/memblock.c memblock_is_region_memory
   */
  isRegionMemory(base: number, size: number): boolean {
    return subtractRanges([{ base, size }], this.mem).length === 0;
  }

  /** True if any byte of the range is memory (memblock_overlaps_region on memory). */
  overlapsMemory(base: number, size: number): boolean {
    return intersectRanges(this.mem, [{ base, size }]).length > 0;
  }

  /**
   * The page-aligned free ranges the page allocator will manage (memory minus NOMAP minus
   * reserved, each shrunk to whole pages as memblock_free_all does).
   */
  freeRanges(): Range[] {
    const page = this.profile.pageSize;
    return this.freeMemory().flatMap((r) => {
      const base = Math.ceil(r.base / page) * page;
      const end = Math.floor((r.base + r.size) / page) * page;
      return end > base ? [{ base, size: end - base }] : [];
    });
  }

  /**
   * memblock_free_all: hands the free ranges over; later memblock allocations are a bug.
   * @linux mm/memblock.c memblock_free_all
   */
  freeAll(): Range[] {
    const ranges = this.freeRanges();
    this.freed = true;
    return ranges;
  }

  /** Records a reserved-memory region (used while booting). */
  addReservedMem(r: ReservedMem): void {
    this.rmem.push(r);
  }

  /** Prints a boot message when a log was given. */
  info(text: string): void {
    this.log?.info(text);
  }

  private freeMemory(): Range[] {
    return subtractRanges(subtractRanges(this.mem, this.nomap), mergeRanges(this.rsv));
  }
}

function applyLimits(mb: Memblock, cfg: MemblockConfig): void {
  const mem = cfg.params?.mem ?? null;
  const limits = [
    ...(mem === null ? [] : [{ what: `mem=${hex(mem)}`, bytes: mem }]),
    ...(cfg.params?.memmap ?? [])
      .filter((m) => m.kind === 'limit')
      .map((m) => ({ what: `memmap=${hex(m.size)}`, bytes: m.size })),
  ];
  for (const l of limits) {
    const maxAddr =
      cfg.profile.name === 'x86_64' ? l.bytes : addrOfAmount(mb, l.bytes, cfg.profile.pageSize);
    mb.remove(maxAddr, NO_LIMIT - maxAddr);
    if (mb.memorySize === 0) throw new ConfigError(`${l.what} leaves the kernel no memory`);
  }
}

/**
 * __find_max_addr: where the first `bytes` of memory (whole pages) end.
 * @linux mm/memblock.c __find_max_addr
 */
function addrOfAmount(mb: Memblock, bytes: number, page: number): number {
  let left = Math.floor(bytes / page) * page;
  for (const r of mb.memory) {
    if (left <= r.size) return r.base + left;
    left -= r.size;
  }
  return NO_LIMIT;
}

function reserveBootRanges(mb: Memblock, cfg: MemblockConfig): void {
  if (cfg.profile.name === 'x86_64') mb.reserve(0, MIB, 'real mode and BIOS (first 1 MiB)');
  for (const r of cfg.physmap.reservedRanges) mb.reserve(r.base, r.size, r.name);
  const k = cfg.kernelImage;
  if (k !== undefined) {
    const size = k.code + k.data + (k.bss ?? 0);
    if (!mb.isRegionMemory(k.base, size)) {
      throw new ConfigError(
        `the kernel image [${hex(k.base)}-${hex(k.base + size - 1)}] is not in the kernel's memory (check the RAM size and mem=)`,
      );
    }
    mb.reserve(k.base, size, 'Kernel image');
  }
  for (const m of cfg.params?.memmap ?? []) {
    if (m.kind === 'limit' || m.start === null) continue;
    if (m.kind === 'ram') {
      if (!mb.isRegionMemory(m.start, m.size)) {
        throw new ConfigError(
          `memmap=${hex(m.size)}@${hex(m.start)}: the model cannot add RAM the machine lacks; give the machine that RAM bank instead`,
        );
      }
    } else mb.reserve(m.start, m.size, `memmap ${m.kind}`);
  }
}

function isPow2(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (BigInt(n) & BigInt(n - 1)) === 0n;
}

function region(r: Range, flags: number, name: string): MemblockRegion {
  return { base: r.base, size: r.size, flags, name };
}

function sum(list: readonly Range[]): number {
  return list.reduce((s, r) => s + r.size, 0);
}
