/**
 * Platform devices from a device-tree-like node (drivers/of/platform.c, drivers/of/device.c
 * of_dma_configure_id, Documentation/devicetree/bindings/dma/dma-common.yaml): the name
 * "<reg address>.<node name>", compatible strings, reg windows mapped into the machine,
 * `dma-coherent` (absent: the profile's coherency), `dma-ranges`, `iommus`, `memory-region`.
 * Masks start at 32 bits (setup_pdev_dma_masks) and are cut to the reach of dma-ranges.
 * MODEL: the node's own dma-ranges stand for its parent bus's (the kernel reads the parent's);
 * `iommus` gives the stream id used as the requester id.
 */
import { ConfigError } from '../../lib/errors.js';
import type { Machine } from '../../machine/machine.js';
import type { MmioHandler } from '../../machine/memory/physmap.js';
import { Device } from './device.js';
import type { DeviceInit } from './device.js';
import { attachBusMaster, defaultDmaParms, dmaConfigure } from './dma-config.js';
import { DMA_MASK_32 } from './dma-mask.js';
import type { BusDmaRegion } from './dma-range.js';

/** One `iommus` specifier: the IOMMU node and the master's stream (requester) id. */
export interface IommuSpec {
  readonly iommu: string;
  readonly id: number;
}

/** One `reg` window; with a handler it is mapped into the machine as MMIO. */
export interface RegWindow {
  readonly base: number;
  readonly size: number;
  readonly handler?: MmioHandler;
}

/** A device-tree node for a platform device; properties keep their DT names. */
export interface PlatformDeviceDesc {
  /** Node name with or without unit address: "ethernet@ff0e0000" or "ethernet". */
  readonly name: string;
  readonly compatible?: readonly string[];
  readonly reg?: readonly RegWindow[];
  /** Present: the device snoops CPU caches. */
  readonly 'dma-coherent'?: boolean;
  /** Present: it does not, whatever the platform default. */
  readonly 'dma-noncoherent'?: boolean;
  /** Bus address, CPU address, size; absent: the profile's bus offset. */
  readonly 'dma-ranges'?: readonly BusDmaRegion[];
  readonly iommus?: readonly IommuSpec[];
  /** reserved-memory node names of the device's DMA pools. */
  readonly 'memory-region'?: readonly string[];
  /** Masters the bus (has a DmaPort); default true. */
  readonly busMaster?: boolean;
}

/** struct platform_device. */
export class PlatformDevice extends Device {
  /** Node name without the unit address (%pOFn). */
  readonly nodeName: string;
  readonly compatible: readonly string[];
  readonly reg: readonly RegWindow[];
  readonly iommus: readonly IommuSpec[];
  readonly memoryRegion: readonly string[];

  constructor(desc: PlatformDeviceDesc, init: DeviceInit) {
    super(init);
    this.nodeName = nodeBaseName(desc.name);
    this.compatible = desc.compatible ?? [];
    this.reg = desc.reg ?? [];
    this.iommus = desc.iommus ?? [];
    this.memoryRegion = desc['memory-region'] ?? [];
  }
}

function nodeBaseName(name: string): string {
  const at = name.indexOf('@');
  return at < 0 ? name : name.slice(0, at);
}

/**
 * of_device_make_bus_id: "<first reg address in hex>.<node name>", or the node name alone.
 * @linux drivers/of/platform.c of_device_make_bus_id
 */
export function platformDevName(desc: PlatformDeviceDesc): string {
  const reg = desc.reg?.[0];
  const base = nodeBaseName(desc.name);
  return reg === undefined ? base : `${reg.base.toString(16)}.${base}`;
}

/**
 * Creates a platform device from its node: DMA configuration, reg windows mapped, bus-master port
 * attached (behind the IOMMU exactly when `iommus` is given).
 * @throws ConfigError for contradictory properties or clashes with the machine
 * @linux drivers/of/platform.c of_platform_device_create_pdata
 */
export function platformDeviceCreate(machine: Machine, desc: PlatformDeviceDesc): PlatformDevice {
  const name = platformDevName(desc);
  if (desc['dma-coherent'] === true && desc['dma-noncoherent'] === true) {
    throw new ConfigError(`${name}: "dma-coherent" and "dma-noncoherent" exclude each other`);
  }
  const profile = machine.profile;
  const coherent =
    desc['dma-coherent'] === true
      ? true
      : desc['dma-noncoherent'] === true
        ? false
        : profile.defaultCoherent;
  const dma = dmaConfigure(profile, desc['dma-ranges'], DMA_MASK_32, name);
  const iommus = desc.iommus ?? [];
  const port =
    desc.busMaster === false
      ? null
      : attachBusMaster(machine, {
          name,
          ...(iommus[0] === undefined ? {} : { requesterId: iommus[0].id }),
          coherent,
          dmaRangeMap: dma.dmaRangeMap,
          behindIommu: iommus.length > 0,
        });
  for (const r of desc.reg ?? []) {
    if (r.handler !== undefined) machine.addMmio(r.base, r.size, name, r.handler);
  }
  const init: DeviceInit = {
    name,
    bus: 'platform',
    ...dma,
    dmaCoherent: coherent,
    dmaParms: defaultDmaParms(profile),
    dmaPort: port,
  };
  return new PlatformDevice(desc, init);
}
