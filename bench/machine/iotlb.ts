/**
 * IOTLB-hit translation rate: what the interconnect pays per page of a DMA whose translation is
 * cached. The working set (32 pages spread over the sets of a 64-entry, 8-way IOTLB) stays
 * resident, so after the warm-up every translate is a hit; the loop cycles through the pages so
 * no single-entry shortcut can carry it.
 */
import { Rng } from '../../src/lib/rng.js';
import { Clock } from '../../src/machine/clock/clock.js';
import { EventBus } from '../../src/machine/events.js';
import { Iommu } from '../../src/machine/iommu/iommu.js';
import { SparseRam } from '../../src/machine/memory/ram.js';
import type { BenchResult } from '../types.js';
import { steadyRate } from '../timing.js';

const N_PAGES = 32;
const IOVA_BASE = 0xfffe_0000;
const PHYS_BASE = 0x4000_0000;
const RID = 0x10; // 00:02.0

function setUp(): Iommu {
  const ram = new SparseRam();
  let nextTable = 0x10_0000;
  const iommu = new Iommu(
    { iotlbEntries: 64, iotlbWays: 8 },
    { walker: ram, rng: new Rng(1), events: new EventBus(), clock: new Clock() },
  );
  const domain = iommu.createDomain({
    type: 'translated',
    allocTable: () => (nextTable += 0x1000) - 0x1000,
    tableMem: ram,
  });
  domain.map(IOVA_BASE, PHYS_BASE, N_PAGES * 0x1000, { read: true, write: true });
  iommu.attach(RID, 'bench', domain);
  return iommu;
}

/** Runs `n` translations cycling through the working set; returns a checksum. */
function run(iommu: Iommu, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const iova = IOVA_BASE + (i & (N_PAGES - 1)) * 0x1000 + ((i >> 5) & 0xff8);
    sum += iommu.translate(RID, iova, (i & 64) !== 0) + iommu.span;
  }
  return sum;
}

/** IOTLB-hit translations per second, steady state (see timing.ts). */
export function benchIotlbHit(): BenchResult {
  const iommu = setUp();
  let sink = run(iommu, N_PAGES); // fills the IOTLB
  const missesBefore = iommu.iotlb.stats.misses;
  const rate = steadyRate((n) => {
    sink += run(iommu, n);
  });
  if (iommu.iotlb.stats.misses !== missesBefore || iommu.faults.length > 0 || !(sink > 0)) {
    throw new Error('iotlb-hit bench: the working set did not stay in the IOTLB');
  }
  return {
    name: 'machine/iotlb-hit',
    value: Math.round(rate),
    unit: 'translations/s',
    target: 50e6,
    better: 'higher',
  };
}
