import { describe, expect, it } from 'vitest';
import { CoherenceChecker } from '../../src/check/coherence.js';
import { DmaDebug } from '../../src/check/dma-debug.js';
import { chainDmaDebugHooks } from '../../src/check/hooks-chain.js';
import { IommuExposure } from '../../src/check/iommu-exposure.js';
import type { DmaAddr, VirtAddr } from '../../src/lib/addr.js';
import { MIB } from '../../src/lib/units.js';
import type { Device } from '../../src/kernel/device/device.js';
import { DmaDataDirection } from '../../src/kernel/dma/direction.js';
import { IOVA_DEFAULT_FQ_TIMEOUT_NS } from '../../src/kernel/dma/iommu-fq.js';
import type { DmaHandle } from '../../src/kernel/dma/mapping.js';
import { Kernel } from '../../src/kernel/kernel.js';
import { GFP_KERNEL } from '../../src/kernel/mm/gfp.js';
import { DmaStatus } from '../../src/machine/events.js';
import { Machine } from '../../src/machine/machine.js';

const TO_DEVICE = DmaDataDirection.TO_DEVICE;
const FROM_DEVICE = DmaDataDirection.FROM_DEVICE;
const BIDI = DmaDataDirection.BIDIRECTIONAL;
const STRICT = 'intel_iommu=on iommu.strict=1';
const LAZY = 'intel_iommu=on iommu.strict=0';

interface Rig {
  k: Kernel;
  dev: Device;
  x: IommuExposure;
}

/** An x86_64 kernel with the checker on its hooks and one PCI device. */
function rig(cmdline: string, iommu = true): Rig {
  const x = new IommuExposure();
  const m = new Machine({ arch: 'x86_64', ramSize: 256 * MIB, iommu });
  const k = new Kernel(m, { cmdline, dmaDebug: x });
  x.attach(k);
  const dev = k.devices.pciDeviceAdd({ slot: 1, vendor: 0x8086, device: 0x100e });
  return { k, dev, x };
}

function phys(r: Rig, va: VirtAddr): number {
  return r.k.linear.virtToPhys(va);
}

function devWrite(r: Rig, dma: number, n: number): DmaStatus {
  return r.dev.dmaPort!.write(dma, new Uint8Array(n).fill(0x5a), 0, n);
}

function map(r: Rig, buf: VirtAddr, size: number, dir: DmaDataDirection): DmaAddr {
  const dma = r.k.dma.dmaMapSingle(r.dev, buf, size, dir);
  expect(r.k.dma.dmaMappingError(r.dev, dma)).toBe(false);
  return dma;
}

/** Three kmalloc(64) objects in a row; the middle one is the DMA buffer. */
function threeObjects(r: Rig): [VirtAddr, VirtAddr, VirtAddr] {
  const a = r.k.kmalloc.kmalloc(64, GFP_KERNEL)!;
  const b = r.k.kmalloc.kmalloc(64, GFP_KERNEL)!;
  const c = r.k.kmalloc.kmalloc(64, GFP_KERNEL)!;
  expect([b - a, c - b]).toEqual([64, 64]);
  expect(Math.floor(phys(r, a) / 4096)).toBe(Math.floor(phys(r, c) / 4096));
  return [a, b, c];
}

describe('IOMMU exposure: sub-page mappings', () => {
  it('a 64-byte FROM_DEVICE kmalloc buffer exposes its page: the live neighbours, writable', () => {
    const r = rig(STRICT);
    const [a, b, c] = threeObjects(r);
    const dma = map(r, b, 64, FROM_DEVICE);
    const page = dma - (dma % 4096);
    const pagePhys = phys(r, b) - (phys(r, b) % 4096);
    const fmt = (va: VirtAddr): string => r.k.vm.format(va);

    expect(r.x.findings.counts()).toEqual({ 'iommu-subpage-exposure': 1 });
    const f = r.x.findings.all[0]!;
    expect(f).toMatchObject({
      kind: 'iommu-subpage-exposure',
      device: '0000:00:01.0',
      dmaAddr: dma,
      phys: phys(r, b),
      vaddr: fmt(b),
      size: 64,
      origin: `dma_map_single(0000:00:01.0, ${fmt(b)}, 64, DMA_FROM_DEVICE) at t=0ns`,
    });
    expect(f.message).toBe(
      `device can write 128 bytes of other kernel objects in the IOMMU pages of its buffer ` +
        `[device address=0x${dma.toString(16)}] [size=64 bytes] ` +
        `[IOMMU pages=0x${page.toString(16)}-0x${(page + 4095).toString(16)}] [exposed=4032 bytes]: ` +
        `kmalloc-64 object 0 (${fmt(a)}), kmalloc-64 object 2 (${fmt(c)})`,
    );
    expect(r.x.findings.lines[0]).toBe(`DMA-IOMMU: pci 0000:00:01.0: ${f.message}`);

    const rep = r.x.exposure();
    expect(rep.iommu).toBe(true);
    expect(rep.mappings).toHaveLength(1);
    const m = rep.mappings[0]!;
    expect(m).toMatchObject({
      device: '0000:00:01.0',
      type: 'single',
      dir: 'DMA_FROM_DEVICE',
      iovaStart: page,
      iovaEnd: page + 4096,
      dmaAddr: dma,
      size: 64,
      phys: phys(r, b),
      exposedBytes: 4032,
    });
    expect(
      m.exposed.map(({ dmaAddr, phys: p, len, rights }) => ({ dmaAddr, p, len, rights })),
    ).toEqual([
      { dmaAddr: page, p: pagePhys, len: 64, rights: 'w' },
      { dmaAddr: dma + 64, p: phys(r, b) + 64, len: 4096 - 128, rights: 'w' },
    ]);
    expect(m.others.map((o) => [o.kind, o.name, o.vaddr, o.phys, o.from, o.len])).toEqual([
      ['slab-object', 'kmalloc-64 object 0', fmt(a), pagePhys, pagePhys, 64],
      ['slab-object', 'kmalloc-64 object 2', fmt(c), phys(r, c), phys(r, c), 64],
    ]);
    // The rest of the page: the slab's 61 free objects, all listed, none an "other".
    const rest = m.exposed[1]!.residents;
    expect(rest).toHaveLength(62);
    expect(rest.slice(1).every((x) => x.kind === 'free-slab-object' && !x.live)).toBe(true);
    expect(rest[61]!.name).toBe('kmalloc-64 object 63');

    // A neighbour freed since: the report is recomputed, the finding stays.
    r.k.kmalloc.kfree(a);
    expect(r.x.exposure().mappings[0]!.others.map((o) => o.name)).toEqual(['kmalloc-64 object 2']);
    expect(r.x.findings.count('iommu-subpage-exposure')).toBe(1);
  });

  it('TO_DEVICE: the same bytes, readable', () => {
    const r = rig(STRICT);
    const [, b] = threeObjects(r);
    map(r, b, 64, TO_DEVICE);
    expect(r.x.findings.all[0]!.message).toMatch(
      /^device can read 128 bytes of other kernel objects/,
    );
    expect(r.x.exposure().mappings[0]!.exposed.map((e) => e.rights)).toEqual(['r', 'r']);
  });

  it('a page-aligned buffer of whole pages exposes nothing: no finding', () => {
    const r = rig(STRICT);
    const buf = r.k.kmalloc.kmalloc(8192, GFP_KERNEL)!;
    const dma = map(r, buf, 8192, BIDI);
    devWrite(r, dma, 8192);
    r.k.dma.dmaUnmapSingle(r.dev, dma, 8192, BIDI);
    expect(r.x.findings.all).toEqual([]);
    map(r, buf, 8192, BIDI);
    expect(r.x.exposure().mappings.map((m) => [m.exposedBytes, m.others.length])).toEqual([[0, 0]]);
  });

  it('dma-direct (no IOMMU): no finding, and the report says there is no IOMMU', () => {
    const r = rig('', false);
    const [, b] = threeObjects(r);
    const dma = map(r, b, 64, FROM_DEVICE);
    expect(devWrite(r, dma, 64)).toBe(DmaStatus.OK);
    r.k.dma.dmaUnmapSingle(r.dev, dma, 64, FROM_DEVICE);
    expect(r.x.findings.all).toEqual([]);
    const rep = r.x.exposure();
    expect(rep.iommu).toBe(false);
    expect(rep.mappings).toEqual([]);
    expect(rep.note).toMatch(
      /^no IOMMU DMA: devices reach memory by physical address \(dma-direct\)/,
    );
    expect(r.x.lines()).toEqual([`IOMMU exposure: ${rep.note}`]);
    const rogue = r.x.rogueScan(r.dev);
    expect(rogue).toMatchObject({ iommu: false, domain: 'none', reach: [], bytes: 0 });
    expect(rogue.note).toMatch(/^no IOMMU translates its requests \(dma-direct\)/);
  });

  it('correct code with dma-debug and the coherence checker chained: nobody reports', () => {
    const x = new IommuExposure();
    const dbg = new DmaDebug({ allErrors: true });
    const coh = new CoherenceChecker();
    const m = new Machine({ arch: 'x86_64', ramSize: 256 * MIB, iommu: true });
    const k = new Kernel(m, { cmdline: STRICT, dmaDebug: chainDmaDebugHooks(dbg, coh, x) });
    for (const c of [dbg, coh, x]) c.attach(k);
    const dev = k.devices.pciDeviceAdd({ slot: 1, vendor: 0x8086, device: 0x100e });
    const buf = k.kmalloc.kmalloc(4096, GFP_KERNEL)!;
    const dma = k.dma.dmaMapSingle(dev, buf, 4096, FROM_DEVICE);
    expect(k.dma.dmaMappingError(dev, dma)).toBe(false);
    dev.dmaPort!.write(dma, new Uint8Array(4096).fill(1), 0, 4096);
    k.dma.dmaUnmapSingle(dev, dma, 4096, FROM_DEVICE);
    expect([dbg, coh, x].map((c) => c.findings.all.length)).toEqual([0, 0, 0]);
  });
});

describe('IOMMU exposure: the lazy window', () => {
  /** Map, let the device write (filling the IOTLB), unmap at t=5000 ns, write again 1000 ns later. */
  function writeAfterUnmap(cmdline: string): {
    r: Rig;
    dma: DmaAddr;
    buf: VirtAddr;
    late: DmaStatus;
  } {
    const r = rig(cmdline);
    const buf = r.k.kmalloc.kmalloc(4096, GFP_KERNEL)!;
    const dma = map(r, buf, 4096, FROM_DEVICE);
    expect(devWrite(r, dma, 64)).toBe(DmaStatus.OK);
    r.k.machine.clock.advance(5000);
    r.k.dma.dmaUnmapSingle(r.dev, dma, 4096, FROM_DEVICE);
    r.k.machine.clock.advance(1000);
    const late = devWrite(r, dma, 64);
    return { r, dma, buf, late };
  }

  it('strict: the unmap invalidates the IOTLB, the late write faults, nothing is found', () => {
    const { r, late } = writeAfterUnmap(STRICT);
    expect(late).toBe(DmaStatus.IOMMU_FAULT);
    expect(r.x.findings.all).toEqual([]);
    expect(r.x.staleWindows()).toEqual([]);
  });

  it('strict: an IOVA the unmap gave back and a new map reuses is live, not stale', () => {
    const { r, dma } = writeAfterUnmap(STRICT);
    const again = map(r, r.k.kmalloc.kmalloc(4096, GFP_KERNEL)!, 4096, FROM_DEVICE);
    expect(again).toBe(dma);
    expect(devWrite(r, again, 64)).toBe(DmaStatus.OK);
    expect(r.x.findings.all).toEqual([]);
    expect(r.x.staleWindows()).toEqual([]);
  });

  it('lazy: the late write lands through the stale IOTLB entry until the flush queue flushes', () => {
    const { r, dma, buf, late } = writeAfterUnmap(LAZY);
    expect(late).toBe(DmaStatus.OK);
    expect(r.x.findings.counts()).toEqual({ 'iommu-stale-access': 1 });
    const f = r.x.findings.all[0]!;
    expect(f).toMatchObject({ dmaAddr: dma, phys: phys(r, buf), size: 64, time: 6000 });
    expect(f.message).toBe(
      `device writes unmapped memory through a stale IOTLB entry 1000 ns after the unmap ` +
        `[device address=0x${dma.toString(16)}] [physical address=0x${phys(r, buf).toString(16)}] [size=64 bytes]`,
    );
    expect(f.origin).toMatch(/; unmapped at t=5000ns$/);
    expect(r.x.staleWindows()).toMatchObject([
      { unmappedAt: 5000, closedAt: null, windowNs: null },
    ]);

    r.k.machine.clock.run();
    expect(devWrite(r, dma, 64)).toBe(DmaStatus.IOMMU_FAULT);
    const ws = r.x.staleWindows();
    expect(ws).toHaveLength(1);
    expect(ws[0]).toMatchObject({
      device: '0000:00:01.0',
      iovaStart: dma,
      iovaEnd: dma + 4096,
      unmappedAt: 5000,
      closedAt: 5000 + IOVA_DEFAULT_FQ_TIMEOUT_NS,
      windowNs: IOVA_DEFAULT_FQ_TIMEOUT_NS,
    });
    expect(ws[0]!.accesses.map((a) => [a.t, a.op, a.dmaAddr, a.phys, a.len])).toEqual([
      [6000, 'write', dma, phys(r, buf), 64],
    ]);
    expect(r.x.findings.count('iommu-stale-access')).toBe(1);
    expect(r.x.toJSON()).toMatchObject({ errorCount: 1, counts: { 'iommu-stale-access': 1 } });
    expect(r.x.lines()[1]).toBe(
      `IOMMU stale IOTLB: 0000:00:01.0 0x${dma.toString(16)}-0x${(dma + 4095).toString(16)} unmapped at t=5000ns, ` +
        `closed at t=10005000ns, window 10000000 ns; 1 access(es) got through (${(f.origin ?? '').replace(/; unmapped.*/, '')})`,
    );
  });
});

describe('IOMMU exposure: rogue device scan', () => {
  it("finds exactly the live mappings' pages, with their rights, then a stale IOTLB entry in lazy mode", () => {
    const r = rig(LAZY);
    const [, b] = threeObjects(r);
    const small = map(r, b, 64, TO_DEVICE);
    const big = r.k.kmalloc.kmalloc(8192, GFP_KERNEL)!;
    const bigDma = map(r, big, 8192, BIDI);
    const handle: DmaHandle = { dma: 0 as DmaAddr };
    const coherent = r.k.dma.dmaAllocCoherent(r.dev, 4096, handle, GFP_KERNEL)!;
    expect(coherent).not.toBeNull();

    const scan = r.x.rogueScan(r.dev);
    expect(scan).toMatchObject({ device: '0000:00:01.0', iommu: true, domain: 'DMA-FQ' });
    const page = (d: number): number => d - (d % 4096);
    const want = [
      [page(small), 4096, 'r', 'page-table'],
      [bigDma, 8192, 'rw', 'page-table'],
      [handle.dma, 4096, 'rw', 'page-table'],
    ].sort((p, q) => (p[0] as number) - (q[0] as number));
    expect(scan.reach.map((x) => [x.dmaAddr, x.len, x.rights, x.via])).toEqual(want);
    expect(scan.reach.find((x) => x.dmaAddr === bigDma)!.phys).toBe(phys(r, big));
    expect(scan.bytes).toBe(4096 + 8192 + 4096);
    expect(scan.reach.every((x) => x.mapping !== null)).toBe(true);
    const smallReach = scan.reach.find((x) => x.dmaAddr === page(small))!;
    expect(smallReach.phys).toBe(page(phys(r, b)));
    expect(smallReach.residents.filter((x) => x.live).map((x) => x.name)).toEqual([
      'kmalloc-64 object 0',
      'kmalloc-64 object 1',
      'kmalloc-64 object 2',
    ]);

    // The device reads the small buffer (an IOTLB entry), the driver unmaps it: until the flush the
    // page stays reachable through the IOTLB, and the scan says so.
    expect(r.dev.dmaPort!.read(small, new Uint8Array(64), 0, 64)).toBe(DmaStatus.OK);
    r.k.dma.dmaUnmapSingle(r.dev, small, 64, TO_DEVICE);
    const lazy = r.x.rogueScan(r.dev).reach.filter((x) => x.via === 'stale-iotlb');
    expect(lazy.map((x) => [x.dmaAddr, x.len, x.phys, x.rights, x.mapping])).toEqual([
      [page(small), 4096, page(phys(r, b)), 'r', null],
    ]);
    r.k.machine.clock.run();
    expect(r.x.rogueScan(r.dev).reach.map((x) => x.via)).toEqual(['page-table', 'page-table']);
  });
});
