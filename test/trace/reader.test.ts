/**
 * The ftrace reader on small inputs built from real lines: the three input formats, 64-bit
 * exactness, the events the model has no record for, every malformed-input message, lenient mode,
 * and chunk boundaries anywhere.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DmaDataDirection } from '../../src/kernel/dma/direction.js';
import { GFP_KERNEL } from '../../src/kernel/mm/gfp.js';
import { hostAsciiDecode } from '../../src/lib/host.js';
import {
  TraceParseError,
  TraceReader,
  formatParsedFields,
  parseTrace,
  readTrace,
} from '../../src/trace/index.js';
import type { TraceRecord } from '../../src/trace/index.js';

const HEADER = `# tracer: nop
#
# entries-in-buffer/entries-written: 6/6   #P:2
#
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
`;
/** Real lines of the 6.12 traces, one per event kind. */
const MAP =
  '              ip-156     [001] .....     5.213133: dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=86ff8c0 size=1522 phys_addr=86ff8c0 attrs=';
const ALLOC =
  '              ip-156     [001] .....     5.210928: dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=13fce000 size=4096 virt_addr=00000000b0697534 flags=GFP_KERNEL attrs=';
const IOMMU_MAP =
  '              ip-153     [000] .....     6.225471: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000003e524000 size=4096';
const UNMAP =
  '          <idle>-0       [001] .Ns1.     8.279775: unmap: IOMMU: iova=0x00000000ffe59000 - 0x00000000ffe5a000 size=4096 unmapped_size=4096';
const BOUNCED =
  '              ip-158     [001] .....     9.638423: swiotlb_bounced: dev_name: 0000:00:01.0 dma_mask=ffffffff dev_addr=8baf8c0 size=1522 FORCE';
const QI =
  '          <idle>-0       [000] d..2.     0.518435: qi_submit: iec_inv dmar0: 0x4 0x0 0x0 0x0';
const SG =
  '              dd-163     [001] .....     9.320506: dma_map_sg: 0000:00:01.0 dir=FROM_DEVICE nents=2/2 ents=1/1 dma_addrs={0xfffe0000} sizes={0x2000} phys_addrs={0x2b1c3000,0x2b1c2000} attrs=NO_WARN';
const LINES = [MAP, ALLOC, IOMMU_MAP, UNMAP, BOUNCED, QI, SG];
const TRACE = HEADER + LINES.join('\n') + '\n';

/** What a line's fields are, after "<event>: ". */
function fields(line: string): string {
  const ts = line.indexOf(': ');
  return line.slice(line.indexOf(': ', ts + 2) + 2);
}

function parseOne(line: string): TraceRecord {
  const { records } = parseTrace(line + '\n', { file: 't.txt' });
  expect(records).toHaveLength(1);
  return records[0]!;
}

function errorOf(text: string | Uint8Array): string {
  const r = new TraceReader({ file: 't.txt' });
  try {
    if (typeof text === 'string') r.push(text);
    else r.pushBytes(text);
    r.end();
  } catch (e) {
    expect(e).toBeInstanceOf(TraceParseError);
    return (e as Error).message;
  }
  throw new Error('no error');
}

describe('formats', () => {
  it('/sys/kernel/tracing/trace: headers skipped, records with their columns', () => {
    const { records, summary } = parseTrace(TRACE, { file: 't.txt' });
    expect(records.map((r) => r.ev.event)).toEqual([
      'dma_map_page',
      'dma_alloc',
      'map',
      'unmap',
      'swiotlb_bounced',
      'dma_map_sg',
    ]);
    expect(records[3]).toMatchObject({
      line: 10,
      task: '<idle>',
      pid: 0,
      cpu: 1,
      flags: '.Ns1.',
      timestamp: '8.279775',
      timestampNs: 8_279_775_000,
    });
    expect(records[1]!.ev).toEqual({
      event: 'dma_alloc',
      device: '0000:00:01.0',
      dir: DmaDataDirection.BIDIRECTIONAL,
      dmaAddr: 0x13fce000,
      size: 4096,
      virtAddr: '00000000b0697534',
      flags: GFP_KERNEL,
      attrs: 0,
    });
    expect(summary).toMatchObject({ lines: 13, events: 6, skipped: { qi_submit: 1 } });
    const parsed = LINES.filter((l) => l !== QI);
    for (const [i, r] of records.entries())
      expect(formatParsedFields(r.ev)).toBe(fields(parsed[i]!));
  });

  it('trace_pipe: no header, CRLF tolerated, lost-event notices counted', () => {
    const text = `${MAP}\r\nCPU:1 [LOST 42 EVENTS]\n${IOMMU_MAP}`;
    const { records, summary } = parseTrace(text);
    expect(records).toHaveLength(2);
    expect(summary.lost).toBe(42);
    expect(formatParsedFields(records[0]!.ev)).toBe(fields(MAP));
  });

  it('trace-cmd report: cpus= line, no flags column, padded event names', () => {
    const text = [
      'cpus=2',
      'CPU 0 is empty',
      '              ip-156  [001]     5.213133: dma_map_page:         ' + fields(MAP),
      '          <idle>-0     [001]     8.279775: unmap:                ' + fields(UNMAP),
      '              ip-156  [001] .....  5.213133: dma_map_page: ' + fields(MAP),
    ].join('\n');
    const { records } = parseTrace(text);
    expect(records.map((r) => [r.task, r.pid, r.cpu, r.flags])).toEqual([
      ['ip', 156, 1, null],
      ['<idle>', 0, 1, null],
      ['ip', 156, 1, '.....'],
    ]);
    expect(formatParsedFields(records[1]!.ev)).toBe(fields(UNMAP));
  });

  it('task names with spaces and dashes; four flags (older kernels); ns timestamps', () => {
    const a = parseOne(
      `     Web Content-4242    [003] d..1.  1234.000001: dma_map_page: ${fields(MAP)}`,
    );
    expect([a.task, a.pid, a.cpu, a.flags]).toEqual(['Web Content', 4242, 3, 'd..1.']);
    // Four flags in the kernel's fixed columns: the flags must not take the padding after them.
    const k = parseOne(
      `              ip-1       [000] d..2     5.000000: dma_map_page: ${fields(MAP)}`,
    );
    expect(k.flags).toBe('d..2');
    const b = parseOne(`  my-task-name-7     [000] d..2 5.000000123: dma_map_page: ${fields(MAP)}`);
    expect([b.task, b.pid, b.flags, b.timestamp, b.timestampNs]).toEqual([
      'my-task-name',
      7,
      'd..2',
      '5.000000123',
      5_000_000_123,
    ]);
  });
});

describe('64-bit values stay exact', () => {
  it('DMA_MAPPING_ERROR, 2^53 and its neighbour, kernel pointers, masks', () => {
    const line = `              ip-1       [000] .....     1.000000: dma_map_page: dev dir=TO_DEVICE dma_addr=ffffffffffffffff size=1 phys_addr=20000000000001 attrs=`;
    const ev = parseOne(line).ev;
    expect(ev).toMatchObject({ dmaAddr: 0xffff_ffff_ffff_ffffn, physAddr: 2n ** 53n + 1n });
    expect(formatParsedFields(ev)).toBe(fields(line));
    const safe = parseOne(line.replace('20000000000001', '1fffffffffffff')).ev;
    expect(safe).toMatchObject({ physAddr: Number.MAX_SAFE_INTEGER });
    const b = `              ip-1       [000] .....     1.000000: swiotlb_bounced: dev_name: dev dma_mask=ffffffffffffffff dev_addr=ffff888012345678 size=8 NORMAL`;
    expect(parseOne(b).ev).toMatchObject({
      dmaMask: 2n ** 64n - 1n,
      devAddr: 0xffff_8880_1234_5678n,
      force: false,
    });
    const m = `              ip-1       [000] .....     1.000000: map: IOMMU: iova=0xfffffffffffff000 - 0x10000000000000000 paddr=0x0000000000001000 size=4096`;
    // The end of a range at the top of the space is a u64 sum: it wraps to 0.
    expect(() => parseOne(m)).toThrow(/^t\.txt:1: map: bad - "0x1000000000000000/);
    const top = m.replace('0x10000000000000000', '0x0000000000000000');
    const ev2 = parseOne(top).ev;
    expect(ev2).toMatchObject({ iova: 0xffff_ffff_ffff_f000n, paddr: 0x1000, size: 4096 });
    expect(formatParsedFields(ev2)).toBe(fields(top));
  });
});

describe('events the model has no record for', () => {
  const ctx = '              ip-1       [000] .....     1.000000: ';
  const cases = [
    'dma_map_phys: 0000:03:00.0 dir=TO_DEVICE dma_addr=fffff000 size=1514 phys_addr=10a3f2000 attrs=MMIO',
    'dma_unmap_phys: 0000:03:00.0 dir=TO_DEVICE dma_addr=fffff000 size=1514 attrs=SKIP_CPU_SYNC|MMIO',
    'dma_alloc_pages: d dir=FROM_DEVICE dma_addr=1000 size=8192 virt_addr=00000000deadbeef flags=GFP_KERNEL|__GFP_ZERO attrs=',
    'dma_alloc_sgt_err: d dir=FROM_DEVICE dma_addr=0 size=8192 virt_addr=0000000000000000 flags=GFP_ATOMIC attrs=NO_WARN',
    'dma_free_pages: d dir=FROM_DEVICE dma_addr=1000 size=8192 virt_addr=00000000deadbeef attrs=',
    'dma_alloc_sgt: d dir=BIDIRECTIONAL dma_addr=fff00000 size=8192 phys_addrs={0x1000,0x5000} flags=GFP_KERNEL attrs=',
    'dma_free_sgt: d dir=BIDIRECTIONAL dma_addr=fff00000 size=8192 phys_addrs={0x1000,0x5000}',
    'dma_map_sg_err: d dir=TO_DEVICE dma_addrs={0x1000,0x3000} err=-22 attrs=',
    'dma_map_sg: d dir=TO_DEVICE dma_addrs={0x1000} sizes={0x2000} phys_addrs={0x1000,0x2000} attrs=',
    'dma_alloc: d dma_addr=13fce000 size=4096 phys_addr=13fce000 flags=GFP_KERNEL attrs=',
    'dma_free: d dma_addr=13fce000 size=4096 phys_addr=13fce000 attrs=',
    'dma_alloc: d dma_addr=13fce000 size=4096 virt_addr=00000000b0697534 flags=GFP_KERNEL attrs=',
    'dma_free: d dma_addr=13fce000 size=4096 virt_addr=00000000b0697534 attrs=',
    'dma_sync_sg_for_device: d dir=TO_DEVICE dma_addrs={0x1000,0x3000} sizes={0x200,0x200}',
    'dma_sync_single_for_device: d dir=TO_DEVICE dma_addr=3c900000 size=68',
    'dma_unmap_sg: d dir=FROM_DEVICE phys_addrs={0x2b1c3000,0x2b1c2000} attrs=',
    'io_page_fault: IOMMU:e1000 0000:00:01.0 iova=0xffff888012345000 flags=0x0020',
    'add_device_to_group: IOMMU: groupID=1 device=0000:00:01.0',
    'attach_device_to_domain: IOMMU: device=0000:00:01.0',
  ];
  for (const c of cases) {
    it(c.slice(0, c.indexOf(' dir=') < 0 ? c.indexOf(' size=') : c.indexOf(' dir=')), () => {
      const rec = parseOne(ctx + c);
      expect(rec.ev.event).toBe(c.slice(0, c.indexOf(':')));
      expect(formatParsedFields(rec.ev)).toBe(c.slice(c.indexOf(': ') + 2));
    });
  }

  it('dma_map_sg of more than 128 entries is marked [TRUNCATED]', () => {
    const arr = (n: number): string =>
      `{${Array.from({ length: n }, (_, i) => '0x' + (0x1000 * (i + 1)).toString(16)).join(',')}}`;
    const sizes = `{${Array.from({ length: 128 }, () => '0x1000').join(',')}}`;
    const f = `d dir=TO_DEVICE nents=128/200 ents=128/130 [TRUNCATED] dma_addrs=${arr(128)} sizes=${sizes} phys_addrs=${arr(128)} attrs=`;
    const rec = parseOne(`${ctx}dma_map_sg: ${f}`);
    expect(rec.ev).toMatchObject({ nents: 200, ents: 130 });
    expect(formatParsedFields(rec.ev)).toBe(f);
  });
});

describe('malformed input', () => {
  const bad = (from: string, to: string): string => `${HEADER}${MAP.replace(from, to)}\n`;

  it('names file, line, event and value, and shows the line', () => {
    const line = MAP.replace('dma_addr=86ff8c0', 'dma_addr=0xzz');
    expect(errorOf(bad('dma_addr=86ff8c0', 'dma_addr=0xzz'))).toBe(
      `t.txt:7: dma_map_page: bad dma_addr "0xzz": ${line}`,
    );
  });

  it('an unknown direction', () => {
    expect(errorOf(bad('FROM_DEVICE', 'SIDEWAYS'))).toBe(
      `t.txt:7: dma_map_page: unknown direction "SIDEWAYS": ${MAP.replace('FROM_DEVICE', 'SIDEWAYS')}`,
    );
  });

  it('a bad number', () => {
    expect(errorOf(bad('size=1522', 'size=15x2'))).toBe(
      `t.txt:7: dma_map_page: bad size "15x2": ${MAP.replace('size=1522', 'size=15x2')}`,
    );
  });

  it('unknown attrs and gfp names', () => {
    const a = MAP.replace('attrs=', 'attrs=SHINY');
    expect(errorOf(`${a}\n`)).toBe(`t.txt:1: dma_map_page: unknown attrs "SHINY": ${a}`);
    const g = ALLOC.replace('GFP_KERNEL', 'GFP_WHATEVER');
    expect(errorOf(`${g}\n`)).toBe(`t.txt:1: dma_alloc: unknown gfp flags "GFP_WHATEVER": ${g}`);
  });

  it('a line truncated in the fields, and in the columns', () => {
    const cut = MAP.slice(0, MAP.indexOf(' phys_addr='));
    expect(errorOf(`${cut}\n`)).toBe(
      `t.txt:1: dma_map_page: truncated: ends before "phys_addr=": ${cut}`,
    );
    const cut2 = MAP.slice(0, 45);
    expect(errorOf(cut2)).toBe(`t.txt:1: bad timestamp "5.21": ${cut2}`);
    const cut3 = MAP.slice(0, 51);
    expect(errorOf(cut3)).toBe(`t.txt:1: truncated: no event name: ${cut3}`);
  });

  it('a line cut anywhere reads the same alone and followed by a good line', () => {
    // Lines are read in place in the chunk: nothing may be read past a line's end.
    for (const line of [MAP, IOMMU_MAP, SG]) {
      for (let k = 0; k <= line.length; k++) {
        const cut = line.slice(0, k);
        const alone = parseTrace(`${cut}\n${HEADER}`, { file: 't.txt', lenient: true });
        const next = parseTrace(`${cut}\n${UNMAP}\n`, { file: 't.txt', lenient: true });
        expect(next.summary.warnings).toEqual(alone.summary.warnings);
        expect(next.records.map((r) => r.line)).toEqual([...alone.records.map((r) => r.line), 2]);
      }
    }
  });

  it('a long line of padding fails fast (no quadratic backtracking)', () => {
    const line = ' '.repeat(200_000) + 'x'.repeat(200_000);
    expect(errorOf(line)).toMatch(/^t\.txt:1: not an ftrace event line \(no /);
  });

  it('attrs bits given twice are one bit; io_page_fault flags wider than 32 bits', () => {
    const twice = MAP.replace('attrs=', 'attrs=0x80000000|0x80000000');
    expect(parseOne(twice).ev).toMatchObject({ attrs: 0x8000_0000 });
    const pf = `              ip-1       [000] .....     1.000000: io_page_fault: IOMMU:e1000 d iova=0x1000 flags=0x100000000`;
    expect(errorOf(pf)).toBe(`t.txt:1: io_page_fault: bad flags "0x100000000": ${pf}`);
  });

  it('a line that is not an ftrace event line', () => {
    expect(errorOf('hello world\n')).toBe(
      't.txt:1: not an ftrace event line (no "<task>-<pid> [<cpu>]" columns): hello world',
    );
  });

  it('inconsistent dma_map_sg counts and iommu ranges', () => {
    const sg = SG.replace('nents=2/2', 'nents=3/3');
    expect(errorOf(`${sg}\n`)).toBe(
      `t.txt:1: dma_map_sg: phys_addrs has 2 entries, expected 3: ${sg}`,
    );
    const m = IOMMU_MAP.replace('size=4096', 'size=8192');
    expect(errorOf(`${m}\n`)).toBe(`t.txt:1: map: iova end 0x100000000 is not iova + size: ${m}`);
  });

  it('an empty file, and one of blank lines', () => {
    expect(errorOf('')).toBe('t.txt: empty file (no trace lines)');
    expect(errorOf('\n\n  \n')).toBe('t.txt: empty file (no trace lines)');
    expect(parseTrace(HEADER).records).toEqual([]);
  });

  it('a binary file: NUL bytes, invalid UTF-8, an endless line', () => {
    expect(errorOf('\0\0ELF\x01\n')).toBe(
      't.txt:1: binary data (NUL byte): not a text trace: \\0\\0ELF\x01',
    );
    expect(errorOf(Uint8Array.of(0x41, 0xff, 0xfe, 0x0a))).toBe(
      't.txt:1: invalid UTF-8: not a text trace: A\uFFFD\uFFFD',
    );
    const r = new TraceReader({ file: 't.txt' });
    expect(() => r.push('x'.repeat(1 << 21))).toThrow(/^t\.txt:1: line longer than 1048576/);
  });

  it('lenient mode: a warning per bad line, a count, and the good lines', () => {
    const text = [MAP, MAP.replace('FROM_DEVICE', 'UP'), '\0', IOMMU_MAP, 'junk'].join('\n');
    const { records, summary } = parseTrace(text, { file: 't.txt', lenient: true, maxWarnings: 2 });
    expect(records).toHaveLength(2);
    expect(summary.badLines).toBe(3);
    expect(summary.warnings.map((w) => w.line)).toEqual([2, 3]);
    expect(summary.warnings[0]!.message).toBe(
      `t.txt:2: dma_map_page: unknown direction "UP": ${MAP.replace('FROM_DEVICE', 'UP')}`,
    );
    expect(summary.warnings[1]!.message).toBe(
      't.txt:3: binary data (NUL byte): not a text trace: \\0',
    );
  });

  it('lenient mode skips the rest of an endless line and goes on', () => {
    const r = new TraceReader({ lenient: true });
    r.push('y'.repeat(1 << 20));
    r.push('y'.repeat(1 << 20));
    const out = r.push(`yyy\n${MAP}\n`);
    expect(out).toHaveLength(1);
    expect(out[0]!.line).toBe(2);
    expect(r.summary().badLines).toBe(1);
  });
});

describe('streaming', () => {
  /** Reading `input` cut at any points gives what parsing `text` whole gives. */
  function cutAnywhere(text: string, input: string | Uint8Array, maxCuts: number) {
    const want = parseTrace(text);
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(input.length), { maxLength: maxCuts }), (cuts) => {
        const r = new TraceReader();
        const got: TraceRecord[] = [];
        let from = 0;
        for (const p of [...cuts].sort((a, b) => a - b).concat(input.length)) {
          const piece = input.slice(from, p);
          got.push(...(typeof piece === 'string' ? r.push(piece) : r.pushBytes(piece)));
          from = p;
        }
        got.push(...r.end());
        expect(got).toEqual(want.records);
        expect(r.summary()).toEqual(want.summary);
      }),
    );
  }

  it('splitting the text anywhere gives the same records and summary', () => {
    cutAnywhere(TRACE, TRACE, 12);
  });

  it('bytes split anywhere, ASCII chunks then a non-ASCII one, read as the text is', () => {
    const text =
      TRACE + `   T\u00e9l\u00e9-9     [000] .....     1.000000: dma_map_page: ${fields(MAP)}\n`;
    cutAnywhere(text, new TextEncoder().encode(text), 8);
  });

  it('a lone lead byte at the end of a chunk spoils its own line, not a later one', () => {
    const enc = new TextEncoder();
    const r = new TraceReader({ file: 'u.txt', lenient: true });
    const got = [
      ...r.pushBytes(enc.encode(`${MAP}\n${MAP}`)),
      ...r.pushBytes(Uint8Array.of(0xc3)),
      ...r.pushBytes(enc.encode(`\n${MAP}\n`)),
      ...r.end(),
    ];
    expect(got.map((x) => x.line)).toEqual([1, 3]);
    expect(r.summary().warnings).toEqual([
      { line: 2, message: `u.txt:2: invalid UTF-8: not a text trace: ${MAP}\uFFFD` },
    ]);
  });

  it("the host's ASCII decoder: found on Node, equal to UTF-8 on ASCII, declines the rest", () => {
    const decode = hostAsciiDecode();
    expect(decode).not.toBeNull();
    const ascii = new TextEncoder().encode(TRACE);
    expect(decode!(ascii)).toBe(TRACE);
    expect(decode!(new TextEncoder().encode('T\u00e9l\u00e9'))).toBeNull();
    expect(decode!(Uint8Array.of(0x41, 0xff))).toBeNull();
  });

  it('UTF-8 bytes split inside a character', async () => {
    const text = `   T\u00e9l\u00e9-9     [000] .....     1.000000: dma_map_page: ${fields(MAP)}\n`;
    const bytes = new TextEncoder().encode(text);
    const cut = bytes.indexOf(0xc3) + 1;
    const gen = readTrace([bytes.subarray(0, cut), bytes.subarray(cut)], { file: 'u.txt' });
    const first = await gen.next();
    expect(first.done).toBe(false);
    expect(first.value).toMatchObject({ task: 'T\u00e9l\u00e9', pid: 9 });
    const last = await gen.next();
    expect(last.done).toBe(true);
    expect(last.value).toMatchObject({ file: 'u.txt', events: 1 });
  });
});
