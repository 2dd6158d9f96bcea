/**
 * `dmasim replay`: a trace's calls issued again on a simulated kernel with other settings. On the
 * real traces (skipped without ../shared): strict mode issues exactly the invalidations the real
 * kernel logged, a small bounce pool overflows with the kernel's message; on a hand-written trace:
 * what is replayed, preexisting, failed.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel.js';
import { MIB } from '../../src/lib/units.js';
import { Machine } from '../../src/machine/machine.js';
import { StatsTracker } from '../../src/scenarios/stats.js';
import { parseTrace } from '../../src/trace/index.js';
import { TraceReplayer, iovaFragmentation } from '../../src/trace/replay.js';
import { DIR } from './real.js';
import { runCli } from '../cli/helpers.js';

function replay(text: string, cmdline: string, iommu = false) {
  const k = new Kernel(new Machine({ ramSize: 1024 * MIB, iommu }), { cmdline });
  const stats = new StatsTracker(k);
  const rp = new TraceReplayer(k);
  for (const r of parseTrace(text, { file: 't.trace' }).records) rp.push(r);
  return { k, r: rp.finish(), s: stats.snapshot() };
}

const real = (name: string): string => readFileSync(new URL(`${name}.trace`, DIR), 'utf8');
const count = (text: string, event: string): number =>
  text.split('\n').filter((l) => l.includes(` ${event}: `)).length;

describe.skipIf(!existsSync(DIR))('replaying the real traces', () => {
  it.each(['B_e1000_iommu_strict', 'E_nvme_iommu_strict'])(
    '%s in strict mode: one range invalidation per real cache_tag_flush_range',
    (name) => {
      const text = real(name);
      const { k, r, s } = replay(text, 'intel_iommu=on iommu.strict=1', true);
      expect(r.failed).toBe(0);
      expect(r.replayed).toBe(r.calls - r.preexisting);
      expect(k.machine.iommu?.invalidationRequests.range).toBe(
        count(text, 'cache_tag_flush_range'),
      );
      expect(s.iotlb?.invalidationWaitNs).toBe(count(text, 'cache_tag_flush_range') * 500);
    },
  );

  it('B in lazy mode: domain-wide flushes instead, far fewer', () => {
    const { k, s } = replay(real('B_e1000_iommu_strict'), 'intel_iommu=on iommu.strict=0', true);
    const inv = k.machine.iommu?.invalidationRequests;
    expect(s.iotlb?.invalidationWaitNs).toBe((inv?.domain ?? 0) * 500);
    expect(inv?.range).toBe(0);
    expect(inv?.domain).toBeGreaterThan(0);
    expect(inv?.domain).toBeLessThan(870 / 2);
  });

  it('D with the default pool bounces every map; with 256 slots it overflows, as the kernel says', () => {
    const text = real('D_e1000_swiotlb');
    const big = replay(text, 'swiotlb=force');
    expect(big.r.failed).toBe(0);
    expect(big.s.swiotlb?.bounces).toBe(count(text, 'swiotlb_bounced'));
    const small = replay(text, 'swiotlb=256,force');
    expect(small.r.failed).toBeGreaterThan(0);
    expect(small.r.ofFailed).toBe(small.r.failed);
    expect(small.r.failures[0]?.log).toEqual([
      expect.stringMatching(
        /^pci 0000:00:01\.0: swiotlb buffer is full \(sz: \d+ bytes\), total 256 \(slots\), used 256 \(slots\)$/,
      ),
    ]);
    expect(small.s.swiotlb?.highWater).toBe(256);
  });
});

const DEV = '0000:00:01.0';
let ts = 0;
function ev(event: string, fields: string): string {
  ts++;
  return `           task-1     [001] .....     1.${String(ts).padStart(6, '0')}: ${event}: ${fields}`;
}
const SMALL = [
  ev('dma_unmap_page', `${DEV} dir=TO_DEVICE dma_addr=1000 size=64 attrs=`),
  ev('dma_map_page', `${DEV} dir=FROM_DEVICE dma_addr=20000 size=2048 phys_addr=20000 attrs=`),
  ev('dma_sync_single_for_cpu', `${DEV} dir=FROM_DEVICE dma_addr=20000 size=60`),
  ev('dma_sync_single_for_device', `${DEV} dir=FROM_DEVICE dma_addr=20040 size=60`),
  ev('dma_sync_single_for_cpu', `${DEV} dir=FROM_DEVICE dma_addr=30000 size=60`),
  ev('dma_unmap_page', `${DEV} dir=FROM_DEVICE dma_addr=20000 size=2048 attrs=`),
].join('\n');

describe('IOVA fragmentation', () => {
  it('counts the gaps between ranges below 4 GiB', () => {
    const f = iovaFragmentation(9, [
      { pfnLo: 0x100, pfnHi: 0x1ff },
      { pfnLo: 0x300, pfnHi: 0x3ff },
      { pfnLo: 0xffff0, pfnHi: 0xfffff },
    ]);
    // 1..0xff, 0x200..0x2ff, 0x400..0xfffef
    expect(f).toEqual({
      line: 9,
      ranges: 3,
      holes: 3,
      largestHolePages: 0xfffef - 0x400 + 1,
      freePages: 0xff + 0x100 + (0xfffef - 0x400 + 1),
    });
    expect(iovaFragmentation(1, []).holes).toBe(1);
  });
});

describe('replaying a small trace', () => {
  it('replays what it can and counts what began before the trace', () => {
    const { r, s } = replay(SMALL, '');
    // The second sync lies inside the mapping; the third in none the trace made.
    expect(r).toMatchObject({ calls: 6, replayed: 4, preexisting: 2, failed: 0, ofFailed: 0 });
    expect(r.addresses).toHaveLength(1);
    expect(r.addresses[0]?.recorded).toBe('0x20000');
    expect(s.mappings).toMatchObject({ live: 0, peak: 1 });
  });

  it('dmasim replay prints JSON and rejects bad options with status 2', () => {
    const file = `${process.env['TMPDIR'] ?? '/tmp'}/dmasim-replay-${process.pid}.trace`;
    writeFileSync(file, SMALL + '\n');
    const ok = runCli(['replay', file, '--swiotlb', 'force', '--json']);
    expect(ok.status).toBe(0);
    const doc = JSON.parse(ok.out) as {
      replay: { replayed: number };
      stats: { swiotlb: { bounces: number } };
    };
    expect(doc.replay.replayed).toBe(4);
    expect(doc.stats.swiotlb.bounces).toBeGreaterThan(0);
    const bad = runCli(['replay', file, '--iommu', 'maybe']);
    expect(bad.status).toBe(2);
    expect(bad.err).toMatch(/Allowed choices are off, strict, lazy, passthrough/);
    expect(runCli(['replay', `${file}.missing`]).err).toMatch(/cannot read the trace \(ENOENT\)/);
  });
});
