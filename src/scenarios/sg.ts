/**
 * Scatter-gather: N pages scattered in RAM, one scatterlist, one dma_map_sg, on two kernels of the
 * same machine: dma-direct (no IOMMU), where every entry keeps its own bus address, and IOMMU DMA,
 * where the pages are mapped into one contiguous IOVA range and the segments merge (up to the
 * device's max_segment_size). The device then reads every segment, so the run proves each mapping
 * reaches the right bytes.
 */
import type { DmaAddr } from '../lib/addr.js';
import { hex } from '../lib/addr.js';
import { ConfigError } from '../lib/errors.js';
import { Rng } from '../lib/rng.js';
import type { Device } from '../kernel/device/device.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import type { Kernel } from '../kernel/kernel.js';
import { forEachSg, sgInitTable, sgSetPage } from '../kernel/lib/scatterlist.js';
import type { Scatterlist } from '../kernel/lib/scatterlist.js';
import { GFP_KERNEL } from '../kernel/mm/gfp.js';
import type { Pfn } from '../kernel/mm/page.js';
import { ARCH_NAMES } from '../machine/profile.js';
import type { IommuMode } from './options.js';
import type { Scenario, ScenarioEnv } from './scenario.js';

const TO_DEVICE = DmaDataDirection.TO_DEVICE;
/** QEMU's pci-testdev ids: a plain bus master. */
const TESTDEV = { vendor: 0x1b36, device: 0x0005 };
/**
 * Where the IOMMU half runs. PReP's host bridge adds 0x80000000 to bus addresses before the IOMMU
 * would translate them, and IOMMU DMA hands out IOVAs without it, so every access faults in the
 * model (the real board has no IOMMU).
 */
const IOMMU_ARCHS: readonly string[] = ['x86_64', 'arm64', 'arm32'];
/** Segments listed one per line in the narrative; the rest are summed up. */
const SHOWN = 4;

/** One DMA segment as dma_map_sg left it: sg_dma_address, sg_dma_len. */
export interface SgSegment {
  readonly dma: DmaAddr;
  readonly len: number;
}

/** What one kernel's dma_map_sg gave and what the device read through it. */
export interface SgRun {
  readonly segments: readonly SgSegment[];
  /** Pairs of neighbouring entries whose pages are physically adjacent. */
  readonly adjacent: number;
  readonly bytesRead: number;
  readonly bytesWrong: number;
}

/**
 * `n` pages, each followed by a page held back, so no two of them are neighbours in RAM however
 * the buddy allocator hands them out in order. Returns the pages and the spacers (to free).
 */
function scatteredPages(k: Kernel, n: number): { pages: Pfn[]; spacers: Pfn[] } {
  const pages: Pfn[] = [];
  const spacers: Pfn[] = [];
  for (let i = 0; i < n; i++) {
    const p = k.pages.allocPage(GFP_KERNEL);
    const s = k.pages.allocPage(GFP_KERNEL);
    if (p === null || s === null) throw new ConfigError('sg: out of pages (more --ram)');
    pages.push(p);
    spacers.push(s);
  }
  return { pages, spacers };
}

/** The payload: seeded bytes, the same for every kernel of the run. */
function payload(seed: number, size: number): Uint8Array {
  const rng = new Rng(seed).fork('sg-payload');
  return Uint8Array.from({ length: size }, () => rng.int(0, 255));
}

/** The CPU writes the payload into the pages, then the list describes them in that order. */
function fillAndDescribe(k: Kernel, pages: readonly Pfn[], data: Uint8Array): Scatterlist[] {
  const ps = k.machine.profile.pageSize;
  const sgl: Scatterlist[] = [];
  sgInitTable(sgl, pages.length);
  pages.forEach((p, i) => {
    const va = k.pages.pageAddress(p);
    if (va === null) throw new ConfigError('sg: a page has no kernel mapping');
    k.vm.write(va, data, i * ps, ps);
    const sg = sgl[i];
    if (sg !== undefined) sgSetPage(sg, p, ps, 0);
  });
  return sgl;
}

/** The device reads every segment back to back and compares with the payload. */
function deviceReads(k: Kernel, dev: Device, segs: readonly SgSegment[], data: Uint8Array): number {
  const port = dev.dmaPort;
  if (port === null) throw new ConfigError('sg: the device has no DMA port');
  const seen = new Uint8Array(data.length);
  // The doorbell's writel() orders the CPU's stores to the pages before the device's reads.
  k.machine.cpu.wmb();
  let at = 0;
  for (const s of segs) {
    port.read(s.dma, seen, at, s.len);
    at += s.len;
  }
  return seen.reduce((n, v, i) => n + (v === data[i] ? 0 : 1), 0);
}

/** One kernel's run: pages, list, dma_map_sg, the device's reads, dma_unmap_sg, pages freed. */
export function runSgOn(env: ScenarioEnv, k: Kernel, n: number): SgRun {
  const coherent = env.options.coherent;
  const dev = k.devices.pciDeviceAdd({
    slot: 1,
    ...TESTDEV,
    ...(coherent === undefined ? {} : { coherent }),
  });
  const ps = k.machine.profile.pageSize;
  const data = payload(env.options.seed, n * ps);
  const { pages, spacers } = scatteredPages(k, n);
  const sgl = fillAndDescribe(k, pages, data);
  const first = sgl[0];
  if (first === undefined) throw new ConfigError('sg: empty list');
  const nents = k.dma.dmaMapSg(dev, first, n, TO_DEVICE);
  if (nents === 0) throw new ConfigError('sg: dma_map_sg failed (see the kernel log)');
  const segments = [...forEachSg(first, nents)].map((s) => ({
    dma: s.dmaAddress,
    len: s.dmaLength,
  }));
  const bytesRead = segments.reduce((t, s) => t + s.len, 0);
  const bytesWrong = deviceReads(k, dev, segments, data);
  k.dma.dmaUnmapSg(dev, first, n, TO_DEVICE);
  for (const p of [...pages, ...spacers]) k.pages.freePagesPage(p, 0);
  const adjacent = pages.filter((p, i) => i > 0 && p === (pages[i - 1] ?? -2) + 1).length;
  return { segments, adjacent, bytesRead, bytesWrong };
}

function narrate(env: ScenarioEnv, label: string, r: SgRun, n: number): void {
  env.say(`${label}: dma_map_sg(${n} entries) returned ${r.segments.length} DMA segment(s)`);
  r.segments.slice(0, SHOWN).forEach((s, i) => {
    env.say(`   [${i}] ${hex(s.dma)} + ${hex(s.len)}`);
  });
  if (r.segments.length > SHOWN) env.say(`   … ${r.segments.length - SHOWN} more`);
  const ok = r.bytesWrong === 0 ? 'every byte matched' : `${r.bytesWrong} bytes WRONG`;
  env.say(`   the device read ${r.bytesRead} bytes through them: ${ok}`);
}

/** Whether the segments follow each other in bus address space (one IOVA range). */
export function oneRange(segs: readonly SgSegment[]): boolean {
  return segs.every(
    (s, i) => i === 0 || s.dma === (segs[i - 1]?.dma ?? 0) + (segs[i - 1]?.len ?? 0),
  );
}

/** `dmasim run sg`: dma_map_sg over scattered pages, dma-direct against the IOMMU. */
export const sgScenario: Scenario = {
  name: 'sg',
  summary:
    'dma_map_sg of scattered pages: one segment per page with dma-direct, merged behind the IOMMU (both kernels every run; --iommu picks the IOMMU mode, strict when off)',
  archs: ARCH_NAMES,
  params: [
    {
      name: 'pages',
      description: 'pages in the scatterlist (each apart from the others in RAM)',
      kind: 'int',
      min: 1,
      max: 256,
      default: 8,
    },
  ],
  examples: [
    'dmasim run sg',
    'dmasim run sg --pages 64 --arch arm64',
    'dmasim run sg --iommu lazy',
  ],
  run(env: ScenarioEnv): void {
    const n = env.int('pages');
    const mode: IommuMode = env.options.iommu === 'off' ? 'strict' : env.options.iommu;
    const withIommu = IOMMU_ARCHS.includes(env.options.arch);
    const runs: [string, IommuMode][] = [
      ['direct', 'off'],
      ...(withIommu ? [['iommu', mode] as [string, IommuMode]] : []),
    ];
    env.say(`${n} pages, each with a free page between it and the next; the device reads them`);
    if (!withIommu) env.say(`${env.options.arch} has no IOMMU in this model: only dma-direct runs`);
    let moved = 0;
    let wrong = 0;
    runs.forEach(([label, m], i) => {
      const k = env.boot(label, { options: { iommu: m } });
      const r = runSgOn(env, k, n);
      narrate(env, `${label} (iommu ${m})`, r, n);
      env.count(`segments (${label})`, r.segments.length);
      if (label === 'direct') env.count('physically adjacent pages', r.adjacent);
      if (label === 'iommu') env.count('one IOVA range', oneRange(r.segments) ? 'yes' : 'no');
      moved += r.bytesRead;
      wrong += r.bytesWrong;
      env.progress(i + 1, runs.length);
    });
    env.count('bytes moved', moved);
    env.count('bytes wrong', wrong);
    env.say(
      withIommu
        ? 'dma-direct hands each entry its own bus address; the IOMMU maps the pages side by side in IOVA space, so the device sees one block, cut only at max_segment_size (64 KiB unless the driver calls dma_set_max_seg_size).'
        : 'dma-direct hands each entry its own bus address: the device (or its driver) must walk one segment per page.',
    );
  },
};
