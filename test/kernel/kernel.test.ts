import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel.js';
import { GFP_DMA, GFP_KERNEL, __GFP_HIGHMEM } from '../../src/kernel/mm/gfp.js';
import { MIB } from '../../src/lib/units.js';
import { MemAttr } from '../../src/machine/memory/attr.js';
import { Machine } from '../../src/machine/machine.js';
import { ARCH_NAMES } from '../../src/machine/profile.js';

describe.each(ARCH_NAMES)('booting the kernel on %s', (arch) => {
  it('puts the stacks where the arch keeps them and hands out pages from its RAM', () => {
    const k = new Kernel(new Machine({ arch, ramSize: 256 * MIB }));
    const stack = k.stacks.base(1);
    expect(k.stacks.objectIsOnStack((stack + 100) as typeof stack, 1)).toBe(true);
    expect(k.stacks.objectIsOnStack((stack + 100) as typeof stack, 0)).toBe(false);
    expect(k.vm.isVmallocAddr(stack)).toBe(k.layout.vmapStack);
    const pfn = k.pages.allocPages(GFP_KERNEL, 0)!;
    const phys = k.pages.pageToPhys(pfn);
    expect(k.machine.physmap.ramExtent(phys)).toBeGreaterThan(0);
    expect(k.vm.isKernelImage(k.linear.physToVirt(phys))).toBe(false);
    const obj = k.kmalloc.kmalloc(100, GFP_KERNEL)!;
    k.vm.writeU32(obj, 0xcafe);
    expect(k.vm.readU32(obj)).toBe(0xcafe);
    expect(k.kmalloc.ksize(obj)).toBe(128);
    expect(k.vm.isVmallocAddr(obj)).toBe(false);
  });
});

describe('the kernel on x86_64', () => {
  it('serves GFP_DMA from below 16 MiB', () => {
    const k = new Kernel(new Machine({ ramSize: 256 * MIB }));
    const pfn = k.pages.allocPages(GFP_DMA, 0)!;
    expect(k.pages.pageToPhys(pfn)).toBeLessThan(16 * MIB);
  });

  it('with mem=62M on a 64 MiB machine leaves the top 2 MiB to ioremap (the seed example)', () => {
    const k = new Kernel(new Machine({ ramSize: 64 * MIB }), { cmdline: 'mem=62M' });
    expect(k.vmap.ioremap(62 * MIB - 4096, 4096)).toBeNull();
    const top = k.vmap.ioremap(62 * MIB, 2 * MIB)!;
    k.vm.writeU32(top, 0x12345678);
    expect(k.machine.cpu.readU32(62 * MIB, MemAttr.UNCACHED)).toBe(0x12345678);
  });
});

describe('the three address spaces through the kernel API', () => {
  it('follow the linear map: __pa/__va, virt_to_page, page_address, offset_in_page', () => {
    const k = new Kernel(new Machine({ arch: 'arm64', ramSize: 256 * MIB }));
    const pfn = k.pages.allocPages(GFP_KERNEL, 0)!;
    const va = k.pageAddress(pfn)!;
    const phys = k.pages.pageToPhys(pfn);
    expect(k.virtToPhys(va)).toBe(phys);
    expect(k.physToVirt(phys)).toBe(va);
    expect(k.vm.format(va)).toBe((0xffff000000000000n + BigInt(phys - 0x4000_0000)).toString(16));
    const inside = (va + 0x123) as typeof va;
    expect(k.virtToPage(inside)).toBe(pfn);
    expect(k.offsetInPage(inside)).toBe(0x123);
    expect(k.isVmallocAddr(inside)).toBe(false);
  });

  it('have no linear address for a highmem page on arm32', () => {
    const k = new Kernel(new Machine({ arch: 'arm32', ramSize: 1024 * MIB }));
    const pfn = k.pages.allocPages(GFP_KERNEL | __GFP_HIGHMEM, 0)!;
    expect(k.pages.pageToPhys(pfn)).toBeGreaterThanOrEqual(0x6000_0000 + 760 * MIB);
    expect(k.pageAddress(pfn)).toBeNull();
  });
});

describe('the SWIOTLB pool at boot', () => {
  it('is set up in low memory with swiotlb=force: 64 MiB, 2 areas for 2 CPUs', () => {
    const k = new Kernel(new Machine({ ramSize: 1024 * MIB }), { cmdline: 'swiotlb=force' });
    const pool = k.swiotlb!.defpool;
    expect(pool.nslabs).toBe(32768);
    expect(pool.areas.length).toBe(2);
    expect(pool.start + 64 * MIB).toBeLessThanOrEqual(1024 * MIB);
    expect(k.memblock.overlapsMemory(pool.start, 64 * MIB)).toBe(true);
    // the page allocator never hands out the pool's pages
    const zoneFree = k.pages.nrFreePages();
    expect(zoneFree * 4096).toBeLessThan((1024 - 64) * MIB);
  });

  it('exists on x86 only when RAM reaches above 4 GiB (or when forced)', () => {
    expect(new Kernel(new Machine({ ramSize: 1024 * MIB })).swiotlb).toBeNull();
    const big = new Kernel(new Machine({ ramSize: 8 * 1024 * MIB }));
    expect(big.swiotlb).not.toBeNull();
    expect(big.swiotlb!.defpool.start).toBeLessThan(4 * 1024 * MIB);
    expect(
      new Kernel(new Machine({ arch: 'arm32' }), { cmdline: 'swiotlb=noforce' }).swiotlb,
    ).toBeNull();
  });
});
