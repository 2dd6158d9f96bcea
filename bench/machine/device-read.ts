/**
 * machine/device-read and machine/device-read-iommu: a coherent device reads 64 MiB through the
 * interconnect (cache modelled, IOMMU off / on with 4 KiB pages), against TypedArray.set of
 * 64 MiB in the same run. ratio = simulated bandwidth / native bandwidth; target >= 0.5.
 */
import { Machine } from '../../src/machine/machine.js';
import { MemAttr } from '../../src/machine/memory/attr.js';
import type { BenchResult } from '../types.js';
import { bestOf } from '../timing.js';

const SIZE = 64 * 2 ** 20;
const BASE = 0x1000_0000;
const REPS = 7;

function nativeMs(): number {
  const src = new Uint8Array(SIZE).map((_, i) => i & 0xff);
  const dst = new Uint8Array(SIZE);
  return bestOf(REPS, () => {
    dst.set(src);
  });
}

function filledMachine(iommu: boolean): Machine {
  const m = new Machine({ ramSize: 2 ** 30, iommu });
  const chunk = new Uint8Array(2 ** 20).map((_, i) => (i * 13) & 0xff);
  for (let off = 0; off < SIZE; off += chunk.length)
    m.ram.write(BASE + off, chunk, 0, chunk.length);
  // Some dirty lines in the range, so the snoop path is exercised, as it would be in real use.
  for (let off = 0; off < SIZE; off += 2 ** 20) m.cpu.writeU32(BASE + off, off, MemAttr.CACHEABLE);
  return m;
}

function simulatedMs(iommu: boolean): number {
  const m = filledMachine(iommu);
  let bus = BASE;
  if (m.iommu !== null) {
    let next = 0x10_0000;
    const tables = { read: m.ram.read.bind(m.ram), write: m.ram.write.bind(m.ram) };
    const dom = m.iommu.createDomain({
      type: 'translated',
      allocTable: () => (next += 4096),
      tableMem: tables,
    });
    bus = 0x8000_0000;
    dom.map(bus, BASE, SIZE, { read: true, write: false });
    m.iommu.attach(0x10, 'bench', dom);
  }
  const port = m.bus.attach({ name: 'bench', requesterId: 0x10, coherent: true });
  const dst = new Uint8Array(SIZE);
  const ms = bestOf(REPS, () => {
    port.read(bus, dst, 0, SIZE);
  });
  if (port.done !== SIZE || dst[5] !== 65)
    throw new Error('device-read bench: the device did not read the data');
  return ms;
}

function result(name: string, simMs: number, natMs: number): BenchResult {
  const mibps = (ms: number): number => SIZE / 2 ** 20 / (ms / 1000);
  return {
    name,
    value: Math.round(mibps(simMs)),
    unit: 'MiB/s',
    baseline: Math.round(mibps(natMs)),
    ratio: natMs / simMs,
    target: 0.5,
  };
}

export function benchDeviceRead(): BenchResult {
  return result('machine/device-read', simulatedMs(false), nativeMs());
}

export function benchDeviceReadIommu(): BenchResult {
  return result('machine/device-read-iommu', simulatedMs(true), nativeMs());
}
