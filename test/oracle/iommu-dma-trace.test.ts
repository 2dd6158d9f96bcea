/**
 * Differential test against a real Linux 6.12 kernel: replays the e1000's DMA API calls of trace
 * B (VT-d, strict) through the model's DMA API — each dma_alloc, dma_free, dma_map_page and
 * dma_unmap_page on the CPU and at the time the trace line shows, with the trace's size and page
 * offset — and expects the DMA address the real kernel returned for every one of them. Physical
 * pages differ (the model's are its own); IOVAs depend only on sizes, offsets, order, CPU and time.
 * Skipped when the shared traces are not beside the checkout.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { U64_MAX } from '../../src/kernel/device/dma-mask.js';
import { DmaDataDirection } from '../../src/kernel/dma/direction.js';
import type { DmaHandle } from '../../src/kernel/dma/mapping.js';
import { GFP_KERNEL } from '../../src/kernel/mm/gfp.js';
import type { Pfn } from '../../src/kernel/mm/page.js';
import type { DmaAddr, VirtAddr } from '../../src/lib/addr.js';
import { pciRig } from '../kernel/dma/rig.js';

const TRACE = new URL('../../../shared/traces/B_e1000_iommu_strict.trace', import.meta.url);
const LINE =
  /\[(\d+)\].*?\s([\d.]+): (dma_map_page|dma_unmap_page|dma_alloc|dma_free): 0000:00:01\.0 dir=(\w+) dma_addr=([0-9a-f]+) size=(\d+)(?: phys_addr=([0-9a-f]+))?/;
const DIRS: Record<string, DmaDataDirection> = {
  TO_DEVICE: DmaDataDirection.TO_DEVICE,
  FROM_DEVICE: DmaDataDirection.FROM_DEVICE,
  BIDIRECTIONAL: DmaDataDirection.BIDIRECTIONAL,
};

describe.skipIf(!existsSync(TRACE))('IOMMU DMA against the real trace B', () => {
  it('returns the DMA address the kernel returned, for every call of the e1000', () => {
    const { k, dev } = pciRig({ arch: 'x86_64', iommu: true }, 'intel_iommu=on iommu.strict=1');
    expect(k.dma.dmaSetMaskAndCoherent(dev, U64_MAX)).toBe(0);
    /** Trace DMA address → what the model returned, and the buffer behind it. */
    const live = new Map<string, { dma: DmaAddr; page: Pfn | null; va: VirtAddr | null }>();
    const got: string[] = [];
    const want: string[] = [];
    for (const line of readFileSync(TRACE, 'utf8').split('\n')) {
      const m = LINE.exec(line);
      if (m === null) continue;
      const [, cpu, t, ev, dir, dmaHex, sizeStr, physHex] = m as unknown as string[];
      k.machine.runOn(Number(cpu));
      const at = Math.round(Number(t) * 1e9);
      if (at > k.machine.clock.now) k.machine.clock.run(at);
      const size = Number(sizeStr);
      if (ev === 'dma_map_page') {
        const page = k.pages.allocPages(GFP_KERNEL, 1)!;
        const off = parseInt(physHex!, 16) % 4096;
        const dma = k.dma.dmaMapPage(dev, page, off, size, DIRS[dir!]!);
        live.set(dmaHex!, { dma, page, va: null });
        got.push(dma.toString(16));
        want.push(dmaHex!);
      } else if (ev === 'dma_alloc') {
        const h: DmaHandle = { dma: 0 as DmaAddr };
        const va = k.dma.dmaAllocCoherent(dev, size, h, GFP_KERNEL);
        live.set(dmaHex!, { dma: h.dma, page: null, va });
        got.push(h.dma.toString(16));
        want.push(dmaHex!);
      } else {
        const b = live.get(dmaHex!);
        if (b === undefined) throw new Error(`trace B: ${ev} of ${dmaHex!} with no map`);
        live.delete(dmaHex!);
        if (ev === 'dma_free') k.dma.dmaFreeCoherent(dev, size, b.va, b.dma);
        else {
          k.dma.dmaUnmapPage(dev, b.dma, size, DIRS[dir!]!);
          k.pages.freePagesPage(b.page!, 1);
        }
      }
    }
    expect(want.length).toBeGreaterThan(800);
    expect(got).toEqual(want);
    expect(live.size).toBe(0);
  });
});
