/**
 * machine/sparse-rss: resident memory of a fresh process holding a 64 GiB machine of which
 * 256 MiB were touched; target <= 400 MiB. Run in a child process so other benchmarks' garbage
 * does not count.
 */
import { GIB } from '../../src/lib/units.js';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Machine } from '../../src/machine/machine.js';
import type { BenchResult } from '../types.js';

const TOUCH = 256 * 2 ** 20;
const PIECE = 2 ** 20;

/** Body of the child process: prints its resident set size in MiB. */
export function sparseRssChild(): void {
  const m = new Machine({ ramSize: 64 * GIB });
  const piece = new Uint8Array(PIECE).fill(0x5a);
  const stride = Math.floor((60 * GIB) / (TOUCH / PIECE));
  for (let p = 0; p < TOUCH; p += PIECE)
    m.ram.write(2 * GIB + (p / PIECE) * stride, piece, 0, PIECE);
  if (m.ram.residentBytes !== TOUCH)
    throw new Error(`sparse-rss: ${m.ram.residentBytes} bytes resident`);
  process.stdout.write(String(process.memoryUsage().rss / 2 ** 20));
}

export function benchSparseRss(): BenchResult {
  const script = fileURLToPath(new URL('./sparse-rss-main.js', import.meta.url));
  const mib = Number(execFileSync(process.execPath, [script], { encoding: 'utf8' }));
  return {
    name: 'machine/sparse-rss',
    value: Math.round(mib),
    unit: 'MiB',
    target: 400,
    better: 'lower',
  };
}
