import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { U64_MAX } from '../../../src/kernel/device/dma-mask.js';
import { Device } from '../../../src/kernel/device/device.js';
import { devresLive, devresReleaseAll } from '../../../src/kernel/device/devres.js';
import {
  DmaPools,
  POOL_POISON_ALLOCATED,
  POOL_POISON_FREED,
  carveOffsets,
  dmaPoolAlloc,
  dmaPoolCreate,
  dmaPoolDestroy,
  dmaPoolFree,
  dmaPoolZalloc,
  dmamPoolCreate,
  dmamPoolDestroy,
  poolsShow,
} from '../../../src/kernel/mm/dmapool.js';
import type {
  CoherentChunk,
  DmaHandle,
  DmaPool,
  DmaPoolConfig,
} from '../../../src/kernel/mm/dmapool.js';
import { GFP_ATOMIC, GFP_KERNEL } from '../../../src/kernel/mm/gfp.js';
import { KernelLog } from '../../../src/kernel/printk.js';
import type { DmaAddr, VirtAddr } from '../../../src/lib/addr.js';
import { Clock } from '../../../src/machine/clock/clock.js';

/** The linear-map offset of the fake: vaddr = dma + VA_OFF (x86-64 direct map, no IOMMU). */
const VA_OFF = 0x39e0_8000_0000;

/** A coherent allocator handing out chunks at the given dma addresses, with real bytes. */
class FakeCoherent {
  readonly mem = new Map<number, Uint8Array>();
  readonly freed: number[] = [];
  fail = false;
  private next: number;

  constructor(
    private readonly bases: number[],
    nextBase = 0x1000_0000,
  ) {
    this.next = nextBase;
  }

  allocCoherent(_dev: Device, size: number): CoherentChunk | null {
    if (this.fail) return null;
    const dma = this.bases.shift() ?? (this.next += 0x10_0000) - 0x10_0000;
    const bytes = new Uint8Array(size).fill(0x5a);
    this.mem.set(dma + VA_OFF, bytes);
    return { vaddr: (dma + VA_OFF) as VirtAddr, dma: dma as DmaAddr };
  }

  freeCoherent(_dev: Device, size: number, vaddr: VirtAddr): void {
    expect(this.mem.get(vaddr)?.length).toBe(size);
    this.mem.delete(vaddr);
    this.freed.push(vaddr - VA_OFF);
  }

  private at(va: number): [Uint8Array, number] {
    for (const [base, b] of this.mem) if (va >= base && va < base + b.length) return [b, va - base];
    throw new Error(`fake: no memory at ${va.toString(16)}`);
  }

  memset(vaddr: VirtAddr, value: number, len: number): void {
    const [b, off] = this.at(vaddr);
    b.fill(value, off, off + len);
  }

  read(vaddr: VirtAddr, dst: Uint8Array, off: number, len: number): void {
    const [b, o] = this.at(vaddr);
    dst.set(b.subarray(o, o + len), off);
  }

  bytes(vaddr: number, len: number): number[] {
    const dst = new Uint8Array(len);
    this.read(vaddr as VirtAddr, dst, 0, len);
    return [...dst];
  }
}

interface Rig {
  pools: DmaPools;
  fake: FakeCoherent;
  log: KernelLog;
  dev: Device;
}

function rig(bases: number[] = [], cfg: Partial<DmaPoolConfig> = {}): Rig {
  const log = new KernelLog(new Clock());
  const fake = new FakeCoherent(bases);
  const pools = new DmaPools({ ops: fake, log, ...cfg });
  return { pools, fake, log, dev: device() };
}

function device(name = '0000:00:01.0'): Device {
  return new Device({
    name,
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

function mustCreate(r: Rig, name: string, size: number, align: number, boundary: number): DmaPool {
  const p = dmaPoolCreate(r.pools, name, r.dev, size, align, boundary);
  if (p === null) throw new Error('create failed');
  return p;
}

/** Allocates and returns [vaddr - VA_OFF, dma], or null. */
function alloc(pool: DmaPool, h: DmaHandle = { dma: 0 as DmaAddr }): [number, number] | null {
  const v = dmaPoolAlloc(pool, GFP_KERNEL, h);
  return v === null ? null : [v - VA_OFF, h.dma];
}

function free(pool: DmaPool, dma: number): void {
  dmaPoolFree(pool, (dma + VA_OFF) as VirtAddr, dma as DmaAddr);
}

describe('dma_pool_create', () => {
  it('applies the kernel rules for size, align and boundary', () => {
    const r = rig();
    const make = (size: number, align: number, boundary: number): DmaPool | null =>
      dmaPoolCreate(r.pools, 't', r.dev, size, align, boundary);
    expect(dmaPoolCreate(r.pools, 't', null, 64, 8, 0)).toBeNull();
    expect(make(0, 8, 0)).toBeNull();
    expect(make(0x8000_0000, 8, 0)).toBeNull();
    expect(make(64, 3, 0)).toBeNull();
    expect(make(48, 16, 32)).toBeNull(); // boundary < size
    expect(make(48, 16, 96)).toBeNull(); // not a power of two
    expect(make(64, 3 * 2 ** 31, 0)).toBeNull();
    expect(make(64, 8, 3 * 2 ** 31)).toBeNull();
    const shape = (p: DmaPool | null): number[] =>
      p === null ? [] : [p.size, p.allocation, p.boundary];
    expect(shape(make(1, 0, 0))).toEqual([16, 4096, 4096]); // sizeof(struct dma_block)
    expect(shape(make(17, 8, 0))).toEqual([24, 4096, 4096]);
    expect(shape(make(68, 32, 4096))).toEqual([96, 4096, 4096]);
    expect(shape(make(48, 16, 64))).toEqual([48, 4096, 64]);
    expect(shape(make(64, 64, 1 << 20))).toEqual([64, 4096, 4096]); // clipped to allocation
    expect(shape(make(5000, 8, 0))).toEqual([5000, 5000, 5000]);
    expect(shape(make(5000, 8, 8192))).toEqual([5000, 5000, 5000]);
    expect(
      shape(
        dmaPoolCreate(
          new DmaPools({ ops: r.fake, log: r.log, dmaBlockSize: 8 }),
          't',
          r.dev,
          4,
          0,
          0,
        ),
      ),
    ).toEqual([8, 4096, 4096]);
  });

  it('keeps 31 characters of the name', () => {
    const r = rig();
    const p = mustCreate(r, 'a'.repeat(40), 64, 8, 0);
    expect(p.name).toBe('a'.repeat(31));
  });
});

describe('block placement', () => {
  it('gives the real nvme "prp list 256" addresses (E_nvme_direct.trace)', () => {
    const r = rig([0x2d90e000, 0x8848000]);
    const page = mustCreate(r, 'prp list page', 4096, 4096, 0);
    const p256 = mustCreate(r, 'prp list 256', 256, 256, 0);
    expect(alloc(page)).toEqual([0x2d90e000, 0x2d90e000]);
    free(page, 0x2d90e000);
    expect(alloc(page)?.[1]).toBe(0x2d90e000);
    free(page, 0x2d90e000);
    // trace lines 963-981: alloc 000, free 000, alloc 000, alloc 100, free 000, free 100,
    // alloc 100, alloc 000.
    expect(alloc(p256)?.[1]).toBe(0x8848000);
    free(p256, 0x8848000);
    expect(alloc(p256)?.[1]).toBe(0x8848000);
    expect(alloc(p256)?.[1]).toBe(0x8848100);
    free(p256, 0x8848000);
    free(p256, 0x8848100);
    expect(alloc(p256)?.[1]).toBe(0x8848100);
    expect(alloc(p256)?.[1]).toBe(0x8848000);
    expect([p256.nrBlocks, p256.nrPages, p256.nrActive]).toEqual([16, 1, 2]);
    expect(page.freeList().map(([, d]) => d)).toEqual([0x2d90e000]);
  });

  it('gives a 4096-byte pool one block per chunk, a new chunk when none is free', () => {
    const r = rig([0x2d90e000, 0x2d90f000]);
    const page = mustCreate(r, 'prp list page', 4096, 4096, 0);
    expect(alloc(page)).toEqual([0x2d90e000, 0x2d90e000]);
    expect(alloc(page)).toEqual([0x2d90f000, 0x2d90f000]);
    expect([page.nrBlocks, page.nrPages]).toEqual([2, 2]);
  });

  it('skips to the next boundary window (size 48, align 16, boundary 64)', () => {
    const r = rig([0x100000]);
    const p = mustCreate(r, 'b', 48, 16, 64);
    const got = [alloc(p), alloc(p), alloc(p)].map((x) => x?.[1]);
    expect(got).toEqual([0x100000, 0x100040, 0x100080]);
    expect(p.nrBlocks).toBe(64);
    expect(carveOffsets(48, 4096, 64).slice(0, 4)).toEqual([0, 64, 128, 192]);
    expect(carveOffsets(96, 4096, 4096).length).toBe(42);
    expect(carveOffsets(24, 4096, 64).slice(0, 6)).toEqual([0, 24, 64, 88, 128, 152]);
  });

  it('never lets a block cross its boundary (exhaustive over sizes and boundaries)', () => {
    for (let size = 16; size <= 4096; size += 8) {
      for (let b = 16; b <= 8192; b *= 2) {
        if (b < size) continue;
        const boundary = Math.min(b, 4096);
        const offs = carveOffsets(size, 4096, boundary);
        let prevEnd = 0;
        for (const o of offs) {
          expect(Math.floor(o / boundary)).toBe(Math.floor((o + size - 1) / boundary));
          expect(o).toBeGreaterThanOrEqual(prevEnd);
          prevEnd = o + size;
        }
        expect(prevEnd).toBeLessThanOrEqual(4096);
        // Every window holds as many blocks as fit in it.
        expect(offs.length).toBe(Math.floor(boundary / size) * (4096 / boundary));
      }
    }
  });

  it('reuses freed blocks most recent first', () => {
    const r = rig([0x200000]);
    const p = mustCreate(r, 'lifo', 64, 64, 0);
    const a = [alloc(p), alloc(p), alloc(p), alloc(p)].map((x) => x?.[1] ?? -1);
    expect(a).toEqual([0x200000, 0x200040, 0x200080, 0x2000c0]);
    free(p, a[1]!);
    free(p, a[3]!);
    free(p, a[0]!);
    expect([alloc(p)?.[1], alloc(p)?.[1], alloc(p)?.[1], alloc(p)?.[1]]).toEqual([
      0x200000, 0x2000c0, 0x200040, 0x200100,
    ]);
  });

  it('puts a new chunk in front of the free list, lowest block first', () => {
    const r = rig([0x300000, 0x500000]);
    const p = mustCreate(r, 'big', 2048, 8, 0);
    expect([alloc(p)?.[1], alloc(p)?.[1], alloc(p)?.[1]]).toEqual([0x300000, 0x300800, 0x500000]);
    free(p, 0x300800);
    expect(p.freeList().map(([, d]) => d)).toEqual([0x300800, 0x500800]);
  });

  it('returns null when the coherent allocation fails, and recovers', () => {
    const r = rig([0x400000]);
    const p = mustCreate(r, 'oom', 1024, 8, 0);
    r.fake.fail = true;
    expect(alloc(p)).toBeNull();
    expect([p.nrPages, p.nrActive]).toEqual([0, 0]);
    r.fake.fail = false;
    expect(alloc(p)?.[1]).toBe(0x400000);
  });
});

describe('zeroing and poisoning', () => {
  it('dma_pool_zalloc zeroes the block; plain alloc leaves the bytes (no debug)', () => {
    const r = rig([0x600000]);
    const p = mustCreate(r, 'z', 32, 8, 0);
    const h = { dma: 0 as DmaAddr };
    const v = dmaPoolAlloc(p, GFP_ATOMIC, h)!;
    expect(r.fake.bytes(v, 4)).toEqual([0x5a, 0x5a, 0x5a, 0x5a]);
    const z = dmaPoolZalloc(p, GFP_ATOMIC, h)!;
    expect(r.fake.bytes(z, 32)).toEqual(new Array<number>(32).fill(0));
    expect(r.fake.bytes(z + 32, 1)).toEqual([0x5a]);
  });

  it('init_on_free zeroes freed blocks when debug is off', () => {
    const r = rig([0x600000], { initOnFree: true });
    const p = mustCreate(r, 'z', 32, 8, 0);
    const [v, d] = alloc(p)!;
    free(p, d);
    expect(r.fake.bytes(v + VA_OFF, 32)).toEqual(new Array<number>(32).fill(0));
  });

  it('poisons chunks and freed blocks with 0xa7, allocated blocks with 0xa9 (DMAPOOL_DEBUG)', () => {
    const r = rig([0x700000], { debug: true });
    const p = mustCreate(r, 'poison', 64, 8, 0);
    const [v, d] = alloc(p)!;
    expect(r.fake.bytes(v + VA_OFF, 64)).toEqual(new Array<number>(64).fill(POOL_POISON_ALLOCATED));
    expect(r.fake.bytes(v + VA_OFF + 64, 64)).toEqual(
      new Array<number>(64).fill(POOL_POISON_FREED),
    );
    free(p, d);
    expect(r.fake.bytes(v + VA_OFF, 64)).toEqual(new Array<number>(64).fill(POOL_POISON_FREED));
    const z = dmaPoolZalloc(p, GFP_KERNEL, { dma: 0 as DmaAddr })!;
    expect(r.fake.bytes(z, 64)).toEqual(new Array<number>(64).fill(0));
    expect(r.log.all).toEqual([]);
  });

  it('reports a free block written after free (corrupted)', () => {
    const r = rig([0x700000], { debug: true });
    const p = mustCreate(r, 'uaf', 64, 8, 0);
    const [v, d] = alloc(p)!;
    free(p, d);
    r.fake.memset((v + VA_OFF + 20) as VirtAddr, 0, 1); // a use after free
    alloc(p);
    expect(r.log.dmesg()).toContain(
      `pci 0000:00:01.0: pool_check_block uaf, 0x${(v + VA_OFF).toString(16)} (corrupted)`,
    );
  });
});

describe('debug checks on free', () => {
  it('reports a bad dma and a double free without touching the pool', () => {
    const r = rig([0x800000], { debug: true });
    const p = mustCreate(r, 'chk', 64, 8, 0);
    const [, d] = alloc(p)!;
    const before = p.freeList();
    free(p, 0x900000);
    free(p, d);
    const afterGood = p.freeList();
    free(p, d);
    expect(r.log.all.map((l) => [l.level, l.text])).toEqual([
      [
        'err',
        `pci 0000:00:01.0: pool_block_err chk, 0x${(0x900000 + VA_OFF).toString(16)}/0x0000000000900000 (bad dma)`,
      ],
      ['err', 'pci 0000:00:01.0: pool_block_err chk, dma 0x0000000000800000 already free'],
    ]);
    expect(afterGood.length).toBe(before.length + 1);
    expect(p.freeList()).toEqual(afterGood);
    expect([p.nrActive, p.nrBlocks]).toEqual([0, 64]);
  });
});

describe('dma_pool_destroy', () => {
  it('frees every chunk when idle', () => {
    const r = rig([0xa00000, 0xb00000]);
    const p = mustCreate(r, 'idle', 4096, 4096, 0);
    const a = alloc(p)!;
    const b = alloc(p)!;
    free(p, a[1]);
    free(p, b[1]);
    dmaPoolDestroy(p);
    expect(r.fake.freed).toEqual([0xa00000, 0xb00000]);
    expect(r.log.all).toEqual([]);
    dmaPoolDestroy(null);
  });

  it('says busy and leaks the chunks while blocks are in use', () => {
    const r = rig([0xa00000]);
    const p = mustCreate(r, 'prp list 256', 256, 256, 0);
    alloc(p);
    dmaPoolDestroy(p);
    expect(r.log.dmesg()).toBe(
      '[    0.000000] pci 0000:00:01.0: dma_pool_destroy prp list 256 busy',
    );
    expect(r.fake.freed).toEqual([]);
    expect(r.fake.mem.size).toBe(1);
    expect(poolsShow(r.pools, r.dev)).toBeNull();
  });
});

describe('sysfs pools', () => {
  it('lists the pools newest first in the kernel format', () => {
    const r = rig([0x2d90e000, 0x8848000]);
    expect(poolsShow(r.pools, r.dev)).toBeNull();
    const page = mustCreate(r, 'prp list page', 4096, 4096, 0);
    const p256 = mustCreate(r, 'prp list 256', 256, 256, 0);
    alloc(page);
    alloc(p256);
    alloc(p256);
    expect(poolsShow(r.pools, r.dev)).toBe(
      'poolinfo - 0.1\n' +
        'prp list 256        2   16  256  1\n' +
        'prp list page       1    1 4096  1\n',
    );
    expect(r.pools.hasPoolsFile(r.dev)).toBe(true);
    dmaPoolDestroy(p256);
    dmaPoolDestroy(page);
    expect(r.pools.hasPoolsFile(r.dev)).toBe(false);
  });
});

describe('dmam_pool_create', () => {
  it('destroys the pool when the driver unbinds (devres)', () => {
    const r = rig([0xc00000]);
    const p = dmamPoolCreate(r.pools, 'managed', r.dev, 64, 8, 0)!;
    const [, d] = alloc(p)!;
    free(p, d);
    expect(devresLive(r.dev).map((e) => e.name)).toEqual(['dmam_pool_create']);
    expect(devresReleaseAll(r.dev)).toBe(1);
    expect(r.fake.freed).toEqual([0xc00000]);
    expect(poolsShow(r.pools, r.dev)).toBeNull();
  });

  it('dmam_pool_destroy releases the entry now', () => {
    const r = rig();
    const p = dmamPoolCreate(r.pools, 'managed', r.dev, 64, 8, 0)!;
    expect(dmamPoolDestroy(p)).toBe(true);
    expect(devresLive(r.dev)).toEqual([]);
    expect(dmamPoolDestroy(mustCreate(r, 'plain', 64, 8, 0))).toBe(false);
    expect(dmamPoolCreate(r.pools, 'bad', r.dev, 64, 3, 0)).toBeNull();
    expect(devresLive(r.dev)).toEqual([]);
  });
});

describe('property: random alloc/free sequences', () => {
  const shapes = fc.record({
    size: fc.integer({ min: 1, max: 5000 }),
    alignLog: fc.integer({ min: 0, max: 12 }),
    boundaryLog: fc.integer({ min: 0, max: 14 }),
  });
  const ops = fc.array(fc.tuple(fc.boolean(), fc.nat()), { minLength: 1, maxLength: 300 });

  it('keeps live blocks disjoint, inside their boundary window, and returns all of them', () => {
    fc.assert(
      fc.property(shapes, ops, fc.boolean(), ({ size, alignLog, boundaryLog }, seq, debug) => {
        const r = rig([], { debug });
        const boundary = boundaryLog === 0 ? 0 : 2 ** boundaryLog;
        const p = dmaPoolCreate(r.pools, 'prop', r.dev, size, 2 ** alignLog, boundary);
        if (p === null) return;
        const live = new Map<number, number>();
        for (const [isAlloc, pick] of seq) {
          if (isAlloc || live.size === 0) {
            const [v, d] = alloc(p)!;
            expect(live.has(d)).toBe(false);
            expect(v).toBe(d);
            expect(d % 2 ** alignLog).toBe(0);
            const base = p.chunks().find((c) => d >= c.dma && d < c.dma + p.allocation)!.dma;
            const off = d - base;
            expect(off + p.size).toBeLessThanOrEqual(p.allocation);
            expect(Math.floor(off / p.boundary)).toBe(Math.floor((off + p.size - 1) / p.boundary));
            for (const o of live.keys()) expect(o + p.size <= d || d + p.size <= o).toBe(true);
            live.set(d, v);
          } else {
            const keys = [...live.keys()];
            const d = keys[pick % keys.length]!;
            free(p, d);
            live.delete(d);
          }
          expect(p.nrActive).toBe(live.size);
        }
        for (const d of live.keys()) free(p, d);
        expect([p.nrActive, p.nrFree]).toEqual([0, p.nrBlocks]);
        expect(r.log.all).toEqual([]);
        dmaPoolDestroy(p);
        expect(r.fake.freed.length).toBe(p.nrPages);
      }),
      { numRuns: 200 },
    );
  });
});
