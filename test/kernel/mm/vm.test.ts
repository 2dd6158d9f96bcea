import { describe, expect, it } from 'vitest';
import type { PhysAddr } from '../../../src/lib/addr.js';
import { MemAttr } from '../../../src/machine/memory/attr.js';
import { MEMREMAP_WB, MEMREMAP_WC } from '../../../src/kernel/mm/vmap.js';
import { MIB } from '../../../src/lib/units.js';
import { vmFixture } from './vm-fixture.js';

describe('the linear map', () => {
  it.each([
    ['x86_64', 0x1000, 'ffff888000001000'],
    ['arm64', 0x4000_1000, 'ffff000000001000'],
    ['arm32', 0x6000_1000, 'c0001000'],
    ['prep', 0, 'c0000000'],
  ] as const)('on %s maps physical %i to %s and back', (arch, phys, text) => {
    const { vm } = vmFixture({ arch });
    const va = vm.linear.physToVirt(phys);
    expect(vm.format(va)).toBe(text);
    expect(vm.virtToPhys(va)).toBe(phys);
    expect(vm.virtAddrValid(va)).toBe(true);
  });

  it('gives PReP its triple: physical 0, virtual 0xC0000000, bus 0x80000000', () => {
    const { vm, va } = vmFixture({ arch: 'prep' });
    const v = va(0xc000_0000n);
    expect(vm.virtToPhys(v)).toBe(0);
    expect(vm.virtToBus(v)).toBe(0x8000_0000);
    expect(vm.busToVirt(vm.virtToBus(v))).toBe(v);
  });

  it('has no linear address for arm32 highmem', () => {
    const { vm } = vmFixture({ arch: 'arm32' });
    expect(vm.linear.isLowmem(0x6000_0000 + 759 * 2 ** 20)).toBe(true);
    expect(vm.linear.isLowmem(0x6000_0000 + 760 * 2 ** 20)).toBe(false);
    expect(() => vm.linear.physToVirt(0x6000_0000 + 800 * 2 ** 20)).toThrow(/not lowmem/);
  });

  it('reads and writes through the cache like any kernel pointer', () => {
    const { m, vm } = vmFixture({ arch: 'arm64' });
    const va = vm.linear.physToVirt(0x4010_0000);
    vm.writeU32(va, 0xdeadbeef);
    m.cpu.wmb();
    expect(m.cache.state(0x4010_0000).dirty).toBe(true);
    expect(vm.readU32(va)).toBe(0xdeadbeef);
  });
});

describe('vmalloc', () => {
  it('hands out the lowest free range with a guard page after each area', () => {
    const { vm, vmap } = vmFixture();
    const a = vmap.vmalloc(8192)!;
    const b = vmap.vmalloc(100)!;
    expect(vm.format(a)).toBe('ffffc90000000000');
    expect(vm.format(b)).toBe('ffffc90000003000'); // 2 pages + 1 guard page
    vmap.vfree(a);
    expect(vm.format(vmap.vmalloc(4096)!)).toBe('ffffc90000000000'); // the hole is reused
    expect(vm.isVmallocAddr(b)).toBe(true);
    expect(vm.isVmallocAddr(vm.linear.physToVirt(0x1000))).toBe(false);
  });

  it('maps scattered pages contiguously and vfree returns them', () => {
    const { vm, vmap, freed } = vmFixture();
    const va = vmap.vmalloc(3 * 4096)!;
    const bytes = Uint8Array.from({ length: 3 * 4096 }, (_, i) => i & 0xff);
    vm.write(va, bytes, 0, bytes.length);
    const back = new Uint8Array(bytes.length);
    vm.read(va, back, 0, back.length);
    expect(back).toEqual(bytes);
    expect(vm.virtToPhys((va + 4096 + 5) as typeof va)).toBe(0x0200_1000 + 5);
    vmap.vfree(va);
    expect(freed).toEqual([0x0200_0000, 0x0200_1000, 0x0200_2000]);
    expect(() => vm.readU8(va)).toThrow(
      'BUG: unable to handle page fault for address: ffffc90000000000',
    );
  });

  it('vmap maps pages with the asked attribute: a WC mapping hides stores until a barrier', () => {
    const { m, vm, vmap } = vmFixture({ arch: 'x86_64' });
    const port = m.bus.attach({ name: 'dev', coherent: true });
    const pages = [0x30_0000, 0x10_0000].map((p) => p as PhysAddr);
    const va = vmap.vmap(pages, MemAttr.WC)!;
    vm.writeU32((va + 4096) as typeof va, 0x11223344);
    expect(port.readU32(0x10_0000)).toBe(0);
    m.cpu.wmb();
    expect(port.readU32(0x10_0000)).toBe(0x11223344);
    vmap.vunmap(va);
    expect(vm.resolve(va)).toBe(-1);
  });

  it('reports freeing what was never allocated, in the kernel wording', () => {
    const { vmap, log, va } = vmFixture();
    vmap.vfree(va(0xffffc90000005000n));
    expect(log.all.map((l) => l.text)).toEqual([
      'Trying to vfree() nonexistent vm area (ffffc90000005000)',
    ]);
  });
});

describe('ioremap and memremap', () => {
  it('maps a device window uncached, so readl through it reaches the registers', () => {
    const { m, vm, vmap } = vmFixture();
    m.addMmio(0xfebc_0000, 0x2_0000, 'e1000', {
      read: (off) => (off === 8 ? 0x80080783 : 0),
      write: () => undefined,
    });
    const regs = vmap.ioremap(0xfebc_0000, 0x2_0000)!;
    expect(vm.readU32((regs + 8) as typeof regs)).toBe(0x80080783);
    vmap.iounmap(regs);
  });

  it('refuses RAM the kernel manages and maps the RAM that mem= left out (the seed example)', () => {
    const { m, vm, vmap, log } = vmFixture({ ramSize: 64 * MIB }, 62 * MIB);
    expect(vmap.ioremap(0x10_0000, 4096)).toBeNull();
    expect(log.all[0]?.text).toBe('ioremap on RAM at 0x100000 - 0x100fff');
    const top = vmap.ioremap(62 * MIB, 2 * MIB)!;
    vm.writeU32(top, 0xfeedface);
    expect(m.ram.residentBytes).toBeGreaterThan(0);
    const port = m.bus.attach({ name: 'd', coherent: false });
    expect(port.readU32(62 * MIB)).toBe(0xfeedface); // uncached: straight to RAM
  });

  it('memremap WB of kernel RAM is the linear address; WC of other memory is a new mapping', () => {
    const { vm, vmap } = vmFixture({ ramSize: 64 * MIB }, 62 * MIB);
    expect(vmap.memremap(0x10_0000, 4096, MEMREMAP_WB)).toBe(vm.linear.physToVirt(0x10_0000));
    const wc = vmap.memremap(63 * MIB + 0x10, 64, MEMREMAP_WC)!;
    expect(vm.virtToPhys(wc)).toBe(63 * MIB + 0x10);
    expect(vm.isVmallocAddr(wc)).toBe(true);
    expect(vmap.memremap(0, 1, 0)).toBeNull();
  });
});

describe('the kernel image', () => {
  it('is a region of its own on 64-bit profiles and inside the linear map on 32-bit ones', () => {
    const x86 = vmFixture({ arch: 'x86_64' });
    expect(x86.vm.format(x86.vm.imageStart)).toBe('ffffffff81000000');
    expect(x86.vm.virtToPhys(x86.vm.imageStart)).toBe(0x100_0000);
    expect(x86.vm.isKernelImage(x86.vm.imageStart)).toBe(true);
    const arm = vmFixture({ arch: 'arm32' });
    expect(arm.vm.format(arm.vm.imageStart)).toBe('c0008000');
    expect(arm.vm.isKernelImage(arm.vm.linear.physToVirt(0x6000_8000))).toBe(true);
  });
});
