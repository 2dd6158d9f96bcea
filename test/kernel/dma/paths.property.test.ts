/**
 * Property test of the DMA API on every path and profile: random legal sequences of streaming
 * maps with ownership round trips, scatter-gather maps and coherent allocations, each checked
 * byte for byte from both sides; at the end everything is freed and the simulator's state —
 * free pages, IOVA space, SWIOTLB slots — is back where it started. About 100 000 operations in all.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Device } from '../../../src/kernel/device/device.js';
import { DMA_MASK_32 } from '../../../src/kernel/device/dma-mask.js';
import type { Kernel } from '../../../src/kernel/kernel.js';
import { slabCacheInfo } from '../../../src/kernel/mm/slabinfo.js';
import { GIB, MIB } from '../../../src/lib/units.js';
import { Driver, op } from './driver-model.js';
import type { Setup } from './driver-model.js';
import { pciRig } from './rig.js';

interface PathSetup extends Setup {
  readonly mask32?: boolean;
}

const SETUPS: PathSetup[] = [
  { name: 'x86_64 dma-direct', machine: { ramSize: 512 * MIB }, cmdline: '' },
  { name: 'x86_64 swiotlb=force', machine: { ramSize: 512 * MIB }, cmdline: 'swiotlb=force' },
  {
    name: 'x86_64 32-bit device, 6 GiB (bounces)',
    machine: { ramSize: 6 * GIB },
    cmdline: '',
    mask32: true,
  },
  {
    name: 'arm64 non-coherent',
    machine: { arch: 'arm64', ramSize: 512 * MIB },
    cmdline: '',
    coherent: false,
  },
  {
    name: 'arm32 non-coherent',
    machine: { arch: 'arm32', ramSize: 512 * MIB },
    cmdline: '',
    coherent: false,
  },
  { name: 'prep (bus offset)', machine: { arch: 'prep', ramSize: 512 * MIB }, cmdline: '' },
  {
    name: 'x86_64 IOMMU strict',
    machine: { ramSize: 512 * MIB, iommu: true },
    cmdline: 'iommu.strict=1',
  },
  {
    name: 'x86_64 IOMMU lazy',
    machine: { ramSize: 512 * MIB, iommu: true },
    cmdline: 'iommu.strict=0',
  },
  {
    name: 'arm64 IOMMU non-coherent',
    machine: { arch: 'arm64', ramSize: 512 * MIB, iommu: true },
    cmdline: 'iommu.strict=1',
    coherent: false,
  },
];

/** Ops per run × runs per setup × setups ≈ 100 000. */
const RUNS = 28;
const OPS = { minLength: 400, maxLength: 500 };

/** Pages the kernel holds outside the free lists: slabs and IOMMU tables. */
function heldPages(k: Kernel, dev: Device): number {
  const slab = k.kmalloc
    .allCaches()
    .map(slabCacheInfo)
    .reduce((n, c) => n + c.nrSlabs * c.pagesPerSlab, 0);
  return slab + (k.iommu.domainOf(dev)?.hw.pageTable?.tablePages ?? 0);
}

/** Settles deferred work: flush queues drain after 10 ms, IOVA caches go back to the tree. */
function settle(k: Kernel, dev: Device): number {
  k.machine.clock.run(k.machine.clock.now + 20_000_000);
  const iovad = k.iommuDma?.cookieOf(dev)?.iovad;
  if (iovad === undefined) return 0;
  for (let cpu = 0; cpu < k.machine.cpus.length; cpu++) iovad.freeCpuCachedIovas(cpu);
  iovad.freeGlobalCachedIovas();
  return iovad.stats().live;
}

describe.each(SETUPS)('the DMA API on $name', (s) => {
  it('delivers every byte both ways and gives every page, IOVA and slot back', () => {
    const { k, dev, port } = pciRig(s.machine, s.cmdline, s.coherent);
    if (s.mask32 === true) expect(k.dma.dmaSetMaskAndCoherent(dev, DMA_MASK_32)).toBe(0);
    k.pages.drainAllPages();
    const before = k.pages.nrFreePages() + heldPages(k, dev);
    const drv = new Driver(k, dev, port);
    fc.assert(
      fc.property(fc.array(op, OPS), (ops) => {
        for (const o of ops) drv.run(o);
        drv.teardown();
        expect(k.swiotlb?.totalUsed ?? 0).toBe(0);
        expect(settle(k, dev)).toBe(0);
      }),
      { numRuns: RUNS, seed: 42, endOnFailure: true },
    );
    k.pages.drainAllPages();
    expect(k.log.all.filter((l) => l.level === 'warn' || l.level === 'err')).toEqual([]);
    expect(k.pages.nrFreePages() + heldPages(k, dev)).toBe(before);
    expect(drv.ops).toBeGreaterThan(RUNS * OPS.minLength - 1);
  }, 120_000);
});
