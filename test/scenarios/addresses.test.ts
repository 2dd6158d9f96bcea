import { describe, expect, it } from 'vitest';
import { addressesScenario } from '../../src/scenarios/addresses.js';
import { DEFAULT_RUN_OPTIONS } from '../../src/scenarios/options.js';
import type { RunOptions } from '../../src/scenarios/options.js';
import { resolveParams, runScenario } from '../../src/scenarios/run.js';

function run(over: Partial<RunOptions> = {}) {
  const params = resolveParams(addressesScenario, {});
  return runScenario(addressesScenario, { ...DEFAULT_RUN_OPTIONS, ...over, params }, 'test').report;
}

describe('the addresses scenario', () => {
  it('prep: physical 0 is bus 0x80000000 and virtual 0xC0000000, and the device agrees', () => {
    const h = run({ arch: 'prep' }).happened;
    expect(h['first page phys']).toBe('0x0');
    expect(h['first page bus']).toBe('0x80000000');
    expect(h['first page virt']).toBe('0xc0000000');
    expect(h['first page device agrees']).toBe(1);
    expect(Number(h['buffer dma']) - Number(h['buffer phys'])).toBe(0x8000_0000);
    expect(Number(h['buffer virt']) - Number(h['buffer phys'])).toBe(0xc000_0000);
    expect(h['dma equals virt_to_bus']).toBe(1);
  });

  it.each(addressesScenario.archs)(
    '%s: on the direct path dma_map_single is virt_to_bus',
    (arch) => {
      const h = run({ arch }).happened;
      expect(h['dma equals virt_to_bus']).toBe(1);
      expect(h['buffer dma']).toBe(h['buffer virt_to_bus']);
      expect(h['first page device agrees']).toBe(1);
    },
  );

  it('x86_64 under the IOMMU: the IOVA works, virt_to_bus faults with the DMAR message', () => {
    const r = run({ arch: 'x86_64' });
    const h = r.happened;
    expect(h['iommu dma']).not.toBe(h['iommu virt_to_bus']);
    expect(h['iommu device reads at dma']).toBe(1);
    expect(h['iommu device reads at virt_to_bus']).toBe(0);
    expect(h['iommu faults']).toBe(1);
    expect(r.narrative).toContain(
      `  kernel: DMAR: [DMA Read NO_PASID] Request device [00:01.0] fault addr ${String(h['iommu virt_to_bus'])} [fault reason 0x06] PTE Read access is not set`,
    );
  });

  it('x86_64 with iommu passthrough: virt_to_bus happens to work', () => {
    const h = run({ arch: 'x86_64', iommu: 'passthrough' }).happened;
    expect(h['iommu device reads at virt_to_bus']).toBe(1);
    expect(h['iommu faults']).toBe(0);
  });

  it.each(addressesScenario.archs)('%s is deterministic for a seed', (arch) => {
    expect(JSON.stringify(run({ arch, seed: 9 }))).toBe(JSON.stringify(run({ arch, seed: 9 })));
  });
});
