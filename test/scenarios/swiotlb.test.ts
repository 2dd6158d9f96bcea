import { describe, expect, it } from 'vitest';
import { DEFAULT_RUN_OPTIONS } from '../../src/scenarios/options.js';
import type { RunOptions } from '../../src/scenarios/options.js';
import { resolveParams, runScenario } from '../../src/scenarios/run.js';
import { swiotlbScenario } from '../../src/scenarios/swiotlb.js';

function run(
  arch: RunOptions['arch'],
  raw: Record<string, string> = {},
  seed = 1,
  swiotlbSize?: number,
) {
  const params = resolveParams(swiotlbScenario, raw);
  const o: RunOptions = {
    ...DEFAULT_RUN_OPTIONS,
    arch,
    seed,
    params,
    ...(swiotlbSize === undefined ? {} : { swiotlbSize }),
  };
  return runScenario(swiotlbScenario, o, 'test').report;
}

describe.each(swiotlbScenario.archs)('the swiotlb scenario on %s', (arch) => {
  it('bounces every map of a 32-bit device and the bytes arrive both ways', () => {
    const h = run(arch).happened;
    expect(h['buffers above 4 GiB']).toBe(16);
    expect(h['bounced maps']).toBe(16);
    expect(h['failed maps']).toBe(0);
    expect(h['pool slots']).toBe(32768); // the kernel's 64 MiB
    expect(h['slots used']).toBe(16 * 8); // 16 KiB is 8 slots of 2 KiB
    expect(h['slots high-water']).toBe(128);
    expect(h['device read right bytes']).toBe(16);
    expect(h['cpu saw device reply']).toBe(16);
    expect(h['swiotlb full messages']).toBe(0);
  });

  it('a 512 KiB pool fills: the kernel says so and the extra maps fail', () => {
    const r = run(arch, { buffers: '48', size: '16K' }, 1, 512 * 1024);
    const h = r.happened;
    expect(h['pool slots']).toBe(256);
    expect(h['bounced maps']).toBe(32);
    expect(h['failed maps']).toBe(16);
    expect(h['slots high-water']).toBe(256);
    expect(h['device read right bytes']).toBe(32);
    expect(h['cpu saw device reply']).toBe(32);
    expect(h['swiotlb full messages']).toBeGreaterThan(0);
    expect(r.narrative).toContain(
      'kernel: pci 0000:00:01.0: swiotlb buffer is full (sz: 16384 bytes), total 256 (slots), used 256 (slots)',
    );
  });

  it('is deterministic for a seed', () => {
    const a = run(arch, { buffers: '40' }, 7, 512 * 1024);
    const b = run(arch, { buffers: '40' }, 7, 512 * 1024);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });
});
