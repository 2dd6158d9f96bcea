/**
 * The transmit engine (SDM §3.3, §3.4): after a TDT or TCTL write it fetches descriptors from TDH
 * towards TDT over DMA, gathers each packet's buffers until EOP, applies checksum offload or TSO,
 * inserts the VLAN tag, pads, puts the frames on the link, and when the last bit has left writes
 * DD back into the descriptors that asked for it (RS) and raises TXDW / TXQE.
 */
import { DmaStatus } from '../../machine/events.js';
import type { E1000Core, Ring } from './core.js';
import { nextIndex, readRing, ringValid } from './core.js';
import type { ContextDesc, TxDesc } from './descriptors.js';
import { DESC_SIZE, readContextDesc, readTxDesc, txKind, txd } from './descriptors.js';
import { DelayTimer } from './interrupts.js';
import { insertChecksum } from './offload.js';
import { CTRL, ICR, REG, STAT, TCTL, TXD_CMD, TXD_STAT } from './regs.js';
import { countTx, destKind, inc } from './stats.js';
import { giveFrame, takeFrame } from '../net/frame-pool.js';
import type { DestKind } from './stats.js';
import { applyChecksums, tsoSegments } from './tso.js';

/**
 * MODEL: time from a doorbell (or a freed FIFO slot) to the start of descriptor processing: one
 * PCI read round trip. Buffer reads take no extra time.
 */
export const TX_FETCH_NS = 500;
/** Frames shorter than this (FCS excluded) are padded when TCTL.PSP is set. */
const ETH_ZLEN = 60;
/** MODEL: the on-chip TX FIFO, bounding how far processing runs ahead of the wire (PBA 16 KiB). */
const TX_FIFO_BYTES = 16 * 1024;

/** A frame on the wire, as the statistics count it when its last bit has left. */
interface SentFrame {
  readonly length: number;
  readonly kind: DestKind;
}

/** A descriptor of the packet being gathered, to be written back when the packet is sent. */
interface DescRef {
  readonly index: number;
  readonly upper: number;
  readonly ide: boolean;
}

function descRef(index: number, d: TxDesc): DescRef {
  return { index, upper: d.upper, ide: (d.lower & TXD_CMD.IDE) !== 0 };
}

class Packet {
  readonly chunks: Uint8Array[] = [];
  readonly refs: DescRef[] = [];
  length = 0;
  /** Fields taken from the first descriptor (legacy CSS, data POPTS, TSE). */
  first = true;
  css = 0;
  popts = 0;
  tse = false;

  bytes(): Uint8Array {
    // One buffer (the common case): the chunk read by DMA is already the packet.
    const only = this.chunks[0];
    if (this.chunks.length === 1 && only !== undefined && only.length === this.length) return only;
    const out = takeFrame(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
      giveFrame(c);
    }
    return out;
  }
}

export class TxEngine {
  private scheduled = false;
  /** Bumped by reset: completions scheduled before it do nothing. */
  private epoch = 0;
  /** A DMA failure stopped the ring; cleared by reset or re-enabling TCTL.EN. */
  private halted = false;
  private inFlight = 0;
  private pkt = new Packet();
  /** Offload contexts (checksum and TSO are kept apart, as QEMU does). */
  private csumCtx: ContextDesc | null = null;
  private tsoCtx: ContextDesc | null = null;
  private readonly desc = new Uint8Array(DESC_SIZE);
  private readonly timer: DelayTimer;

  constructor(private readonly core: E1000Core) {
    this.timer = new DelayTimer(core.clock, () => {
      core.intr.raise(ICR.TXDW);
    });
  }

  get stopped(): boolean {
    return this.halted;
  }

  /** TDT or TCTL written: process asynchronously, after a descriptor fetch latency. */
  kick(): void {
    if (this.scheduled || !this.canRun(readRing(this.core.regs, REG.TDBAL))) return;
    this.scheduled = true;
    this.core.clock.schedule(TX_FETCH_NS, () => {
      this.scheduled = false;
      this.run();
    });
  }

  /** TCTL.EN went from 0 to 1: a stopped ring may run again. */
  enable(): void {
    this.halted = false;
    this.kick();
  }

  reset(): void {
    this.halted = false;
    // Packets on the wire finish there, but their write-backs and interrupts died with the reset.
    this.epoch++;
    this.inFlight = 0;
    this.pkt = new Packet();
    this.csumCtx = null;
    this.tsoCtx = null;
    this.timer.cancel();
  }

  private canRun(r: Ring): boolean {
    const enabled = (this.core.regs.get(REG.TCTL) & TCTL.EN) !== 0;
    return (
      enabled &&
      !this.halted &&
      this.core.port !== null &&
      ringValid(r) &&
      r.head !== r.tail &&
      this.inFlight < TX_FIFO_BYTES
    );
  }

  private run(): void {
    for (let r = readRing(this.core.regs, REG.TDBAL); this.canRun(r);) {
      if (!this.step(r)) return;
      r = readRing(this.core.regs, REG.TDBAL);
    }
  }

  /** Fetches and consumes the descriptor at TDH; false when the ring stopped. */
  private step(r: Ring): boolean {
    const port = this.core.port;
    if (port === null) return false;
    const at = r.base + r.head * DESC_SIZE;
    const st = port.read(at, this.desc, 0, DESC_SIZE);
    this.core.bus.transfer(DESC_SIZE, false);
    if (st !== DmaStatus.OK) return this.fault('descriptor fetch', at, st);
    const d = readTxDesc(this.desc, 0);
    this.core.regs.set(REG.TDH, nextIndex(r, r.head));
    const ref = (d.lower & (TXD_CMD.RS | TXD_CMD.RPS)) === 0 ? null : descRef(r.head, d);
    if (txKind(d.lower) === 'context') {
      this.setContext(readContextDesc(this.desc, 0));
      return ref === null || this.writeBack([ref], r);
    }
    if (!this.gather(d)) return false;
    if (ref !== null) this.pkt.refs.push(ref);
    if ((d.lower & TXD_CMD.EOP) !== 0) this.send(d);
    return true;
  }

  private setContext(c: ContextDesc): void {
    if ((c.cmdAndLength & TXD_CMD.TSE) !== 0) this.tsoCtx = c;
    else this.csumCtx = c;
  }

  /** Appends a descriptor's buffer to the packet; null addresses and zero lengths add nothing. */
  private gather(d: TxDesc): boolean {
    const legacy = txKind(d.lower) === 'legacy';
    const len = legacy ? txd.legacyLength(d.lower) : txd.dataLength(d.lower);
    const p = this.pkt;
    if (p.first) {
      p.first = false;
      p.css = txd.cssOrPopts(d.upper);
      p.popts = legacy ? 0 : txd.cssOrPopts(d.upper);
      p.tse = !legacy && (d.lower & TXD_CMD.TSE) !== 0;
    }
    if (d.bufferAddr === 0 || len === 0) return true;
    const buf = takeFrame(len); // port.read fills all of it
    const st = Number.isNaN(d.bufferAddr)
      ? DmaStatus.DECODE_ERROR
      : (this.core.port?.read(d.bufferAddr, buf, 0, len) ?? DmaStatus.DECODE_ERROR);
    if (st !== DmaStatus.OK) return this.fault('buffer read', d.bufferAddr, st);
    p.chunks.push(buf);
    p.length += len;
    return true;
  }

  /** EOP: builds the frames, queues them on the link, and completes at the last bit. */
  private send(eop: TxDesc): void {
    const p = this.pkt;
    this.pkt = new Packet();
    const frames = this.frames(p, eop).map((f) => this.finish(f, eop));
    const link = this.core.link;
    let doneAt = this.core.clock.now;
    let bytes = 0;
    // What the statistics need, taken now: the frames belong to the link once handed over.
    const sent = frames.map((f) => ({ length: f.length, kind: destKind(f) }));
    for (const f of frames) {
      bytes += f.length;
      // MODEL: with no cable the frame is sent into the void, completing at once. A frame leaves
      // once its descriptors have come over the bus; it was built for this send.
      if (link !== null) doneAt = Math.max(doneAt, link.transmit(f, this.core.bus.idleAt, true));
    }
    this.inFlight += bytes;
    const epoch = this.epoch;
    this.core.clock.schedule(doneAt - this.core.clock.now, () => {
      if (epoch === this.epoch) this.complete(p.refs, sent, bytes);
    });
  }

  private frames(p: Packet, eop: TxDesc): Uint8Array[] {
    const pkt = p.bytes();
    if (p.tse) {
      const segs = this.tsoCtx === null ? null : tsoSegments(pkt, this.tsoCtx, p.popts);
      if (segs === null) inc(this.core.regs, STAT.TSCTFC);
      else inc(this.core.regs, STAT.TSCTC);
      return segs ?? [];
    }
    if (txKind(eop.lower) === 'legacy') {
      // SDM §3.3.3: IC is qualified by EOP; CSS comes from the first descriptor, CSO with IC.
      // insertChecksum leaves the packet alone when CSS or CSO lie outside it.
      if ((eop.lower & TXD_CMD.IC) !== 0) insertChecksum(pkt, p.css, txd.cso(eop.lower), 0);
    } else if (this.csumCtx !== null) {
      applyChecksums(pkt, this.csumCtx, p.popts);
    }
    return [pkt];
  }

  /** VLAN tag insertion (VLE on EOP with CTRL.VME, SDM §3.3.7.1) and short-frame padding. */
  private finish(f: Uint8Array, eop: TxDesc): Uint8Array {
    let out = f;
    const vme = (this.core.regs.get(REG.CTRL) & CTRL.VME) !== 0;
    if ((eop.lower & TXD_CMD.VLE) !== 0 && vme && f.length >= 12) {
      out = new Uint8Array(f.length + 4);
      out.set(f.subarray(0, 12));
      const vet = this.core.regs.get(REG.VET) & 0xffff;
      const tci = txd.special(eop.upper);
      out.set([vet >>> 8, vet & 0xff, tci >>> 8, tci & 0xff], 12);
      out.set(f.subarray(12), 16);
    }
    const psp = (this.core.regs.get(REG.TCTL) & TCTL.PSP) !== 0;
    if (psp && out.length < ETH_ZLEN) {
      const padded = new Uint8Array(ETH_ZLEN);
      padded.set(out);
      out = padded;
    }
    return out;
  }

  /** The packet's last bit left: DD write-back, statistics, interrupts, and onwards. */
  private complete(refs: DescRef[], sent: readonly SentFrame[], bytes: number): void {
    this.inFlight -= bytes;
    for (const f of sent) countTx(this.core.regs, f.length, f.kind);
    const r = readRing(this.core.regs, REG.TDBAL);
    if (refs.length > 0 && !this.writeBack(refs, r)) return;
    if (r.head === r.tail && this.inFlight === 0) this.core.intr.raise(ICR.TXQE);
    this.kick();
  }

  /**
   * Writes DD into the status byte (upper dword; EC/LC/TU cleared) and raises TXDW, delayed by
   * TIDV/TADV when the descriptor asked for it with IDE (SDM §3.4.1, §13.4.44-45).
   */
  private writeBack(refs: DescRef[], r: Ring): boolean {
    const port = this.core.port;
    if (port === null) return false;
    let delayed = true;
    for (const ref of refs) {
      const at = r.base + ref.index * DESC_SIZE + 12;
      const st = port.writeU32(at, ((ref.upper & ~0xf) | TXD_STAT.DD) >>> 0);
      this.core.bus.transfer(4, true);
      if (st !== DmaStatus.OK) return this.fault('status write-back', at, st);
      delayed &&= ref.ide;
    }
    const tidv = this.core.regs.get(REG.TIDV) & 0xffff;
    if (delayed && tidv !== 0) {
      this.timer.arm(tidv, this.core.regs.get(REG.TADV) & 0xffff);
    } else {
      this.timer.cancel();
      this.core.intr.raise(ICR.TXDW);
    }
    return true;
  }

  /**
   * MODEL: the SDM does not say what the 8254x does after a master abort; here the ring stops
   * where it failed: the descriptor is not completed (no DD), TDH stays at it (or, for a
   * write-back, past it), the packet being gathered is dropped, and nothing more is processed
   * until TCTL.EN is set again or the device is reset. The fault is reported to the machine.
   */
  private fault(what: string, bus: number, st: DmaStatus): boolean {
    const regs = this.core.regs;
    if (what !== 'status write-back') {
      const r = readRing(regs, REG.TDBAL);
      if (what === 'descriptor fetch') regs.set(REG.TDH, r.head);
      else regs.set(REG.TDH, r.head === 0 ? r.count - 1 : r.head - 1);
    }
    this.pkt = new Packet();
    this.halted = true;
    this.core.dmaFault('tx', what, bus, st);
    return false;
  }
}
