import { describe, expect, it } from 'vitest';
import { IOVA_DEFAULT_FQ_TIMEOUT_NS } from '../../src/kernel/dma/iommu-fq.js';
import { iommuSecurityScenario } from '../../src/scenarios/iommu-security.js';
import { DEFAULT_RUN_OPTIONS } from '../../src/scenarios/options.js';
import type { RunReport } from '../../src/scenarios/report.js';
import { resolveParams, runScenario } from '../../src/scenarios/run.js';

function run(mode?: string): RunReport {
  const params = resolveParams(iommuSecurityScenario, mode === undefined ? {} : { mode });
  return runScenario(iommuSecurityScenario, { ...DEFAULT_RUN_OPTIONS, params }, 'test').report;
}

describe('iommu-security scenario', () => {
  it('both modes: the 64-byte map exposes its page and the neighbour the checker names', () => {
    for (const mode of ['lazy', 'strict']) {
      const r = run(mode);
      expect(r.happened).toMatchObject({
        'exposed bytes': 4032,
        'neighbour objects': 1,
        'neighbour read': 'secret',
      });
      const f = r.findings.find((x) => x.kind === 'iommu-subpage-exposure');
      expect(f?.severity).toBe('warning');
      expect(f?.message).toMatch(/kmalloc-64 object 0/);
      expect(r.narrative.join('\n')).toMatch(
        /rogue-device scan while mapped: 1 range\(s\), 4096 bytes/,
      );
    }
  });

  it('lazy (default): the late write succeeds through the stale IOTLB entry for the flush-queue window', () => {
    const r = run();
    expect(r.happened).toMatchObject({
      'kernel cmdline': 'intel_iommu=on iommu.strict=0',
      mode: 'lazy',
      'stale iotlb entries': 1,
      'late access': 'succeeded',
      'new owner corrupted': 'yes',
      'stale window ns': IOVA_DEFAULT_FQ_TIMEOUT_NS,
      faults: 1, // only the retry after the flush
    });
    expect(r.findingCounts['iommu-stale-access']).toBe(1);
    const f = r.findings.find((x) => x.kind === 'iommu-stale-access');
    expect(f?.message).toMatch(/through a stale IOTLB entry 1000 ns after the unmap/);
  });

  it('strict: the unmap invalidates the IOTLB, the late write faults, no stale access', () => {
    const r = run('strict');
    expect(r.happened).toMatchObject({
      'kernel cmdline': 'intel_iommu=on iommu.strict=1',
      'stale iotlb entries': 0,
      'late access': 'faulted',
      'new owner corrupted': 'no',
      'stale window ns': 0,
      faults: 2,
    });
    expect(r.findingCounts['iommu-stale-access']).toBeUndefined();
  });

  it('forces the IOMMU whatever --iommu says', () => {
    const params = resolveParams(iommuSecurityScenario, {});
    const opts = { ...DEFAULT_RUN_OPTIONS, iommu: 'off' as const, params };
    expect(runScenario(iommuSecurityScenario, opts, 't').report.happened['late access']).toBe(
      'succeeded',
    );
  });

  it('gives the same report for the same seed, in both modes', () => {
    for (const mode of ['lazy', 'strict'])
      expect(JSON.stringify(run(mode))).toBe(JSON.stringify(run(mode)));
  });

  it('runs on x86_64 only', () => {
    const params = resolveParams(iommuSecurityScenario, {});
    expect(() =>
      runScenario(iommuSecurityScenario, { ...DEFAULT_RUN_OPTIONS, arch: 'arm64', params }, 't'),
    ).toThrow(/runs on x86_64/);
  });
});
