import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN_OPTIONS } from '../../src/scenarios/options.js';
import type { IommuMode } from '../../src/scenarios/options.js';
import type { RunReport } from '../../src/scenarios/report.js';
import { resolveParams, runScenario } from '../../src/scenarios/run.js';
import { sgScenario } from '../../src/scenarios/sg.js';
import type { ArchName } from '../../src/machine/profile.js';

function run(arch: ArchName, pages: number, iommu: IommuMode = 'off', seed = 1): RunReport {
  const params = resolveParams(sgScenario, { pages: String(pages) });
  const opts = { ...DEFAULT_RUN_OPTIONS, arch, iommu, seed, params };
  return runScenario(sgScenario, opts, 'test').report;
}

const WITH_IOMMU: readonly ArchName[] = ['x86_64', 'arm64', 'arm32'];

describe.each(sgScenario.archs)('sg on %s', (arch) => {
  it.each([1, 8, 40])(
    '%i scattered pages: one segment each direct, merged behind the IOMMU',
    (n) => {
      const r = run(arch, n);
      expect(r.findings).toEqual([]);
      expect(r.happened['segments (direct)']).toBe(n);
      expect(r.happened['physically adjacent pages']).toBe(0);
      expect(r.happened['bytes wrong']).toBe(0);
      const runs = WITH_IOMMU.includes(arch) ? 2 : 1;
      expect(r.happened['bytes moved']).toBe(runs * n * 4096);
      expect(r.stats.map((s) => s.kernel)).toEqual(runs === 2 ? ['direct', 'iommu'] : ['direct']);
      if (runs === 2) {
        // One IOVA range, cut at the default max_segment_size of 64 KiB (16 pages).
        expect(r.happened['segments (iommu)']).toBe(Math.ceil(n / 16));
        expect(r.happened['one IOVA range']).toBe('yes');
      } else {
        expect(r.happened['segments (iommu)']).toBeUndefined();
        expect(r.narrative).toContain(`${arch} has no IOMMU in this model: only dma-direct runs`);
      }
    },
  );
});

describe('sg', () => {
  it('lists the segments: the pages apart in RAM, one IOVA block behind the IOMMU', () => {
    const r = run('x86_64', 8);
    const text = r.narrative.join('\n');
    expect(text).toContain('direct (iommu off): dma_map_sg(8 entries) returned 8 DMA segment(s)');
    expect(text).toContain('iommu (iommu strict): dma_map_sg(8 entries) returned 1 DMA segment(s)');
    expect(text).toMatch(
      /\[0\] 0x[0-9a-f]+ \+ 0x8000\n {3}the device read 32768 bytes through them: every byte matched/,
    );
    const direct = [...text.matchAll(/\[\d\] (0x[0-9a-f]+) \+ 0x1000/g)].map((m) => Number(m[1]));
    expect(direct).toHaveLength(4);
    for (let i = 1; i < direct.length; i++) expect(direct[i]! - direct[i - 1]!).not.toBe(4096);
  });

  it('takes the IOMMU mode from --iommu: passthrough leaves one segment per page', () => {
    const r = run('arm64', 8, 'passthrough');
    expect(r.happened['segments (iommu)']).toBe(8);
    expect(r.happened['one IOVA range']).toBe('no');
    expect(r.happened['bytes wrong']).toBe(0);
    expect(run('x86_64', 8, 'lazy').happened['segments (iommu)']).toBe(1);
  });

  it('rejects a page count out of range', () => {
    expect(() => resolveParams(sgScenario, { pages: '0' })).toThrow(/out of range/);
    expect(() => resolveParams(sgScenario, { pages: '257' })).toThrow(/out of range/);
  });

  it('is deterministic: the same seed gives the same report', () => {
    expect(JSON.stringify(run('arm64', 20, 'off', 3))).toBe(
      JSON.stringify(run('arm64', 20, 'off', 3)),
    );
  });
});
