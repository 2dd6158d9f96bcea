import { describe, expect, it } from 'vitest';
import { masksScenario } from '../../src/scenarios/masks.js';
import { DEFAULT_RUN_OPTIONS } from '../../src/scenarios/options.js';
import type { RunOptions } from '../../src/scenarios/options.js';
import { resolveParams, runScenario } from '../../src/scenarios/run.js';

const MIB16 = 16 * 1024 * 1024;

function run(over: Partial<RunOptions> = {}, raw: Record<string, string> = {}) {
  const params = resolveParams(masksScenario, raw);
  return runScenario(masksScenario, { ...DEFAULT_RUN_OPTIONS, ...over, params }, 'test').report;
}

describe('the masks scenario on x86_64', () => {
  it('GFP_DMA and the coherent allocation land below 16 MiB in ZONE_DMA and map', () => {
    const h = run().happened;
    expect(h['dma_set_mask rc']).toBe(0);
    expect(h['dma_mem_alloc zone']).toBe('DMA');
    expect(Number(h['dma_mem_alloc phys'])).toBeLessThan(MIB16);
    expect(h['dma_mem_alloc map failed']).toBe(0);
    expect(h['coherent zone']).toBe('DMA');
    expect(Number(h['coherent dma'])).toBeLessThan(MIB16);
  });

  it('a GFP_KERNEL buffer fails to map with the kernel overflow message', () => {
    const r = run();
    expect(Number(r.happened['GFP_KERNEL phys'])).toBeGreaterThanOrEqual(MIB16);
    expect(r.happened['failed maps']).toBe(1);
    expect(r.narrative.join('\n')).toMatch(
      /kernel: isa isa_dma\.0: DMA addr 0x[0-9a-f]{16}\+8192 overflow \(mask ffffff, bus limit 0\)\./,
    );
  });

  it('with swiotlb=force even the ZONE_DMA buffer fails: the bounce slot is above 16 MiB', () => {
    const r = run({ swiotlb: 'force' });
    expect(r.happened['dma_mem_alloc map failed']).toBe(1);
    expect(r.narrative.join('\n')).toMatch(/swiotlb addr 0x[0-9a-f]+\+8192 overflow \(mask ffffff/);
  });
});

describe('the masks scenario elsewhere', () => {
  it.each(['arm64', 'arm32'] as const)('%s refuses DMA_BIT_MASK(24) with -EIO', (arch) => {
    const r = run({ arch });
    expect(r.happened).toEqual({ 'dma_set_mask rc': -5 });
  });

  it('prep: ZONE_DMA pages are below 16 MiB, but the bus offset puts them out of reach', () => {
    const h = run({ arch: 'prep' }).happened;
    expect(h['dma_mem_alloc zone']).toBe('DMA');
    expect(Number(h['dma_mem_alloc phys'])).toBeLessThan(MIB16);
    expect(h['dma_mem_alloc map failed']).toBe(1);
    expect(h['coherent dma']).toBe('none');
  });

  it.each(masksScenario.archs)('%s is deterministic for a seed', (arch) => {
    const a = run({ arch, seed: 5 }, { size: '12K' });
    const b = run({ arch, seed: 5 }, { size: '12K' });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });
});
