import { describe, expect, it } from 'vitest';
import { parseCmdline } from '../../../src/kernel/cmdline.js';
import { procIomem } from '../../../src/kernel/mm/iomem.js';
import { Memblock } from '../../../src/kernel/mm/memblock.js';
import type { MemblockConfig, ReservedMemoryNode } from '../../../src/kernel/mm/memblock.js';
import { KernelLog } from '../../../src/kernel/printk.js';
import { DeviceRegistry } from '../../../src/kernel/device/registry.js';
import { ConfigError, SimulatorBug } from '../../../src/lib/errors.js';
import { GIB, MIB } from '../../../src/lib/units.js';
import { Machine } from '../../../src/machine/machine.js';
import type { MachineConfig } from '../../../src/machine/machine.js';

/** x86-64's image: CONFIG_PHYSICAL_START 16 MiB; 10 MiB code, 4 MiB data, 2 MiB bss. */
const X86_IMAGE = { base: 16 * MIB, code: 10 * MIB, data: 4 * MIB, bss: 2 * MIB };

function boot(
  mcfg: MachineConfig,
  cmdline = '',
  extra: Partial<MemblockConfig> = {},
): { m: Machine; mb: Memblock; log: KernelLog } {
  const m = new Machine(mcfg);
  const log = new KernelLog(m.clock);
  const mb = Memblock.boot({
    profile: m.profile,
    physmap: m.physmap,
    params: parseCmdline(cmdline),
    log,
    ...extra,
  });
  return { m, mb, log };
}

const mmio = { read: (): number => 0, write: (): void => undefined };

describe('mem=', () => {
  it('mem=62M on a 64 MiB PC leaves 62 MiB of memory and the top 2 MiB of RAM outside it', () => {
    const { m, mb } = boot({ ramSize: 64 * MIB }, 'mem=62MB');
    expect(mb.memorySize).toBe(62 * MIB);
    expect(mb.memory).toEqual([{ base: 0, size: 62 * MIB, flags: 0, name: 'memory' }]);
    expect(mb.removed).toEqual([{ base: 62 * MIB, size: 2 * MIB }]);
    expect(m.physmap.ramSize).toBe(64 * MIB); // still RAM: ioremap can reach it
    expect(mb.isMemory(62 * MIB - 1)).toBe(true);
    expect(mb.isMemory(62 * MIB)).toBe(false);
    expect(mb.overlapsMemory(62 * MIB, 2 * MIB)).toBe(false);
    expect(mb.freeRanges().at(-1)).toEqual({ base: MIB, size: 61 * MIB });
  });

  it('is an address limit on x86: RAM above the PCI hole goes first', () => {
    const { mb } = boot({ ramSize: 4 * GIB }, 'mem=3584M');
    expect(mb.memory.map((r) => [r.base, r.size])).toEqual([[0, 3 * GIB]]);
    expect(mb.removed).toEqual([{ base: 4 * GIB, size: GIB }]);
  });

  it('is an amount of memory elsewhere, counted from the first bank (arm64: RAM at 1 GiB)', () => {
    const { mb } = boot({ arch: 'arm64', ramSize: 64 * MIB }, 'mem=62M');
    expect(mb.memory.map((r) => [r.base, r.size])).toEqual([[GIB, 62 * MIB]]);
    expect(mb.removed).toEqual([{ base: GIB + 62 * MIB, size: 2 * MIB }]);
  });

  it('memmap=nn acts as mem=; memmap=nn$ss reserves', () => {
    const { mb } = boot({ ramSize: 64 * MIB }, 'memmap=48M memmap=1M$0x2000000');
    expect(mb.memorySize).toBe(48 * MIB);
    expect(mb.reserved.map((r) => [r.base, r.size, r.name])).toEqual([
      [0, MIB, 'real mode and BIOS (first 1 MiB)'],
      [32 * MIB, MIB, 'memmap reserved'],
    ]);
  });

  it('a limit below the kernel image is a configuration error', () => {
    expect(() => boot({ ramSize: 64 * MIB }, 'mem=20M', { kernelImage: X86_IMAGE })).toThrow(
      new ConfigError(
        "the kernel image [0x1000000-0x1ffffff] is not in the kernel's memory (check the RAM size and mem=)",
      ),
    );
  });
});

describe('reservations and free ranges', () => {
  it('x86: the first 1 MiB, firmware ranges and the kernel image are not free', () => {
    const { mb } = boot(
      { ramSize: 64 * MIB, reserved: [{ base: 0x3ff_0000, size: 0x1_0000, name: 'ACPI tables' }] },
      '',
      { kernelImage: X86_IMAGE },
    );
    expect(mb.freeRanges()).toEqual([
      { base: MIB, size: 15 * MIB },
      { base: 32 * MIB, size: 0x3ff_0000 - 32 * MIB },
    ]);
    expect(mb.reservedSize).toBe(MIB + 16 * MIB + 0x1_0000);
  });

  it('reserved-memory regions are placed and kept out of the free ranges', () => {
    const nodes: ReservedMemoryNode[] = [
      {
        name: 'linux,cma',
        compatible: 'shared-dma-pool',
        size: 16 * MIB,
        reusable: true,
        'linux,cma-default': true,
      },
      { name: 'gpu-pool', compatible: 'shared-dma-pool', size: MIB },
      {
        name: 'fb@48000000',
        compatible: 'shared-dma-pool',
        reg: { base: 0x4800_0000, size: 4 * MIB },
        'no-map': true,
      },
    ];
    const { mb, log } = boot({ arch: 'arm64', ramSize: 256 * MIB }, '', { reservedMemory: nodes });
    // The static node first; then the dynamic ones top-down from the end of RAM (0x50000000).
    expect(mb.reservedMem).toEqual([
      {
        name: 'fb@48000000',
        base: 0x4800_0000,
        size: 4 * MIB,
        kind: 'dma-pool',
        noMap: true,
        cmaDefault: false,
      },
      {
        name: 'linux,cma',
        base: 0x4f00_0000,
        size: 16 * MIB,
        kind: 'cma',
        noMap: false,
        cmaDefault: true,
      },
      {
        name: 'gpu-pool',
        base: 0x4ef0_0000,
        size: MIB,
        kind: 'dma-pool',
        noMap: false,
        cmaDefault: false,
      },
    ]);
    expect(mb.freeRanges()).toEqual([
      { base: 0x4000_0000, size: 0x0800_0000 },
      { base: 0x4840_0000, size: 0x4ef0_0000 - 0x4840_0000 },
    ]);
    expect(mb.memory.filter((r) => r.flags !== 0)).toEqual([
      { base: 0x4800_0000, size: 4 * MIB, flags: 4, name: 'memory' },
    ]);
    expect(log.all.map((l) => l.text)).toEqual([
      'Reserved memory: created DMA memory pool at 0x0000000048000000, size 4 MiB',
      'Reserved memory: created CMA memory pool at 0x000000004f000000, size 16 MiB',
      'Reserved memory: created DMA memory pool at 0x000000004ef00000, size 1 MiB',
    ]);
  });

  it('bad reserved-memory nodes are configuration errors', () => {
    const bad = (node: ReservedMemoryNode): string => {
      try {
        boot({ arch: 'arm64', ramSize: 256 * MIB }, '', { reservedMemory: [node] });
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(
      bad({
        name: 'x',
        compatible: 'shared-dma-pool',
        size: 4 * MIB,
        reusable: true,
        'no-map': true,
      }),
    ).toBe('reserved-memory node "x": "reusable" and "no-map" exclude each other');
    expect(bad({ name: 'x', compatible: 'shared-dma-pool' })).toBe(
      'reserved-memory node "x": give either "reg" (a fixed range) or "size" (placed at boot)',
    );
    expect(
      bad({
        name: 'x',
        compatible: 'shared-dma-pool',
        reg: { base: 0x4810_0000, size: 4 * MIB },
        reusable: true,
      }),
    ).toBe(
      'reserved-memory node "x": incorrect alignment of CMA region: base and size must be multiples of 0x200000',
    );
    expect(bad({ name: 'x', compatible: 'shared-dma-pool', size: 1000 })).toBe(
      'reserved-memory node "x": size 1000 must be a positive multiple of the 4096-byte page',
    );
  });

  it('cma= on a 1 GiB PC goes top-down below the end of memory', () => {
    const { mb, log } = boot({ ramSize: GIB }, 'cma=64M');
    expect(mb.reservedMem).toEqual([
      {
        name: 'reserved',
        base: 0x3c00_0000,
        size: 64 * MIB,
        kind: 'cma',
        noMap: false,
        cmaDefault: true,
      },
    ]);
    expect(log.all.map((l) => l.text)).toEqual([
      'cma: Reserved 64 MiB at 0x000000003c000000 on node -1',
    ]);
  });

  it('cma= on a PC with memory above 4 GiB goes bottom-up from 4 GiB; @base fixes it', () => {
    expect(boot({ ramSize: 8 * GIB }, 'cma=64M').mb.reservedMem[0]?.base).toBe(4 * GIB);
    expect(boot({ ramSize: GIB }, 'cma=64M@0x10000000').mb.reservedMem[0]?.base).toBe(0x1000_0000);
  });
});

describe('memblock_alloc', () => {
  it('allocates top-down, aligned, below the current limit', () => {
    const { mb } = boot({ ramSize: 64 * MIB }, '', { kernelImage: X86_IMAGE });
    expect(mb.alloc(4 * MIB, 4096, 'a')).toBe(0x3c0_0000);
    expect(mb.alloc(MIB, 2 * MIB, 'b')).toBe(0x3a0_0000);
    expect(mb.alloc(4096, 4096, 'c')).toBe(0x3bf_f000);
    // Free now: [1M, 16M) below the image, [32M, 58M) and [59M, 60M - 4K) above it.
    expect(mb.alloc(27 * MIB, 4096, 'd')).toBeNull();
    expect(mb.alloc(26 * MIB, 4096, 'e')).toBe(0x200_0000);
    expect(mb.alloc(15 * MIB, 4096, 'f')).toBe(0x10_0000);
  });

  it('memblock_alloc_low stays below 4 GiB (where the SWIOTLB buffer goes)', () => {
    const { mb } = boot({ ramSize: 8 * GIB });
    expect(mb.allocLow(64 * MIB, 4096, 'swiotlb')).toBe(3 * GIB - 64 * MIB);
    expect(mb.alloc(64 * MIB, 4096, 'other')).toBe(9 * GIB - 64 * MIB);
  });

  it('never hands out the first page, and gives freed ranges back', () => {
    const { mb } = boot({ arch: 'prep', ramSize: 64 * MIB });
    expect(mb.physAllocRange(4096, 4096, 0, 8192, 'low')).toBe(4096);
    expect(mb.physAllocRange(4096, 4096, 0, 8192, 'low2')).toBeNull();
    mb.physFree(4096, 4096);
    expect(mb.physAllocRange(4096, 4096, 0, 8192, 'low3')).toBe(4096);
  });

  it('after memblock_free_all an allocation is a simulator bug', () => {
    const { mb } = boot({ ramSize: 64 * MIB });
    expect(mb.freeAll()).toEqual([{ base: MIB, size: 63 * MIB }]);
    expect(() => mb.alloc(4096, 4096, 'late')).toThrow(SimulatorBug);
  });
});

describe('/proc/iomem', () => {
  it('an x86_64 machine with a firmware range, the kernel image and a PCI BAR', () => {
    const { m, mb } = boot(
      { ramSize: 256 * MIB, reserved: [{ base: 0xf_0000, size: 0x1_0000, name: 'BIOS' }] },
      '',
      { kernelImage: X86_IMAGE },
    );
    const reg = new DeviceRegistry({ machine: m, log: new KernelLog(m.clock) });
    reg.pciDeviceAdd({
      slot: 2,
      vendor: 0x8086,
      device: 0x100e,
      bars: [{ index: 0, base: 0xfebc_0000, size: 0x2_0000, handler: mmio }],
    });
    expect(procIomem(mb, m.physmap)).toBe(
      [
        '00000000-000effff : System RAM',
        '000f0000-000fffff : Reserved',
        '00100000-0fffffff : System RAM',
        '  01000000-019fffff : Kernel code',
        '  01a00000-01dfffff : Kernel data',
        '  01e00000-01ffffff : Kernel bss',
        'febc0000-febdffff : 0000:00:02.0',
      ].join('\n'),
    );
  });

  it('RAM above mem= is absent; addresses past 32 bits print wider', () => {
    const { m, mb } = boot({ ramSize: 5 * GIB }, 'cma=64M');
    expect(procIomem(mb, m.physmap)).toBe(
      [
        '00000000-bfffffff : System RAM',
        '100000000-17fffffff : System RAM',
        '  100000000-103ffffff : reserved',
      ].join('\n'),
    );
    const cut = boot({ ramSize: 64 * MIB }, 'mem=62M');
    expect(procIomem(cut.mb, cut.m.physmap)).toBe('00000000-03dfffff : System RAM');
  });

  it('no-map reserved memory splits System RAM; mapped pools nest inside it', () => {
    const nodes: ReservedMemoryNode[] = [
      {
        name: 'fb@48000000',
        compatible: 'shared-dma-pool',
        reg: { base: 0x4800_0000, size: 4 * MIB },
        'no-map': true,
      },
      {
        name: 'pool@49000000',
        compatible: 'shared-dma-pool',
        reg: { base: 0x4900_0000, size: MIB },
      },
    ];
    const { m, mb } = boot({ arch: 'arm64', ramSize: 256 * MIB }, '', { reservedMemory: nodes });
    expect(procIomem(mb, m.physmap)).toBe(
      [
        '40000000-47ffffff : System RAM',
        '48000000-483fffff : fb@48000000',
        '48400000-4fffffff : System RAM',
        '  49000000-490fffff : pool@49000000',
      ].join('\n'),
    );
  });
});
