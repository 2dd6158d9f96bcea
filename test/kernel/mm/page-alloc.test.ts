/**
 * The buddy page allocator against the kernel's algorithm: split and merge order, per-CPU list
 * reuse, zone choice and fallback per GFP combination, reference counts, failures and warnings.
 */
import { describe, expect, test } from 'vitest';
import {
  __GFP_COMP,
  __GFP_HIGHMEM,
  __GFP_NOWARN,
  __GFP_ZERO,
  GFP_ATOMIC,
  GFP_DMA,
  GFP_DMA32,
  GFP_HIGHUSER,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_NOWAIT,
  MIGRATE_MOVABLE,
} from '../../../src/kernel/mm/gfp.js';
import { freeBootRange, freeOnePage, rmqueueSmallest } from '../../../src/kernel/mm/buddy.js';
import { getOrder } from '../../../src/kernel/mm/page-frames.js';
import type { Pfn } from '../../../src/kernel/mm/page.js';
import { vaString } from '../../../src/kernel/mm/va.js';
import { Zone } from '../../../src/kernel/mm/zone.js';
import { MemAttr } from '../../../src/machine/memory/attr.js';
import { Rng } from '../../../src/lib/rng.js';
import { GIB, MIB } from '../../../src/lib/units.js';
import { lines, rig } from './rig.js';

const hexes = (ps: (Pfn | null)[]): string[] =>
  ps.map((p) => (p === null ? 'null' : p.toString(16)));

describe('get_order', () => {
  test('rounds sizes up to power-of-two page counts', () => {
    const cases: [number, number][] = [
      [1, 0],
      [4096, 0],
      [4097, 1],
      [8192, 1],
      [8193, 2],
      [65536, 4],
      [4 * MIB, 10],
      [4 * MIB + 1, 11],
    ];
    for (const [size, order] of cases) expect(getOrder(size), `get_order(${size})`).toBe(order);
  });
});

describe('buddy lists of one zone', () => {
  /** A zone spanning pfns 0..63, every page reserved until freed. */
  const zone = (): Zone =>
    new Zone(0, { name: 'Normal', startPfn: 0, spanned: 64, present: 64 }, 9);

  test('boot frees in aligned blocks, split keeps the low half, high halves go to the heads', () => {
    const z = zone();
    freeBootRange(z, 0, 64);
    expect(z.nrFreeAt(6)).toBe(1);
    const got = [0, 0, 0, 1, 0].map((order) => rmqueueSmallest(z, order, MIGRATE_MOVABLE));
    // 0 splits 0..63 (1, 2, 4, 8, 16, 32 left), then 1, then 2 splits (3 left), 4 splits, 3.
    expect(got).toEqual([0, 1, 2, 4, 3]);
  });

  test('a free merges with its buddy up the orders, back to one block', () => {
    const z = zone();
    freeBootRange(z, 0, 64);
    const got = [0, 0, 0].map((order) => rmqueueSmallest(z, order, MIGRATE_MOVABLE));
    for (const i of got) freeOnePage(z, i, 0, MIGRATE_MOVABLE, false);
    expect(z.nrFreeAt(6)).toBe(1);
    expect(z.nrFree).toBe(64);
  });

  test('a block whose parent has a free buddy goes to the list tail (buddy_merge_likely)', () => {
    const z = zone();
    freeBootRange(z, 5, 6); // 5: order 0, its buddy 4 stays reserved
    freeBootRange(z, 2, 4); // 2-3: order 1
    freeOnePage(z, 1, 0, MIGRATE_MOVABLE, false); // parent 0-1's buddy 2-3 is free: tail
    freeOnePage(z, 7, 0, MIGRATE_MOVABLE, false); // parent 6-7's buddy 4-5 is not: head
    expect(z.free.members(0 * 3 + MIGRATE_MOVABLE)).toEqual([7, 5, 1]);
  });
});

describe('allocation order on a fresh machine (x86_64, 64 MiB)', () => {
  test('order-0 pages come out in pfn order and a freed page is the next one out (PCP LIFO)', () => {
    const { pa } = rig('x86_64');
    const a = [0, 1, 2].map(() => pa.allocPages(GFP_KERNEL, 0));
    expect(hexes(a)).toEqual(['1000', '1001', '1002']);
    for (const p of a) pa.freePagesPage(p!, 0);
    expect(hexes([0, 1, 2].map(() => pa.allocPages(GFP_KERNEL, 0)))).toEqual([
      '1002',
      '1001',
      '1000',
    ]);
  });

  test('orders above 3 bypass the PCP lists: split order, then LIFO reuse of the freed block', () => {
    const { pa } = rig('x86_64');
    const a = [0, 1, 2].map(() => pa.allocPages(GFP_KERNEL, 4));
    expect(hexes(a)).toEqual(['1000', '1010', '1020']);
    pa.freePagesPage(a[1]!, 4);
    expect(hexes([pa.allocPages(GFP_KERNEL, 4)])).toEqual(['1010']);
  });

  test('freeing everything coalesces back to the max-order blocks', () => {
    const { pa } = rig('x86_64');
    const before = pa.zones.map((z) => z.nrFreeAt(10));
    const pages = Array.from(
      { length: 40 },
      (_, k) => [pa.allocPages(GFP_KERNEL, k % 4)!, k % 4] as const,
    );
    for (const [p, order] of pages) pa.freePagesPage(p, order);
    pa.drainAllPages();
    expect(pa.zones.map((z) => z.nrFreeAt(10))).toEqual(before);
    expect(pa.nrFreePages()).toBe(16384);
  });

  test('a PCP refill takes a batch from the buddy lists in their order', () => {
    const { pa } = rig('x86_64');
    pa.allocPages(GFP_KERNEL, 0);
    const dma32 = pa.zones[1]!;
    // batch 3 for a 48 MiB zone: 0x1000..0x1002 leave the buddy lists, 0x1003 stays at order 0.
    expect(dma32.pcp[0]!.batch).toBe(3);
    expect(Array.from({ length: 11 }, (_, o) => dma32.nrFreeAt(o))).toEqual([
      1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 11,
    ]);
  });
});

describe('zones and fallback', () => {
  const big = (): ReturnType<typeof rig> => rig('x86_64', { ramSize: 6 * GIB });

  test('x86_64 with RAM above 4 GiB: each GFP combination starts in its zone', () => {
    const { pa } = big();
    const zoneOf = (gfp: number): string => pa.pageZone(pa.allocPages(gfp, 0)!)!.name;
    expect(pa.zones.map((z) => [z.name, z.startPfn, z.spannedPages, z.presentPages])).toEqual([
      ['DMA', 0, 4096, 4096],
      ['DMA32', 4096, 1044480, 782336],
      ['Normal', 0x100000, 786432, 786432],
      ['Movable', 0, 0, 0],
    ]);
    expect(zoneOf(GFP_KERNEL)).toBe('Normal');
    expect(zoneOf(GFP_ATOMIC)).toBe('Normal');
    expect(zoneOf(GFP_KERNEL | __GFP_HIGHMEM)).toBe('Normal');
    expect(zoneOf(GFP_KERNEL | GFP_DMA32)).toBe('DMA32');
    expect(zoneOf(GFP_KERNEL | GFP_DMA)).toBe('DMA');
    // The order-0 DMA32 page above brought a PCP batch of 63 pages: 0x1000-0x103e.
    expect(hexes([pa.allocPages(GFP_KERNEL | GFP_DMA32, 4), pa.allocPages(GFP_DMA, 4)])).toEqual([
      '1040',
      '10',
    ]);
  });

  test('x86_64 fallback NORMAL -> DMA32 -> DMA follows the watermarks and lowmem reserves', () => {
    // 4 MiB free in each of Normal and DMA32, 1 MiB in DMA; vm.min_free_kbytes = 0.
    const { pa, log } = rig('x86_64', {
      ramSize: 6 * GIB,
      minFreeKbytes: 0,
      free: [
        { base: 1 * MIB, size: 1 * MIB },
        { base: 16 * MIB, size: 4 * MIB },
        { base: 4 * GIB, size: 4 * MIB },
      ],
    });
    const zones: string[] = [];
    for (;;) {
      const p = pa.allocPages(GFP_KERNEL, 4);
      if (p === null) break;
      zones.push(pa.pageZone(p)!.name);
    }
    const runs = zones.reduce<[string, number][]>((acc, z) => {
      const last = acc[acc.length - 1];
      if (last?.[0] === z) last[1]++;
      else acc.push([z, 1]);
      return acc;
    }, []);
    // Low watermark pass: Normal down to 16 free pages, DMA32 down to its reserve for Normal
    // requests (4), DMA down to its reserve (8); then the min-watermark pass takes Normal's last.
    expect(runs).toEqual([
      ['Normal', 63],
      ['DMA32', 63],
      ['DMA', 15],
      ['Normal', 1],
    ]);
    expect(pa.zones.map((z) => z.lowmemReserve)).toEqual([
      [0, 4, 8, 8],
      [0, 0, 4, 4],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
    ]);
    expect(lines(log)).toEqual([
      'swapper/0: page allocation failure: order:4, mode:0xcc0(GFP_KERNEL), nodemask=(null),cpuset=/,mems_allowed=0',
    ]);
  });

  test('GFP_DMA32 never takes ZONE_NORMAL; GFP_DMA never leaves ZONE_DMA', () => {
    const { pa } = rig('x86_64', {
      ramSize: 6 * GIB,
      minFreeKbytes: 0,
      free: [
        { base: 1 * MIB, size: 1 * MIB },
        { base: 16 * MIB, size: 1 * MIB },
        { base: 4 * GIB, size: 4 * MIB },
      ],
    });
    const seen = (gfp: number): Set<string> => {
      const s = new Set<string>();
      for (
        let p = pa.allocPages(gfp | __GFP_NOWARN, 4);
        p !== null;
        p = pa.allocPages(gfp | __GFP_NOWARN, 4)
      ) {
        s.add(pa.pageZone(p)!.name);
      }
      return s;
    };
    expect([...seen(GFP_DMA)]).toEqual(['DMA']);
    expect([...seen(GFP_KERNEL | GFP_DMA32)]).toEqual(['DMA32']);
    expect(pa.zones[2]!.nrFree).toBe(1024);
  });

  test('arm32: lowmem below 760 MiB, highmem above it first for __GFP_HIGHMEM', () => {
    const { pa } = rig('arm32', { ramSize: GIB });
    expect(pa.zones.map((z) => [z.name, z.startPfn.toString(16), z.spannedPages])).toEqual([
      ['Normal', '60000', 194560],
      ['HighMem', '8f800', 67584],
      ['Movable', '0', 0],
    ]);
    const k = pa.allocPages(GFP_KERNEL, 0)!;
    const dma = pa.allocPages(GFP_DMA, 0)!; // no ZONE_DMA on this board: ZONE_NORMAL
    const dma32 = pa.allocPages(GFP_DMA32, 0)!;
    // Highmem was freed page by page, so its order-10 list runs from the top down.
    const hu = pa.allocPages(GFP_HIGHUSER, 0)!;
    const hum = pa.allocPages(GFP_HIGHUSER_MOVABLE, 0)!;
    expect(hexes([k, dma, dma32, hu, hum])).toEqual(['60000', '60001', '60002', '9fc00', '9f800']);
    expect(pa.pageHighMem(hu)).toBe(true);
    expect(pa.pageAddress(hu)).toBeNull();
    expect(vaString(pa.profile, pa.pageAddress(k)!)).toBe('c0000000');
    const va = pa.getFreePages(GFP_KERNEL | __GFP_HIGHMEM, 0)!; // __get_free_pages drops __GFP_HIGHMEM
    expect(pa.pageHighMem(pa.virtToPage(va))).toBe(false);
  });

  test('arm64: ZONE_DMA covers RAM below 4 GiB, GFP_DMA32 falls back to it', () => {
    const { pa } = rig('arm64', { ramSize: 4 * GIB });
    expect(pa.zones.map((z) => [z.name, z.presentPages])).toEqual([
      ['DMA', 786432],
      ['DMA32', 0],
      ['Normal', 262144],
      ['Movable', 0],
    ]);
    expect(pa.pageZone(pa.allocPages(GFP_KERNEL | GFP_DMA32, 0)!)!.name).toBe('DMA');
    expect(pa.pageZone(pa.allocPages(GFP_KERNEL, 0)!)!.name).toBe('Normal');
  });
});

describe('struct page operations', () => {
  test('split_page gives each page its own reference', () => {
    const { pa } = rig('x86_64');
    const free0 = pa.nrFreePages();
    const p = pa.allocPages(GFP_KERNEL, 2)!;
    expect([0, 1, 2, 3].map((k) => pa.pageRefCount((p + k) as Pfn))).toEqual([1, 0, 0, 0]);
    pa.splitPage(p, 2);
    expect([0, 1, 2, 3].map((k) => pa.pageRefCount((p + k) as Pfn))).toEqual([1, 1, 1, 1]);
    for (let k = 0; k < 4; k++) pa.freePagesPage((p + k) as Pfn, 0);
    pa.drainAllPages();
    expect(pa.nrFreePages()).toBe(free0);
  });

  test('compound pages: references on the head, put_page frees the whole folio', () => {
    const { pa } = rig('x86_64');
    const free0 = pa.nrFreePages();
    const p = pa.allocPages(GFP_KERNEL | __GFP_COMP, 5)!;
    const tail = (p + 7) as Pfn;
    expect(pa.compoundHead(tail)).toBe(p);
    expect(pa.compoundOrder(p)).toBe(5);
    pa.getPage(tail);
    expect(pa.pageCount(tail)).toBe(2);
    pa.freePagesPage(p, 5);
    expect(pa.nrFreePages()).toBe(free0 - 32);
    pa.putPage(tail);
    expect(pa.nrFreePages()).toBe(free0);
    expect(pa.page(p)!.flags).toEqual(['buddy']);
  });

  test('__free_pages with the first page still referenced frees the rest of the block', () => {
    const { pa } = rig('x86_64');
    const p = pa.allocPages(GFP_KERNEL, 4)!;
    const free1 = pa.nrFreePages();
    pa.getPage(p);
    pa.freePagesPage(p, 4);
    pa.drainAllPages();
    expect(pa.nrFreePages()).toBe(free1 + 15);
    pa.putPage(p);
    pa.drainAllPages();
    expect(pa.nrFreePages()).toBe(free1 + 16);
  });

  test('__GFP_ZERO zeroes through the CPU cache', () => {
    const { m, pa } = rig('x86_64');
    const p = pa.allocPages(GFP_KERNEL, 1)!;
    const phys = pa.pageToPhys(p);
    m.cpu.write(phys + 5000, Uint8Array.of(0xaa), 0, 1, MemAttr.CACHEABLE);
    pa.freePagesPage(p, 1);
    const q = pa.allocPages(GFP_KERNEL | __GFP_ZERO, 1)!;
    expect(q).toBe(p);
    const b = new Uint8Array(1);
    m.cpu.read(phys + 5000, b, 0, 1, MemAttr.CACHEABLE);
    expect(b[0]).toBe(0);
  });
});

describe('failures and misuse', () => {
  /** 64 free pages at 16 MiB (ZONE_DMA32) of a 64 MiB machine, no watermark reserve. */
  const tiny = (): ReturnType<typeof rig> =>
    rig('x86_64', {
      minFreeKbytes: 0,
      free: [{ base: 16 * MIB, size: 64 * 4096 }],
      memory: [{ base: 0, size: 64 * MIB }],
    });

  test('out of memory returns null with warn_alloc, silently with __GFP_NOWARN', () => {
    const { pa, log } = tiny();
    let n = 0;
    while (pa.allocPages(GFP_KERNEL | __GFP_NOWARN, 0) !== null) n++;
    expect(n).toBe(64);
    expect(lines(log)).toEqual([]);
    expect(pa.allocPages(GFP_NOWAIT | __GFP_ZERO, 0)).toBeNull();
    expect(lines(log)).toEqual([
      'swapper/0: page allocation failure: order:0, mode:0x900(GFP_NOWAIT|__GFP_ZERO), nodemask=(null),cpuset=/,mems_allowed=0',
    ]);
  });

  test('GFP_DMA with an empty ZONE_DMA fails without a warning', () => {
    const { pa, log } = tiny();
    expect(pa.allocPages(GFP_KERNEL | GFP_DMA, 0)).toBeNull();
    expect(lines(log)).toEqual([]);
  });

  test('order above MAX_PAGE_ORDER: WARN once, null', () => {
    const { pa, log } = tiny();
    expect(pa.allocPages(GFP_KERNEL, 11)).toBeNull();
    expect(pa.allocPages(GFP_KERNEL, 11)).toBeNull();
    expect(pa.allocPages(GFP_KERNEL | __GFP_NOWARN, 11)).toBeNull();
    expect(lines(log)).toEqual(['WARNING: CPU: 0 PID: 0 at mm/page_alloc.c __alloc_pages_noprof']);
  });

  test('freeing a free page is a bad page state and changes nothing', () => {
    const { pa, log } = tiny();
    const p = pa.allocPages(GFP_KERNEL, 0)!;
    pa.freePagesPage(p, 0);
    const free = pa.nrFreePages();
    pa.freePagesPage(p, 0);
    expect(lines(log)).toEqual([
      'BUG: Bad page state in process swapper/0  pfn:01000',
      'page dumped because: VM_BUG_ON_PAGE(page_ref_count(page) == 0)',
    ]);
    expect(pa.nrFreePages()).toBe(free);
    expect(hexes([pa.allocPages(GFP_KERNEL, 0), pa.allocPages(GFP_KERNEL, 0)])).toEqual([
      '1000',
      '1001',
    ]);
  });

  test('freeing a compound page with the wrong order is refused', () => {
    const { pa, log } = tiny();
    const p = pa.allocPages(GFP_KERNEL | __GFP_COMP, 2)!;
    pa.freePagesPage(p, 1);
    expect(lines(log)[1]).toBe(
      'page dumped because: VM_BUG_ON_PAGE(compound && compound_order(page) != order)',
    );
    expect(pa.pageRefCount(p)).toBe(1);
    pa.freePagesPage(p, 2);
    expect(pa.pageRefCount(p)).toBe(0);
  });
});

describe('the seed documents', () => {
  test('dma_mem_alloc(): order from size, __get_dma_pages, below 16 MiB', () => {
    for (const arch of ['x86_64', 'prep'] as const) {
      const { pa, lm } = rig(arch);
      /** static unsigned long dma_mem_alloc(int size) */
      const dmaMemAlloc = (size: number): ReturnType<typeof pa.getDmaPages> => {
        const order = getOrder(size);
        return pa.getDmaPages(GFP_KERNEL, order);
      };
      const buf = dmaMemAlloc(10000)!;
      const phys = lm.virtToPhys(buf);
      expect(phys % (4 * 4096), arch).toBe(0);
      expect(phys + 10000, arch).toBeLessThanOrEqual(16 * MIB);
      expect(pa.pageZone(pa.virtToPage(buf))!.name, arch).toBe('DMA');
      pa.freePages(buf, getOrder(10000));
    }
  });
});

test('GFP_DMA | GFP_DMA32 is a bad zone combination: reported once, the lowest zone used', () => {
  const { pa, log } = rig('x86_64');
  const p = pa.allocPages(GFP_KERNEL | GFP_DMA | GFP_DMA32, 0)!;
  pa.allocPages(GFP_KERNEL | GFP_DMA | GFP_DMA32, 0);
  expect(pa.pageZone(p)!.name).toBe('DMA');
  expect(lines(log)).toEqual([
    'WARNING: CPU: 0 PID: 0 at include/linux/gfp.h gfp_zone',
    'VM_BUG_ON((GFP_ZONE_BAD >> bit) & 1)',
  ]);
});

test('random alloc/free on two CPUs keeps every page accounted for exactly once', () => {
  const { m, pa } = rig('x86_64', { minFreeKbytes: 0 });
  const rng = new Rng(7);
  const live = new Map<number, number>();
  const owned = new Set<number>();
  const managed = pa.zones.reduce((n, z) => n + z.managedPages, 0);
  for (let step = 0; step < 20000; step++) {
    m.runOn(rng.below(2));
    if (live.size > 0 && rng.chance(0.5)) {
      const keys = [...live.keys()];
      const p = keys[rng.below(keys.length)]!;
      const order = live.get(p)!;
      pa.freePagesPage(p as Pfn, order);
      for (let k = 0; k < 1 << order; k++) owned.delete(p + k);
      live.delete(p);
      continue;
    }
    const order = rng.below(6);
    const p = pa.allocPages(GFP_KERNEL | (rng.chance(0.2) ? GFP_DMA : 0) | __GFP_NOWARN, order);
    if (p === null) continue;
    for (let k = 0; k < 1 << order; k++) {
      expect(owned.has(p + k)).toBe(false);
      owned.add(p + k);
    }
    live.set(p, order);
  }
  const used = [...live.values()].reduce((n, o) => n + (1 << o), 0);
  const listed = pa.zones.reduce((n, z) => n + z.pcp.reduce((c, q) => c + q.count, 0), 0);
  expect(pa.nrFreePages() + listed + used).toBe(managed);
  for (const [p, order] of live) pa.freePagesPage(p as Pfn, order);
  pa.drainAllPages();
  expect(pa.nrFreePages()).toBe(managed);
  expect(pa.zones.map((z) => z.nrFreeAt(10))).toEqual([4, 12, 0, 0]);
});
