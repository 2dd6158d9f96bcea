import { describe, expect, it } from 'vitest';
import type { DmaAddr } from '../../../src/lib/addr.js';
import { MIB } from '../../../src/lib/units.js';
import { EIO } from '../../../src/kernel/errno.js';
import { SIZE_MAX } from '../../../src/kernel/dma/masks.js';
import { pciRig } from './rig.js';

const GIB = 1024 * MIB;
const bits = (n: number): bigint => (1n << BigInt(n)) - 1n;

describe('DMA masks on x86_64', () => {
  it('accept 64, 32 and 24 bits (ZONE_DMA) but not 20', () => {
    const { k, dev } = pciRig({ ramSize: 8 * GIB });
    expect(k.dma.dmaSetMaskAndCoherent(dev, bits(64))).toBe(0);
    expect(k.dma.dmaGetMask(dev)).toBe(bits(64)); // exact, beyond 2^53
    expect(k.dma.dmaSetMask(dev, bits(32))).toBe(0);
    expect(k.dma.dmaSetMask(dev, bits(24))).toBe(0);
    expect(k.dma.dmaSetMask(dev, bits(20))).toBe(-EIO);
    expect(k.dma.dmaGetMask(dev)).toBe(bits(24)); // unchanged by the refused call
    expect(dev.coherentDmaMask).toBe(bits(64));
  });

  it('need 34 bits for 8 GiB of RAM: a 32-bit device is addressing-limited and bounces', () => {
    const { k, dev } = pciRig({ ramSize: 8 * GIB });
    expect(k.dma.dmaGetRequiredMask(dev)).toBe(bits(34)); // RAM ends at 9 GiB (the PC hole)
    expect(k.dma.dmaAddressingLimited(dev)).toBe(true);
    expect(k.dma.dmaMaxMappingSize(dev)).toBe(256 * 1024);
    k.dma.dmaSetMask(dev, bits(64));
    expect(k.dma.dmaAddressingLimited(dev)).toBe(false);
    expect(k.dma.dmaMaxMappingSize(dev)).toBe(SIZE_MAX);
  });

  it('report the cache alignment of the profile', () => {
    expect(pciRig({}).k.dma.dmaGetCacheAlignment()).toBe(1);
    expect(pciRig({ arch: 'arm64' }).k.dma.dmaGetCacheAlignment()).toBe(128);
  });
});

describe('the legacy names of the seed documents', () => {
  it('pci_alloc_consistent and dma_alloc_writecombine work as their modern forms', () => {
    const { k, dev } = pciRig({ ramSize: 256 * MIB });
    const h = { dma: 0 as DmaAddr };
    const v = k.dma.pciAllocConsistent(dev, 4096, h)!;
    expect(k.vm.virtToPhys(v)).toBe(h.dma);
    k.dma.pciFreeConsistent(dev, 4096, v, h.dma);
    const w = k.dma.dmaAllocWritecombine(dev, 4096, h, 0)!;
    expect(w).not.toBeNull();
    k.dma.dmaFreeWritecombine(dev, 4096, w, h.dma);
  });

  it('dma_set_max_seg_size, seg_boundary and min_align_mask land in dma_parms', () => {
    const { k, dev } = pciRig({});
    k.dma.dmaSetMaxSegSize(dev, 1 << 20);
    k.dma.dmaSetSegBoundary(dev, bits(32));
    k.dma.dmaSetMinAlignMask(dev, 0xfff);
    expect(dev.dmaParms).toEqual({
      maxSegmentSize: 1 << 20,
      segmentBoundaryMask: bits(32),
      minAlignMask: 0xfff,
    });
  });
});
