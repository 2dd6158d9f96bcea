import { describe, expect, it } from 'vitest';
import type { VirtAddr } from '../../../src/lib/addr.js';
import { MIB } from '../../../src/lib/units.js';
import { DMA_MAPPING_ERROR } from '../../../src/kernel/device/dma-range.js';
import { DmaDataDirection } from '../../../src/kernel/dma/direction.js';
import { KernelBug } from '../../../src/kernel/dma/mapping.js';
import { isSwiotlbBuffer } from '../../../src/kernel/dma/swiotlb.js';
import { traceEventFields } from '../../../src/kernel/dma/trace.js';
import type { DmaTraceEvent } from '../../../src/kernel/dma/trace.js';
import { Kernel } from '../../../src/kernel/kernel.js';
import { NO_DMA_DEBUG } from '../../../src/kernel/dma/hooks.js';
import { Machine } from '../../../src/machine/machine.js';
import { GFP_DMA, GFP_KERNEL } from '../../../src/kernel/mm/gfp.js';
import type { MachineConfig } from '../../../src/machine/machine.js';
import { pciRig } from './rig.js';

const TO_DEVICE = DmaDataDirection.TO_DEVICE;
const FROM_DEVICE = DmaDataDirection.FROM_DEVICE;

/** A kernel, one PCI device on it, a kmalloc'd buffer, and the trace lines recorded. */
function rig(machine: MachineConfig, cmdline = '', coherent?: boolean) {
  const { k, dev, port } = pciRig(machine, cmdline, coherent);
  const trace: string[] = [];
  k.dmaTrace.subscribe((e: DmaTraceEvent) => trace.push(`${e.event}: ${traceEventFields(e)}`));
  const buf = k.kmalloc.kmalloc(256, GFP_KERNEL)!;
  const fill = (v: number): void => {
    k.vm.write(buf, new Uint8Array(256).fill(v), 0, 256);
  };
  const deviceSees = (bus: number): number => {
    const b = new Uint8Array(1);
    port.read(bus, b, 0, 1);
    return b[0]!;
  };
  return { k, dev, port, buf, fill, deviceSees, trace };
}

describe('dma_map_single on a non-coherent arm64 device', () => {
  it('cleans the buffer for the device: without the map the device reads stale RAM', () => {
    const { k, dev, buf, fill, deviceSees } = rig({ arch: 'arm64' }, '', false);
    fill(0x5a);
    k.machine.cpu.wmb();
    expect(deviceSees(k.vm.virtToBus(buf))).toBe(0); // the bytes are only in the cache
    const addr = k.dma.dmaMapSingle(dev, buf, 256, TO_DEVICE);
    expect(k.dma.dmaMappingError(dev, addr)).toBe(false);
    expect(addr).toBe(k.vm.virtToPhys(buf));
    expect(deviceSees(addr)).toBe(0x5a);
    k.dma.dmaUnmapSingle(dev, addr, 256, TO_DEVICE);
  });

  it('invalidates on unmap for FROM_DEVICE, so the CPU sees what the device wrote', () => {
    const { k, dev, port, buf } = rig({ arch: 'arm64' }, '', false);
    const addr = k.dma.dmaMapSingle(dev, buf, 256, FROM_DEVICE);
    expect(k.vm.readU8(buf)).toBe(0); // a CPU peek while the device owns it caches the line
    port.write(addr, Uint8Array.of(7, 8, 9), 0, 3);
    expect(k.vm.readU8(buf)).toBe(0); // stale
    k.dma.dmaUnmapSingle(dev, addr, 256, FROM_DEVICE);
    expect([k.vm.readU8(buf), k.vm.readU8((buf + 2) as VirtAddr)]).toEqual([7, 9]);
  });
});

describe('dma-direct on x86 (coherent)', () => {
  it('returns the physical address, traces the map in the kernel format and skips syncs', () => {
    const { k, dev, buf, trace } = rig({});
    const phys = k.vm.virtToPhys(buf);
    const addr = k.dma.dmaMapSingle(dev, buf, 98, TO_DEVICE);
    k.dma.dmaSyncSingleForCpu(dev, addr, 98, TO_DEVICE); // elided: coherent, never bounced
    k.dma.dmaUnmapSingle(dev, addr, 98, TO_DEVICE);
    const h = phys.toString(16);
    expect(trace).toEqual([
      `dma_map_page: 0000:00:01.0 dir=TO_DEVICE dma_addr=${h} size=98 phys_addr=${h} attrs=`,
      `dma_unmap_page: 0000:00:01.0 dir=TO_DEVICE dma_addr=${h} size=98 attrs=`,
    ]);
  });

  it('bounces every map through SWIOTLB with swiotlb=force and copies back on unmap', () => {
    const { k, dev, port, buf, fill, trace } = rig({ ramSize: 1024 * MIB }, 'swiotlb=force');
    fill(0x11);
    const addr = k.dma.dmaMapSingle(dev, buf, 256, DmaDataDirection.BIDIRECTIONAL);
    const pool = k.swiotlb!.defpool;
    expect(addr).toBeGreaterThanOrEqual(pool.start);
    expect(addr % 2048).toBe(0);
    const b = new Uint8Array(1);
    port.read(addr, b, 0, 1);
    expect(b[0]).toBe(0x11); // the map copied the buffer into the slot
    port.write(addr, Uint8Array.of(0x22), 0, 1);
    expect(k.vm.readU8(buf)).toBe(0x11);
    k.dma.dmaSyncSingleForCpu(dev, addr, 256, DmaDataDirection.BIDIRECTIONAL); // not elided now
    expect(k.vm.readU8(buf)).toBe(0x22);
    k.dma.dmaUnmapSingle(dev, addr, 256, DmaDataDirection.BIDIRECTIONAL);
    expect(trace[0]).toBe(
      `swiotlb_bounced: dev_name: 0000:00:01.0 dma_mask=ffffffff dev_addr=${k.vm.virtToPhys(buf).toString(16)} size=256 FORCE`,
    );
    expect(trace.map((l) => l.slice(0, l.indexOf(':')))).toEqual([
      'swiotlb_bounced',
      'dma_map_page',
      'dma_sync_single_for_cpu',
      'dma_unmap_page',
    ]);
  });

  it('bounces a buffer above 4 GiB for a 32-bit device, and fails with the warning without a pool', () => {
    const GIB = 1024 * MIB;
    const high = (k: Kernel): VirtAddr => k.linear.physToVirt(5 * GIB);
    const withPool = rig({ ramSize: 8 * GIB });
    const a = withPool.k.dma.dmaMapSingle(withPool.dev, high(withPool.k), 64, TO_DEVICE);
    expect(a).toBeLessThan(4 * GIB);
    expect(withPool.k.swiotlb!.totalUsed).toBe(1);
    const noPool = rig({ ramSize: 8 * GIB }, 'swiotlb=noforce');
    expect(noPool.k.swiotlb).toBeNull();
    const b = noPool.k.dma.dmaMapSingle(noPool.dev, high(noPool.k), 64, TO_DEVICE);
    expect(noPool.k.dma.dmaMappingError(noPool.dev, b)).toBe(true);
    expect(noPool.k.log.all.slice(-2).map((l) => l.text)).toEqual([
      'pci 0000:00:01.0: DMA addr 0x0000000140000000+64 overflow (mask ffffffff, bus limit 0).',
      'WARNING: CPU: 0 PID: 0 at kernel/dma/direct.h dma_direct_map_page',
    ]);
  });
});

describe('bad use', () => {
  it('refuses vmalloc memory with the kernel warning and BUGs on DMA_NONE', () => {
    const { k, dev, buf } = rig({});
    const v = k.vmap.vmalloc(4096)!;
    expect(k.dma.dmaMapSingle(dev, v, 64, TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
    expect(k.log.all.slice(-2).map((l) => l.text)).toEqual([
      'pci 0000:00:01.0: rejecting DMA map of vmalloc memory',
      'WARNING: CPU: 0 PID: 0 at include/linux/dma-mapping.h dma_map_single_attrs',
    ]);
    expect(() => k.dma.dmaMapSingle(dev, buf, 64, DmaDataDirection.NONE)).toThrow(KernelBug);
  });
});

describe('small kmalloc buffers on arm64 (CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC)', () => {
  it('are bounced for a non-coherent device writing them, so a neighbour in the line cannot clobber the data', () => {
    const { k, dev, port } = pciRig({ arch: 'arm64', ramSize: 512 * MIB }, '', false);
    expect(k.swiotlb!.nslabs).toBe(256); // 512 KiB: 1 KiB per MiB of RAM
    const a = k.kmalloc.kmalloc(8, GFP_KERNEL)!;
    const b = k.kmalloc.kmalloc(8, GFP_KERNEL)!;
    expect(Math.floor(k.vm.virtToPhys(a) / 64)).toBe(Math.floor(k.vm.virtToPhys(b) / 64)); // one line
    const addr = k.dma.dmaMapSingle(dev, a, 8, FROM_DEVICE);
    expect(addr).toBeGreaterThanOrEqual(k.swiotlb!.defpool.start); // bounced
    port.write(addr, Uint8Array.of(0xaa), 0, 1);
    k.vm.writeU8(b, 0x55); // the CPU dirties the neighbour meanwhile
    k.dma.dmaMapSingle(dev, b, 8, TO_DEVICE); // TO_DEVICE: never bounced, cleans the shared line
    k.dma.dmaUnmapSingle(dev, addr, 8, FROM_DEVICE);
    expect(k.vm.readU8(a)).toBe(0xaa);
    const big = k.dma.dmaMapSingle(dev, k.kmalloc.kmalloc(256, GFP_KERNEL)!, 256, FROM_DEVICE);
    expect(isSwiotlbBuffer(k.swiotlb, big)).toBe(false); // 256 >= 2 * ARCH_DMA_MINALIGN: direct
  });
});

describe('dma_map_single of memory that is not DMA-able', () => {
  /** A kernel whose dma-debug hooks record what dma_map_single hands them. */
  function debugRig(arch: 'x86_64' | 'arm32') {
    const seen: VirtAddr[] = [];
    const k = new Kernel(new Machine({ arch }), {
      dmaDebug: { ...NO_DMA_DEBUG, mapSingle: (_dev, ptr) => seen.push(ptr) },
    });
    const dev = k.devices.pciDeviceAdd({ slot: 1, vendor: 0x8086, device: 0x100e });
    return { k, dev, seen };
  }

  it('x86_64 (vmapped stacks): a stack buffer is refused as vmalloc memory, before dma-debug', () => {
    const { k, dev, seen } = debugRig('x86_64');
    const onStack = (k.stacks.base(0) + 64) as VirtAddr;
    expect(k.dma.dmaMapSingle(dev, onStack, 16, TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
    expect(k.log.dmesg()).toContain('rejecting DMA map of vmalloc memory');
    expect(seen).toEqual([]);
  });

  it('arm32 (linear stacks): a stack buffer is mapped, and dma-debug is told first', () => {
    const { k, dev, seen } = debugRig('arm32');
    const onStack = (k.stacks.base(0) + 64) as VirtAddr;
    const dma = k.dma.dmaMapSingle(dev, onStack, 16, TO_DEVICE);
    expect(k.dma.dmaMappingError(dev, dma)).toBe(false);
    expect(seen).toEqual([onStack]);
    expect(k.stacks.isStackAddr(seen[0]!)).toBe(true);
  });

  it('kernel image memory is mapped; a pointer nothing maps fails after dma-debug saw it', () => {
    const { k, dev, seen } = debugRig('x86_64');
    const text = (k.vm.imageStart + 0x1000) as VirtAddr;
    expect(k.dma.dmaMappingError(dev, k.dma.dmaMapSingle(dev, text, 64, TO_DEVICE))).toBe(false);
    const bogus = (k.vm.imageStart - 0x10_0000) as VirtAddr;
    expect(k.dma.dmaMapSingle(dev, bogus, 64, TO_DEVICE)).toBe(DMA_MAPPING_ERROR);
    expect(seen).toEqual([text, bogus]);
    expect(k.vm.isKernelImage(seen[0]!)).toBe(true);
  });
});

describe('a 24-bit ISA bus master (DMA_BIT_MASK(24))', () => {
  function isaRig(cmdline: string) {
    const k = new Kernel(new Machine({ arch: 'x86_64', ramSize: 512 * MIB }), { cmdline });
    const dev = k.devices.isaDeviceAdd({ name: 'sb16', busMaster: true });
    expect(k.dma.dmaSetMaskAndCoherent(dev, 0xff_ffffn)).toBe(0);
    return { k, dev };
  }

  it('maps GFP_DMA memory below 16 MiB as is; memory above fails with the overflow warning', () => {
    const { k, dev } = isaRig('');
    expect(k.swiotlb).toBeNull(); // a 512 MiB PC needs no bounce pool
    const a = k.dma.dmaMapSingle(
      dev,
      k.kmalloc.kmalloc(256, GFP_KERNEL | GFP_DMA)!,
      256,
      TO_DEVICE,
    );
    expect(k.dma.dmaMappingError(dev, a)).toBe(false);
    expect(a + 255).toBeLessThan(16 * MIB);
    const b = k.dma.dmaMapSingle(dev, k.kmalloc.kmalloc(256, GFP_KERNEL)!, 256, TO_DEVICE);
    expect(k.dma.dmaMappingError(dev, b)).toBe(true);
    expect(k.log.dmesg()).toMatch(/sb16\.0: DMA addr 0x[0-9a-f]+\+256 overflow \(mask ffffff,/);
  });

  it('under swiotlb=force even GFP_DMA memory fails: the pool lies above 16 MiB', () => {
    const { k, dev } = isaRig('swiotlb=force');
    const a = k.dma.dmaMapSingle(
      dev,
      k.kmalloc.kmalloc(256, GFP_KERNEL | GFP_DMA)!,
      256,
      TO_DEVICE,
    );
    expect(k.dma.dmaMappingError(dev, a)).toBe(true);
    expect(k.log.dmesg()).toMatch(/sb16\.0: swiotlb addr 0x[0-9a-f]+\+256 overflow \(mask ffffff,/);
    expect(k.swiotlb?.totalUsed).toBe(0);
  });
});

describe('fault injection for driver tests (DmaApi.injectMapFailure)', () => {
  it('fails exactly the nth streaming map from now, once, touching nothing', () => {
    for (const machine of [{ ramSize: 256 * MIB }, { ramSize: 256 * MIB, iommu: true }]) {
      const { k, dev } = pciRig(machine, machine.iommu === true ? 'intel_iommu=on' : '');
      const buf = k.kmalloc.kmalloc(512, GFP_KERNEL)!;
      const free = k.pages.nrFreePages();
      k.dma.injectMapFailure(2);
      const first = k.dma.dmaMapSingle(dev, buf, 512, DmaDataDirection.TO_DEVICE);
      const second = k.dma.dmaMapSingle(dev, buf, 512, DmaDataDirection.TO_DEVICE);
      const third = k.dma.dmaMapSingle(dev, buf, 512, DmaDataDirection.TO_DEVICE);
      expect([first, third].map((a) => k.dma.dmaMappingError(dev, a))).toEqual([false, false]);
      expect(second).toBe(DMA_MAPPING_ERROR);
      k.dma.dmaUnmapSingle(dev, first, 512, DmaDataDirection.TO_DEVICE);
      k.dma.dmaUnmapSingle(dev, third, 512, DmaDataDirection.TO_DEVICE);
      expect(k.pages.nrFreePages()).toBe(free);
    }
  });

  it('refuses a count that is not a whole number', () => {
    const { k } = pciRig({ ramSize: 256 * MIB });
    expect(() => {
      k.dma.injectMapFailure(-1);
    }).toThrow('injectMapFailure: -1 is not a map count; give an integer >= 1 (0 disarms)');
    expect(() => {
      k.dma.injectMapFailure(1.5);
    }).toThrow('injectMapFailure: 1.5 is not a map count');
  });
});
