import { describe, expect, it } from 'vitest';
import { DmaDebug } from '../../src/check/dma-debug.js';
import type { DmaDebugOptions } from '../../src/check/dma-debug.js';
import type { DmaAddr, PhysAddr, VirtAddr } from '../../src/lib/addr.js';
import { MIB } from '../../src/lib/units.js';
import type { Device } from '../../src/kernel/device/device.js';
import { DMA_MAPPING_ERROR } from '../../src/kernel/device/dma-range.js';
import { DMA_ATTR_SKIP_CPU_SYNC } from '../../src/kernel/dma/attrs.js';
import { DmaDataDirection } from '../../src/kernel/dma/direction.js';
import type { DmaHandle } from '../../src/kernel/dma/mapping.js';
import { Kernel } from '../../src/kernel/kernel.js';
import { sgInitTable, sgSetBuf } from '../../src/kernel/lib/scatterlist.js';
import type { Scatterlist } from '../../src/kernel/lib/scatterlist.js';
import { GFP_KERNEL } from '../../src/kernel/mm/gfp.js';
import type { Pfn } from '../../src/kernel/mm/page.js';
import { Machine } from '../../src/machine/machine.js';
import type { MachineConfig } from '../../src/machine/machine.js';

const BIDI = DmaDataDirection.BIDIRECTIONAL;
const TO_DEVICE = DmaDataDirection.TO_DEVICE;
const FROM_DEVICE = DmaDataDirection.FROM_DEVICE;
const PREFIX = 'DMA-API: pci 0000:00:01.0: ';

interface Rig {
  k: Kernel;
  dev: Device;
  dbg: DmaDebug;
}

/** A booted kernel with dma-debug attached (every error printed) and one PCI device. */
function rig(
  machine: MachineConfig = { arch: 'x86_64', ramSize: 256 * MIB },
  cmdline = '',
  opts: DmaDebugOptions = { allErrors: true },
  coherent?: boolean,
): Rig {
  const dbg = new DmaDebug(opts);
  const k = new Kernel(new Machine(machine), { cmdline, dmaDebug: dbg });
  dbg.attach(k);
  const dev = k.devices.pciDeviceAdd({
    slot: 1,
    vendor: 0x8086,
    device: 0x100e,
    ...(coherent === undefined ? {} : { coherent }),
  });
  return { k, dev, dbg };
}

function hex16(a: number): string {
  return '0x' + a.toString(16).padStart(16, '0');
}

/** A checked streaming map of a fresh kmalloc buffer. */
function mapChecked(r: Rig, size: number, dir: DmaDataDirection): { buf: VirtAddr; dma: DmaAddr } {
  const buf = r.k.kmalloc.kmalloc(size, GFP_KERNEL)!;
  const dma = r.k.dma.dmaMapSingle(r.dev, buf, size, dir);
  expect(r.k.dma.dmaMappingError(r.dev, dma)).toBe(false);
  return { buf, dma };
}

/** The findings as [kind, message]. */
function found(r: Rig): [string, string][] {
  return r.dbg.findings.all.map((f) => [f.kind, f.message]);
}

/** Two sg entries over the two halves of one page. */
function twoEntries(r: Rig): Scatterlist[] {
  const buf = r.k.kmalloc.kmalloc(4096, GFP_KERNEL)!;
  const sgl: Scatterlist[] = [];
  sgInitTable(sgl, 2);
  sgSetBuf(r.k, sgl[0]!, buf, 2048);
  sgSetBuf(r.k, sgl[1]!, (buf + 2048) as VirtAddr, 2048);
  return sgl;
}

describe('dma-debug: unmap and free checks', () => {
  it('unmap-never-mapped: the kernel line, the WARNING and the finding', () => {
    const r = rig();
    r.k.dma.dmaUnmapSingle(r.dev, 0x123_4000 as DmaAddr, 64, TO_DEVICE);
    const msg =
      'device driver tries to free DMA memory it has not allocated [device address=0x0000000001234000] [size=64 bytes]';
    expect(found(r)).toEqual([['unmap-never-mapped', msg]]);
    const f = r.dbg.findings.all[0]!;
    expect([f.device, f.driver, f.dmaAddr, f.size, f.printed]).toEqual([
      '0000:00:01.0',
      'pci',
      0x123_4000,
      64,
      true,
    ]);
    const log = r.k.log.all.map((l) => l.text);
    const i = log.indexOf(PREFIX + msg);
    expect(log.slice(i, i + 2)).toEqual([
      PREFIX + msg,
      'WARNING: CPU: 0 PID: 0 at kernel/dma/debug.c check_unmap',
    ]);
    expect(r.dbg.errorCount).toBe(1);
  });

  it('unmap-invalid-address: unmapping DMA_MAPPING_ERROR', () => {
    const r = rig();
    r.k.dma.dmaUnmapPage(r.dev, DMA_MAPPING_ERROR, 64, TO_DEVICE);
    expect(found(r)).toEqual([
      ['unmap-invalid-address', 'device driver tries to free an invalid DMA memory address'],
    ]);
  });

  it('unmap-wrong-size, with "Mapped at:"; the right size is silent', () => {
    const r = rig();
    const { dma } = mapChecked(r, 256, TO_DEVICE);
    r.k.dma.dmaUnmapSingle(r.dev, dma, 128, TO_DEVICE);
    const msg = `device driver frees DMA memory with different size [device address=${hex16(dma)}] [map size=256 bytes] [unmap size=128 bytes]`;
    expect(found(r)).toEqual([['unmap-wrong-size', msg]]);
    const log = r.dbg.findings.lines;
    const i = log.indexOf(PREFIX + msg);
    expect(log.slice(i + 1, i + 4)).toEqual([
      'WARNING: CPU: 0 PID: 0 at kernel/dma/debug.c check_unmap',
      'DMA-API: Mapped at:',
      ' dma_map_page_attrs',
    ]);
    const ok = rig();
    const m = mapChecked(ok, 256, TO_DEVICE);
    ok.k.dma.dmaUnmapSingle(ok.dev, m.dma, 256, TO_DEVICE);
    expect(found(ok)).toEqual([]);
    expect(ok.dbg.nActive).toBe(0);
  });

  it('unmap-wrong-direction', () => {
    const r = rig();
    const { dma } = mapChecked(r, 256, TO_DEVICE);
    r.k.dma.dmaUnmapSingle(r.dev, dma, 256, FROM_DEVICE);
    expect(found(r)).toEqual([
      [
        'unmap-wrong-direction',
        `device driver frees DMA memory with different direction [device address=${hex16(dma)}] [size=256 bytes] [mapped with DMA_TO_DEVICE] [unmapped with DMA_FROM_DEVICE]`,
      ],
    ]);
  });

  it('unmap-wrong-function: mapped single, unmapped as resource', () => {
    const r = rig();
    const { dma } = mapChecked(r, 256, TO_DEVICE);
    r.k.dma.dmaUnmapResource(r.dev, dma, 256, TO_DEVICE);
    expect(found(r)).toEqual([
      [
        'unmap-wrong-function',
        `device driver frees DMA memory with wrong function [device address=${hex16(dma)}] [size=256 bytes] [mapped as single] [unmapped as resource]`,
      ],
    ]);
  });

  it('map-error-not-checked at unmap; checking it is enough', () => {
    const r = rig();
    const buf = r.k.kmalloc.kmalloc(256, GFP_KERNEL)!;
    const dma = r.k.dma.dmaMapSingle(r.dev, buf, 256, BIDI);
    r.k.dma.dmaUnmapSingle(r.dev, dma, 256, BIDI);
    expect(found(r)).toEqual([
      [
        'map-error-not-checked',
        `device driver failed to check map error[device address=${hex16(dma)}] [size=256 bytes] [mapped as single]`,
      ],
    ]);
  });

  it('free-wrong-cpu-address: a coherent buffer freed with another CPU address', () => {
    const r = rig();
    const a: DmaHandle = { dma: 0 as DmaAddr };
    const b: DmaHandle = { dma: 0 as DmaAddr };
    const va = r.k.dma.dmaAllocCoherent(r.dev, 4096, a, GFP_KERNEL)!;
    const vb = r.k.dma.dmaAllocCoherent(r.dev, 4096, b, GFP_KERNEL)!;
    r.k.dma.dmaFreeCoherent(r.dev, 4096, vb, a.dma);
    const pa = (v: VirtAddr): string => '0x' + hex16(r.k.vm.resolve(v));
    expect(found(r)).toEqual([
      [
        'free-wrong-cpu-address',
        `device driver frees DMA memory with different CPU address [device address=${hex16(a.dma)}] [size=4096 bytes] [cpu alloc address=${pa(va)}] [cpu free address=${pa(vb)}]`,
      ],
    ]);
  });

  it('unmap-sg-wrong-nents: unmapped with another entry count', () => {
    const r = rig();
    const sgl = twoEntries(r);
    expect(r.k.dma.dmaMapSg(r.dev, sgl[0]!, 2, TO_DEVICE)).toBe(2);
    r.k.dma.dmaUnmapSg(r.dev, sgl[0]!, 1, TO_DEVICE);
    expect(found(r)).toEqual([
      [
        'unmap-sg-wrong-nents',
        'device driver frees DMA sg list with different entry count [map count=2] [unmap count=1]',
      ],
    ]);
  });
});

describe('dma-debug: sync checks', () => {
  it('sync-never-mapped', () => {
    const r = rig({ arch: 'arm64', ramSize: 256 * MIB }, '', { allErrors: true }, false);
    r.k.dma.dmaSyncSingleForCpu(r.dev, 0x4800_0000 as DmaAddr, 64, FROM_DEVICE);
    expect(found(r)).toEqual([
      [
        'sync-never-mapped',
        'device driver tries to sync DMA memory it has not allocated [device address=0x0000000048000000] [size=64 bytes]',
      ],
    ]);
  });

  it('sync-outside-mapping: a range running past the end; a range inside is silent', () => {
    const r = rig();
    const { dma } = mapChecked(r, 256, FROM_DEVICE);
    r.k.dma.dmaSyncSingleRangeForCpu(r.dev, dma, 64, 128, FROM_DEVICE);
    expect(found(r)).toEqual([]);
    r.k.dma.dmaSyncSingleRangeForCpu(r.dev, dma, 128, 256, FROM_DEVICE);
    expect(found(r)).toEqual([
      [
        'sync-outside-mapping',
        `device driver syncs DMA memory outside allocated range [device address=${hex16(dma)}] [allocation size=256 bytes] [sync offset+size=384]`,
      ],
    ]);
  });

  it('sync-wrong-direction alone (FROM_DEVICE mapping synced for the CPU as TO_DEVICE)', () => {
    const r = rig();
    const { dma } = mapChecked(r, 256, FROM_DEVICE);
    r.k.dma.dmaSyncSingleForCpu(r.dev, dma, 256, TO_DEVICE);
    expect(found(r)).toEqual([
      [
        'sync-wrong-direction',
        `device driver syncs DMA memory with different direction [device address=${hex16(dma)}] [size=256 bytes] [mapped with DMA_FROM_DEVICE] [synced with DMA_TO_DEVICE]`,
      ],
    ]);
  });

  for (const [kind, mapDir, toCpu, text] of [
    ['sync-device-read-only', TO_DEVICE, true, 'device read-only DMA memory for cpu'],
    ['sync-device-write-only', FROM_DEVICE, false, 'device write-only DMA memory to device'],
  ] as const) {
    it(`${kind}: synced against the mapping's direction (with sync-wrong-direction)`, () => {
      const r = rig();
      const { dma } = mapChecked(r, 256, mapDir);
      const sync = (dir: DmaDataDirection): void => {
        if (toCpu) r.k.dma.dmaSyncSingleForCpu(r.dev, dma, 256, dir);
        else r.k.dma.dmaSyncSingleForDevice(r.dev, dma, 256, dir);
      };
      sync(mapDir); // allowed
      expect(found(r)).toEqual([]);
      const other = mapDir === TO_DEVICE ? FROM_DEVICE : TO_DEVICE;
      sync(other);
      const names = ['DMA_BIDIRECTIONAL', 'DMA_TO_DEVICE', 'DMA_FROM_DEVICE'];
      const fields = `[device address=${hex16(dma)}] [size=256 bytes] [mapped with ${names[mapDir]}] [synced with ${names[other]}]`;
      expect(found(r)).toEqual([
        [
          'sync-wrong-direction',
          `device driver syncs DMA memory with different direction ${fields}`,
        ],
        [kind, `device driver syncs ${text} ${fields}`],
      ]);
    });
  }

  it('sync-sg-wrong-nents: more entries synced than were mapped', () => {
    const r = rig();
    const sgl = twoEntries(r);
    expect(r.k.dma.dmaMapSg(r.dev, sgl[0]!, 1, FROM_DEVICE)).toBe(1);
    r.k.dma.dmaSyncSgForCpu(r.dev, sgl[0]!, 1, FROM_DEVICE);
    expect(found(r)).toEqual([]);
    r.k.dma.dmaSyncSgForCpu(r.dev, sgl[0]!, 2, FROM_DEVICE);
    r.k.dma.dmaUnmapSg(r.dev, sgl[0]!, 1, FROM_DEVICE);
    expect(found(r)).toEqual([
      [
        'sync-sg-wrong-nents',
        'device driver syncs DMA sg list count larger than map count [map count=1] [sync count=2]',
      ],
    ]);
  });
});

describe('dma-debug: map-time checks', () => {
  it('cacheline-overlap: two FROM_DEVICE kmalloc(32) buffers in one line on x86_64', () => {
    const r = rig();
    const a = mapChecked(r, 32, FROM_DEVICE);
    const b = mapChecked(r, 32, FROM_DEVICE);
    expect(Math.floor(a.buf / 64)).toBe(Math.floor(b.buf / 64));
    expect(found(r)).toEqual([
      ['cacheline-overlap', "cacheline tracking EEXIST, overlapping mappings aren't supported"],
    ]);
    expect(r.dbg.findings.all[0]!.dmaAddr).toBe(b.dma);
  });

  it('cacheline-overlap is not reported for TO_DEVICE, DMA_ATTR_SKIP_CPU_SYNC or arm64 kmalloc bouncing', () => {
    const r = rig();
    mapChecked(r, 32, TO_DEVICE);
    mapChecked(r, 32, TO_DEVICE);
    const buf = r.k.kmalloc.kmalloc(64, GFP_KERNEL)!;
    r.k.dma.dmaMapSingleAttrs(r.dev, buf, 32, FROM_DEVICE, 0);
    r.k.dma.dmaMapSingleAttrs(
      r.dev,
      (buf + 32) as VirtAddr,
      32,
      FROM_DEVICE,
      DMA_ATTR_SKIP_CPU_SYNC,
    );
    expect(found(r).filter(([k]) => k === 'cacheline-overlap')).toEqual([]);
    const arm = rig({ arch: 'arm64', ramSize: 256 * MIB }, '', { allErrors: true }, false);
    mapChecked(arm, 32, FROM_DEVICE);
    mapChecked(arm, 32, FROM_DEVICE);
    expect(found(arm)).toEqual([]);
  });

  it('cacheline-overlap-limit: more than 7 overlapping mappings of one line warn once', () => {
    const r = rig();
    const buf = r.k.kmalloc.kmalloc(64, GFP_KERNEL)!;
    const dmas: DmaAddr[] = [];
    for (let i = 0; i < 10; i++) dmas.push(r.k.dma.dmaMapSingle(r.dev, buf, 64, FROM_DEVICE));
    const cln = '0x' + (r.k.vm.resolve(buf) / 64).toString(16).padStart(16, '0');
    expect(r.dbg.findings.count('cacheline-overlap')).toBe(9);
    expect(r.dbg.findings.ofKind('cacheline-overlap-limit').map((f) => f.message)).toEqual([
      `exceeded 7 overlapping mappings of cacheline ${cln}`,
    ]);
    for (const d of dmas) {
      r.k.dma.dmaMappingError(r.dev, d);
      r.k.dma.dmaUnmapSingle(r.dev, d, 64, FROM_DEVICE);
    }
    expect(r.dbg.nActive).toBe(0);
    mapChecked(r, 64, FROM_DEVICE);
    expect(r.dbg.findings.count('cacheline-overlap')).toBe(9);
  });

  it('map-stack: a page of a vmapped stack (x86_64) and a stack buffer (arm32)', () => {
    const r = rig();
    const base = r.k.stacks.base(0);
    const pfn = (r.k.vm.resolve(base) / 4096) as Pfn;
    const dma = r.k.dma.dmaMapPage(r.dev, pfn, 16, 64, TO_DEVICE);
    expect(found(r)).toEqual([
      [
        'map-stack',
        `device driver maps memory from stack [probable addr=${r.k.vm.format((base + 16) as VirtAddr)}]`,
      ],
    ]);
    r.k.dma.dmaMappingError(r.dev, dma);
    r.k.dma.dmaUnmapPage(r.dev, dma, 64, TO_DEVICE);
    const arm = rig({ arch: 'arm32', ramSize: 256 * MIB });
    const sp = (arm.k.stacks.base(0) + 0x100) as VirtAddr;
    arm.k.dma.dmaMapSingle(arm.dev, sp, 64, TO_DEVICE);
    expect(found(arm)).toEqual([
      ['map-stack', `device driver maps memory from stack [addr=${arm.k.vm.format(sp)}]`],
    ]);
  });

  it('map-kernel-text: the image in the linear map (arm32)', () => {
    const r = rig({ arch: 'arm32', ramSize: 256 * MIB });
    const text = (r.k.vm.imageStart + 0x100) as VirtAddr;
    r.k.dma.dmaMapSingle(r.dev, text, 64, TO_DEVICE);
    expect(found(r)).toEqual([
      [
        'map-kernel-text',
        `device driver maps memory from kernel text or rodata [addr=${r.k.vm.format(text)}] [len=64]`,
      ],
    ]);
  });

  it('map-invalid-area: the arm64 kernel image is outside the linear map', () => {
    const r = rig({ arch: 'arm64', ramSize: 256 * MIB });
    const text = (r.k.vm.imageStart + 0x100) as VirtAddr;
    r.k.dma.dmaMapSingle(r.dev, text, 64, TO_DEVICE);
    expect(found(r)).toEqual([
      [
        'map-invalid-area',
        `device driver maps memory from invalid area [addr=${r.k.vm.format(text)}] [len=64]`,
      ],
    ]);
  });

  it('map-vmalloc: the hook reports a vmalloc pointer (the API refuses it before the hook)', () => {
    const r = rig();
    const va = r.k.vmap.vmalloc(4096, true)!;
    r.dbg.mapSingle(r.dev, va, 64);
    expect(found(r).map(([k]) => k)).toEqual(['map-invalid-area', 'map-vmalloc']);
    expect(found(r)[1]![1]).toBe(
      `device driver maps memory from vmalloc area [addr=${r.k.vm.format(va)}] [len=64]`,
    );
  });

  it('sg-segment-too-long with CONFIG_DMA_API_DEBUG_SG', () => {
    const r = rig(undefined, '', { allErrors: true, sgChecks: true });
    const sgl = twoEntries(r);
    r.k.dma.dmaSetMaxSegSize(r.dev, 1024);
    r.k.dma.dmaMapSg(r.dev, sgl[0]!, 2, TO_DEVICE);
    expect(found(r)).toEqual([
      [
        'sg-segment-too-long',
        'mapping sg segment longer than device claims to support [len=2048] [max=1024]',
      ],
      [
        'sg-segment-too-long',
        'mapping sg segment longer than device claims to support [len=2048] [max=1024]',
      ],
    ]);
  });
});

describe('dma-debug: leaks at unbind', () => {
  it('leak: count and one entry, printed under the bus name (the driver is gone)', () => {
    const r = rig();
    let dma = 0 as DmaAddr;
    let buf = 0 as VirtAddr;
    const drv = {
      name: 'e1000',
      bus: 'pci' as const,
      idTable: [{ vendor: 0x8086, device: 0x100e }],
      probe: (dev: Device): number => {
        buf = r.k.kmalloc.kmalloc(2048, GFP_KERNEL)!;
        dma = r.k.dma.dmaMapSingle(dev, buf, 2048, FROM_DEVICE);
        return r.k.dma.dmaMappingError(dev, dma) ? -12 : 0;
      },
    };
    expect(r.k.devices.driverRegister(drv)).toBe(0);
    r.k.devices.driverUnregister(drv);
    const msg =
      'device driver has pending DMA allocations while released from device [count=1]\n' +
      `One of leaked entries details: [device address=${hex16(dma)}] [size=2048 bytes] [mapped with DMA_FROM_DEVICE] [mapped as single]`;
    expect(found(r)).toEqual([['leak', msg]]);
    const log = r.dbg.findings.lines;
    const i = log.indexOf(PREFIX + msg.split('\n')[0]!);
    expect(log[i + 1]).toBe(msg.split('\n')[1]);
  });

  it('no leak when remove() unmaps, nor for managed (dmam_) memory', () => {
    const r = rig();
    let dma = 0 as DmaAddr;
    const drv = {
      name: 'e1000',
      bus: 'pci' as const,
      idTable: [{ vendor: 0x8086, device: 0x100e }],
      probe: (dev: Device): number => {
        const buf = r.k.kmalloc.kmalloc(2048, GFP_KERNEL)!;
        dma = r.k.dma.dmaMapSingle(dev, buf, 2048, FROM_DEVICE);
        const h: DmaHandle = { dma: 0 as DmaAddr };
        r.k.dma.dmamAllocCoherent(dev, 4096, h, GFP_KERNEL);
        return r.k.dma.dmaMappingError(dev, dma) ? -12 : 0;
      },
      remove: (dev: Device): void => {
        r.k.dma.dmaUnmapSingle(dev, dma, 2048, FROM_DEVICE);
      },
    };
    r.k.devices.driverRegister(drv);
    r.k.devices.driverUnregister(drv);
    expect(found(r)).toEqual([]);
  });
});

describe('dma-debug: knobs', () => {
  it('num_errors: only the first error is printed by default; error_count counts all', () => {
    const r = rig(undefined, '', {});
    r.k.dma.dmaUnmapSingle(r.dev, 0x1000 as DmaAddr, 64, TO_DEVICE);
    r.k.dma.dmaUnmapSingle(r.dev, 0x2000 as DmaAddr, 64, TO_DEVICE);
    expect(r.dbg.errorCount).toBe(2);
    expect(r.dbg.findings.all.map((f) => f.printed)).toEqual([true, false]);
    expect(r.dbg.numErrors).toBe(0);
    expect(r.k.log.all.filter((l) => l.text.startsWith(PREFIX))).toHaveLength(1);
    r.dbg.numErrors = 1;
    r.k.dma.dmaUnmapSingle(r.dev, 0x3000 as DmaAddr, 64, TO_DEVICE);
    expect(r.k.log.all.filter((l) => l.text.startsWith(PREFIX))).toHaveLength(2);
    expect(r.dbg.toJSON()).toMatchObject({ errorCount: 3, counts: { 'unmap-never-mapped': 3 } });
  });

  it('driver_filter: only the named driver is printed; a non-alphanumeric write switches it off', () => {
    const r = rig(undefined, '', { allErrors: true, driverFilter: 'e1000' });
    expect(r.dbg.findings.lines).toContain('DMA-API: enable driver filter for driver [e1000]');
    r.k.dma.dmaUnmapSingle(r.dev, 0x1000 as DmaAddr, 64, TO_DEVICE);
    expect(r.dbg.findings.all.map((f) => f.printed)).toEqual([false]);
    r.dbg.setDriverFilter('\n');
    expect(r.dbg.findings.lines).toContain('DMA-API: switching off dma-debug driver filter');
    r.k.dma.dmaUnmapSingle(r.dev, 0x1000 as DmaAddr, 64, TO_DEVICE);
    expect(r.dbg.findings.all.map((f) => f.printed)).toEqual([false, true]);
    r.dbg.setDriverFilter('nvme other');
    expect(r.dbg.driverFilter).toBe('nvme');
  });

  it('dump: one line per live mapping in the debugfs format', () => {
    const r = rig();
    const { buf, dma } = mapChecked(r, 256, FROM_DEVICE);
    const phys = r.k.vm.resolve(buf);
    const idx = Math.floor(dma / 8192) & 16383;
    expect(r.dbg.dump()).toEqual([
      `pci 0000:00:01.0 single idx ${idx} P=${hex16(phys)} D=${dma.toString(16)} L=100 cln=${hex16(Math.floor(phys / 64))} DMA_FROM_DEVICE dma map error checked`,
    ]);
  });

  it('disabled (dma_debug=off): nothing is tracked', () => {
    const r = rig(undefined, '', { disabled: true });
    r.k.dma.dmaUnmapSingle(r.dev, 0x1000 as DmaAddr, 64, TO_DEVICE);
    expect(found(r)).toEqual([]);
    expect(r.dbg.findings.lines).toEqual(['DMA-API: debugging disabled on kernel command line']);
  });

  it('the boot parameters: dma_debug=off, dma_debug_driver=, dma_debug_entries=', () => {
    const off = rig(undefined, 'dma_debug=off');
    expect(off.dbg.disabled).toBe(true);
    off.k.dma.dmaUnmapSingle(off.dev, 0x1000 as DmaAddr, 64, TO_DEVICE);
    expect(found(off)).toEqual([]);
    // Only "off" disables (dma_debug_cmdline compares the first three characters).
    expect(rig(undefined, 'dma_debug=on').dbg.disabled).toBe(false);

    const r = rig(undefined, 'dma_debug_driver=nvme dma_debug_entries=1024');
    expect(r.dbg.findings.lines).toEqual([
      'DMA-API: enable driver filter for driver [nvme]',
      'DMA-API: preallocated 1024 debug entries',
      'DMA-API: debugging enabled by kernel config',
    ]);
    expect(r.dbg.driverFilter).toBe('nvme');
    expect(r.dbg.nrTotalEntries).toBe(1024);
    r.k.dma.dmaUnmapSingle(r.dev, 0x1000 as DmaAddr, 64, TO_DEVICE);
    expect(r.dbg.findings.all.map((f) => [f.kind, f.printed])).toEqual([
      ['unmap-never-mapped', false],
    ]);
    // An option given to the checker wins over the command line.
    const opt = rig(undefined, 'dma_debug_driver=nvme', { driverFilter: 'e1000' });
    expect(opt.dbg.driverFilter).toBe('e1000');
    expect(() => rig(undefined, 'dma_debug_entries=lots')).toThrow(
      'kernel command line: dma_debug_entries=lots: expected a number of entries from 1 to 2147483647',
    );
  });
});

describe('dma-debug: correct code raises nothing', () => {
  const configs: [string, MachineConfig, string, boolean | undefined][] = [
    ['x86_64', { arch: 'x86_64', ramSize: 256 * MIB }, '', undefined],
    ['arm64 non-coherent', { arch: 'arm64', ramSize: 256 * MIB }, '', false],
    [
      'x86_64 IOMMU strict',
      { arch: 'x86_64', ramSize: 256 * MIB, iommu: true },
      'intel_iommu=on iommu.strict=1',
      undefined,
    ],
    ['x86_64 swiotlb=force', { arch: 'x86_64', ramSize: 1024 * MIB }, 'swiotlb=force', undefined],
    ['arm32', { arch: 'arm32', ramSize: 256 * MIB }, '', undefined],
  ];
  for (const [name, machine, cmdline, coherent] of configs) {
    it(name, () => {
      const r = rig(machine, cmdline, { allErrors: true }, coherent);
      const { k, dev } = r;
      for (const dir of [TO_DEVICE, FROM_DEVICE, BIDI]) {
        const { dma } = mapChecked(r, 2048, dir);
        k.dma.dmaSyncSingleForCpu(dev, dma, 2048, dir);
        k.dma.dmaSyncSingleForDevice(dev, dma, 2048, dir);
        k.dma.dmaSyncSingleRangeForCpu(dev, dma, 1024, 512, dir);
        k.dma.dmaUnmapSingle(dev, dma, 2048, dir);
      }
      const sgl = twoEntries(r);
      const ents = k.dma.dmaMapSg(dev, sgl[0]!, 2, FROM_DEVICE);
      expect(ents).toBeGreaterThan(0);
      k.dma.dmaSyncSgForCpu(dev, sgl[0]!, 2, FROM_DEVICE);
      k.dma.dmaSyncSgForDevice(dev, sgl[0]!, 2, FROM_DEVICE);
      k.dma.dmaUnmapSg(dev, sgl[0]!, 2, FROM_DEVICE);
      const h: DmaHandle = { dma: 0 as DmaAddr };
      const va = k.dma.dmaAllocCoherent(dev, 8192, h, GFP_KERNEL)!;
      const page = k.pages.allocPages(GFP_KERNEL, 0)!;
      const pd = k.dma.dmaMapPage(dev, page, 0, 4096, BIDI);
      expect(k.dma.dmaMappingError(dev, pd)).toBe(false);
      k.dma.dmaUnmapPage(dev, pd, 4096, BIDI);
      const res = k.dma.dmaMapResource(dev, 0xfe00_0000 as PhysAddr, 4096, BIDI);
      if (!k.dma.dmaMappingError(dev, res)) k.dma.dmaUnmapResource(dev, res, 4096, BIDI);
      k.dma.dmaFreeCoherent(dev, 8192, va, h.dma);
      expect(found(r)).toEqual([]);
      expect(r.dbg.nActive).toBe(0);
      expect(r.dbg.errorCount).toBe(0);
    });
  }
});
