import { describe, expect, it } from 'vitest';
import {
  DMA_MASK_24,
  DMA_MASK_32,
  U64_MAX,
  dmaBitMask,
  ilog2,
  maskToLimit,
} from '../../../src/kernel/device/dma-mask.js';
import { DeviceRegistry } from '../../../src/kernel/device/registry.js';
import { KernelLog } from '../../../src/kernel/printk.js';
import { SimulatorBug } from '../../../src/lib/errors.js';
import { Machine } from '../../../src/machine/machine.js';
import type { ArchName } from '../../../src/machine/profile.js';

function registry(arch: ArchName = 'x86_64', iommu = false): { m: Machine; reg: DeviceRegistry } {
  const m = new Machine({ arch, ramSize: 256 * 1024 * 1024, iommu });
  return { m, reg: new DeviceRegistry({ machine: m, log: new KernelLog(m.clock) }) };
}

describe('DMA_BIT_MASK', () => {
  it('is exact up to 64 bits', () => {
    expect(dmaBitMask(64)).toBe(18446744073709551615n);
    expect(dmaBitMask(64)).toBe(U64_MAX);
    expect(dmaBitMask(63)).toBe(0x7fff_ffff_ffff_ffffn);
    expect(dmaBitMask(32)).toBe(DMA_MASK_32);
    expect(dmaBitMask(24)).toBe(0xff_ffffn);
    expect(dmaBitMask(0)).toBe(0n);
    expect(() => dmaBitMask(65)).toThrow(SimulatorBug);
    expect(() => dmaBitMask(-1)).toThrow(SimulatorBug);
  });

  it('has a numeric limit that compares like the mask for every model address', () => {
    expect(maskToLimit(dmaBitMask(64))).toBe(Number.MAX_SAFE_INTEGER);
    expect(maskToLimit(dmaBitMask(52))).toBe(2 ** 52 - 1);
    expect(maskToLimit(dmaBitMask(32))).toBe(0xffff_ffff);
    expect(ilog2(0xffff_ffff)).toBe(31);
    expect(ilog2(1n << 63n)).toBe(63);
  });
});

describe('struct device', () => {
  it('PCI and platform devices start with 32-bit masks, ISA with 24-bit ones', () => {
    const { reg } = registry();
    const pci = reg.pciDeviceAdd({ slot: 2, vendor: 0x8086, device: 0x100e });
    const plat = reg.platformDeviceRegister({
      name: 'uart@fe001000',
      reg: [{ base: 0xfe00_1000, size: 0x1000 }],
    });
    const isa = reg.isaDeviceAdd({ name: 'i8237' });
    expect([pci.dmaMask, pci.coherentDmaMask]).toEqual([DMA_MASK_32, DMA_MASK_32]);
    expect([plat.dmaMask, plat.coherentDmaMask]).toEqual([DMA_MASK_32, DMA_MASK_32]);
    expect([isa.dmaMask, isa.coherentDmaMask]).toEqual([DMA_MASK_24, DMA_MASK_24]);
    expect([pci.dmaMaskLimit, isa.coherentDmaMaskLimit]).toEqual([0xffff_ffff, 0xff_ffff]);
    expect(isa.name).toBe('i8237.0');
    expect(isa.dmaPort).toBeNull();
    expect(plat.name).toBe('fe001000.uart');
  });

  it('stores a 64-bit mask exactly and derives its limit', () => {
    const { reg } = registry();
    const dev = reg.pciDeviceAdd({ slot: 3, vendor: 0x1b36, device: 0x0010 });
    dev.dmaMask = dmaBitMask(64);
    dev.coherentDmaMask = dmaBitMask(40);
    expect(dev.dmaMask).toBe(0xffff_ffff_ffff_ffffn);
    expect(dev.dmaMaskLimit).toBe(Number.MAX_SAFE_INTEGER);
    expect(dev.coherentDmaMaskLimit).toBe(2 ** 40 - 1);
    expect(() => (dev.dmaMask = 1n << 64n)).toThrow(SimulatorBug);
    expect(() => (dev.dmaMask = -1n)).toThrow(SimulatorBug);
  });

  it('dma_parms: 64 KiB segments; PCI never crosses 4 GiB, others ULONG_MAX of the profile', () => {
    const x86 = registry().reg;
    const pci = x86.pciDeviceAdd({ slot: 2, vendor: 0x8086, device: 0x100e });
    expect(pci.dmaParms).toEqual({
      maxSegmentSize: 65536,
      segmentBoundaryMask: 0xffff_ffffn,
      minAlignMask: 0,
    });
    const plat64 = registry('arm64').reg.platformDeviceRegister({ name: 'dma@9000000' });
    expect(plat64.dmaParms.segmentBoundaryMask).toBe(U64_MAX);
    const plat32 = registry('arm32').reg.platformDeviceRegister({ name: 'dma@10000000' });
    expect(plat32.dmaParms.segmentBoundaryMask).toBe(0xffff_ffffn);
  });

  it('coherency: dma-coherent, dma-noncoherent, else the profile default', () => {
    const arm = registry('arm64').reg;
    expect(arm.platformDeviceRegister({ name: 'a' }).dmaCoherent).toBe(false);
    expect(arm.platformDeviceRegister({ name: 'b', 'dma-coherent': true }).dmaCoherent).toBe(true);
    const b = arm.findDevice('b');
    expect(b?.dmaPort?.coherent).toBe(true);
    const x86 = registry().reg;
    expect(x86.platformDeviceRegister({ name: 'c' }).dmaCoherent).toBe(true);
    expect(x86.platformDeviceRegister({ name: 'd', 'dma-noncoherent': true }).dmaCoherent).toBe(
      false,
    );
    expect(() =>
      x86.platformDeviceRegister({ name: 'e', 'dma-coherent': true, 'dma-noncoherent': true }),
    ).toThrow('e: "dma-coherent" and "dma-noncoherent" exclude each other');
  });

  it('iommus puts a platform device behind the IOMMU with its stream id; the group starts empty', () => {
    const { reg } = registry('arm64', true);
    const dev = reg.platformDeviceRegister({
      name: 'eth@ff0e0000',
      iommus: [{ iommu: 'smmu', id: 0x877 }],
    });
    expect(dev.dmaPort?.requesterId).toBe(0x877);
    expect(dev.dmaPort?.translated).toBe(true);
    expect(dev.iommuGroup).toBeNull();
    const plain = reg.platformDeviceRegister({ name: 'uart@9000000' });
    expect(plain.dmaPort?.translated).toBe(false);
    expect(plain.dmaPort?.requesterId).toBe(0xffff);
  });

  it('an IOMMU the machine lacks is a configuration error', () => {
    const { reg } = registry('arm64', false);
    expect(() =>
      reg.platformDeviceRegister({ name: 'eth', iommus: [{ iommu: 'smmu', id: 1 }] }),
    ).toThrow(
      'bus master "eth" is placed behind an IOMMU, but the machine has none (enable the IOMMU)',
    );
  });
});
