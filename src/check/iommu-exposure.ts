/**
 * DOC: IOMMU exposure (issue 5 §3).
 *
 * An IOMMU isolates a device only to the granularity of its pages (4 KiB on VT-d): a mapping of a
 * 64-byte kmalloc buffer makes its whole page reachable, with the rights of the mapping's
 * direction, and with it every other object SLUB placed there (the Thunderclap class of attack).
 * In lazy mode (DMA-FQ) an unmap leaves the IOTLB alone until the flush queue flushes, so a device
 * that cached a translation still reaches the unmapped memory meanwhile. This checker reports both,
 * and scans what a rogue device could reach:
 *
 * - `iommu-subpage-exposure`, at map time: a streaming mapping (single, sg segment) or coherent
 *   allocation behind an IOMMU whose IOMMU pages hold live kernel objects besides the buffer's own
 *   allocation; `exposure()` recomputes every live mapping's exposure on demand;
 * - `iommu-stale-access`, at the access (once per unmapped range): a device access that succeeded
 *   in an unmapped range before an IOTLB invalidation covered it; `staleWindows()` gives each
 *   range's window, from the unmap to the invalidation (strict mode closes it at the unmap itself);
 * - `rogueScan(dev)`: the device's reach, from its domain's page tables and IOTLB (iommu-rogue.ts).
 *
 * It takes the DMA layer's debug hooks (with other checkers through chainDmaDebugHooks) and the
 * machine's DMA and IOTLB-invalidation events:
 *
 *   const x = new IommuExposure();
 *   const k = new Kernel(machine, { dmaDebug: x });
 *   x.attach(k);
 *
 * Translations are read from the tables through the remapping unit's side-effect-free path
 * (iommu-tables.ts), so reports do not change the run. Devices served by dma-direct (no IOMMU,
 * identity domains) have no IOMMU pages: the report says so and nothing is found.
 * MODEL: an sg list's DMA segments are tracked one by one; padding IOMMU_DMA adds between entries
 * for a segment boundary is reachable but in no segment, so it is not reported.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../lib/addr.js';
import { hex } from '../lib/addr.js';
import { ConfigError } from '../lib/errors.js';
import type { Device } from '../kernel/device/device.js';
import { SingleMapNote } from './single-map.js';
import { DMA_MAPPING_ERROR } from '../kernel/device/dma-range.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import type { DmaDebugHooks } from '../kernel/dma/hooks.js';
import { IOVA_GRANULE } from '../kernel/dma/iommu.js';
import type { KernelIommuDomain } from '../kernel/iommu/iommu.js';
import type { Kernel } from '../kernel/kernel.js';
import { forEachSg } from '../kernel/lib/scatterlist.js';
import type { Scatterlist } from '../kernel/lib/scatterlist.js';
import { DmaStatus } from '../machine/events.js';
import type { MachineEvent } from '../machine/events.js';
import { dirName } from './dma-debug-format.js';
import { FindingList } from './findings.js';
import type { FindingsJson } from './findings.js';
import * as say from './iommu-exposure-report.js';
import type {
  ExposedRange,
  ExposureReport,
  IommuExposureKind,
  MappingExposure,
  RogueReport,
  StaleWindow,
} from './iommu-exposure-report.js';
import { residentsOf } from './iommu-residents.js';
import type { Resident } from './iommu-residents.js';
import { rogueScan } from './iommu-rogue.js';
import { TableReader, rightsName } from './iommu-tables.js';

export interface IommuExposureOptions {
  /** Print each finding to the kernel log (default true). */
  readonly log?: boolean;
}

/** The JSON document: the findings, the live mappings' exposure and the stale windows. */
export interface IommuExposureJson extends FindingsJson {
  readonly exposure: ExposureReport;
  readonly staleWindows: readonly StaleWindow[];
}

type DmaEvent = Extract<MachineEvent, { kind: 'dma' }>;
type InvalEvent = Extract<MachineEvent, { kind: 'iotlb-inval' }>;

/** One live mapping behind an IOMMU. IOVAs here are the IOMMU's input (bus minus the offset). */
export interface LiveMapping {
  readonly dev: Device;
  readonly type: 'single' | 'sg' | 'coherent' | 'resource';
  readonly dir: DmaDataDirection;
  /** Bus address and size the DMA API returned and was given. */
  readonly dmaAddr: number;
  readonly size: number;
  /** The IOMMU pages: [iovaStart, iovaEnd), granule-aligned IOVAs. */
  readonly iovaStart: number;
  readonly iovaEnd: number;
  readonly busOffset: number;
  readonly domain: KernelIommuDomain;
  readonly origin: string;
  /** Its buffer's linear-map address, when the call named one. */
  readonly vaddr: number;
}

/** An unmapped range, from the unmap until an invalidation covers it. */
interface Window {
  readonly m: LiveMapping;
  readonly unmappedAt: number;
  closedAt: number | null;
  readonly accesses: say.StaleAccess[];
}

interface Env {
  readonly k: Kernel;
  readonly tables: TableReader;
  readonly off: () => void;
}

export class IommuExposure implements DmaDebugHooks {
  private readonly list = new FindingList();
  private env: Env | null = null;
  /** The pointer dma_map_single handed to the hooks before its mapPhys. */
  private readonly single = new SingleMapNote();
  /** Live mappings by device, then by bus address. */
  private readonly live = new Map<Device, Map<number, LiveMapping>>();
  /** Unmapped ranges no invalidation has covered yet. */
  private open: Window[] = [];
  /** Closed windows in which some access got through. */
  private readonly closed: Window[] = [];

  constructor(private readonly opts: IommuExposureOptions = {}) {}

  /** Starts observing `k` (built with this checker among its `dmaDebug` hooks). */
  attach(k: Kernel): void {
    if (this.env !== null) return;
    const off = k.machine.events.subscribe((e) => {
      if (e.kind === 'dma') this.onDma(e);
      else if (e.kind === 'iotlb-inval') this.onInval(e);
    });
    this.env = { k, tables: new TableReader(k.machine), off };
  }

  /** Stops observing; live mappings and windows are forgotten, findings kept. */
  detach(): void {
    this.env?.off();
    this.env = null;
    this.live.clear();
    this.open = [];
  }

  get findings(): FindingList {
    return this.list;
  }

  toJSON(): IommuExposureJson {
    return { ...this.list.toJSON(), exposure: this.exposure(), staleWindows: this.staleWindows() };
  }

  /** The report as text: the exposure of the live mappings, then the stale windows. */
  lines(): string[] {
    return [...say.exposureLines(this.exposure()), ...say.staleLines(this.staleWindows())];
  }

  /**
   * exposure - for every live mapping behind an IOMMU, the bytes of its IOMMU pages that are not
   * its buffer, with the device's rights there and what lives in them now.
   */
  exposure(): ExposureReport {
    const env = this.env;
    if (env === null) return { iommu: false, note: 'not attached to a kernel', mappings: [] };
    if (env.k.iommuDma === null) {
      const note =
        'no IOMMU DMA: devices reach memory by physical address (dma-direct), so no IOMMU pages are shared; a device reaches all RAM below its DMA mask';
      return { iommu: false, note, mappings: [] };
    }
    const mappings: MappingExposure[] = [];
    for (const byAddr of this.live.values())
      for (const m of byAddr.values())
        if (m.type !== 'resource') mappings.push(this.exposureOf(env, m));
    const note = `${env.k.iommu.defaultDomainType} domains, ${mappings.length} live mapping(s) behind the IOMMU`;
    return { iommu: true, note, mappings };
  }

  /** Unmapped ranges a device reached through a stale IOTLB entry, oldest first. */
  staleWindows(): StaleWindow[] {
    const withAccess = this.open.filter((w) => w.accesses.length > 0);
    return [...this.closed, ...withAccess].map((w) => ({
      device: w.m.dev.name,
      origin: w.m.origin,
      iovaStart: w.m.iovaStart + w.m.busOffset,
      iovaEnd: w.m.iovaEnd + w.m.busOffset,
      unmappedAt: w.unmappedAt,
      closedAt: w.closedAt,
      windowNs: w.closedAt === null ? null : w.closedAt - w.unmappedAt,
      accesses: [...w.accesses],
    }));
  }

  /**
   * rogueScan - what `dev` could reach if it tried every bus address: the present leaves of its
   * domain's page tables plus the domain's IOTLB entries that no longer have one (iommu-rogue.ts).
   */
  rogueScan(dev: Device): RogueReport {
    const env = this.env;
    if (env === null)
      throw new ConfigError('IommuExposure.rogueScan: attach() the checker to a kernel first');
    return rogueScan(env.k, env.tables, dev, (iova) => this.liveAt(dev, iova)?.origin ?? null);
  }

  // ---- the DMA layer's calls (DmaDebugHooks) ------------------------------------------------

  mapSingle(dev: Device, ptr: VirtAddr, size: number): void {
    if (this.env === null) return;
    this.single.note(dev, ptr, size);
  }

  mapPhys(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    dmaAddr: DmaAddr,
    _attrs: number,
  ): void {
    const ptr = this.single.take(dev, size);
    const fromSingle = ptr !== null;
    const env = this.env;
    if (env === null || dmaAddr === DMA_MAPPING_ERROR || !dev.dmaIommu) return;
    const what = fromSingle
      ? `dma_map_single(${dev.name}, ${env.k.vm.format(ptr)}`
      : `dma_map_page(${dev.name}, phys ${hex(phys)}`;
    const vaddr = fromSingle
      ? ptr
      : env.k.linear.isLowmem(phys)
        ? env.k.linear.physToVirt(phys)
        : -1;
    this.track(env, dev, 'single', dir, dmaAddr, size, `${what}, ${size}, ${dirName(dir)})`, vaddr);
  }

  unmapPhys(dev: Device, dmaAddr: DmaAddr, _size: number, _dir: DmaDataDirection): void {
    this.untrack(dev, dmaAddr);
  }

  mapResource(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    dmaAddr: DmaAddr,
    _attrs: number,
  ): void {
    const env = this.env;
    if (env === null || dmaAddr === DMA_MAPPING_ERROR || !dev.dmaIommu) return;
    const origin = `dma_map_resource(${dev.name}, ${hex(phys)}, ${size}, ${dirName(dir)})`;
    this.track(env, dev, 'resource', dir, dmaAddr, size, origin, -1);
  }

  unmapResource(dev: Device, dmaAddr: DmaAddr, _size: number, _dir: DmaDataDirection): void {
    this.untrack(dev, dmaAddr);
  }

  mappingError(_dev: Device, _dmaAddr: DmaAddr): void {
    // Nothing becomes reachable or unreachable.
  }

  syncSingleForCpu(_dev: Device, _dmaAddr: DmaAddr, _size: number, _dir: DmaDataDirection): void {
    // Syncs change cache state, not what the IOMMU lets through.
  }

  syncSingleForDevice(
    _dev: Device,
    _dmaAddr: DmaAddr,
    _size: number,
    _dir: DmaDataDirection,
  ): void {
    // As syncSingleForCpu.
  }

  syncSgForCpu(_dev: Device, _sgl: Scatterlist, _nelems: number, _dir: DmaDataDirection): void {
    // As syncSingleForCpu.
  }

  syncSgForDevice(_dev: Device, _sgl: Scatterlist, _nelems: number, _dir: DmaDataDirection): void {
    // As syncSingleForCpu.
  }

  mapSg(
    dev: Device,
    sgl: Scatterlist,
    nents: number,
    ents: number,
    dir: DmaDataDirection,
    _attrs: number,
  ): void {
    const env = this.env;
    if (env === null || !dev.dmaIommu) return;
    let i = 0;
    for (const seg of forEachSg(sgl, ents)) {
      const origin = `dma_map_sg(${dev.name}, sgl, ${nents}, ${dirName(dir)}) segment ${i++}`;
      if (seg.dmaLength > 0)
        this.track(env, dev, 'sg', dir, seg.dmaAddress, seg.dmaLength, origin, -1);
    }
  }

  unmapSg(dev: Device, sgl: Scatterlist, nents: number, _dir: DmaDataDirection): void {
    for (const s of forEachSg(sgl, nents)) if (s.dmaLength > 0) this.untrack(dev, s.dmaAddress);
  }

  allocCoherent(
    dev: Device,
    size: number,
    dmaAddr: DmaAddr,
    vaddr: VirtAddr,
    _attrs: number,
  ): void {
    const env = this.env;
    if (env === null || !dev.dmaIommu) return;
    const origin = `dma_alloc_coherent(${dev.name}, ${size}, ${hex(dmaAddr)}) = ${env.k.vm.format(vaddr)}`;
    this.track(env, dev, 'coherent', DmaDataDirection.BIDIRECTIONAL, dmaAddr, size, origin, vaddr);
  }

  freeCoherent(dev: Device, _size: number, _vaddr: VirtAddr | null, dmaAddr: DmaAddr): void {
    this.untrack(dev, dmaAddr);
  }

  // ---- bookkeeping --------------------------------------------------------------------------

  private track(
    env: Env,
    dev: Device,
    type: LiveMapping['type'],
    dir: DmaDataDirection,
    dmaAddr: number,
    size: number,
    origin: string,
    vaddr: number,
  ): void {
    const domain = env.k.iommu.domainOf(dev);
    if (domain === null || !domain.isDma || dev.dmaPort === null) return;
    const busOffset = dev.dmaPort.busOffset;
    const iova = dmaAddr - busOffset;
    const m: LiveMapping = {
      dev,
      type,
      dir,
      dmaAddr,
      size,
      iovaStart: iova - (iova % IOVA_GRANULE),
      iovaEnd: Math.ceil((iova + size) / IOVA_GRANULE) * IOVA_GRANULE,
      busOffset,
      domain,
      origin: `${origin} at t=${env.k.machine.clock.now}ns`,
      vaddr,
    };
    const byAddr = this.live.get(dev) ?? new Map<number, LiveMapping>();
    this.live.set(dev, byAddr.set(dmaAddr, m));
    if (type === 'resource') return;
    const x = this.exposureOf(env, m);
    if (x.others.length > 0) this.reportExposure(env, m, x);
  }

  /**
   * The window opens at the unmap hook and the invalidation closes it. dma_unmap_sg's hook runs
   * before the IOMMU unmap, dma_unmap_page's after it (and, in strict mode, after its
   * invalidation): a range that is out of the page table and the IOTLB already has no window.
   */
  private untrack(dev: Device, dmaAddr: number): void {
    const env = this.env;
    const byAddr = this.live.get(dev);
    const m = byAddr?.get(dmaAddr);
    if (env === null || m === undefined) return;
    byAddr?.delete(dmaAddr);
    if (this.unreachable(env, m)) return;
    this.open.push({ m, unmappedAt: env.k.machine.clock.now, closedAt: null, accesses: [] });
  }

  /** Whether no page of `m` is mapped or held by the IOTLB any more. */
  private unreachable(env: Env, m: LiveMapping): boolean {
    const iotlb = env.k.machine.iommu?.iotlb;
    for (let p = m.iovaStart; p < m.iovaEnd; p += IOVA_GRANULE) {
      if (env.tables.lookup(m.domain.hw, p) !== null) return false;
      if (iotlb?.contains(m.domain.hw.id, p) === true) return false;
    }
    return true;
  }

  private liveAt(dev: Device, iova: number): LiveMapping | undefined {
    for (const m of this.live.get(dev)?.values() ?? [])
      if (iova >= m.iovaStart && iova < m.iovaEnd) return m;
    return undefined;
  }

  // ---- exposure -------------------------------------------------------------------------------

  /** The exposure of `m`: only its first and last IOMMU pages can hold anything but the buffer. */
  private exposureOf(env: Env, m: LiveMapping): MappingExposure {
    const iova = m.dmaAddr - m.busOffset;
    const exposed: ExposedRange[] = [];
    const others: Resident[] = [];
    const last = m.iovaEnd - IOVA_GRANULE;
    for (const page of last === m.iovaStart ? [m.iovaStart] : [m.iovaStart, last]) {
      const leaf = env.tables.lookup(m.domain.hw, page);
      if (leaf === null) continue;
      const pagePhys = leaf.phys + (page - leaf.iova);
      const ownLo = pagePhys + Math.max(0, iova - page);
      const ownHi = pagePhys + Math.min(IOVA_GRANULE, iova + m.size - page);
      const parts: [number, number][] = [
        [page, Math.min(page + IOVA_GRANULE, iova)],
        [Math.max(page, iova + m.size), page + IOVA_GRANULE],
      ];
      for (const [a, b] of parts) {
        if (b <= a) continue;
        const phys = pagePhys + (a - page);
        const residents = residentsOf(env.k, phys, b - a);
        exposed.push({
          dmaAddr: a + m.busOffset,
          phys,
          len: b - a,
          rights: rightsName(leaf.rights),
          residents,
        });
        for (const r of residents)
          if (
            r.live &&
            (r.phys + r.size <= ownLo || r.phys >= ownHi) &&
            !others.some((o) => o.phys === r.phys)
          )
            others.push(r);
      }
    }
    const start = env.tables.lookup(m.domain.hw, iova);
    return {
      device: m.dev.name,
      type: m.type,
      dir: dirName(m.dir),
      origin: m.origin,
      iovaStart: m.iovaStart + m.busOffset,
      iovaEnd: m.iovaEnd + m.busOffset,
      dmaAddr: m.dmaAddr,
      size: m.size,
      phys: start === null ? -1 : start.phys + (iova - start.iova),
      exposed,
      exposedBytes: exposed.reduce((n, e) => n + e.len, 0),
      others,
    };
  }

  // ---- the machine's events -------------------------------------------------------------------

  private onDma(e: DmaEvent): void {
    const env = this.env;
    if (env === null || e.status !== DmaStatus.OK || e.phys < 0 || this.open.length === 0) return;
    const w = this.open.find((x) => {
      const iova = e.bus - x.m.busOffset;
      return x.m.dev.name === e.device && iova >= x.m.iovaStart && iova < x.m.iovaEnd;
    });
    if (w === undefined) return;
    const residents = residentsOf(env.k, e.phys, e.len);
    w.accesses.push({ t: e.t, op: e.op, dmaAddr: e.bus, phys: e.phys, len: e.len, residents });
    if (w.accesses.length === 1) this.reportStale(env, w, e);
  }

  private onInval(e: InvalEvent): void {
    if (this.open.length === 0) return;
    const still: Window[] = [];
    for (const w of this.open) {
      const id = w.m.domain.hw.id;
      const hit =
        e.scope === 'all' ||
        (e.domain === id &&
          (e.scope === 'domain' || (e.iova < w.m.iovaEnd && w.m.iovaStart < e.iova + e.len)));
      if (!hit) still.push(w);
      else {
        w.closedAt = e.t;
        if (w.accesses.length > 0) this.closed.push(w);
      }
    }
    this.open = still;
  }

  // ---- reports ----------------------------------------------------------------------------------

  private reportExposure(env: Env, m: LiveMapping, x: MappingExposure): void {
    const vaddr = m.vaddr >= 0 ? env.k.vm.format(m.vaddr as VirtAddr) : undefined;
    this.report(env, 'iommu-subpage-exposure', m.dev, say.exposureMessage(x), {
      dmaAddr: m.dmaAddr as DmaAddr,
      ...(x.phys >= 0 ? { phys: x.phys as PhysAddr } : {}),
      ...(vaddr !== undefined ? { vaddr } : {}),
      size: m.size,
      origin: m.origin,
      fix: say.FIX_SUBPAGE,
    });
  }

  private reportStale(env: Env, w: Window, e: DmaEvent): void {
    const ago = e.t - w.unmappedAt;
    const message =
      `device ${e.op === 'write' ? 'writes' : 'reads'} unmapped memory through a stale IOTLB entry ` +
      `${ago} ns after the unmap [device address=${hex(e.bus)}] [physical address=${hex(e.phys)}] ` +
      `[size=${e.len} bytes]`;
    this.report(env, 'iommu-stale-access', w.m.dev, message, {
      dmaAddr: e.bus,
      phys: e.phys,
      size: e.len,
      origin: `${w.m.origin}; unmapped at t=${w.unmappedAt}ns`,
      fix: say.FIX_STALE,
    });
  }

  private report(
    env: Env,
    kind: IommuExposureKind,
    dev: Device,
    message: string,
    f: {
      dmaAddr: DmaAddr;
      phys?: PhysAddr;
      vaddr?: string;
      size: number;
      origin: string;
      fix: string;
    },
  ): void {
    const printed = this.opts.log !== false;
    const time = env.k.machine.clock.now;
    this.list.add({
      kind,
      device: dev.name,
      driver: dev.driverString,
      message,
      ...f,
      time,
      printed,
    });
    if (!printed) return;
    const lines = [
      `DMA-IOMMU: ${dev.driverString} ${dev.name}: ${message}`,
      `DMA-IOMMU: mapped at: ${f.origin}`,
      `DMA-IOMMU: fix: ${f.fix}`,
    ];
    for (const l of lines) {
      env.k.log.print('warn', l);
      this.list.addLine(l);
    }
  }
}
