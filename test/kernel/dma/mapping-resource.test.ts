import { describe, expect, it } from 'vitest';
import { DMA_MAPPING_ERROR } from '../../../src/kernel/device/dma-range.js';
import { DmaDataDirection } from '../../../src/kernel/dma/direction.js';
import { NO_DMA_DEBUG } from '../../../src/kernel/dma/hooks.js';
import type { DmaDebugHooks } from '../../../src/kernel/dma/hooks.js';
import { Kernel } from '../../../src/kernel/kernel.js';
import { GFP_KERNEL } from '../../../src/kernel/mm/gfp.js';
import type { PhysAddr, VirtAddr } from '../../../src/lib/addr.js';
import { Machine } from '../../../src/machine/machine.js';
import type { MachineConfig } from '../../../src/machine/machine.js';
import { pciRig, tracedPciRig } from './rig.js';

const BIDI = DmaDataDirection.BIDIRECTIONAL;
const FROM_DEVICE = DmaDataDirection.FROM_DEVICE;
const X86_IOMMU: MachineConfig = { arch: 'x86_64', iommu: true };
const STRICT = 'intel_iommu=on iommu.strict=1';
/** A register window of another device (peer-to-peer); RAM would not be allowed. */
const MMIO = 0xfebf_0000 as PhysAddr;

describe('dma_map_resource / dma_unmap_resource', () => {
  it('dma-direct: the bus address is the physical one, traced with both tracepoints', () => {
    const { k, dev, lines } = tracedPciRig({ arch: 'x86_64' });
    const dma = k.dma.dmaMapResource(dev, MMIO, 4096, BIDI);
    expect(dma).toBe(MMIO);
    k.dma.dmaUnmapResource(dev, dma, 4096, BIDI);
    expect(lines).toEqual([
      'dma_map_resource: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=febf0000 size=4096 phys_addr=febf0000 attrs=',
      'dma_unmap_resource: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=febf0000 size=4096 attrs=',
    ]);
  });

  it('dma-direct: a window beyond the 32-bit mask fails with the overflow warning', () => {
    const { k, dev, lines } = tracedPciRig({ arch: 'x86_64' });
    const dma = k.dma.dmaMapResource(dev, 0x1_0000_0000 as PhysAddr, 4096, FROM_DEVICE);
    expect(dma).toBe(DMA_MAPPING_ERROR);
    expect(k.dma.dmaMappingError(dev, dma)).toBe(true);
    expect(k.log.all.at(-2)?.text).toBe(
      'pci 0000:00:01.0: DMA addr 0x0000000100000000+4096 overflow (mask ffffffff, bus limit 0).',
    );
    expect(lines).toEqual([
      'dma_map_resource: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffffffffffffff size=4096 phys_addr=100000000 attrs=',
    ]);
  });

  it('IOMMU DMA: an IOVA mapped to the window, unmapped and invalidated at once in strict mode', () => {
    const { k, dev, lines } = tracedPciRig(X86_IOMMU, STRICT);
    const dma = k.dma.dmaMapResource(dev, MMIO, 4096, BIDI);
    const domain = k.iommu.domainOf(dev)!;
    expect(dma).toBe(0xffff_f000);
    expect(k.iommu.iovaToPhys(domain, dma)).toBe(MMIO);
    k.dma.dmaUnmapResource(dev, dma, 4096, BIDI);
    expect(k.iommu.iovaToPhys(domain, dma)).toBe(0);
    expect(lines).toEqual([
      'map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x00000000febf0000 size=4096',
      'dma_map_resource: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=fffff000 size=4096 phys_addr=febf0000 attrs=',
      'unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096',
      'dma_unmap_resource: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=fffff000 size=4096 attrs=',
    ]);
  });

  it('a non-coherent arm64 device: the same addresses, with and without the IOMMU', () => {
    for (const [machine, cmdline, want] of [
      [{ arch: 'arm64' }, '', MMIO],
      [{ arch: 'arm64', iommu: true }, 'iommu.strict=1', 0xffff_f000],
    ] as const) {
      const { k, dev } = pciRig(machine, cmdline, false);
      const dma = k.dma.dmaMapResource(dev, MMIO, 4096, BIDI);
      expect(dma).toBe(want);
      k.dma.dmaUnmapResource(dev, dma, 4096, BIDI);
      if (machine.iommu === true) expect(k.iommu.iovaToPhys(k.iommu.domainOf(dev)!, dma)).toBe(0);
    }
  });

  it('tells dma-debug after the map and after the unmap', () => {
    const calls: string[] = [];
    const debug: DmaDebugHooks = {
      ...NO_DMA_DEBUG,
      mapResource: (_d, phys, size, dir, dma) => calls.push(`map ${phys} ${size} ${dir} ${dma}`),
      unmapResource: (_d, dma, size, dir) => calls.push(`unmap ${dma} ${size} ${dir}`),
    };
    const k = new Kernel(new Machine({ arch: 'x86_64' }), { dmaDebug: debug });
    const dev = k.devices.pciDeviceAdd({ slot: 1, vendor: 0x8086, device: 0x100e });
    const dma = k.dma.dmaMapResource(dev, MMIO, 256, BIDI);
    k.dma.dmaUnmapResource(dev, dma, 256, BIDI);
    expect(calls).toEqual([`map ${MMIO} 256 0 ${MMIO}`, `unmap ${MMIO} 256 0`]);
  });
});

describe('dma_sync_single_range_for_cpu / _for_device', () => {
  for (const [name, machine, cmdline] of [
    ['dma-direct', { arch: 'arm64' }, ''],
    ['IOMMU DMA', { arch: 'arm64', iommu: true }, 'iommu.strict=1'],
  ] as const) {
    it(`${name}, non-coherent arm64: syncs only [addr + offset, + size), traced at that address`, () => {
      const { k, dev, port, lines } = tracedPciRig(machine, cmdline, false);
      const buf = k.kmalloc.kmalloc(4096, GFP_KERNEL)!;
      const dma = k.dma.dmaMapSingle(dev, buf, 4096, FROM_DEVICE);
      k.vm.readU32(buf); // the CPU caches line 0 (a driver peeking too early)
      k.vm.readU32((buf + 0x80) as VirtAddr); // ... and the line at 0x80
      port.writeU32(dma, 0x1111);
      port.writeU32(dma + 0x80, 0x2222);
      lines.length = 0;
      k.dma.dmaSyncSingleRangeForCpu(dev, dma, 0x80, 64, FROM_DEVICE);
      expect(k.vm.readU32((buf + 0x80) as VirtAddr)).toBe(0x2222); // invalidated: fresh
      expect(k.vm.readU32(buf)).toBe(0); // outside the range: still the stale line
      k.dma.dmaSyncSingleRangeForDevice(dev, dma, 0x80, 64, FROM_DEVICE);
      const at = (dma + 0x80).toString(16);
      expect(lines).toEqual([
        `dma_sync_single_for_cpu: 0000:00:01.0 dir=FROM_DEVICE dma_addr=${at} size=64`,
        `dma_sync_single_for_device: 0000:00:01.0 dir=FROM_DEVICE dma_addr=${at} size=64`,
      ]);
    });
  }
});
