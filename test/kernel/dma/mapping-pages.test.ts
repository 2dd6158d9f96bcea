import { describe, expect, it } from 'vitest';
import {
  DMA_ATTR_ALLOC_SINGLE_PAGES,
  DMA_ATTR_NO_KERNEL_MAPPING,
  DMA_ATTR_WRITE_COMBINE,
} from '../../../src/kernel/dma/attrs.js';
import { DmaDataDirection } from '../../../src/kernel/dma/direction.js';
import type { DmaHandle } from '../../../src/kernel/dma/mapping.js';
import { forEachSg } from '../../../src/kernel/lib/scatterlist.js';
import { GFP_DMA32, GFP_KERNEL, __GFP_COMP } from '../../../src/kernel/mm/gfp.js';
import type { DmaAddr, VirtAddr } from '../../../src/lib/addr.js';
import { MIB } from '../../../src/lib/units.js';
import { pciRig, tracedPciRig } from './rig.js';

const BIDI = DmaDataDirection.BIDIRECTIONAL;
const FROM_DEVICE = DmaDataDirection.FROM_DEVICE;
const STRICT = 'intel_iommu=on iommu.strict=1';

const handle = (): DmaHandle => ({ dma: 0 as DmaAddr });

describe('dma_alloc_pages / dma_free_pages', () => {
  it('dma-direct: zeroed pages below the coherent mask, traced as dma_map_page with the size asked', () => {
    const { k, dev, lines } = tracedPciRig({ arch: 'x86_64' });
    k.pages.drainAllPages();
    const before = k.pages.nrFreePages();
    const h = handle();
    const page = k.dma.dmaAllocPages(dev, 5000, h, FROM_DEVICE, GFP_KERNEL)!;
    const phys = k.pages.pageToPhys(page);
    expect(h.dma).toBe(phys);
    expect(phys + 8192).toBeLessThanOrEqual(2 ** 32);
    expect(k.vm.readU32((k.pages.pageAddress(page)! + 4096) as VirtAddr)).toBe(0);
    k.dma.dmaFreePages(dev, 5000, page, h.dma, FROM_DEVICE);
    k.pages.drainAllPages();
    expect(k.pages.nrFreePages()).toBe(before);
    const hx = phys.toString(16);
    expect(lines).toEqual([
      `dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=${hx} size=5000 phys_addr=${hx} attrs=`,
      `dma_unmap_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=${hx} size=5000 attrs=`,
    ]);
  });

  it('IOMMU DMA: the pages mapped at one IOVA range, unmapped on free', () => {
    const { k, dev, lines } = tracedPciRig({ arch: 'x86_64', iommu: true }, STRICT);
    const h = handle();
    const page = k.dma.dmaAllocPages(dev, 5000, h, FROM_DEVICE, GFP_KERNEL)!;
    k.pages.drainAllPages();
    const before = k.pages.nrFreePages(); // the IOMMU's page tables stay allocated
    const phys = k.pages.pageToPhys(page);
    const domain = k.iommu.domainOf(dev)!;
    expect(h.dma).toBe(0xffff_e000); // 8 KiB, top-down below 4 GiB
    expect(k.iommu.iovaToPhys(domain, h.dma + 4100)).toBe(phys + 4100);
    k.dma.dmaFreePages(dev, 5000, page, h.dma, FROM_DEVICE);
    expect(k.iommu.iovaToPhys(domain, h.dma)).toBe(0);
    k.pages.drainAllPages();
    expect(k.pages.nrFreePages()).toBe(before + 2);
    const p = phys.toString(16).padStart(16, '0');
    expect(lines).toEqual([
      `map: IOMMU: iova=0x00000000ffffe000 - 0x0000000100000000 paddr=0x${p} size=8192`,
      `dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffe000 size=5000 phys_addr=${phys.toString(16)} attrs=`,
      'dma_unmap_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffe000 size=5000 attrs=',
      'unmap: IOMMU: iova=0x00000000ffffe000 - 0x0000000100000000 size=8192 unmapped_size=8192',
    ]);
  });

  it('refuses zone modifiers and __GFP_COMP with one warning each', () => {
    const { k, dev, lines } = tracedPciRig({ arch: 'x86_64' });
    expect(k.dma.dmaAllocPages(dev, 4096, handle(), BIDI, GFP_KERNEL | GFP_DMA32)).toBeNull();
    expect(k.dma.dmaAllocPages(dev, 4096, handle(), BIDI, GFP_KERNEL | GFP_DMA32)).toBeNull();
    expect(k.dma.dmaAllocPages(dev, 4096, handle(), BIDI, GFP_KERNEL | __GFP_COMP)).toBeNull();
    expect(k.log.all.slice(-4).map((l) => l.text)).toEqual([
      'pci 0000:00:01.0: __dma_alloc_pages with zone flags',
      'WARNING: CPU: 0 PID: 0 at kernel/dma/mapping.c __dma_alloc_pages (zone flags)',
      'pci 0000:00:01.0: __dma_alloc_pages with __GFP_COMP',
      'WARNING: CPU: 0 PID: 0 at kernel/dma/mapping.c __dma_alloc_pages (__GFP_COMP)',
    ]);
    expect(lines).toEqual([]);
  });
});

describe('dma_alloc_noncoherent on a non-coherent arm64 device', () => {
  for (const [name, machine, cmdline] of [
    ['dma-direct', { arch: 'arm64' }, ''],
    ['IOMMU DMA', { arch: 'arm64', iommu: true }, 'iommu.strict=1'],
  ] as const) {
    it(`${name}: cacheable memory: stale without dma_sync_single_for_cpu, fresh with it`, () => {
      const { k, dev, port } = pciRig(machine, cmdline, false);
      const h = handle();
      const buf = k.dma.dmaAllocNoncoherent(dev, 4096, h, FROM_DEVICE, GFP_KERNEL)!;
      expect(k.vm.isVmallocAddr(buf)).toBe(false); // the linear map: normal cacheable memory
      expect(k.vm.readU32(buf)).toBe(0); // zeroed through the cache
      k.dma.dmaSyncSingleForDevice(dev, h.dma, 4096, FROM_DEVICE); // cleans the dirty zeroes
      port.writeU32(h.dma, 0xdeadbeef);
      expect(k.vm.readU32(buf)).toBe(0); // STALE: the CPU reads its clean cached line
      k.dma.dmaSyncSingleForCpu(dev, h.dma, 4096, FROM_DEVICE);
      expect(k.vm.readU32(buf)).toBe(0xdeadbeef); // invalidated, refilled from RAM
      k.dma.dmaFreeNoncoherent(dev, 4096, buf, h.dma, FROM_DEVICE);
    });
  }
});

describe('dma_alloc_noncontiguous', () => {
  it('dma-direct: one contiguous allocation, one entry, its linear address as the vmap', () => {
    const { k, dev, lines } = tracedPciRig({ arch: 'x86_64' });
    const size = 2 * MIB + 8192;
    const sgt = k.dma.dmaAllocNoncontiguous(dev, size, BIDI, GFP_KERNEL)!;
    const sg = sgt.sgl!;
    const phys = k.pages.pageToPhys(sg.page);
    expect([sgt.nents, sgt.origNents, sg.length, sg.dmaLength]).toEqual([1, 1, size, size]);
    expect(sg.dmaAddress).toBe(phys);
    const va = k.dma.dmaVmapNoncontiguous(dev, size, sgt)!;
    expect(va).toBe(k.pages.pageAddress(sg.page));
    k.dma.dmaVunmapNoncontiguous(dev, va);
    k.dma.dmaFreeNoncontiguous(dev, size, sgt, BIDI);
    expect(sgt.sgl).toBeNull();
    const p = phys.toString(16);
    expect(lines).toEqual([
      `dma_map_sg: 0000:00:01.0 dir=BIDIRECTIONAL nents=1/1 ents=1/1 dma_addrs={0x${p}} sizes={0x202000} phys_addrs={0x${p}} attrs=`,
      `dma_unmap_sg: 0000:00:01.0 dir=BIDIRECTIONAL phys_addrs={0x${p}} attrs=`,
    ]);
  });

  it('IOMMU DMA: a CPU entry per run of contiguous pages, one DMA segment, a vmap over them', () => {
    const { k, dev, port, lines } = tracedPciRig({ arch: 'x86_64', iommu: true }, STRICT);
    const size = 2 * MIB + 8192;
    const sgt = k.dma.dmaAllocNoncontiguous(dev, size, BIDI, GFP_KERNEL)!;
    k.pages.drainAllPages();
    const before = k.pages.nrFreePages();
    const ents = [...forEachSg(sgt.sgl, sgt.origNents)];
    expect(ents.map((sg) => sg.length)).toEqual([2 * MIB, 8192]); // a 2 MiB block, two 4 KiB pages
    expect([sgt.nents, sgt.sgl!.dmaAddress, sgt.sgl!.dmaLength]).toEqual([1, 0xffc0_0000, size]);
    const va = k.dma.dmaVmapNoncontiguous(dev, size, sgt)!;
    expect(k.vm.isVmallocAddr(va)).toBe(true);
    k.vm.writeU32((va + 2 * MIB + 4) as VirtAddr, 0xabcd); // lands in the second entry's page
    expect(port.readU32(0xffc0_0000 + 2 * MIB + 4)).toBe(0xabcd); // a coherent device snoops
    k.dma.dmaVunmapNoncontiguous(dev, va);
    k.dma.dmaFreeNoncontiguous(dev, size, sgt, BIDI);
    k.pages.drainAllPages();
    expect(k.pages.nrFreePages()).toBe(before + 514);
    expect(lines.filter((l) => l.startsWith('dma_'))).toEqual([
      `dma_map_sg: 0000:00:01.0 dir=BIDIRECTIONAL nents=2/2 ents=1/1 dma_addrs={0xffc00000} sizes={0x202000} phys_addrs={0x${k.pages.pageToPhys(ents[0]!.page).toString(16)},0x${k.pages.pageToPhys(ents[1]!.page).toString(16)}} attrs=`,
      `dma_unmap_sg: 0000:00:01.0 dir=BIDIRECTIONAL phys_addrs={0x${k.pages.pageToPhys(ents[0]!.page).toString(16)},0x${k.pages.pageToPhys(ents[1]!.page).toString(16)}} attrs=`,
    ]);
  });

  it('IOMMU DMA on a non-coherent arm64 device: flushed at allocation; DMA_ATTR_ALLOC_SINGLE_PAGES takes order-0 pages', () => {
    const size = 2 * MIB + 8192;
    const runs = (attrs: number): number[] => {
      const { k, dev, port } = pciRig({ arch: 'arm64', iommu: true }, 'iommu.strict=1', false);
      const sgt = k.dma.dmaAllocNoncontiguous(dev, size, FROM_DEVICE, GFP_KERNEL, attrs)!;
      expect(sgt.nents).toBe(1);
      const va = k.dma.dmaVmapNoncontiguous(dev, size, sgt)!;
      port.writeU32(sgt.sgl!.dmaAddress + 2 * MIB, 0x77);
      expect(k.vm.readU32((va + 2 * MIB) as VirtAddr)).toBe(0x77); // no line of it was cached
      const out = [...forEachSg(sgt.sgl, sgt.origNents)].map((sg) => sg.length);
      k.dma.dmaVunmapNoncontiguous(dev, va);
      k.dma.dmaFreeNoncontiguous(dev, size, sgt, FROM_DEVICE);
      return out;
    };
    expect(runs(0)).toEqual([2 * MIB, 8192]);
    expect(runs(DMA_ATTR_ALLOC_SINGLE_PAGES)).toEqual([55 * 4096, 459 * 4096]); // 514 pages in two runs
  });

  it('refuses other attrs with a warning', () => {
    const { k, dev } = pciRig({ arch: 'arm32' }, '', false);
    expect(
      k.dma.dmaAllocNoncontiguous(dev, 4096, BIDI, GFP_KERNEL, DMA_ATTR_WRITE_COMBINE),
    ).toBeNull();
    expect(k.log.all.slice(-2).map((l) => l.text)).toEqual([
      'pci 0000:00:01.0: dma_alloc_noncontiguous with attrs',
      'WARNING: CPU: 0 PID: 0 at kernel/dma/mapping.c dma_alloc_noncontiguous (attrs)',
    ]);
  });
});

describe('dma_alloc_attrs with DMA_ATTR_NO_KERNEL_MAPPING (dma-direct)', () => {
  it('non-coherent arm64: a page cookie, no kernel mapping, nothing cached; freed with the same attrs', () => {
    const { k, dev, port, lines } = tracedPciRig({ arch: 'arm64' }, '', false);
    k.pages.drainAllPages();
    const before = k.pages.nrFreePages();
    const h = handle();
    const cookie = k.dma.dmaAllocAttrs(dev, 8192, h, GFP_KERNEL, DMA_ATTR_NO_KERNEL_MAPPING)!;
    expect(cookie).toBe(h.dma / 4096); // the page (the model's struct page *)
    expect(k.machine.cache.state(h.dma).present).toBe(false);
    port.writeU32(h.dma, 0x55);
    expect(port.readU32(h.dma)).toBe(0x55);
    k.dma.dmaFreeAttrs(dev, 8192, cookie, h.dma, DMA_ATTR_NO_KERNEL_MAPPING);
    k.pages.drainAllPages();
    expect(k.pages.nrFreePages()).toBe(before);
    const [hx, ck] = [h.dma.toString(16), cookie.toString(16).padStart(16, '0')];
    expect(lines).toEqual([
      `dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=${hx} size=8192 virt_addr=${ck} flags=GFP_KERNEL attrs=NO_KERNEL_MAPPING`,
      `dma_free: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=${hx} size=8192 virt_addr=${ck} attrs=NO_KERNEL_MAPPING`,
    ]);
  });

  it('applies to every dma-direct device, coherent x86 included, and not to IOMMU DMA', () => {
    const x86 = pciRig({ arch: 'x86_64' });
    const h = handle();
    const cookie = x86.k.dma.dmaAllocAttrs(
      x86.dev,
      4096,
      h,
      GFP_KERNEL,
      DMA_ATTR_NO_KERNEL_MAPPING,
    );
    expect(cookie).toBe(h.dma / 4096);
    const iommu = pciRig({ arch: 'arm64', iommu: true }, 'iommu.strict=1', false);
    const va = iommu.k.dma.dmaAllocAttrs(
      iommu.dev,
      4096,
      h,
      GFP_KERNEL,
      DMA_ATTR_NO_KERNEL_MAPPING,
    )!;
    expect(iommu.k.vm.isVmallocAddr(va)).toBe(true); // MODEL: dma-iommu still maps it
  });
});
