import { describe, expect, it } from 'vitest';
import { ARCH_NAMES } from '../../src/machine/profile.js';
import type { ArchName } from '../../src/machine/profile.js';
import { DEFAULT_RUN_OPTIONS } from '../../src/scenarios/options.js';
import type { RunReport } from '../../src/scenarios/report.js';
import { resolveParams, runScenario } from '../../src/scenarios/run.js';
import { wcScenario } from '../../src/scenarios/wc.js';

function run(arch: ArchName, mistake: string, coherent?: boolean): RunReport {
  const params = resolveParams(wcScenario, { mistake });
  const opts = {
    ...DEFAULT_RUN_OPTIONS,
    arch,
    params,
    ...(coherent === undefined ? {} : { coherent }),
  };
  return runScenario(wcScenario, opts, 'test').report;
}

const errors = (r: RunReport): string[] =>
  r.findings.filter((f) => f.severity === 'error').map((f) => f.kind);

describe.each(ARCH_NAMES)('wc scenario on %s', (arch) => {
  it('with the barrier the device reads fresh bytes from both buffers and nothing is found', () => {
    const r = run(arch, 'none');
    expect(r.happened['coherent: device saw']).toBe('fresh');
    expect(r.happened['wc: device saw']).toBe('fresh');
    expect(r.happened['stale reads']).toBe(0);
    expect(errors(r)).toEqual([]);
  });

  it('gives the same report for the same seed', () => {
    const a = JSON.stringify(run(arch, 'no-barrier'));
    expect(JSON.stringify(run(arch, 'no-barrier'))).toBe(a);
  });
});

describe('wc scenario without the barrier', () => {
  it('arm32 (the seed): the WC buffer holds the stores, the strongly ordered coherent one does not', () => {
    const r = run('arm32', 'no-barrier');
    expect(r.happened).toMatchObject({
      'coherent: cpu mapping': 'uncached',
      'coherent: device saw': 'fresh',
      'wc: cpu mapping': 'wc',
      'wc: device saw': 'stale',
      'stale reads': 1,
    });
    expect(r.findingCounts).toEqual({ 'wc-not-drained': 1 });
    expect(r.findings[0]?.message).toMatch(/write-combining buffer/);
    expect(r.narrative.join('\n')).toContain('after a late wmb() the device reads fresh bytes');
  });

  it('arm64 non-coherent: dma_alloc_coherent is Normal-NC too, so both buffers are stale', () => {
    const r = run('arm64', 'no-barrier');
    expect(r.happened).toMatchObject({
      'coherent: cpu mapping': 'wc',
      'wc: cpu mapping': 'wc',
      'stale reads': 2,
    });
    expect(r.findingCounts).toEqual({ 'wc-not-drained': 2 });
  });

  it('x86_64: a coherent device gets cacheable memory from dma_alloc_wc, nothing is stale', () => {
    const r = run('x86_64', 'no-barrier');
    expect(r.happened).toMatchObject({ 'wc: cpu mapping': 'cacheable', 'stale reads': 0 });
    expect(r.findings).toEqual([]);
  });

  it('x86_64 with a non-coherent device: dma_alloc_wc is write-combining and stale', () => {
    const r = run('x86_64', 'no-barrier', false);
    expect(r.happened).toMatchObject({ 'wc: cpu mapping': 'wc', 'wc: device saw': 'stale' });
    expect(r.findingCounts['wc-not-drained']).toBe(1);
  });

  it('prep (coherent, weakly ordered): posted cacheable stores, missing-barrier', () => {
    const r = run('prep', 'no-barrier');
    expect(r.happened['stale reads']).toBe(2);
    expect(r.findingCounts).toEqual({ 'missing-barrier': 2 });
  });

  it('rejects an unknown mistake', () => {
    expect(() => resolveParams(wcScenario, { mistake: 'typo' })).toThrow(
      /not one of none, no-barrier/,
    );
  });
});
