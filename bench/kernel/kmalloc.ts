/**
 * kmalloc rate: kmalloc(64, GFP_KERNEL) + kfree pairs on one CPU, the SLUB fast path (a pop and a
 * push on the CPU freelist of kmalloc-64, plus kfree's page lookup and pointer checks).
 */
import { CpuMemOps } from '../../src/kernel/arch/mem.js';
import { GFP_KERNEL } from '../../src/kernel/mm/gfp.js';
import { Kmalloc } from '../../src/kernel/mm/kmalloc.js';
import { KernelLog } from '../../src/kernel/printk.js';
import { Machine } from '../../src/machine/machine.js';
import type { BenchResult } from '../types.js';
import { steadyRate } from '../timing.js';
import { benchPageAllocator } from './page-alloc.js';

/** Runs `n` kmalloc+kfree pairs; returns a checksum of the addresses. */
function run(km: Kmalloc, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = km.kmalloc(64, GFP_KERNEL);
    if (p === null) throw new Error('kmalloc bench: out of memory');
    sum += p & 0xfff;
    km.kfree(p);
  }
  return sum;
}

/** kmalloc(64)+kfree pairs per second, steady state (see timing.ts). */
export function benchKmalloc(): BenchResult {
  const pa = benchPageAllocator();
  const m = new Machine({ arch: 'x86_64', ramSize: 2 ** 20 });
  const km = new Kmalloc({
    pages: pa,
    mem: new CpuMemOps(m),
    log: new KernelLog(m.clock),
    cpu: () => 0,
    nCpus: 2,
  });
  let sink = 0;
  const rate = steadyRate((n) => {
    sink += run(km, n);
  });
  if (sink < 0) throw new Error('kmalloc bench: bad checksum');
  return {
    name: 'kernel/kmalloc',
    value: Math.round(rate),
    unit: 'pairs/s',
    target: 10e6,
    better: 'higher',
  };
}
