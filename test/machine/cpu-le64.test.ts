import { describe, expect, it } from 'vitest';
import { Machine } from '../../src/machine/machine.js';
import { MemAttr } from '../../src/machine/memory/attr.js';
import type { ArchName } from '../../src/machine/profile.js';
import { IoPageTable } from '../../src/machine/iommu/pagetable.js';
import type { MemPort } from '../../src/machine/memory/port.js';
import { sameSetLines } from './helpers.js';

/**
 * Cpu.readLe64 / writeLe64 (the 8-byte page-table entry accessors) must be the very access that
 * `read` / `write` of 8 bytes is: same bytes, same cache state and statistics, same events, on a
 * hit and on a miss, whatever the CPU's byte order.
 */
const ARCHES: readonly ArchName[] = ['x86_64', 'arm64', 'arm32', 'prep'];

interface Side {
  readonly m: Machine;
  readonly log: string[];
  readonly base: number;
}

function side(arch: ArchName, events: boolean): Side {
  const m = new Machine({ arch, seed: 7 });
  const log: string[] = [];
  if (events) m.events.subscribe((e) => log.push(JSON.stringify(e)));
  const base = (m.physmap.ramBanks[0]?.base ?? 0) + 0x20_0000;
  return { m, log, base };
}

/** A little-endian 64-bit value as 8 bytes. */
function leBytes(lo: number, hi: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, lo, true);
  v.setUint32(4, hi, true);
  return b;
}

/**
 * One workload, `fast` choosing the entry accessors or the byte path: stores and loads on a miss,
 * on a hit, on the MRU line, and after the line was evicted by same-set traffic (dirty write-back).
 * Returns every value loaded, as [lo, hi] pairs.
 */
function workload(s: Side, fast: boolean): number[] {
  const cpu = s.m.cpu;
  const out = new Uint32Array(2);
  const buf = new Uint8Array(8);
  const loads: number[] = [];
  const load = (p: number): void => {
    if (fast) cpu.readLe64(p, out, MemAttr.CACHEABLE);
    else {
      cpu.read(p, buf, 0, 8, MemAttr.CACHEABLE);
      const v = new DataView(buf.buffer);
      out[0] = v.getUint32(0, true);
      out[1] = v.getUint32(4, true);
    }
    loads.push(out[0] as number, out[1] as number);
  };
  const store = (p: number, lo: number, hi: number): void => {
    if (fast) cpu.writeLe64(p, lo, hi, MemAttr.CACHEABLE);
    else cpu.write(p, leBytes(lo, hi), 0, 8, MemAttr.CACHEABLE);
  };
  const a = s.base;
  const b = s.base + 0x1ff8; // last entry of a page
  load(a); // miss
  store(a, 0xdead_b003, 0x000f_ffff); // hit, MRU line
  store(b, 0x1234_5003, 0x0000_0001); // miss
  load(a); // hit, not MRU
  load(b);
  s.m.clock.advance(10_000); // lets posted stores of weak profiles drain
  load(a); // hits with no store posted: the fast path on every profile with events off
  load(b);
  load(b + 8 - 0x1000); // another line of the same page region
  for (const p of sameSetLines(s.m, a, s.m.cache.ways + 1)) load(p); // evicts `a` (dirty)
  load(a); // miss again, refilled from RAM
  store(a, 0, 0);
  load(a);
  s.m.cpu.wmb();
  return loads;
}

describe('Cpu.readLe64 / writeLe64', () => {
  for (const arch of ARCHES) {
    for (const events of [false, true]) {
      it(`match 8-byte read/write on ${arch}, events ${events ? 'on' : 'off'}`, () => {
        const bytePath = side(arch, events);
        const entryPath = side(arch, events);
        const want = workload(bytePath, false);
        const got = workload(entryPath, true);
        expect(got).toEqual(want);
        expect(got.slice(2, 4)).toEqual([0xdead_b003, 0x000f_ffff]);
        expect(entryPath.m.cache.stats).toEqual(bytePath.m.cache.stats);
        expect(entryPath.log).toEqual(bytePath.log);
        if (events) expect(entryPath.log.length).toBeGreaterThan(0);
        // The same bytes in RAM and in the cache (read back the same way on both sides).
        for (const p of [entryPath.base, entryPath.base + 0x1ff8]) {
          const x = new Uint8Array(8);
          const y = new Uint8Array(8);
          entryPath.m.ram.read(p, x, 0, 8);
          bytePath.m.ram.read(p, y, 0, 8);
          expect(x).toEqual(y);
          entryPath.m.cpu.read(p, x, 0, 8, MemAttr.CACHEABLE);
          bytePath.m.cpu.read(p, y, 0, 8, MemAttr.CACHEABLE);
          expect(x).toEqual(y);
        }
      });
    }
  }
});

describe('IoPageTable through a port with the entry accessors', () => {
  for (const arch of ARCHES) {
    it(`writes and reads the tables as through the byte path on ${arch}`, () => {
      const run = (fast: boolean): { m: Machine; log: string[]; phys: (number | undefined)[] } => {
        const m = new Machine({ arch, seed: 3 });
        const log: string[] = [];
        m.events.subscribe((e) => log.push(JSON.stringify(e)));
        const cpu = m.cpu;
        const bytePort: MemPort = {
          read: (p, d, o, n) => {
            cpu.read(p, d, o, n, MemAttr.CACHEABLE);
          },
          write: (p, src, o, n) => {
            cpu.write(p, src, o, n, MemAttr.CACHEABLE);
          },
        };
        const port: MemPort = fast
          ? {
              ...bytePort,
              readLe64: (p, out) => {
                cpu.readLe64(p, out, MemAttr.CACHEABLE);
              },
              writeLe64: (p, lo, hi) => {
                cpu.writeLe64(p, lo, hi, MemAttr.CACHEABLE);
              },
            }
          : bytePort;
        let next = (m.physmap.ramBanks[0]?.base ?? 0) + 0x40_0000;
        const pt = new IoPageTable({ levels: 4, mem: port, allocTable: () => (next += 0x1000) });
        const high = 0x1_2345_6000; // phys above 4 GiB: the high half of the entry is used
        pt.map(0xffff_f000, high, 0x1000, { read: true, write: true });
        pt.map(0x4000_0000, 0x20_0000, 0x20_0000, { read: true, write: false, superpage: true });
        const phys = [0xffff_f123, 0x4001_0008, 0x5000].map((v) => pt.lookup(v)?.phys);
        pt.unmap(0xffff_f000, 0x1000);
        phys.push(pt.physOf(0xffff_f123), pt.physOf(0x4000_0000));
        return { m, log, phys };
      };
      const a = run(false);
      const b = run(true);
      expect(b.phys).toEqual(a.phys);
      expect(b.phys).toEqual([0x1_2345_6123, 0x21_0008, undefined, -1, 0x20_0000]);
      expect(b.m.cache.stats).toEqual(a.m.cache.stats);
      expect(b.log).toEqual(a.log);
    });
  }
});
