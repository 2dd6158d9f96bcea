import { describe, expect, it } from 'vitest';
import type { DmaAddr } from '../../../src/lib/addr.js';
import { ConfigError } from '../../../src/lib/errors.js';
import { GIB, MIB } from '../../../src/lib/units.js';
import { Cma } from '../../../src/kernel/dma/contiguous.js';
import type { DmaHandle } from '../../../src/kernel/dma/mapping.js';
import { Kernel } from '../../../src/kernel/kernel.js';
import { GFP_ATOMIC, GFP_KERNEL, __GFP_NOWARN } from '../../../src/kernel/mm/gfp.js';
import { pfn } from '../../../src/kernel/mm/page.js';
import { KernelLog } from '../../../src/kernel/printk.js';
import { Clock } from '../../../src/machine/clock/clock.js';
import { Machine } from '../../../src/machine/machine.js';
import { pciRig } from './rig.js';

const handle = (): DmaHandle => ({ dma: 0 as DmaAddr });
const U64 = (1n << 64n) - 1n;

describe('CMA (kernel/dma/contiguous.c)', () => {
  // 8 GiB PC, cma=64M: the area sits at 4 GiB; the 1 MiB GFP_KERNEL atomic pool took its first
  // 256 pages at boot (cma_in_zone), so device allocations start at 0x100100000.
  const pc = (): ReturnType<typeof pciRig> => pciRig({ ramSize: 8 * GIB }, 'cma=64M');

  it('reserves the cma= area at boot with the kernel message', () => {
    const { k } = pc();
    expect(k.log.all.map((l) => l.text)).toContain(
      'cma: Reserved 64 MiB at 0x0000000100000000 on node -1',
    );
    expect(k.cma.defaultArea?.base).toBe(4 * GIB);
    expect(k.cma.defaultArea?.size).toBe(64 * MIB);
    expect(k.atomicPools?.poolSizeKernel).toBe(MIB);
  });

  it('serves blocking multi-page coherent allocations from CMA, aligned to their order', () => {
    const { k, dev } = pc();
    dev.coherentDmaMask = U64;
    const a = handle();
    const b = handle();
    const va = k.dma.dmaAllocCoherent(dev, 5 * 4096, a, GFP_KERNEL)!;
    k.dma.dmaAllocCoherent(dev, 3 * 4096, b, GFP_KERNEL);
    expect(a.dma).toBe(0x1_0010_0000); // order 3: 8-page aligned
    expect(b.dma).toBe(0x1_0010_8000); // order 2: past the first run, 4-page aligned
    expect(k.vm.readU32(va)).toBe(0); // zeroed like any dma-direct allocation
    k.dma.dmaFreeCoherent(dev, 5 * 4096, va, a.dma);
    const c = handle();
    k.dma.dmaAllocCoherent(dev, 2 * 4096, c, GFP_KERNEL);
    expect(c.dma).toBe(0x1_0010_0000); // the freed run went back to the area's bitmap
  });

  it('skips CMA for one page and for callers that cannot sleep', () => {
    const { k, dev } = pc();
    dev.coherentDmaMask = U64;
    const one = handle();
    const atomic = handle();
    k.dma.dmaAllocCoherent(dev, 4096, one, GFP_KERNEL);
    k.dma.dmaAllocCoherent(dev, 4 * 4096, atomic, GFP_ATOMIC);
    const inCma = (d: number): boolean => d >= 4 * GIB && d < 4 * GIB + 64 * MIB;
    expect(inCma(one.dma)).toBe(false);
    expect(inCma(atomic.dma)).toBe(false);
  });

  it('gives CMA pages back when the device cannot reach them and uses the buddy allocator', () => {
    const { k, dev } = pc(); // coherent mask: 32 bits, the area is above 4 GiB
    const h = handle();
    k.dma.dmaAllocCoherent(dev, 5 * 4096, h, GFP_KERNEL);
    expect(h.dma + 5 * 4096).toBeLessThanOrEqual(4 * GIB);
    dev.coherentDmaMask = U64;
    const again = handle();
    k.dma.dmaAllocCoherent(dev, 5 * 4096, again, GFP_KERNEL);
    expect(again.dma).toBe(0x1_0010_0000); // the rejected run was released
  });

  it('falls back to the page allocator when the area is full, printing cma_alloc failure', () => {
    const { k, dev } = pciRig({}, 'cma=4M'); // 1 GiB PC; the 128 KiB pool holds the first 32 pages
    const before = k.log.all.length;
    const h = handle();
    expect(k.dma.dmaAllocCoherent(dev, 4 * MIB, h, GFP_KERNEL)).not.toBeNull();
    const area = k.cma.defaultArea!;
    expect(h.dma < area.base || h.dma >= area.base + area.size).toBe(true);
    expect(k.log.all.slice(before).map((l) => l.text)).toEqual([
      'cma: cma_alloc: reserved: alloc failed, req-size: 1024 pages, ret: -12',
    ]);
    const quiet = k.log.all.length;
    k.dma.dmaAllocCoherent(dev, 4 * MIB, handle(), GFP_KERNEL | __GFP_NOWARN);
    expect(k.log.all.slice(quiet).some((l) => l.text.startsWith('cma:'))).toBe(false);
  });

  it('uses a device-tree linux,cma-default node as the default area', () => {
    const k = new Kernel(new Machine({ arch: 'arm64', ramSize: 256 * MIB }), {
      reservedMemory: [
        {
          name: 'linux,cma',
          compatible: 'shared-dma-pool',
          reusable: true,
          size: 16 * MIB,
          'linux,cma-default': true,
        },
      ],
    });
    const area = k.cma.defaultArea!;
    expect(area.name).toBe('linux,cma');
    expect(k.log.all.map((l) => l.text)).toContain(
      `Reserved memory: created CMA memory pool at 0x${area.base.toString(16).padStart(16, '0')}, size 16 MiB`,
    );
  });

  it('aligns cma_alloc to absolute page frame numbers, not to the area start', () => {
    const cma = new Cma('t', 0x100_3000, 64 * 4096, 4096, new KernelLog(new Clock()));
    expect(cma.alloc(1, 0, false)).toBe(0x1003);
    expect(cma.alloc(4, 2, false)).toBe(0x1004); // pfn multiple of 4
    expect(cma.alloc(8, 3, false)).toBe(0x1008);
    expect(cma.release(pfn(0x1004), 4)).toBe(true);
    expect(cma.release(pfn(0x2000), 1)).toBe(false); // not this area's
    expect(cma.alloc(2, 1, false)).toBe(0x1004);
  });

  it('refuses a cma= larger than memory with a ConfigError', () => {
    expect(() => new Kernel(new Machine({ ramSize: GIB }), { cmdline: 'cma=2G' })).toThrow(
      ConfigError,
    );
    expect(() => new Kernel(new Machine({ ramSize: GIB }), { cmdline: 'cma=2G' })).toThrow(
      /cma=0x80000000: no free memory for the CMA area/,
    );
  });
});
