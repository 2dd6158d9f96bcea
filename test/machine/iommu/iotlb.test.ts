import { describe, it, expect } from 'vitest';
import { ConfigError } from '../../../src/lib/errors.js';
import { Rng } from '../../../src/lib/rng.js';
import { Iotlb } from '../../../src/machine/iommu/iotlb.js';
import { IOTLB_DENIED, IOTLB_MISS } from '../../../src/machine/iommu/iotlb.js';
import type { Replacement } from '../../../src/machine/iommu/iotlb.js';
import { PTE_R, PTE_W } from '../../../src/machine/iommu/pagetable.js';

const PG = 0x1000;
const MIB2 = 0x20_0000;
const D = 1;

/** Fills 4 KiB page number `n` of domain D with phys = n * 0x10000. */
function fillPage(t: Iotlb, n: number, domain = D): void {
  t.fill(domain, n * PG, n * 0x10000, PG, 3);
}

function oneSet(policy: Replacement, seed = 1): Iotlb {
  return new Iotlb(2, 2, policy, new Rng(seed));
}

describe('Iotlb lookup', () => {
  it('returns phys with the offset and the span to the end of the page', () => {
    const t = new Iotlb(64, 8, 'lru', new Rng(1));
    t.fill(D, 0xfffff9c2, 0x1234_5000, PG, PTE_R);
    expect(t.lookup(D, 0xfffff9c2, PTE_R)).toBe(0x1234_59c2);
    expect(t.span).toBe(0x63e);
    expect(t.lookup(D, 0xffffe000, 0)).toBe(IOTLB_MISS);
    expect(t.lookup(2, 0xfffff000, 0)).toBe(IOTLB_MISS); // another domain
    expect(t.stats).toEqual({ hits: 1, misses: 2, invalidations: 0, evictions: 0 });
  });

  it('reports a hit without the rights asked for as denied', () => {
    const t = new Iotlb(64, 8, 'lru', new Rng(1));
    t.fill(D, 0x1000, 0x5000, PG, PTE_R);
    expect(t.lookup(D, 0x1000, PTE_W)).toBe(IOTLB_DENIED);
    expect(t.lookup(D, 0x1000, PTE_R)).toBe(0x5000);
    expect(t.stats).toMatchObject({ hits: 2, misses: 0 });
  });

  it('keeps IOVAs above 4 GiB and phys above 2^32 exact', () => {
    const t = new Iotlb(64, 8, 'lru', new Rng(1));
    const iova = 0xa_bcde_f000_0000 + 0x3000; // page number above 2^32
    t.fill(7, iova, 0xf_ffff_f000, PG, PTE_R | PTE_W);
    expect(t.lookup(7, iova + 0x10, PTE_W)).toBe(0xf_ffff_f010);
    expect(t.lookup(7, iova - 0xa_0000_0000_0000 + 0x10, PTE_W)).toBe(IOTLB_MISS); // same low bits
    expect(t.entries()).toEqual([
      { slot: 3 * 8, domainId: 7, iova, pageSize: PG, phys: 0xf_ffff_f000, perm: 3 },
    ]);
  });

  it('holds 2 MiB entries found from any address in the block', () => {
    const t = new Iotlb(64, 8, 'lru', new Rng(1));
    t.fill(D, 0x4012_3000, 0x8000_0000, MIB2, 3);
    expect(t.lookup(D, 0x401f_fff0, 0)).toBe(0x801f_fff0);
    expect(t.span).toBe(0x10);
    expect(t.lookup(D, 0x4000_0000, 0)).toBe(0x8000_0000);
    expect(t.span).toBe(MIB2);
    expect(t.lookup(D, 0x4020_0000, 0)).toBe(-1);
  });

  it('indexes the set with the low bits of the page number', () => {
    const t = new Iotlb(4, 1, 'lru', new Rng(1)); // direct-mapped, 4 sets
    fillPage(t, 0);
    fillPage(t, 1);
    fillPage(t, 4); // same set as page 0
    expect(t.contains(D, 0)).toBe(false);
    expect(t.contains(D, 1 * PG)).toBe(true);
    expect(t.contains(D, 4 * PG)).toBe(true);
    expect(t.stats.evictions).toBe(1);
  });
});

describe('Iotlb replacement', () => {
  it('lru evicts the least recently used entry', () => {
    const t = oneSet('lru');
    fillPage(t, 0);
    fillPage(t, 1);
    expect(t.lookup(D, 0, 0)).toBe(0); // page 0 is now the most recent
    fillPage(t, 2);
    expect(t.contains(D, 0)).toBe(true);
    expect(t.contains(D, 1 * PG)).toBe(false);
    expect(t.contains(D, 2 * PG)).toBe(true);
  });

  it('fifo evicts the oldest fill, however recently it was used', () => {
    const t = oneSet('fifo');
    fillPage(t, 0);
    fillPage(t, 1);
    expect(t.lookup(D, 0, 0)).toBe(0);
    fillPage(t, 2);
    expect(t.contains(D, 0)).toBe(false);
    expect(t.contains(D, 1 * PG)).toBe(true);
    fillPage(t, 3);
    expect(t.contains(D, 1 * PG)).toBe(false);
  });

  it('random picks ways from the seeded Rng: the same seed gives the same choices', () => {
    const victims = (seed: number): string => {
      const t = oneSet('random', seed);
      fillPage(t, 0);
      fillPage(t, 1);
      let s = '';
      const held = [0, 1];
      for (let n = 2; n < 40; n++) {
        fillPage(t, n);
        const gone = held.findIndex((p) => !t.contains(D, p * PG));
        expect(gone).toBeGreaterThanOrEqual(0);
        s += String(gone);
        held[gone] = n;
      }
      return s;
    };
    const a = victims(7);
    expect(victims(7)).toBe(a);
    expect(a).toMatch(/0/);
    expect(a).toMatch(/1/);
  });

  it('refills an existing tag in place rather than duplicating it', () => {
    const t = oneSet('lru');
    fillPage(t, 0);
    t.fill(D, 0, 0x7000, PG, 1);
    fillPage(t, 1);
    expect(t.size).toBe(2);
    expect(t.lookup(D, 0, 0)).toBe(0x7000);
    expect(t.stats.evictions).toBe(0);
  });
});

describe('Iotlb invalidation', () => {
  function loaded(): Iotlb {
    const t = new Iotlb(64, 8, 'lru', new Rng(1));
    for (let n = 0; n < 4; n++) fillPage(t, n);
    fillPage(t, 0, 2);
    t.fill(D, 0x4000_0000, 0x8000_0000, MIB2, 3);
    return t;
  }

  it('by page drops only that page of that domain', () => {
    const t = loaded();
    expect(t.invalidatePage(D, 0x1fff)).toBe(1);
    expect(t.contains(D, 0x1000)).toBe(false);
    expect(t.contains(D, 0x0)).toBe(true);
    expect(t.contains(2, 0x0)).toBe(true);
    expect(t.stats.invalidations).toBe(1);
  });

  it('by range drops every entry overlapping it, blocks included', () => {
    const t = loaded();
    expect(t.invalidateRange(D, 0x1000, 0x2000)).toBe(2);
    expect(t.contains(D, 0x0)).toBe(true);
    expect(t.contains(D, 0x3000)).toBe(true);
    expect(t.invalidatePage(D, 0x4010_0000)).toBe(1);
    expect(t.contains(D, 0x4000_0000)).toBe(false);
    expect(t.stats.invalidations).toBe(3);
  });

  it('by domain and all', () => {
    const t = loaded();
    expect(t.invalidateDomain(D)).toBe(5);
    expect(t.size).toBe(1);
    expect(t.invalidateAll()).toBe(1);
    expect(t.size).toBe(0);
    expect(t.stats.invalidations).toBe(6);
  });
});

describe('Iotlb geometry', () => {
  it('rejects sizes that do not give a power-of-two number of sets', () => {
    const rng = new Rng(1);
    expect(() => new Iotlb(48, 8, 'lru', rng)).toThrow(ConfigError);
    expect(() => new Iotlb(64, 3, 'lru', rng)).toThrow(
      'iommu: IOTLB of 64 entries, 3 ways: both must be powers of two, ways <= entries (e.g. 64 entries, 8 ways)',
    );
    expect(() => new Iotlb(4, 8, 'lru', rng)).toThrow(ConfigError);
    expect(() => new Iotlb(0, 1, 'lru', rng)).toThrow(ConfigError);
    expect(new Iotlb(8, 8, 'lru', rng).nSets).toBe(1);
  });
});
