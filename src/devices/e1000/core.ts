/** What the TX and RX engines need from the device: its registers, clock, DMA port, link. */
import type { BusTime } from './bus-time.js';
import type { DmaPort } from '../../machine/bus/dma-port.js';
import type { Clock } from '../../machine/clock/clock.js';
import type { DmaStatus } from '../../machine/events.js';
import type { NetAttachment } from '../net/port.js';
import type { InterruptUnit } from './interrupts.js';
import type { RegFile } from './regfile.js';
import { DLEN_MASK, HEAD_TAIL_MASK } from './regs.js';
import { DESC_SIZE } from './descriptors.js';

export interface E1000Core {
  readonly clock: Clock;
  readonly regs: RegFile;
  readonly intr: InterruptUnit;
  /** The PCI bus time its DMA takes. */
  readonly bus: BusTime;
  /** Null until the bus attaches the device. */
  readonly port: DmaPort | null;
  /** Null while no cable is plugged in. */
  readonly link: NetAttachment | null;
  /** A DMA failed: recorded for the user (the engine stops its ring itself). */
  dmaFault(engine: 'tx' | 'rx', what: string, bus: number, status: DmaStatus): void;
}

/** A descriptor ring as its registers describe it (SDM §3.2.6, §3.4). */
export interface Ring {
  base: number;
  count: number;
  head: number;
  tail: number;
}

const TWO32 = 0x1_0000_0000;

/** Reads the ring registers at bal, bal+4 (BAH), +8 (LEN), +0x10 (H), +0x18 (T). */
export function readRing(regs: RegFile, bal: number): Ring {
  return {
    // Bits 3:0 of the base are ignored: descriptors are 16-byte aligned.
    base: regs.get(bal + 4) * TWO32 + ((regs.get(bal) & ~0xf) >>> 0),
    count: (regs.get(bal + 8) & DLEN_MASK) / DESC_SIZE,
    head: regs.get(bal + 0x10) & HEAD_TAIL_MASK,
    tail: regs.get(bal + 0x18) & HEAD_TAIL_MASK,
  };
}

/** Whether head and tail index real descriptors of a non-empty ring. */
export function ringValid(r: Ring): boolean {
  return r.count > 0 && r.head < r.count && r.tail < r.count;
}

export function nextIndex(r: Ring, i: number): number {
  return i + 1 >= r.count ? 0 : i + 1;
}

/** Descriptors from head up to (not including) tail: the ones the hardware owns. */
export function ringOwned(r: Ring): number {
  return (r.tail - r.head + r.count) % r.count;
}
