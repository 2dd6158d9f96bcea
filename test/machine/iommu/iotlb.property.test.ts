import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/lib/rng.js';
import { IOTLB_MISS, Iotlb } from '../../../src/machine/iommu/iotlb.js';
import type { Replacement } from '../../../src/machine/iommu/iotlb.js';

const PG = 0x1000;

type Op =
  | { op: 'fill'; domain: number; page: number; phys: number }
  | { op: 'lookup'; domain: number; page: number }
  | { op: 'invalPage'; domain: number; page: number }
  | { op: 'invalDomain'; domain: number };

const domain = fc.integer({ min: 1, max: 3 });
// Pages far apart and close together, so sets and way-prediction hints collide.
const page = fc.oneof(
  fc.integer({ min: 0, max: 40 }),
  fc.integer({ min: 0, max: 3 }).map((k) => 0xfffe0 + k * 1024),
);
const ops: fc.Arbitrary<Op[]> = fc.array(
  fc.oneof(
    fc.record({
      op: fc.constant('fill' as const),
      domain,
      page,
      phys: fc.integer({ min: 1, max: 0xfffff }),
    }),
    fc.record({ op: fc.constant('lookup' as const), domain, page }),
    fc.record({ op: fc.constant('invalPage' as const), domain, page }),
    fc.record({ op: fc.constant('invalDomain' as const), domain }),
  ),
  { maxLength: 200 },
);

describe('Iotlb against a reference model', () => {
  it.each<Replacement>(['lru', 'fifo', 'random'])(
    'never returns a translation that was not filled or was invalidated (%s)',
    (policy) => {
      fc.assert(
        fc.property(ops, (list) => {
          const t = new Iotlb(8, 2, policy, new Rng(3));
          const live = new Map<string, number>(); // what may be cached: key -> phys page
          for (const o of list) {
            const key = `${o.domain}:${'page' in o ? o.page : ''}`;
            if (o.op === 'fill') {
              t.fill(o.domain, o.page * PG, o.phys * PG, PG, 3);
              live.set(key, o.phys * PG);
            } else if (o.op === 'invalPage') {
              t.invalidatePage(o.domain, o.page * PG);
              live.delete(key);
            } else if (o.op === 'invalDomain') {
              t.invalidateDomain(o.domain);
              for (const k of [...live.keys()]) if (k.startsWith(`${o.domain}:`)) live.delete(k);
            } else {
              const got = t.lookup(o.domain, o.page * PG + 0x10, 1);
              if (got !== IOTLB_MISS) expect(got).toBe((live.get(key) ?? NaN) + 0x10);
            }
          }
        }),
        { numRuns: 300, seed: 42 },
      );
    },
  );
});
