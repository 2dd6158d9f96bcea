/**
 * One CPU as DMA sees it: loads and stores through a memory attribute (cacheable, uncached,
 * write-combining), its posted-store buffers, cache maintenance by physical range, the barrier
 * macros and the MMIO accessors. Instruction execution is not modelled; the kernel model calls
 * these methods where C code would access memory.
 *
 * MODEL: CPU accesses take no simulated time; loads are performed in program order (rmb and
 * dma_rmb are ordering points with no further effect on data).
 */
import type { PhysAddr } from '../../lib/addr.js';
import { hex } from '../../lib/addr.js';
import { BusError } from '../../lib/errors.js';
import type { Rng } from '../../lib/rng.js';
import type { DataCache } from '../cache/cache.js';
import type { Clock, TimeListener } from '../clock/clock.js';
import type { BarrierKind, EventBus, MaintOp } from '../events.js';
import { MemAttr } from '../memory/attr.js';
import type { MmioHandler, PhysMap } from '../memory/physmap.js';
import type { SparseRam } from '../memory/ram.js';
import type { ArchProfile, BarrierEffect } from '../profile.js';
import { StoreBuffer } from './store-buffer.js';
import { WcBuffer } from './wc-buffer.js';

/** Loads and stores of up to this many bytes try the one-line cache-hit fast path (fastSlot). */
const SMALL_ACCESS = 16;

export interface CpuDeps {
  readonly profile: ArchProfile;
  readonly cache: DataCache;
  readonly ram: SparseRam;
  readonly physmap: PhysMap;
  readonly events: EventBus;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly wcEntries: number;
  readonly storeBufferEntries: number;
}

export class Cpu implements TimeListener {
  private readonly profile: ArchProfile;
  private readonly cache: DataCache;
  private readonly ram: SparseRam;
  private readonly physmap: PhysMap;
  private readonly events: EventBus;
  private readonly clock: Clock;
  private readonly wc: WcBuffer;
  /** Posted cacheable stores; null on TSO profiles, where stores are visible in order at once. */
  private readonly sb: StoreBuffer | null;
  private readonly le: boolean;
  private readonly lineSize: number;
  private readonly lineShift: number;
  /** Byte offset of the low 32 bits inside a 64-bit value in memory. */
  private readonly loHalf: number;
  private readonly scratch = new Uint8Array(8);
  private readonly scratchView = new DataView(this.scratch.buffer);

  constructor(
    readonly id: number,
    deps: CpuDeps,
  ) {
    this.profile = deps.profile;
    this.cache = deps.cache;
    this.ram = deps.ram;
    this.physmap = deps.physmap;
    this.events = deps.events;
    this.clock = deps.clock;
    this.le = !deps.profile.bigEndian;
    this.loHalf = this.le ? 0 : 4;
    this.lineSize = deps.cache.lineSize;
    this.lineShift = Math.log2(this.lineSize);
    this.wc = new WcBuffer(deps.wcEntries, this.lineSize, this.ram, (p, n) => {
      this.emitDrain('wc', p, n);
    });
    this.sb =
      deps.profile.ordering === 'weak' && deps.storeBufferEntries > 0
        ? new StoreBuffer(
            deps.storeBufferEntries,
            this.lineSize,
            deps.profile.storeBuffer.maxDrainNs,
            deps.rng,
            (p, src, off, n) => {
              this.cacheWrite(p, src, off, n);
              this.emitDrain('store', p, n);
            },
          )
        : null;
  }

  /** Stores still posted in this CPU's buffers (not yet visible to devices). */
  get postedStores(): { wc: boolean; stores: number } {
    return { wc: !this.wc.isEmpty, stores: this.sb?.pending ?? 0 };
  }

  // ---- loads and stores -------------------------------------------------------------------

  /** Loads `len` bytes at `phys` into dst[off..] through a mapping with attribute `attr`. */
  read(phys: number, dst: Uint8Array, off: number, len: number, attr: MemAttr): void {
    if (len > 0 && len <= SMALL_ACCESS) {
      // A short cacheable load that hits one line: what the general path below does then.
      const at = this.fastSlot(phys, len, attr, false);
      if (at >= 0) {
        const data = this.cache.data;
        for (let i = 0; i < len; i++) dst[off + i] = data[at + i] as number;
        return;
      }
    }
    this.emitAccess('load', phys, len, attr);
    // MODEL: uncached and WC accesses do not look into the data cache; mixing a cacheable and
    // a non-cacheable mapping of one page is a bug on Arm (mismatched attributes) anyway.
    if (attr === MemAttr.CACHEABLE) {
      this.checkRam(phys, len, 'load');
      this.cacheRead(phys, dst, off, len);
      this.sb?.forward(phys, dst, off, len);
    } else if (attr === MemAttr.WC) {
      this.checkRam(phys, len, 'load');
      this.ram.read(phys, dst, off, len);
      this.wc.forward(phys, dst, off, len);
    } else {
      this.uncachedRead(phys, dst, off, len);
    }
  }

  /** Stores src[off..off+len) at `phys` through a mapping with attribute `attr`. */
  write(phys: number, src: Uint8Array, off: number, len: number, attr: MemAttr): void {
    if (len > 0 && len <= SMALL_ACCESS) {
      // A short cacheable store that hits one line with no store buffer: as the general path.
      const at = this.fastSlot(phys, len, attr, true);
      if (at >= 0) {
        const data = this.cache.data;
        for (let i = 0; i < len; i++) data[at + i] = src[off + i] as number;
        return;
      }
    }
    this.emitAccess('store', phys, len, attr);
    if (attr === MemAttr.CACHEABLE) {
      this.checkRam(phys, len, 'store');
      if (this.sb !== null) this.sb.store(phys, src, off, len, this.clock.now);
      else this.cacheWrite(phys, src, off, len);
    } else if (attr === MemAttr.WC) {
      this.checkRam(phys, len, 'store');
      this.wc.store(phys, src, off, len);
    } else {
      this.uncachedWrite(phys, src, off, len);
    }
  }

  readU8(phys: number, attr = MemAttr.CACHEABLE): number {
    this.read(phys, this.scratch, 0, 1, attr);
    return this.scratch[0] as number;
  }

  readU16(phys: number, attr = MemAttr.CACHEABLE): number {
    this.read(phys, this.scratch, 0, 2, attr);
    return this.scratchView.getUint16(0, this.le);
  }

  /** 32-bit load; a cacheable hit inside one line takes the fast path. */
  readU32(phys: number, attr = MemAttr.CACHEABLE): number {
    const s = this.fastSlot(phys, 4, attr, false);
    if (s >= 0) return this.cache.view.getUint32(s, this.le);
    this.read(phys, this.scratch, 0, 4, attr);
    return this.scratchView.getUint32(0, this.le);
  }

  /**
   * 64-bit load into out[0] (low 32 bits) and out[1] (high 32 bits): exact, and without the
   * bigint allocation of readU64, for hot loops.
   */
  readU64Halves(phys: number, out: Uint32Array, attr = MemAttr.CACHEABLE): void {
    const s = this.fastSlot(phys, 8, attr, false);
    if (s >= 0) {
      const v = this.cache.view;
      out[0] = v.getUint32(s + this.loHalf, this.le);
      out[1] = v.getUint32(s + 4 - this.loHalf, this.le);
      return;
    }
    this.read(phys, this.scratch, 0, 8, attr);
    out[0] = this.scratchView.getUint32(this.loHalf, this.le);
    out[1] = this.scratchView.getUint32(4 - this.loHalf, this.le);
  }

  /**
   * Loads the 8 bytes at `phys` as a little-endian 64-bit value, whatever the CPU's byte order,
   * into out[0] (bits 0..31) and out[1] (bits 32..63): the same access as `read` of 8 bytes
   * (cache state, statistics and events), without the byte copy. For in-memory formats that
   * are little-endian by definition, such as VT-d page-table entries.
   */
  readLe64(phys: number, out: Uint32Array, attr: MemAttr): void {
    const s = this.fastSlot(phys, 8, attr, false);
    if (s >= 0) {
      const v = this.cache.view;
      out[0] = v.getUint32(s, true);
      out[1] = v.getUint32(s + 4, true);
      return;
    }
    this.read(phys, this.scratch, 0, 8, attr);
    out[0] = this.scratchView.getUint32(0, true);
    out[1] = this.scratchView.getUint32(4, true);
  }

  /**
   * Stores `lo` (bits 0..31) and `hi` (bits 32..63) at `phys` as a little-endian 64-bit value:
   * the same access as `write` of those 8 bytes, without the byte copy.
   */
  writeLe64(phys: number, lo: number, hi: number, attr: MemAttr): void {
    const s = this.fastSlot(phys, 8, attr, true);
    if (s >= 0) {
      const v = this.cache.view;
      v.setUint32(s, lo, true);
      v.setUint32(s + 4, hi, true);
      return;
    }
    this.scratchView.setUint32(0, lo, true);
    this.scratchView.setUint32(4, hi, true);
    this.write(phys, this.scratch, 0, 8, attr);
  }

  /** 64-bit load, exact (bigint). */
  readU64(phys: number, attr = MemAttr.CACHEABLE): bigint {
    const s = this.fastSlot(phys, 8, attr, false);
    if (s >= 0) return this.cache.view.getBigUint64(s, this.le);
    this.read(phys, this.scratch, 0, 8, attr);
    return this.scratchView.getBigUint64(0, this.le);
  }

  writeU8(phys: number, v: number, attr = MemAttr.CACHEABLE): void {
    this.scratch[0] = v;
    this.write(phys, this.scratch, 0, 1, attr);
  }

  writeU16(phys: number, v: number, attr = MemAttr.CACHEABLE): void {
    this.scratchView.setUint16(0, v, this.le);
    this.write(phys, this.scratch, 0, 2, attr);
  }

  writeU32(phys: number, v: number, attr = MemAttr.CACHEABLE): void {
    const s = this.fastSlot(phys, 4, attr, true);
    if (s >= 0) this.cache.view.setUint32(s, v, this.le);
    else {
      this.scratchView.setUint32(0, v, this.le);
      this.write(phys, this.scratch, 0, 4, attr);
    }
  }

  writeU64(phys: number, v: bigint, attr = MemAttr.CACHEABLE): void {
    this.scratchView.setBigUint64(0, v, this.le);
    this.write(phys, this.scratch, 0, 8, attr);
  }

  // ---- cache maintenance (arch/arm64/mm/cache.S dcache_clean_poc, dcache_inval_poc) --------

  /** Writes dirty lines of the range to RAM (DC CVAC); returns lines written. */
  dcacheClean(phys: number, len: number): number {
    return this.maint('clean', phys, len);
  }

  /** Discards the lines of the range (DC IVAC); dirty data in them is lost. */
  dcacheInval(phys: number, len: number): number {
    return this.maint('inval', phys, len);
  }

  /** Cleans then discards the lines of the range (DC CIVAC). */
  dcacheCleanInval(phys: number, len: number): number {
    return this.maint('clean-inval', phys, len);
  }

  // ---- barriers (Documentation/memory-barriers.txt) ----------------------------------------

  mb(): void {
    this.barrier('mb');
  }
  rmb(): void {
    this.barrier('rmb');
  }
  wmb(): void {
    this.barrier('wmb');
  }
  dmaWmb(): void {
    this.barrier('dma_wmb');
  }
  dmaRmb(): void {
    this.barrier('dma_rmb');
  }

  // ---- MMIO accessors: little-endian registers (include/asm-generic/io.h) -----------------

  readb(phys: number): number {
    return this.mmioRead(phys, 1);
  }
  readw(phys: number): number {
    return this.mmioRead(phys, 2);
  }
  readl(phys: number): number {
    return this.mmioRead(phys, 4);
  }
  /** readq as two 32-bit reads, low half first. MODEL: handlers are at most 32 bits wide. */
  readq(phys: number): bigint {
    const lo = this.mmioRead(phys, 4);
    const hi = this.mmioRead(phys + 4, 4);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** writeb/w/l order earlier memory stores before the register write, as the arch defines. */
  writeb(phys: number, v: number): void {
    this.ioWriteBarrier();
    this.mmioWrite(phys, 1, v);
  }
  writew(phys: number, v: number): void {
    this.ioWriteBarrier();
    this.mmioWrite(phys, 2, v);
  }
  writel(phys: number, v: number): void {
    this.ioWriteBarrier();
    this.mmioWrite(phys, 4, v);
  }
  /** writeq as two 32-bit writes, low half first (lo_hi_writeq). */
  writeq(phys: number, v: bigint): void {
    this.ioWriteBarrier();
    this.mmioWrite(phys, 4, Number(v & 0xffffffffn));
    this.mmioWrite(phys + 4, 4, Number(v >> 32n));
  }
  /** writel_relaxed: no barrier, so on weak profiles earlier stores may land after it. */
  writelRelaxed(phys: number, v: number): void {
    this.mmioWrite(phys, 4, v);
  }
  readlRelaxed(phys: number): number {
    return this.mmioRead(phys, 4);
  }

  /** TimeListener: posted stores whose time has come become visible. */
  onAdvance(now: number): void {
    this.sb?.drainDue(now);
  }

  // ---- internals ----------------------------------------------------------------------------

  /**
   * Cache data offset for a cacheable access that hits inside one line with no posted stores and
   * no observer, or -1 for the general path. A resident line is RAM (fills check it), so a hit
   * needs no address check.
   */
  private fastSlot(phys: number, len: number, attr: MemAttr, write: boolean): number {
    if (
      attr !== MemAttr.CACHEABLE ||
      this.events.on ||
      (this.sb !== null && (write || !this.sb.isEmpty))
    )
      return -1;
    const ls = this.lineSize;
    const line = phys < 0x8000_0000 ? phys >>> this.lineShift : Math.floor(phys / ls);
    const inLine = phys - line * ls;
    if (inLine + len > ls) return -1;
    const at = this.cache.hit(line, write);
    return at < 0 ? -1 : at + inLine;
  }

  private cacheRead(phys: number, dst: Uint8Array, off: number, len: number): void {
    this.cache.cpuRead(phys, dst, off, len);
  }

  private cacheWrite(phys: number, src: Uint8Array, off: number, len: number): void {
    this.cache.cpuWrite(phys, src, off, len);
  }

  private uncachedRead(phys: number, dst: Uint8Array, off: number, len: number): void {
    if (this.profile.barriers.uncachedDrainsWc) this.wc.drainAll();
    if (this.physmap.ramExtent(phys) >= len) {
      this.ram.read(phys, dst, off, len);
      return;
    }
    const v = this.mmioRead(phys, this.mmioWidth(phys, len));
    for (let i = 0; i < len; i++) dst[off + i] = (v >>> (8 * i)) & 0xff;
  }

  private uncachedWrite(phys: number, src: Uint8Array, off: number, len: number): void {
    if (this.profile.barriers.uncachedDrainsWc) this.wc.drainAll();
    if (this.physmap.ramExtent(phys) >= len) {
      this.ram.write(phys, src, off, len);
      return;
    }
    let v = 0;
    for (let i = len - 1; i >= 0; i--) v = v * 256 + (src[off + i] as number);
    this.mmioWrite(phys, this.mmioWidth(phys, len), v);
  }

  private mmioWidth(phys: number, len: number): 1 | 2 | 4 {
    if (len === 1 || len === 2 || len === 4) return len;
    throw new BusError(
      `cpu${this.id}: uncached access of ${len} bytes at ${hex(phys)}: device registers take 1, 2 or 4 bytes`,
    );
  }

  private mmioRead(phys: number, width: 1 | 2 | 4): number {
    if (this.profile.barriers.uncachedDrainsWc) this.wc.drainAll();
    const { handler, offset, name } = this.region(phys, width, 'read');
    const v = handler.read(offset, width) >>> 0;
    this.emitMmio('load', phys, width, v, name);
    return v;
  }

  private mmioWrite(phys: number, width: 1 | 2 | 4, v: number): void {
    if (this.profile.barriers.uncachedDrainsWc) this.wc.drainAll();
    const { handler, offset, name } = this.region(phys, width, 'write');
    const masked = width === 4 ? v >>> 0 : v & ((1 << (8 * width)) - 1);
    this.sb?.drainBeforeDeviceWrite(this.clock.now);
    this.emitMmio('store', phys, width, masked, name);
    handler.write(offset, width, masked);
  }

  private region(
    phys: number,
    width: number,
    op: string,
  ): { handler: MmioHandler; offset: number; name: string } {
    const r = this.physmap.mmioAt(phys as PhysAddr);
    if (r?.handler === undefined || phys + width > r.base + r.size) {
      throw new BusError(
        `cpu${this.id}: MMIO ${op} of ${width} bytes at ${hex(phys)} reaches no device register window`,
      );
    }
    return { handler: r.handler, offset: phys - r.base, name: r.name };
  }

  private ioWriteBarrier(): void {
    const b = this.profile.barriers.beforeWritel;
    if (b !== null) this.barrier(b);
  }

  private barrier(kind: BarrierKind): void {
    const eff: BarrierEffect = this.profile.barriers[kind];
    if (eff.stores) this.sb?.drainAll();
    if (eff.wc) this.wc.drainAll();
    if (this.events.on)
      this.events.emit({ kind: 'barrier', t: this.clock.now, cpu: this.id, barrier: kind });
  }

  private maint(op: MaintOp, phys: number, len: number): number {
    // A DC operation is ordered after this CPU's earlier stores to the same lines.
    this.sb?.drainAll();
    if (this.events.on) {
      this.events.emit({
        kind: 'cache-maint',
        t: this.clock.now,
        cpu: this.id,
        op,
        phys: phys as PhysAddr,
        len,
      });
    }
    if (op === 'clean') return this.cache.clean(phys, len);
    if (op === 'inval') return this.cache.invalidate(phys, len);
    return this.cache.cleanInvalidate(phys, len);
  }

  private checkRam(phys: number, len: number, op: string): void {
    if (this.physmap.ramExtent(phys) < len) {
      throw new BusError(
        `cpu${this.id}: ${op} of ${len} bytes at ${hex(phys)} through a normal-memory mapping reaches no RAM (use the uncached MMIO accessors for device registers)`,
      );
    }
  }

  private emitAccess(op: 'load' | 'store', phys: number, len: number, attr: MemAttr): void {
    if (this.events.on) {
      this.events.emit({
        kind: 'cpu',
        t: this.clock.now,
        cpu: this.id,
        op,
        phys: phys as PhysAddr,
        len,
        attr,
      });
    }
  }

  private emitDrain(buffer: 'wc' | 'store', phys: number, len: number): void {
    if (this.events.on) {
      this.events.emit({
        kind: 'drain',
        t: this.clock.now,
        cpu: this.id,
        buffer,
        phys: phys as PhysAddr,
        len,
      });
    }
  }

  private emitMmio(
    op: 'load' | 'store',
    phys: number,
    width: number,
    value: number,
    region: string,
  ): void {
    if (this.events.on) {
      this.events.emit({
        kind: 'mmio',
        t: this.clock.now,
        cpu: this.id,
        op,
        phys: phys as PhysAddr,
        width,
        value,
        region,
      });
    }
  }
}
