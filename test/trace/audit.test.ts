/**
 * The trace audit: zero errors on every real trace (skipped without ../shared), faults injected
 * into a copy of a real trace found at the right line, and a small hand-written trace with each
 * finding kind.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AUDITED_EVENTS, auditTrace } from '../../src/trace/audit.js';
import { EVENT_PARSERS } from '../../src/trace/dma-events.js';
import type { AuditReport } from '../../src/trace/audit.js';
import { parseTrace } from '../../src/trace/index.js';

import { DIR, NAMES } from './real.js';
const DEV = '0000:00:01.0';

function audit(text: string): AuditReport {
  const { records, summary } = parseTrace(text, { file: 't.trace' });
  return auditTrace(records, summary);
}

let ts = 0;
/** One event line. */
function ev(event: string, fields: string): string {
  ts++;
  return `           task-1     [000] .....     1.${String(ts).padStart(6, '0')}: ${event}: ${fields}`;
}
const map = (dir: string, a: string, size: number): string =>
  ev('dma_map_page', `${DEV} dir=${dir} dma_addr=${a} size=${size} phys_addr=${a} attrs=`);
const unmap = (dir: string, a: string, size: number): string =>
  ev('dma_unmap_page', `${DEV} dir=${dir} dma_addr=${a} size=${size} attrs=`);
const sync = (name: string, dir: string, a: string, size: number): string =>
  ev(name, `${DEV} dir=${dir} dma_addr=${a} size=${size}`);
const alloc = (a: string, size: number, v: string): string =>
  ev('dma_alloc', `${DEV} dir=BIDIRECTIONAL dma_addr=${a} size=${size} virt_addr=${v} flags=GFP_KERNEL attrs=`); // prettier-ignore
const free = (a: string, size: number, v: string): string =>
  ev('dma_free', `${DEV} dir=BIDIRECTIONAL dma_addr=${a} size=${size} virt_addr=${v} attrs=`);
const mapSg = (dir: string, phys: string[]): string =>
  ev('dma_map_sg', `${DEV} dir=${dir} nents=${phys.length}/${phys.length} ents=1/1 dma_addrs={0xfff00000} sizes={0x${(phys.length * 4096).toString(16)}} phys_addrs={${phys.join(',')}} attrs=`); // prettier-ignore
const unmapSg = (dir: string, phys: string[]): string =>
  ev('dma_unmap_sg', `${DEV} dir=${dir} phys_addrs={${phys.join(',')}} attrs=`);

/** The kinds and lines of the findings. */
function found(r: AuditReport): [string, number][] {
  return r.findings.map((f) => [f.kind, f.line]);
}

describe('the audit of a hand-written trace', () => {
  it("reads every event the reader parses but the IOMMU driver's own", () => {
    const unread = [...EVENT_PARSERS.keys()].filter((n) => !AUDITED_EVENTS.has(n));
    expect(unread).toEqual(['map', 'unmap', 'attach_device_to_domain']);
    expect([...AUDITED_EVENTS].filter((n) => !EVENT_PARSERS.has(n))).toEqual([]);
  });

  it('a correct trace has no findings and counts the live mappings', () => {
    const text = [
      '# tracer: nop',
      map('TO_DEVICE', '1000', 64),
      map('FROM_DEVICE', '2000', 1522),
      sync('dma_sync_single_for_cpu', 'FROM_DEVICE', '2010', 100),
      unmap('TO_DEVICE', '1000', 64),
      alloc('8000', 4096, '00000000deadbeef'),
      mapSg('FROM_DEVICE', ['0x5000', '0x7000']),
      unmapSg('FROM_DEVICE', ['0x5000', '0x7000']),
      ev('dma_map_page', `${DEV} dir=TO_DEVICE dma_addr=ffffffffffffffff size=64 phys_addr=3000 attrs=`), // prettier-ignore
      free('0', 0, '0000000000000000'),
    ].join('\n');
    const r = audit(text);
    expect(found(r)).toEqual([]);
    expect(r.preexisting.count).toBe(0);
    expect(r.liveAtEnd.count).toBe(2);
    expect(r.liveAtEnd.first.map((l) => [l.event, l.line])).toEqual([
      ['dma_map_page', 3],
      ['dma_alloc', 6],
    ]);
    const s = r.devices[DEV]!;
    expect(s.failedMaps).toBe(1);
    expect(s.noopFrees).toBe(1);
    expect(s.maps).toBe(3);
    expect(s.live).toMatchObject({ atEnd: 2, peak: 3, peakLine: 7 });
    expect(s.sizes).toEqual({ '<=64': 1, '<=2K': 1, '<=4K': 1, '<=8K': 1 });
    expect(s.directions).toEqual({ TO_DEVICE: 1, FROM_DEVICE: 2 });
    expect(s.dmaRange).toEqual({ min: '0x1000', max: '0xfff01fff' });
  });

  it('calls on mappings made before the trace began are preexisting, not errors', () => {
    const r = audit(
      [
        unmap('TO_DEVICE', '1000', 64),
        sync('dma_sync_single_for_cpu', 'FROM_DEVICE', '2000', 100),
        unmap('FROM_DEVICE', '2000', 1522),
        free('8000', 4096, '00000000deadbeef'),
        unmapSg('FROM_DEVICE', ['0x5000']),
      ].join('\n'),
    );
    expect(found(r)).toEqual([]);
    expect(r.preexisting.count).toBe(4);
    expect(r.preexisting.byEvent).toEqual({
      dma_unmap_page: 1,
      dma_sync_single_for_cpu: 1,
      dma_free: 1,
      dma_unmap_sg: 1,
    });
    expect(r.liveAtEnd.count).toBe(0);
  });

  it('reports each kind at the line of the call, with the kernel message', () => {
    const text = [
      map('TO_DEVICE', '1000', 64), // 1
      unmap('TO_DEVICE', '1000', 60), // 2 unmap-wrong-size
      map('TO_DEVICE', '1000', 64), // 3
      unmap('FROM_DEVICE', '1000', 64), // 4 unmap-wrong-direction
      unmap('TO_DEVICE', '1000', 64), // 5 double-unmap
      alloc('8000', 4096, '00000000deadbeef'), // 6
      free('8000', 4096, '00000000cafebabe'), // 7 free-wrong-cpu-address
      free('8000', 4096, '00000000deadbeef'), // 8 double-free
      alloc('9000', 4096, '00000000deadbeef'), // 9
      unmap('BIDIRECTIONAL', '9000', 4096), // 10 unmap-wrong-function
      map('FROM_DEVICE', '2000', 128), // 11
      sync('dma_sync_single_for_cpu', 'FROM_DEVICE', '2040', 128), // 12 sync-outside-mapping
      sync('dma_sync_single_for_cpu', 'TO_DEVICE', '2000', 64), // 13 sync-wrong-direction
      sync('dma_sync_single_for_device', 'FROM_DEVICE', '2000', 64), // 14 none (FROM_DEVICE ok)
      unmap('FROM_DEVICE', '2000', 128), // 15
      sync('dma_sync_single_for_cpu', 'FROM_DEVICE', '2000', 64), // 16 sync-never-mapped
      mapSg('FROM_DEVICE', ['0x5000', '0x7000']), // 17
      unmapSg('TO_DEVICE', ['0x5000']), // 18 unmap-sg-wrong-nents + unmap-wrong-direction
      unmapSg('FROM_DEVICE', ['0x5000', '0x7000']), // 19 double-unmap
      unmap('TO_DEVICE', 'ffffffffffffffff', 64), // 20 unmap-invalid-address
      map('TO_DEVICE', '3000', 64), // 21
      sync('dma_sync_single_for_cpu', 'FROM_DEVICE', '3000', 64), // 22 wrong-direction + read-only
    ].join('\n');
    const r = audit(text);
    expect(found(r)).toEqual([
      ['unmap-wrong-size', 2],
      ['unmap-wrong-direction', 4],
      ['double-unmap', 5],
      ['free-wrong-cpu-address', 7],
      ['double-free', 8],
      ['unmap-wrong-function', 10],
      ['sync-outside-mapping', 12],
      ['sync-wrong-direction', 13],
      ['sync-never-mapped', 16],
      ['unmap-sg-wrong-nents', 18],
      ['unmap-wrong-direction', 18],
      ['double-unmap', 19],
      ['unmap-invalid-address', 20],
      ['sync-wrong-direction', 22],
      ['sync-device-read-only', 22],
    ]);
    const m = (i: number): string => r.findings[i]!.message;
    expect(m(0)).toBe(
      'device driver frees DMA memory with different size [device address=0x0000000000001000] [map size=64 bytes] [unmap size=60 bytes]',
    );
    expect(m(1)).toContain('[mapped with DMA_TO_DEVICE] [unmapped with DMA_FROM_DEVICE]');
    expect(m(2)).toContain('it has not allocated [device address=0x0000000000001000]');
    expect(m(2)).toContain('[already unmapped at line 4]');
    expect(m(5)).toContain('[mapped as coherent] [unmapped as single]');
    expect(m(6)).toContain('[allocation size=128 bytes] [sync offset+size=192]');
    expect(r.findings[0]).toMatchObject({
      severity: 'error',
      device: DEV,
      event: 'dma_unmap_page',
      addresses: { bus: '0x1000', phys: '0x1000', virt: null },
      size: 60,
      mappedAt: 1,
    });
    expect(r.errors).toBe(15);
    expect(r.findingCounts['double-unmap']).toBe(2);
    expect(r.preexisting.count).toBe(0);
  });
});

describe.skipIf(!existsSync(DIR))('the audit of the real traces', () => {
  const load = (name: string): string[] =>
    readFileSync(new URL(`${name}.trace`, DIR), 'utf8').split('\n');

  for (const name of NAMES) {
    it(`${name}: zero findings, nothing preexisting, nothing live at the end`, () => {
      const r = audit(load(name).join('\n'));
      expect(r.findings).toEqual([]);
      expect(r.errors + r.warnings).toBe(0);
      expect(r.preexisting.count).toBe(0);
      expect(r.liveAtEnd.count).toBe(0);
      const s = r.devices[DEV]!;
      expect(s.maps).toBeGreaterThan(600);
      expect(s.live.peak).toBeGreaterThan(10);
      expect(s.behindIommu).toBe(name.includes('iommu'));
      if (name.startsWith('D_')) {
        expect(s.swiotlb.bounced).toBe(s.calls['dma_map_page']);
        expect(s.swiotlb.slotsHighWater).toBeGreaterThan(255);
      }
      if (name.includes('iommu')) expect(s.dmaRange.max).toMatch(/^0xff/);
    });

    it(`${name}: reading only the audited events gives the same report`, () => {
      const text = load(name).join('\n');
      const only = parseTrace(text, { file: 't.trace', events: AUDITED_EVENTS });
      expect(auditTrace(only.records, only.summary)).toEqual(audit(text));
      if (name.includes('iommu')) expect(only.summary.skipped['map']).toBeGreaterThan(800);
    });
  }

  const unmapLines = (lines: string[]): number[] =>
    lines.flatMap((l, i) => (/ dma_unmap_page: /.test(l) ? [i] : []));

  it('a deleted unmap leaves its mapping live at the end', () => {
    const lines = load('B_e1000_iommu_strict');
    const i = unmapLines(lines)[100]!;
    const addr = /dma_addr=(\w+)/.exec(lines[i]!)![1]!;
    lines.splice(i, 1);
    const r = audit(lines.join('\n'));
    expect(r.errors).toBe(0);
    expect(r.liveAtEnd.count).toBe(1);
    expect(r.liveAtEnd.first[0]!.bus).toBe(`0x${addr}`);
  });

  it('a duplicated unmap is a double unmap at the duplicate line', () => {
    const lines = load('A_e1000_direct');
    const i = unmapLines(lines)[50]!;
    lines.splice(i + 1, 0, lines[i]!);
    const r = audit(lines.join('\n'));
    expect(found(r)).toEqual([['double-unmap', i + 2]]);
    expect(r.findings[0]!.mappedAt).toBe(i + 1);
  });

  it('an unmap with another direction or size is reported at its line', () => {
    const lines = load('E_nvme_iommu_strict');
    const [a, b] = [unmapLines(lines)[10]!, unmapLines(lines)[20]!];
    const dir = / dir=(\w+) /.exec(lines[a]!)![1]!;
    lines[a] = lines[a]!.replace(` dir=${dir} `, dir === 'TO_DEVICE' ? ' dir=FROM_DEVICE ' : ' dir=TO_DEVICE '); // prettier-ignore
    lines[b] = lines[b]!.replace(/ size=(\d+)/, (_, n: string) => ` size=${Number(n) + 1}`);
    const r = audit(lines.join('\n'));
    expect(found(r)).toEqual([
      ['unmap-wrong-direction', a + 1],
      ['unmap-wrong-size', b + 1],
    ]);
  });

  it('a trace cut at the start counts the unmaps of earlier maps as preexisting', () => {
    const lines = load('D_e1000_swiotlb');
    const cut = lines.findIndex((l) => l.includes('phase=ping'));
    const r = audit(lines.slice(cut > 0 ? cut : 2000).join('\n'));
    expect(r.errors).toBe(0);
    expect(r.preexisting.count).toBeGreaterThan(200);
  });
});
