/**
 * Device-tree /reserved-memory and the cma= area at boot: static (reg) and dynamic (size)
 * regions, no-map and reusable (CMA) ones, reserved in memblock before the page allocator takes
 * the rest (drivers/of/of_reserved_mem.c, kernel/dma/contiguous.c, kernel/dma/coherent.c).
 */
import { hex } from '../../lib/addr.js';
import { ConfigError } from '../../lib/errors.js';
import { GIB, MIB } from '../../lib/units.js';
import type { Memblock, MemblockConfig } from './memblock.js';
import { LOW_LIMIT, NO_LIMIT, PAGEBLOCK_PAGES, pa } from './ranges.js';
import type { Range } from './ranges.js';

/** A device-tree `/reserved-memory` child node (bindings/reserved-memory/*.yaml). */
export interface ReservedMemoryNode {
  /** Node name, e.g. "linux,cma" or "framebuffer@78000000". */
  readonly name: string;
  readonly compatible: 'shared-dma-pool' | 'restricted-dma-pool';
  /** Static placement; give either `reg` or `size`. */
  readonly reg?: Range;
  /** Dynamic placement: bytes, allocated top-down at boot. */
  readonly size?: number;
  /** Alignment of a dynamic region; default one page (the kernel's default is SMP_CACHE_BYTES). */
  readonly alignment?: number;
  /** Where a dynamic region may be placed; default anywhere. */
  readonly 'alloc-ranges'?: readonly Range[];
  /** Not in the linear map (MEMBLOCK_NOMAP): a per-device pool that is memremapped. */
  readonly 'no-map'?: boolean;
  /** CMA: the page allocator may lend the pages to movable allocations until claimed. */
  readonly reusable?: boolean;
  /** The default CMA area for all devices. */
  readonly 'linux,cma-default'?: boolean;
}

/** A reserved-memory region as set up at boot (struct reserved_mem). */
export interface ReservedMem extends Range {
  readonly name: string;
  /** cma: reusable shared-dma-pool (or the cma= area); dma-pool: per-device coherent pool. */
  readonly kind: 'cma' | 'dma-pool' | 'restricted-dma-pool';
  readonly noMap: boolean;
  /** The default CMA area (linux,cma-default, or the cma= area). */
  readonly cmaDefault: boolean;
}

/**
 * Static (reg) nodes first, then dynamic ones, as fdt_scan_reserved_mem then fdt_init_reserved_mem.
 * @linux drivers/of/of_reserved_mem.c fdt_init_reserved_mem
 */
function sortNodes(nodes: readonly ReservedMemoryNode[]): ReservedMemoryNode[] {
  return [...nodes.filter((n) => n.reg !== undefined), ...nodes.filter((n) => n.reg === undefined)];
}

function setupReservedMem(mb: Memblock, node: ReservedMemoryNode, cfg: MemblockConfig): void {
  const where = `reserved-memory node "${node.name}"`;
  const reusable = node.reusable === true;
  const noMap = node['no-map'] === true;
  if (reusable && noMap)
    throw new ConfigError(`${where}: "reusable" and "no-map" exclude each other`);
  if (reusable && node.compatible !== 'shared-dma-pool') {
    throw new ConfigError(`${where}: only a shared-dma-pool can be reusable (CMA)`);
  }
  if (reusable && node['linux,cma-default'] === true && cfg.params?.cma) {
    mb.info(`Reserved memory: bypass ${node.name} node, using cmdline CMA params instead`);
    return;
  }
  const page = cfg.profile.pageSize;
  const cmaAlign = page * PAGEBLOCK_PAGES;
  const base = placeNode(mb, node, where, reusable ? cmaAlign : page);
  const size = node.reg?.size ?? node.size ?? 0;
  if (reusable && (base % cmaAlign !== 0 || size % cmaAlign !== 0)) {
    throw new ConfigError(
      `${where}: incorrect alignment of CMA region: base and size must be multiples of ${hex(cmaAlign)}`,
    );
  }
  if (noMap) mb.markNomap(base, size);
  const kind = reusable
    ? 'cma'
    : node.compatible === 'shared-dma-pool'
      ? 'dma-pool'
      : 'restricted-dma-pool';
  const cmaDefault = reusable && node['linux,cma-default'] === true;
  mb.addReservedMem({ name: node.name, base, size, kind, noMap, cmaDefault });
  const mib = Math.floor(size / MIB);
  mb.info(
    `Reserved memory: created ${POOL_WORDS[kind]} at ${pa(cfg.profile, base)}, size ${mib} MiB`,
  );
}

const POOL_WORDS = {
  cma: 'CMA memory pool',
  'dma-pool': 'DMA memory pool',
  'restricted-dma-pool': 'restricted DMA pool',
} as const;

/**
 * Reserves a node's range: its `reg`, or a top-down allocation inside its alloc-ranges.
 * @linux drivers/of/of_reserved_mem.c __reserved_mem_alloc_size
 */
function placeNode(
  mb: Memblock,
  node: ReservedMemoryNode,
  where: string,
  minAlign: number,
): number {
  if ((node.reg === undefined) === (node.size === undefined)) {
    throw new ConfigError(`${where}: give either "reg" (a fixed range) or "size" (placed at boot)`);
  }
  const size = node.reg?.size ?? node.size ?? 0;
  if (!Number.isSafeInteger(size) || size <= 0 || size % mb.profile.pageSize !== 0) {
    throw new ConfigError(
      `${where}: size ${String(size)} must be a positive multiple of the ${mb.profile.pageSize}-byte page`,
    );
  }
  if (node.reg !== undefined) {
    if (node['no-map'] !== true) mb.reserve(node.reg.base, size, node.name);
    return node.reg.base;
  }
  const align = Math.max(node.alignment ?? mb.profile.pageSize, minAlign);
  const ranges = node['alloc-ranges'] ?? [{ base: 0, size: NO_LIMIT }];
  for (const r of ranges) {
    const base = mb.physAllocRange(size, align, r.base, r.base + r.size, node.name);
    if (base !== null) {
      if (node['no-map'] === true) mb.physFree(base, size);
      return base;
    }
  }
  throw new ConfigError(
    `${where}: no free memory for ${hex(size)} bytes aligned to ${hex(align)} (failed to allocate memory for node)`,
  );
}

/**
 * cma= (dma_contiguous_reserve): the default CMA area. On 64-bit profiles with memory above
 * 4 GiB + size it goes bottom-up from 4 GiB, keeping clear of ZONE_DMA/DMA32; otherwise top-down
 * below the limit (x86: all memory; others: the DMA zone). From memory of kernel/cma.c (unverified).
 * @linux kernel/dma/contiguous.c dma_contiguous_reserve
 */
function reserveCmdlineCma(mb: Memblock, cfg: MemblockConfig): void {
  const cma = cfg.params?.cma;
  if (!cma || cma.size === 0) return;
  const align = cfg.profile.pageSize * PAGEBLOCK_PAGES;
  const size = Math.ceil(cma.size / align) * align;
  const memEnd = Math.max(...mb.memory.map((r) => r.base + r.size));
  const archLimit =
    cfg.profile.name === 'x86_64' ? memEnd : (cfg.profile.zoneDmaLimit ?? LOW_LIMIT);
  const limit = cma.limit ?? archLimit;
  const start = cma.base ?? 0;
  let base: number | null = null;
  if (cma.fixed) {
    // The area must sit exactly at base: a bottom-up search inside [base, base + size).
    base = mb.physAllocRange(size, align, start, start + size, 'reserved', true);
  } else {
    if (cma.base === null && cfg.profile.physAddrBits > 32 && memEnd >= 4 * GIB + size) {
      base = mb.physAllocRange(size, align, 4 * GIB, limit, 'reserved', true);
    }
    base ??= mb.physAllocRange(size, align, start, limit, 'reserved');
  }
  if (base === null)
    throw new ConfigError(
      `cma=${hex(cma.size)}: no free memory for the CMA area below ${hex(limit)} (reduce the size or move the range)`,
    );
  mb.addReservedMem({ name: 'reserved', base, size, kind: 'cma', noMap: false, cmaDefault: true });
  mb.info(`cma: Reserved ${Math.floor(size / MIB)} MiB at ${pa(cfg.profile, base)} on node -1`);
}

/** Sets up every reserved-memory node and the cma= area, in the kernel's order. */
export function setupReservedMemory(mb: Memblock, cfg: MemblockConfig): void {
  for (const node of sortNodes(cfg.reservedMemory ?? [])) setupReservedMem(mb, node, cfg);
  reserveCmdlineCma(mb, cfg);
}
