import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LinePresence } from '../../../src/machine/cache/presence.js';

describe('the line presence bits', () => {
  it('next() finds what a set of lines holds, across words and 2 MiB regions (property)', () => {
    const regionLines = (2 << 20) / 64;
    const line = fc.oneof(
      fc.nat(200),
      fc.integer({ min: regionLines - 40, max: regionLines + 40 }),
    );
    fc.assert(
      fc.property(fc.uniqueArray(line, { maxLength: 40 }), fc.nat(40), (added, nRemove) => {
        const p = new LinePresence(6);
        const ref = new Set<number>();
        for (const l of added) {
          p.add(l);
          ref.add(l);
        }
        for (const l of added.slice(0, nRemove)) {
          p.remove(l);
          ref.delete(l);
        }
        expect(p.lines).toBe(ref.size);
        const sorted = [...ref].sort((a, b) => a - b);
        const hi = regionLines + 60;
        const seen: number[] = [];
        for (let l = p.next(0, hi); l < hi; l = p.next(l + 1, hi)) seen.push(l);
        expect(seen).toEqual(sorted);
        for (const l of sorted) expect(p.has(l)).toBe(true);
        // A range starting past a resident line finds the next one, and stops at its end.
        for (let i = 0; i < sorted.length; i++) {
          const l = sorted[i] as number;
          expect(p.next(l + 1, hi)).toBe(sorted[i + 1] ?? hi);
          expect(p.next(0, l)).toBe(i === 0 ? l : sorted[0]);
        }
      }),
      { numRuns: 200, seed: 9 },
    );
  });

  it('reports a line removed twice as a simulator bug', () => {
    const p = new LinePresence(6);
    p.add(5);
    p.remove(5);
    expect(() => {
      p.remove(5);
    }).toThrow(/lost line 5/);
  });
});
