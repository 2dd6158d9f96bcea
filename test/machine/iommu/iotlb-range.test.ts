import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/lib/rng.js';
import { Iotlb } from '../../../src/machine/iommu/iotlb.js';

const PG = 0x1000;

/**
 * invalidateRange scans only the sets of the range's pages while every entry is 4 KiB: it must
 * drop exactly the entries that overlap the range, as the full scan does, and count them.
 */
describe('Iotlb.invalidateRange over 4 KiB entries', () => {
  it('drops exactly the overlapping entries of the domain', () => {
    const ops = new Rng(5);
    for (let round = 0; round < 200; round++) {
      const t = new Iotlb(64, 8, 'lru', new Rng(round));
      // Pages around 4 GiB and above 2^44 (the tag's high word), in two domains.
      const bases = [0xffff_0000 / PG, 2 ** 44 / PG - 40, 0];
      for (let i = 0; i < 80; i++) {
        const page = (bases[ops.below(3)] as number) + ops.below(80);
        t.fill(1 + ops.below(2), page * PG, ops.below(1000) * PG, PG, 3);
      }
      const before = t.entries();
      const domain = 1 + ops.below(2);
      const iova = ((bases[ops.below(3)] as number) + ops.below(80)) * PG + ops.below(PG);
      const len = 1 + ops.below(ops.below(2) === 0 ? 4 * PG : 80 * PG);
      const hit = (e: { domainId: number; iova: number; pageSize: number }): boolean =>
        e.domainId === domain && e.iova < iova + len && e.iova + e.pageSize > iova;
      const n = t.invalidateRange(domain, iova, len);
      expect(n).toBe(before.filter(hit).length);
      expect(t.entries()).toEqual(before.filter((e) => !hit(e)));
      for (const e of before) expect(t.contains(e.domainId, e.iova)).toBe(!hit(e));
    }
  });
});
