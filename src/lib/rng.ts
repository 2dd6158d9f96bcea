/**
 * The one source of randomness in the core: a seeded generator (xoroshiro128+ from pure-rand, the
 * generator fast-check uses), so the same configuration and seed give the same bytes out.
 */
import { xoroshiro128plus, unsafeUniformIntDistribution } from 'pure-rand';
import type { RandomGenerator } from 'pure-rand';

export class Rng {
  private readonly gen: RandomGenerator;

  constructor(readonly seed: number) {
    this.gen = xoroshiro128plus(seed | 0);
  }

  /** A uniform integer in [lo, hi] (both inclusive, 32-bit range). */
  int(lo: number, hi: number): number {
    return unsafeUniformIntDistribution(lo, hi, this.gen);
  }

  /** A uniform index in [0, n). */
  below(n: number): number {
    return n <= 1 ? 0 : this.int(0, n - 1);
  }

  /** True with probability p (resolution 2^-24). */
  chance(p: number): boolean {
    return this.int(0, 0xffffff) < p * 0x1000000;
  }

  /** An independent generator for one consumer, so adding a consumer does not shift the others. */
  fork(label: string): Rng {
    let h = this.seed ^ 0x9e3779b9;
    for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
    return new Rng(h);
  }
}
