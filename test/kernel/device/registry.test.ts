import { describe, expect, it } from 'vitest';
import type { Device } from '../../../src/kernel/device/device.js';
import { devmAdd, devmRelease, devmRemove, devresLive } from '../../../src/kernel/device/devres.js';
import type { IsaDriver, PciDriver, PlatformDriver } from '../../../src/kernel/device/driver.js';
import { DeviceRegistry } from '../../../src/kernel/device/registry.js';
import type { BusNotifyEvent } from '../../../src/kernel/device/registry.js';
import { EBUSY, ENODEV, ENOMEM } from '../../../src/kernel/errno.js';
import { KernelLog } from '../../../src/kernel/printk.js';
import { Machine } from '../../../src/machine/machine.js';

function setup(): { reg: DeviceRegistry; log: KernelLog } {
  const m = new Machine({ ramSize: 64 * 1024 * 1024 });
  const log = new KernelLog(m.clock);
  return { reg: new DeviceRegistry({ machine: m, log }), log };
}

const E1000 = { slot: 1, vendor: 0x8086, device: 0x100e };

/** A PCI driver for the e1000 that records what happens, in order. */
function recordingDriver(calls: string[], probeRet = 0, name = 'e1000'): PciDriver {
  return {
    bus: 'pci',
    name,
    idTable: [{ vendor: 0x8086, device: 0x100e }],
    probe(dev) {
      calls.push(`probe ${dev.name}`);
      for (const r of ['rings', 'irq', 'regs']) devmAdd(dev, r, () => calls.push(`release ${r}`));
      return probeRet;
    },
    remove(dev) {
      calls.push(
        `remove ${dev.name} (live: ${devresLive(dev)
          .map((e) => e.name)
          .join(',')})`,
      );
    },
  };
}

describe('probe and remove', () => {
  it('a driver registered first probes the device when it is added', () => {
    const { reg } = setup();
    const calls: string[] = [];
    const drv = recordingDriver(calls);
    expect(reg.driverRegister(drv)).toBe(0);
    const dev = reg.pciDeviceAdd(E1000);
    expect(dev.driver).toBe(drv);
    expect(calls).toEqual(['probe 0000:00:01.0']);
    expect(dev.logPrefix).toBe('e1000 0000:00:01.0');
  });

  it('a driver registered later probes existing unbound devices', () => {
    const { reg } = setup();
    const dev = reg.pciDeviceAdd(E1000);
    expect(dev.driver).toBeNull();
    expect(dev.logPrefix).toBe('pci 0000:00:01.0');
    const calls: string[] = [];
    reg.driverRegister(recordingDriver(calls));
    expect(dev.driver?.name).toBe('e1000');
  });

  it('remove() runs first, then devres is released newest first', () => {
    const { reg } = setup();
    const calls: string[] = [];
    reg.driverRegister(recordingDriver(calls));
    const dev = reg.pciDeviceAdd(E1000);
    expect(devresLive(dev).map((e) => [e.name, e.seq])).toEqual([
      ['rings', 1],
      ['irq', 2],
      ['regs', 3],
    ]);
    reg.deviceReleaseDriver(dev);
    expect(calls).toEqual([
      'probe 0000:00:01.0',
      'remove 0000:00:01.0 (live: rings,irq,regs)',
      'release regs',
      'release irq',
      'release rings',
    ]);
    expect(dev.driver).toBeNull();
    expect(devresLive(dev)).toEqual([]);
  });

  it('a failed probe releases its devres newest first, unbinds, and says so', () => {
    const { reg, log } = setup();
    const calls: string[] = [];
    const drv = recordingDriver(calls, -ENOMEM);
    reg.driverRegister(drv);
    const dev = reg.pciDeviceAdd(E1000);
    expect(calls).toEqual(['probe 0000:00:01.0', 'release regs', 'release irq', 'release rings']);
    expect(dev.driver).toBeNull();
    expect(log.all.map((l) => [l.level, l.text])).toEqual([
      ['err', 'e1000 0000:00:01.0: probe with driver e1000 failed with error -12'],
    ]);
  });

  it('-ENODEV is a quiet refusal, and the next matching driver gets its turn', () => {
    const { reg, log } = setup();
    const calls: string[] = [];
    reg.driverRegister(recordingDriver(calls, -ENODEV, 'picky'));
    reg.driverRegister(recordingDriver(calls, 0, 'e1000'));
    const dev = reg.pciDeviceAdd(E1000);
    expect(dev.driver?.name).toBe('e1000');
    expect(log.all).toEqual([]);
    expect(reg.deviceAttach(dev)).toBe(1);
  });

  it('driver_unregister unbinds its devices; a duplicate name is -EBUSY', () => {
    const { reg } = setup();
    const calls: string[] = [];
    const drv = recordingDriver(calls);
    reg.driverRegister(drv);
    expect(reg.driverRegister(recordingDriver([]))).toBe(-EBUSY);
    const a = reg.pciDeviceAdd(E1000);
    const b = reg.pciDeviceAdd({ ...E1000, slot: 2 });
    reg.driverUnregister(drv);
    expect([a.driver, b.driver]).toEqual([null, null]);
    expect(calls.filter((c) => c.startsWith('remove')).map((c) => c.slice(0, 19))).toEqual([
      'remove 0000:00:02.0',
      'remove 0000:00:01.0',
    ]);
    expect(reg.drivers).toEqual([]);
  });
});

describe('devres', () => {
  it('devm_remove_action forgets, devm_release_action runs now', () => {
    const { reg } = setup();
    const dev = reg.pciDeviceAdd(E1000);
    const calls: string[] = [];
    const a = devmAdd(dev, 'a', () => calls.push('a'), { vaddr: 0x1000 });
    const b = devmAdd(dev, 'b', () => calls.push('b'));
    expect(dev.devres.find((e) => (e.data as { vaddr?: number } | null)?.vaddr === 0x1000)).toBe(a);
    expect(devmRemove(dev, a)).toBe(true);
    expect(devmRemove(dev, a)).toBe(false);
    expect(devmRelease(dev, b)).toBe(true);
    expect(calls).toEqual(['b']);
    expect(devresLive(dev)).toEqual([]);
  });

  it('unbinding with live resources releases them; notifiers see the leak before and after', () => {
    const { reg } = setup();
    const events: [BusNotifyEvent, string, number][] = [];
    reg.busRegisterNotifier((ev: BusNotifyEvent, dev: Device) =>
      events.push([ev, dev.name, devresLive(dev).length]),
    );
    const leaky: PciDriver = {
      bus: 'pci',
      name: 'leaky',
      idTable: [{ vendor: 0x8086, device: 0x100e }],
      probe: (dev) => {
        devmAdd(dev, 'dmam_alloc_coherent', () => undefined);
        return 0;
      },
    };
    reg.driverRegister(leaky);
    const dev = reg.pciDeviceAdd(E1000);
    reg.deviceReleaseDriver(dev);
    expect(events).toEqual([
      ['add-device', '0000:00:01.0', 0],
      ['bind-driver', '0000:00:01.0', 0],
      ['bound-driver', '0000:00:01.0', 1],
      ['unbind-driver', '0000:00:01.0', 1],
      ['unbound-driver', '0000:00:01.0', 0],
    ]);
  });
});

describe('matching on the other buses', () => {
  it('platform drivers match by compatible string, then by name', () => {
    const { reg } = setup();
    const probed: string[] = [];
    const byCompat: PlatformDriver = {
      bus: 'platform',
      name: 'macb',
      ofMatchTable: ['cdns,macb', 'cdns,gem'],
      probe: (dev) => (probed.push(`macb ${dev.name}`), 0),
    };
    const byName: PlatformDriver = {
      bus: 'platform',
      name: 'serial8250',
      probe: (dev) => (probed.push(`8250 ${dev.name}`), 0),
    };
    reg.driverRegister(byCompat);
    reg.driverRegister(byName);
    reg.platformDeviceRegister({
      name: 'ethernet@ff0b0000',
      compatible: ['xlnx,zynqmp-gem', 'cdns,gem'],
      reg: [{ base: 0xff0b_0000, size: 0x1000 }],
    });
    reg.platformDeviceRegister({ name: 'serial8250' });
    reg.platformDeviceRegister({ name: 'other', compatible: ['acme,thing'] });
    expect(probed).toEqual(['macb ff0b0000.ethernet', '8250 serial8250']);
    expect(reg.findDevice('other')?.driver).toBeNull();
  });

  it('ISA drivers match the device name; a PCI driver never takes an ISA device', () => {
    const { reg } = setup();
    const isa: IsaDriver = { bus: 'isa', name: 'sb16', probe: () => 0 };
    reg.driverRegister(isa);
    reg.driverRegister(recordingDriver([]));
    const dev = reg.isaDeviceAdd({ name: 'sb16', id: 1 });
    expect(dev.name).toBe('sb16.1');
    expect(dev.driver).toBe(isa);
    expect(reg.isaDeviceAdd({ name: 'gus' }).driver).toBeNull();
  });
});
