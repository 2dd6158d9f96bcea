/**
 * `dmasim run pool`: dma_pool, small coherent blocks carved from dma_alloc_coherent chunks (the
 * seed's "DMA pool, like slab, for coherent buffers smaller than a page"). It creates a pool,
 * allocates blocks, checks that each is aligned and inside one `boundary` window, prints the
 * device's sysfs `pools` file, frees, shows the most-recently-freed block coming back, destroys.
 */
import type { Device } from '../kernel/device/device.js';
import type { Kernel } from '../kernel/kernel.js';
import {
  carveOffsets,
  dmaPoolAlloc,
  dmaPoolCreate,
  dmaPoolDestroy,
  dmaPoolFree,
  poolsShow,
} from '../kernel/mm/dmapool.js';
import type { DmaPool } from '../kernel/mm/dmapool.js';
import { GFP_KERNEL } from '../kernel/mm/gfp.js';
import { hex } from '../lib/addr.js';
import type { DmaAddr, VirtAddr } from '../lib/addr.js';
import { ConfigError } from '../lib/errors.js';
import { ARCH_NAMES } from '../machine/profile.js';
import type { Scenario, ScenarioEnv } from './scenario.js';

const POOL_NAME = 'desc-pool';
const INT_MAX = 0x7fff_ffff;
/** Blocks listed one by one in the narrative; the rest are only checked. */
const SHOWN = 6;

interface Block {
  readonly va: VirtAddr;
  readonly dma: DmaAddr;
}

interface Geometry {
  readonly size: number;
  readonly align: number;
  readonly boundary: number;
}

const isPow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

/** Why dma_pool_create returns NULL for these arguments (mm/dmapool.c's checks, in order). */
export function createFailure(g: Geometry, minBlock: number): string | null {
  if (g.align !== 0 && !isPow2(g.align)) return `align ${g.align} is not a power of two`;
  if (g.size === 0 || g.size > INT_MAX) return `size ${g.size} is 0 or above INT_MAX`;
  const align = g.align === 0 ? 1 : g.align;
  const size = Math.ceil(Math.max(g.size, minBlock) / align) * align;
  if (g.boundary !== 0 && g.boundary < size)
    return `boundary ${g.boundary} is smaller than the block size ${size}`;
  if (g.boundary !== 0 && !isPow2(g.boundary))
    return `boundary ${g.boundary} is not a power of two`;
  return null;
}

function allocBlocks(pool: DmaPool, n: number): Block[] {
  const out: Block[] = [];
  for (let i = 0; i < n; i++) {
    const h = { dma: 0 as DmaAddr };
    const va = dmaPoolAlloc(pool, GFP_KERNEL, h);
    if (va === null)
      throw new ConfigError(`pool: dma_pool_alloc failed at block ${i} (more --ram)`);
    out.push({ va, dma: h.dma });
  }
  return out;
}

/** Counts the blocks that break the pool's promises: alignment and the boundary. */
function audit(blocks: readonly Block[], pool: DmaPool, g: Geometry): [number, number] {
  const align = g.align === 0 ? 1 : g.align;
  // The caller's boundary when given, else the chunk: blocks never straddle either.
  const b = g.boundary === 0 ? pool.allocation : g.boundary;
  const misaligned = blocks.filter((x) => x.dma % align !== 0 || x.va % align !== 0).length;
  const crossing = blocks.filter(
    (x) => Math.floor(x.dma / b) !== Math.floor((x.dma + pool.size - 1) / b),
  ).length;
  return [misaligned, crossing];
}

function showBlocks(env: ScenarioEnv, k: Kernel, blocks: readonly Block[], pool: DmaPool): void {
  const b = pool.boundary;
  for (const x of blocks.slice(0, SHOWN))
    env.say(
      `   ${k.vm.format(x.va)} dma ${hex(x.dma)}: ` +
        `bytes ${x.dma % b}..${(x.dma % b) + pool.size - 1} of its ${b}-byte window`,
    );
  if (blocks.length > SHOWN) env.say(`   ... and ${blocks.length - SHOWN} more`);
}

function showPools(env: ScenarioEnv, k: Kernel, dev: Device, when: string): void {
  const text = poolsShow(k.dmaPools, dev);
  env.say(`/sys/bus/pci/devices/${dev.name}/pools ${when}:`);
  if (text === null) env.say('   (no such file: the device has no pools)');
  else for (const line of text.trimEnd().split('\n')) env.say(`   ${line}`);
}

/** Frees every block; then one more alloc shows the last freed block is reused first. */
function freeAll(env: ScenarioEnv, pool: DmaPool, blocks: readonly Block[]): boolean {
  for (const x of blocks) dmaPoolFree(pool, x.va, x.dma);
  const again = allocBlocks(pool, 1)[0];
  const last = blocks[blocks.length - 1];
  const reused = again !== undefined && last !== undefined && again.dma === last.dma;
  env.say(
    `freed all ${blocks.length}; the next dma_pool_alloc returns dma ${hex(again?.dma ?? 0)}` +
      (reused ? ', the block freed last (the free list is a stack)' : ''),
  );
  if (again !== undefined) dmaPoolFree(pool, again.va, again.dma);
  return reused;
}

function geometry(env: ScenarioEnv): Geometry {
  return { size: env.int('size'), align: env.int('align'), boundary: env.int('boundary') };
}

function createCall(dev: Device, g: Geometry): string {
  return `dma_pool_create("${POOL_NAME}", ${dev.name}, ${g.size}, ${g.align}, ${g.boundary})`;
}

/** dma_pool_create said NULL: what the kernel does, reported without a stack trace. */
function refused(env: ScenarioEnv, k: Kernel, dev: Device, g: Geometry): void {
  const why = createFailure(g, k.dmaPools.dmaBlockSize) ?? 'the kernel refused it';
  env.say(`${createCall(dev, g)} returned NULL: ${why}.`);
  env.say('A driver must check for NULL and fail its probe with -ENOMEM; nothing was allocated.');
  env.count('dma_pool_create', 'NULL');
  env.count('reason', why);
  env.count('blocks', 0);
}

function exercise(env: ScenarioEnv, k: Kernel, dev: Device, pool: DmaPool, g: Geometry): void {
  const perChunk = carveOffsets(pool.size, pool.allocation, pool.boundary).length;
  env.say(
    `${createCall(dev, g)}: blocks of ${pool.size} bytes from ${pool.allocation}-byte coherent ` +
      `chunks, ${perChunk} per chunk (none may straddle a multiple of ${pool.boundary})`,
  );
  const blocks = allocBlocks(pool, env.int('count'));
  env.say(`dma_pool_alloc x${blocks.length}:`);
  showBlocks(env, k, blocks, pool);
  const [misaligned, crossing] = audit(blocks, pool, g);
  env.say(`${misaligned} misaligned, ${crossing} crossing the boundary`);
  showPools(env, k, dev, 'with the blocks allocated');
  env.count('dma_pool_create', 'ok');
  env.count('block size', pool.size);
  env.count('chunk bytes', pool.allocation);
  env.count('blocks per chunk', perChunk);
  env.count('blocks', blocks.length);
  env.count('chunks', pool.nrPages);
  env.count('misaligned', misaligned);
  env.count('crossing boundary', crossing);
  // The pools file's data line (its first line is the "poolinfo - 0.1" header).
  env.count('pools line', (poolsShow(k.dmaPools, dev) ?? '').split('\n')[1]?.trim() ?? '');
  env.count('reused last freed', freeAll(env, pool, blocks) ? 'yes' : 'no');
  env.count('active after free', pool.nrActive);
  dmaPoolDestroy(pool);
  showPools(env, k, dev, 'after dma_pool_destroy');
}

/** `dmasim run pool`: a dma_pool's blocks, their alignment and boundary, the pools file. */
export const poolScenario: Scenario = {
  name: 'pool',
  summary: 'dma_pool: small aligned coherent blocks that never cross a boundary, and /sys pools',
  archs: ARCH_NAMES,
  params: [
    {
      name: 'size',
      description: 'block size in bytes',
      kind: 'int',
      min: 0,
      max: 65536,
      default: 96,
    },
    {
      name: 'align',
      description: 'block alignment, a power of two (0 means 1)',
      kind: 'int',
      min: 0,
      max: 65536,
      default: 32,
    },
    {
      name: 'boundary',
      description: 'no block crosses a multiple of this power of two (0: the chunk)',
      kind: 'int',
      min: 0,
      max: 1 << 20,
      default: 256,
    },
    {
      name: 'count',
      description: 'blocks to allocate',
      kind: 'int',
      min: 1,
      max: 4096,
      default: 40,
    },
  ],
  examples: [
    'dmasim run pool',
    'dmasim run pool --size 64 --align 64 --boundary 4096 --count 100',
    'dmasim run pool --align 24   # not a power of two: dma_pool_create returns NULL',
  ],
  run(env: ScenarioEnv): void {
    const k = env.boot();
    const dev = env.addDevice(k);
    const g = geometry(env);
    const pool = dmaPoolCreate(k.dmaPools, POOL_NAME, dev, g.size, g.align, g.boundary);
    if (pool === null) refused(env, k, dev, g);
    else exercise(env, k, dev, pool, g);
    env.count('simulated ns', k.machine.clock.now);
  },
};
