/**
 * The receive engine (SDM §3.2): a frame from the link is checked for size, filtered by address
 * and VLAN, checksummed, and queued in the on-chip RX FIFO; from there it is written by DMA into
 * the buffers of the descriptors from RDH on (several when it is larger than one buffer, EOP on
 * the last), each descriptor written back with its length and status, and RDH advanced.
 * Interrupts: RXT0 through the RDTR/RADV timers, RXDMT0 at the RCTL.RDMTS threshold, RXO when the
 * FIFO overflows (SDM §3.2.7).
 */
import { DmaStatus } from '../../machine/events.js';
import type { DmaPort } from '../../machine/bus/dma-port.js';
import type { E1000Core, Ring } from './core.js';
import { nextIndex, readRing, ringOwned, ringValid } from './core.js';
import { DESC_SIZE, readAddr, writeRxWriteBack } from './descriptors.js';
import { putFcs } from './fcs.js';
import { giveFrame } from '../net/frame-pool.js';
import { DelayTimer } from './interrupts.js';
import { rxChecksum } from './offload.js';
import { ICR, RCTL, RDTR_FPD, REG, RXD_STAT, STAT, rxBufferSize } from './regs.js';
import { acceptAddress, vlanStage } from './rxfilter.js';
import { FCS_LEN, countRxArrival, countRxGood, inc } from './stats.js';

/** Frames shorter than this (FCS included) are runts (RUC). */
const MIN_FRAME = 64;
/** Longest frame with FCS without LPE (1518, 1522 with an 802.1Q tag), and with LPE (SDM §3.2.1). */
const MAX_FRAME = 1518;
const MAX_LONG_FRAME = 16384;

/** A frame waiting in the RX FIFO, with what will be written back with it. */
interface Queued {
  /** The frame after VLAN stripping; the bytes to DMA are these, then `fcs`. */
  readonly frame: Uint8Array;
  /** The FCS bytes stored after the frame (none with SECRC). */
  readonly fcs: Uint8Array;
  /** frame.length + fcs.length. */
  readonly length: number;
  /** The frame as received, for the statistics. */
  readonly wire: Uint8Array;
  readonly status: number;
  readonly errors: number;
  readonly csum: number;
  readonly special: number;
  /** RNBC was counted for this frame already. */
  noBuffer: boolean;
}

export class RxEngine {
  private readonly fifo: Queued[] = [];
  private fifoBytes = 0;
  private halted = false;
  private drainScheduled = false;
  private readonly desc = new Uint8Array(DESC_SIZE);
  private readonly wb = new Uint8Array(8);
  private readonly timer: DelayTimer;

  constructor(private readonly core: E1000Core) {
    this.timer = new DelayTimer(core.clock, () => {
      core.intr.raise(ICR.RXT0);
    });
  }

  get stopped(): boolean {
    return this.halted;
  }

  /** Frames held in the FIFO for lack of descriptors. */
  get queued(): number {
    return this.fifo.length;
  }

  reset(): void {
    this.fifo.length = 0;
    this.fifoBytes = 0;
    this.halted = false;
    this.timer.cancel();
  }

  /** RCTL.EN went from 0 to 1. */
  enable(): void {
    this.halted = false;
    this.kick();
  }

  /** RDT written (new buffers) or the receiver enabled: retry the FIFO. */
  kick(delay = 0): void {
    if (this.drainScheduled || this.fifo.length === 0) return;
    this.drainScheduled = true;
    this.core.clock.schedule(delay, () => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  /** RDTR write: FPD fires a pending receive timer at once (SDM §13.4.29). */
  rdtrWritten(v: number): number {
    if ((v & RDTR_FPD) !== 0) this.timer.flush();
    return v & ~RDTR_FPD;
  }

  /** A frame arrived from the link (no FCS on it; see NetReceiver). */
  receive(frame: Uint8Array): void {
    const regs = this.core.regs;
    const rctl = regs.get(REG.RCTL);
    // No link (STATUS.LU clear) or receiver off: nothing is received.
    if ((rctl & RCTL.EN) === 0 || this.core.link === null) return;
    countRxArrival(regs, frame);
    if (!this.sizeOk(frame, rctl) || !acceptAddress(regs, frame)) return;
    const q = this.prepare(frame, rctl);
    if (q === null) return;
    const capacity = (regs.get(REG.PBA) & 0xffff) * 1024;
    if (this.fifoBytes + q.length > capacity) {
      // SDM §13.7.4: no room in the FIFO: the frame is missed.
      inc(regs, STAT.MPC);
      this.core.intr.raise(ICR.RXO);
      return;
    }
    this.fifo.push(q);
    this.fifoBytes += q.length;
    this.drain();
  }

  /**
   * MODEL: runts are counted in RUC and oversized frames in ROC and dropped even with SBP (the
   * link delivers no bad frames, so SBP has nothing else to store).
   */
  private sizeOk(frame: Uint8Array, rctl: number): boolean {
    const wire = frame.length + FCS_LEN;
    const tagged = frame[12] === 0x81 && frame[13] === 0x00;
    const max = (rctl & RCTL.LPE) !== 0 ? MAX_LONG_FRAME : MAX_FRAME + (tagged ? 4 : 0);
    if (wire < MIN_FRAME) inc(this.core.regs, STAT.RUC);
    else if (wire > max) inc(this.core.regs, STAT.ROC);
    else return true;
    return false;
  }

  private prepare(frame: Uint8Array, rctl: number): Queued | null {
    const regs = this.core.regs;
    const v = vlanStage(regs, frame);
    if (!v.accept) return null;
    // SDM §3.2.2: the FCS is stored in host memory and counted in the length unless SECRC.
    const fcs = new Uint8Array((rctl & RCTL.SECRC) !== 0 ? 0 : FCS_LEN);
    if (fcs.length > 0) putFcs(frame, fcs, 0);
    const c = rxChecksum(v.frame, fcs, regs.get(REG.RXCSUM));
    return {
      frame: v.frame,
      fcs,
      length: v.frame.length + fcs.length,
      wire: frame,
      status: c.status | (v.tci === null ? 0 : RXD_STAT.VP),
      errors: c.errors,
      csum: c.csum,
      special: v.tci ?? 0,
      noBuffer: false,
    };
  }

  private drain(): void {
    while (!this.halted && this.fifo.length > 0) {
      // The next frame's DMA waits for the bus.
      const wait = this.core.bus.idleAt - this.core.clock.now;
      if (wait > 0) {
        this.kick(wait);
        return;
      }
      const q = this.fifo[0] as Queued;
      if (!this.deliver(q)) return;
      this.fifo.shift();
      this.fifoBytes -= q.length;
      // The frame was ours (NetReceiver) and is in host memory now.
      giveFrame(q.wire);
    }
  }

  /**
   * Stores one frame if the descriptors the hardware owns can hold it all; otherwise it waits in
   * the FIFO and RNBC counts it once (SDM §13.7.33).
   * MODEL: the frame is started only when enough descriptors are available, as QEMU does.
   */
  private deliver(q: Queued): boolean {
    const regs = this.core.regs;
    const r = readRing(regs, REG.RDBAL);
    const bufSize = rxBufferSize(regs.get(REG.RCTL));
    const need = Math.ceil(q.length / bufSize);
    const free = ringValid(r) ? ringOwned(r) : 0;
    if (this.core.port === null || need > free) {
      if (!q.noBuffer) inc(regs, STAT.RNBC);
      q.noBuffer = true;
      return false;
    }
    const head = this.store(q, r, bufSize);
    if (head < 0) return true; // DMA fault: the frame is dropped and the ring stopped
    countRxGood(regs, q.wire);
    this.interrupts(free, ringOwned({ ...r, head }), r.count);
    return true;
  }

  /** DMA of the data and write-back, descriptor by descriptor; the new head, or -1 on a fault. */
  private store(q: Queued, r: Ring, bufSize: number): number {
    let i = r.head;
    for (let off = 0; off < q.length;) {
      const n = Math.min(bufSize, q.length - off);
      const last = off + n === q.length;
      if (!this.storeOne(q, r, i, off, n, last)) return -1;
      this.core.regs.set(REG.RDH, nextIndex(r, i));
      i = nextIndex(r, i);
      off += n;
    }
    return i;
  }

  /** MODEL: a null buffer address is not skipped; the DMA goes to bus address 0. */
  private storeOne(q: Queued, r: Ring, i: number, off: number, n: number, last: boolean): boolean {
    const port = this.core.port;
    if (port === null) return false;
    const at = r.base + i * DESC_SIZE;
    let st = port.read(at, this.desc, 0, 8);
    this.core.bus.transfer(8, false);
    if (st !== DmaStatus.OK) return this.fault('descriptor fetch', at, st);
    const buf = readAddr(this.desc, 0);
    st = Number.isNaN(buf) ? DmaStatus.DECODE_ERROR : writeSpan(port, buf, q, off, n);
    if (st !== DmaStatus.OK) return this.fault('buffer write', buf, st);
    writeRxWriteBack(this.wb, 0, {
      length: n,
      csum: last ? q.csum : 0,
      // SDM §3.2.3: errors and checksum status are valid on the EOP descriptor only.
      // MODEL: PIF (passed inexact filter) is never set.
      status: RXD_STAT.DD | (last ? RXD_STAT.EOP | q.status : 0),
      errors: last ? q.errors : 0,
      special: q.special,
    });
    st = port.write(at + 8, this.wb, 0, 8);
    this.core.bus.transfer(8, true);
    return st === DmaStatus.OK || this.fault('descriptor write-back', at + 8, st);
  }

  /**
   * RXT0 at once when RDTR is 0, else through the packet timer capped by RADV; RXDMT0 when the
   * free descriptors fall to the threshold (SDM §3.2.7, §13.4.22 RDMTS).
   */
  private interrupts(before: number, after: number, count: number): void {
    const regs = this.core.regs;
    const rdtr = regs.get(REG.RDTR) & 0xffff;
    if (rdtr === 0) {
      this.timer.cancel();
      this.core.intr.raise(ICR.RXT0);
    } else {
      this.timer.arm(rdtr, regs.get(REG.RADV) & 0xffff);
    }
    const shift = ((regs.get(REG.RCTL) & RCTL.RDMTS_MASK) >>> RCTL.RDMTS_SHIFT) + 1;
    const threshold = count >>> shift;
    if (before > threshold && after <= threshold) this.core.intr.raise(ICR.RXDMT0);
  }

  /**
   * MODEL: after a failed DMA the receive ring stops: the descriptor is not written back (no DD),
   * RDH stays at it, the frame is dropped, later frames wait in the FIFO (and overflow it, MPC)
   * until RCTL.EN is set again or the device is reset. The fault is reported to the machine.
   */
  private fault(what: string, bus: number, st: DmaStatus): boolean {
    this.halted = true;
    this.core.dmaFault('rx', what, bus, st);
    return false;
  }
}

/** DMA of bytes [off, off + n) of the frame followed by its FCS: one write, or two across the seam. */
function writeSpan(port: DmaPort, bus: number, q: Queued, off: number, n: number): DmaStatus {
  const inFrame = Math.max(0, Math.min(n, q.frame.length - off));
  if (inFrame > 0) {
    const st = port.write(bus, q.frame, off, inFrame);
    if (st !== DmaStatus.OK || inFrame === n) return st;
  }
  return port.write(bus + inFrame, q.fcs, off + inFrame - q.frame.length, n - inFrame);
}
