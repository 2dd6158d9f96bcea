import { describe, expect, it } from 'vitest';
import { Machine } from '../../src/machine/machine.js';
import { MemAttr } from '../../src/machine/memory/attr.js';
import { findProfile } from '../../src/machine/profile.js';
import { bytes, deviceRead, machineWithDevice } from './helpers.js';

describe('profiles', () => {
  it('PReP shows the three addresses of one byte: physical 0, bus 0x80000000, virtual 0xC0000000', () => {
    const { m, port } = machineWithDevice('prep', { coherent: false });
    const physAddr = 0;
    m.cpu.write(physAddr, bytes(0x5a), 0, 1, MemAttr.UNCACHED);
    const busAddr = port.physToBus(physAddr);
    const virtAddr = m.profile.pageOffset + BigInt(physAddr - (m.physmap.ramBanks[0]?.base ?? 0));
    expect(busAddr).toBe(0x8000_0000);
    expect(virtAddr).toBe(0xc000_0000n);
    expect(deviceRead(port, busAddr, 1)).toEqual([0x5a]);
    expect(deviceRead(port, 0, 1)).toEqual([0xff]); // bus 0 is not memory: a master abort
  });

  it('PReP loads are big-endian; x86 loads little-endian', () => {
    for (const [arch, v] of [
      ['prep', 0x01020304],
      ['x86_64', 0x04030201],
    ] as const) {
      const m = new Machine({ arch });
      m.cpu.write(0x1000, bytes(1, 2, 3, 4), 0, 4, MemAttr.CACHEABLE);
      expect(m.cpu.readU32(0x1000)).toBe(v);
    }
  });

  it('carry the reference values', () => {
    const x86 = findProfile('x86_64');
    const arm64 = findProfile('arm64');
    const arm32 = findProfile('arm32');
    expect([x86?.lineSize, x86?.zoneDmaLimit, x86?.zoneDma32Limit, x86?.defaultCoherent]).toEqual([
      64,
      2 ** 24,
      2 ** 32,
      true,
    ]);
    expect([arm64?.lineSize, arm64?.dmaMinAlign, arm64?.defaultCoherent, arm64?.ordering]).toEqual([
      64,
      128,
      false,
      'weak',
    ]);
    expect([arm32?.lineSize, arm32?.physAddrBits, arm32?.pageOffset]).toEqual([
      32,
      32,
      0xc000_0000n,
    ]);
  });

  it('lays out RAM per profile: Arm banks above 0, the PC hole below 4 GiB', () => {
    expect(new Machine({ arch: 'arm64' }).physmap.ramBanks.map((b) => b.base)).toEqual([
      0x4000_0000,
    ]);
    const pc = new Machine({ ramSize: 8 * 2 ** 30 });
    expect(pc.physmap.describe()).toBe(
      [
        '0000000000000-00000bfffffff : System RAM (bank 0)',
        '0000100000000-000023fffffff : System RAM (bank 1)',
      ].join('\n'),
    );
  });
});

describe('sparse RAM', () => {
  it('a 64 GiB machine starts without allocating its RAM', () => {
    const m = new Machine({ ramSize: 64 * 2 ** 30 });
    expect(m.physmap.ramSize).toBe(64 * 2 ** 30);
    expect(m.ram.residentBytes).toBe(0);
    const buf = new Uint8Array(16);
    m.cpu.read(60 * 2 ** 30, buf, 0, 16, MemAttr.UNCACHED); // reading never-written memory
    expect(m.ram.residentBytes).toBe(0);
    m.cpu.write(63 * 2 ** 30, bytes(1), 0, 1, MemAttr.UNCACHED);
    expect(m.ram.residentBytes).toBe(64 * 1024);
    expect(m.cpu.readU8(63 * 2 ** 30, MemAttr.UNCACHED)).toBe(1);
  });

  it('copies bytes exactly at any size and alignment across chunk boundaries', () => {
    const m = new Machine();
    const src = Uint8Array.from({ length: 200_003 }, (_, i) => (i * 7 + 3) & 0xff);
    m.ram.write(0x1_0000 - 5, src, 0, src.length);
    const dst = new Uint8Array(src.length + 2);
    m.ram.read(0x1_0000 - 5, dst, 1, src.length);
    expect(dst.subarray(1, src.length + 1)).toEqual(src);
    expect([dst[0], dst[src.length + 1]]).toEqual([0, 0]);
  });
});

describe('configuration errors', () => {
  it.each([
    [{ arch: 'sparc' as never }, /unknown arch "sparc"; accepted: x86_64, arm64, arm32, prep/],
    [{ ramSize: 1000 }, /RAM size 1000 must be a positive multiple of the 4096-byte page/],
    [{ cpus: 0 }, /cpus must be an integer from 1 to 256, not 0/],
    [{ cache: { size: 3000 } }, /power-of-two number of sets/],
    [
      { arch: 'arm32' as const, ramSize: 4 * 2 ** 30 },
      /not a valid range of 32-bit physical addresses/,
    ],
    [
      { reserved: [{ base: 2 ** 31, size: 4096, name: 'fw' }] },
      /reserved range fw .* must lie inside one RAM bank/,
    ],
  ])('rejects %o', (cfg, msg) => {
    expect(() => new Machine(cfg)).toThrow(msg);
  });

  it('rejects overlapping MMIO windows and duplicate bus masters', () => {
    const m = new Machine();
    const h = { read: () => 0, write: () => undefined };
    m.addMmio(0xfe00_0000, 0x1000, 'a', h);
    expect(() => {
      m.addMmio(0xfe00_0800, 0x1000, 'b', h);
    }).toThrow(/b \[0xfe000800-0xfe0017ff\] overlaps a/);
    m.bus.attach({ name: 'd' });
    expect(() => m.bus.attach({ name: 'd' })).toThrow(/attached twice/);
    expect(() => m.bus.attach({ name: 'e', behindIommu: true })).toThrow(/machine has none/);
  });
});
