/**
 * The audit of a real trace: replays the dma:* calls per device at the API level, as dma-debug
 * (kernel/dma/debug.c) does, and reports each misuse with the kernel's message and the line of the
 * call. A trace starts mid-flight, so an unmap, free or sync of an address the trace never saw
 * mapped is counted as preexisting, not reported; mappings live at the end are listed, not called
 * leaks (the dma events show no driver unbind). Streaming: push() each record, then finish().
 */
import type { TracePtr, TraceU64 } from '../kernel/dma/trace-format.js';
import { formatTracePtr } from '../kernel/dma/trace-format.js';
import { DeviceStatsBuilder, devAddr16, hexAddr } from './audit-stats.js';
import type { Live, Span } from './audit-live.js';
import { DeviceState, dirText, findContaining, pick, slotsOf } from './audit-live.js';
import type {
  AuditEntryType,
  AuditFinding,
  AuditReport,
  LiveMapping,
  PreexistingCall,
} from './audit-types.js';
import type { TraceRecord, TraceSummary } from './reader.js';
import type { Report, Where } from './audit-checks.js';
import {
  checkSync,
  checkUnmap,
  checkUnmapSg,
  reportDouble,
  reportSyncMiss,
} from './audit-checks.js';

export type * from './audit-types.js';

/** DMA_MAPPING_ERROR as the trace prints it: all ones. */
const MAPPING_ERROR = 0xffff_ffff_ffff_ffffn;
/** Preexisting calls and live-at-end mappings listed in full. */
const FIRST = 10;

export interface AuditOptions {
  /** Findings kept in the list (all are counted); default 10000. */
  readonly maxFindings?: number;
}

function isNull(p: TracePtr): boolean {
  return typeof p === 'string' ? /^0*$/.test(p) : p === 0 || p === 0n;
}

/**
 * The events the audit reads: the dma:* calls, swiotlb bounces, devices joining IOMMU groups and
 * IOMMU faults. Others (iommu map/unmap, the IOMMU driver's page-table work) do not change it, so
 * `dmasim check` has the reader count them without reading their fields.
 */
export const AUDITED_EVENTS: ReadonlySet<string> = new Set([
  'dma_map_page',
  'dma_map_resource',
  'dma_map_phys',
  'dma_unmap_page',
  'dma_unmap_phys',
  'dma_unmap_resource',
  'dma_alloc',
  'dma_alloc_pages',
  'dma_alloc_sgt',
  'dma_alloc_sgt_err',
  'dma_free',
  'dma_free_pages',
  'dma_free_sgt',
  'dma_map_sg',
  'dma_map_sg_err',
  'dma_unmap_sg',
  'dma_sync_single_for_cpu',
  'dma_sync_single_for_device',
  'dma_sync_sg_for_cpu',
  'dma_sync_sg_for_device',
  'swiotlb_bounced',
  'add_device_to_group',
  'io_page_fault',
]);

/** The incremental auditor. */
export class TraceAuditor {
  private readonly devices = new Map<string, DeviceState>();
  private readonly iommuDevices = new Set<string>();
  private readonly findings: AuditFinding[] = [];
  private readonly counts = new Map<string, number>();
  private readonly maxFindings: number;
  private errors = 0;
  private warnings = 0;
  private preCount = 0;
  private readonly preByEvent: Record<string, number> = {};
  private readonly preFirst: PreexistingCall[] = [];
  private rec: TraceRecord | null = null;
  private lastName = '';
  private lastDev: DeviceState | undefined = undefined;

  constructor(opts: AuditOptions = {}) {
    this.maxFindings = opts.maxFindings ?? 10000;
  }

  /** Replays one record. */
  push(rec: TraceRecord): void {
    this.rec = rec;
    const ev = rec.ev;
    switch (ev.event) {
      case 'dma_map_page':
      case 'dma_map_resource':
      case 'dma_map_phys': {
        const d = this.dev(ev.device, ev.event);
        const bounced = d.pendingBounce === ev.size;
        d.pendingBounce = null;
        if (ev.dmaAddr === MAPPING_ERROR) {
          d.stats.failedMaps++;
          return;
        }
        const type = ev.event === 'dma_map_resource' ? 'resource' : 'single';
        const e = this.add(d, type, ev.dmaAddr, ev.size, ev.dir, null, ev.physAddr, 1);
        d.stats.mapped(dirText(ev.dir), ev.size);
        this.span(d, e, ev.dmaAddr, ev.size);
        if (bounced) {
          e.slots = slotsOf(ev.dmaAddr, ev.size);
          d.stats.slotsUsed(e.slots);
        }
        return;
      }
      case 'dma_unmap_page':
      case 'dma_unmap_phys':
      case 'dma_unmap_resource': {
        const type = ev.event === 'dma_unmap_resource' ? 'resource' : 'single';
        this.unmap(ev.device, type, ev.dmaAddr, ev.size, ev.dir, null);
        return;
      }
      case 'dma_alloc':
      case 'dma_alloc_pages':
      case 'dma_alloc_sgt': {
        const virt = 'virtAddr' in ev ? ev.virtAddr : null;
        const d = this.dev(ev.device, ev.event);
        if ((virt !== null && isNull(virt)) || (virt === null && ev.dmaAddr === MAPPING_ERROR)) {
          d.stats.failedAllocs++;
          return;
        }
        const type = ev.event === 'dma_alloc' ? 'coherent' : 'noncoherent';
        const dir = 'dir' in ev ? ev.dir : 0;
        const v = virt === null ? null : formatTracePtr(virt);
        const phys = 'physAddr' in ev ? ev.physAddr : null;
        const e = this.add(d, type, ev.dmaAddr, ev.size, dir, v, phys, 1);
        d.stats.bytesAllocated += ev.size;
        this.span(d, e, ev.dmaAddr, ev.size);
        return;
      }
      case 'dma_alloc_sgt_err':
        this.dev(ev.device, ev.event).stats.failedAllocs++;
        return;
      case 'dma_free':
      case 'dma_free_pages':
      case 'dma_free_sgt': {
        const virt = 'virtAddr' in ev ? ev.virtAddr : null;
        if (ev.size === 0 && ev.dmaAddr === 0 && (virt === null || isNull(virt))) {
          this.dev(ev.device, ev.event).stats.noopFrees++;
          return;
        }
        const type = ev.event === 'dma_free' ? 'coherent' : 'noncoherent';
        const v = virt === null ? null : formatTracePtr(virt);
        this.unmap(ev.device, type, ev.dmaAddr, ev.size, 'dir' in ev ? ev.dir : 0, v);
        return;
      }
      case 'dma_map_sg': {
        const d = this.dev(ev.device, ev.event);
        d.pendingBounce = null;
        const bytes = ev.sizes.reduce((a, b) => a + b, 0);
        const first = ev.dmaAddrs[0] ?? 0;
        const e = this.add(d, 'scatter-gather', first, bytes, ev.dir, null, null, ev.nents);
        d.stats.mapped(dirText(ev.dir), bytes);
        ev.dmaAddrs.forEach((a, i) => {
          this.span(d, e, a, ev.sizes[i] ?? 0);
        });
        const key = ev.physAddrs[0] ?? 0;
        e.sgKey = key;
        const list = d.sgByPhys.get(key);
        if (list === undefined) d.sgByPhys.set(key, [e]);
        else list.push(e);
        d.endedSg.delete(key);
        return;
      }
      case 'dma_map_sg_err':
        this.dev(ev.device, ev.event).stats.failedMaps++;
        return;
      case 'dma_unmap_sg':
        this.unmapSg(ev.device, ev.physAddrs, ev.dir);
        return;
      case 'dma_sync_single_for_cpu':
      case 'dma_sync_single_for_device': {
        const d = this.dev(ev.device, ev.event);
        this.sync(d, ev.device, ev.dmaAddr, ev.size, ev.dir, ev.event.endsWith('cpu'), 0);
        return;
      }
      case 'dma_sync_sg_for_cpu':
      case 'dma_sync_sg_for_device': {
        const d = this.dev(ev.device, ev.event);
        const n = ev.dmaAddrs.length;
        for (let i = 0; i < n; i++) {
          const size = ev.sizes[i] ?? 0;
          if (size > 0)
            this.sync(d, ev.device, ev.dmaAddrs[i] ?? 0, size, ev.dir, ev.event.endsWith('cpu'), n);
        }
        return;
      }
      case 'swiotlb_bounced': {
        const d = this.dev(ev.device, ev.event);
        d.stats.bounced++;
        d.pendingBounce = ev.size;
        return;
      }
      case 'add_device_to_group':
        this.iommuDevices.add(ev.device);
        this.devices.get(ev.device)?.stats.setBehindIommu();
        return;
      case 'io_page_fault':
        this.find('io-page-fault', ev.device, `IOMMU fault on iova=${devAddr16(ev.iova)}`, {
          bus: ev.iova,
        });
        return;
      default:
        return;
    }
  }

  /** The report; `summary` adds a warning when the ring buffer lost events. */
  finish(summary?: TraceSummary): AuditReport {
    if (summary !== undefined && summary.lost > 0) {
      this.rec = null;
      this.find(
        'trace-lost-events',
        '',
        `the ring buffer lost ${summary.lost} events: the replay may be wrong`,
        {},
        'warning',
      );
    }
    const live: { e: Live; device: string }[] = [];
    const devices: AuditReport['devices'] = {};
    const byDevice: Record<string, number> = {};
    for (const [name, d] of this.devices) {
      (devices as Record<string, unknown>)[name] = d.stats.build();
      for (const e of d.liveEntries()) live.push({ e, device: name });
      if (d.stats.live > 0) byDevice[name] = d.stats.live;
    }
    live.sort((a, b) => a.e.line - b.e.line);
    const first: LiveMapping[] = live.slice(0, FIRST).map(({ e, device }) => ({
      device,
      type: e.type,
      event: e.event,
      line: e.line,
      timestamp: e.timestamp,
      bus: hexAddr(e.dma),
      size: e.size ?? 0,
      direction: e.dir === null ? '?' : dirText(e.dir),
    }));
    return {
      devices,
      findings: this.findings,
      findingCounts: Object.fromEntries(this.counts),
      errors: this.errors,
      warnings: this.warnings,
      preexisting: { count: this.preCount, byEvent: this.preByEvent, first: this.preFirst },
      liveAtEnd: { count: live.length, byDevice, first },
    };
  }

  private dev(name: string, event: string): DeviceState {
    // Most traces are one device's: comparing with the last name beats hashing a new string.
    let d = name === this.lastName ? this.lastDev : this.devices.get(name);
    if (d === undefined) {
      d = new DeviceState(new DeviceStatsBuilder());
      if (this.iommuDevices.has(name)) d.stats.setBehindIommu();
      this.devices.set(name, d);
    }
    this.lastName = name;
    this.lastDev = d;
    d.stats.call(event);
    return d;
  }

  private add(
    d: DeviceState,
    type: AuditEntryType,
    dma: TraceU64,
    size: number,
    dir: number,
    virt: string | null,
    phys: TraceU64 | null,
    nents: number,
  ): Live {
    const e = this.entry(type, dma, size, dir, virt, phys, nents, false);
    d.stats.added(size, e.timestamp, e.line);
    return e;
  }

  private entry(
    type: AuditEntryType,
    dma: TraceU64,
    size: number | null,
    dir: number | null,
    virt: string | null,
    phys: TraceU64 | null,
    nents: number,
    preexisting: boolean,
  ): Live {
    const r = this.rec;
    const line = r?.line ?? 0;
    const timestamp = r?.timestamp ?? '';
    const event = preexisting ? '' : (r?.ev.event ?? '');
    return {
      type,
      event,
      dma,
      size,
      dir,
      virt,
      phys,
      nents,
      line,
      timestamp,
      preexisting,
      slots: 0,
      spans: [],
      sgKey: null,
    };
  }

  private span(d: DeviceState, e: Live, start: TraceU64, size: number | null): void {
    d.addSpan(e, start, size);
    if (size !== null && !e.preexisting) d.stats.range(start, size);
  }

  private unmap(
    device: string,
    type: AuditEntryType,
    dma: TraceU64,
    size: number,
    dir: number,
    virt: string | null,
  ): void {
    const d = this.dev(device, this.rec?.ev.event ?? '');
    const report = this.reporter(device);
    if (dma === MAPPING_ERROR) {
      const msg = 'device driver tries to free an invalid DMA memory address';
      report('unmap-invalid-address', msg, { bus: dma, size, virt });
      return;
    }
    const span: Span | undefined = pick(d.byDma.get(dma), type, size, dir);
    if (span === undefined) {
      const was = d.ended.get(dma);
      if (was === undefined) this.preexisting(device, dma, size);
      else reportDouble(report, type, dma, size, was, { bus: dma, size, virt });
      d.ended.set(dma, this.rec?.line ?? 0);
      return;
    }
    if (!span.entry.preexisting) checkUnmap(report, span.entry, type, dma, size, dir, virt);
    d.remove(span.entry, this.rec?.line ?? 0);
  }

  private unmapSg(device: string, phys: readonly TraceU64[], dir: number): void {
    const d = this.dev(device, 'dma_unmap_sg');
    const report = this.reporter(device);
    const key = phys[0] ?? 0;
    const list = d.sgByPhys.get(key);
    const e = list?.find((x) => x.nents === phys.length && x.dir === dir) ?? list?.[0];
    if (e === undefined) {
      const was = d.endedSg.get(key);
      const bus = was?.[1] ?? key;
      if (was === undefined) this.preexisting(device, key, null);
      else reportDouble(report, 'scatter-gather', bus, null, was[0], { phys: key, bus });
      d.endedSg.set(key, [this.rec?.line ?? 0, bus]);
      return;
    }
    checkUnmapSg(report, e, key, phys.length, dir);
    d.remove(e, this.rec?.line ?? 0);
  }

  private sync(
    d: DeviceState,
    device: string,
    dma: TraceU64,
    size: number,
    dir: number,
    toCpu: boolean,
    sgCount: number,
  ): void {
    const report = this.reporter(device);
    const span = findContaining(d, dma, size);
    if (span !== undefined) {
      checkSync(report, span.entry, dma, size, dir, toCpu, sgCount);
      return;
    }
    if (reportSyncMiss(report, findContaining(d, dma, 1), d.ended.get(dma), dma, size)) return;
    // A mapping made before the trace began: remember it so that its unmap matches.
    this.preexisting(device, dma, size);
    d.addSpan(this.entry('single', dma, null, null, null, null, sgCount, true), dma, null);
  }

  private reporter(device: string): Report {
    return (kind, message, w) => {
      this.find(kind, device, message, w);
    };
  }

  private preexisting(device: string, bus: TraceU64, size: number | null): void {
    const event = this.rec?.ev.event ?? '';
    this.preCount++;
    this.preByEvent[event] = (this.preByEvent[event] ?? 0) + 1;
    if (this.preFirst.length < FIRST)
      this.preFirst.push({ device, event, line: this.rec?.line ?? 0, bus: hexAddr(bus), size });
  }

  private find(
    kind: string,
    device: string,
    message: string,
    w: Where,
    severity: 'error' | 'warning' = 'error',
  ): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    if (severity === 'error') this.errors++;
    else this.warnings++;
    if (this.findings.length >= this.maxFindings) return;
    const r = this.rec;
    this.findings.push({
      kind,
      severity,
      device,
      message,
      line: r?.line ?? 0,
      timestamp: r?.timestamp ?? '',
      event: r?.ev.event ?? '',
      addresses: {
        virt: w.virt ?? null,
        phys: w.phys === undefined || w.phys === null ? null : hexAddr(w.phys),
        bus: w.bus === undefined || w.bus === null ? null : hexAddr(w.bus),
      },
      size: w.size ?? null,
      mappedAt: w.mappedAt ?? null,
    });
  }
}

/** Audits a whole trace (records from parseTrace, or any iterable of them). */
export function auditTrace(
  records: Iterable<TraceRecord>,
  summary?: TraceSummary,
  opts: AuditOptions = {},
): AuditReport {
  const a = new TraceAuditor(opts);
  for (const r of records) a.push(r);
  return a.finish(summary);
}
