/**
 * Drivers and how a bus matches them to devices (drivers/pci/pci-driver.c pci_match_one_device,
 * drivers/base/platform.c platform_match, drivers/base/isa.c). A probe returns 0 or a negative
 * errno, as in the kernel; remove() cannot fail.
 */
import type { Device } from './device.js';
import type { IsaDevice } from './isa.js';
import type { PciDevice } from './pci.js';
import type { PlatformDevice } from './platform.js';

/** PCI_ANY_ID: matches any value. */
export const PCI_ANY_ID = 0xffff_ffff;

/** struct pci_device_id; absent fields match anything. */
export interface PciDeviceId {
  readonly vendor: number;
  readonly device: number;
  readonly subvendor?: number;
  readonly subdevice?: number;
  /** class << 8 | prog-if, compared under classMask. */
  readonly class?: number;
  readonly classMask?: number;
}

interface DriverCommon<D extends Device> {
  /** The driver's name: dev_driver_string, and the ISA / platform name match. */
  readonly name: string;
  /** Binds to `dev`. @returns 0, or a negative errno (the device stays unbound) */
  probe(dev: D): number;
  /** Unbinds; devres is released after it returns. */
  remove?(dev: D): void;
}

/** struct pci_driver. */
export interface PciDriver extends DriverCommon<PciDevice> {
  readonly bus: 'pci';
  readonly idTable: readonly PciDeviceId[];
}

/** struct platform_driver: device-tree compatible strings, then the driver name. */
export interface PlatformDriver extends DriverCommon<PlatformDevice> {
  readonly bus: 'platform';
  readonly ofMatchTable?: readonly string[];
}

/** struct isa_driver: matches ISA devices registered under the driver's name. */
export interface IsaDriver extends DriverCommon<IsaDevice> {
  readonly bus: 'isa';
}

export type Driver = PciDriver | PlatformDriver | IsaDriver;

/**
 * pci_match_id: the first entry of `ids` that matches the device, or null.
 * @linux drivers/pci/pci-driver.c pci_match_id
 */
export function pciMatchId(ids: readonly PciDeviceId[], dev: PciDevice): PciDeviceId | null {
  const eq = (want: number | undefined, have: number): boolean =>
    want === undefined || want === PCI_ANY_ID || want === have;
  for (const id of ids) {
    if (
      eq(id.vendor, dev.vendor) &&
      eq(id.device, dev.device) &&
      eq(id.subvendor, dev.subsystemVendor) &&
      eq(id.subdevice, dev.subsystemDevice) &&
      (((id.class ?? 0) ^ dev.classCode) & (id.classMask ?? 0)) === 0
    ) {
      return id;
    }
  }
  return null;
}
