import { describe, expect, it } from 'vitest';
import { MIB } from '../../../src/lib/units.js';
import { DmaDataDirection } from '../../../src/kernel/dma/direction.js';
import { traceEventFields } from '../../../src/kernel/dma/trace.js';
import type { Kernel } from '../../../src/kernel/kernel.js';
import { SgTable, sgAllocTableFromPages } from '../../../src/kernel/lib/scatterlist.js';
import type { Scatterlist } from '../../../src/kernel/lib/scatterlist.js';
import { GFP_KERNEL } from '../../../src/kernel/mm/gfp.js';
import type { Pfn } from '../../../src/kernel/mm/page.js';
import { pciRig } from './rig.js';

const TO_DEVICE = DmaDataDirection.TO_DEVICE;

/** Three single pages that are not physically adjacent, each filled with its index + 1. */
function scattered(k: Kernel): { sgt: SgTable; pages: Pfn[] } {
  const pages: Pfn[] = [];
  for (let i = 0; i < 3; i++) {
    pages.push(k.pages.allocPages(GFP_KERNEL, 0)!);
    k.pages.allocPages(GFP_KERNEL, 0); // a gap page, kept, so the next one is not adjacent
  }
  pages.forEach((p, i) => {
    k.vm.memset(k.pageAddress(p)!, i + 1, 4096);
  });
  const sgt = new SgTable();
  expect(sgAllocTableFromPages(k, sgt, pages, 0, 3 * 4096)).toBe(0);
  return { sgt, pages };
}

describe('dma_map_sg over dma-direct', () => {
  it('maps every entry on its own (ents == nents) and cleans each for a non-coherent device', () => {
    const { k, dev, port } = pciRig({ arch: 'arm64', ramSize: 256 * MIB }, '', false);
    const { sgt } = scattered(k);
    expect(sgt.origNents).toBe(3);
    expect(k.dma.dmaMapSgtable(dev, sgt, TO_DEVICE)).toBe(0);
    expect(sgt.nents).toBe(3);
    let sg: Scatterlist | null = sgt.sgl;
    for (let i = 0; sg !== null && i < 3; i++, sg = sg.nextInArray) {
      const b = new Uint8Array(1);
      port.read(sg.dmaAddress, b, 0, 1);
      expect([b[0], sg.dmaLength]).toEqual([i + 1, 4096]);
    }
    k.dma.dmaUnmapSgtable(dev, sgt, TO_DEVICE);
  });

  it('prints dma_map_sg and dma_unmap_sg as the kernel does', () => {
    const { k, dev } = pciRig({ ramSize: 256 * MIB });
    const { sgt, pages } = scattered(k);
    const trace: string[] = [];
    k.dmaTrace.subscribe((e) => trace.push(`${e.event}: ${traceEventFields(e)}`));
    expect(k.dma.dmaMapSg(dev, sgt.sgl!, 3, TO_DEVICE)).toBe(3);
    k.dma.dmaUnmapSg(dev, sgt.sgl!, 3, TO_DEVICE);
    const addrs = `{${pages.map((p) => '0x' + k.pages.pageToPhys(p).toString(16)).join(',')}}`;
    expect(trace).toEqual([
      `dma_map_sg: 0000:00:01.0 dir=TO_DEVICE nents=3/3 ents=3/3 dma_addrs=${addrs} sizes={0x1000,0x1000,0x1000} phys_addrs=${addrs} attrs=`,
      `dma_unmap_sg: 0000:00:01.0 dir=TO_DEVICE phys_addrs=${addrs} attrs=`,
    ]);
  });

  it('bounces each entry with swiotlb=force and returns every slot on unmap', () => {
    const { k, dev, port } = pciRig({ ramSize: 1024 * MIB }, 'swiotlb=force');
    const { sgt } = scattered(k);
    expect(k.dma.dmaMapSgtable(dev, sgt, TO_DEVICE)).toBe(0);
    expect(k.swiotlb!.totalUsed).toBe(6); // 4 KiB = 2 slots per entry
    const b = new Uint8Array(1);
    port.read(sgt.sgl!.nextInArray!.dmaAddress, b, 0, 1);
    expect(b[0]).toBe(2);
    k.dma.dmaUnmapSgtable(dev, sgt, TO_DEVICE);
    expect(k.swiotlb!.totalUsed).toBe(0);
  });
});
