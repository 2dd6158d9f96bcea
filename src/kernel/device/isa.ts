/**
 * ISA devices (drivers/base/isa.c, Documentation/core-api/dma-isa-lpc.rst): named
 * "<driver name>.<id>", both masks DMA_BIT_MASK(24) (ISA DMA reaches the first 16 MiB).
 * MODEL: an ISA card does not master the bus itself: the 8237 controller does DMA on its behalf,
 * so an ISA device has no port unless one is asked for; it is never behind the IOMMU.
 */
import type { Machine } from '../../machine/machine.js';
import { Device } from './device.js';
import type { DeviceInit } from './device.js';
import { attachBusMaster, defaultDmaParms, dmaConfigure } from './dma-config.js';
import { DMA_MASK_24 } from './dma-mask.js';

/** An ISA device as isa_register_driver would create it. */
export interface IsaDeviceDesc {
  /** The name drivers match: "i8237", "sb16" ... */
  readonly name: string;
  /** Instance number; default 0. */
  readonly id?: number;
  /** Snoops CPU caches; default the profile's coherency. */
  readonly coherent?: boolean;
  /** Give the device its own bus-master port; default false (see above). */
  readonly busMaster?: boolean;
}

/** struct device on the ISA bus. */
export class IsaDevice extends Device {
  /** The name drivers match (without the ".id"). */
  readonly isaName: string;
  readonly id: number;

  constructor(desc: IsaDeviceDesc, init: DeviceInit) {
    super(init);
    this.isaName = desc.name;
    this.id = desc.id ?? 0;
  }
}

/** Creates an ISA device: 24-bit masks, the profile's offset, an optional port. */
export function isaDeviceCreate(machine: Machine, desc: IsaDeviceDesc): IsaDevice {
  const name = `${desc.name}.${desc.id ?? 0}`;
  const profile = machine.profile;
  const dma = dmaConfigure(profile, undefined, DMA_MASK_24, name);
  const coherent = desc.coherent ?? profile.defaultCoherent;
  const port =
    desc.busMaster === true
      ? attachBusMaster(machine, {
          name,
          coherent,
          dmaRangeMap: dma.dmaRangeMap,
          behindIommu: false,
        })
      : null;
  const init: DeviceInit = {
    name,
    bus: 'isa',
    ...dma,
    dmaCoherent: coherent,
    dmaParms: defaultDmaParms(profile),
    dmaPort: port,
  };
  return new IsaDevice(desc, init);
}
