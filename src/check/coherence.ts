/**
 * DOC: the coherence checker (issue 5 §2).
 *
 * dma-debug sees the DMA API calls; this checker also sees what the CPU and the devices really
 * touched. It implements the DmaDebugHooks, so it knows every live streaming mapping and coherent
 * allocation and, per cache line, who owns it (the device after a map or a sync for the device,
 * the CPU after a sync for the CPU; coherent memory belongs to both), and it observes the
 * machine's events: CPU accesses, cache maintenance, write-backs, drains of posted stores and
 * device accesses with their bus and physical addresses. It reports at the moment it happens:
 *
 * - ownership (the same on a coherent and a non-coherent machine): `cpu-access-device-owned`,
 *   `device-access-unowned`;
 * - data (what went wrong with the bytes here): `stale-cpu-read`, `stale-device-read`,
 *   `lost-device-write`, `wc-not-drained`, `missing-barrier`.
 *
 * Each kind is reported once per buffer until its ownership changes (a coherent allocation: once).
 * Build it before the kernel, hand it over as `dmaDebug` (with dma-debug too, through
 * chainDmaDebugHooks), then attach it:
 *
 *   const c = new CoherenceChecker();
 *   const k = new Kernel(machine, { dmaDebug: c });
 *   c.attach(k);
 *
 * Until attached it observes nothing and the machine's event bus stays silent.
 * MODEL: the CPU copies SWIOTLB makes (bounce slot to buffer and back) are recognised by their
 * pattern, a load of one side followed by the store of the other.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../lib/addr.js';
import type { Device } from '../kernel/device/device.js';
import { SingleMapNote } from './single-map.js';
import { DMA_MAPPING_ERROR } from '../kernel/device/dma-range.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import type { DmaDebugHooks } from '../kernel/dma/hooks.js';
import type { Kernel } from '../kernel/kernel.js';
import { forEachSg } from '../kernel/lib/scatterlist.js';
import type { Scatterlist } from '../kernel/lib/scatterlist.js';
import { DmaStatus } from '../machine/events.js';
import type { MachineEvent } from '../machine/events.js';
import { MemAttr } from '../machine/memory/attr.js';
import { MapCall, Owner, OwnerTable } from './coherence-owners.js';
import type { CpuRange, Tracked, TrackedInit, TrackedType } from './coherence-owners.js';
import * as say from './coherence-report.js';
import type { CoherenceKind, Place } from './coherence-report.js';
import { ShadowTable } from './coherence-shadow.js';
import { dirName } from './dma-debug-format.js';
import { FindingList } from './findings.js';
import type { FindingsJson } from './findings.js';

export interface CoherenceOptions {
  /** Print each finding to the kernel log (default true). */
  readonly log?: boolean;
  /** Add the caller's source location to each mapping's origin (a JS stack walk per map). */
  readonly callerLocations?: boolean;
}

/** A resource mapping's CPU ranges: none (MMIO). */
const NO_RANGES: readonly CpuRange[] = [];

type CpuEvent = Extract<MachineEvent, { kind: 'cpu' }>;
type DmaEvent = Extract<MachineEvent, { kind: 'dma' }>;

/** What attach() takes from the kernel. */
interface Env {
  readonly k: Kernel;
  readonly ls: number;
  readonly owners: OwnerTable;
  readonly shadow: ShadowTable;
  readonly off: () => void;
}

/** A CPU load of a bounced buffer the device owns, held until the next event shows a bounce. */
interface Suspect {
  readonly t: Tracked;
  readonly e: CpuEvent;
  readonly off: number;
}

export class CoherenceChecker implements DmaDebugHooks {
  private readonly list = new FindingList();
  private env: Env | null = null;
  /** The pointer dma_map_single handed to the hooks before its mapPhys. */
  private readonly single = new SingleMapNote();
  /** What track() hands to OwnerTable.fresh (reused). */
  private init: TrackedInit | null = null;
  /** What onCpu() collects: the buffers an access touches (reused). */
  private readonly seen: Tracked[] = [];
  private suspect: Suspect | null = null;
  /** A CPU load of a bounce slot: the store that follows to this buffer is SWIOTLB's copy. */
  private bounceStore: { t: Tracked; len: number } | null = null;

  constructor(private readonly opts: CoherenceOptions = {}) {}

  /** Starts observing `k` (built with this checker among its `dmaDebug` hooks). */
  attach(k: Kernel): void {
    if (this.env !== null) return;
    const m = k.machine;
    const off = m.events.subscribe((e) => {
      this.onEvent(e);
    });
    this.env = {
      k,
      ls: m.profile.lineSize,
      owners: new OwnerTable(m.profile.lineSize),
      shadow: new ShadowTable({ cache: m.cache, ram: m.ram, cpus: m.cpus }),
      off,
    };
  }

  /** Stops observing; live buffers are forgotten. */
  detach(): void {
    this.flushSuspect();
    this.env?.off();
    this.env = null;
  }

  /** Everything reported so far. */
  get findings(): FindingList {
    this.flushSuspect();
    return this.list;
  }

  toJSON(): FindingsJson {
    return this.findings.toJSON();
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
    const env = this.env;
    const ptr = this.single.take(dev, size);
    const fromSingle = ptr !== null;
    if (env === null || dmaAddr === DMA_MAPPING_ERROR) return;
    const vaddr = fromSingle ? ptr : this.linearVa(env, phys);
    const call = fromSingle ? MapCall.SINGLE : MapCall.PAGE;
    const arg = fromSingle ? ptr : phys;
    this.track(env, dev, 'single', dir, dmaAddr, size, null, phys, vaddr, call, arg);
  }

  unmapPhys(dev: Device, dmaAddr: DmaAddr, _size: number, _dir: DmaDataDirection): void {
    this.untrack(dev, dmaAddr, 'single');
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
    if (env === null || dmaAddr === DMA_MAPPING_ERROR) return;
    this.track(env, dev, 'resource', dir, dmaAddr, size, NO_RANGES, 0, -1, MapCall.RESOURCE, phys);
  }

  unmapResource(dev: Device, dmaAddr: DmaAddr, _size: number, _dir: DmaDataDirection): void {
    this.untrack(dev, dmaAddr, 'resource');
  }

  mappingError(_dev: Device, _dmaAddr: DmaAddr): void {
    // Checked by dma-debug; nothing changes hands.
  }

  syncSingleForCpu(dev: Device, dmaAddr: DmaAddr, size: number, _dir: DmaDataDirection): void {
    this.handOver(dev, dmaAddr, size, Owner.CPU);
  }

  syncSingleForDevice(dev: Device, dmaAddr: DmaAddr, size: number, _dir: DmaDataDirection): void {
    this.handOver(dev, dmaAddr, size, Owner.DEVICE);
  }

  syncSgForCpu(dev: Device, sgl: Scatterlist, nelems: number, _dir: DmaDataDirection): void {
    for (const s of forEachSg(sgl, nelems))
      if (s.dmaLength > 0) this.handOver(dev, s.dmaAddress, s.dmaLength, Owner.CPU);
  }

  syncSgForDevice(dev: Device, sgl: Scatterlist, nelems: number, _dir: DmaDataDirection): void {
    for (const s of forEachSg(sgl, nelems))
      if (s.dmaLength > 0) this.handOver(dev, s.dmaAddress, s.dmaLength, Owner.DEVICE);
  }

  /**
   * One Tracked per DMA segment. MODEL: behind an IOMMU a segment may merge entries with padding
   * between them; entries are given to segments in order by length, so a finding's CPU address
   * inside a merged segment may be off by that padding.
   */
  mapSg(
    dev: Device,
    sgl: Scatterlist,
    nents: number,
    ents: number,
    dir: DmaDataDirection,
    _attrs: number,
  ): void {
    const env = this.env;
    if (env === null) return;
    const entries = [...forEachSg(sgl, nents)];
    let next = 0;
    let i = 0;
    for (const seg of forEachSg(sgl, ents)) {
      const cpu: CpuRange[] = [];
      let dmaOff = 0;
      while (next < entries.length) {
        const s = entries[next] as Scatterlist;
        if (cpu.length > 0 && (ents === nents || dmaOff + s.length > seg.dmaLength)) break;
        cpu.push({ phys: env.k.pages.pageToPhys(s.page) + s.offset, len: s.length, dmaOff });
        dmaOff += s.length;
        next++;
      }
      const len = seg.dmaLength;
      this.track(env, dev, 'sg', dir, seg.dmaAddress, len, cpu, 0, -1, MapCall.SG, nents, i++);
    }
  }

  unmapSg(dev: Device, sgl: Scatterlist, nents: number, _dir: DmaDataDirection): void {
    for (const s of forEachSg(sgl, nents))
      if (s.dmaLength > 0) this.untrack(dev, s.dmaAddress, 'sg');
  }

  allocCoherent(
    dev: Device,
    size: number,
    dmaAddr: DmaAddr,
    vaddr: VirtAddr,
    _attrs: number,
  ): void {
    const env = this.env;
    if (env === null) return;
    const cpu = this.cpuRanges(env, vaddr, size);
    const bidi = DmaDataDirection.BIDIRECTIONAL;
    this.track(env, dev, 'coherent', bidi, dmaAddr, size, cpu, 0, vaddr, MapCall.COHERENT, 0);
  }

  freeCoherent(dev: Device, _size: number, _vaddr: VirtAddr | null, dmaAddr: DmaAddr): void {
    this.untrack(dev, dmaAddr, 'coherent');
  }

  // ---- bookkeeping ----------------------------------------------------------------------------

  private track(
    env: Env,
    dev: Device,
    type: TrackedType,
    dir: DmaDataDirection,
    dmaAddr: number,
    size: number,
    cpu: readonly CpuRange[] | null,
    phys: number,
    vaddr: number,
    call: MapCall,
    arg: number,
    seg = 0,
  ): void {
    this.flushSuspect();
    const i = (this.init ??= {
      dev,
      type,
      dir,
      dmaAddr,
      size,
      cpu,
      phys,
      vaddr,
      slot: -1,
      call,
      arg,
      seg,
      at: 0,
      caller: '',
      va: env.k.vm,
    });
    i.dev = dev;
    i.type = type;
    i.dir = dir;
    i.dmaAddr = dmaAddr;
    i.size = size;
    i.cpu = cpu;
    i.phys = phys;
    i.vaddr = vaddr;
    i.slot = this.slotPhys(dev, dmaAddr);
    i.call = call;
    i.arg = arg;
    i.seg = seg;
    i.at = env.k.machine.clock.now;
    i.caller = this.opts.callerLocations === true ? this.caller() : '';
    i.va = env.k.vm;
    const t = env.owners.fresh(i);
    // A reused record: a bounce load seen for the buffer it was is no bounce for this one.
    if (this.bounceStore?.t === t) this.bounceStore = null;
    env.owners.add(t, i.slot);
  }

  private untrack(dev: Device, dmaAddr: number, type: TrackedType): void {
    const env = this.env;
    if (env === null) return;
    this.flushSuspect();
    const t = env.owners.exact(dev.name, dmaAddr, type);
    if (t === undefined) return;
    const slot = t.bounced ? this.slotPhys(dev, dmaAddr) : -1;
    const { owners, shadow } = env;
    owners.remove(t, env.k.machine.clock.now, slot);
    if (shadow.empty) return;
    for (const r of t.cpu)
      this.forgetLines(env, owners.lineOf(r.phys), owners.lastLine(r.phys, r.len));
    if (t.bounced) this.forgetLines(env, owners.lineOf(slot), owners.lastLine(slot, t.size));
  }

  /** The shadow of lines [first, last] that no live buffer uses any more goes. */
  private forgetLines(env: Env, first: number, last: number): void {
    for (let l = first; l <= last; l++) if (!env.owners.tracksLine(l)) env.shadow.forget(l);
  }

  private handOver(dev: Device, dmaAddr: number, size: number, to: Owner): void {
    const env = this.env;
    if (env === null) return;
    this.flushSuspect();
    const t = env.owners.atBus(dev.name, dmaAddr);
    if (t !== undefined && t.type !== 'coherent') env.owners.setOwner(t, dmaAddr, size, to);
  }

  /** Where a device without an IOMMU reaches bus address `dmaAddr` (the CPU's buffer or a slot). */
  private slotPhys(dev: Device, dmaAddr: number): number {
    if (dev.dmaIommu || dev.dmaPort === null) return -1;
    return dev.dmaPort.busToPhys(dmaAddr);
  }

  private linearVa(env: Env, phys: number): number {
    return env.k.linear.isLowmem(phys) ? env.k.linear.physToVirt(phys) : -1;
  }

  /** The physically contiguous pieces of [vaddr, vaddr + size). */
  private cpuRanges(env: Env, vaddr: VirtAddr, size: number): CpuRange[] {
    const pageSize = env.k.machine.profile.pageSize;
    const out: CpuRange[] = [];
    for (let off = 0; off < size;) {
      const n = Math.min(size - off, pageSize - ((vaddr + off) % pageSize));
      const phys = env.k.vm.resolve((vaddr + off) as VirtAddr);
      const last = out[out.length - 1];
      if (phys < 0) break;
      if (last !== undefined && last.phys + last.len === phys)
        out[out.length - 1] = { ...last, len: last.len + n };
      else out.push({ phys, len: n, dmaOff: off });
      off += n;
    }
    return out;
  }

  /** " (caller)": the first stack frame outside the kernel model (for callerLocations). */
  private caller(): string {
    const frames = (new Error().stack ?? '').split('\n').slice(1);
    const f = frames.find((l) => !/[/\\]src[/\\](kernel|check)[/\\]/.test(l));
    return f === undefined ? '' : ` (${f.trim().replace(/^at /, '')})`;
  }

  // ---- the machine's events ---------------------------------------------------------------------

  private onEvent(e: MachineEvent): void {
    const env = this.env;
    if (env === null) return;
    if (e.kind === 'cpu') this.onCpu(env, e);
    else {
      this.flushSuspect();
      if (e.kind === 'dma') this.onDma(env, e);
      else if (e.kind === 'writeback') this.onWriteback(env, e.phys);
      else if (e.kind === 'drain') env.shadow.drained(e.buffer, e.phys, e.len);
      else if (e.kind === 'cache-maint' && e.op === 'inval') env.shadow.discarded(e.phys, e.len);
    }
  }

  private onCpu(env: Env, e: CpuEvent): void {
    const store = e.op === 'store';
    const { owners } = env;
    const seen = this.seen;
    seen.length = 0;
    let slotOf: Tracked | undefined;
    const last = owners.lastLine(e.phys, e.len);
    for (let l = owners.lineOf(e.phys); l <= last; l++) {
      slotOf ??= owners.slotOn(l);
      const on = owners.onLine(l);
      if (on !== undefined) for (const t of on) if (!seen.includes(t)) seen.push(t);
    }
    const s = this.suspect;
    if (s !== null && !(store && slotOf === s.t && e.len === s.e.len)) this.flushSuspect();
    this.suspect = null;
    const bounce = this.bounceStore;
    this.bounceStore = slotOf !== undefined && !store ? { t: slotOf, len: e.len } : null;
    if (seen.length === 0) return;
    for (const t of seen) {
      if (store && bounce?.t === t && bounce.len === e.len) continue;
      this.checkCpuOwnership(env, t, e);
    }
    if (store) this.cpuStored(env, e);
    else if (e.attr === MemAttr.CACHEABLE) this.checkStaleCpuRead(env, e, seen);
  }

  private checkCpuOwnership(env: Env, t: Tracked, e: CpuEvent): void {
    if (t.type === 'coherent' || t.type === 'resource') return;
    const r = t.cpu.find((c) => e.phys < c.phys + c.len && c.phys < e.phys + e.len);
    if (r === undefined) return;
    const a = Math.max(e.phys, r.phys);
    const off = r.dmaOff + a - r.phys;
    const len = Math.min(e.phys + e.len, r.phys + r.len) - a;
    if (!env.owners.deviceOwns(t, off, len)) return;
    if (t.bounced && e.op === 'load') this.suspect = { t, e, off };
    else this.reportCpuAccess(env, t, e, off, len);
  }

  private reportCpuAccess(env: Env, t: Tracked, e: CpuEvent, off: number, len: number): void {
    const load = e.op === 'load';
    const p = say.placeIn(t, off, len);
    this.report(
      env,
      'cpu-access-device-owned',
      t.dev,
      t,
      `CPU ${load ? 'reads' : 'writes'} DMA memory the device owns ${this.where(env, p)} [mapped with ${dirName(t.dir)}]`,
      p,
      say.fixCpuAccess(t, load),
    );
  }

  private cpuStored(env: Env, e: CpuEvent): void {
    const { owners, shadow, ls } = env;
    const last = owners.lastLine(e.phys, e.len);
    for (let l = owners.lineOf(e.phys); l <= last; l++) {
      if (!owners.tracksLine(l)) continue;
      const a = Math.max(e.phys, l * ls);
      const n = Math.min(e.phys + e.len, (l + 1) * ls) - a;
      shadow.cpuStored(a, n);
      if (e.attr === MemAttr.WC) shadow.posted('wc', a, n);
      else if (e.attr === MemAttr.CACHEABLE) shadow.posted('store', a, n);
    }
  }

  private checkStaleCpuRead(env: Env, e: CpuEvent, seen: readonly Tracked[]): void {
    const bad = env.shadow.staleCpuRead(e.phys, e.len);
    if (bad === null) return;
    const t = seen.find((x) => say.offsetOf(x, bad.phys) >= 0) ?? seen[0];
    if (t === undefined) return;
    const p = say.placeIn(t, Math.max(0, say.offsetOf(t, bad.phys)), bad.len);
    this.report(
      env,
      'stale-cpu-read',
      t.dev,
      t,
      `CPU reads a cache line older than what the device wrote ${this.where(env, p)}`,
      p,
      `call ${say.syncCall(t, 'cpu')} before reading`,
    );
  }

  private onDma(env: Env, e: DmaEvent): void {
    const t = env.owners.atBus(e.device, e.bus);
    if (t === undefined || e.bus + e.len > t.dmaAddr + t.size) {
      this.deviceOutside(env, e, t);
      return;
    }
    if (t.type === 'resource') return;
    const off = e.bus - t.dmaAddr;
    const write = e.op === 'write';
    const against = t.dir === (write ? DmaDataDirection.TO_DEVICE : DmaDataDirection.FROM_DEVICE);
    if (t.type !== 'coherent' && (against || env.owners.cpuOwns(t, off, e.len)))
      this.deviceUnowned(env, e, t, off, against ? 'direction' : 'cpu');
    if (e.status !== DmaStatus.OK || e.phys < 0) return;
    if (write) env.shadow.deviceWrote(e.phys, e.len);
    else this.checkDeviceRead(env, e, t, off);
  }

  private checkDeviceRead(env: Env, e: DmaEvent, t: Tracked, off: number): void {
    const pending = env.shadow.pendingFor(e.phys, e.len);
    if (pending === 'wc') {
      const p = say.placeIn(t, off, e.len);
      const msg = `device reads memory whose CPU stores are still in a write-combining buffer ${this.where(env, p)}`;
      this.report(env, 'wc-not-drained', t.dev, t, msg, p, say.FIX_WC);
    } else if (!e.coherent) {
      // A posted store matters less here than the missing clean: the sync would do both.
      const bad = env.shadow.staleDeviceRead(e.phys, e.len);
      const pos = bad ?? (pending === 'store' ? { phys: e.phys, len: e.len } : null);
      if (pos === null) return;
      const q = say.placeIn(t, off + pos.phys - e.phys, pos.len);
      const msg = `device reads RAM older than the CPU's dirty cache line ${this.where(env, q)}`;
      const fix = `call ${say.syncCall(t, 'device')} after the CPU's last write`;
      this.report(env, 'stale-device-read', t.dev, t, msg, q, fix);
    } else if (pending === 'store') {
      const p = say.placeIn(t, off, e.len);
      const msg = `device reads memory before the CPU's earlier stores to it landed (no barrier) ${this.where(env, p)}`;
      this.report(env, 'missing-barrier', t.dev, t, msg, p, say.FIX_BARRIER);
    }
  }

  private deviceOutside(env: Env, e: DmaEvent, t: Tracked | undefined): void {
    const dev = t?.dev ?? env.k.devices.findDevice(e.device);
    if (dev === undefined) return;
    const gone = t === undefined ? env.owners.goneAt(e.device, e.bus) : undefined;
    const why =
      gone !== undefined
        ? `unmapped at t=${gone.unmappedAt}ns`
        : t !== undefined
          ? 'past the end of its mapping'
          : 'outside any mapping';
    const p: Place = { vaddr: -1, phys: e.phys, bus: e.bus, size: e.len };
    const op = e.op === 'write' ? 'writes' : 'reads';
    const origin = gone !== undefined ? `; it was ${gone.origin}` : '';
    this.report(
      env,
      'device-access-unowned',
      dev,
      t ?? null,
      `device ${op} DMA memory it does not own (${why}) ${this.where(env, p)}${origin}`,
      p,
      say.fixDeviceAccess(null, 'outside'),
    );
  }

  private deviceUnowned(
    env: Env,
    e: DmaEvent,
    t: Tracked,
    off: number,
    why: 'cpu' | 'direction',
  ): void {
    const p = say.placeIn(t, off, e.len);
    const reason = why === 'cpu' ? 'the CPU owns it' : `mapped with ${dirName(t.dir)}`;
    this.report(
      env,
      'device-access-unowned',
      t.dev,
      t,
      `device ${e.op === 'write' ? 'writes' : 'reads'} DMA memory it does not own (${reason}) ${this.where(env, p)}`,
      p,
      say.fixDeviceAccess(t, why),
    );
  }

  private onWriteback(env: Env, phys: number): void {
    if (!env.owners.tracksLine(env.owners.lineOf(phys))) return;
    const loss = env.shadow.wroteBack(phys);
    if (loss === null) return;
    const line = env.owners.onLine(env.owners.lineOf(phys)) ?? [];
    const victim = line.find((x) => say.offsetOf(x, loss.lost.phys) >= 0) ?? line[0];
    if (victim === undefined) return;
    const p = say.placeIn(victim, Math.max(0, say.offsetOf(victim, loss.lost.phys)), loss.lost.len);
    const by = loss.by;
    const other =
      by === null ? undefined : line.find((x) => x !== victim && say.offsetOf(x, by.phys) >= 0);
    const culprit =
      other !== undefined
        ? `the buffer of ${other.origin}`
        : by !== null
          ? `the CPU's stores at ${this.physPlace(env, by.phys)} (${by.len} bytes)`
          : 'an earlier CPU store';
    this.report(
      env,
      'lost-device-write',
      victim.dev,
      victim,
      `a dirty cache line was written back over data the device wrote ${this.where(env, p)}; the line is shared with ${culprit}`,
      p,
      say.fixSharing(env.k.machine.profile.dmaMinAlign),
    );
  }

  private physPlace(env: Env, phys: number): string {
    const va = this.linearVa(env, phys);
    return va >= 0
      ? `${env.k.vm.format(va as VirtAddr)} (physical ${say.hex(phys)})`
      : say.hex(phys);
  }

  private flushSuspect(): void {
    const s = this.suspect;
    const env = this.env;
    this.suspect = null;
    if (s !== null && env !== null) {
      const len = Math.min(s.e.len, s.t.size - s.off);
      this.reportCpuAccess(env, s.t, s.e, s.off, len);
    }
  }

  // ---- reports ----------------------------------------------------------------------------------

  private where(env: Env, p: Place): string {
    return say.details(p, (va) => env.k.vm.format(va as VirtAddr));
  }

  private report(
    env: Env,
    kind: CoherenceKind,
    dev: Device,
    t: Tracked | null,
    message: string,
    p: Place,
    fix: string,
  ): void {
    if (t !== null) {
      if ((t.reported & say.KIND_BIT[kind]) !== 0) return;
      t.reported |= say.KIND_BIT[kind];
    }
    const vaddr = p.vaddr >= 0 ? env.k.vm.format(p.vaddr as VirtAddr) : undefined;
    this.list.add({
      kind,
      device: dev.name,
      driver: dev.driverString,
      message,
      dmaAddr: p.bus as DmaAddr,
      ...(p.phys >= 0 ? { phys: p.phys as PhysAddr } : {}),
      ...(vaddr !== undefined ? { vaddr } : {}),
      size: p.size,
      time: env.k.machine.clock.now,
      printed: this.opts.log !== false,
      ...(t !== null ? { origin: t.origin } : {}),
      fix,
    });
    if (this.opts.log === false) return;
    const lines = [`DMA-COHERENCE: ${dev.driverString} ${dev.name}: ${message}`];
    if (t !== null) lines.push(`DMA-COHERENCE: mapped at: ${t.origin}`);
    lines.push(`DMA-COHERENCE: fix: ${fix}`);
    for (const l of lines) {
      env.k.log.print('warn', l);
      this.list.addLine(l);
    }
  }
}
