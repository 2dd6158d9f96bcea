/** A booted kernel with one PCI device (an 82540EM's ids at 00:01.0), for DMA-layer tests. */
import type { Device } from '../../../src/kernel/device/device.js';
import { Kernel } from '../../../src/kernel/kernel.js';
import type { DmaPort } from '../../../src/machine/bus/dma-port.js';
import { Machine } from '../../../src/machine/machine.js';
import type { MachineConfig } from '../../../src/machine/machine.js';

export function pciRig(
  machine: MachineConfig,
  cmdline = '',
  coherent?: boolean,
): { k: Kernel; dev: Device; port: DmaPort } {
  const k = new Kernel(new Machine(machine), { cmdline });
  const dev = k.devices.pciDeviceAdd({
    slot: 1,
    vendor: 0x8086,
    device: 0x100e,
    ...(coherent === undefined ? {} : { coherent }),
  });
  return { k, dev, port: dev.dmaPort! };
}
