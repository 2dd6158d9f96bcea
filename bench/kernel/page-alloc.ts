/**
 * Page allocator bookkeeping rate: order-0 alloc_pages + __free_pages pairs with GFP_KERNEL on a
 * 1 GiB x86_64 machine. Each pair is a PCP list pop and push after the zone walk and watermark
 * check, as in the kernel's common case.
 */
import { CpuMemOps } from '../../src/kernel/arch/mem.js';
import { GFP_KERNEL } from '../../src/kernel/mm/gfp.js';
import { LinearMap } from '../../src/kernel/mm/linear-map.js';
import { PageAllocator } from '../../src/kernel/mm/page-alloc.js';
import { KernelLog } from '../../src/kernel/printk.js';
import { Machine } from '../../src/machine/machine.js';
import type { BenchResult } from '../types.js';
import { steadyRate } from '../timing.js';

/** A booted page allocator over all RAM of a fresh machine. */
export function benchPageAllocator(arch: 'x86_64' | 'arm64' = 'x86_64'): PageAllocator {
  const m = new Machine({ arch, ramSize: 2 ** 30, cpus: 2 });
  const banks = m.physmap.ramBanks;
  const last = banks[banks.length - 1]!;
  return new PageAllocator({
    profile: m.profile,
    free: banks.map((b) => ({ base: b.base, size: b.size })),
    linearMap: new LinearMap(m.profile, banks[0]!.base, last.base + last.size),
    mem: new CpuMemOps(m),
    log: new KernelLog(m.clock),
    cpu: () => m.currentCpu,
    nCpus: m.cpus.length,
  });
}

/** Runs `n` alloc+free pairs; returns a checksum of the pfns. */
function run(pa: PageAllocator, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = pa.allocPages(GFP_KERNEL, 0);
    if (p === null) throw new Error('page-alloc bench: out of memory');
    sum += p;
    pa.freePagesPage(p, 0);
  }
  return sum;
}

/** Order-0 alloc+free pairs per second, steady state (see timing.ts). */
export function benchPageAlloc(): BenchResult {
  const pa = benchPageAllocator();
  const free0 = pa.nrFreePages();
  let sink = 0;
  const rate = steadyRate((n) => {
    sink += run(pa, n);
  });
  pa.drainAllPages();
  if (pa.nrFreePages() !== free0 || !(sink > 0)) throw new Error('page-alloc bench: pages leaked');
  return {
    name: 'kernel/page-alloc',
    value: Math.round(rate),
    unit: 'pairs/s',
    target: 10e6,
    better: 'higher',
  };
}
