import { describe, expect, it } from 'vitest';
import { ARCH_NAMES } from '../../src/machine/profile.js';
import type { ArchName } from '../../src/machine/profile.js';
import { DEFAULT_RUN_OPTIONS } from '../../src/scenarios/options.js';
import { createFailure, poolScenario } from '../../src/scenarios/pool.js';
import type { RunReport } from '../../src/scenarios/report.js';
import { resolveParams, runScenario } from '../../src/scenarios/run.js';

function run(arch: ArchName, raw: Record<string, string> = {}): RunReport {
  const params = resolveParams(poolScenario, raw);
  return runScenario(poolScenario, { ...DEFAULT_RUN_OPTIONS, arch, params }, 'test').report;
}

/** The dma addresses the narrative lists ("... dma 0x3008060: ..."). */
function shownDmas(r: RunReport): number[] {
  return r.narrative.flatMap((l) => {
    const m = / dma (0x[0-9a-f]+):/.exec(l);
    return m?.[1] === undefined ? [] : [Number(m[1])];
  });
}

describe.each(ARCH_NAMES)('pool scenario on %s', (arch) => {
  it('hands out aligned blocks that never cross the boundary, lists and frees them', () => {
    const r = run(arch);
    expect(r.happened).toMatchObject({
      dma_pool_create: 'ok',
      'block size': 96,
      'chunk bytes': 4096,
      'blocks per chunk': 32, // two 96-byte blocks per 256-byte window
      blocks: 40,
      chunks: 2,
      misaligned: 0,
      'crossing boundary': 0,
      'reused last freed': 'yes',
      'active after free': 0,
    });
    expect(r.happened['pools line']).toBe('desc-pool          40   64   96  2');
    const dmas = shownDmas(r);
    expect(dmas).toHaveLength(6);
    for (const d of dmas) {
      expect(d % 32).toBe(0);
      expect(Math.floor(d / 256)).toBe(Math.floor((d + 95) / 256));
    }
    // The third block skips the rest of the first window: 192 + 96 would cross 256.
    expect(dmas.slice(0, 3).map((d) => d - dmas[0]!)).toEqual([0, 96, 256]);
    expect(r.narrative.at(-1)).toContain('no such file');
    expect(r.findings).toEqual([]);
  });

  it('gives the same report for the same seed', () => {
    const raw = { size: '200', align: '64', boundary: '1024', count: '50' };
    expect(JSON.stringify(run(arch, raw))).toBe(JSON.stringify(run(arch, raw)));
  });
});

describe('pool scenario geometry', () => {
  it('other sizes: blocks stay aligned and inside their boundary', () => {
    const r = run('x86_64', { size: '200', align: '64', boundary: '1024', count: '100' });
    expect(r.happened).toMatchObject({
      'block size': 256,
      'blocks per chunk': 16,
      blocks: 100,
      misaligned: 0,
      'crossing boundary': 0,
    });
  });

  it.each([
    [{ align: '24' }, 'align 24 is not a power of two'],
    [{ size: '512', boundary: '256' }, 'boundary 256 is smaller than the block size 512'],
    [{ boundary: '384' }, 'boundary 384 is not a power of two'],
    [{ size: '0' }, 'size 0 is 0 or above INT_MAX'],
  ])('%o: dma_pool_create returns NULL, reported as the kernel does', (raw, why) => {
    const r = run('x86_64', raw);
    expect(r.happened).toMatchObject({ dma_pool_create: 'NULL', reason: why, blocks: 0 });
    expect(r.narrative[0]).toMatch(/returned NULL/);
  });

  it('createFailure follows mm/dmapool.c (size rounded up to align before the boundary check)', () => {
    expect(createFailure({ size: 100, align: 128, boundary: 128 }, 16)).toBeNull();
    expect(createFailure({ size: 100, align: 256, boundary: 128 }, 16)).toMatch(/smaller/);
    expect(createFailure({ size: 8, align: 0, boundary: 0 }, 16)).toBeNull();
  });

  it('out-of-range options are configuration errors, not stack traces', () => {
    expect(() => resolveParams(poolScenario, { count: '0' })).toThrow(/out of range/);
    expect(() => resolveParams(poolScenario, { align: 'x' })).toThrow(/not a whole number/);
  });
});
