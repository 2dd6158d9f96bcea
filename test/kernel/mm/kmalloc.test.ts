/**
 * kmalloc against SLUB: caches per profile, slab orders, object placement and alignment, CPU
 * freelists and partial slabs, large allocations, and kfree's reports.
 */
import { describe, expect, test } from 'vitest';
import type { VirtAddr } from '../../../src/lib/addr.js';
import {
  __GFP_ACCOUNT,
  __GFP_RECLAIMABLE,
  GFP_DMA,
  GFP_DMA32,
  GFP_KERNEL,
} from '../../../src/kernel/mm/gfp.js';
import { ZERO_SIZE_PTR } from '../../../src/kernel/mm/kmalloc.js';
import { calculateOrder } from '../../../src/kernel/mm/slab.js';
import { slabCacheInfo, slabinfo } from '../../../src/kernel/mm/slabinfo.js';
import { vaString } from '../../../src/kernel/mm/va.js';
import { MemAttr } from '../../../src/machine/memory/attr.js';
import { findProfile } from '../../../src/machine/profile.js';
import type { ArchProfile } from '../../../src/machine/profile.js';
import { Rng } from '../../../src/lib/rng.js';
import { MIB } from '../../../src/lib/units.js';
import { lines, rig } from './rig.js';
import type { Rig } from './rig.js';

const names = (r: Rig): string[] =>
  r.km.caches.normal.filter((s) => s !== undefined).map((s) => s.name);
const va = (r: Rig, v: VirtAddr | null): string => vaString(r.pa.profile, v!);
const phys = (r: Rig, v: VirtAddr | null): number => r.lm.virtToPhys(v!);

describe('kmalloc caches', () => {
  test('x86_64: kmalloc-8 to kmalloc-8k with -96 and -192', () => {
    expect(names(rig('x86_64'))).toEqual([
      'kmalloc-96',
      'kmalloc-192',
      'kmalloc-8',
      'kmalloc-16',
      'kmalloc-32',
      'kmalloc-64',
      'kmalloc-128',
      'kmalloc-256',
      'kmalloc-512',
      'kmalloc-1k',
      'kmalloc-2k',
      'kmalloc-4k',
      'kmalloc-8k',
    ]);
  });

  test('arm32 (ARCH_KMALLOC_MINALIGN 32): no kmalloc-8 or -16; small sizes use kmalloc-32', () => {
    const r = rig('arm32');
    expect(names(r).slice(0, 4)).toEqual(['kmalloc-96', 'kmalloc-192', 'kmalloc-32', 'kmalloc-64']);
    expect(r.km.kmallocSlab(1, GFP_KERNEL).name).toBe('kmalloc-32');
    expect(r.km.kmallocSlab(72, GFP_KERNEL).name).toBe('kmalloc-96');
  });

  test('a minimum of 64 drops kmalloc-96, 128 drops kmalloc-192 (size_index redirected)', () => {
    const arm32 = findProfile('arm32')!;
    const withMin = (min: number): ArchProfile => ({
      ...arm32,
      kmallocMinAlign: min,
      dmaMinAlign: min,
    });
    const r64 = rig('arm32', { profile: withMin(64) });
    expect(names(r64).slice(0, 3)).toEqual(['kmalloc-192', 'kmalloc-64', 'kmalloc-128']);
    expect(r64.km.kmallocSlab(72, GFP_KERNEL).name).toBe('kmalloc-128');
    const r128 = rig('arm32', { profile: withMin(128) });
    expect(names(r128).slice(0, 2)).toEqual(['kmalloc-128', 'kmalloc-256']);
    expect(r128.km.kmallocSlab(136, GFP_KERNEL).name).toBe('kmalloc-256');
  });

  test('GFP flags pick the dma-, -rcl and -cg caches', () => {
    const r = rig('x86_64');
    expect(r.km.kmallocSlab(64, GFP_KERNEL | GFP_DMA).name).toBe('dma-kmalloc-64');
    expect(r.km.kmallocSlab(64, GFP_KERNEL | __GFP_RECLAIMABLE).name).toBe('kmalloc-rcl-64');
    expect(r.km.kmallocSlab(200, GFP_KERNEL | __GFP_ACCOUNT).name).toBe('kmalloc-cg-256');
    // arm32 has no ZONE_DMA, so no dma-kmalloc caches either.
    expect(rig('arm32').km.kmallocSlab(64, GFP_KERNEL | GFP_DMA).name).toBe('kmalloc-64');
  });

  test('slab orders (calculate_order, 4 KiB pages) for 1, 2 and 8 CPUs', () => {
    const sizes = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];
    const orders = (cpus: number): number[] => sizes.map((s) => calculateOrder(s, 4096, cpus));
    expect(orders(1)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 3]);
    expect(orders(2)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 3, 3]);
    expect(orders(8)).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 3, 3, 3]);
  });
});

describe('object placement', () => {
  test('x86_64: objects back to back from the slab page, each cache its own page', () => {
    const r = rig('x86_64');
    const got = [32, 32, 8, 100, 64].map((n) => va(r, r.km.kmalloc(n, GFP_KERNEL)));
    expect(got).toEqual([
      'ffff888001000000',
      'ffff888001000020',
      'ffff888001001000',
      'ffff888001002000',
      'ffff888001003000',
    ]);
  });

  test('arm64: two kmalloc(32) share one 64-byte cache line (ARCH_DMA_MINALIGN is 128)', () => {
    const r = rig('arm64');
    const a = phys(r, r.km.kmalloc(32, GFP_KERNEL));
    const b = phys(r, r.km.kmalloc(32, GFP_KERNEL));
    expect([a.toString(16), b.toString(16)]).toEqual(['40000000', '40000020']);
    expect(Math.floor(a / r.pa.profile.lineSize)).toBe(Math.floor(b / r.pa.profile.lineSize));
    expect(r.pa.profile.dmaMinAlign).toBe(128);
    expect(r.km.kmallocSizeRoundup(32) % r.pa.profile.dmaMinAlign).not.toBe(0);
  });

  test('arm32: kmalloc(8) takes 32 bytes, so objects never share a 32-byte line', () => {
    const r = rig('arm32');
    const a = phys(r, r.km.kmalloc(8, GFP_KERNEL));
    const b = phys(r, r.km.kmalloc(8, GFP_KERNEL));
    expect([a.toString(16), b.toString(16)]).toEqual(['60000000', '60000020']);
    expect(r.km.ksize(r.km.kmalloc(8, GFP_KERNEL))).toBe(32);
  });

  test('prep: objects in ZONE_NORMAL above 16 MiB at PAGE_OFFSET + phys', () => {
    const r = rig('prep');
    expect([64, 64].map((n) => va(r, r.km.kmalloc(n, GFP_KERNEL)))).toEqual([
      'c1000000',
      'c1000040',
    ]);
    expect(va(r, r.km.kmalloc(64, GFP_KERNEL | GFP_DMA))).toBe('c0000000');
  });

  test('x86_64: GFP_DMA objects come from ZONE_DMA', () => {
    const r = rig('x86_64');
    const p = phys(r, r.km.kmalloc(200, GFP_KERNEL | GFP_DMA));
    expect(p).toBeLessThan(16 * MIB);
  });

  test('a freed object is the next one handed out on that CPU', () => {
    const r = rig('x86_64');
    const a = r.km.kmalloc(64, GFP_KERNEL);
    const b = r.km.kmalloc(64, GFP_KERNEL);
    r.km.kfree(a);
    r.km.kfree(b);
    expect([r.km.kmalloc(64, GFP_KERNEL), r.km.kmalloc(64, GFP_KERNEL)]).toEqual([b, a]);
  });

  test('a full slab is left behind; the next object starts a new slab page', () => {
    const r = rig('x86_64');
    const objs = Array.from({ length: 129 }, () => phys(r, r.km.kmalloc(32, GFP_KERNEL)));
    expect(objs[127]!.toString(16)).toBe('1000fe0');
    expect(objs[128]!.toString(16)).toBe('1001000');
    const info = slabCacheInfo(r.km.kmallocSlab(32, GFP_KERNEL));
    expect([info.nrSlabs, info.numObjs, info.activeObjs, info.cpus[0]!.freelistLength]).toEqual([
      2, 256, 256, 127,
    ]);
  });

  test('a free on another CPU puts a full slab on that CPU partial list, which it then uses', () => {
    const r = rig('x86_64');
    const first = Array.from({ length: 8 }, () => r.km.kmalloc(4096, GFP_KERNEL)!);
    const ninth = r.km.kmalloc(4096, GFP_KERNEL)!;
    expect(phys(r, ninth) - phys(r, first[0]!)).toBe(8 * 4096);
    r.m.runOn(1);
    r.km.kfree(first[3]!);
    const s = r.km.kmallocSlab(4096, GFP_KERNEL);
    expect(slabCacheInfo(s).cpus[1]!.partial).toEqual([r.pa.virtToPage(first[0]!)]);
    expect(r.km.kmalloc(4096, GFP_KERNEL)).toBe(first[3]);
    r.m.runOn(0);
    expect(phys(r, r.km.kmalloc(4096, GFP_KERNEL))).toBe(phys(r, ninth) + 4096);
  });
});

describe('sizes', () => {
  test('ksize is the cache object size, or the whole compound page', () => {
    const r = rig('x86_64');
    const k = r.km;
    expect(
      [1, 8, 9, 65, 100, 129, 193, 4097, 8192].map((n) => k.ksize(k.kmalloc(n, GFP_KERNEL))),
    ).toEqual([8, 8, 16, 96, 128, 192, 256, 8192, 8192]);
    expect(k.ksize(k.kmalloc(8193, GFP_KERNEL))).toBe(16384);
    expect(k.ksize(null)).toBe(0);
    expect(k.ksize(ZERO_SIZE_PTR)).toBe(0);
    expect(k.kmallocSizeRoundup(8193)).toBe(16384);
    expect(k.kmallocSizeRoundup(0)).toBe(0);
  });

  test('kmalloc(0) is ZERO_SIZE_PTR; kfree of it and of null does nothing', () => {
    const r = rig('x86_64');
    expect(r.km.kmalloc(0, GFP_KERNEL)).toBe(ZERO_SIZE_PTR);
    r.km.kfree(ZERO_SIZE_PTR);
    r.km.kfree(null);
    expect(lines(r.log)).toEqual([]);
  });

  test('kmalloc_large: page-aligned compound pages of get_order(size), freed by kfree', () => {
    const r = rig('x86_64');
    const free0 = r.pa.nrFreePages();
    const v = r.km.kmalloc(5 * 4096, GFP_KERNEL)!;
    const page = r.pa.virtToPage(v);
    expect(phys(r, v) % 4096).toBe(0);
    expect(r.pa.compoundOrder(page)).toBe(3);
    r.km.kfree(v);
    r.pa.drainAllPages();
    expect(r.pa.nrFreePages()).toBe(free0);
    expect(r.km.kmalloc(5 * MIB, GFP_KERNEL)).toBeNull();
    expect(lines(r.log)).toEqual([
      'WARNING: CPU: 0 PID: 0 at mm/page_alloc.c __alloc_pages_noprof',
    ]);
  });

  test('kzalloc zeroes the whole object through the CPU', () => {
    const r = rig('x86_64');
    const a = r.km.kmalloc(96, GFP_KERNEL)!;
    r.m.cpu.write(phys(r, a) + 90, Uint8Array.of(0x5a), 0, 1, MemAttr.CACHEABLE);
    r.km.kfree(a);
    const b = r.km.kzalloc(70, GFP_KERNEL)!;
    expect(b).toBe(a);
    const got = new Uint8Array(1);
    r.m.cpu.read(phys(r, b) + 90, got, 0, 1, MemAttr.CACHEABLE);
    expect(got[0]).toBe(0);
  });

  test('GFP_DMA32 is not for kmalloc: the flag is dropped with a warning', () => {
    const r = rig('x86_64');
    expect(r.km.kmalloc(64, GFP_KERNEL | GFP_DMA32)).not.toBeNull();
    expect(lines(r.log)).toEqual([
      'Unexpected gfp: 0x4 (GFP_DMA32). Fixing up to gfp: 0xcc0 (GFP_KERNEL). Fix your code!',
    ]);
  });
});

describe('kfree misuse', () => {
  test('double free: "Object already free", and the object is not handed out twice', () => {
    const r = rig('x86_64');
    const a = r.km.kmalloc(64, GFP_KERNEL)!;
    r.km.kfree(a);
    r.km.kfree(a);
    expect(lines(r.log)).toEqual([
      '='.repeat(77),
      'BUG kmalloc-64 (Not tainted): Object already free',
      '-'.repeat(77),
      '',
      'FIX kmalloc-64: Object at 0xffff888001000000 not freed',
    ]);
    const b = r.km.kmalloc(64, GFP_KERNEL);
    const c = r.km.kmalloc(64, GFP_KERNEL);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });

  test('a pointer into the middle of an object: "Invalid object pointer"', () => {
    const r = rig('x86_64');
    const a = r.km.kmalloc(64, GFP_KERNEL)!;
    r.km.kfree((a + 8) as VirtAddr);
    expect(lines(r.log)[1]).toBe(
      'BUG kmalloc-64 (Not tainted): Invalid object pointer 0xffff888001000008',
    );
    r.km.kfree(a);
    expect(r.km.kmalloc(64, GFP_KERNEL)).toBe(a);
  });

  test('a page from the page allocator is not a kmalloc object: WARN and nothing freed', () => {
    const r = rig('x86_64');
    const page = r.pa.allocPages(GFP_KERNEL, 0)!;
    r.km.kfree(r.pa.pageAddress(page));
    expect(lines(r.log)).toEqual([
      'WARNING: CPU: 0 PID: 0 at mm/slub.c free_large_kmalloc',
      'object pointer: 0xffff888001000000',
    ]);
    expect(r.pa.pageRefCount(page)).toBe(1);
  });

  test('slabinfo lists the caches with their slab geometry', () => {
    const r = rig('x86_64');
    r.km.kmalloc(64, GFP_KERNEL);
    const text = slabinfo(r.km.caches.normal.filter((s) => s !== undefined));
    expect(text.split('\n')).toContain(
      'kmalloc-64            64     64     64   64    1 : tunables    0    0    0 : slabdata      1      1      0',
    );
  });
});

test.each(['x86_64', 'arm64', 'arm32', 'prep'] as const)(
  'random kmalloc/kfree on two CPUs (%s): live objects never overlap, nothing is reported',
  (arch) => {
    const r = rig(arch);
    const rng = new Rng(11);
    const live = new Map<number, number>();
    for (let step = 0; step < 20000; step++) {
      r.m.runOn(rng.below(2));
      if (live.size > 0 && rng.chance(0.5)) {
        const keys = [...live.keys()];
        const v = keys[rng.below(keys.length)]!;
        r.km.kfree(v as VirtAddr);
        live.delete(v);
        continue;
      }
      const size = 1 + rng.below(rng.chance(0.1) ? 20000 : 600);
      const v = r.km.kmalloc(size, GFP_KERNEL)!;
      expect(r.km.ksize(v)).toBeGreaterThanOrEqual(size);
      live.set(v, r.km.ksize(v));
    }
    const spans = [...live].sort((a, b) => a[0] - b[0]);
    for (let k = 1; k < spans.length; k++) {
      expect(spans[k]![0]).toBeGreaterThanOrEqual(spans[k - 1]![0] + spans[k - 1]![1]);
    }
    for (const v of live.keys()) r.km.kfree(v as VirtAddr);
    expect(lines(r.log)).toEqual([]);
  },
);
