/**
 * PCI devices (drivers/pci/probe.c pci_setup_device / pci_device_add, include/linux/pci.h):
 * "DDDD:BB:DD.F" names, devfn and the requester id the IOMMU sees, vendor/device/class ids,
 * memory BARs mapped into the machine's physical address space, and the DMA defaults PCI gives
 * every device: 32-bit masks, 64 KiB segments, a 4 GiB segment boundary.
 * MODEL: BARs are placed by the caller (no resource assignment), memory BARs only (no I/O port
 * BARs), no config space; the host bridge's dma-ranges can be given per device.
 */
import { hex } from '../../lib/addr.js';
import { ConfigError } from '../../lib/errors.js';
import type { IrqLine } from '../../machine/bus/irq.js';
import type { Machine } from '../../machine/machine.js';
import type { MmioHandler } from '../../machine/memory/physmap.js';
import { Device } from './device.js';
import type { DeviceInit } from './device.js';
import { attachBusMaster, defaultDmaParms, dmaConfigure } from './dma-config.js';
import { DMA_MASK_32 } from './dma-mask.js';
import type { BusDmaRegion } from './dma-range.js';

/**
 * PCI_DEVFN(slot, func).
 * @linux include/uapi/linux/pci.h PCI_DEVFN
 */
export function pciDevfn(slot: number, func: number): number {
  return (slot << 3) | func;
}

/**
 * The requester id (bus << 8 | devfn): what the IOMMU indexes its context tables by.
 * @linux include/linux/pci.h pci_dev_id
 */
export function pciRequesterId(bus: number, devfn: number): number {
  return (bus << 8) | devfn;
}

/**
 * pci_name: "%04x:%02x:%02x.%d" of domain, bus, slot and function.
 * @linux include/linux/pci.h pci_name
 */
export function pciName(domain: number, bus: number, slot: number, func: number): string {
  const h = (v: number, w: number): string => v.toString(16).padStart(w, '0');
  return `${h(domain, 4)}:${h(bus, 2)}:${h(slot, 2)}.${func}`;
}

/** A memory BAR as the caller places it; `handler` serves its registers. */
export interface PciBarDesc {
  /** BAR number, 0 to 5. */
  readonly index: number;
  readonly base: number;
  /** A power of two; `base` must be a multiple of it. */
  readonly size: number;
  readonly handler: MmioHandler;
}

/** A PCI function as enumeration would find it. */
export interface PciDeviceDesc {
  /** PCI segment; default 0. */
  readonly domain?: number;
  /** Bus number; default 0. */
  readonly bus?: number;
  readonly slot: number;
  /** Function; default 0. */
  readonly func?: number;
  readonly vendor: number;
  readonly device: number;
  readonly subsystemVendor?: number;
  readonly subsystemDevice?: number;
  /** 24-bit class code (class << 8 | prog-if), e.g. 0x020000 for Ethernet. */
  readonly classCode?: number;
  readonly bars?: readonly PciBarDesc[];
  /** Snoops CPU caches; default the profile's coherency (the host bridge's dma-coherent). */
  readonly coherent?: boolean;
  /** Default: behind the IOMMU when the machine has one. */
  readonly behindIommu?: boolean;
  /** The host bridge's dma-ranges; default the profile's bus offset. */
  readonly dmaRanges?: readonly BusDmaRegion[];
  /** Masters the bus (has a DmaPort); default true. */
  readonly busMaster?: boolean;
  /** The function's INTx line (pdev->irq once requested); default none. */
  readonly irq?: IrqLine;
}

/** One BAR as the kernel sees it (pci_resource_start / pci_resource_len). */
export interface PciResource {
  readonly index: number;
  readonly start: number;
  readonly len: number;
}

/** struct pci_dev: a PCI function and its struct device. */
export class PciDevice extends Device {
  readonly domain: number;
  /** bus->number. */
  readonly busNr: number;
  readonly devfn: number;
  readonly vendor: number;
  readonly device: number;
  readonly subsystemVendor: number;
  readonly subsystemDevice: number;
  readonly classCode: number;
  readonly resources: readonly PciResource[];
  /** The INTx line the hardware drives, for request_irq; null for none. */
  readonly irqLine: IrqLine | null;

  constructor(desc: PciDeviceDesc, init: DeviceInit) {
    super(init);
    this.domain = desc.domain ?? 0;
    this.busNr = desc.bus ?? 0;
    this.devfn = pciDevfn(desc.slot, desc.func ?? 0);
    this.vendor = desc.vendor;
    this.device = desc.device;
    this.subsystemVendor = desc.subsystemVendor ?? 0;
    this.subsystemDevice = desc.subsystemDevice ?? 0;
    this.classCode = desc.classCode ?? 0;
    this.resources = (desc.bars ?? []).map((b) => ({ index: b.index, start: b.base, len: b.size }));
    this.irqLine = desc.irq ?? null;
  }

  /** PCI_SLOT(devfn). */
  get slot(): number {
    return this.devfn >> 3;
  }

  /** PCI_FUNC(devfn). */
  get func(): number {
    return this.devfn & 7;
  }

  /** bus << 8 | devfn. */
  get requesterId(): number {
    return pciRequesterId(this.busNr, this.devfn);
  }
}

/**
 * pci_resource_start: the BAR's physical address, 0 when the BAR is absent.
 * @linux include/linux/pci.h pci_resource_start
 */
export function pciResourceStart(dev: PciDevice, bar: number): number {
  return dev.resources.find((r) => r.index === bar)?.start ?? 0;
}

/**
 * pci_resource_len: the BAR's size, 0 when the BAR is absent.
 * @linux include/linux/pci.h pci_resource_len
 */
export function pciResourceLen(dev: PciDevice, bar: number): number {
  return dev.resources.find((r) => r.index === bar)?.len ?? 0;
}

/**
 * Creates a PCI device as enumeration does: checks the description, maps its BARs into the
 * machine and attaches its bus-master port.
 * @throws ConfigError for out-of-range numbers, bad BARs or clashes with the machine
 * @linux drivers/pci/probe.c pci_device_add
 */
export function pciDeviceCreate(machine: Machine, desc: PciDeviceDesc): PciDevice {
  checkIds(desc);
  const name = pciName(desc.domain ?? 0, desc.bus ?? 0, desc.slot, desc.func ?? 0);
  for (const b of desc.bars ?? []) checkBar(name, b, desc.bars ?? []);
  const profile = machine.profile;
  const dma = dmaConfigure(profile, desc.dmaRanges, DMA_MASK_32, name);
  const coherent = desc.coherent ?? profile.defaultCoherent;
  const port =
    desc.busMaster === false
      ? null
      : attachBusMaster(machine, {
          name,
          requesterId: pciRequesterId(desc.bus ?? 0, pciDevfn(desc.slot, desc.func ?? 0)),
          coherent,
          dmaRangeMap: dma.dmaRangeMap,
          ...(desc.behindIommu === undefined ? {} : { behindIommu: desc.behindIommu }),
        });
  for (const b of desc.bars ?? []) machine.addMmio(b.base, b.size, name, b.handler);
  // drivers/pci/probe.c pci_device_add: 64 KiB segments, never across a 4 GiB boundary (from
  // memory, unverified).
  const dmaParms = { ...defaultDmaParms(profile), segmentBoundaryMask: 0xffff_ffffn };
  return new PciDevice(desc, {
    name,
    bus: 'pci',
    ...dma,
    dmaCoherent: coherent,
    dmaParms,
    dmaPort: port,
  });
}

function checkIds(d: PciDeviceDesc): void {
  const fields: [string, number | undefined, number][] = [
    ['domain', d.domain, 0xffff],
    ['bus', d.bus, 0xff],
    ['slot', d.slot, 31],
    ['func', d.func, 7],
    ['vendor', d.vendor, 0xffff],
    ['device', d.device, 0xffff],
    ['subsystemVendor', d.subsystemVendor, 0xffff],
    ['subsystemDevice', d.subsystemDevice, 0xffff],
    ['classCode', d.classCode, 0xff_ffff],
  ];
  for (const [what, v, max] of fields) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > max)) {
      throw new ConfigError(`PCI device ${what} ${String(v)} is out of range (0 to ${hex(max)})`);
    }
  }
}

function checkBar(name: string, b: PciBarDesc, all: readonly PciBarDesc[]): void {
  const where = `${name} BAR${b.index}`;
  if (!Number.isInteger(b.index) || b.index < 0 || b.index > 5) {
    throw new ConfigError(`${name}: BAR number ${String(b.index)} must be 0 to 5`);
  }
  if (all.filter((o) => o.index === b.index).length > 1)
    throw new ConfigError(`${where} is given twice`);
  const pow2 =
    Number.isSafeInteger(b.size) && b.size >= 16 && (BigInt(b.size) & BigInt(b.size - 1)) === 0n;
  if (!pow2) {
    throw new ConfigError(
      `${where}: size ${String(b.size)} must be a power of two of at least 16 bytes`,
    );
  }
  if (b.base % b.size !== 0) {
    throw new ConfigError(
      `${where}: base ${hex(b.base)} must be a multiple of its size ${hex(b.size)}`,
    );
  }
}
