import { describe, expect, it } from 'vitest';
import { pciMatchId, PCI_ANY_ID } from '../../../src/kernel/device/driver.js';
import {
  pciDevfn,
  pciName,
  pciRequesterId,
  pciResourceLen,
  pciResourceStart,
} from '../../../src/kernel/device/pci.js';
import type { PciBarDesc } from '../../../src/kernel/device/pci.js';
import { DeviceRegistry } from '../../../src/kernel/device/registry.js';
import { KernelLog } from '../../../src/kernel/printk.js';
import { ConfigError } from '../../../src/lib/errors.js';
import { Machine } from '../../../src/machine/machine.js';

const mmio = { read: (): number => 0, write: (): void => undefined };

function registry(iommu = false): { m: Machine; reg: DeviceRegistry } {
  const m = new Machine({ ramSize: 256 * 1024 * 1024, iommu });
  return { m, reg: new DeviceRegistry({ machine: m, log: new KernelLog(m.clock) }) };
}

describe('PCI names and requester ids', () => {
  it('formats DDDD:BB:DD.F and packs bus << 8 | slot << 3 | func', () => {
    expect(pciName(0, 0, 2, 0)).toBe('0000:00:02.0');
    expect(pciName(1, 0x3a, 0x1f, 7)).toBe('0001:3a:1f.7');
    expect(pciDevfn(2, 0)).toBe(0x10);
    expect(pciDevfn(0x1f, 7)).toBe(0xff);
    expect(pciRequesterId(0x3a, pciDevfn(0x1f, 7))).toBe(0x3aff);
    expect(pciRequesterId(0, pciDevfn(1, 0))).toBe(0x08); // 0000:00:01.0, the e1000 of the traces
  });

  it('a device gets its name, devfn and requester id, and its port carries the same id', () => {
    const { reg } = registry(true);
    const dev = reg.pciDeviceAdd({
      domain: 1,
      bus: 0x3a,
      slot: 0x1f,
      func: 7,
      vendor: 0x8086,
      device: 0x100e,
    });
    expect(dev.name).toBe('0001:3a:1f.7');
    expect([dev.busNr, dev.devfn, dev.slot, dev.func, dev.requesterId]).toEqual([
      0x3a, 0xff, 0x1f, 7, 0x3aff,
    ]);
    expect(dev.bus).toBe('pci');
    expect(dev.dmaPort?.requesterId).toBe(0x3aff);
    expect(dev.dmaPort?.translated).toBe(true);
    expect(dev.dmaCoherent).toBe(true);
  });

  it('behindIommu: false bypasses the IOMMU; busMaster: false gives no port', () => {
    const { reg } = registry(true);
    expect(
      reg.pciDeviceAdd({ slot: 2, vendor: 1, device: 1, behindIommu: false }).dmaPort?.translated,
    ).toBe(false);
    expect(
      reg.pciDeviceAdd({ slot: 3, vendor: 1, device: 1, busMaster: false }).dmaPort,
    ).toBeNull();
  });

  it('rejects out-of-range numbers and a second device at the same address', () => {
    const { reg } = registry();
    expect(() => reg.pciDeviceAdd({ slot: 32, vendor: 1, device: 1 })).toThrow(
      new ConfigError('PCI device slot 32 is out of range (0 to 0x1f)'),
    );
    reg.pciDeviceAdd({ slot: 2, vendor: 1, device: 1, busMaster: false });
    expect(() => reg.pciDeviceAdd({ slot: 2, vendor: 1, device: 1, busMaster: false })).toThrow(
      'device 0000:00:02.0 is registered twice',
    );
  });
});

describe('BARs', () => {
  it('are mapped into the machine under the device name', () => {
    const { m, reg } = registry();
    const dev = reg.pciDeviceAdd({
      slot: 2,
      vendor: 0x8086,
      device: 0x100e,
      bars: [
        { index: 0, base: 0xfebc_0000, size: 0x2_0000, handler: mmio },
        { index: 2, base: 0xfebf_0000, size: 0x1000, handler: mmio },
      ],
    });
    expect(m.physmap.mmioWindows.map((w) => [w.name, w.base, w.size])).toEqual([
      ['0000:00:02.0', 0xfebc_0000, 0x2_0000],
      ['0000:00:02.0', 0xfebf_0000, 0x1000],
    ]);
    expect([pciResourceStart(dev, 0), pciResourceLen(dev, 0)]).toEqual([0xfebc_0000, 0x2_0000]);
    expect([pciResourceStart(dev, 1), pciResourceLen(dev, 1)]).toEqual([0, 0]);
  });

  it('must be powers of two, naturally aligned, numbered 0 to 5, once each', () => {
    const { reg } = registry();
    const add =
      (bars: PciBarDesc[]): (() => void) =>
      () =>
        reg.pciDeviceAdd({ slot: 4, vendor: 1, device: 1, bars, busMaster: false });
    expect(add([{ index: 0, base: 0xfeb0_0000, size: 0x3000, handler: mmio }])).toThrow(
      '0000:00:04.0 BAR0: size 12288 must be a power of two of at least 16 bytes',
    );
    expect(add([{ index: 0, base: 0xfeb0_1000, size: 0x2000, handler: mmio }])).toThrow(
      '0000:00:04.0 BAR0: base 0xfeb01000 must be a multiple of its size 0x2000',
    );
    expect(add([{ index: 6, base: 0xfeb0_0000, size: 0x1000, handler: mmio }])).toThrow(
      '0000:00:04.0: BAR number 6 must be 0 to 5',
    );
    const twice = { index: 1, base: 0xfeb0_0000, size: 0x1000, handler: mmio };
    expect(add([twice, { ...twice, base: 0xfeb1_0000 }])).toThrow(
      '0000:00:04.0 BAR1 is given twice',
    );
  });
});

describe('pci_match_id', () => {
  it('matches vendor and device, PCI_ANY_ID and the class under its mask', () => {
    const { reg } = registry();
    const dev = reg.pciDeviceAdd({
      slot: 2,
      vendor: 0x8086,
      device: 0x100e,
      classCode: 0x02_0000,
      busMaster: false,
    });
    expect(pciMatchId([{ vendor: 0x8086, device: 0x100f }], dev)).toBeNull();
    expect(pciMatchId([{ vendor: 0x8086, device: 0x100e }], dev)).toEqual({
      vendor: 0x8086,
      device: 0x100e,
    });
    expect(
      pciMatchId(
        [{ vendor: PCI_ANY_ID, device: PCI_ANY_ID, class: 0x02_0000, classMask: 0xff_0000 }],
        dev,
      ),
    ).not.toBeNull();
    expect(
      pciMatchId(
        [{ vendor: PCI_ANY_ID, device: PCI_ANY_ID, class: 0x01_0800, classMask: 0xff_ff00 }],
        dev,
      ),
    ).toBeNull();
    expect(pciMatchId([{ vendor: 0x8086, device: 0x100e, subvendor: 0x1af4 }], dev)).toBeNull();
  });
});
