/**
 * Differential check of the data cache's fast paths (block copies of runs of lines, whole-line
 * store misses that skip the RAM read, deferred write-backs, the one-line CPU fast path) against a
 * straightforward line-by-line reference: same bytes, same statistics, same resident and dirty
 * lines, same RAM, and the same write-back events in the same order when an observer listens.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemAttr } from '../../src/machine/memory/attr.js';
import type { ArchName } from '../../src/machine/profile.js';
import { machineWithDevice } from './helpers.js';

const C = MemAttr.CACHEABLE;

interface RefLine {
  line: number;
  dirty: boolean;
  stamp: number;
  data: Uint8Array;
}

/** The cache as the README describes it, one line at a time, with no shortcut. */
class RefCache {
  readonly stats = {
    hits: 0,
    misses: 0,
    writebacks: 0,
    evictions: 0,
    linesCleaned: 0,
    linesInvalidated: 0,
  };
  readonly writebacks: string[] = [];
  private readonly sets: (RefLine | null)[][];
  private readonly ram = new Map<number, Uint8Array>();
  private tick = 0;

  constructor(
    private readonly nSets: number,
    ways: number,
    private readonly ls: number,
  ) {
    this.sets = Array.from({ length: nSets }, () => Array.from({ length: ways }, () => null));
  }

  ramLine(line: number): Uint8Array {
    let b = this.ram.get(line);
    if (b === undefined) {
      b = new Uint8Array(this.ls);
      this.ram.set(line, b);
    }
    return b;
  }

  find(line: number): RefLine | null {
    return this.sets[line % this.nSets]?.find((e) => e?.line === line) ?? null;
  }

  private writeBack(e: RefLine, cause: string): void {
    this.ramLine(e.line).set(e.data);
    e.dirty = false;
    this.stats.writebacks++;
    this.writebacks.push(`${e.line * this.ls}:${cause}`);
  }

  private access(line: number, write: boolean): RefLine {
    let e = this.find(line);
    if (e !== null) this.stats.hits++;
    else {
      this.stats.misses++;
      const set = this.sets[line % this.nSets] as (RefLine | null)[];
      let victim = set.indexOf(null);
      if (victim < 0) {
        victim = 0;
        for (let w = 1; w < set.length; w++)
          if ((set[w] as RefLine).stamp < (set[victim] as RefLine).stamp) victim = w;
        const old = set[victim] as RefLine;
        this.stats.evictions++;
        if (old.dirty) this.writeBack(old, 'evict');
      }
      e = { line, dirty: false, stamp: 0, data: this.ramLine(line).slice() };
      set[victim] = e;
    }
    e.stamp = ++this.tick;
    if (write) e.dirty = true;
    return e;
  }

  cpu(phys: number, buf: Uint8Array, write: boolean): void {
    // One access per line touched, then its bytes one by one.
    for (let i = 0; i < buf.length;) {
      const line = Math.floor((phys + i) / this.ls);
      const e = this.access(line, write);
      for (; i < buf.length && Math.floor((phys + i) / this.ls) === line; i++) {
        const at = (phys + i) % this.ls;
        if (write) e.data[at] = buf[i] as number;
        else buf[i] = e.data[at] as number;
      }
    }
  }

  private lines(phys: number, len: number, fn: (e: RefLine) => boolean): number {
    let n = 0;
    for (let l = Math.floor(phys / this.ls); l * this.ls < phys + len; l++) {
      const e = this.find(l);
      if (e !== null && fn(e)) n++;
    }
    return n;
  }

  private drop(e: RefLine): void {
    const set = this.sets[e.line % this.nSets] as (RefLine | null)[];
    set[set.indexOf(e)] = null;
  }

  clean(phys: number, len: number): number {
    const n = this.lines(phys, len, (e) => {
      if (!e.dirty) return false;
      this.writeBack(e, 'clean');
      return true;
    });
    this.stats.linesCleaned += n;
    return n;
  }

  invalidate(phys: number, len: number, clean: boolean): number {
    const n = this.lines(phys, len, (e) => {
      if (clean && e.dirty) this.writeBack(e, 'clean');
      this.drop(e);
      return true;
    });
    this.stats.linesInvalidated += n;
    return n;
  }

  /** A coherent device read: RAM overlaid by dirty lines. */
  snoopRead(phys: number, len: number): number[] {
    return Array.from({ length: len }, (_, i) => {
      const l = Math.floor((phys + i) / this.ls);
      const e = this.find(l);
      return (e?.dirty === true ? e.data : this.ramLine(l))[(phys + i) % this.ls] ?? 0;
    });
  }

  /** A coherent device write: dirty lines written back, every copy dropped, then RAM written. */
  snoopWrite(phys: number, src: Uint8Array): void {
    this.lines(phys, src.length, (e) => {
      if (e.dirty) this.writeBack(e, 'snoop');
      this.drop(e);
      return false;
    });
    for (let i = 0; i < src.length; i++) {
      const p = phys + i;
      this.ramLine(Math.floor(p / this.ls))[p % this.ls] = src[i] as number;
    }
  }

  state(line: number): { present: boolean; dirty: boolean } {
    const e = this.find(line);
    return { present: e !== null, dirty: e?.dirty === true };
  }

  resident(): number {
    return this.sets.flat().filter((e) => e !== null).length;
  }
}

type Op =
  | { k: 'read' | 'write'; off: number; len: number; seed: number }
  | { k: 'u32r' | 'u32w'; off: number; seed: number }
  | { k: 'clean' | 'inval' | 'cinval'; off: number; len: number }
  | { k: 'devRead' | 'devWrite'; off: number; len: number; seed: number };

/** 8 KiB region: with a 4 KiB, 4-way cache every set sees twice its ways. */
const REGION = 8192;
const lenArb = fc.oneof(
  fc.integer({ min: 1, max: 20 }),
  fc.constantFrom(32, 64, 128, 256, 1024, 2048),
  fc.integer({ min: 1, max: 3000 }),
);
const offArb = fc.oneof(
  fc.integer({ min: 0, max: REGION - 1 }),
  fc.integer({ min: 0, max: REGION / 64 - 1 }).map((x) => x * 64),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    k: fc.constantFrom('read' as const, 'write' as const),
    off: offArb,
    len: lenArb,
    seed: fc.nat(255),
  }),
  fc.record({ k: fc.constantFrom('u32r' as const, 'u32w' as const), off: offArb, seed: fc.nat() }),
  fc.record({
    k: fc.constantFrom('clean' as const, 'inval' as const, 'cinval' as const),
    off: offArb,
    len: lenArb,
  }),
  fc.record({
    k: fc.constantFrom('devRead' as const, 'devWrite' as const),
    off: offArb,
    len: fc.integer({ min: 1, max: 300 }),
    seed: fc.nat(255),
  }),
);

function pattern(len: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (seed * 31 + i * 7) & 0xff);
}

function runBoth(arch: ArchName, ops: readonly Op[], observe: boolean): void {
  const { m, port, ram0 } = machineWithDevice(
    arch,
    { coherent: true },
    { cache: { size: 4096, ways: 4 }, storeBufferEntries: 0 },
  );
  const ls = m.cache.lineSize;
  const ref = new RefCache(m.cache.nSets, m.cache.ways, ls);
  const events: string[] = [];
  if (observe) {
    m.events.subscribe((e) => {
      if (e.kind === 'writeback') events.push(`${e.phys - ram0}:${e.cause}`);
    });
  }
  const clip = (off: number, len: number): number => Math.min(len, REGION - off);
  for (const op of ops) {
    const p = ram0 + op.off;
    switch (op.k) {
      case 'read': {
        const len = clip(op.off, op.len);
        const got = new Uint8Array(len + 2).fill(0xee);
        m.cpu.read(p, got, 1, len, C);
        const want = new Uint8Array(len);
        ref.cpu(op.off, want, false);
        expect([...got.subarray(1, len + 1)]).toEqual([...want]);
        expect([got[0], got[len + 1]]).toEqual([0xee, 0xee]);
        break;
      }
      case 'write': {
        const len = clip(op.off, op.len);
        const src = pattern(len + 3, op.seed);
        m.cpu.write(p, src, 3, len, C);
        ref.cpu(op.off, src.slice(3), true);
        break;
      }
      case 'u32r': {
        const off = Math.min(op.off, REGION - 4);
        const want = new Uint8Array(4);
        ref.cpu(off, want, false);
        expect(m.cpu.readU32(ram0 + off) >>> 0).toBe(
          new DataView(want.buffer).getUint32(0, !m.profile.bigEndian),
        );
        break;
      }
      case 'u32w': {
        const off = Math.min(op.off, REGION - 4);
        m.cpu.writeU32(ram0 + off, op.seed);
        const b = new Uint8Array(4);
        new DataView(b.buffer).setUint32(0, op.seed, !m.profile.bigEndian);
        ref.cpu(off, b, true);
        break;
      }
      case 'clean':
        expect(m.cpu.dcacheClean(p, clip(op.off, op.len))).toBe(
          ref.clean(op.off, clip(op.off, op.len)),
        );
        break;
      case 'inval':
      case 'cinval': {
        const len = clip(op.off, op.len);
        const n = op.k === 'inval' ? m.cpu.dcacheInval(p, len) : m.cpu.dcacheCleanInval(p, len);
        expect(n).toBe(ref.invalidate(op.off, len, op.k === 'cinval'));
        break;
      }
      case 'devRead': {
        const len = clip(op.off, op.len);
        // At an offset in dst, between guard bytes: the device's buffer is rarely at its start.
        const got = new Uint8Array(len + 2).fill(0xee);
        port.read(port.physToBus(p), got, 1, len);
        expect([...got.subarray(1, len + 1)]).toEqual(ref.snoopRead(op.off, len));
        expect([got[0], got[len + 1]]).toEqual([0xee, 0xee]);
        break;
      }
      case 'devWrite': {
        const src = pattern(clip(op.off, op.len), op.seed);
        port.write(port.physToBus(p), src, 0, src.length);
        ref.snoopWrite(op.off, src);
        break;
      }
    }
    expect({ ...m.cache.stats }).toEqual(ref.stats);
  }
  for (let l = 0; l < REGION / ls; l++) expect(m.cache.state(ram0 + l * ls)).toEqual(ref.state(l));
  expect(m.cache.residentLines).toBe(ref.resident());
  const ram = new Uint8Array(REGION);
  m.ram.read(ram0, ram, 0, REGION);
  const refRam = new Uint8Array(REGION);
  for (let l = 0; l < REGION / ls; l++) refRam.set(ref.ramLine(l), l * ls);
  expect(ram).toEqual(refRam);
  if (observe) expect(events).toEqual(ref.writebacks);
}

describe.each(['x86_64', 'arm32'] as const)(
  'data cache against a line-by-line reference on %s',
  (arch) => {
    it('random CPU copies, maintenance and snoops give the same bytes, stats and lines', () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
          runBoth(arch, ops, false);
        }),
        { numRuns: 80 },
      );
    });

    it('with an observer listening, the write-back events come in the same order', () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
          runBoth(arch, ops, true);
        }),
        { numRuns: 30 },
      );
    });

    it('sequential whole-page copies (long runs, whole-line store misses) match', () => {
      const ops: Op[] = [];
      for (let i = 0; i < 12; i++) {
        ops.push({ k: 'write', off: (i * 4096) % REGION, len: 4096, seed: i });
        ops.push({ k: 'read', off: ((i + 1) * 4096) % REGION, len: 4096, seed: 0 });
        ops.push({ k: 'write', off: ((i * 1024) % REGION) + 64, len: 3000, seed: i + 1 });
      }
      runBoth(arch, ops, false);
      runBoth(arch, ops, true);
    });

    it('a run of hits in one way refreshes LRU: the next fills evict the untouched way', () => {
      // Four sequential KiB fill the four ways in order; re-reading the first makes its lines
      // the most recent, so the fifth KiB must evict the second's, not the first's.
      const ops: Op[] = [0, 1, 2, 3].map((i) => ({
        k: 'write',
        off: i * 1024,
        len: 1024,
        seed: i,
      }));
      ops.push({ k: 'read', off: 0, len: 1024, seed: 0 });
      ops.push({ k: 'write', off: 4096, len: 1024, seed: 9 });
      runBoth(arch, ops, false);
    });
  },
);
