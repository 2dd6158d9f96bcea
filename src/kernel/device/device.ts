/**
 * struct device, the DMA-relevant part (include/linux/device.h, Linux 6.12): name, bus, bound
 * driver, dma_mask and coherent_dma_mask, bus_dma_limit, dma_range_map, dma_coherent, dma_parms,
 * the IOMMU group, devres, and the machine port its hardware masters the bus through. The DMA
 * layer (kernel/dma) and the IOMMU core (kernel/iommu) read and set these fields; this file only
 * stores them.
 * MODEL: dev->dma_mask is never a NULL pointer (all three buses give their devices one).
 */
import { SimulatorBug } from '../../lib/errors.js';
import type { DmaPort } from '../../machine/bus/dma-port.js';
import type { BusDmaRegion } from './dma-range.js';
import { DevresList } from './devres.js';
import { isU64, maskString, maskToLimit } from './dma-mask.js';
import type { Driver } from './driver.js';

/** The buses the model has (struct bus_type names). */
export type BusType = 'pci' | 'platform' | 'isa';

/** struct device_dma_parameters, with the kernel's defaults filled in where unset. */
export interface DmaParms {
  /** dma_get_max_seg_size: longest segment a scatter-gather entry may describe; default 65536. */
  maxSegmentSize: number;
  /** dma_get_seg_boundary: a segment may not cross a multiple of mask + 1; default ULONG_MAX. */
  segmentBoundaryMask: bigint;
  /** dma_get_min_align_mask: low address bits bouncing must keep (NVMe: 0xfff); default 0. */
  minAlignMask: number;
}

/** What a bus gives a new device. */
export interface DeviceInit {
  readonly name: string;
  readonly bus: BusType;
  readonly dmaMask: bigint;
  readonly coherentDmaMask: bigint;
  readonly dmaCoherent: boolean;
  readonly dmaRangeMap: readonly BusDmaRegion[] | null;
  /** 0 for none. */
  readonly busDmaLimit: number;
  readonly dmaParms: DmaParms;
  readonly dmaPort: DmaPort | null;
}

export class Device {
  /** dev_name: "0000:00:02.0", "ff0e0000.ethernet", "i8237.0". */
  readonly name: string;
  readonly bus: BusType;
  /** The bound driver, or null (written by the registry). */
  driver: Driver | null = null;
  /** dev_get_drvdata / dev_set_drvdata: the driver's private state. */
  drvdata: unknown = null;
  /** bus_dma_limit: the highest bus address upstream bridges pass (inclusive); 0 for none. */
  busDmaLimit: number;
  /** dma_range_map: physical to bus address regions; null means identity. */
  dmaRangeMap: readonly BusDmaRegion[] | null;
  /** dev->dma_coherent: the device snoops CPU caches. */
  dmaCoherent: boolean;
  readonly dmaParms: DmaParms;
  /**
   * The IOMMU group (and through it the domain) the device belongs to; null until the IOMMU
   * layer adds the device. Opaque here: that layer defines the type.
   */
  iommuGroup: unknown = null;
  /**
   * dev->dma_mem: the per-device coherent pool (dma_declare_coherent_memory, or a device-tree
   * shared-dma-pool); null for none. Opaque here: kernel/dma/coherent.ts defines and writes it.
   */
  dmaMem: unknown = null;
  /** dev->dma_iommu: the default domain is a DMA domain, so IOMMU DMA serves the DMA API. */
  dmaIommu = false;
  /**
   * !dev->dma_skip_sync for a coherent device: a mapping needed syncs (it bounced), so the DMA
   * layer no longer skips them (dma_reset_need_sync). Written by kernel/dma/mapping.ts.
   */
  dmaNeedSync = false;
  /**
   * dev->iommu->pci_32bit_workaround: IOVAs are tried below 4 GiB first, until that space runs
   * out once. Written by kernel/dma/iommu.ts.
   */
  iommuPci32bitWorkaround = false;
  /** The machine port the device's hardware masters the bus through; null for a non-master. */
  readonly dmaPort: DmaPort | null;
  /** Managed resources of the bound driver (devres). */
  readonly devres = new DevresList();
  private mask: bigint;
  private coherentMask: bigint;
  private maskLimit: number;
  private coherentLimit: number;

  constructor(init: DeviceInit) {
    this.name = init.name;
    this.bus = init.bus;
    this.busDmaLimit = init.busDmaLimit;
    this.dmaRangeMap = init.dmaRangeMap;
    this.dmaCoherent = init.dmaCoherent;
    this.dmaParms = init.dmaParms;
    this.dmaPort = init.dmaPort;
    this.mask = checkMask(init.dmaMask, init.name);
    this.coherentMask = checkMask(init.coherentDmaMask, init.name);
    this.maskLimit = maskToLimit(this.mask);
    this.coherentLimit = maskToLimit(this.coherentMask);
  }

  /** *dev->dma_mask: the streaming DMA mask, exact. */
  get dmaMask(): bigint {
    return this.mask;
  }

  set dmaMask(mask: bigint) {
    this.mask = checkMask(mask, this.name);
    this.maskLimit = maskToLimit(mask);
  }

  /** dev->coherent_dma_mask, exact. */
  get coherentDmaMask(): bigint {
    return this.coherentMask;
  }

  set coherentDmaMask(mask: bigint) {
    this.coherentMask = checkMask(mask, this.name);
    this.coherentLimit = maskToLimit(mask);
  }

  /** The streaming mask as a number: compares with any model address as the mask does. */
  get dmaMaskLimit(): number {
    return this.maskLimit;
  }

  /** The coherent mask as a number, likewise. */
  get coherentDmaMaskLimit(): number {
    return this.coherentLimit;
  }

  /** dev_driver_string: the bound driver's name, else the bus name. */
  get driverString(): string {
    return this.driver?.name ?? this.bus;
  }

  /** The prefix dev_err/dev_warn/dev_info print: "e1000 0000:00:02.0". */
  get logPrefix(): string {
    return `${this.driverString} ${this.name}`;
  }
}

function checkMask(mask: bigint, name: string): bigint {
  if (!isU64(mask)) throw new SimulatorBug(`${name}: DMA mask ${maskString(mask)} is not a u64`);
  return mask;
}
