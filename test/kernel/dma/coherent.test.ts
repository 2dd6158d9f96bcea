import { describe, expect, it } from 'vitest';
import type { DmaAddr, VirtAddr } from '../../../src/lib/addr.js';
import { ConfigError } from '../../../src/lib/errors.js';
import { GIB, MIB } from '../../../src/lib/units.js';
import {
  dmaAllocFromDevCoherent,
  dmaReleaseFromDevCoherent,
} from '../../../src/kernel/dma/coherent.js';
import { physToDma } from '../../../src/kernel/device/dma-range.js';
import { EBUSY, EINVAL, ENODEV } from '../../../src/kernel/errno.js';
import { Kernel } from '../../../src/kernel/kernel.js';
import { Machine } from '../../../src/machine/machine.js';
import { pciRig } from './rig.js';

/** A 1 GiB PC booted with mem=960M: the top 64 MiB is RAM the kernel leaves alone. */
function pc(): ReturnType<typeof pciRig> {
  return pciRig({ ramSize: GIB }, 'mem=960M');
}

function alloc(dev: Parameters<typeof dmaAllocFromDevCoherent>[0], size: number) {
  const handle = { dma: 0 as DmaAddr };
  const ret: { vaddr: VirtAddr | null } = { vaddr: null };
  const has = dmaAllocFromDevCoherent(dev, size, handle, ret);
  return { has, dma: handle.dma, vaddr: ret.vaddr };
}

describe('per-device coherent memory (kernel/dma/coherent.c)', () => {
  it('hands out naturally aligned blocks of 2^order pages, first free first', () => {
    const { k, dev } = pc();
    expect(k.dmaDeclareCoherentMemory(dev, 0x3c00_0000, 0x3c00_0000, MIB)).toBe(0);
    const a = alloc(dev, 4096);
    const b = alloc(dev, 8192);
    const c = alloc(dev, 4096);
    const d = alloc(dev, 3 * 4096);
    expect([a.dma, b.dma, c.dma, d.dma]).toEqual([
      0x3c00_0000, 0x3c00_2000, 0x3c00_1000, 0x3c00_4000,
    ]);
    expect(k.vm.isVmallocAddr(a.vaddr!)).toBe(true); // memremap(MEMREMAP_WC)
    expect([b.vaddr! - a.vaddr!, d.vaddr! - a.vaddr!]).toEqual([0x2000, 0x4000]);
  });

  it('hands the device the declared bus address and is zeroed through a write-combining map', () => {
    const { k, dev, port } = pc();
    k.dmaDeclareCoherentMemory(dev, 0x3c00_0000, 0x8000_0000, MIB); // e.g. a local-bus window
    const a = alloc(dev, 4096);
    expect(a.dma).toBe(0x8000_0000);
    k.vm.writeU32(a.vaddr!, 0x1234);
    expect(port.readU32(0x3c00_0000)).toBe(0); // still gathered in the WC buffer
    k.machine.cpu.wmb();
    expect(port.readU32(0x3c00_0000)).toBe(0x1234);
    expect(dmaReleaseFromDevCoherent(dev, 0, a.vaddr!)).toBe(true);
    const again = alloc(dev, 4096);
    k.machine.cpu.wmb();
    expect(again.vaddr).toBe(a.vaddr);
    expect(k.vm.readU32(again.vaddr!)).toBe(0);
  });

  it('never falls back: a full or too small pool fails, a device without one continues', () => {
    const { k, dev } = pc();
    k.dmaDeclareCoherentMemory(dev, 0x3c00_0000, 0x3c00_0000, 4 * 4096);
    expect(alloc(dev, 8 * 4096)).toEqual({ has: true, dma: 0, vaddr: null });
    expect(alloc(dev, 4 * 4096).has).toBe(true);
    expect(alloc(dev, 4096)).toEqual({ has: true, dma: 0, vaddr: null });
    const other = k.devices.pciDeviceAdd({ slot: 2, vendor: 0x8086, device: 0x100e });
    expect(alloc(other, 4096).has).toBe(false);
    expect(dmaReleaseFromDevCoherent(other, 0, 0 as VirtAddr)).toBe(false);
    expect(dmaReleaseFromDevCoherent(dev, 0, 0 as VirtAddr)).toBe(false); // not in the pool
  });

  it('refuses a second pool, size 0, and RAM the kernel manages (memremap WARN)', () => {
    const { k, dev } = pc();
    expect(k.dmaDeclareCoherentMemory(dev, 0x3c00_0000, 0x3c00_0000, 0)).toBe(-EINVAL);
    expect(k.dmaDeclareCoherentMemory(dev, 0x1000_0000, 0x1000_0000, MIB)).toBe(-EINVAL);
    expect(k.log.all.slice(-2).map((l) => l.text)).toEqual([
      'memremap attempted on ram 0x0000000010000000 size: 0x100000',
      'WARNING: CPU: 0 PID: 0 at kernel/iomem.c memremap',
    ]);
    expect(k.dmaDeclareCoherentMemory(dev, 0x3c00_0000, 0x3c00_0000, MIB)).toBe(0);
    expect(k.dmaDeclareCoherentMemory(dev, 0x3d00_0000, 0x3d00_0000, MIB)).toBe(-EBUSY);
  });

  it('rejects a range beyond the machine RAM with a ConfigError', () => {
    const { k, dev } = pc();
    expect(() => k.dmaDeclareCoherentMemory(dev, 0x4000_0000, 0x4000_0000, MIB)).toThrow(
      ConfigError,
    );
    expect(() => k.dmaDeclareCoherentMemory(dev, 0x3ff0_0000, 0x3ff0_0000, 2 * MIB)).toThrow(
      /not RAM of the machine/,
    );
  });

  it('assigns a device-tree shared-dma-pool through memory-region', () => {
    const k = new Kernel(new Machine({ arch: 'arm64', ramSize: 256 * MIB }), {
      reservedMemory: [
        {
          name: 'dsp-pool',
          compatible: 'shared-dma-pool',
          reg: { base: 0x4800_0000, size: 4 * MIB },
          'no-map': true,
        },
        {
          name: 'mapped-pool',
          compatible: 'shared-dma-pool',
          reg: { base: 0x4900_0000, size: MIB },
        },
      ],
    });
    const dev = k.devices.platformDeviceRegister({
      name: 'dsp@ff000000',
      'memory-region': ['dsp-pool', 'mapped-pool'],
    });
    expect(k.devCoherent.ofReservedMemDeviceInit(dev)).toBe(0);
    const texts = k.log.all.map((l) => l.text);
    expect(texts).toContain(
      'Reserved memory: created DMA memory pool at 0x0000000048000000, size 4 MiB',
    );
    expect(texts.at(-1)).toBe(`${dev.logPrefix}: assigned reserved memory node dsp-pool`);
    expect(alloc(dev, 4096).dma).toBe(physToDma(dev, 0x4800_0000));
    // Without no-map the region stays System RAM on arm64, which memremap(WC) refuses.
    const other = k.devices.platformDeviceRegister({
      name: 'gpu',
      'memory-region': ['mapped-pool'],
    });
    expect(k.devCoherent.ofReservedMemDeviceInit(other)).toBe(-EINVAL);
    expect(k.devCoherent.ofReservedMemDeviceInit(dev, 2)).toBe(-ENODEV); // no such entry
  });
});
