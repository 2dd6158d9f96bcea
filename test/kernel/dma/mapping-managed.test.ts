import { describe, expect, it } from 'vitest';
import { devresLive, devresReleaseAll } from '../../../src/kernel/device/devres.js';
import { DMA_ATTR_WRITE_COMBINE } from '../../../src/kernel/dma/attrs.js';
import { NO_DMA_DEBUG } from '../../../src/kernel/dma/hooks.js';
import type { DmaHandle } from '../../../src/kernel/dma/mapping.js';
import { traceEventFields } from '../../../src/kernel/dma/trace.js';
import { Kernel } from '../../../src/kernel/kernel.js';
import { GFP_KERNEL, __GFP_NOWARN } from '../../../src/kernel/mm/gfp.js';
import type { DmaAddr } from '../../../src/lib/addr.js';
import { GIB, MIB } from '../../../src/lib/units.js';
import { Machine } from '../../../src/machine/machine.js';
import { pciRig, tracedPciRig } from './rig.js';

const handle = (): DmaHandle => ({ dma: 0 as DmaAddr });

describe('dmam_alloc_coherent / dmam_alloc_attrs / dmam_free_coherent', () => {
  it('dma-direct: the allocation is freed, with its attrs, when the driver detaches', () => {
    const { k, dev, lines } = tracedPciRig({ arch: 'arm32' }, '', false);
    const va = k.dma.dmamAllocAttrs(dev, 4096, handle(), GFP_KERNEL, DMA_ATTR_WRITE_COMBINE)!;
    expect(devresLive(dev).map((e) => e.name)).toEqual(['dmam_alloc_coherent']);
    expect(devresReleaseAll(dev)).toBe(1);
    expect(k.vm.resolve(va)).toBe(-1); // the remap is gone
    expect(lines).toEqual([
      'dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=60c3e000 size=4096 virt_addr=00000000f0021000 flags=GFP_KERNEL attrs=WRITE_COMBINE',
      'dma_free: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=60c3e000 size=4096 virt_addr=00000000f0021000 attrs=WRITE_COMBINE',
    ]);
  });

  it('IOMMU DMA: dmam_free_coherent frees now, drops the entry, and the IOVA goes away', () => {
    const { k, dev, lines } = tracedPciRig(
      { arch: 'x86_64', iommu: true },
      'intel_iommu=on iommu.strict=1',
    );
    const h = handle();
    const va = k.dma.dmamAllocCoherent(dev, 4096, h, GFP_KERNEL | __GFP_NOWARN)!;
    expect(h.dma).toBe(0xffff_f000);
    k.dma.dmamFreeCoherent(dev, 4096, va, h.dma);
    expect(devresLive(dev)).toEqual([]);
    expect(k.iommu.iovaToPhys(k.iommu.domainOf(dev)!, h.dma)).toBe(0);
    expect(devresReleaseAll(dev)).toBe(0);
    expect(lines.filter((l) => l.startsWith('dma_'))).toEqual([
      `dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=fffff000 size=4096 virt_addr=${k.vm.format(va)} flags=GFP_KERNEL|__GFP_NOWARN attrs=NO_WARN`,
      `dma_free: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=fffff000 size=4096 virt_addr=${k.vm.format(va)} attrs=`,
    ]);
    expect(k.log.all.some((l) => l.text.startsWith('WARNING'))).toBe(false);
  });

  it('WARNs for a size that does not match and for memory that was not managed, and frees anyway', () => {
    const { k, dev } = pciRig({ arch: 'x86_64' });
    const h = handle();
    const managed = k.dma.dmamAllocCoherent(dev, 8192, h, GFP_KERNEL)!;
    k.dma.dmamFreeCoherent(dev, 4096, managed, h.dma);
    expect(k.log.all.at(-1)?.text).toBe(
      'WARNING: CPU: 0 PID: 0 at kernel/dma/mapping.c dmam_match',
    );
    expect(devresLive(dev)).toEqual([]);
    const plain = k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL)!;
    k.dma.dmamFreeCoherent(dev, 4096, plain, h.dma);
    expect(k.log.all.at(-1)?.text).toBe(
      'WARNING: CPU: 0 PID: 0 at kernel/dma/mapping.c dmam_free_coherent',
    );
    expect(k.pages.virtToPage(plain)).toBe(h.dma / 4096);
  });

  it('registers nothing when the allocation fails', () => {
    const { k, dev } = pciRig({ ramSize: GIB }, 'mem=960M');
    k.dmaDeclareCoherentMemory(dev, 0x3c00_0000, 0x3c00_0000, 4096);
    expect(k.dma.dmamAllocCoherent(dev, 8192, handle(), GFP_KERNEL)).toBeNull();
    expect(devresLive(dev)).toEqual([]);
  });
});

describe("dma_alloc_attrs / dma_free_attrs and the device's own coherent pool", () => {
  it('serves a device with a pool from it only, traces it, and does not tell dma-debug', () => {
    const debugged: string[] = [];
    const k = new Kernel(new Machine({ ramSize: GIB }), {
      cmdline: 'mem=960M',
      dmaDebug: {
        ...NO_DMA_DEBUG,
        allocCoherent: (_d, size) => debugged.push(`alloc ${size}`),
        freeCoherent: (_d, size) => debugged.push(`free ${size}`),
      },
    });
    const dev = k.devices.pciDeviceAdd({ slot: 1, vendor: 0x8086, device: 0x100e });
    const lines: string[] = [];
    k.dmaTrace.subscribe((e) => lines.push(`${e.event}: ${traceEventFields(e)}`));
    expect(k.dmaDeclareCoherentMemory(dev, 0x3c00_0000, 0x8000_0000, 2 * 4096)).toBe(0);
    const h = handle();
    const a = k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL)!;
    expect(h.dma).toBe(0x8000_0000);
    expect(k.vm.virtToPhys(a)).toBe(0x3c00_0000);
    const b = k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL)!;
    expect(h.dma).toBe(0x8000_1000);
    expect(k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL)).toBeNull(); // full: no fallback
    k.dma.dmaFreeCoherent(dev, 4096, a, 0x8000_0000 as DmaAddr);
    expect(k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL)).toBe(a);
    expect(debugged).toEqual([]);
    const [va, vb] = [k.vm.format(a), k.vm.format(b)];
    expect(lines).toEqual([
      `dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=80000000 size=4096 virt_addr=${va} flags=GFP_KERNEL attrs=`,
      `dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=80001000 size=4096 virt_addr=${vb} flags=GFP_KERNEL attrs=`,
      `dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=80001000 size=4096 virt_addr=0000000000000000 flags=GFP_KERNEL attrs=`,
      `dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=80000000 size=4096 virt_addr=${va} flags=GFP_KERNEL attrs=`,
    ]);
  });

  it('frees memory that is not in the pool to the path as before', () => {
    const { k, dev } = pciRig({ ramSize: GIB }, 'mem=960M');
    const h = handle();
    const normal = k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL)!;
    k.dmaDeclareCoherentMemory(dev, 0x3c00_0000, 0x3c00_0000, MIB);
    k.pages.drainAllPages();
    const before = k.pages.nrFreePages();
    k.dma.dmaFreeCoherent(dev, 4096, normal, h.dma);
    k.pages.drainAllPages();
    expect(k.pages.nrFreePages()).toBe(before + 1);
    expect(k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL)).not.toBe(normal);
  });
});
