import { describe, expect, it } from 'vitest';
import { MemAttr } from '../../src/machine/memory/attr.js';
import { ARCH_NAMES } from '../../src/machine/profile.js';
import { bytes, deviceRead, machineWithDevice, sameSetLines } from './helpers.js';

const C = MemAttr.CACHEABLE;

describe.each(ARCH_NAMES)('cache coherence on %s', (arch) => {
  it('a non-coherent device reads stale memory after a cached CPU store, fresh after a clean', () => {
    const { m, port, ram0 } = machineWithDevice(arch, { coherent: false });
    const bus = port.physToBus(ram0);
    m.cpu.write(ram0, bytes(1, 2, 3, 4), 0, 4, C);
    m.cpu.wmb(); // posted stores reach the cache; they are still only in the cache
    expect(deviceRead(port, bus, 4)).toEqual([0, 0, 0, 0]);
    expect(m.cpu.dcacheClean(ram0, 4)).toBe(1);
    expect(deviceRead(port, bus, 4)).toEqual([1, 2, 3, 4]);
    expect(m.cache.state(ram0)).toEqual({ present: true, dirty: false });
  });

  it('a coherent device reads the dirty line from the cache without any clean', () => {
    const { m, port, ram0 } = machineWithDevice(arch, { coherent: true });
    m.cpu.write(ram0 + 62, bytes(9, 8, 7, 6), 0, 4, C); // straddles two lines on every profile
    m.cpu.wmb();
    expect(deviceRead(port, port.physToBus(ram0 + 60), 8)).toEqual([0, 0, 9, 8, 7, 6, 0, 0]);
  });

  it('the CPU reads stale data after a device write until it invalidates', () => {
    const { m, port, ram0 } = machineWithDevice(arch, { coherent: false });
    expect(m.cpu.readU8(ram0)).toBe(0); // the line is now cached, clean
    port.write(port.physToBus(ram0), bytes(0xaa, 0xbb), 0, 2);
    expect(m.cpu.readU8(ram0)).toBe(0);
    expect(m.cpu.readU8(ram0 + 1)).toBe(0);
    expect(m.cpu.dcacheInval(ram0, 2)).toBe(1);
    expect(m.cpu.readU8(ram0)).toBe(0xaa);
    expect(m.cpu.readU8(ram0 + 1)).toBe(0xbb);
  });

  it('a coherent device write replaces the cached copy and keeps the CPU bytes it did not touch', () => {
    const { m, port, ram0 } = machineWithDevice(arch, { coherent: true });
    m.cpu.write(ram0, bytes(1, 1, 1, 1), 0, 4, C);
    m.cpu.wmb();
    port.write(port.physToBus(ram0 + 2), bytes(5, 5), 0, 2);
    expect(m.cache.state(ram0).present).toBe(false);
    const out = new Uint8Array(4);
    m.cpu.read(ram0, out, 0, 4, C);
    expect([...out]).toEqual([1, 1, 5, 5]);
  });

  it('an eviction write-back clobbers a device write in a shared line', () => {
    const { m, port, ram0 } = machineWithDevice(arch, { coherent: false });
    const half = m.cache.lineSize / 2;
    m.cpu.writeU8(ram0, 0x11); // the CPU owns the first half of the line: dirty in cache
    m.cpu.wmb();
    port.write(port.physToBus(ram0 + half), bytes(0xde, 0xad), 0, 2); // the device the second half
    expect(deviceRead(port, port.physToBus(ram0 + half), 2)).toEqual([0xde, 0xad]);
    for (const p of sameSetLines(m, ram0, m.cache.ways)) m.cpu.readU8(p); // evict the line
    expect(m.cache.state(ram0).present).toBe(false);
    expect(m.cache.stats.evictions).toBeGreaterThanOrEqual(1);
    expect(deviceRead(port, port.physToBus(ram0), 1)).toEqual([0x11]);
    expect(deviceRead(port, port.physToBus(ram0 + half), 2)).toEqual([0, 0]); // device data lost
  });

  it('invalidating a shared line discards the CPU data in it', () => {
    const { m, ram0 } = machineWithDevice(arch, { coherent: false });
    m.cpu.writeU8(ram0 + 1, 0x77);
    m.cpu.wmb();
    m.cpu.dcacheInval(ram0, 1); // a FROM_DEVICE sync of a buffer ending in byte 0
    expect(m.cpu.readU8(ram0 + 1)).toBe(0);
  });
});

describe('cache statistics', () => {
  it('count hits, misses, write-backs, cleaned and invalidated lines', () => {
    const { m, ram0 } = machineWithDevice('x86_64');
    m.cpu.writeU32(ram0, 1); // miss, fill, dirty
    m.cpu.readU32(ram0); // hit
    m.cpu.readU32(ram0 + 64); // miss
    m.cpu.dcacheClean(ram0, 128);
    m.cpu.dcacheInval(ram0, 128);
    expect(m.cache.stats).toEqual({
      hits: 1,
      misses: 2,
      writebacks: 1,
      evictions: 0,
      linesCleaned: 1,
      linesInvalidated: 2,
    });
  });
});
