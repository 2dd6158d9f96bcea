/**
 * The coherence checker's buffer index (coherence-owners.ts) against a straightforward reference:
 * random track, untrack, lookup and ownership changes give the answers of a per-cache-line map of
 * buffers and a per-line owner array (what the index replaced).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MapCall, Owner, OwnerTable } from '../../src/check/coherence-owners.js';
import type { CpuRange, Tracked, TrackedInit } from '../../src/check/coherence-owners.js';
import type { Device } from '../../src/kernel/device/device.js';
import { DmaDataDirection } from '../../src/kernel/dma/direction.js';

const LS = 64;
const DEVS = [{ name: 'a' }, { name: 'b' }] as unknown as Device[];

type Step =
  | { kind: 'add'; dev: number; ranges: { phys: number; len: number }[] }
  | { kind: 'remove'; pick: number }
  | { kind: 'own'; pick: number; off: number; len: number; cpu: boolean }
  | { kind: 'look'; line: number; off: number; len: number; pick: number };

const range = fc.record({ phys: fc.integer({ min: 0, max: 5 * 4096 }), len: fc.nat(9000) });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('add' as const),
    dev: fc.integer({ min: 0, max: 1 }),
    ranges: fc.array(range, { minLength: 1, maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant('own' as const),
    pick: fc.nat(),
    off: fc.integer({ min: -100, max: 9000 }),
    len: fc.nat(9000),
    cpu: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('look' as const),
    line: fc.nat(7 * 64),
    off: fc.nat(9000),
    len: fc.nat(9000),
    pick: fc.nat(),
  }),
);

/** The reference: every line of every range in a Map, owners one byte per line. */
class Reference {
  readonly byLine = new Map<number, Tracked[]>();
  readonly owner = new Map<Tracked, Uint8Array>();
  readonly gone: Tracked[] = [];

  add(t: Tracked, n: number): void {
    for (const r of t.cpu)
      for (
        let l = Math.floor(r.phys / LS);
        l <= Math.floor((r.phys + Math.max(r.len, 1) - 1) / LS);
        l++
      ) {
        const list = this.byLine.get(l) ?? [];
        if (!list.includes(t)) list.push(t);
        this.byLine.set(l, list);
      }
    this.owner.set(t, new Uint8Array(n).fill(Owner.DEVICE));
  }

  remove(t: Tracked): void {
    for (const [l, list] of this.byLine) {
      const i = list.indexOf(t);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byLine.delete(l);
    }
    this.owner.delete(t);
    this.gone.push(t);
  }

  setOwner(t: Tracked, dmaAddr: number, size: number, o: Owner): void {
    const own = this.owner.get(t)!;
    const first = Math.floor(t.dmaAddr / LS);
    const a = Math.max(0, Math.floor(dmaAddr / LS) - first);
    const b = Math.min(own.length, Math.floor((dmaAddr + Math.max(size, 1) - 1) / LS) - first + 1);
    own.fill(o, a, b);
  }

  owns(t: Tracked, off: number, len: number, o: Owner): boolean {
    const own = this.owner.get(t)!;
    const first = Math.floor(t.dmaAddr / LS);
    const a = Math.max(0, Math.floor((t.dmaAddr + off) / LS) - first);
    const b = Math.min(
      own.length,
      Math.floor((t.dmaAddr + off + Math.max(len, 1) - 1) / LS) - first + 1,
    );
    for (let i = a; i < b; i++) if (own[i] === o) return true;
    return false;
  }
}

function init(dev: Device, dmaAddr: number, ranges: { phys: number; len: number }[]): TrackedInit {
  let dmaOff = 0;
  const cpu: CpuRange[] = ranges.map((r) => {
    const c = { phys: r.phys, len: r.len, dmaOff };
    dmaOff += r.len;
    return c;
  });
  const single = cpu.length === 1 ? cpu[0]! : null;
  return {
    dev,
    type: single !== null ? 'single' : 'sg',
    dir: DmaDataDirection.BIDIRECTIONAL,
    dmaAddr,
    size: Math.max(dmaOff, 1),
    cpu: single !== null && single.len > 0 ? null : cpu,
    phys: single?.phys ?? 0,
    vaddr: -1,
    slot: -1,
    call: MapCall.PAGE,
    arg: 0,
    seg: 0,
    at: 0,
    caller: '',
    va: { format: (va) => va.toString(16) },
  };
}

describe('OwnerTable', () => {
  it('answers as a per-line index and per-line owners do, under random track and untrack', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 500 }), (steps) => {
        const table = new OwnerTable(LS);
        const ref = new Reference();
        const live: Tracked[] = [];
        let bus = 0x10000;
        for (const [i, s] of steps.entries()) {
          if (s.kind === 'add') {
            const dev = DEVS[s.dev]!;
            const spec = init(dev, bus + (i % 3) * 8, s.ranges);
            bus += 0x10000;
            const t = table.fresh(spec);
            expect(t.cpu.map((r) => [r.phys, r.len])).toEqual(
              s.ranges.length === 1 && s.ranges[0]!.len > 0
                ? [[s.ranges[0]!.phys, spec.size]]
                : s.ranges.map((r) => [r.phys, r.len]),
            );
            table.add(t, -1);
            ref.add(t, table.nLines(t.dmaAddr, t.size));
            live.push(t);
          } else if (s.kind === 'remove') {
            const t = live[s.pick % Math.max(live.length, 1)];
            if (t === undefined) continue;
            live.splice(live.indexOf(t), 1);
            expect(table.exact(t.dev.name, t.dmaAddr, t.type)).toBe(t);
            table.remove(t, i, -1);
            ref.remove(t);
            expect(t.unmappedAt).toBe(i);
          } else if (s.kind === 'own') {
            const t = live[s.pick % Math.max(live.length, 1)];
            if (t === undefined) continue;
            const o = s.cpu ? Owner.CPU : Owner.DEVICE;
            table.setOwner(t, t.dmaAddr + s.off, s.len, o);
            ref.setOwner(t, t.dmaAddr + s.off, s.len, o);
          } else {
            const want = ref.byLine.get(s.line);
            expect(table.onLine(s.line)?.slice()).toEqual(want?.slice());
            expect(table.tracksLine(s.line)).toBe(want !== undefined);
            const t = live[s.pick % Math.max(live.length, 1)];
            if (t !== undefined) {
              expect(table.deviceOwns(t, s.off, s.len)).toBe(
                ref.owns(t, s.off, s.len, Owner.DEVICE),
              );
              expect(table.cpuOwns(t, s.off, s.len)).toBe(ref.owns(t, s.off, s.len, Owner.CPU));
              expect(table.atBus(t.dev.name, t.dmaAddr)).toBe(t);
            }
            const recent = ref.gone.slice(-64).reverse();
            for (const dev of DEVS) {
              const bus0 = 0x10000 + (s.pick % 300) * 0x10000 + (s.off % 64);
              const g = recent.find(
                (x) => x.dev === dev && bus0 >= x.dmaAddr && bus0 < x.dmaAddr + x.size,
              );
              expect(table.goneAt(dev.name, bus0)).toBe(g);
            }
          }
        }
      }),
      { numRuns: 120, seed: 11 },
    );
  });
});
