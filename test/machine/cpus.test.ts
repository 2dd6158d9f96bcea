import { describe, expect, it } from 'vitest';
import { Machine } from '../../src/machine/machine.js';

describe('CPUs', () => {
  it('default to two, and each operation runs on the current one', () => {
    const m = new Machine();
    expect(m.cpus.length).toBe(2);
    expect(m.cpu.id).toBe(0);
    expect(m.runOn(1).id).toBe(1);
    expect([m.cpu.id, m.currentCpu]).toEqual([1, 1]);
    expect(() => m.runOn(2)).toThrow('cpu 2 does not exist (this machine has cpus 0..1)');
  });

  it('share one coherent cache: a store on one CPU is seen by a load on the other', () => {
    const m = new Machine({ cpus: 4 });
    m.runOn(3).writeU32(0x1000, 0xabcd);
    expect(m.runOn(0).readU32(0x1000)).toBe(0xabcd);
  });

  it('on arm64 another CPU sees a posted store only once it drains (a barrier or time)', () => {
    const m = new Machine({ arch: 'arm64' });
    m.runOn(0).writeU32(0x4000_1000, 7);
    expect(m.cpus[1]!.readU32(0x4000_1000)).toBe(0);
    m.cpus[0]!.wmb();
    expect(m.cpus[1]!.readU32(0x4000_1000)).toBe(7);
  });
});

describe('the physical map', () => {
  it('lists RAM, reserved ranges and MMIO windows like /proc/iomem', () => {
    const m = new Machine({ reserved: [{ base: 0x9_f000, size: 0x1000, name: 'Reserved' }] });
    m.addMmio(0xfebc_0000, 0x2_0000, '0000:00:02.0 e1000', {
      read: () => 0,
      write: () => undefined,
    });
    expect(m.physmap.describe()).toBe(
      [
        '0000000000000-000003fffffff : System RAM',
        '000000009f000-000000009ffff : Reserved',
        '00000febc0000-00000febdffff : 0000:00:02.0 e1000',
      ].join('\n'),
    );
    expect(m.physmap.ramExtent(0x3fff_fff0)).toBe(0x10);
    expect(m.physmap.ramExtent(0xfebc_0000)).toBe(0);
  });
});
