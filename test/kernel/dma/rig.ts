/** A booted kernel with one PCI device (an 82540EM's ids at 00:01.0), for DMA-layer tests. */
import type { Device } from '../../../src/kernel/device/device.js';
import { traceEventFields } from '../../../src/kernel/dma/trace.js';
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

/** pciRig with every dma/iommu/swiotlb tracepoint recorded as "event: fields" in `lines`. */
export function tracedPciRig(
  machine: MachineConfig,
  cmdline = '',
  coherent?: boolean,
): ReturnType<typeof pciRig> & { lines: string[] } {
  const r = pciRig(machine, cmdline, coherent);
  const lines: string[] = [];
  r.k.dmaTrace.subscribe((e) => lines.push(`${e.event}: ${traceEventFields(e)}`));
  return { ...r, lines };
}
