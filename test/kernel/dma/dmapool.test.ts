/**
 * dma_pool on a booted kernel: chunks come from dma_alloc_coherent of the pool's device, so the
 * blocks carry the device's bus addresses (IOVAs behind an IOMMU) and the memory type of its
 * coherent memory (an uncached alias on non-coherent Arm).
 */
import { describe, expect, it } from 'vitest';
import { U64_MAX } from '../../../src/kernel/device/dma-mask.js';
import {
  dmaPoolAlloc,
  dmaPoolCreate,
  dmaPoolDestroy,
  dmaPoolFree,
  poolsShow,
} from '../../../src/kernel/mm/dmapool.js';
import type { DmaHandle } from '../../../src/kernel/mm/dmapool.js';
import { GFP_KERNEL } from '../../../src/kernel/mm/gfp.js';
import type { DmaAddr, VirtAddr } from '../../../src/lib/addr.js';
import { pciRig } from './rig.js';

function handle(): DmaHandle {
  return { dma: 0 as DmaAddr };
}

describe('dma_pool over dma_alloc_coherent', () => {
  it('behind the IOMMU: blocks are IOVAs of one chunk, 256 apart, then a new chunk', () => {
    const { k, dev, port } = pciRig({ iommu: true }, 'intel_iommu=on iommu.strict=1');
    expect(k.dma.dmaSetMaskAndCoherent(dev, U64_MAX)).toBe(0);
    const pool = dmaPoolCreate(k.dmaPools, 'prp list 256', dev, 256, 256, 0)!;
    const blocks: [VirtAddr, DmaAddr][] = [];
    for (let i = 0; i < 17; i++) {
      const h = handle();
      blocks.push([dmaPoolAlloc(pool, GFP_KERNEL, h)!, h.dma]);
    }
    expect(blocks.slice(0, 16).map(([, d]) => d - 0xfffff000)).toEqual(
      Array.from({ length: 16 }, (_, i) => i * 256),
    );
    expect(blocks[16]![1]).toBe(0xffffe000);
    const [va, dma] = blocks[3]!;
    port.write(dma + 5, Uint8Array.of(0x42), 0, 1);
    expect(k.vm.readU8((va + 5) as VirtAddr)).toBe(0x42);
    expect(poolsShow(k.dmaPools, dev)).toBe('poolinfo - 0.1\nprp list 256       17   32  256  2\n');
  });

  it('no block crosses its boundary, and a freed block is the next one handed out', () => {
    const { k, dev } = pciRig({});
    const pool = dmaPoolCreate(k.dmaPools, 'desc', dev, 96, 32, 256)!;
    const dmas: number[] = [];
    for (let i = 0; i < 60; i++) {
      const h = handle();
      dmaPoolAlloc(pool, GFP_KERNEL, h);
      dmas.push(h.dma);
    }
    for (const d of dmas) {
      expect(d % 32).toBe(0);
      expect(Math.floor(d / 256)).toBe(Math.floor((d + 95) / 256));
    }
    const h = handle();
    const va = k.vm.busToVirt(dmas[7]! as DmaAddr);
    dmaPoolFree(pool, va, dmas[7]! as DmaAddr);
    dmaPoolAlloc(pool, GFP_KERNEL, h);
    expect(h.dma).toBe(dmas[7]);
  });

  it('on a non-coherent arm64 device the blocks are coherent: no sync needed either way', () => {
    const { k, dev, port } = pciRig({ arch: 'arm64' }, '', false);
    const pool = dmaPoolCreate(k.dmaPools, 'ring', dev, 64, 64, 0)!;
    const h = handle();
    const va = dmaPoolAlloc(pool, GFP_KERNEL, h)!;
    expect(k.vm.isVmallocAddr(va)).toBe(true); // the uncached alias of dma_alloc_coherent
    k.vm.writeU32(va, 0xdeadbeef);
    k.machine.cpu.wmb();
    const b = new Uint8Array(4);
    port.read(h.dma, b, 0, 4);
    expect([...b]).toEqual([0xef, 0xbe, 0xad, 0xde]);
  });

  it('destroying a pool with live blocks says so and frees the chunks', () => {
    const { k, dev } = pciRig({});
    const pool = dmaPoolCreate(k.dmaPools, 'busy one', dev, 128, 0, 0)!;
    dmaPoolAlloc(pool, GFP_KERNEL, handle());
    dmaPoolDestroy(pool);
    expect(k.log.dmesg()).toContain('pci 0000:00:01.0: dma_pool_destroy busy one busy');
    expect(poolsShow(k.dmaPools, dev)).toBeNull();
  });
});
