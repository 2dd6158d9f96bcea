import { describe, expect, it } from 'vitest';
import { U64_MAX } from '../../../src/kernel/device/dma-mask.js';
import { DMA_MAPPING_ERROR } from '../../../src/kernel/device/dma-range.js';
import { DmaDataDirection } from '../../../src/kernel/dma/direction.js';
import type { DmaHandle } from '../../../src/kernel/dma/mapping.js';
import { traceEventFields } from '../../../src/kernel/dma/trace.js';
import type { DmaTraceEvent } from '../../../src/kernel/dma/trace.js';
import { GFP_ATOMIC, GFP_KERNEL } from '../../../src/kernel/mm/gfp.js';
import type { Pfn } from '../../../src/kernel/mm/page.js';
import {
  Scatterlist,
  sgDmaAddress,
  sgDmaLen,
  sgInitTable,
  sgSetPage,
} from '../../../src/kernel/lib/scatterlist.js';
import type { DmaAddr, VirtAddr } from '../../../src/lib/addr.js';
import { DmaStatus } from '../../../src/machine/events.js';
import type { MachineConfig } from '../../../src/machine/machine.js';
import { pciRig } from './rig.js';

const TO_DEVICE = DmaDataDirection.TO_DEVICE;
const FROM_DEVICE = DmaDataDirection.FROM_DEVICE;
const BIDI = DmaDataDirection.BIDIRECTIONAL;
const X86_IOMMU: MachineConfig = { arch: 'x86_64', iommu: true };

/** A kernel with an IOMMU, one PCI device with a 64-bit mask, and the trace lines recorded. */
function rig(cmdline = 'intel_iommu=on iommu.strict=1', machine = X86_IOMMU, coherent?: boolean) {
  const lines: string[] = [];
  const { k, dev, port } = pciRig(machine, cmdline, coherent);
  k.dmaTrace.subscribe((e: DmaTraceEvent) => lines.push(`${e.event}: ${traceEventFields(e)}`));
  expect(k.dma.dmaSetMaskAndCoherent(dev, U64_MAX)).toBe(0);
  const page = (): Pfn => k.pages.allocPages(GFP_KERNEL, 0)!;
  const phys = (p: Pfn): number => k.pages.pageToPhys(p);
  const devRead = (bus: number, len: number): Uint8Array => {
    const b = new Uint8Array(len);
    port.read(bus, b, 0, len);
    return b;
  };
  return { k, dev, port, lines, page, phys, devRead };
}

describe('IOMMU DMA set-up', () => {
  it('puts a PCI device behind the IOMMU in its own group with a DMA domain', () => {
    const lines: string[] = [];
    const { k, dev } = pciRig(X86_IOMMU, 'intel_iommu=on iommu.strict=1');
    k.dmaTrace.subscribe((e: DmaTraceEvent) => lines.push(`${e.event}: ${traceEventFields(e)}`));
    const second = k.devices.pciDeviceAdd({ slot: 2, vendor: 0x8086, device: 0x100e });
    expect(dev.dmaIommu).toBe(true);
    expect(k.iommu.domainOf(dev)?.type).toBe('DMA');
    expect(k.dma.getDmaOps(dev).name).toBe('iommu');
    expect(lines).toEqual([
      'add_device_to_group: IOMMU: groupID=1 device=0000:00:02.0',
      'attach_device_to_domain: IOMMU: device=0000:00:02.0',
    ]);
    expect(k.iommu.groupOf(second)?.id).toBe(1);
  });

  it('defaults to lazy (DMA-FQ) domains and honours iommu.passthrough and iommu=off', () => {
    const lazy = pciRig(X86_IOMMU, '');
    expect(lazy.k.iommu.domainOf(lazy.dev)?.type).toBe('DMA-FQ');
    const pt = pciRig(X86_IOMMU, 'iommu.passthrough=1');
    expect(pt.dev.dmaIommu).toBe(false);
    expect(pt.k.iommu.domainOf(pt.dev)?.type).toBe('identity');
    const off = pciRig(X86_IOMMU, 'iommu=off');
    expect(off.dev.dmaIommu).toBe(false);
    expect(off.k.iommuDma).toBeNull();
  });

  it('passthrough and iommu=off: the DMA address is the physical one and the device reaches it', () => {
    for (const cmdline of ['iommu.passthrough=1', 'iommu=off']) {
      const { k, dev, page, phys, devRead } = rig(cmdline);
      const p = page();
      k.vm.write(k.pages.pageAddress(p)!, Uint8Array.of(1, 2, 3), 0, 3);
      const dma = k.dma.dmaMapPage(dev, p, 0, 3, TO_DEVICE);
      expect(dma).toBe(phys(p));
      expect([...devRead(dma, 3)]).toEqual([1, 2, 3]);
    }
  });
});

describe('IOMMU DMA streaming maps (trace B: e1000 behind VT-d, strict)', () => {
  it('hands out IOVAs top-down below 4 GiB, size-aligned, keeping the page offset', () => {
    const { k, dev, page, phys, lines } = rig();
    const h: DmaHandle = { dma: 0 as DmaAddr };
    k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL);
    expect(h.dma).toBe(0xfffff000);
    k.dma.dmaAllocCoherent(dev, 4096, h, GFP_KERNEL);
    expect(h.dma).toBe(0xffffe000);
    const p = page();
    const a = k.dma.dmaMapPage(dev, p, 0x8c0, 1522, FROM_DEVICE);
    expect(a).toBe(0xffffd8c0);
    // 0xac0 + 1522 crosses into the next page: two pages, aligned to two.
    const p2 = k.pages.allocPages(GFP_KERNEL, 1)!;
    const b = k.dma.dmaMapPage(dev, p2, 0xac0, 1522, FROM_DEVICE);
    expect(b).toBe(0xffffaac0);
    const c = k.dma.dmaMapPage(dev, p, 0x340, 1522, FROM_DEVICE);
    expect(c).toBe(0xffff9340);
    expect(lines.at(-4)).toBe(
      `map: IOMMU: iova=0x00000000ffffa000 - 0x00000000ffffc000 paddr=0x${hex16(phys(p2))} size=8192`,
    );
    k.dma.dmaUnmapPage(dev, a, 1522, FROM_DEVICE);
    expect(lines.slice(-2)).toEqual([
      'unmap: IOMMU: iova=0x00000000ffffd000 - 0x00000000ffffe000 size=4096 unmapped_size=4096',
      'dma_unmap_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd8c0 size=1522 attrs=',
    ]);
    // Freed into the range cache: the next one-page map reuses it.
    expect(k.dma.dmaMapPage(dev, p, 0, 64, TO_DEVICE)).toBe(0xffffd000);
  });

  it('moves to 64-bit IOVAs once the 32-bit space is full, saying so once', () => {
    const { k, dev, page } = rig();
    k.iommuDma!.cookieOf(dev)!.iovad.reserveIova(1, 0xfffff);
    const a = k.dma.dmaMapPage(dev, page(), 0, 4096, TO_DEVICE);
    expect(a).toBe(2 ** 48 - 4096);
    expect(k.log.dmesg()).toContain('pci 0000:00:01.0: Using 48-bit DMA addresses');
    k.dma.dmaMapPage(dev, page(), 0, 4096, TO_DEVICE);
    expect(k.log.dmesg().split('Using 48-bit').length).toBe(2);
  });

  it('iommu.forcedac=1 skips the 32-bit attempt', () => {
    const { k, dev, page } = rig('intel_iommu=on iommu.strict=1 iommu.forcedac=1');
    expect(k.dma.dmaMapPage(dev, page(), 0, 4096, TO_DEVICE)).toBe(2 ** 48 - 4096);
  });

  it('a 32-bit device never gets an IOVA above 4 GiB: the map fails when the space is full', () => {
    const { k, dev, page } = rig();
    expect(k.dma.dmaSetMaskAndCoherent(dev, 0xffff_ffffn)).toBe(0);
    k.iommuDma!.cookieOf(dev)!.iovad.reserveIova(1, 0xfffff);
    const a = k.dma.dmaMapPage(dev, page(), 0, 4096, TO_DEVICE);
    expect(k.dma.dmaMappingError(dev, a)).toBe(true);
  });

  it('the device reads and writes through its IOVA, and faults on a direction it was not given', () => {
    const { k, dev, port, page, devRead } = rig();
    const p = page();
    const va = k.pages.pageAddress(p)!;
    k.vm.write((va + 0x10) as VirtAddr, Uint8Array.of(9, 8, 7), 0, 3);
    const dma = k.dma.dmaMapPage(dev, p, 0x10, 3, TO_DEVICE);
    expect([...devRead(dma, 3)]).toEqual([9, 8, 7]);
    expect(port.write(dma, Uint8Array.of(1), 0, 1)).not.toBe(0); // read-only mapping
    expect(k.machine.iommu!.faults.at(-1)?.message).toContain('PTE Write access is not set');
    const rx = k.dma.dmaMapPage(dev, p, 0x100, 4, FROM_DEVICE);
    port.write(rx, Uint8Array.of(4, 3, 2, 1), 0, 4);
    k.dma.dmaUnmapPage(dev, rx, 4, FROM_DEVICE);
    const got = new Uint8Array(4);
    k.vm.read((va + 0x100) as VirtAddr, got, 0, 4);
    expect([...got]).toEqual([4, 3, 2, 1]);
  });
});

describe('strict versus lazy invalidation', () => {
  /** Maps a page, lets the device read it (filling the IOTLB), unmaps it. */
  function readThenUnmap(cmdline: string) {
    const r = rig(cmdline);
    const p = r.page();
    const dma = r.k.dma.dmaMapPage(r.dev, p, 0, 64, TO_DEVICE);
    r.devRead(dma, 4);
    r.k.dma.dmaUnmapPage(r.dev, dma, 64, TO_DEVICE);
    const reach = (): boolean => r.port.read(dma, new Uint8Array(4), 0, 4) === DmaStatus.OK;
    return { ...r, dma, reach };
  }

  it('strict: the unmap invalidates at once, the device faults', () => {
    const { reach } = readThenUnmap('intel_iommu=on iommu.strict=1');
    expect(reach()).toBe(false);
  });

  it('lazy: the stale IOTLB entry lets the device in until the 10 ms flush', () => {
    const { k, dev, reach } = readThenUnmap('intel_iommu=on iommu.strict=0');
    expect(reach()).toBe(true);
    const fq = k.iommuDma!.cookieOf(dev)!.fq!;
    expect(fq.pending).toBe(1);
    k.machine.clock.run(k.machine.clock.now + 9_999_999);
    expect(reach()).toBe(true);
    k.machine.clock.run(k.machine.clock.now + 1);
    expect(fq.pending).toBe(0);
    expect(reach()).toBe(false);
  });

  it('lazy: a full queue of 256 flushes at once and the IOVAs come back', () => {
    const { k, dev, page } = rig('intel_iommu=on iommu.strict=0');
    const p = page();
    const fq = k.iommuDma!.cookieOf(dev)!.fq!;
    for (let i = 0; i < 256; i++) {
      const dma = k.dma.dmaMapPage(dev, p, 0, 64, TO_DEVICE);
      k.dma.dmaUnmapPage(dev, dma, 64, TO_DEVICE);
    }
    expect(fq.pending).toBe(256);
    expect(fq.flushes).toBe(0);
    const dma = k.dma.dmaMapPage(dev, p, 0, 64, TO_DEVICE);
    k.dma.dmaUnmapPage(dev, dma, 64, TO_DEVICE);
    expect(fq.flushes).toBe(1);
    expect(fq.pending).toBe(1);
  });
});

describe('dma_map_sg over the IOMMU', () => {
  /** An sg list of `n` single pages from different places, with offsets/lengths as given. */
  function sgRig(parts: readonly (readonly [number, number])[], cmdline?: string) {
    const r = rig(cmdline);
    const sgl = Array.from({ length: parts.length }, () => new Scatterlist());
    sgInitTable(sgl, parts.length);
    parts.forEach(([off, len], i) => {
      r.page(); // a gap, so the pages are not contiguous
      sgSetPage(sgl[i]!, r.page(), len, off);
    });
    return { ...r, sgl };
  }

  it('merges page-aligned entries into one segment (trace E: ents=1)', () => {
    const { k, dev, sgl, lines } = sgRig([
      [0, 4096],
      [0, 4096],
      [0, 4096],
    ]);
    expect(k.dma.dmaMapSg(dev, sgl[0]!, 3, FROM_DEVICE)).toBe(1);
    expect(sgDmaAddress(sgl[0]!)).toBe(0xffffc000);
    expect(sgDmaLen(sgl[0]!)).toBe(3 * 4096);
    expect(sgDmaAddress(sgl[1]!)).toBe(DMA_MAPPING_ERROR);
    expect(lines.filter((l) => l.startsWith('map:'))).toHaveLength(3);
    expect(lines.at(-1)).toMatch(
      /^dma_map_sg: 0000:00:01.0 dir=FROM_DEVICE nents=3\/3 ents=1\/1 dma_addrs=\{0xffffc000\} sizes=\{0x3000\}/,
    );
    k.dma.dmaUnmapSg(dev, sgl[0]!, 3, FROM_DEVICE);
    expect(lines.at(-1)).toBe(
      'unmap: IOMMU: iova=0x00000000ffffc000 - 0x00000000fffff000 size=12288 unmapped_size=12288',
    );
  });

  it('starts a new segment after an entry ending inside its page and for one with an offset', () => {
    const { k, dev, sgl } = sgRig([
      [0, 4096],
      [0, 100],
      [0, 4096],
      [0x200, 0xe00],
    ]);
    expect(k.dma.dmaMapSg(dev, sgl[0]!, 4, TO_DEVICE)).toBe(3);
    const segs = [0, 1, 2].map((i) => [sgDmaAddress(sgl[i]!) - 0xffff0000, sgDmaLen(sgl[i]!)]);
    expect(segs).toEqual([
      [0xc000, 4096 + 100],
      [0xe000, 4096],
      [0xf200, 0xe00],
    ]);
  });

  it('honours max_segment_size and the segment boundary (padding to the next boundary)', () => {
    const { k, dev, sgl } = sgRig([
      [0, 4096],
      [0, 4096],
      [0, 4096],
    ]);
    k.dma.dmaSetMaxSegSize(dev, 8192);
    expect(k.dma.dmaMapSg(dev, sgl[0]!, 3, TO_DEVICE)).toBe(2);
    expect([sgDmaLen(sgl[0]!), sgDmaLen(sgl[1]!)]).toEqual([8192, 4096]);
    k.dma.dmaUnmapSg(dev, sgl[0]!, 3, TO_DEVICE);

    const b = sgRig([
      [0, 4096],
      [0, 8192],
    ]);
    b.k.dma.dmaSetSegBoundary(b.dev, 0x1fffn); // 8 KiB windows
    expect(b.k.dma.dmaMapSg(b.dev, b.sgl[0]!, 2, TO_DEVICE)).toBe(2);
    const base = sgDmaAddress(b.sgl[0]!);
    expect(base % 0x2000).toBe(0);
    expect(sgDmaAddress(b.sgl[1]!)).toBe(base + 0x2000); // padded past the first window
  });
});

describe('coherent allocations over the IOMMU', () => {
  it('stitches scattered pages: the device writes at the IOVA, the CPU reads at its alias', () => {
    const { k, dev, port } = rig();
    const h: DmaHandle = { dma: 0 as DmaAddr };
    const va = k.dma.dmaAllocCoherent(dev, 3 * 4096, h, GFP_KERNEL)!;
    expect(k.vm.isVmallocAddr(va)).toBe(true);
    expect(h.dma).toBe(0xffffc000);
    port.write(h.dma + 4096 + 8, Uint8Array.of(0xab), 0, 1);
    const b = new Uint8Array(1);
    k.vm.read((va + 4096 + 8) as VirtAddr, b, 0, 1);
    expect(b[0]).toBe(0xab);
    k.pages.drainAllPages();
    const before = k.pages.nrFreePages();
    k.dma.dmaFreeCoherent(dev, 3 * 4096, va, h.dma);
    k.pages.drainAllPages();
    expect(k.pages.nrFreePages()).toBe(before + 3);
  });

  it('GFP_ATOMIC takes contiguous pages in the linear map', () => {
    const { k, dev } = rig();
    const h: DmaHandle = { dma: 0 as DmaAddr };
    const va = k.dma.dmaAllocCoherent(dev, 4096, h, GFP_ATOMIC)!;
    expect(k.vm.isVmallocAddr(va)).toBe(false);
    expect(h.dma).toBe(0xfffff000);
  });
});

describe('a non-coherent arm64 device behind the IOMMU', () => {
  it('takes GFP_ATOMIC coherent memory from the atomic pool, mapped at an IOVA', () => {
    const { k, dev, port } = rig('iommu.strict=1', { arch: 'arm64', iommu: true }, false);
    const pools = k.atomicPools!;
    const before = pools.poolSizeKernel;
    const h: DmaHandle = { dma: 0 as DmaAddr };
    const va = k.dma.dmaAllocCoherent(dev, 8192, h, GFP_ATOMIC)!;
    expect(h.dma).toBe(0xffffe000);
    port.write(h.dma + 4100, Uint8Array.of(0x77), 0, 1);
    expect(k.vm.readU8((va + 4100) as VirtAddr)).toBe(0x77); // uncached alias: no sync needed
    k.dma.dmaFreeCoherent(dev, 8192, va, h.dma);
    expect(pools.poolSizeKernel).toBe(before);
    expect(k.dma.dmaAllocCoherent(dev, 8192, h, GFP_ATOMIC)).toBe(va); // back in the pool
  });

  it('gets the cache cleaned on map and invalidated on unmap', () => {
    const { k, dev, port, page } = rig('iommu.strict=1', { arch: 'arm64', iommu: true }, false);
    const p = page();
    const va = k.pages.pageAddress(p)!;
    k.vm.write(va, new Uint8Array(256).fill(0x5a), 0, 256);
    const dma = k.dma.dmaMapPage(dev, p, 0, 256, BIDI);
    const seen = new Uint8Array(1);
    port.read(dma + 7, seen, 0, 1);
    expect(seen[0]).toBe(0x5a);
    port.write(dma + 8, Uint8Array.of(0x11), 0, 1);
    k.dma.dmaUnmapPage(dev, dma, 256, BIDI);
    const got = new Uint8Array(1);
    k.vm.read((va + 8) as VirtAddr, got, 0, 1);
    expect(got[0]).toBe(0x11);
  });
});

function hex16(n: number): string {
  return n.toString(16).padStart(16, '0');
}

describe('an sg list mapped twice', () => {
  it('maps again as the kernel does; the first mapping stays live (a leak dma-debug reports)', () => {
    for (const cmdline of ['intel_iommu=on iommu.strict=1', 'iommu=off']) {
      const { k, dev, page } = rig(cmdline);
      const sgl = [new Scatterlist(), new Scatterlist()];
      sgInitTable(sgl, 2);
      sgSetPage(sgl[0]!, page(), 4096, 0);
      sgSetPage(sgl[1]!, page(), 512, 0);
      const seen: number[] = [];
      expect(k.dma.dmaMapSg(dev, sgl[0]!, 2, TO_DEVICE)).toBeGreaterThan(0);
      seen.push(sgDmaAddress(sgl[0]!));
      expect(k.dma.dmaMapSg(dev, sgl[0]!, 2, TO_DEVICE)).toBeGreaterThan(0);
      seen.push(sgDmaAddress(sgl[0]!));
      // The entries' CPU side is intact after both maps.
      expect([sgl[0]!.offset, sgl[0]!.length, sgl[1]!.offset, sgl[1]!.length]).toEqual([
        0, 4096, 0, 512,
      ]);
      k.dma.dmaUnmapSg(dev, sgl[0]!, 2, TO_DEVICE);
      const live = k.iommuDma?.cookieOf(dev)?.iovad.stats().live ?? 0;
      if (dev.dmaIommu) {
        expect(seen[0]).not.toBe(seen[1]); // two IOVA ranges
        expect(live).toBe(2); // the first range leaked (one IOVA), the second is cached for reuse
      } else {
        expect(seen[0]).toBe(seen[1]); // dma-direct: the same bus address again
      }
    }
  });
});
