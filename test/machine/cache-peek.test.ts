import { describe, expect, it } from 'vitest';
import { MemAttr } from '../../src/machine/memory/attr.js';
import type { MachineEvent } from '../../src/machine/events.js';
import { ARCH_NAMES } from '../../src/machine/profile.js';
import { bytes, machineWithDevice, sameSetLines } from './helpers.js';

const C = MemAttr.CACHEABLE;

describe.each(ARCH_NAMES)('DataCache.peek on %s', (arch) => {
  it("returns the CPU's view (cached line, else RAM) and changes nothing", () => {
    const { m, port, ram0 } = machineWithDevice(arch, { coherent: false });
    const cache = m.cache;
    const ls = cache.lineSize;
    // One set, filled in order: ram0, then `ways - 1` more lines; then ram0 is used again, so
    // the least recently used line is lines[0] and the next is lines[1].
    const lines = sameSetLines(m, ram0, cache.ways);
    const resident = [ram0, ...lines.slice(0, -1)];
    const absent = lines[lines.length - 1]!;
    for (const p of resident) m.cpu.readU8(p);
    m.cpu.write(ram0, bytes(1, 2, 3, 4), 0, 4, C);
    m.cpu.wmb();
    // The device writes RAM under the dirty line and under a line the cache does not hold.
    port.write(port.physToBus(ram0), bytes(9, 9, 9, 9, 9, 9), 0, 6);
    port.write(port.physToBus(absent), bytes(7, 6), 0, 2);

    const stats = { ...cache.stats };
    const nResident = cache.residentLines;
    const events: MachineEvent[] = [];
    const off = m.events.subscribe((e) => events.push(e));
    const got = new Uint8Array(6);
    cache.peek(ram0, got, 0, 6);
    expect([...got]).toEqual([1, 2, 3, 4, 0, 0]); // the dirty cached line, not RAM's 9s
    const far = new Uint8Array(ls);
    cache.peek(absent - ls + 2, far, 0, ls); // the tail of one line and the head of the next
    expect([...far.subarray(ls - 2, ls)]).toEqual([7, 6]); // RAM: the line is not resident
    cache.peek(resident[1]!, got, 0, 1); // lines[0], the LRU line: peeking is not a use
    expect(cache.peekLine(resident[1]! / ls)).toBeGreaterThanOrEqual(0);
    expect(cache.peekLine(absent / ls)).toBe(-1);
    off();
    expect(events).toEqual([]);
    expect(cache.stats).toEqual(stats);
    expect(cache.residentLines).toBe(nResident);
    expect(cache.state(ram0)).toEqual({ present: true, dirty: true });
    expect(cache.state(absent).present).toBe(false);

    // The most recent CPU access is still ram0's line: a load of lines[0] (just peeked) is a real
    // use that stamps it, so the next miss in the set evicts lines[1], not lines[0].
    m.cpu.readU8(resident[1]!);
    m.cpu.readU8(absent);
    expect(cache.state(resident[1]!).present).toBe(true);
    expect(cache.state(resident[2]!).present).toBe(false);
    expect(cache.state(ram0).present).toBe(true);
  });

  it('an LRU line that was only peeked is still the one evicted', () => {
    const { m, ram0 } = machineWithDevice(arch);
    const lines = sameSetLines(m, ram0, m.cache.ways);
    for (const p of [ram0, ...lines.slice(0, -1)]) m.cpu.readU8(p);
    const b = new Uint8Array(1);
    for (let i = 0; i < 3; i++) m.cache.peek(ram0, b, 0, 1);
    m.cpu.readU8(lines[lines.length - 1]!);
    expect(m.cache.state(ram0).present).toBe(false);
    expect(m.cache.state(lines[0]!).present).toBe(true);
  });
});
