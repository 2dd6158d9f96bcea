import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CpuMemOps } from '../../../src/kernel/arch/mem.js';
import { parseCmdline } from '../../../src/kernel/cmdline.js';
import { DmaDataDirection } from '../../../src/kernel/dma/direction.js';
import {
  IO_TLB_SIZE,
  IoTlbMem,
  IoTlbPool,
  SWIOTLB_MAP_ERROR,
  SWIOTLB_VERBOSE,
  SwiotlbUnmapResult,
  formatSwiotlbBounced,
  isSwiotlbBuffer,
  swiotlbDebugfsRead,
  swiotlbHiwaterWrite,
  swiotlbInit,
  swiotlbInspect,
  swiotlbMaxMappingSize,
  swiotlbSyncSingleForCpu,
  swiotlbSyncSingleForDevice,
  swiotlbTblMapSingle,
  swiotlbTblUnmapSingle,
  traceSwiotlbBounced,
  type SwiotlbDevice,
  type SwiotlbEnv,
} from '../../../src/kernel/dma/swiotlb.js';
import { Memblock } from '../../../src/kernel/mm/memblock.js';
import type { KernelMemOps } from '../../../src/kernel/mm/types.js';
import { KernelLog } from '../../../src/kernel/printk.js';
import { MemAttr } from '../../../src/machine/memory/attr.js';
import { Machine } from '../../../src/machine/machine.js';

const MIB = 1024 * 1024;
const TRACE_D = new URL('../../../../shared/traces/D_e1000_swiotlb.trace', import.meta.url);
/** Pool start in trace D: CPU 0's first slot is 0x3a900000, CPU 1's 0x3c900000 (32 MiB later). */
const D_POOL = 0x3a900000;
const BIDI = DmaDataDirection.BIDIRECTIONAL;
const TO_DEV = DmaDataDirection.TO_DEVICE;
const FROM_DEV = DmaDataDirection.FROM_DEVICE;

function dev(minAlignMask = 0, segmentBoundaryMask = 0xffffffffffffffffn): SwiotlbDevice {
  return {
    name: '0000:00:01.0',
    logPrefix: 'e1000 0000:00:01.0',
    dmaMask: 0xffffffffn,
    dmaParms: { maxSegmentSize: 65536, segmentBoundaryMask, minAlignMask },
  };
}

const noMem: KernelMemOps = { memset: () => {}, read: () => {}, write: () => {} };

interface Rig {
  readonly mem: IoTlbMem;
  readonly log: KernelLog;
  readonly m: Machine;
  setCpu(c: number): void;
}

/** A pool of `nslabs` slots at `base` on a 64 MiB machine; copies go through its CPU. */
function rig(base = 32 * MIB, nslabs = 1024, nareas = 2, copies = true): Rig {
  const m = new Machine({ ramSize: 64 * MIB, cpus: 2 });
  const log = new KernelLog(m.clock);
  const env: SwiotlbEnv = { mem: copies ? new CpuMemOps(m) : noMem, log, cpu: () => m.currentCpu };
  const mem = new IoTlbMem(new IoTlbPool(base, nslabs, nareas), true, env);
  return { mem, log, m, setCpu: (c) => void m.runOn(c) };
}

function ramRead(m: Machine, phys: number, len: number): number[] {
  const b = new Uint8Array(len);
  m.cpu.read(phys, b, 0, len, MemAttr.CACHEABLE);
  return [...b];
}

function ramWrite(m: Machine, phys: number, bytes: number[]): void {
  m.cpu.write(phys, Uint8Array.from(bytes), 0, bytes.length, MemAttr.CACHEABLE);
}

describe('boot set-up', () => {
  it('swiotlb=force with 2 CPUs: 64 MiB in low memory, 2 areas, forced', () => {
    const m = new Machine({ ramSize: 1024 * MIB, cpus: 2 });
    const log = new KernelLog(m.clock);
    const params = parseCmdline('swiotlb=force');
    const mb = Memblock.boot({ profile: m.profile, physmap: m.physmap, params, log });
    const env = { mem: noMem, log, cpu: () => 0 };
    const opts = { addressingLimit: false, flags: SWIOTLB_VERBOSE, nPossibleCpus: 2 };
    const mem = swiotlbInit(mb, params.swiotlb, opts, env);
    expect(mem).not.toBeNull();
    const p = mem!.defpool;
    expect([p.nslabs, p.nareas, p.areaNslabs, mem!.forceBounce]).toEqual([32768, 2, 16384, true]);
    expect(p.end - p.start).toBe(64 * MIB);
    expect(p.end).toBeLessThanOrEqual(1024 * MIB);
    expect(p.start % 4096).toBe(0);
    const text = log.all.map((l) => l.text);
    expect(text[0]).toBe('software IO TLB: area num 2.');
    expect(text[1]).toMatch(
      /^software IO TLB: mapped \[mem 0x[0-9a-f]{16}-0x[0-9a-f]{16}\] \(64MB\)$/,
    );
    expect(swiotlbDebugfsRead(mem!, 'io_tlb_nslabs')).toBe('32768\n');
  });

  it('no force and no addressing limit: no pool; noforce: none either', () => {
    const m = new Machine({ ramSize: 256 * MIB });
    const log = new KernelLog(m.clock);
    const mb = Memblock.boot({ profile: m.profile, physmap: m.physmap, log });
    const env = { mem: noMem, log, cpu: () => 0 };
    const opts = { addressingLimit: false, flags: 0, nPossibleCpus: 2 };
    expect(swiotlbInit(mb, null, opts, env)).toBeNull();
    const noforce = parseCmdline('swiotlb=noforce').swiotlb;
    expect(swiotlbInit(mb, noforce, { ...opts, addressingLimit: true }, env)).toBeNull();
  });

  it('swiotlb=1000,3: 1024 slabs, 4 areas, size rounded to a power of two', () => {
    const m = new Machine({ ramSize: 256 * MIB });
    const log = new KernelLog(m.clock);
    const mb = Memblock.boot({ profile: m.profile, physmap: m.physmap, log });
    const env = { mem: noMem, log, cpu: () => 0 };
    const param = parseCmdline('swiotlb=1000,3').swiotlb;
    const mem = swiotlbInit(mb, param, { addressingLimit: true, flags: 0, nPossibleCpus: 2 }, env);
    expect(param?.nslabs).toBe(1024);
    expect([mem?.defpool.nslabs, mem?.defpool.nareas, mem?.forceBounce]).toEqual([1024, 4, false]);
  });
});

describe('slot search', () => {
  it('consecutive 1522-byte maps take consecutive 2 KiB slots from the CPU area', () => {
    const r = rig(D_POOL, 32768, 2, false);
    r.setCpu(1);
    const origs = [0x8baf8c0, 0x8baf140, 0x8bae9c0, 0x8bae240];
    const got = origs.map(
      (o) => swiotlbTblMapSingle(r.mem, dev(), o, 1522, 0, FROM_DEV, 0) - D_POOL,
    );
    expect(got).toEqual([0x2000000, 0x2000800, 0x2001000, 0x2001800]);
    r.setCpu(0);
    expect(swiotlbTblMapSingle(r.mem, dev(), 0x1000, 90, 0, TO_DEV, 0)).toBe(D_POOL);
    expect(r.mem.totalUsed).toBe(5);
  });

  it('min_align_mask keeps the low bits of the original', () => {
    const r = rig(32 * MIB, 1024, 2, false);
    const d = dev(0xfff);
    const t1 = swiotlbTblMapSingle(r.mem, d, 0x100a34, 100, 0, TO_DEV, 0);
    expect(t1).toBe(32 * MIB + 0xa34);
    // 0x...1a34 needs a slot whose bits 11 is set: slot 1 is next and matches.
    const t2 = swiotlbTblMapSingle(r.mem, d, 0x201a34, 100, 0, TO_DEV, 0);
    expect(t2).toBe(32 * MIB + 0x1a34);
    // Next search starts at slot 2 (0x1000 mod 0x1000): bits fit, offset 0x234 in slot 2.
    const t3 = swiotlbTblMapSingle(r.mem, d, 0x300234, 100, 0, TO_DEV, 0);
    expect(t3).toBe(32 * MIB + 0x2234);
    expect(swiotlbMaxMappingSize(d)).toBe(256 * 1024 - 4096);
    expect(swiotlbMaxMappingSize(dev())).toBe(256 * 1024);
  });

  it('IOMMU granule alignment: whole padding slots before the real slot, freed with it', () => {
    const r = rig(32 * MIB, 1024, 2, false);
    const d = dev(0xfff);
    const t = swiotlbTblMapSingle(r.mem, d, 0x100a34, 100, 0xfff, TO_DEV, 0);
    expect(t).toBe(32 * MIB + 0xa34);
    expect([r.mem.totalUsed, r.mem.defpool.padSlots[1], r.mem.defpool.list[2]]).toEqual([
      2, 1, 126,
    ]);
    expect(swiotlbTblUnmapSingle(r.mem, d, t, 100, TO_DEV, 0)).toBe(SwiotlbUnmapResult.RELEASED);
    expect([r.mem.totalUsed, r.mem.defpool.list[0]]).toEqual([0, 128]);
  });

  it('page-sized maps are page aligned when nothing else is asked', () => {
    const r = rig(32 * MIB, 1024, 1, false);
    expect(swiotlbTblMapSingle(r.mem, dev(), 0x5000, 100, 0, TO_DEV, 0)).toBe(32 * MIB);
    expect(swiotlbTblMapSingle(r.mem, dev(), 0x9000, 4096, 0, TO_DEV, 0)).toBe(32 * MIB + 0x1000);
  });

  it('a run never spans two 128-slot segments', () => {
    const r = rig(32 * MIB, 256, 1, false);
    // 127 slots from slot 0, then 2 slots do not fit in slot 127: they go to slot 128.
    const a = swiotlbTblMapSingle(r.mem, dev(), 0x100000, 127 * IO_TLB_SIZE, 0, TO_DEV, 0);
    const b = swiotlbTblMapSingle(r.mem, dev(), 0x200000, 2 * IO_TLB_SIZE, 0, TO_DEV, 0);
    expect(a).toBe(32 * MIB);
    expect(b).toBe(32 * MIB + 128 * IO_TLB_SIZE);
    // A single slot still fits in slot 127 after the index wraps.
    const c = swiotlbTblMapSingle(r.mem, dev(), 0x300000, 1000, 0, TO_DEV, 0);
    expect(c).toBe(32 * MIB + 130 * IO_TLB_SIZE);
  });

  it('a mapping crossing the device segment boundary is moved past it', () => {
    const r = rig(32 * MIB, 256, 1, false);
    const d = dev(0, 0xffffn); // 64 KiB boundary = 32 slots
    swiotlbTblMapSingle(r.mem, d, 0x1000, 30 * IO_TLB_SIZE, 0, TO_DEV, 0);
    const t = swiotlbTblMapSingle(r.mem, d, 0x100000, 4 * IO_TLB_SIZE, 0, TO_DEV, 0);
    expect(t).toBe(32 * MIB + 32 * IO_TLB_SIZE);
  });

  it('larger than one segment: refused with the buffer-full message', () => {
    const r = rig(32 * MIB, 1024, 2, false);
    expect(swiotlbTblMapSingle(r.mem, dev(), 0x1000, 256 * 1024 + 1, 0, TO_DEV, 0)).toBe(
      SWIOTLB_MAP_ERROR,
    );
    expect(r.log.all.at(-1)?.text).toBe(
      'e1000 0000:00:01.0: swiotlb buffer is full (sz: 262145 bytes), total 1024 (slots), used 0 (slots)',
    );
  });
});

describe('exhaustion, counters, inspection', () => {
  it('fills both areas, then fails with the rate-limited message; hiwater stays', () => {
    const r = rig(32 * MIB, 256, 2, false);
    const seg = 128 * IO_TLB_SIZE;
    const a = swiotlbTblMapSingle(r.mem, dev(), 0x100000, seg, 0, TO_DEV, 0);
    const b = swiotlbTblMapSingle(r.mem, dev(), 0x200000, seg, 0, TO_DEV, 0);
    expect([a, b]).toEqual([32 * MIB, 32 * MIB + seg]);
    expect(swiotlbTblMapSingle(r.mem, dev(), 0x300000, 100, 0, TO_DEV, 0)).toBe(SWIOTLB_MAP_ERROR);
    expect(r.log.all.map((l) => [l.level, l.text])).toEqual([
      [
        'warn',
        'e1000 0000:00:01.0: swiotlb buffer is full (sz: 100 bytes), total 256 (slots), used 256 (slots)',
      ],
    ]);
    const NO_WARN = 1 << 8;
    expect(swiotlbTblMapSingle(r.mem, dev(), 0x300000, 100, 0, TO_DEV, NO_WARN)).toBe(-1);
    expect(r.log.all).toHaveLength(1);
    const insp = swiotlbInspect(r.mem);
    expect(insp.map((x) => [x.used, x.allocations.length, x.allocations[0]?.device])).toEqual([
      [128, 1, '0000:00:01.0'],
      [128, 1, '0000:00:01.0'],
    ]);
    swiotlbTblUnmapSingle(r.mem, dev(), a, seg, TO_DEV, 0);
    expect(swiotlbDebugfsRead(r.mem, 'io_tlb_used')).toBe('128\n');
    expect(swiotlbDebugfsRead(r.mem, 'io_tlb_used_hiwater')).toBe('256\n');
    expect(swiotlbHiwaterWrite(r.mem, 5)).toBe(-22);
    expect(swiotlbHiwaterWrite(r.mem, 0)).toBe(0);
    expect(swiotlbDebugfsRead(r.mem, 'io_tlb_used_hiwater')).toBe('0\n');
  });

  it('unmapping what is not a live bounce buffer changes nothing', () => {
    const r = rig(32 * MIB, 256, 1, false);
    const t = swiotlbTblMapSingle(r.mem, dev(), 0x100000, 3000, 0, TO_DEV, 0);
    expect(swiotlbTblUnmapSingle(r.mem, dev(), 0x1000, 3000, TO_DEV, 0)).toBe(
      SwiotlbUnmapResult.NOT_SWIOTLB,
    );
    expect(swiotlbTblUnmapSingle(r.mem, dev(), t + IO_TLB_SIZE, 10, TO_DEV, 0)).toBe(
      SwiotlbUnmapResult.NOT_LIVE,
    );
    expect(r.mem.totalUsed).toBe(2);
    expect(swiotlbTblUnmapSingle(r.mem, dev(), t, 3000, TO_DEV, 0)).toBe(
      SwiotlbUnmapResult.RELEASED,
    );
    expect(swiotlbTblUnmapSingle(r.mem, dev(), t, 3000, TO_DEV, 0)).toBe(
      SwiotlbUnmapResult.NOT_LIVE,
    );
    expect([r.mem.totalUsed, r.mem.defpool.list[0], r.mem.defpool.list[127]]).toEqual([0, 128, 1]);
    expect(isSwiotlbBuffer(r.mem, t)).toBe(true);
    expect(isSwiotlbBuffer(r.mem, r.mem.defpool.end)).toBe(false);
  });
});

describe('bounce copies', () => {
  const ORIG = 0x100000;
  const A = [1, 2, 3, 4];
  const B = [9, 8, 7, 6];

  it('map copies original to bounce for every direction', () => {
    for (const dir of [TO_DEV, FROM_DEV, BIDI]) {
      const r = rig();
      ramWrite(r.m, ORIG, A);
      const t = swiotlbTblMapSingle(r.mem, dev(), ORIG, 4, 0, dir, 0);
      expect(ramRead(r.m, t, 4)).toEqual(A);
    }
  });

  it('unmap copies back only for FROM_DEVICE and BIDIRECTIONAL, not with SKIP_CPU_SYNC', () => {
    const cases: [DmaDataDirection, number, number[]][] = [
      [TO_DEV, 0, A],
      [FROM_DEV, 0, B],
      [BIDI, 0, B],
      [FROM_DEV, 1 << 5, A],
    ];
    for (const [dir, attrs, want] of cases) {
      const r = rig();
      ramWrite(r.m, ORIG, A);
      const t = swiotlbTblMapSingle(r.mem, dev(), ORIG, 4, 0, dir, 0);
      ramWrite(r.m, t, B); // the device writes the bounce buffer
      swiotlbTblUnmapSingle(r.mem, dev(), t, 4, dir, attrs);
      expect(ramRead(r.m, ORIG, 4)).toEqual(want);
    }
  });

  it('sync_for_cpu copies bounce to original for FROM_DEVICE/BIDIRECTIONAL only', () => {
    for (const [dir, want] of [
      [TO_DEV, A],
      [FROM_DEV, B],
      [BIDI, B],
    ] as const) {
      const r = rig();
      ramWrite(r.m, ORIG, A);
      const t = swiotlbTblMapSingle(r.mem, dev(), ORIG, 4, 0, dir, 0);
      ramWrite(r.m, t, B);
      swiotlbSyncSingleForCpu(r.mem, dev(), t, 4, dir);
      expect(ramRead(r.m, ORIG, 4)).toEqual(want);
    }
  });

  it('sync_for_device copies original to bounce for TO_DEVICE/BIDIRECTIONAL only', () => {
    for (const [dir, want] of [
      [TO_DEV, B],
      [FROM_DEV, A],
      [BIDI, B],
    ] as const) {
      const r = rig();
      ramWrite(r.m, ORIG, A);
      const t = swiotlbTblMapSingle(r.mem, dev(), ORIG, 4, 0, dir, 0);
      ramWrite(r.m, ORIG, B); // the CPU changes the buffer
      swiotlbSyncSingleForDevice(r.mem, dev(), t, 4, dir);
      expect(ramRead(r.m, t, 4)).toEqual(want);
    }
    const r = rig();
    const t = swiotlbTblMapSingle(r.mem, dev(), ORIG, 4, 0, TO_DEV, 0);
    expect(() => {
      swiotlbSyncSingleForDevice(r.mem, dev(), t, 4, DmaDataDirection.NONE);
    }).toThrow();
  });

  it('a partial sync in a later slot with min_align_mask finds its original bytes', () => {
    const r = rig();
    const d = dev(0xfff);
    const orig = 0x100a00;
    const t = swiotlbTblMapSingle(r.mem, d, orig, 5000, 0, FROM_DEV, 0);
    expect(t % 4096).toBe(0xa00);
    ramWrite(r.m, t + 3000, [0x55, 0x66]);
    swiotlbSyncSingleForCpu(r.mem, d, t + 3000, 2, FROM_DEV);
    expect(ramRead(r.m, orig + 3000, 2)).toEqual([0x55, 0x66]);
  });

  it('a sync beyond the allocation is truncated with the kernel warning', () => {
    const r = rig();
    const t = swiotlbTblMapSingle(r.mem, dev(), ORIG, 100, 0, FROM_DEV, 0);
    swiotlbSyncSingleForCpu(r.mem, dev(), t, 200, FROM_DEV);
    expect(r.log.all.at(-1)?.text).toBe(
      'e1000 0000:00:01.0: Buffer overflow detected. Allocation size: 100. Mapping size: 200.',
    );
  });
});

describe('trace D (real 6.12 kernel, swiotlb=force, 2 CPUs)', () => {
  const haveTrace = existsSync(TRACE_D);

  it.skipIf(!haveTrace)('swiotlb_bounced lines format field by field', () => {
    const lines = readFileSync(TRACE_D, 'utf8').split('\n');
    const bounced = lines.filter((l) => l.includes(' swiotlb_bounced: '));
    expect(bounced).toHaveLength(869);
    const mem = rig(D_POOL, 32768, 2, false).mem;
    for (const l of bounced.slice(0, 50)) {
      const m = /dev_addr=([0-9a-f]+) size=(\d+)/.exec(l)!;
      const rec = traceSwiotlbBounced(mem, dev(), parseInt(m[1]!, 16), Number(m[2]));
      expect(l.slice(l.indexOf('swiotlb_bounced: ') + 17)).toBe(formatSwiotlbBounced(rec));
    }
  });

  it.skipIf(!haveTrace)('replaying every map and unmap gives the kernel slot addresses', () => {
    const r = rig(D_POOL, 32768, 2, false);
    const re =
      /\[(\d{3})\].*(dma_map_page|dma_unmap_page): \S+ dir=(\w+) dma_addr=([0-9a-f]+) size=(\d+)(?: phys_addr=([0-9a-f]+))?/;
    const dirs: Record<string, DmaDataDirection> = { TO_DEVICE: TO_DEV, FROM_DEVICE: FROM_DEV };
    let maps = 0;
    for (const l of readFileSync(TRACE_D, 'utf8').split('\n')) {
      const m = re.exec(l);
      if (m === null) continue;
      r.setCpu(Number(m[1]));
      const dir = dirs[m[3]!] ?? BIDI;
      const dmaAddr = parseInt(m[4]!, 16);
      const size = Number(m[5]);
      if (m[2] === 'dma_map_page') {
        const t = swiotlbTblMapSingle(r.mem, dev(), parseInt(m[6]!, 16), size, 0, dir, 0);
        expect(t.toString(16), l).toBe(dmaAddr.toString(16));
        maps++;
      } else {
        const res = swiotlbTblUnmapSingle(r.mem, dev(), dmaAddr, size, dir, 0);
        expect(res, l).toBe(SwiotlbUnmapResult.RELEASED);
      }
    }
    expect(maps).toBe(869);
    expect(r.mem.totalUsed).toBeGreaterThanOrEqual(0);
  });
});

describe('property: random map/unmap sequences', () => {
  it('slots never overlap, used matches, all slots return free', () => {
    const op = fc.record({
      map: fc.boolean(),
      size: fc.integer({ min: 1, max: 40 * IO_TLB_SIZE }),
      orig: fc.integer({ min: 0, max: 0xfffff }),
      cpu: fc.integer({ min: 0, max: 1 }),
      pick: fc.nat(),
      minAlign: fc.constantFrom(0, 0xfff),
      align: fc.constantFrom(0, 0xfff),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const r = rig(32 * MIB, 512, 2, false);
        const live: { t: number; n: number; all: number; d: SwiotlbDevice }[] = [];
        for (const o of ops) {
          r.setCpu(o.cpu);
          if (o.map || live.length === 0) {
            const d = dev(o.minAlign);
            const orig = 0x100000 + o.orig;
            const t = swiotlbTblMapSingle(r.mem, d, orig, o.size, o.align, TO_DEV, 1 << 8);
            if (t === SWIOTLB_MAP_ERROR) continue;
            // swiotlb_align_offset: only bits under both masks, at least the in-slot bits.
            const off = orig & o.minAlign & (o.align | (IO_TLB_SIZE - 1));
            const all = Math.ceil(
              (Math.ceil((o.size + off) / (o.align + 1)) * (o.align + 1)) / IO_TLB_SIZE,
            );
            const n = all - Math.floor(off / IO_TLB_SIZE);
            expect(t & o.minAlign).toBe(orig & o.minAlign);
            live.push({ t, n, all, d });
          } else {
            const [x] = live.splice(o.pick % live.length, 1);
            const res = swiotlbTblUnmapSingle(r.mem, x!.d, x!.t, 1, TO_DEV, 0);
            expect(res).toBe(SwiotlbUnmapResult.RELEASED);
          }
          checkNoOverlap(live.map((x) => [Math.floor((x.t - 32 * MIB) / IO_TLB_SIZE), x.n]));
          const used = swiotlbInspect(r.mem).reduce((s, a) => s + a.used, 0);
          expect(used).toBe(r.mem.totalUsed);
          expect(live.reduce((s, x) => s + x.all, 0)).toBe(r.mem.totalUsed);
        }
        for (const x of live) swiotlbTblUnmapSingle(r.mem, x.d, x.t, 1, TO_DEV, 0);
        expect(r.mem.totalUsed).toBe(0);
        const p = r.mem.defpool;
        for (let i = 0; i < p.nslabs; i++) expect(p.list[i]).toBe(128 - (i % 128));
      }),
      { numRuns: 200 },
    );
  });
});

/** [first real slot, slots from there] ranges are disjoint. */
function checkNoOverlap(ranges: [number, number][]): void {
  const s = [...ranges].sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < s.length; i++) {
    expect(s[i]![0]).toBeGreaterThanOrEqual(s[i - 1]![0] + s[i - 1]![1]);
  }
}
