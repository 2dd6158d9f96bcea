import { describe, expect, it } from 'vitest';
import type { DmaAddr } from '../../../src/lib/addr.js';
import { MIB } from '../../../src/lib/units.js';
import type { DmaHandle } from '../../../src/kernel/dma/mapping.js';
import { traceEventFields } from '../../../src/kernel/dma/trace.js';
import { GFP_DMA, GFP_KERNEL, __GFP_COMP } from '../../../src/kernel/mm/gfp.js';
import type { MachineConfig } from '../../../src/machine/machine.js';
import { pciRig } from './rig.js';

function rig(machine: MachineConfig, coherent?: boolean) {
  const { k, dev, port } = pciRig(machine, '', coherent);
  return { k, dev, port, readByDevice: (bus: number): number => port.readU32(bus) };
}

const handle = (): DmaHandle => ({ dma: 0 as DmaAddr });

describe('dma_alloc_coherent', () => {
  it('on x86 returns zeroed linear-map memory and the physical address as the handle', () => {
    const { k, dev } = rig({});
    const h = handle();
    const trace: string[] = [];
    k.dmaTrace.subscribe((e) => trace.push(`${e.event}: ${traceEventFields(e)}`));
    const ring = k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL)!;
    expect(k.vm.isVmallocAddr(ring)).toBe(false);
    expect(k.vm.virtToPhys(ring)).toBe(h.dma);
    expect(h.dma).toBeLessThan(2 ** 32); // the coherent mask is 32 bits by default
    expect(k.vm.readU32(ring)).toBe(0);
    k.dma.dmaFreeCoherent(dev, 4096, ring, h.dma);
    const hx = h.dma.toString(16);
    const va = k.vm.format(ring);
    expect(trace).toEqual([
      `dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=${hx} size=4096 virt_addr=${va} flags=GFP_KERNEL attrs=`,
      `dma_free: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=${hx} size=4096 virt_addr=${va} attrs=`,
    ]);
  });

  it('honours a 24-bit coherent mask with memory below 16 MiB, whatever zone the caller asked', () => {
    const { k, dev } = rig({ ramSize: 256 * MIB });
    dev.coherentDmaMask = (1n << 24n) - 1n;
    const h = handle();
    expect(k.dma.dmaAllocCoherent(dev, 8192, h, GFP_KERNEL)).not.toBeNull();
    expect(h.dma + 8192).toBeLessThanOrEqual(16 * MIB);
  });

  it('on a non-coherent arm64 device remaps the pages Normal non-cacheable after flushing them', () => {
    const { k, dev, readByDevice } = rig({ arch: 'arm64' }, false);
    const h = handle();
    const ring = k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL)!;
    expect(k.vm.isVmallocAddr(ring)).toBe(true);
    expect(k.machine.cache.state(h.dma).present).toBe(false); // no cached alias left
    k.vm.writeU32(ring, 0xfeed);
    expect(readByDevice(h.dma)).toBe(0); // Normal-NC gathers stores, like write-combining
    k.machine.cpu.dmaWmb();
    expect(readByDevice(h.dma)).toBe(0xfeed);
    k.dma.dmaFreeCoherent(dev, 4096, ring, h.dma);
    expect(k.vm.resolve(ring)).toBe(-1);
  });

  it('shows the seed difference on arm32: coherent stores reach memory at once, wc ones wait for a barrier', () => {
    const { k, dev, readByDevice } = rig({ arch: 'arm32' }, false);
    const hc = handle();
    const hw = handle();
    const coherent = k.dma.dmaAllocCoherent(dev, 4096, hc, GFP_KERNEL)!;
    const wc = k.dma.dmaAllocWc(dev, 4096, hw, GFP_KERNEL)!;
    k.machine.cpu.wmb(); // the zeroing of both buffers is done
    k.vm.writeU32(coherent, 1);
    k.vm.writeU32(wc, 2);
    expect([readByDevice(hc.dma), readByDevice(hw.dma)]).toEqual([1, 0]);
    k.machine.cpu.wmb();
    expect(readByDevice(hw.dma)).toBe(2);
  });

  it('refuses __GFP_COMP with the kernel warning and traces a NULL free as the real nvme unload does', () => {
    const { k, dev } = rig({});
    expect(k.dma.dmaAllocCoherent(dev, 4096, handle(), GFP_KERNEL | __GFP_COMP)).toBeNull();
    expect(k.log.all.at(-2)?.text).toBe('pci 0000:00:01.0: dma_alloc_attrs with __GFP_COMP');
    const trace: string[] = [];
    k.dmaTrace.subscribe((e) => trace.push(traceEventFields(e)));
    k.dma.dmaFreeCoherent(dev, 0, null, 0 as DmaAddr);
    expect(trace).toEqual([
      '0000:00:01.0 dir=BIDIRECTIONAL dma_addr=0 size=0 virt_addr=0000000000000000 attrs=',
    ]);
  });

  it('gives the pages back on free', () => {
    const { k, dev } = rig({ ramSize: 256 * MIB });
    k.pages.drainAllPages(); // count what sits on the per-CPU lists too
    const before = k.pages.nrFreePages();
    const bufs = Array.from({ length: 20 }, () => {
      const h = handle();
      return { h, va: k.dma.dmaAllocCoherent(dev, 3 * 4096, h, GFP_DMA)! };
    });
    for (const b of bufs) k.dma.dmaFreeCoherent(dev, 3 * 4096, b.va, b.h.dma);
    k.pages.drainAllPages();
    expect(k.pages.nrFreePages()).toBe(before);
  });
});
