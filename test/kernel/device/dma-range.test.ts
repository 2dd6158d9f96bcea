import { describe, expect, it } from 'vitest';
import { dmaBitMask } from '../../../src/kernel/device/dma-mask.js';
import {
  DMA_MAPPING_ERROR,
  INVALID_PHYS_ADDR,
  dmaDirectSetOffset,
  dmaToPhys,
  physToDma,
} from '../../../src/kernel/device/dma-range.js';
import { DeviceRegistry } from '../../../src/kernel/device/registry.js';
import { EINVAL } from '../../../src/kernel/errno.js';
import { KernelLog } from '../../../src/kernel/printk.js';
import { Machine } from '../../../src/machine/machine.js';
import type { ArchName } from '../../../src/machine/profile.js';

function registry(arch: ArchName): { m: Machine; reg: DeviceRegistry } {
  const m = new Machine({ arch, ramSize: 256 * 1024 * 1024 });
  return { m, reg: new DeviceRegistry({ machine: m, log: new KernelLog(m.clock) }) };
}

describe('the PReP triple: physical 0 is bus 0x80000000', () => {
  it('a PCI device on PReP gets the default dma-ranges', () => {
    const { reg } = registry('prep');
    const dev = reg.pciDeviceAdd({ slot: 1, vendor: 0x1011, device: 0x0019 });
    expect(dev.dmaRangeMap).toEqual([{ cpuStart: 0, dmaStart: 0x8000_0000, size: 0x8000_0000 }]);
    expect(dev.busDmaLimit).toBe(0xffff_ffff);
    expect(dev.dmaMask).toBe(dmaBitMask(32));
    expect(physToDma(dev, 0)).toBe(0x8000_0000);
    expect(physToDma(dev, 0x0012_3456)).toBe(0x8012_3456);
    expect(dmaToPhys(dev, 0x8012_3456)).toBe(0x0012_3456);
  });

  it('outside the region there is no translation', () => {
    const { reg } = registry('prep');
    const dev = reg.platformDeviceRegister({ name: 'mace' });
    expect(physToDma(dev, 0x8000_0000)).toBe(DMA_MAPPING_ERROR);
    expect(DMA_MAPPING_ERROR).toBe(-1);
    expect(dmaToPhys(dev, 0x7fff_ffff)).toBe(INVALID_PHYS_ADDR);
    expect(INVALID_PHYS_ADDR).toBe(-1);
  });

  it("the machine port applies the same offset as the kernel's map", () => {
    const { m, reg } = registry('prep');
    const dev = reg.pciDeviceAdd({ slot: 1, vendor: 0x1011, device: 0x0019 });
    expect(dev.dmaPort?.busOffset).toBe(0x8000_0000);
    expect(dev.dmaPort?.physToBus(0x1000)).toBe(physToDma(dev, 0x1000));
    expect(m.profile.busOffset).toBe(0x8000_0000);
  });
});

describe('dma-ranges', () => {
  it('no map is the identity (x86)', () => {
    const dev = registry('x86_64').reg.pciDeviceAdd({ slot: 2, vendor: 0x8086, device: 0x100e });
    expect(dev.dmaRangeMap).toBeNull();
    expect(dev.busDmaLimit).toBe(0);
    expect(physToDma(dev, 0x865_f8c0)).toBe(0x865_f8c0);
    expect(dmaToPhys(dev, 0x865_f8c0)).toBe(0x865_f8c0);
  });

  it('a 1 GiB window at bus 0 for RAM at 1 GiB cuts the masks to 30 bits and sets bus_dma_limit', () => {
    const { reg } = registry('arm64');
    const dev = reg.platformDeviceRegister({
      name: 'emmc@fe340000',
      'dma-ranges': [{ dmaStart: 0, cpuStart: 0x4000_0000, size: 0x4000_0000 }],
    });
    expect(dev.dmaMask).toBe(dmaBitMask(30));
    expect(dev.coherentDmaMask).toBe(dmaBitMask(30));
    expect(dev.busDmaLimit).toBe(0x3fff_ffff);
    expect(physToDma(dev, 0x4000_1000)).toBe(0x1000);
    expect(dev.dmaPort?.physToBus(0x4000_1000)).toBe(0x1000);
    expect(physToDma(dev, 0x3fff_f000)).toBe(DMA_MAPPING_ERROR);
  });

  it('several regions translate each by its own range; the port needs one offset', () => {
    const { reg } = registry('arm64');
    const ranges = [
      { dmaStart: 0, cpuStart: 0x4000_0000, size: 0x1000_0000 },
      { dmaStart: 0x1000_0000, cpuStart: 0x8000_0000, size: 0x1000_0000 },
    ];
    const dev = reg.platformDeviceRegister({ name: 'dev', 'dma-ranges': ranges, busMaster: false });
    expect(physToDma(dev, 0x8000_0010)).toBe(0x1000_0010);
    expect(dmaToPhys(dev, 0x0000_0010)).toBe(0x4000_0010);
    expect(() => reg.platformDeviceRegister({ name: 'dev2', 'dma-ranges': ranges })).toThrow(
      'dev2: dma-ranges with different offsets (-0x40000000, -0x70000000) are not modelled: the interconnect applies one offset per device',
    );
  });

  it('dma_direct_set_offset sets a map once, and not for a zero offset', () => {
    const { reg } = registry('x86_64');
    const dev = reg.pciDeviceAdd({ slot: 2, vendor: 1, device: 1, busMaster: false });
    const errors: string[] = [];
    expect(dmaDirectSetOffset(dev, 0x1000, 0x1000, 0x1000, (t) => errors.push(t))).toBe(0);
    expect(dev.dmaRangeMap).toBeNull();
    expect(dmaDirectSetOffset(dev, 0, 0x8000_0000, 0x8000_0000, (t) => errors.push(t))).toBe(0);
    expect(physToDma(dev, 0x10)).toBe(0x8000_0010);
    expect(dmaDirectSetOffset(dev, 0, 0x4000_0000, 0x1000, (t) => errors.push(t))).toBe(-EINVAL);
    expect(errors).toEqual(['attempt to add DMA range to existing map']);
  });
});
