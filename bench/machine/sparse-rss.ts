/**
 * machine/sparse-rss: resident memory of a process holding a 64 GiB machine of which 256 MiB were
 * touched; target <= 400 MiB. The runner gives each benchmark a fresh process, so the figure is
 * this machine's plus Node's own baseline (about 50 MiB), nothing else.
 */
import { Machine } from '../../src/machine/machine.js';
import { GIB } from '../../src/lib/units.js';
import type { BenchResult } from '../types.js';

const TOUCH = 256 * 2 ** 20;
const PIECE = 2 ** 20;

export function benchSparseRss(): BenchResult {
  const m = new Machine({ ramSize: 64 * GIB });
  const piece = new Uint8Array(PIECE).fill(0x5a);
  const stride = Math.floor((60 * GIB) / (TOUCH / PIECE));
  for (let p = 0; p < TOUCH; p += PIECE)
    m.ram.write(2 * GIB + (p / PIECE) * stride, piece, 0, PIECE);
  if (m.ram.residentBytes !== TOUCH)
    throw new Error(`sparse-rss: ${m.ram.residentBytes} bytes resident`);
  const mib = process.memoryUsage().rss / 2 ** 20;
  return {
    name: 'machine/sparse-rss',
    value: Math.round(mib),
    unit: 'MiB',
    target: 400,
    better: 'lower',
  };
}
