/** The dma/iommu/swiotlb trace printers against lines of the real Linux 6.12 traces, byte for byte. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DmaDataDirection } from '../../../src/kernel/dma/direction.js';
import {
  DMA_ATTR_TRACE_NAMES,
  DMA_DIRECTION_TRACE_NAMES,
  decodeDmaAttrs,
  formatFtraceLine,
  formatTraceArray,
  formatTracePtr,
  u64hex,
  type FtraceContext,
  type TraceU64,
} from '../../../src/kernel/dma/trace-format.js';
import {
  DMA_TRACE_MAX_ENTRIES,
  formatDmaMapSg,
  formatDmaSyncSg,
  traceEventLine,
  type DmaTraceEvent,
} from '../../../src/kernel/dma/trace.js';
import { GFP_ATOMIC, GFP_KERNEL } from '../../../src/kernel/mm/gfp.js';

const TRACES = fileURLToPath(new URL('../../../../shared/traces/', import.meta.url));
const haveTraces = existsSync(TRACES);

// ---- a tiny parser for the test: the real reader comes with src/trace/ ----

const LINE = /^ *(.*)-(\d+) +\[(\d+)\] (.{5}) +(\d+)\.(\d{6}): (\w+): (.*)$/;
const HEX = '([0-9a-f]+)';

function u64(s: string): TraceU64 {
  const v = BigInt('0x' + s);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}
const DIRS = [
  DmaDataDirection.BIDIRECTIONAL,
  DmaDataDirection.TO_DEVICE,
  DmaDataDirection.FROM_DEVICE,
  DmaDataDirection.NONE,
];
function dir(s: string): DmaDataDirection {
  const d = DIRS[DMA_DIRECTION_TRACE_NAMES.indexOf(s)];
  expect(d, s).toBeDefined();
  return d ?? DmaDataDirection.NONE;
}
function attrs(s: string): number {
  if (s === '') return 0;
  return s.split('|').reduce((acc, name) => {
    const hit = DMA_ATTR_TRACE_NAMES.find(([, n]) => n === name);
    expect(hit, name).toBeDefined();
    return acc | (hit?.[0] ?? 0);
  }, 0);
}
function gfp(s: string): number {
  const known: Record<string, number> = { GFP_KERNEL, GFP_ATOMIC };
  const v = known[s];
  expect(v, s).toBeDefined();
  return v ?? 0;
}
function arr(s: string): TraceU64[] {
  return s === '' ? [] : s.split(',').map((x) => u64(x.replace(/^0x/, '')));
}

type FieldParser = (m: RegExpExecArray) => DmaTraceEvent;
const HEAD = `(\\S+) dir=(\\w+) `;
const PARSERS: Record<string, readonly [RegExp, FieldParser]> = {
  dma_map_page: [
    new RegExp(`^${HEAD}dma_addr=${HEX} size=(\\d+) phys_addr=${HEX} attrs=(.*)$`),
    (m) => ({
      event: 'dma_map_page',
      device: m[1]!,
      dir: dir(m[2]!),
      dmaAddr: u64(m[3]!),
      size: Number(m[4]),
      physAddr: u64(m[5]!),
      attrs: attrs(m[6]!),
    }),
  ],
  dma_unmap_page: [
    new RegExp(`^${HEAD}dma_addr=${HEX} size=(\\d+) attrs=(.*)$`),
    (m) => ({
      event: 'dma_unmap_page',
      device: m[1]!,
      dir: dir(m[2]!),
      dmaAddr: u64(m[3]!),
      size: Number(m[4]),
      attrs: attrs(m[5]!),
    }),
  ],
  dma_alloc: [
    new RegExp(`^${HEAD}dma_addr=${HEX} size=(\\d+) virt_addr=${HEX} flags=(\\S+) attrs=(.*)$`),
    (m) => ({
      event: 'dma_alloc',
      device: m[1]!,
      dir: dir(m[2]!),
      dmaAddr: u64(m[3]!),
      size: Number(m[4]),
      virtAddr: m[5]!,
      flags: gfp(m[6]!),
      attrs: attrs(m[7]!),
    }),
  ],
  dma_free: [
    new RegExp(`^${HEAD}dma_addr=${HEX} size=(\\d+) virt_addr=${HEX} attrs=(.*)$`),
    (m) => ({
      event: 'dma_free',
      device: m[1]!,
      dir: dir(m[2]!),
      dmaAddr: u64(m[3]!),
      size: Number(m[4]),
      virtAddr: BigInt('0x' + m[5]!),
      attrs: attrs(m[6]!),
    }),
  ],
  dma_map_sg: [
    new RegExp(
      `^${HEAD}nents=\\d+/(\\d+) ents=\\d+/(\\d+) dma_addrs=\\{(.*)\\} sizes=\\{(.*)\\} phys_addrs=\\{(.*)\\} attrs=(.*)$`,
    ),
    (m) => ({
      event: 'dma_map_sg',
      device: m[1]!,
      dir: dir(m[2]!),
      nents: Number(m[3]),
      ents: Number(m[4]),
      dmaAddrs: arr(m[5]!),
      sizes: arr(m[6]!).map(Number),
      physAddrs: arr(m[7]!),
      attrs: attrs(m[8]!),
    }),
  ],
  dma_unmap_sg: [
    new RegExp(`^${HEAD}phys_addrs=\\{(.*)\\} attrs=(.*)$`),
    (m) => ({
      event: 'dma_unmap_sg',
      device: m[1]!,
      dir: dir(m[2]!),
      physAddrs: arr(m[3]!),
      attrs: attrs(m[4]!),
    }),
  ],
  dma_sync_single_for_cpu: [
    new RegExp(`^${HEAD}dma_addr=${HEX} size=(\\d+)$`),
    (m) => ({
      event: 'dma_sync_single_for_cpu',
      device: m[1]!,
      dir: dir(m[2]!),
      dmaAddr: u64(m[3]!),
      size: Number(m[4]),
    }),
  ],
  map: [
    /^IOMMU: iova=0x([0-9a-f]{16}) - 0x[0-9a-f]{16} paddr=0x([0-9a-f]{16}) size=(\d+)$/,
    (m) => ({ event: 'map', iova: u64(m[1]!), paddr: u64(m[2]!), size: Number(m[3]) }),
  ],
  unmap: [
    /^IOMMU: iova=0x([0-9a-f]{16}) - 0x[0-9a-f]{16} size=(\d+) unmapped_size=(\d+)$/,
    (m) => ({
      event: 'unmap',
      iova: u64(m[1]!),
      size: Number(m[2]),
      unmappedSize: Number(m[3]),
    }),
  ],
  add_device_to_group: [
    /^IOMMU: groupID=(\d+) device=(\S+)$/,
    (m) => ({ event: 'add_device_to_group', groupId: Number(m[1]), device: m[2]! }),
  ],
  attach_device_to_domain: [
    /^IOMMU: device=(\S+)$/,
    (m) => ({ event: 'attach_device_to_domain', device: m[1]! }),
  ],
  swiotlb_bounced: [
    new RegExp(`^dev_name: (\\S+) dma_mask=${HEX} dev_addr=${HEX} size=(\\d+) (FORCE|NORMAL)$`),
    (m) => ({
      event: 'swiotlb_bounced',
      device: m[1]!,
      dmaMask: BigInt('0x' + m[2]!),
      devAddr: u64(m[3]!),
      size: Number(m[4]),
      force: m[5] === 'FORCE',
    }),
  ],
};

/** Parses one trace line into context and record; undefined for events this file does not print. */
function parse(line: string): { ctx: FtraceContext; ev: DmaTraceEvent } | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  const parser = PARSERS[m[7]!];
  if (!parser) return undefined;
  const f = parser[0].exec(m[8]!);
  expect(f, line).not.toBeNull();
  const ctx: FtraceContext = {
    comm: m[1]!,
    pid: Number(m[2]),
    cpu: Number(m[3]),
    flags: m[4]!,
    timestampNs: Number(m[5]) * 1e9 + Number(m[6]) * 1000,
  };
  return { ctx, ev: parser[1](f!) };
}

function roundTrip(line: string): string | undefined {
  const p = parse(line);
  return p && traceEventLine(p.ctx, p.ev);
}

// ---- real lines copied from /work/shared/traces, so these run without the files ----

const REAL = [
  // A_e1000_direct
  '              ip-156     [001] .....     5.210928: dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=13fce000 size=4096 virt_addr=00000000b0697534 flags=GFP_KERNEL attrs=',
  '     kworker/0:0-9       [000] .Ns1.     7.276584: dma_unmap_page: 0000:00:01.0 dir=TO_DEVICE dma_addr=8573002 size=90 attrs=',
  // B_e1000_iommu_strict
  '              ip-153     [000] .....     6.225471: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000003e524000 size=4096',
  '          <idle>-0       [001] .Ns1.     8.279775: unmap: IOMMU: iova=0x00000000ffe59000 - 0x00000000ffe5a000 size=4096 unmapped_size=4096',
  // D_e1000_swiotlb
  '          <idle>-0       [000] .Ns1.    12.709002: dma_sync_single_for_cpu: 0000:00:01.0 dir=FROM_DEVICE dma_addr=3c900000 size=68',
  '              ip-158     [001] .....     9.638423: swiotlb_bounced: dev_name: 0000:00:01.0 dma_mask=ffffffff dev_addr=8baf8c0 size=1522 FORCE',
];

describe('hand-written records print as the real kernel did', () => {
  it('dma_map_page, from a record built by hand', () => {
    const ctx = { comm: 'ip', pid: 155, cpu: 1, flags: '.....', timestampNs: 5_323_548_000 };
    const line = traceEventLine(ctx, {
      event: 'dma_map_page',
      device: '0000:00:01.0',
      dir: DmaDataDirection.FROM_DEVICE,
      dmaAddr: 0x865f8c0,
      size: 1522,
      physAddr: 0x865f8c0,
      attrs: 0,
    });
    expect(line).toBe(
      '              ip-155     [001] .....     5.323548: dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=865f8c0 size=1522 phys_addr=865f8c0 attrs=',
    );
  });

  it('dma_free of NULL at nvme unload (E_nvme_direct)', () => {
    const ctx = { comm: 'rmmod', pid: 169, cpu: 0, flags: '.....', timestampNs: 10_668_295_999 };
    const line = traceEventLine(ctx, {
      event: 'dma_free',
      device: '0000:00:01.0',
      dir: DmaDataDirection.BIDIRECTIONAL,
      dmaAddr: 0,
      size: 0,
      virtAddr: 0n,
      attrs: 0,
    });
    expect(line).toBe(
      '           rmmod-169     [000] .....    10.668295: dma_free: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=0 size=0 virt_addr=0000000000000000 attrs=',
    );
  });

  it.each(REAL)('round-trips %s', (line) => {
    expect(roundTrip(line)).toBe(line);
  });
});

describe('decoders', () => {
  it('prints attrs as the kernel flag decoder, empty for none, unknown bits in hex', () => {
    expect(decodeDmaAttrs(0)).toBe('');
    expect(decodeDmaAttrs(1 << 5)).toBe('SKIP_CPU_SYNC');
    expect(decodeDmaAttrs((1 << 5) | (1 << 8))).toBe('SKIP_CPU_SYNC|NO_WARN');
    expect(decodeDmaAttrs((1 << 9) | 1 | (1 << 3))).toBe('PRIVILEGED|0x9');
  });

  it('keeps 64-bit values exact', () => {
    expect(u64hex(-1n)).toBe('ffffffffffffffff');
    expect(u64hex(0xffff_8880_0123_4000n)).toBe('ffff888001234000');
    expect(formatTracePtr('b0697534')).toBe('00000000b0697534');
    expect(formatTracePtr(0xffff_8880_0123_4000n)).toBe('ffff888001234000');
    expect(() => u64hex(2 ** 53)).toThrow();
  });

  it('prints arrays as __print_array does', () => {
    expect(formatTraceArray([])).toBe('{}');
    expect(formatTraceArray([0x1000, 0x2b1c3000n])).toBe('{0x1000,0x2b1c3000}');
  });

  it('widens the timestamp and pid columns only when they overflow', () => {
    const ctx = {
      comm: 'a-b',
      pid: 12345678,
      cpu: 1000,
      flags: 'd.H1.',
      timestampNs: 123456_789012_345,
    };
    expect(formatFtraceLine(ctx, 'e', 'x')).toBe(
      '             a-b-12345678 [1000] d.H1. 123456.789012: e: x',
    );
  });

  it('caps dma_map_sg arrays at DMA_TRACE_MAX_ENTRIES and marks the cut', () => {
    const n = DMA_TRACE_MAX_ENTRIES + 2;
    const phys = Array.from({ length: n }, (_, i) => 0x10000 + i * 0x1000);
    const out = formatDmaMapSg({
      event: 'dma_map_sg',
      device: 'd',
      dir: DmaDataDirection.TO_DEVICE,
      nents: n,
      ents: 1,
      physAddrs: phys,
      dmaAddrs: [0xfffe0000],
      sizes: [n * 0x1000],
      attrs: 0,
    });
    expect(
      out.startsWith(
        'd dir=TO_DEVICE nents=128/130 ents=1/1 [TRUNCATED] dma_addrs={0xfffe0000} sizes={0x82000} phys_addrs={0x10000,',
      ),
    ).toBe(true);
    expect(out.endsWith(',0x8f000} attrs=')).toBe(true);
  });

  it('prints dma_sync_sg_for_device', () => {
    const out = formatDmaSyncSg({
      event: 'dma_sync_sg_for_device',
      device: '0000:00:01.0',
      dir: DmaDataDirection.TO_DEVICE,
      dmaAddrs: [0x1000, 0x3000],
      sizes: [0x200, 0x200],
    });
    expect(out).toBe('0000:00:01.0 dir=TO_DEVICE dma_addrs={0x1000,0x3000} sizes={0x200,0x200}');
  });
});

describe.skipIf(!haveTraces)('every line of the real traces round-trips', () => {
  const files = haveTraces ? readdirSync(TRACES).filter((f) => f.endsWith('.trace')) : [];
  it.each(files)('%s', (file) => {
    const text = readFileSync(TRACES + file, 'utf8');
    const checked: Record<string, number> = {};
    const wrong: string[] = [];
    for (const line of text.split('\n')) {
      if (line.startsWith('#') || line === '') continue;
      const out = roundTrip(line);
      if (out === undefined) continue;
      const event = LINE.exec(line)![7]!;
      checked[event] = (checked[event] ?? 0) + 1;
      if (out !== line) wrong.push(line);
    }
    expect(wrong.slice(0, 3)).toEqual([]);
    // Every line of a printable event was parsed, none skipped by the line regex.
    for (const event of Object.keys(PARSERS)) {
      const n = text.split(`: ${event}: `).length - 1;
      expect(checked[event] ?? 0, event).toBe(n);
    }
    expect(Object.keys(checked).length).toBeGreaterThan(0);
  });
});
