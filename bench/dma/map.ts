/**
 * Streaming-map rates: dma_map_single + dma_mapping_error + dma_unmap_single pairs of one 4 KiB
 * page per second, through the public DMA API of a booted kernel with one PCI device, the loop of
 * the kernel's dma_map_benchmark (kernel/dma/map_benchmark.c; facts §9) on one thread, without its
 * per-call ktime_get().
 *
 * - `dma/map-direct`: dma-direct, coherent device, no IOMMU (x86_64).
 * - `dma/map-swiotlb`: `swiotlb=force`: every map takes bounce slots and copies 4 KiB in, every
 *   unmap copies 4 KiB back (DMA_BIDIRECTIONAL, the tool's default direction) and frees the slots.
 * - `dma/map-iommu-strict`, `dma/map-iommu-lazy`: IOMMU-DMA with strict or lazy (flush queue)
 *   invalidation (Machine iommu: true + intel_iommu=on).
 *
 * Each result carries, for comparison, the figures the real kernel's dma_map_benchmark published
 * (facts §9.3). Those are latencies of real hardware on other machines; the model's rate is how
 * fast this simulator does the kernel's bookkeeping (and the bounce copies), not a simulated time.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../src/lib/addr.js';
import type { Device } from '../../src/kernel/device/device.js';
import { DmaDataDirection } from '../../src/kernel/dma/direction.js';
import { isSwiotlbBuffer } from '../../src/kernel/dma/swiotlb.js';
import { Kernel } from '../../src/kernel/kernel.js';
import { GFP_KERNEL } from '../../src/kernel/mm/gfp.js';
import { Machine } from '../../src/machine/machine.js';
import type { MachineConfig } from '../../src/machine/machine.js';
import type { BenchResult, KernelFigure } from '../types.js';
import { steadyRate } from '../timing.js';

/** One page, dma_map_benchmark's default granule. */
const SIZE = 4096;

/** pairs/s of one thread from the tool's average latencies in µs: 1 / (map + unmap). */
function figure(source: string, setup: string, mapUs: number, unmapUs: number): KernelFigure {
  return {
    source,
    setup,
    mapUs,
    unmapUs,
    pairsPerSecPerThread: Math.round(1e6 / (mapUs + unmapUs)),
  };
}

/** Facts §9.3: the published dma_map_benchmark runs of one page. */
const BARRY_SONG_MERGED = figure(
  'Barry Song, dma_map_benchmark merge commit (~v5.11)',
  '-t 16 -s 10 -n 0: 16 threads, one page, BIDIRECTIONAL (tool defaults); machine and DMA path not stated (the first posting ran on a HiSilicon arm64 server)',
  1.1,
  0.5,
);
const BARRY_SONG_FIRST = figure(
  'Barry Song, first posting (2020)',
  '10 threads, node 1, 10 s, one page; HiSilicon arm64 server, DMA path (IOMMU or not) not stated',
  3.619,
  2.423,
);
const SALEH_SMMU_4K_1T = figure(
  'Mostafa Saleh, IOMMU debug-pagealloc series baseline (2025/26)',
  'Arm Morello, SMMUv3, 4 KiB, 1 thread, CONFIG_IOMMU_DEBUG_PAGEALLOC=n',
  0.1,
  0.6,
);
const SALEH_SMMU_4K_4T = figure(
  'Mostafa Saleh, IOMMU debug-pagealloc series baseline (2025/26)',
  'Arm Morello, SMMUv3, 4 KiB, 4 threads, CONFIG_IOMMU_DEBUG_PAGEALLOC=n (unmap 1.0-1.1 µs)',
  0.1,
  1.05,
);

const COMPARISON_NOTE =
  'The real-kernel figures are average per-call latencies of dma_map_benchmark on real hardware ' +
  'of other machines (ktime_get around each call, summed in 100 ns units, so calls under 100 ns ' +
  'count as 0; several threads contend), turned into pairs/s per thread as 1/(map+unmap). The ' +
  "model's rate is how fast this simulator runs the kernel's bookkeeping (and bounce copies) on " +
  'this machine, not a simulated latency: compare orders of magnitude, not ratios.';

/** Why the figures of facts §9.3 do not match dma-direct or SWIOTLB. */
const NO_DIRECT_FIGURE =
  'No published dma_map_benchmark figure is known for dma-direct or SWIOTLB (facts §9.3); ' +
  "Barry Song's runs are the nearest and do not state their DMA path.";

interface MapBench {
  readonly name: string;
  readonly machine: MachineConfig;
  readonly cmdline: string;
  readonly dir: DmaDataDirection;
  /** Pairs/s to reach. */
  readonly target: number;
  readonly figures: readonly KernelFigure[];
  /** Why no figure matches this path exactly, or what differs. */
  readonly note: string;
  /** Throws unless `dma`, the first mapping of the buffer at `phys`, went the intended path. */
  readonly checkPath: (k: Kernel, phys: PhysAddr, dma: DmaAddr) => void;
}

/** A booted kernel, its PCI device (00:01.0) and a page of the linear map to map. */
function rig(b: MapBench): { k: Kernel; dev: Device; buf: VirtAddr; phys: PhysAddr } {
  const k = new Kernel(new Machine(b.machine), { cmdline: b.cmdline });
  const dev = k.devices.pciDeviceAdd({ slot: 1, vendor: 0x8086, device: 0x100e });
  const page = k.pages.allocPages(GFP_KERNEL, 0);
  const buf = page === null ? null : k.pageAddress(page);
  if (buf === null) throw new Error(`${b.name} bench: no page for the buffer`);
  return { k, dev, buf, phys: k.virtToPhys(buf) };
}

/** map+unmap pairs per second of one 4 KiB page, steady state (see timing.ts). */
function pairRate(b: MapBench): number {
  const { k, dev, buf, phys } = rig(b);
  const dma = k.dma;
  const first = dma.dmaMapSingle(dev, buf, SIZE, b.dir);
  if (dma.dmaMappingError(dev, first)) throw new Error(`${b.name} bench: first map failed`);
  b.checkPath(k, phys, first);
  dma.dmaUnmapSingle(dev, first, SIZE, b.dir);
  let sink = 0;
  const rate = steadyRate(
    (n) => {
      for (let i = 0; i < n; i++) {
        const addr = dma.dmaMapSingle(dev, buf, SIZE, b.dir);
        if (dma.dmaMappingError(dev, addr)) throw new Error(`${b.name} bench: map failed`);
        sink += addr & 0xfff;
        dma.dmaUnmapSingle(dev, addr, SIZE, b.dir);
      }
    },
    { batch: 1 << 14 },
  );
  if (sink < 0) throw new Error(`${b.name} bench: bad checksum`);
  if (k.swiotlb !== null && k.swiotlb.totalUsed !== 0)
    throw new Error(`${b.name} bench: ${k.swiotlb.totalUsed} bounce slots leaked`);
  return rate;
}

function run(b: MapBench): BenchResult {
  return {
    name: b.name,
    value: Math.round(pairRate(b)),
    unit: 'pairs/s',
    target: b.target,
    better: 'higher',
    kernelFigures: b.figures,
    note: `${b.note} ${COMPARISON_NOTE}`,
  };
}

const X86_1G: MachineConfig = { arch: 'x86_64', ramSize: 2 ** 30 };

/** What dma-direct and SWIOTLB share: the machine, the direction and the nearest figures. */
const NO_IOMMU = {
  machine: X86_1G,
  dir: DmaDataDirection.BIDIRECTIONAL,
  figures: [BARRY_SONG_MERGED, BARRY_SONG_FIRST],
  note: NO_DIRECT_FIGURE,
} as const;

const DIRECT: MapBench = {
  ...NO_IOMMU,
  name: 'dma/map-direct',
  cmdline: '',
  target: 5e6,
  checkPath: (k, phys, dma) => {
    if (
      k.machine.iommu !== null ||
      k.swiotlb?.forceBounce === true ||
      (dma as number) !== (phys as number)
    )
      throw new Error('dma/map-direct bench: the mapping did not go through dma-direct');
  },
};

const SWIOTLB: MapBench = {
  ...NO_IOMMU,
  name: 'dma/map-swiotlb',
  cmdline: 'swiotlb=force',
  target: 1e6,
  checkPath: (k, _phys, dma) => {
    if (k.swiotlb?.forceBounce !== true || !isSwiotlbBuffer(k.swiotlb, dma))
      throw new Error('dma/map-swiotlb bench: the mapping was not bounced');
  },
};

/** IOMMU-DMA: the address handed out must be an IOVA, not the buffer's physical address. */
/** The goals: strict ≥ 2 M pairs/s, lazy (no invalidation per unmap) ≥ 3 M. */
function iommuBench(name: string, strict: boolean): MapBench {
  return {
    name,
    target: strict ? 2e6 : 3e6,
    machine: { ...X86_1G, iommu: true },
    cmdline: `intel_iommu=on iommu.strict=${strict ? 1 : 0}`,
    dir: DmaDataDirection.BIDIRECTIONAL,
    figures: [SALEH_SMMU_4K_1T, SALEH_SMMU_4K_4T, BARRY_SONG_MERGED],
    note:
      "Saleh's figures are Arm SMMUv3, not Intel VT-d (no x86 VT-d or AMD-Vi dma_map_benchmark " +
      'figure is known, facts §9.3), and do not state strict or lazy invalidation.',
    checkPath: (k, phys, dma) => {
      if (k.machine.iommu === null || (dma as number) === (phys as number))
        throw new Error(`${name} bench: the mapping did not go through the IOMMU`);
    },
  };
}

export function benchMapDirect(): BenchResult {
  return run(DIRECT);
}

export function benchMapSwiotlb(): BenchResult {
  return run(SWIOTLB);
}

/** The IOMMU DMA path (Machine iommu: true + intel_iommu=on). */
export function benchMapIommuStrict(): BenchResult {
  return run(iommuBench('dma/map-iommu-strict', true));
}

/** The IOMMU DMA path (Machine iommu: true + intel_iommu=on). */
export function benchMapIommuLazy(): BenchResult {
  return run(iommuBench('dma/map-iommu-lazy', false));
}
