/**
 * Sizes the kernel does not expect — zero, and more than the machine's RAM — on every path: the
 * calls give the kernel's failure values, never an exception, and leave every page where it was.
 */
import { describe, expect, it } from 'vitest';
import { DmaDataDirection } from '../../../src/kernel/dma/direction.js';
import { KernelBug } from '../../../src/kernel/dma/mapping.js';
import type { DmaHandle } from '../../../src/kernel/dma/mapping.js';
import { GFP_KERNEL } from '../../../src/kernel/mm/gfp.js';
import type { DmaAddr } from '../../../src/lib/addr.js';
import { GIB, MIB } from '../../../src/lib/units.js';
import type { MachineConfig } from '../../../src/machine/machine.js';
import { pciRig } from './rig.js';

const PATHS: [string, MachineConfig, string, boolean | undefined][] = [
  ['dma-direct', { ramSize: 256 * MIB }, '', undefined],
  ['swiotlb=force', { ramSize: 256 * MIB }, 'swiotlb=force', undefined],
  ['arm64 non-coherent', { arch: 'arm64', ramSize: 256 * MIB }, '', false],
  ['IOMMU strict', { ramSize: 256 * MIB, iommu: true }, 'iommu.strict=1', undefined],
  ['IOMMU lazy', { ramSize: 256 * MIB, iommu: true }, 'iommu.strict=0', undefined],
];

describe.each(PATHS)('bad sizes on %s', (_name, machine, cmdline, coherent) => {
  it('zero and beyond-RAM sizes fail or succeed as the kernel does, without corrupting state', () => {
    const { k, dev } = pciRig(machine, cmdline, coherent);
    const page = k.pages.allocPages(GFP_KERNEL, 0)!;
    k.pages.drainAllPages();
    const tables = (): number => k.iommu.domainOf(dev)?.hw.pageTable?.tablePages ?? 0;
    const free = k.pages.nrFreePages() + tables();
    const h: DmaHandle = { dma: 0 as DmaAddr };
    expect(k.dma.dmaAllocCoherent(dev, 2 * GIB, h, GFP_KERNEL)).toBeNull();
    expect(k.dma.dmaAllocCoherent(dev, 0, h, GFP_KERNEL)).toBeNull();
    const huge = k.dma.dmaMapPage(dev, page, 0, 2 * GIB, DmaDataDirection.TO_DEVICE);
    if (!k.dma.dmaMappingError(dev, huge))
      k.dma.dmaUnmapPage(dev, huge, 2 * GIB, DmaDataDirection.TO_DEVICE);
    const mapZero = (): DmaAddr => k.dma.dmaMapPage(dev, page, 0, 0, DmaDataDirection.TO_DEVICE);
    if (k.swiotlb?.forceBounce === true) {
      expect(mapZero).toThrow(KernelBug); // BUG_ON(!nslots)
    } else {
      const zero = mapZero();
      expect(k.dma.dmaMappingError(dev, zero)).toBe(dev.dmaIommu); // dma-direct maps it
      if (!dev.dmaIommu) k.dma.dmaUnmapPage(dev, zero, 0, DmaDataDirection.TO_DEVICE);
    }
    k.machine.clock.run(k.machine.clock.now + 20_000_000);
    k.pages.drainAllPages();
    expect(k.pages.nrFreePages() + tables()).toBe(free);
    expect(k.swiotlb?.totalUsed ?? 0).toBe(0);
  });
});
