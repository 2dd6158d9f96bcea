/**
 * The Intel 82540EM Gigabit Ethernet controller (e1000): BAR0 registers, EEPROM, PHY, interrupt
 * logic and the TX/RX DMA engines. The device reaches memory only through the DmaPort the bus
 * gives it, raises its INTx line, and talks to the wire through a NetAttachment.
 *
 *   const nic = new E1000({ clock: m.clock, irq: new IrqLine('e1000'), mac });
 *   pciDeviceCreate(m, { ..., bars: [{ index: 0, base, size: PCI_ID.BAR0_SIZE, handler: nic.mmio }] });
 *   nic.attachPort(dev.dmaPort); nic.connectLink(attachment); link side calls nic.receive(frame)
 */
import type { DmaPort } from '../../machine/bus/dma-port.js';
import type { IrqLine } from '../../machine/bus/irq.js';
import type { Clock } from '../../machine/clock/clock.js';
import type { DmaStatus } from '../../machine/events.js';
import type { MmioHandler } from '../../machine/memory/physmap.js';
import { ConfigError } from '../../lib/errors.js';
import type { NetAttachment, NetReceiver } from '../net/port.js';
import type { E1000Core } from './core.js';
import { BusTime } from './bus-time.js';
import { Eeprom, buildEeprom } from './eeprom.js';
import { InterruptUnit } from './interrupts.js';
import { Phy } from './phy.js';
import { RegFile } from './regfile.js';
import {
  CTRL,
  DLEN_MASK,
  HEAD_TAIL_MASK,
  ICR,
  MDIC,
  RAH,
  RAH_AV,
  RAL,
  RCTL,
  REG,
  STATUS,
  TCTL,
} from './regs.js';
import { RxEngine } from './rx.js';
import { isStat, readStat } from './stats.js';
import { TxEngine } from './tx.js';

export { PCI_ID } from './regs.js';

export interface E1000Config {
  readonly clock: Clock;
  readonly irq: IrqLine;
  /** The station address stored in the EEPROM (6 bytes). */
  readonly mac: Uint8Array;
  /** For fault records; default "e1000". */
  readonly name?: string;
}

/** A DMA the device could not complete (the engine stopped its ring). */
export interface E1000DmaFault {
  readonly t: number;
  readonly engine: 'tx' | 'rx';
  readonly what: string;
  readonly bus: number;
  readonly status: DmaStatus;
}

/** Registers whose narrow writes must not merge with the current value (set/clear semantics). */
const ACTION_REGS = new Set<number>([REG.ICR, REG.ICS, REG.IMS, REG.IMC]);

/** Reset values not derived from state (SDM §13.4; QEMU's choices where the SDM defers to EEPROM). */
const RESET_VALUES: readonly (readonly [number, number])[] = [
  // MODEL: as QEMU: link set up, 1000 Mb/s, SDP0/SDP2 high (normally loaded from the EEPROM).
  [REG.CTRL, CTRL.SLU | CTRL.SPD_1000 | CTRL.SWDPIN0 | CTRL.SWDPIN2],
  // RX 48 KiB, TX 16 KiB of the 64 KiB packet buffer.
  [REG.PBA, 0x00100030],
  [REG.VET, 0x8100],
  [REG.LEDCTL, 0x07068302],
];

export class E1000 implements NetReceiver, E1000Core {
  readonly name: string;
  readonly clock: Clock;
  readonly regs = new RegFile();
  readonly intr: InterruptUnit;
  readonly bus: BusTime;
  readonly eeprom: Eeprom;
  readonly phy = new Phy();
  /** BAR0: the 128 KiB register window. */
  readonly mmio: MmioHandler;
  /** Failed DMAs, oldest first. */
  readonly faults: E1000DmaFault[] = [];
  private dmaPort: DmaPort | null = null;
  private attachment: NetAttachment | null = null;
  private readonly tx: TxEngine;
  private readonly rx: RxEngine;

  constructor(cfg: E1000Config) {
    if (cfg.mac.length !== 6) {
      throw new ConfigError(`e1000: MAC address must be 6 bytes, not ${cfg.mac.length}`);
    }
    this.name = cfg.name ?? 'e1000';
    this.clock = cfg.clock;
    this.intr = new InterruptUnit(cfg.clock, cfg.irq);
    this.bus = new BusTime(cfg.clock);
    this.eeprom = new Eeprom(buildEeprom(cfg.mac));
    this.tx = new TxEngine(this);
    this.rx = new RxEngine(this);
    this.mmio = {
      read: (offset, width) => this.mmioRead(offset, width),
      write: (offset, width, value) => {
        this.mmioWrite(offset, width, value);
      },
    };
    this.reset();
  }

  get port(): DmaPort | null {
    return this.dmaPort;
  }

  get link(): NetAttachment | null {
    return this.attachment;
  }

  /** The ring stopped after a failed DMA (see TxEngine / RxEngine fault notes). */
  get txStopped(): boolean {
    return this.tx.stopped;
  }

  get rxStopped(): boolean {
    return this.rx.stopped;
  }

  /** Frames waiting in the RX FIFO for descriptors. */
  get rxQueued(): number {
    return this.rx.queued;
  }

  /** The bus-master port the PCI layer created for this function. */
  attachPort(port: DmaPort): void {
    this.dmaPort = port;
  }

  /** Plugs (or with null unplugs) the cable; a change of link raises LSC (SDM §3.2.7). */
  connectLink(att: NetAttachment | null): void {
    const was = this.attachment !== null;
    this.attachment = att;
    this.phy.setLink(att !== null);
    if (was !== (att !== null)) this.intr.raise(ICR.LSC);
    if (att !== null) this.tx.kick();
  }

  /** NetReceiver: the link delivers a frame (no FCS) at its arrival time. */
  receive(frame: Uint8Array): void {
    this.rx.receive(frame);
  }

  dmaFault(engine: 'tx' | 'rx', what: string, bus: number, status: DmaStatus): void {
    this.faults.push({ t: this.clock.now, engine, what, bus, status });
  }

  /** Global reset (CTRL.RST, SDM §13.4.1): registers to defaults, MAC reloaded from the EEPROM. */
  reset(): void {
    this.bus.reset();
    this.regs.clear();
    for (const [off, v] of RESET_VALUES) this.regs.set(off, v);
    const w = this.eeprom.words;
    this.regs.set(RAL(0), ((w[1] ?? 0) << 16) | (w[0] ?? 0));
    this.regs.set(RAH(0), (w[2] ?? 0) | RAH_AV);
    this.intr.reset();
    this.eeprom.reset();
    this.phy.reset();
    this.tx.reset();
    this.rx.reset();
  }

  // ---- MMIO --------------------------------------------------------------------------------

  /**
   * All registers are 32 bits (SDM §13). MODEL: a narrower read performs the full register read,
   * side effects included, and returns the addressed bytes; a narrower write merges into the
   * current value (into 0 for the set/clear registers) and performs a full write.
   */
  private mmioRead(offset: number, width: 1 | 2 | 4): number {
    const v = this.readReg(offset & ~3);
    if (width === 4) return v >>> 0;
    return (v >>> ((offset & 3) * 8)) & (width === 1 ? 0xff : 0xffff);
  }

  private mmioWrite(offset: number, width: 1 | 2 | 4, value: number): void {
    const reg = offset & ~3;
    if (width === 4) {
      this.writeReg(reg, value >>> 0);
      return;
    }
    const shift = (offset & 3) * 8;
    const mask = (width === 1 ? 0xff : 0xffff) << shift;
    const cur = ACTION_REGS.has(reg) ? 0 : this.regs.get(reg);
    this.writeReg(reg, ((cur & ~mask) | ((value << shift) & mask)) >>> 0);
  }

  private readReg(off: number): number {
    switch (off) {
      case REG.STATUS:
        return this.status();
      case REG.EECD:
        return this.eeprom.eecdRead();
      case REG.ICR:
        return this.intr.readClear();
      case REG.ICS:
        return this.intr.icr;
      case REG.IMS:
        return this.intr.ims;
      case REG.IMC:
        return 0;
      default:
        return isStat(off) ? readStat(this.regs, off) : this.regs.get(off);
    }
  }

  /** STATUS (SDM §13.4.2): full duplex at 1000 Mb/s, LU while a cable is plugged in. */
  private status(): number {
    const lu = this.attachment !== null ? STATUS.LU : 0;
    // ASDV = 10b: the speed detected at the last link-up was 1000 Mb/s.
    return STATUS.FD | STATUS.SPEED_1000 | (STATUS.ASDV & 0x200) | lu;
  }

  private writeReg(off: number, v: number): void {
    switch (off) {
      case REG.CTRL:
        this.writeCtrl(v);
        break;
      case REG.STATUS:
        break; // read-only
      case REG.EECD:
        this.eeprom.eecdWrite(v);
        break;
      case REG.EERD:
        this.regs.set(REG.EERD, this.eeprom.eerdWrite(v));
        break;
      case REG.MDIC:
        this.writeMdic(v);
        break;
      case REG.ICR:
        this.intr.clear(v);
        break;
      case REG.ICS:
        this.intr.raise(v);
        break;
      case REG.IMS:
        this.intr.setMask(v);
        break;
      case REG.IMC:
        this.intr.clearMask(v);
        break;
      default:
        this.writeDataReg(off, v);
        break;
    }
  }

  private writeDataReg(off: number, v: number): void {
    switch (off) {
      case REG.ITR:
        this.writeItr(v);
        break;
      case REG.RCTL:
        this.writeRctl(v);
        break;
      case REG.TCTL:
        this.writeTctl(v);
        break;
      case REG.RDLEN:
      case REG.TDLEN:
        this.regs.set(off, v & DLEN_MASK);
        break;
      case REG.RDH:
      case REG.TDH:
        this.regs.set(off, v & HEAD_TAIL_MASK);
        break;
      case REG.RDT:
        this.writeRdt(v);
        break;
      case REG.TDT:
        this.writeTdt(v);
        break;
      case REG.RDTR:
        this.regs.set(REG.RDTR, this.rx.rdtrWritten(v));
        break;
      default:
        // MODEL: statistics ignore writes; other offsets are plain storage.
        if (!isStat(off)) this.regs.set(off, v);
    }
  }

  private writeCtrl(v: number): void {
    if ((v & CTRL.RST) !== 0) {
      this.reset();
      return;
    }
    if ((v & CTRL.PHY_RST) !== 0) this.phy.reset();
    this.regs.set(REG.CTRL, v);
  }

  private writeMdic(v: number): void {
    const r = this.phy.mdic(v);
    this.regs.set(REG.MDIC, r);
    if ((v & MDIC.INT_EN) !== 0) this.intr.raise(ICR.MDAC);
  }

  private writeItr(v: number): void {
    this.regs.set(REG.ITR, v & 0xffff);
    this.intr.itr = v & 0xffff;
  }

  private writeRctl(v: number): void {
    const was = this.regs.get(REG.RCTL);
    this.regs.set(REG.RCTL, v);
    if ((was & RCTL.EN) === 0 && (v & RCTL.EN) !== 0) this.rx.enable();
  }

  private writeTctl(v: number): void {
    const was = this.regs.get(REG.TCTL);
    this.regs.set(REG.TCTL, v);
    if ((was & TCTL.EN) === 0 && (v & TCTL.EN) !== 0) this.tx.enable();
    else this.tx.kick();
  }

  private writeRdt(v: number): void {
    this.regs.set(REG.RDT, v & HEAD_TAIL_MASK);
    this.rx.kick();
  }

  private writeTdt(v: number): void {
    this.regs.set(REG.TDT, v & HEAD_TAIL_MASK);
    this.tx.kick();
  }
}
