import { describe, expect, it } from 'vitest';
import { MemAttr } from '../../src/machine/memory/attr.js';
import type { Machine } from '../../src/machine/machine.js';
import type { DmaPort } from '../../src/machine/bus/dma-port.js';
import type { ArchName } from '../../src/machine/profile.js';
import { bytes, deviceRead, machineWithDevice } from './helpers.js';

describe('write-combining', () => {
  it.each<ArchName>(['x86_64', 'arm64'])(
    'on %s a WC store is invisible to the device until wmb()',
    (arch) => {
      const { m, port, ram0 } = machineWithDevice(arch, { coherent: false });
      m.cpu.write(ram0, bytes(1, 2, 3), 0, 3, MemAttr.WC);
      expect(deviceRead(port, port.physToBus(ram0), 3)).toEqual([0, 0, 0]);
      expect(m.cpu.readU8(ram0 + 1, MemAttr.WC)).toBe(2); // the CPU sees its own store
      m.cpu.wmb();
      expect(deviceRead(port, port.physToBus(ram0), 3)).toEqual([1, 2, 3]);
    },
  );

  it('dma_wmb() drains WC on arm64 (dmb oshst) but not on x86 (a compiler barrier)', () => {
    for (const [arch, drained] of [
      ['arm64', true],
      ['x86_64', false],
    ] as const) {
      const { m, port, ram0 } = machineWithDevice(arch, { coherent: true });
      m.cpu.write(ram0, bytes(7), 0, 1, MemAttr.WC);
      m.cpu.dmaWmb();
      expect(deviceRead(port, port.physToBus(ram0), 1)).toEqual([drained ? 7 : 0]);
    }
  });

  it('an uncached access drains the WC buffer on x86', () => {
    const { m, port, ram0 } = machineWithDevice('x86_64');
    m.cpu.write(ram0, bytes(5), 0, 1, MemAttr.WC);
    m.cpu.readU8(ram0 + 4096, MemAttr.UNCACHED);
    expect(deviceRead(port, ram0, 1)).toEqual([5]);
  });

  it('a full buffer drains its oldest line to make room', () => {
    const { m, port, ram0 } = machineWithDevice('x86_64', {}, { wcEntries: 2 });
    for (let i = 0; i < 3; i++) m.cpu.write(ram0 + i * 64, bytes(i + 1), 0, 1, MemAttr.WC);
    expect(deviceRead(port, ram0, 1)).toEqual([1]);
    expect(deviceRead(port, ram0 + 64, 1)).toEqual([0]);
    expect(deviceRead(port, ram0 + 128, 1)).toEqual([0]);
  });

  it('uncached stores reach memory at once', () => {
    const { m, port, ram0 } = machineWithDevice('arm64');
    m.cpu.write(ram0, bytes(4, 2), 0, 2, MemAttr.UNCACHED);
    expect(deviceRead(port, port.physToBus(ram0), 2)).toEqual([4, 2]);
  });
});

/** A device that fetches a 4-byte descriptor by DMA the moment its doorbell is written. */
function doorbellDevice(m: Machine, port: DmaPort, desc: number): { seen: number[] } {
  const seen: number[] = [];
  m.addMmio(0xfeb0_0000, 0x1000, 'doorbell', {
    read: () => 0,
    write: () => {
      seen.push(port.readU32(port.physToBus(desc)));
    },
  });
  return { seen };
}

function ring(arch: ArchName, seed: number, relaxed: boolean): number {
  const banks = [{ base: 0x4000_0000, size: 0x1000_0000 }];
  const { m, port, ram0 } = machineWithDevice(arch, { coherent: true }, { seed, banks });
  const { seen } = doorbellDevice(m, port, ram0);
  m.cpu.writeU32(ram0, 0xcafe);
  if (relaxed) m.cpu.writelRelaxed(0xfeb0_0000, 1);
  else m.cpu.writel(0xfeb0_0000, 1);
  return seen[0] ?? -1;
}

describe('store ordering before a doorbell', () => {
  const seeds = Array.from({ length: 32 }, (_, i) => i + 1);

  it('on arm64 a store may reach memory after a writel_relaxed doorbell (seeded)', () => {
    const results = seeds.map((s) => ring('arm64', s, true));
    expect(results).toContain(0); // the device fetched the old descriptor
    expect(results).toContain(0xcafe);
    expect(seeds.map((s) => ring('arm64', s, true))).toEqual(results); // same seed, same outcome
  });

  it('on arm64 writel() orders earlier stores (its __iowmb), so the device always sees them', () => {
    expect(new Set(seeds.map((s) => ring('arm64', s, false)))).toEqual(new Set([0xcafe]));
  });

  it('on x86 (TSO) stores are never overtaken, even by a relaxed write', () => {
    expect(new Set(seeds.map((s) => ring('x86_64', s, true)))).toEqual(new Set([0xcafe]));
  });

  it('posted stores become visible once their drain time has passed', () => {
    const { m, port, ram0 } = machineWithDevice('arm64', { coherent: true });
    m.cpu.writeU32(ram0, 0x1234);
    expect(m.cpu.postedStores.stores).toBe(1);
    expect(m.cpu.readU32(ram0)).toBe(0x1234); // store-to-load forwarding
    m.clock.advance(m.profile.storeBuffer.maxDrainNs);
    expect(m.cpu.postedStores.stores).toBe(0);
    expect(port.readU32(port.physToBus(ram0))).toBe(0x1234);
  });
});

describe('MMIO', () => {
  it('dispatches readl/writel to the device window with the register offset', () => {
    const { m } = machineWithDevice('x86_64');
    const log: string[] = [];
    m.addMmio(0xfebc_0000, 0x2_0000, 'e1000', {
      read: (off, w) => {
        log.push(`r${w}@${off.toString(16)}`);
        return 0x80080783;
      },
      write: (off, w, v) => log.push(`w${w}@${off.toString(16)}=${v.toString(16)}`),
    });
    expect(m.cpu.readl(0xfebc_0008)).toBe(0x80080783);
    m.cpu.writel(0xfebc_3818, 0x10);
    m.cpu.writeq(0xfebc_2800, 0x1_2345_6000n);
    expect(log).toEqual(['r4@8', 'w4@3818=10', 'w4@2800=23456000', 'w4@2804=1']);
  });

  it('reports an access to no window as a bus error naming the address', () => {
    const { m } = machineWithDevice('x86_64');
    expect(() => m.cpu.readl(0xfed0_0000)).toThrow(
      /MMIO read of 4 bytes at 0xfed00000 reaches no device/,
    );
    expect(() => m.cpu.readU32(0xf000_0000)).toThrow(/reaches no RAM/);
  });
});
