/**
 * Fidelity (issue 8): replays the allocation sequence of a real trace through the simulator's own
 * allocators and compares the addresses it hands out with the recorded ones. For a trace taken
 * under an IOMMU (dma-iommu, strict or lazy) the IOVA allocator (kernel/dma/iova.ts) is driven by
 * every map and unmap on the CPU the line names; for a swiotlb=force trace the bounce-slot search
 * is (fidelity-swiotlb.ts). A simulated trace must agree with itself at 100%. MODEL: a map's
 * events are written after its address was allocated, so an interrupt that frees on the same CPU
 * in between is printed first and the replay, which follows the trace order, then pops a different
 * entry of the per-CPU range cache; every later allocation of that size can follow the change.
 */
import { initIovaDomain } from '../kernel/dma/iova.js';
import type { IovaDomain } from '../kernel/dma/iova.js';
import type { TraceU64 } from '../kernel/dma/trace-format.js';
import { Clock } from '../machine/clock/clock.js';
import type { TraceRecord } from './reader.js';

/** One address the simulator handed out differently from the recorded kernel. */
export interface FidelityDivergence {
  /** Line of the map in the trace. */
  readonly line: number;
  readonly event: string;
  readonly recorded: bigint;
  readonly simulated: bigint;
}

/** What a replay found. */
export interface FidelityReport {
  /** Allocations whose address was compared. */
  readonly compared: number;
  /** Those the simulator placed at the recorded address. */
  readonly agreed: number;
  /** 100 * agreed / compared (100 when nothing was compared). */
  readonly percent: number;
  /** The first divergences, in trace order. */
  readonly firstDivergences: readonly FidelityDivergence[];
  /** Unmaps and frees of mappings made before the trace began: not replayable. */
  readonly preexisting: number;
  /** Maps that could not be replayed (failed maps, sg lists the replay cannot size). */
  readonly skipped: number;
}

/** DMA_MAPPING_ERROR as the trace prints it: all ones. */
export const MAPPING_ERROR = 0xffff_ffff_ffff_ffffn;
const GRANULE = 4096;
/** The x86 interrupt window, IOMMU_RESV_MSI on VT-d and AMD-Vi (pfns). */
const X86_MSI_PFNS = [0xfee00, 0xfeeff] as const;
const PFN_4G_LIMIT = 0xfffff;

/** Counts comparisons and keeps the first divergences. */
export class FidelityTally {
  compared = 0;
  agreed = 0;
  preexisting = 0;
  skipped = 0;
  private readonly first: FidelityDivergence[] = [];

  constructor(private readonly maxDivergences: number) {}

  compare(line: number, event: string, recorded: bigint, simulated: bigint): void {
    this.compared++;
    if (recorded === simulated) this.agreed++;
    else if (this.first.length < this.maxDivergences) {
      this.first.push({ line, event, recorded, simulated });
    }
  }

  report(): FidelityReport {
    const percent = this.compared === 0 ? 100 : (100 * this.agreed) / this.compared;
    return {
      compared: this.compared,
      agreed: this.agreed,
      percent,
      firstDivergences: this.first,
      preexisting: this.preexisting,
      skipped: this.skipped,
    };
  }
}

/** Live mappings by key; a key may be live more than once (the same sg list mapped twice). */
export class LiveMap<T> {
  private readonly m = new Map<string, T[]>();

  add(key: string, v: T): void {
    const list = this.m.get(key);
    if (list === undefined) this.m.set(key, [v]);
    else list.push(v);
  }

  /** Takes the oldest live mapping under `key`, or undefined. */
  take(key: string): T | undefined {
    const list = this.m.get(key);
    const v = list?.shift();
    if (list !== undefined && list.length === 0) this.m.delete(key);
    return v;
  }
}

/** A trace address as a bigint. */
export function big(a: TraceU64): bigint {
  return typeof a === 'bigint' ? a : BigInt(a);
}

/** A trace address as a number (they stay below 2^53 here). */
export function num(a: TraceU64): number {
  return typeof a === 'bigint' ? Number(a) : a;
}

/** The key of a scatterlist: its device and the sg_phys() of every entry. */
export function sgKey(device: string, phys: readonly TraceU64[]): string {
  return `${device}|${phys.map((p) => big(p).toString(16)).join(',')}`;
}

export interface IovaAgreementOptions {
  /** CPUs of the traced machine; default the highest CPU the trace names, plus one. */
  readonly nCpus?: number;
  /**
   * Bits of the device's DMA (and coherent) mask; default 64. A PCI device first tries below
   * 4 GiB, so the mask matters only once that space is exhausted (never in the shared traces).
   */
  readonly dmaMaskBits?: number;
  /** iommu.forcedac=1: no 32-bit-first allocation. */
  readonly forcedac?: boolean;
  /** Reserve the x86 MSI window (default true). */
  readonly msiWindow?: boolean;
  /** Divergences listed; default 10. */
  readonly maxDivergences?: number;
}

/** A live IOMMU mapping: where the simulator put it. */
interface IovaLive {
  readonly domain: IovaDomain;
  readonly pfn: number;
  readonly pages: number;
}

/** Every CPU number in the trace, plus one. */
export function cpusOf(records: readonly TraceRecord[]): number {
  let max = 0;
  for (const r of records) if (r.cpu > max) max = r.cpu;
  return max + 1;
}

/** The granules covering [addr, addr + size): what __iommu_dma_map allocates. */
function granules(addr: number, size: number): number {
  return Math.ceil(((addr % GRANULE) + size) / GRANULE);
}

/**
 * Replays the IOVA allocations of a trace recorded under an IOMMU and compares the addresses.
 * Each DMA domain (one per IOMMU group, from add_device_to_group; else one per device) is a fresh
 * IovaDomain as iommu_dma_init_domain makes it: granule 4 KiB, start pfn 1, the MSI window
 * reserved, per-CPU range caches. dma_map_page/dma_map_resource allocate the granules the buffer
 * covers, dma_alloc PAGE_ALIGN(size), dma_map_sg one range for the whole list (the granule-aligned
 * lengths of its DMA segments; nvme's virt boundary keeps inner entries whole pages, so this equals
 * iommu_dma_map_sg's sum over the entries), all through allocIovaFast on the line's CPU, with the
 * 32-bit-first try of iommu_dma_alloc_iova for PCI devices. Unmaps and frees give the simulator's
 * IOVA back through freeIovaFast on their line's CPU. The clock follows the trace's timestamps so
 * the depot trim runs when it would have.
 * @param records the parsed trace
 * @param opts machine facts (see IovaAgreementOptions)
 * @returns counts, percentage and the first divergences
 */
export function iovaAgreement(
  records: readonly TraceRecord[],
  opts: IovaAgreementOptions = {},
): FidelityReport {
  const nCpus = opts.nCpus ?? cpusOf(records);
  const maskLimit = 2 ** (opts.dmaMaskBits ?? 64) - 1;
  const msi = opts.msiWindow ?? true;
  const tally = new FidelityTally(opts.maxDivergences ?? 10);
  const clock = new Clock();
  let cpu = 0;
  const groupOf = new Map<string, number>();
  const domains = new Map<string, IovaDomain>();
  /** Devices that gave up on the 32-bit-first try ("Using %d-bit DMA addresses"). */
  const dac = new Set<string>();
  const live = new LiveMap<IovaLive>();

  const domainOf = (device: string): IovaDomain => {
    const g = groupOf.get(device);
    const key = g === undefined ? `dev:${device}` : `group:${g}`;
    let d = domains.get(key);
    if (d === undefined) {
      d = initIovaDomain(GRANULE, 1);
      d.iovaDomainInitRcaches({ nCpus, cpu: () => cpu, clock });
      if (msi) d.reserveIova(X86_MSI_PFNS[0], X86_MSI_PFNS[1]);
      domains.set(key, d);
    }
    return d;
  };
  /** iommu_dma_alloc_iova; returns the pfn, 0 on failure. */
  const alloc = (device: string, d: IovaDomain, pages: number): number => {
    const limit = maskLimit;
    if (limit > 0xffff_ffff && opts.forcedac !== true && !dac.has(device)) {
      const pfn = d.allocIovaFast(pages, PFN_4G_LIMIT, false);
      if (pfn !== 0) return pfn;
      dac.add(device);
    }
    return d.allocIovaFast(pages, Math.floor(limit / GRANULE), true);
  };
  const map = (
    rec: TraceRecord,
    device: string,
    key: string,
    pages: number,
    dma: bigint,
    off: number,
  ): void => {
    if (dma === MAPPING_ERROR) {
      tally.skipped++;
      return;
    }
    const d = domainOf(device);
    const pfn = alloc(device, d, pages);
    if (pfn === 0) {
      tally.compared++;
      return;
    }
    live.add(key, { domain: d, pfn, pages });
    tally.compare(rec.line, rec.ev.event, dma, BigInt(pfn * GRANULE + off));
  };
  const unmap = (key: string): void => {
    const m = live.take(key);
    if (m === undefined) tally.preexisting++;
    else m.domain.freeIovaFast(m.pfn, m.pages);
  };

  for (const rec of records) {
    clock.run(rec.timestampNs);
    cpu = rec.cpu;
    const ev = rec.ev;
    switch (ev.event) {
      case 'add_device_to_group':
        groupOf.set(ev.device, ev.groupId);
        break;
      case 'dma_map_page':
      case 'dma_map_resource':
      case 'dma_map_phys': {
        const phys = num(ev.physAddr);
        const key = `${ev.device}|${big(ev.dmaAddr).toString(16)}`;
        map(rec, ev.device, key, granules(phys, ev.size), big(ev.dmaAddr), phys % GRANULE);
        break;
      }
      case 'dma_alloc':
      case 'dma_alloc_pages': {
        const key = `${ev.device}|${big(ev.dmaAddr).toString(16)}`;
        map(rec, ev.device, key, Math.ceil(ev.size / GRANULE), big(ev.dmaAddr), 0);
        break;
      }
      case 'dma_map_sg': {
        const first = ev.dmaAddrs[0];
        if (first === undefined || ev.dmaAddrs.length !== ev.sizes.length) {
          tally.skipped++;
          break;
        }
        let pages = 0;
        ev.dmaAddrs.forEach((a, i) => (pages += granules(num(a), ev.sizes[i] ?? 0)));
        const off = num(ev.physAddrs[0] ?? 0) % GRANULE;
        map(rec, ev.device, sgKey(ev.device, ev.physAddrs), pages, big(first), off);
        break;
      }
      case 'dma_unmap_page':
      case 'dma_unmap_resource':
      case 'dma_unmap_phys':
      case 'dma_free':
      case 'dma_free_pages':
        unmap(`${ev.device}|${big(ev.dmaAddr).toString(16)}`);
        break;
      case 'dma_unmap_sg':
        unmap(sgKey(ev.device, ev.physAddrs));
        break;
      default:
        break;
    }
  }
  return tally.report();
}
