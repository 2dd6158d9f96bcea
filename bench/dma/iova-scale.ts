/**
 * IOVA allocator scaling: the cost of an alloc_iova_fast + free_iova_fast pair (sizes 1..32 pages,
 * range caches on, 64-bit limit) with 1 000 000 live IOVAs, divided by the cost with 1 000 live.
 * The kernel's tree and per-CPU magazines keep this near 1; a linear structure would not.
 */
import { initIovaDomain, type IovaDomain } from '../../src/kernel/dma/iova.js';
import { Clock } from '../../src/machine/clock/clock.js';
import type { BenchResult } from '../types.js';
import { steadyRate } from '../timing.js';

const LIMIT_PFN = 2 ** 36 - 1;
/** IOVAs mapped and unmapped in turn on top of the long-lived ones. */
const IN_FLIGHT = 256;
const N_SIZES = 1 << 16;

/** A fixed pseudo-random sequence of sizes 1..32 pages (same for both runs). */
function sizeTable(): Uint8Array {
  const t = new Uint8Array(N_SIZES);
  let x = 0x9e3779b9;
  for (let i = 0; i < N_SIZES; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    t[i] = ((x >>> 0) % 32) + 1;
  }
  return t;
}

/** A domain with `nLive` long-lived IOVAs of mixed sizes; returns it and the setup time in ms. */
export function iovaDomainWithLive(nLive: number): { iovad: IovaDomain; setupMs: number } {
  const iovad = initIovaDomain(4096, 1);
  iovad.iovaDomainInitRcaches({ nCpus: 1, cpu: () => 0, clock: new Clock() });
  const sizes = sizeTable();
  const t0 = performance.now();
  for (let i = 0; i < nLive; i++) {
    if (iovad.allocIovaFast(sizes[i % N_SIZES]!, LIMIT_PFN, true) === 0) {
      throw new Error('iova-scale bench: out of IOVA space');
    }
  }
  return { iovad, setupMs: performance.now() - t0 };
}

/** alloc+free pairs per second with `nLive` long-lived IOVAs. */
function pairRate(nLive: number): number {
  const { iovad } = iovaDomainWithLive(nLive);
  const sizes = sizeTable();
  const pfns = new Float64Array(IN_FLIGHT);
  const held = new Uint8Array(IN_FLIGHT);
  let j = 0;
  for (let k = 0; k < IN_FLIGHT; k++) {
    held[k] = sizes[j++ % N_SIZES]!;
    pfns[k] = iovad.allocIovaFast(held[k]!, LIMIT_PFN, true);
  }
  let slot = 0;
  const op = (n: number): void => {
    for (let i = 0; i < n; i++) {
      iovad.freeIovaFast(pfns[slot]!, held[slot]!);
      const size = sizes[j++ & (N_SIZES - 1)]!;
      const pfn = iovad.allocIovaFast(size, LIMIT_PFN, true);
      if (pfn === 0) throw new Error('iova-scale bench: allocation failed');
      pfns[slot] = pfn;
      held[slot] = size;
      slot = (slot + 1) % IN_FLIGHT;
    }
  };
  return steadyRate(op, { batch: 1 << 16, warmupMs: 1000, windows: 5 });
}

/** Pair cost with 1 M live IOVAs / with 1 000 live (lower is better, 1 = no slow-down). */
export function benchIovaScale(): BenchResult {
  const small = pairRate(1000);
  const large = pairRate(1_000_000);
  const ratio = small / large;
  return {
    name: 'dma/iova-scale',
    value: ratio,
    unit: 'ratio',
    baseline: 1e9 / small,
    ratio,
    target: 1.5,
    better: 'lower',
  };
}
