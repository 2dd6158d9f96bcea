import { describe, expect, it } from 'vitest';
import type { DmaAddr } from '../../../src/lib/addr.js';
import { GIB, KIB, MIB } from '../../../src/lib/units.js';
import type { DmaHandle } from '../../../src/kernel/dma/mapping.js';
import { parseCmdline } from '../../../src/kernel/cmdline.js';
import { Kernel } from '../../../src/kernel/kernel.js';
import { GFP_ATOMIC, __GFP_DIRECT_RECLAIM } from '../../../src/kernel/mm/gfp.js';
import { Machine } from '../../../src/machine/machine.js';
import { pciRig } from './rig.js';

const handle = (): DmaHandle => ({ dma: 0 as DmaAddr });
const poolLines = (k: Kernel): string[] =>
  k.log.all.map((l) => l.text).filter((t) => t.startsWith('DMA: '));

/** A non-coherent device on a 1 GiB arm64 board (coherent mask 32 bits: the GFP_DMA pool). */
function arm64(cmdline = ''): ReturnType<typeof pciRig> {
  return pciRig({ arch: 'arm64', ramSize: GIB }, cmdline, false);
}

describe('atomic pools (kernel/dma/pool.c)', () => {
  it('preallocates one pool per zone at boot, 128 KiB per GiB of RAM, at least 128 KiB', () => {
    const { k } = arm64();
    expect(poolLines(k)).toEqual([
      'DMA: preallocated 128 KiB GFP_KERNEL pool for atomic allocations',
      'DMA: preallocated 128 KiB GFP_KERNEL|GFP_DMA pool for atomic allocations',
      'DMA: preallocated 128 KiB GFP_KERNEL|GFP_DMA32 pool for atomic allocations',
    ]);
    const p = k.atomicPools!;
    expect([p.poolSizeKernel, p.poolSizeDma, p.poolSizeDma32]).toEqual([
      128 * KIB,
      128 * KIB,
      128 * KIB,
    ]);
    // 2 GiB: totalram / 8192 is 63 pages (reserved memory is not RAM), a 256 KiB order-6 block.
    const big = new Kernel(new Machine({ arch: 'arm64', ramSize: 2 * GIB }));
    expect(big.atomicPools?.poolSizeKernel).toBe(256 * KIB);
  });

  it('takes coherent_pool=, capped at one MAX_PAGE_ORDER block', () => {
    expect(poolLines(arm64('coherent_pool=1M').k)[0]).toBe(
      'DMA: preallocated 1024 KiB GFP_KERNEL pool for atomic allocations',
    );
    expect(arm64('coherent_pool=64M').k.atomicPools?.poolSizeKernel).toBe(4 * MIB);
    expect(parseCmdline('coherent-pool=0x40000').coherentPool).toBe(256 * KIB);
    expect(() => parseCmdline('coherent_pool=big')).toThrow(/coherent_pool=big: expected a size/);
  });

  it('has only the zones the profile has, and no pools on PReP', () => {
    const arm32 = new Kernel(new Machine({ arch: 'arm32', ramSize: 512 * MIB }));
    expect(poolLines(arm32)).toEqual([
      'DMA: preallocated 128 KiB GFP_KERNEL pool for atomic allocations',
    ]);
    const prep = new Kernel(new Machine({ arch: 'prep', ramSize: 256 * MIB }));
    expect(prep.atomicPools).toBeNull();
    expect(poolLines(prep)).toEqual([]);
  });

  it('serves GFP_ATOMIC for a non-coherent device from the pool, first fit and order-aligned', () => {
    const { k, dev, port } = arm64();
    k.pages.drainAllPages();
    const free = k.pages.nrFreePages();
    const h1 = handle();
    const h2 = handle();
    const h3 = handle();
    const va1 = k.dma.dmaAllocCoherent(dev, 4096, h1, GFP_ATOMIC)!;
    const va2 = k.dma.dmaAllocCoherent(dev, 8192, h2, GFP_ATOMIC)!;
    const va3 = k.dma.dmaAllocCoherent(dev, 4096, h3, GFP_ATOMIC)!;
    expect(k.pages.nrFreePages()).toBe(free); // no page left the page allocator
    expect(k.vm.isVmallocAddr(va1)).toBe(true); // the pool's uncached remap
    expect(h2.dma - h1.dma).toBe(2 * 4096); // 2 pages: aligned to 2, page 1 skipped
    expect(h3.dma - h1.dma).toBe(4096); // first fit fills the hole
    expect([va2 - va1, va3 - va1]).toEqual([2 * 4096, 4096]);
    expect(k.machine.cache.state(h1.dma).present).toBe(false);
    k.vm.writeU32(va1, 0xc0ffee);
    k.machine.cpu.dmaWmb();
    expect(port.readU32(h1.dma)).toBe(0xc0ffee); // Normal non-cacheable: the device sees it
    k.dma.dmaFreeCoherent(dev, 4096, va1, h1.dma);
    const again = handle();
    expect(k.dma.dmaAllocCoherent(dev, 4096, again, GFP_ATOMIC)).toBe(va1);
    expect(again.dma).toBe(h1.dma);
    expect(k.vm.readU32(va1)).toBe(0); // zeroed again
    expect(k.pages.nrFreePages()).toBe(free);
  });

  it('grows a pool in a work item once its free space drops below the pool size', () => {
    const { k, dev } = arm64();
    k.dma.dmaAllocCoherent(dev, 4096, handle(), GFP_ATOMIC);
    const p = k.atomicPools!;
    expect(p.poolSizeDma).toBe(128 * KIB); // the work item has not run yet
    expect(k.machine.clock.pending).toBe(1);
    k.dma.dmaAllocCoherent(dev, 4096, handle(), GFP_ATOMIC);
    expect(k.machine.clock.pending).toBe(1); // already queued
    k.machine.clock.run();
    expect([p.poolSizeDma, p.poolSizeDma32, p.poolSizeKernel]).toEqual([
      256 * KIB,
      128 * KIB,
      128 * KIB,
    ]);
  });

  it('WARNs when no pool can serve the request, and succeeds after the pool grew', () => {
    const { k, dev } = arm64();
    const h = handle();
    expect(k.dma.dmaAllocCoherent(dev, 128 * KIB, h, GFP_ATOMIC)).not.toBeNull();
    const before = k.log.all.length;
    expect(k.dma.dmaAllocCoherent(dev, 4096, handle(), GFP_ATOMIC)).toBeNull();
    expect(k.log.all.slice(before, before + 2).map((l) => l.text)).toEqual([
      'Failed to get suitable pool for 0000:00:01.0',
      'WARNING: CPU: 0 PID: 0 at kernel/dma/pool.c dma_alloc_from_pool',
    ]);
    k.machine.clock.run();
    expect(k.dma.dmaAllocCoherent(dev, 4096, handle(), GFP_ATOMIC)).not.toBeNull();
  });

  it('rejects pool memory beyond the coherent mask (phys_addr_ok) and gives it back', () => {
    const { k, dev } = arm64();
    dev.coherentDmaMask = (1n << 30n) - 1n; // below the RAM at 1 GiB: no pool fits
    expect(k.dma.dmaAllocCoherent(dev, 4096, handle(), GFP_ATOMIC)).toBeNull();
    expect(k.log.all.map((l) => l.text)).toContain('Failed to get suitable pool for 0000:00:01.0');
    dev.coherentDmaMask = (1n << 32n) - 1n;
    const first = handle();
    const second = handle();
    k.dma.dmaAllocCoherent(dev, 4096, first, GFP_ATOMIC);
    k.dma.dmaAllocCoherent(dev, 4096, second, GFP_ATOMIC);
    expect(second.dma - first.dma).toBe(4096); // the rejected page was freed: first is page 0
  });

  it('leaves blocking allocations and coherent devices to the page allocator', () => {
    const { k, dev } = arm64();
    k.pages.drainAllPages();
    const free = k.pages.nrFreePages();
    const h = handle();
    const va = k.dma.dmaAllocCoherent(dev, 4096, h, GFP_ATOMIC | __GFP_DIRECT_RECLAIM)!;
    k.pages.drainAllPages();
    expect(k.pages.nrFreePages()).toBe(free - 1);
    k.dma.dmaFreeCoherent(dev, 4096, va, h.dma);
    const coherent = arm64();
    coherent.dev.dmaCoherent = true;
    const hc = handle();
    const vc = coherent.k.dma.dmaAllocCoherent(coherent.dev, 4096, hc, GFP_ATOMIC)!;
    expect(coherent.k.vm.isVmallocAddr(vc)).toBe(false); // linear map, not the pool's remap
  });
});
