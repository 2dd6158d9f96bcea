/** The IOVA allocator: addresses of the kernel's walk, range caches, depot trim, invariants. */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { IOVA_DEPOT_DELAY_NS, IOVA_MAG_SIZE } from '../../../src/kernel/dma/iova-rcache.js';
import { initIovaDomain, type IovaDomain } from '../../../src/kernel/dma/iova.js';
import { Clock } from '../../../src/machine/clock/clock.js';

const LIMIT32 = 0xfffff;

interface Rig {
  readonly iovad: IovaDomain;
  readonly clock: Clock;
  /** Set to switch the current CPU. */
  cpu: number;
}

function rig(nCpus = 2, startPfn = 1): Rig {
  const clock = new Clock();
  const iovad = initIovaDomain(4096, startPfn);
  const r: Rig = { iovad, clock, cpu: 0 };
  iovad.iovaDomainInitRcaches({ nCpus, cpu: () => r.cpu, clock });
  return r;
}

describe('tree allocation', () => {
  test('1-page IOVAs come top-down from just below 4 GiB (trace B)', () => {
    const { iovad } = rig();
    const got = [1, 2, 3].map(() => iovad.allocIovaFast(1, LIMIT32, true));
    expect(got).toEqual([0xfffff, 0xffffe, 0xffffd]);
  });

  test('the first mappings of trace B, sizes 1 and 2 pages, give its addresses', () => {
    const { iovad } = rig();
    const sizes = [1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 2, 1];
    const want = [
      0xfffff, 0xffffe, 0xffffd, 0xffffc, 0xffffb, 0xffffa, 0xffff8, 0xffff7, 0xffff4, 0xffff3,
      0xffff0, 0xfffef, 0xfffec, 0xfffeb,
    ];
    expect(sizes.map((s) => iovad.allocIovaFast(s, LIMIT32, true))).toEqual(want);
  });

  test('size-aligned 3 pages take a 4-page-aligned slot; unaligned do not', () => {
    const iovad = initIovaDomain(4096, 1);
    expect(iovad.allocIova(1, LIMIT32, true)).toEqual({ pfnLo: 0xfffff, pfnHi: 0xfffff });
    expect(iovad.allocIova(1, LIMIT32, true)).toEqual({ pfnLo: 0xffffe, pfnHi: 0xffffe });
    expect(iovad.allocIova(3, LIMIT32, true)).toEqual({ pfnLo: 0xffff8, pfnHi: 0xffffa });
    expect(iovad.allocIova(3, LIMIT32, false)).toEqual({ pfnLo: 0xffff5, pfnHi: 0xffff7 });
  });

  test('allocIovaFast rounds 3 pages up to 4', () => {
    const { iovad } = rig();
    expect(iovad.allocIovaFast(3, LIMIT32, true)).toBe(0xffffc);
    expect(iovad.findIova(0xffffd)).toEqual({ pfnLo: 0xffffc, pfnHi: 0xfffff });
  });

  test('alignment holes stay behind the cached node; a free above it moves the hint up', () => {
    const iovad = initIovaDomain(4096, 1);
    expect(iovad.allocIova(1, LIMIT32, true)?.pfnLo).toBe(0xfffff);
    expect(iovad.allocIova(2, LIMIT32, true)?.pfnLo).toBe(0xffffc);
    // 0xffffe is free but above the hint: the walk goes on downward.
    expect(iovad.allocIova(1, LIMIT32, true)?.pfnLo).toBe(0xffffb);
    iovad.freeIova(0xffffc);
    // The hint moved to the node above the freed one, so the walk now finds 0xffffe first.
    expect(iovad.allocIova(1, LIMIT32, true)?.pfnLo).toBe(0xffffe);
    expect(iovad.allocIova(2, LIMIT32, true)?.pfnLo).toBe(0xffffc);
  });

  test('reserve_iova holes are skipped, and reservations merge', () => {
    const iovad = initIovaDomain(4096, 1);
    expect(iovad.reserveIova(0xffff0, 0xffffd)).toEqual({ pfnLo: 0xffff0, pfnHi: 0xffffd });
    expect(iovad.allocIova(1, LIMIT32, false)?.pfnLo).toBe(0xfffff);
    expect(iovad.allocIova(1, LIMIT32, false)?.pfnLo).toBe(0xffffe);
    expect(iovad.allocIova(1, LIMIT32, false)?.pfnLo).toBe(0xfffef);
    expect(iovad.reserveIova(0xffe00, 0xffeff)).toEqual({ pfnLo: 0xffe00, pfnHi: 0xffeff });
    expect(iovad.reserveIova(0xffff2, 0xffff8)).toEqual({ pfnLo: 0xffff0, pfnHi: 0xffffd });
    expect(iovad.reserveIova(0xffd00, 0xffe10)).toEqual({ pfnLo: 0xffd00, pfnHi: 0xffeff });
    expect(iovad.reserveIova(0xffe80, 0xfff10)).toEqual({ pfnLo: 0xfff00, pfnHi: 0xfff10 });
    expect(iovad.listRanges()).toEqual([
      { pfnLo: 0xffd00, pfnHi: 0xffeff, reserved: true },
      { pfnLo: 0xfff00, pfnHi: 0xfff10, reserved: true },
      { pfnLo: 0xfffef, pfnHi: 0xfffef, reserved: false },
      { pfnLo: 0xffff0, pfnHi: 0xffffd, reserved: true },
      { pfnLo: 0xffffe, pfnHi: 0xffffe, reserved: false },
      { pfnLo: 0xfffff, pfnHi: 0xfffff, reserved: false },
    ]);
    expect(iovad.findIova(0xffff3)).toEqual({ pfnLo: 0xffff0, pfnHi: 0xffffd });
    expect(iovad.allocIova(0x10, LIMIT32, false)?.pfnLo).toBe(0xfffdf);
    expect(iovad.allocIova(0x100, LIMIT32, false)?.pfnLo).toBe(0xffc00);
  });

  test('a failing 32-bit size fails fast until something below 4 GiB is freed', () => {
    const iovad = initIovaDomain(4096, 1);
    iovad.reserveIova(1, 0xffff7);
    expect(iovad.allocIova(8, LIMIT32, true)?.pfnLo).toBe(0xffff8);
    expect(iovad.allocIova(4, LIMIT32, true)).toBeNull();
    expect(iovad.stats().max32AllocSize).toBe(4);
    expect(iovad.allocIova(5, LIMIT32, true)).toBeNull();
    iovad.freeIova(0xffffb);
    expect(iovad.stats().max32AllocSize).toBe(0x100000);
    expect(iovad.allocIova(4, LIMIT32, true)?.pfnLo).toBe(0xffffc);
  });

  test('allocations above 4 GiB use cached_node, not cached32_node', () => {
    const iovad = initIovaDomain(4096, 1);
    expect(iovad.allocIova(1, 2 ** 36 - 1, true)?.pfnLo).toBe(2 ** 36 - 1);
    expect(iovad.allocIova(1, LIMIT32, true)?.pfnLo).toBe(0xfffff);
    expect(iovad.allocIova(2, 2 ** 36 - 1, true)?.pfnLo).toBe(2 ** 36 - 4);
  });
});

describe('range caches', () => {
  test('frees come back LIFO per CPU', () => {
    const r = rig();
    const { iovad } = r;
    const a = [1, 2, 3].map(() => iovad.allocIovaFast(1, LIMIT32, true));
    r.cpu = 1;
    const b = iovad.allocIovaFast(1, LIMIT32, true);
    r.cpu = 0;
    for (const pfn of a) iovad.freeIovaFast(pfn, 1);
    r.cpu = 1;
    iovad.freeIovaFast(b, 1);
    expect(iovad.stats().cachedPerCpu).toEqual([3, 1]);
    expect(iovad.allocIovaFast(1, LIMIT32, true)).toBe(b);
    expect(iovad.allocIovaFast(1, LIMIT32, true)).toBe(0xffffb);
    r.cpu = 0;
    expect([1, 2, 3].map(() => iovad.allocIovaFast(1, LIMIT32, true))).toEqual([...a].reverse());
    expect(iovad.stats().live).toBe(5);
  });

  test('a cached pfn above the limit is not handed out', () => {
    const { iovad } = rig();
    const p = iovad.allocIovaFast(1, LIMIT32, true);
    iovad.freeIovaFast(p, 1);
    expect(iovad.allocIovaFast(1, 0x7ffff, true)).toBe(0x7ffff);
    expect(iovad.stats().cachedPerCpu[0]).toBe(1);
  });

  test('the third full magazine goes to the depot; the depot is trimmed 100 ms later', () => {
    const r = rig(1);
    const { iovad, clock } = r;
    const free1 = (n: number): void => {
      const pfns = Array.from({ length: n }, () => iovad.allocIova(1, LIMIT32, true)?.pfnLo ?? 0);
      for (const p of pfns) iovad.freeIovaFast(p, 1);
    };
    free1(2 * IOVA_MAG_SIZE);
    expect(iovad.stats().depotDepth).toEqual([0, 0, 0, 0, 0, 0]);
    free1(1);
    expect(iovad.stats().depotDepth).toEqual([1, 0, 0, 0, 0, 0]);
    expect(iovad.stats().cachedPerCpu).toEqual([IOVA_MAG_SIZE + 1]);
    // A depot of 1 magazine is not more than the one CPU: the trim frees nothing.
    expect(clock.run(IOVA_DEPOT_DELAY_NS)).toBe(1);
    expect(iovad.stats().depotDepth[0]).toBe(1);

    free1(2 * IOVA_MAG_SIZE);
    expect(iovad.stats().depotDepth[0]).toBe(3);
    const live = iovad.stats().live;
    clock.run(clock.now + IOVA_DEPOT_DELAY_NS - 1);
    expect(iovad.stats().depotDepth[0]).toBe(3);
    clock.run(clock.now + 1);
    expect(iovad.stats().depotDepth[0]).toBe(2);
    expect(iovad.stats().live).toBe(live - IOVA_MAG_SIZE);
    clock.run();
    expect(iovad.stats().depotDepth[0]).toBe(1);
    expect(clock.now).toBe(4 * IOVA_DEPOT_DELAY_NS);
  });

  test('exhaustion flushes the caches and retries once, only with flush_rcache', () => {
    const r = rig(2, 0xffff0);
    const { iovad } = r;
    const pfns: number[] = [];
    for (let p = iovad.allocIovaFast(1, LIMIT32, true); p !== 0;) {
      pfns.push(p);
      p = iovad.allocIovaFast(1, LIMIT32, true);
    }
    expect(pfns.length).toBe(16);
    iovad.freeIovaFast(pfns[0]!, 1);
    r.cpu = 1;
    iovad.freeIovaFast(pfns[1]!, 1);
    expect(iovad.allocIovaFast(2, LIMIT32, false)).toBe(0);
    expect(iovad.allocIovaFast(2, LIMIT32, true)).toBe(0xffffe);
    expect(iovad.stats().cachedPerCpu).toEqual([0, 0]);
  });

  test('sizes above 32 pages bypass the caches', () => {
    const { iovad } = rig();
    const p = iovad.allocIovaFast(33, LIMIT32, true);
    expect(p).toBe(0x100000 - 64);
    iovad.freeIovaFast(p, 33);
    expect(iovad.stats().live).toBe(0);
  });

  test('putIovaDomain empties everything', () => {
    const { iovad } = rig();
    iovad.freeIovaFast(iovad.allocIovaFast(4, LIMIT32, true), 4);
    iovad.reserveIova(10, 20);
    iovad.putIovaDomain();
    expect(iovad.listRanges()).toEqual([]);
  });
});

test('property: random alloc/free keeps ranges disjoint, in bounds, and drains to empty', () => {
  const op = fc.record({
    alloc: fc.boolean(),
    size: fc.integer({ min: 1, max: 40 }),
    limit: fc.constantFrom(0x3ff, 0xfff, 0x1fff),
    cpu: fc.integer({ min: 0, max: 2 }),
    fast: fc.boolean(),
    pick: fc.nat(),
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const r = rig(3, 4);
      const { iovad } = r;
      const live: { pfn: number; size: number; fast: boolean; limit: number }[] = [];
      for (const o of ops) {
        r.cpu = o.cpu;
        if (o.alloc || live.length === 0) {
          const pfn = o.fast
            ? iovad.allocIovaFast(o.size, o.limit, true)
            : (iovad.allocIova(o.size, o.limit, true)?.pfnLo ?? 0);
          if (pfn !== 0) live.push({ pfn, size: o.size, fast: o.fast, limit: o.limit });
        } else {
          const [x] = live.splice(o.pick % live.length, 1);
          if (x!.fast) iovad.freeIovaFast(x!.pfn, x!.size);
          else iovad.freeIova(x!.pfn);
        }
        const ranges = iovad.listRanges();
        for (let i = 0; i < ranges.length; i++) {
          expect(ranges[i]!.pfnLo).toBeGreaterThanOrEqual(4);
          expect(ranges[i]!.pfnHi).toBeLessThanOrEqual(0x1fff);
          if (i > 0) expect(ranges[i]!.pfnLo).toBeGreaterThan(ranges[i - 1]!.pfnHi);
        }
        for (const x of live) {
          const got = iovad.findIova(x.pfn);
          expect(got?.pfnLo).toBe(x.pfn);
          expect(got!.pfnHi).toBeLessThanOrEqual(x.limit);
          expect(got!.pfnHi - got!.pfnLo + 1).toBeGreaterThanOrEqual(x.size);
        }
      }
      for (const x of live) {
        if (x.fast) iovad.freeIovaFast(x.pfn, x.size);
        else iovad.freeIova(x.pfn);
      }
      for (let c = 0; c < 3; c++) iovad.freeCpuCachedIovas(c);
      iovad.freeGlobalCachedIovas();
      expect(iovad.listRanges()).toEqual([]);
      expect(iovad.stats().live).toBe(0);
    }),
    { numRuns: 200 },
  );
});
