/**
 * The driver core of one machine (drivers/base/bus.c, dd.c, driver.c; Linux 6.12): devices and
 * drivers per bus, matching, probe and remove with devres released after remove() and after a
 * failed probe (really_probe, __device_release_driver), and bus notifiers (what dma-debug listens
 * to for leaks at unbind). MODEL: probing is synchronous; no deferred probing (-EPROBE_DEFER is a
 * plain failure), no device links, no runtime PM, devices are never removed.
 */
import { ConfigError } from '../../lib/errors.js';
import type { Machine } from '../../machine/machine.js';
import { EBUSY, ENODEV, ENXIO } from '../errno.js';
import type { KernelLog } from '../printk.js';
import type { Device } from './device.js';
import type { Driver } from './driver.js';
import { pciMatchId } from './driver.js';
import { IsaDevice, isaDeviceCreate } from './isa.js';
import type { IsaDeviceDesc } from './isa.js';
import { PciDevice, pciDeviceCreate } from './pci.js';
import type { PciDeviceDesc } from './pci.js';
import { PlatformDevice, platformDeviceCreate } from './platform.js';
import type { PlatformDeviceDesc } from './platform.js';

/** The bus notifier events (include/linux/device/bus.h BUS_NOTIFY_*). */
export type BusNotifyEvent =
  | 'add-device'
  | 'bind-driver'
  | 'bound-driver'
  | 'unbind-driver'
  | 'unbound-driver'
  | 'driver-not-bound';

/** A bus notifier: called with the event and the device (driver still set for unbind-driver). */
export type BusNotifier = (event: BusNotifyEvent, dev: Device) => void;

export interface DeviceRegistryDeps {
  readonly machine: Machine;
  readonly log: KernelLog;
}

export class DeviceRegistry {
  private readonly devs: Device[] = [];
  private readonly drvs: Driver[] = [];
  private readonly notifiers: BusNotifier[] = [];
  /** Devices in the order they were bound, for driver_detach (newest first). */
  private boundOrder: Device[] = [];

  constructor(private readonly deps: DeviceRegistryDeps) {}

  /** All devices, in registration order. */
  get devices(): readonly Device[] {
    return this.devs;
  }

  /** All registered drivers, in registration order. */
  get drivers(): readonly Driver[] {
    return this.drvs;
  }

  /**
   * bus_find_device_by_name.
   * @linux drivers/base/bus.c bus_find_device_by_name
   */
  findDevice(name: string): Device | undefined {
    return this.devs.find((d) => d.name === name);
  }

  /**
   * bus_register_notifier: `fn` sees every later event on every bus of the machine.
   * @linux drivers/base/bus.c bus_register_notifier
   */
  busRegisterNotifier(fn: BusNotifier): void {
    this.notifiers.push(fn);
  }

  /**
   * pci_device_add + pci_bus_add_device: creates the function and probes a matching driver.
   * @linux drivers/pci/probe.c pci_device_add
   */
  pciDeviceAdd(desc: PciDeviceDesc): PciDevice {
    return this.deviceAdd(pciDeviceCreate(this.deps.machine, desc));
  }

  /**
   * of_platform_device_create: creates a platform device from its node and probes.
   * @linux drivers/of/platform.c of_platform_device_create
   */
  platformDeviceRegister(desc: PlatformDeviceDesc): PlatformDevice {
    return this.deviceAdd(platformDeviceCreate(this.deps.machine, desc));
  }

  /** An ISA device (isa_register_driver creates them per driver in the kernel) and probes. */
  isaDeviceAdd(desc: IsaDeviceDesc): IsaDevice {
    return this.deviceAdd(isaDeviceCreate(this.deps.machine, desc));
  }

  /**
   * driver_register: adds the driver and probes it against every unbound device of its bus.
   * @returns 0, or -EBUSY when a driver of that name is already registered on the bus
   * @linux drivers/base/driver.c driver_register
   */
  driverRegister(drv: Driver): number {
    if (this.drvs.some((d) => d.bus === drv.bus && d.name === drv.name)) {
      this.deps.log.err(`Error: Driver '${drv.name}' is already registered, aborting...`);
      return -EBUSY;
    }
    this.drvs.push(drv);
    for (const dev of this.devs) {
      if (dev.driver === null && driverMatchDevice(drv, dev)) this.reallyProbe(drv, dev);
    }
    return 0;
  }

  /**
   * driver_unregister: unbinds every device bound to it (newest first), then forgets it.
   * @linux drivers/base/driver.c driver_unregister
   */
  driverUnregister(drv: Driver): void {
    for (const dev of [...this.boundOrder].reverse()) {
      if (dev.driver === drv) this.deviceReleaseDriver(dev);
    }
    const i = this.drvs.indexOf(drv);
    if (i >= 0) this.drvs.splice(i, 1);
  }

  /**
   * device_attach: tries the bus's drivers in registration order until one probes successfully.
   * @returns 1 if the device is bound, 0 if no driver took it
   * @linux drivers/base/dd.c device_attach
   */
  deviceAttach(dev: Device): number {
    if (dev.driver !== null) return 1;
    for (const drv of this.drvs) {
      if (driverMatchDevice(drv, dev) && this.reallyProbe(drv, dev) === 0) return 1;
    }
    return 0;
  }

  /**
   * device_release_driver: remove(), then devres released newest first, then unbound.
   * @linux drivers/base/dd.c device_release_driver
   */
  deviceReleaseDriver(dev: Device): void {
    const drv = dev.driver;
    if (drv === null) return;
    this.notify('unbind-driver', dev);
    callRemove(drv, dev);
    dev.devres.releaseAll();
    dev.driver = null;
    dev.drvdata = null;
    this.boundOrder = this.boundOrder.filter((d) => d !== dev);
    this.notify('unbound-driver', dev);
  }

  private deviceAdd<D extends Device>(dev: D): D {
    if (this.findDevice(dev.name) !== undefined) {
      throw new ConfigError(`device ${dev.name} is registered twice`);
    }
    this.devs.push(dev);
    this.notify('add-device', dev);
    this.deviceAttach(dev);
    return dev;
  }

  /**
   * really_probe: bind, call probe, and on failure release devres and unbind.
   * @linux drivers/base/dd.c really_probe
   */
  private reallyProbe(drv: Driver, dev: Device): number {
    dev.driver = drv;
    this.notify('bind-driver', dev);
    const ret = callProbe(drv, dev);
    if (ret === 0) {
      this.boundOrder.push(dev);
      this.notify('bound-driver', dev);
      return 0;
    }
    // dev_err is printed while dev->driver still points at the driver. The wording is that of
    // 2024 kernels (older ones printed "probe of %s failed with error %d"); unverified for 6.12.
    if (ret !== -ENODEV && ret !== -ENXIO) {
      this.deps.log.err(`${dev.logPrefix}: probe with driver ${drv.name} failed with error ${ret}`);
    }
    dev.devres.releaseAll();
    dev.driver = null;
    dev.drvdata = null;
    this.notify('driver-not-bound', dev);
    return ret;
  }

  private notify(event: BusNotifyEvent, dev: Device): void {
    for (const fn of this.notifiers) fn(event, dev);
  }
}

/**
 * driver_match_device: PCI by id table, platform by compatible strings then by name (of_match
 * then platform_match's name compare), ISA by name.
 * @linux drivers/base/base.h driver_match_device
 */
export function driverMatchDevice(drv: Driver, dev: Device): boolean {
  switch (drv.bus) {
    case 'pci':
      return dev instanceof PciDevice && pciMatchId(drv.idTable, dev) !== null;
    case 'platform':
      return (
        dev instanceof PlatformDevice &&
        ((drv.ofMatchTable ?? []).some((c) => dev.compatible.includes(c)) || drv.name === dev.name)
      );
    case 'isa':
      return dev instanceof IsaDevice && drv.name === dev.isaName;
  }
}

function callProbe(drv: Driver, dev: Device): number {
  if (drv.bus === 'pci' && dev instanceof PciDevice) return drv.probe(dev);
  if (drv.bus === 'platform' && dev instanceof PlatformDevice) return drv.probe(dev);
  if (drv.bus === 'isa' && dev instanceof IsaDevice) return drv.probe(dev);
  return -ENODEV;
}

function callRemove(drv: Driver, dev: Device): void {
  if (drv.bus === 'pci' && dev instanceof PciDevice) drv.remove?.(dev);
  else if (drv.bus === 'platform' && dev instanceof PlatformDevice) drv.remove?.(dev);
  else if (drv.bus === 'isa' && dev instanceof IsaDevice) drv.remove?.(dev);
}
