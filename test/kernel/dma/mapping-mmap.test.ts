import { describe, expect, it } from 'vitest';
import { DMA_ATTR_NO_KERNEL_MAPPING } from '../../../src/kernel/dma/attrs.js';
import type { DmaHandle } from '../../../src/kernel/dma/mapping.js';
import { VmAreaStruct } from '../../../src/kernel/dma/mapping-mmap.js';
import { ENXIO } from '../../../src/kernel/errno.js';
import { SgTable, forEachSg } from '../../../src/kernel/lib/scatterlist.js';
import { GFP_ATOMIC, GFP_KERNEL } from '../../../src/kernel/mm/gfp.js';
import type { DmaAddr } from '../../../src/lib/addr.js';
import { GIB, MIB } from '../../../src/lib/units.js';
import { MemAttr } from '../../../src/machine/memory/attr.js';
import { pciRig } from './rig.js';

const handle = (): DmaHandle => ({ dma: 0 as DmaAddr });
const USER = 0x7f00_0000_0000;
const STRICT = 'intel_iommu=on iommu.strict=1';

describe('dma_mmap_attrs over dma-direct', () => {
  it('maps the pages behind the bus address from vm_pgoff; an area past the buffer is -ENXIO', () => {
    const { k, dev } = pciRig({ arch: 'x86_64' });
    const h = handle();
    const size = 3 * 4096 + 100; // four pages
    const va = k.dma.dmaAllocCoherent(dev, size, h, GFP_KERNEL)!;
    const pfn = h.dma / 4096;
    const vma = new VmAreaStruct(USER, 1, 3);
    expect(k.dma.dmaMmapCoherent(dev, vma, va, h.dma, size)).toBe(0);
    expect(vma.pfns).toEqual([pfn + 1, pfn + 2, pfn + 3]);
    expect(vma.vmPageProt).toBe(MemAttr.CACHEABLE);
    for (const [pgoff, n] of [
      [2, 3],
      [4, 1],
    ]) {
      const bad = new VmAreaStruct(USER, pgoff!, n!);
      expect(k.dma.dmaMmapCoherent(dev, bad, va, h.dma, size)).toBe(-ENXIO);
      expect(bad.pfns).toEqual([]);
    }
    expect(k.dma.dmaCanMmap(dev)).toBe(true);
  });

  it('gives a non-coherent device the protection of its kernel alias: arm64 Normal-NC, arm32 uncached or wc', () => {
    const prot = (arch: 'arm64' | 'arm32', wc: boolean): MemAttr => {
      const { k, dev } = pciRig({ arch }, '', false);
      expect(k.dma.dmaCanMmap(dev)).toBe(true); // CONFIG_DMA_NONCOHERENT_MMAP
      const h = handle();
      const va = wc
        ? k.dma.dmaAllocWc(dev, 4096, h, GFP_KERNEL)!
        : k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL)!;
      const vma = new VmAreaStruct(USER, 0, 1);
      const rc = wc
        ? k.dma.dmaMmapWc(dev, vma, va, h.dma, 4096)
        : k.dma.dmaMmapCoherent(dev, vma, va, h.dma, 4096);
      expect(rc).toBe(0);
      expect(vma.pfns).toEqual([h.dma / 4096]);
      return vma.vmPageProt;
    };
    expect([prot('arm64', false), prot('arm64', true)]).toEqual([MemAttr.WC, MemAttr.WC]);
    expect([prot('arm32', false), prot('arm32', true)]).toEqual([MemAttr.UNCACHED, MemAttr.WC]);
  });

  it('cannot map a non-coherent device where coherent memory is not remapped (x86)', () => {
    const { k, dev } = pciRig({ arch: 'x86_64' }, '', false);
    expect(k.dma.dmaCanMmap(dev)).toBe(false);
  });

  it('maps a DMA_ATTR_NO_KERNEL_MAPPING allocation, whose CPU address is only a cookie', () => {
    const { k, dev } = pciRig({ arch: 'arm64' }, '', false);
    const h = handle();
    const cookie = k.dma.dmaAllocAttrs(dev, 8192, h, GFP_KERNEL, DMA_ATTR_NO_KERNEL_MAPPING)!;
    const vma = new VmAreaStruct(USER, 0, 2);
    expect(k.dma.dmaMmapAttrs(dev, vma, cookie, h.dma, 8192, DMA_ATTR_NO_KERNEL_MAPPING)).toBe(0);
    expect(vma.pfns).toEqual([h.dma / 4096, h.dma / 4096 + 1]);
    expect(vma.vmPageProt).toBe(MemAttr.WC);
  });

  it("maps a block of the device's own pool by its page frames, not by the declared bus address", () => {
    const { k, dev } = pciRig({ ramSize: GIB }, 'mem=960M');
    expect(k.dmaDeclareCoherentMemory(dev, 0x3c00_0000, 0x8000_0000, MIB)).toBe(0);
    const h = handle();
    k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL);
    const va = k.dma.dmaAllocCoherent(dev, 8192, h, GFP_KERNEL)!;
    expect(h.dma).toBe(0x8000_2000);
    const vma = new VmAreaStruct(USER, 1, 1);
    expect(k.dma.dmaMmapCoherent(dev, vma, va, h.dma, 8192)).toBe(0);
    expect(vma.pfns).toEqual([0x3c003]);
    expect(k.dma.dmaMmapCoherent(dev, new VmAreaStruct(USER, 1, 2), va, h.dma, 8192)).toBe(-ENXIO);
  });
});

describe('dma_mmap_attrs and dma_get_sgtable over IOMMU DMA', () => {
  it('a remap allocation maps and describes its own scattered pages', () => {
    const { k, dev } = pciRig({ arch: 'x86_64', iommu: true }, STRICT);
    const domain = k.iommu.domainOf(dev)!;
    const size = 2 * MIB + 8192;
    const h = handle();
    const va = k.dma.dmaAllocCoherent(dev, size, h, GFP_KERNEL)!;
    expect(k.vm.isVmallocAddr(va)).toBe(true);
    const pfnAt = (off: number): number => k.iommu.iovaToPhys(domain, h.dma + off) / 4096;
    const vma = new VmAreaStruct(USER, 511, 3);
    expect(k.dma.dmaMmapCoherent(dev, vma, va, h.dma, size)).toBe(0);
    expect(vma.pfns).toEqual([pfnAt(511 * 4096), pfnAt(2 * MIB), pfnAt(2 * MIB + 4096)]);
    expect(vma.pfns[1]).not.toBe(vma.pfns[0]! + 1); // scattered: no remap_pfn_range would do
    expect(k.dma.dmaCanMmap(dev)).toBe(true);
    const sgt = new SgTable();
    expect(k.dma.dmaGetSgtable(dev, sgt, va, h.dma, size)).toBe(0);
    const ents = [...forEachSg(sgt.sgl, sgt.origNents)];
    expect(ents.map((sg) => [sg.page, sg.length])).toEqual([
      [pfnAt(0), 2 * MIB],
      [pfnAt(2 * MIB), 8192], // two pages that happen to be contiguous: one entry
    ]);
  });

  it('a contiguous (GFP_ATOMIC) allocation: one entry, the pages behind the kernel address', () => {
    const { k, dev } = pciRig({ arch: 'x86_64', iommu: true }, STRICT);
    const h = handle();
    const va = k.dma.dmaAllocCoherent(dev, 8192, h, GFP_ATOMIC)!;
    const pfn = k.vm.virtToPhys(va) / 4096;
    expect(h.dma).toBe(0xffff_e000); // not the physical address
    const vma = new VmAreaStruct(USER, 0, 2);
    expect(k.dma.dmaMmapCoherent(dev, vma, va, h.dma, 8192)).toBe(0);
    expect(vma.pfns).toEqual([pfn, pfn + 1]);
    const sgt = new SgTable();
    expect(k.dma.dmaGetSgtable(dev, sgt, va, h.dma, 8192)).toBe(0);
    expect([sgt.origNents, sgt.sgl!.page, sgt.sgl!.length]).toEqual([1, pfn, 8192]);
  });

  it('a non-coherent arm64 device gets Normal-NC user mappings', () => {
    const { k, dev } = pciRig({ arch: 'arm64', iommu: true }, 'iommu.strict=1', false);
    const h = handle();
    const va = k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL)!;
    const vma = new VmAreaStruct(USER, 0, 1);
    expect(k.dma.dmaMmapCoherent(dev, vma, va, h.dma, 4096)).toBe(0);
    expect(vma.vmPageProt).toBe(MemAttr.WC);
    expect(vma.pfns).toEqual([k.vm.virtToPhys(va) / 4096]);
  });
});

describe('dma_get_sgtable over dma-direct', () => {
  it('one entry of the page-aligned size at the page behind the bus address', () => {
    for (const [arch, coherent] of [
      ['x86_64', true],
      ['arm32', false],
    ] as const) {
      const { k, dev } = pciRig({ arch }, '', coherent);
      const h = handle();
      const va = k.dma.dmaAllocCoherent(dev, 5000, h, GFP_KERNEL)!;
      const sgt = new SgTable();
      expect(k.dma.dmaGetSgtable(dev, sgt, va, h.dma, 5000)).toBe(0);
      expect([sgt.origNents, sgt.sgl!.page, sgt.sgl!.offset, sgt.sgl!.length]).toEqual([
        1,
        h.dma / 4096,
        0,
        8192,
      ]);
    }
  });
});
