/** Shared set-up for the IOMMU tests: RAM, a table-page allocator, and an Iommu over them. */
import { Rng } from '../../../src/lib/rng.js';
import { Clock } from '../../../src/machine/clock/clock.js';
import { EventBus } from '../../../src/machine/events.js';
import type { MachineEvent } from '../../../src/machine/events.js';
import { Iommu } from '../../../src/machine/iommu/iommu.js';
import type { IommuConfig, IommuDomain } from '../../../src/machine/iommu/iommu.js';
import { SparseRam } from '../../../src/machine/memory/ram.js';

/** Where table pages come from: a bump allocator from 1 MiB up. */
export const TABLE_POOL = 0x10_0000;

/** PCI requester id of bus:dev.fn. */
export const rid = (bus: number, dev: number, fn: number): number => (bus << 8) | (dev << 3) | fn;

export interface TableAlloc {
  /** Pages handed out, in order. */
  readonly pages: number[];
  readonly allocTable: () => number;
}

export function tableAlloc(): TableAlloc {
  const pages: number[] = [];
  return {
    pages,
    allocTable: () => {
      const p = TABLE_POOL + pages.length * 4096;
      pages.push(p);
      return p;
    },
  };
}

export interface Rig {
  readonly ram: SparseRam;
  readonly iommu: Iommu;
  readonly domain: IommuDomain;
  readonly tables: TableAlloc;
  readonly clock: Clock;
  readonly events: EventBus;
  /** Events seen since the rig was made (the bus is on). */
  readonly seen: MachineEvent[];
}

/** An Iommu with one translated domain; `listen` turns the event bus on. */
export function makeRig(config: IommuConfig = {}, listen = false): Rig {
  const ram = new SparseRam();
  const clock = new Clock();
  const events = new EventBus();
  const seen: MachineEvent[] = [];
  if (listen) events.subscribe((e) => seen.push(e));
  const iommu = new Iommu(config, { walker: ram, rng: new Rng(1), events, clock });
  const tables = tableAlloc();
  const domain = iommu.createDomain({
    type: 'translated',
    allocTable: tables.allocTable,
    tableMem: ram,
  });
  return { ram, iommu, domain, tables, clock, events, seen };
}

/** The 64-bit entry at `phys` as [low 32 bits, high 32 bits]. */
export function readPte(ram: SparseRam, phys: number): [number, number] {
  const b = new Uint8Array(8);
  ram.read(phys, b, 0, 8);
  const v = new DataView(b.buffer);
  return [v.getUint32(0, true), v.getUint32(4, true)];
}

/** Writes a raw 64-bit entry, for tests that build tables by hand. */
export function writePte(ram: SparseRam, phys: number, lo: number, hi: number): void {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, lo >>> 0, true);
  v.setUint32(4, hi >>> 0, true);
  ram.write(phys, b, 0, 8);
}
