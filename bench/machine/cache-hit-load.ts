/** machine/cache-hit-load: CPU 8-byte loads that hit the cache; target >= 50 million per second. */
import { Machine } from '../../src/machine/machine.js';
import type { BenchResult } from '../types.js';
import { steadyRate } from '../timing.js';

export function benchCacheHitLoad(): BenchResult {
  const m = new Machine();
  const cpu = m.cpu;
  const base = 0x20_0000;
  for (let i = 0; i < 4096; i += 8) cpu.writeU64(base + i, BigInt(i)); // 4 KiB: all resident
  let sink = 0;
  const out = new Uint32Array(2);
  const perSec = steadyRate((n) => {
    for (let i = 0; i < n; i++) {
      cpu.readU64Halves(base + ((i * 8) & 4095), out);
      sink ^= out[0]!;
    }
  });
  if (m.cache.stats.misses > 64 || sink < 0)
    throw new Error('cache-hit-load bench: loads missed the cache');
  return {
    name: 'machine/cache-hit-load',
    value: Math.round(perSec),
    unit: 'loads/s',
    target: 50e6,
  };
}
