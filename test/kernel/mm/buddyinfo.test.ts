/** /proc/buddyinfo and /proc/zoneinfo text, and the zone data behind them. */
import { expect, test } from 'vitest';
import { buddyinfo, zoneinfo, zoneSummaries } from '../../../src/kernel/mm/buddyinfo.js';
import { GFP_KERNEL } from '../../../src/kernel/mm/gfp.js';
import { rig } from './rig.js';

const row = (zone: string, counts: number[]): string =>
  `Node 0, zone ${zone.padStart(8)} ${counts.map((n) => String(n).padStart(6) + ' ').join('')}`;

test('buddyinfo of a fresh 64 MiB x86_64 machine, and after one page leaves', () => {
  const { pa } = rig('x86_64');
  expect(buddyinfo(pa)).toBe(
    [
      row('DMA', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]),
      row('DMA32', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12]),
      '',
    ].join('\n'),
  );
  expect(buddyinfo(pa)).toContain('Node 0, zone      DMA      0      0 ');
  pa.allocPages(GFP_KERNEL, 0);
  expect(buddyinfo(pa).split('\n')[1]).toBe(row('DMA32', [1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 11]));
});

test('zoneinfo: watermarks from min_free_kbytes, protection from the lowmem reserve ratios', () => {
  const { pa } = rig('x86_64');
  const pcp = (cpu: number): string[] => [
    `    cpu: ${cpu}`,
    '              count:    0',
    '              high:     40',
    '              batch:    1',
    '              high_min: 40',
    '              high_max: 256',
  ];
  const dma = [
    'Node 0, zone      DMA',
    '  pages free     4096',
    '        boost    0',
    '        min      64',
    '        low      80',
    '        high     96',
    '        promo    112',
    '        spanned  4096',
    '        present  4096',
    '        managed  4096',
    '        cma      0',
    '        protection: (0, 48, 48, 48)',
    '      nr_free_pages 4096',
    '  pagesets',
    ...pcp(0),
    ...pcp(1),
    '  node_unreclaimable:  0',
    '  start_pfn:           0',
  ];
  const text = zoneinfo(pa).split('\n');
  expect(text.slice(0, dma.length)).toEqual(dma);
  expect(text).toContain('Node 0, zone  Movable');
  expect(text.filter((l) => l.includes('protection'))).toEqual([
    '        protection: (0, 48, 48, 48)',
    '        protection: (0, 0, 0, 0)',
    '        protection: (0, 0, 0, 0)',
    '        protection: (0, 0, 0, 0)',
  ]);
});

test('zone summaries carry the same numbers for the visualizer', () => {
  const { pa } = rig('x86_64');
  pa.allocPages(GFP_KERNEL, 0);
  const [dma, dma32] = zoneSummaries(pa);
  expect(dma!.freeBlocks).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
  expect(dma32!.freeBlocks).toEqual([1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 11]);
  // The first GFP_KERNEL page claimed one order-10 block for UNMOVABLE; the rest stay MOVABLE.
  expect(dma32!.freeBlocksByType[10]).toEqual([0, 11, 0]);
  expect(dma32!.freeBlocksByType[9]).toEqual([1, 0, 0]);
  expect(dma32!.pcp[0]!.count).toBe(2);
  expect(dma32!.watermark).toEqual({ min: 192, low: 240, high: 288, promo: 336 });
});
