/**
 * Replaying a recorded trace on a simulated kernel with other settings (`dmasim replay`): every
 * map, unmap, allocation, free and sync the trace recorded is issued again, on the CPU the trace
 * names, against buffers of the recorded sizes and page offsets, so the simulated kernel's own
 * DMA path (another IOMMU mode, a forced or smaller bounce pool, less RAM) decides what happens.
 *
 * MODEL: buffers are fresh pages of the simulated kernel (the recorded physical addresses belong
 * to another machine); a dma_map_sg entry's length is only known when the list was not merged
 * (nents == ents), otherwise each entry is taken to run to the end of its page; calls on mappings
 * made before the trace began cannot be replayed and are counted; devices get a 32-bit DMA mask
 * unless the trace shows a bus address above 4 GiB; dma_sync_sg_* and dma_map_resource are not
 * replayed (neither moves a bounce slot or an IOVA).
 */
import type { Device } from '../kernel/device/device.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import type { DmaAddr, VirtAddr } from '../lib/addr.js';
import type { Kernel } from '../kernel/kernel.js';
import { sgInitTable, sgSetPage } from '../kernel/lib/scatterlist.js';
import type { Scatterlist } from '../kernel/lib/scatterlist.js';
import { GFP_KERNEL } from '../kernel/mm/gfp.js';
import type { Pfn } from '../kernel/mm/page.js';
import type { TraceRecord } from './reader.js';

const PAGE = 4096;
const U32_MAX = 0xffff_ffffn;
/** Divergences and failures listed in full; the rest are counted. */
const KEEP = 20;

export interface ReplayFailure {
  readonly line: number;
  readonly event: string;
  readonly device: string;
  readonly size: number;
  /** What the recorded call got: it succeeded in the traced kernel. */
  readonly recorded: string;
  /** The simulated kernel's log lines printed by this call (e.g. "swiotlb buffer is full"). */
  readonly log: readonly string[];
}

export interface ReplayResult {
  /** Calls the trace recorded that the replay knows (maps, unmaps, allocs, frees, syncs). */
  readonly calls: number;
  readonly replayed: number;
  /** Unmaps, frees and syncs of mappings made before the trace began. */
  readonly preexisting: number;
  /** Unmaps, frees and syncs of mappings whose map failed here (not replayed either). */
  readonly ofFailed: number;
  /** Maps and allocations that failed here but succeeded in the traced kernel. */
  readonly failed: number;
  readonly failures: readonly ReplayFailure[];
  /** The first recorded and simulated bus addresses, side by side. */
  readonly addresses: readonly { line: number; recorded: string; simulated: string }[];
  /** The IOVA space below 4 GiB when the most mappings were live (null without an IOMMU). */
  readonly iovaAtPeak: IovaFragmentation | null;
}

/** How broken up the 32-bit IOVA space of a domain is. */
export interface IovaFragmentation {
  readonly line: number;
  /** Ranges in the tree (allocated, reserved, parked in the range caches). */
  readonly ranges: number;
  /** Free gaps between them below 4 GiB, and the largest, in 4 KiB pages. */
  readonly holes: number;
  readonly largestHolePages: number;
  readonly freePages: number;
}

/** Last pfn of the 32-bit IOVA space. */
const PFN_32 = 0xfffff;

/** Holes between the ranges (lowest first) below 4 GiB; pfn 0 is never handed out. */
export function iovaFragmentation(
  line: number,
  ranges: readonly { pfnLo: number; pfnHi: number }[],
): IovaFragmentation {
  let holes = 0;
  let largest = 0;
  let free = 0;
  let next = 1;
  for (const r of [...ranges, { pfnLo: PFN_32 + 1, pfnHi: PFN_32 + 1 }]) {
    const lo = Math.min(r.pfnLo, PFN_32 + 1);
    if (lo > next) {
      holes++;
      free += lo - next;
      largest = Math.max(largest, lo - next);
    }
    next = Math.max(next, r.pfnHi + 1);
    if (next > PFN_32) break;
  }
  return { line, ranges: ranges.length, holes, largestHolePages: largest, freePages: free };
}

interface Held {
  readonly dev: Device;
  readonly dma: DmaAddr;
  readonly size: number;
  readonly dir: DmaDataDirection;
  readonly pfn: Pfn;
  readonly order: number;
  readonly sg: Scatterlist[] | null;
  readonly nents: number;
  /** The CPU address of a coherent allocation; null for streaming maps. */
  readonly vaddr: VirtAddr | null;
}

function hexOf(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

/** Trace values are bigint or safe integers; the replay works in bigint. */
function big(v: bigint | number): bigint {
  return typeof v === 'bigint' ? v : BigInt(v);
}

function orderFor(bytes: number): number {
  let order = 0;
  while (PAGE << order < bytes) order++;
  return order;
}

export class TraceReplayer {
  private readonly devices = new Map<string, Device>();
  private readonly held = new Map<string, Held>();
  private calls = 0;
  private replayed = 0;
  private preexisting = 0;
  private ofFailed = 0;
  private failed = 0;
  /** Keys of recorded mappings whose replay failed. */
  private readonly failedKeys = new Set<string>();
  private readonly failures: ReplayFailure[] = [];
  private readonly addresses: { line: number; recorded: string; simulated: string }[] = [];
  private nextSlot = 1;
  private peakHeld = 0;
  private iovaAtPeak: IovaFragmentation | null = null;

  constructor(private readonly k: Kernel) {}

  push(r: TraceRecord): void {
    const e = r.ev;
    if (!('device' in e) || !('dir' in e)) return;
    const cpus = this.k.machine.cpus.length;
    this.k.machine.runOn(r.cpu % cpus);
    // Time moves as the trace says, with the timers due meanwhile (the flush queue's 10 ms) run.
    this.k.machine.clock.run(Math.max(this.k.machine.clock.now, r.timestampNs));
    switch (e.event) {
      case 'dma_map_page':
        if (big(e.dmaAddr) === -1n || big(e.dmaAddr) === 0xffff_ffff_ffff_ffffn) return;
        this.mapPage(r, e.device, e.dir, big(e.dmaAddr), e.size, big(e.physAddr));
        return;
      case 'dma_unmap_page':
        this.release(`${e.device}|${hexOf(e.dmaAddr)}`, e.size, e.dir);
        return;
      case 'dma_alloc':
        if (e.virtAddr === 0 || e.virtAddr === 0n || e.virtAddr === '(null)') return;
        this.alloc(r, e.device, big(e.dmaAddr), e.size);
        return;
      case 'dma_free':
        this.release(`${e.device}|${hexOf(e.dmaAddr)}`, e.size, e.dir);
        return;
      case 'dma_map_sg':
        this.mapSg(r, e);
        return;
      case 'dma_unmap_sg': {
        const first = e.physAddrs[0];
        if (first !== undefined) this.release(`${e.device}|sg|${hexOf(first)}`, 0, e.dir);
        return;
      }
      case 'dma_sync_single_for_cpu':
      case 'dma_sync_single_for_device':
        this.sync(e.device, big(e.dmaAddr), e.size, e.dir, e.event === 'dma_sync_single_for_cpu');
        return;
      default:
        return;
    }
  }

  finish(): ReplayResult {
    return {
      calls: this.calls,
      replayed: this.replayed,
      preexisting: this.preexisting,
      ofFailed: this.ofFailed,
      failed: this.failed,
      failures: this.failures,
      addresses: this.addresses,
      iovaAtPeak: this.iovaAtPeak,
    };
  }

  private device(name: string, seen: bigint): Device {
    let d = this.devices.get(name);
    if (d === undefined) {
      d = this.k.devices.pciDeviceAdd({ slot: this.nextSlot++, vendor: 0x1b36, device: 0x0005 });
      this.devices.set(name, d);
    }
    // The traced driver's mask was at least as wide as the addresses it got.
    if (seen > U32_MAX && d.dmaMask <= U32_MAX)
      this.k.dma.dmaSetMaskAndCoherent(d, (1n << 64n) - 1n);
    return d;
  }

  /** Runs a mapping call, noting a failure with the log lines it printed. */
  private attempt(
    r: TraceRecord,
    key: string,
    size: number,
    recorded: bigint,
    fn: () => boolean,
  ): boolean {
    this.calls++;
    const before = this.k.log.all.length;
    const ok = fn();
    if (ok) {
      this.replayed++;
      return true;
    }
    this.failed++;
    this.failedKeys.add(key);
    if (this.failures.length < KEEP)
      this.failures.push({
        line: r.line,
        event: r.ev.event,
        device: 'device' in r.ev ? r.ev.device : '',
        size,
        recorded: hexOf(recorded),
        log: this.k.log.all.slice(before).map((l) => l.text),
      });
    return false;
  }

  private pages(bytes: number): { pfn: Pfn; order: number } | null {
    const order = orderFor(bytes);
    const pfn = this.k.pages.allocPages(GFP_KERNEL, order);
    return pfn === null ? null : { pfn, order };
  }

  /** At a new peak of live mappings, the IOVA space of the device's domain. */
  private atPeak(r: TraceRecord, dev: Device): void {
    if (this.held.size <= this.peakHeld) return;
    this.peakHeld = this.held.size;
    const iommuDma = this.k.iommuDma;
    if (!dev.dmaIommu || iommuDma === null) return;
    const ranges = iommuDma.domainAndCookie(dev).cookie.iovad.listRanges();
    this.iovaAtPeak = iovaFragmentation(r.line, ranges);
  }

  private note(r: TraceRecord, recorded: bigint, dma: DmaAddr): void {
    if (this.addresses.length < KEEP)
      this.addresses.push({ line: r.line, recorded: hexOf(recorded), simulated: hexOf(dma) });
  }

  private mapPage(
    r: TraceRecord,
    name: string,
    dir: DmaDataDirection,
    recorded: bigint,
    size: number,
    phys: bigint,
  ): void {
    const dev = this.device(name, recorded);
    const offset = Number(phys & 0xfffn);
    this.attempt(r, `${name}|${hexOf(recorded)}`, size, recorded, () => {
      const p = this.pages(offset + size);
      if (p === null) return false;
      const dma = this.k.dma.dmaMapPage(dev, p.pfn, offset, size, dir);
      if (this.k.dma.dmaMappingError(dev, dma)) {
        this.k.pages.freePagesPage(p.pfn, p.order);
        return false;
      }
      this.note(r, recorded, dma);
      const held = { dev, dma, size, dir, ...p, sg: null, nents: 0, vaddr: null };
      this.held.set(`${name}|${hexOf(recorded)}`, held);
      this.atPeak(r, dev);
      return true;
    });
  }

  private alloc(r: TraceRecord, name: string, recorded: bigint, size: number): void {
    const dev = this.device(name, recorded);
    this.attempt(r, `${name}|${hexOf(recorded)}`, size, recorded, () => {
      const handle = { dma: 0 as DmaAddr };
      const va = this.k.dma.dmaAllocCoherent(dev, size, handle, GFP_KERNEL);
      if (va === null) return false;
      this.note(r, recorded, handle.dma);
      this.held.set(`${name}|${hexOf(recorded)}`, {
        dev,
        dma: handle.dma,
        size,
        dir: DmaDataDirection.BIDIRECTIONAL,
        pfn: 0 as Pfn,
        order: -1,
        sg: null,
        nents: 0,
        vaddr: va,
      });
      this.atPeak(r, dev);
      return true;
    });
  }

  private mapSg(r: TraceRecord, e: Extract<TraceRecord['ev'], { event: 'dma_map_sg' }>): void {
    const phys = e.physAddrs.map(big);
    const first = big(e.dmaAddrs[0] ?? 0);
    const dev = this.device(
      e.device,
      e.dmaAddrs.map(big).reduce((m, a) => (a > m ? a : m), 0n),
    );
    const lens = phys.map((p, i) =>
      e.nents === e.ents ? (e.sizes[i] ?? PAGE) : PAGE - Number(p & 0xfffn),
    );
    const key = `${e.device}|sg|${hexOf(phys[0] ?? 0n)}`;
    this.attempt(
      r,
      key,
      lens.reduce((a, b) => a + b, 0),
      first,
      () => {
        const sg: Scatterlist[] = [];
        sgInitTable(sg, phys.length);
        const pages: { pfn: Pfn; order: number }[] = [];
        for (let i = 0; i < phys.length; i++) {
          const off = Number((phys[i] ?? 0n) & 0xfffn);
          const p = this.pages(off + (lens[i] ?? PAGE));
          if (p === null) break;
          pages.push(p);
          sgSetPage(sg[i] as Scatterlist, p.pfn, lens[i] ?? PAGE, off);
        }
        const head = sg[0] as Scatterlist;
        const n = pages.length === sg.length ? this.k.dma.dmaMapSg(dev, head, sg.length, e.dir) : 0;
        if (n === 0) {
          for (const p of pages) this.k.pages.freePagesPage(p.pfn, p.order);
          return false;
        }
        this.note(r, first, head.dmaAddress);
        const p0 = pages[0] as { pfn: Pfn; order: number };
        this.held.set(key, {
          dev,
          dma: head.dmaAddress,
          size: 0,
          dir: e.dir,
          ...p0,
          sg,
          nents: sg.length,
          vaddr: null,
        });
        this.sgPages.set(key, pages);
        this.atPeak(r, dev);
        return true;
      },
    );
  }

  private readonly sgPages = new Map<string, { pfn: Pfn; order: number }[]>();

  /** An unmap or free: the held mapping released, or a preexisting one counted. */
  private release(key: string, size: number, dir: DmaDataDirection): void {
    const h = this.held.get(key);
    this.calls++;
    if (h === undefined) {
      if (this.failedKeys.delete(key)) this.ofFailed++;
      else this.preexisting++;
      return;
    }
    this.held.delete(key);
    this.replayed++;
    if (h.sg !== null) {
      this.k.dma.dmaUnmapSg(h.dev, h.sg[0] as Scatterlist, h.nents, dir);
      for (const p of this.sgPages.get(key) ?? []) this.k.pages.freePagesPage(p.pfn, p.order);
      this.sgPages.delete(key);
    } else if (h.vaddr !== null) {
      this.k.dma.dmaFreeCoherent(h.dev, h.size, h.vaddr, h.dma);
    } else {
      this.k.dma.dmaUnmapPage(h.dev, h.dma, size === 0 ? h.size : size, dir);
      this.k.pages.freePagesPage(h.pfn, h.order);
    }
  }

  private sync(
    name: string,
    addr: bigint,
    size: number,
    dir: DmaDataDirection,
    forCpu: boolean,
  ): void {
    this.calls++;
    const found = this.containing(name, addr, size);
    if (found === null) {
      this.preexisting++;
      return;
    }
    this.replayed++;
    const at = (found.h.dma + Number(addr - found.start)) as DmaAddr;
    if (forCpu) this.k.dma.dmaSyncSingleForCpu(found.h.dev, at, size, dir);
    else this.k.dma.dmaSyncSingleForDevice(found.h.dev, at, size, dir);
  }

  /**
   * The streaming mapping whose recorded range holds [addr, addr+size): most syncs name the
   * mapping's own address (one lookup); a sync inside a mapping takes a walk over the live ones.
   */
  private containing(name: string, addr: bigint, size: number): { h: Held; start: bigint } | null {
    const exact = this.held.get(`${name}|${hexOf(addr)}`);
    if (exact !== undefined && exact.sg === null && exact.vaddr === null && size <= exact.size)
      return { h: exact, start: addr };
    for (const [key, h] of this.held) {
      if (!key.startsWith(`${name}|0x`) || h.sg !== null || h.vaddr !== null) continue;
      const start = BigInt(key.slice(name.length + 1));
      if (addr >= start && addr + BigInt(size) <= start + BigInt(h.size)) return { h, start };
    }
    return null;
  }
}
