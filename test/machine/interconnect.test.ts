import { describe, expect, it } from 'vitest';
import { DmaStatus } from '../../src/machine/events.js';
import type { MachineEvent } from '../../src/machine/events.js';
import { Machine } from '../../src/machine/machine.js';
import { MemAttr } from '../../src/machine/memory/attr.js';
import { bytes, deviceRead } from './helpers.js';

const IOVA = 0xffff_f000;
const BUF = 0x0865_f000;

/** A machine with the IOMMU on and one device behind it, its domain mapping IOVA -> BUF. */
function iommuMachine(): { m: Machine; map: (iova: number, phys: number, write: boolean) => void } {
  const m = new Machine({ iommu: true });
  const iommu = m.iommu!;
  let nextTable = 0x0100_0000;
  const tableMem = { read: m.ram.read.bind(m.ram), write: m.ram.write.bind(m.ram) };
  const dom = iommu.createDomain({
    type: 'translated',
    allocTable: () => (nextTable += 0x1000),
    tableMem,
  });
  iommu.attach(0x08, '0000:00:01.0', dom);
  const map = (iova: number, phys: number, write: boolean): void => {
    dom.map(iova, phys, 0x1000, { read: true, write });
  };
  return { m, map };
}

describe('the interconnect with an IOMMU', () => {
  it('translates the bus address through the page tables and keeps the page offset', () => {
    const { m, map } = iommuMachine();
    const port = m.bus.attach({ name: '0000:00:01.0', requesterId: 0x08 });
    map(IOVA, BUF, true);
    m.cpu.write(BUF + 0x9c2, bytes(1, 2, 3), 0, 3, MemAttr.CACHEABLE);
    expect(deviceRead(port, IOVA + 0x9c2, 3)).toEqual([1, 2, 3]);
  });

  it('an unmapped IOVA faults, writes nothing, and is recorded with the kernel wording', () => {
    const { m, map } = iommuMachine();
    const port = m.bus.attach({ name: '0000:00:01.0', requesterId: 0x08 });
    map(IOVA, BUF, true);
    const before = m.ram.residentBytes;
    const data = new Uint8Array(0x1800).fill(0xee); // the first half lands, the next page faults
    expect(port.write(IOVA - 0x1000 + 0x800, data, 0, data.length)).toBe(DmaStatus.IOMMU_FAULT);
    expect(port.done).toBe(0);
    expect(m.ram.residentBytes).toBe(before);
    expect(m.iommu!.faults.map((f) => f.message)).toEqual([
      'DMAR: [DMA Write NO_PASID] Request device [00:01.0] fault addr 0xffffe000 [fault reason 0x05] PTE Write access is not set',
    ]);
  });

  it('a transfer that runs into an unmapped page stops there; earlier pages have landed', () => {
    const { m, map } = iommuMachine();
    const port = m.bus.attach({ name: '0000:00:01.0', requesterId: 0x08 });
    map(IOVA - 0x1000, BUF, true);
    const data = new Uint8Array(0x1800).fill(0xee);
    expect(port.write(IOVA - 0x800, data, 0, data.length)).toBe(DmaStatus.IOMMU_FAULT);
    expect(port.done).toBe(0x800);
    expect(m.cpu.readU8(BUF + 0xfff)).toBe(0xee);
    expect(m.iommu!.faults[0]?.reason).toBe(0x05);
  });

  it('a stale IOTLB entry still translates after unmap until it is invalidated', () => {
    const { m, map } = iommuMachine();
    const port = m.bus.attach({ name: '0000:00:01.0', requesterId: 0x08 });
    map(IOVA, BUF, false);
    m.ram.write(BUF, bytes(0x42), 0, 1);
    expect(deviceRead(port, IOVA, 1)).toEqual([0x42]); // walk, fill the IOTLB
    const dom = m.iommu!.domainOf(0x08)!;
    expect(dom.unmap(IOVA, 0x1000)).toBe(0x1000);
    expect(deviceRead(port, IOVA, 1)).toEqual([0x42]); // lazy-mode window: still reachable
    m.iommu!.invalidatePage(dom, IOVA);
    expect(deviceRead(port, IOVA, 1)).toEqual([0xff]);
    expect(m.iommu!.faults.map((f) => f.reason)).toEqual([0x06]);
  });

  it('a device outside the IOMMU reaches physical memory directly', () => {
    const m = new Machine({ iommu: true });
    const port = m.bus.attach({ name: 'isa-bridge', behindIommu: false });
    m.ram.write(BUF, bytes(9), 0, 1);
    expect(deviceRead(port, BUF, 1)).toEqual([9]);
  });
});

describe('the interconnect', () => {
  it('returns a decode error for an address outside RAM and touches nothing', () => {
    const m = new Machine();
    const port = m.bus.attach({ name: 'dev' });
    expect(port.write(0xf000_0000, bytes(1), 0, 1)).toBe(DmaStatus.DECODE_ERROR);
    expect(m.ram.residentBytes).toBe(0);
    const b = new Uint8Array(4);
    expect(port.read(0x3fff_fffe, b, 0, 4)).toBe(DmaStatus.DECODE_ERROR); // runs off the end of RAM
    expect([...b]).toEqual([0, 0, 0xff, 0xff]);
  });

  it('emits DMA, CPU, write-back and IOTLB events only while observed', () => {
    const { m, map } = iommuMachine();
    const port = m.bus.attach({ name: '0000:00:01.0', requesterId: 0x08 });
    map(IOVA, BUF, true);
    const seen: MachineEvent['kind'][] = [];
    const stop = m.events.subscribe((e) => seen.push(e.kind));
    m.cpu.writeU32(BUF, 1);
    m.cpu.dcacheClean(BUF, 4);
    deviceRead(port, IOVA, 4);
    stop();
    deviceRead(port, IOVA, 4);
    expect(seen).toEqual(['cpu', 'cache-maint', 'writeback', 'iotlb', 'dma']);
  });
});
