/**
 * The time the 82540EM's DMA takes on its bus: conventional PCI, 32 bits at 33 MHz (the
 * `(PCI:33MHz:32-bit)` the driver prints), 4 bytes a clock once a burst runs, plus the address
 * phase and the target's latency per transaction. One engine at a time owns the bus: a transfer
 * starts when the previous one has finished.
 * MODEL: only descriptor fetches and write-backs are charged; packet data moves in no bus time
 * (a 33 MHz bus could not carry 1 Gbit/s both ways, and the model's links run at line rate). No
 * arbitration with other masters, no retries or wait states beyond a fixed latency per
 * transaction; a transfer's bytes land at its start and its time is charged after it, so what
 * waits for the bus is the next transfer (and the frame's departure), not the bytes themselves.
 */
import type { Clock } from '../../machine/clock/clock.js';

/** One clock at 33 MHz, in ns. */
const CLOCK_NS = 30;
/** Bytes a data phase moves on a 32-bit bus. */
const BYTES_PER_CLOCK = 4;
/** Address phase, turnaround and the target's initial latency: a read waits for memory. */
const READ_SETUP_CLOCKS = 8;
/** Writes are posted by the bridge: only the address phase and a turnaround. */
const WRITE_SETUP_CLOCKS = 2;

export class BusTime {
  private freeAt = 0;

  constructor(private readonly clock: Clock) {}

  /** When the bus is free for the next transfer (never before now). */
  get idleAt(): number {
    return Math.max(this.clock.now, this.freeAt);
  }

  /** Charges a transfer of `bytes`; @returns when it has finished */
  transfer(bytes: number, write: boolean): number {
    const setup = write ? WRITE_SETUP_CLOCKS : READ_SETUP_CLOCKS;
    this.freeAt = this.idleAt + (setup + Math.ceil(bytes / BYTES_PER_CLOCK)) * CLOCK_NS;
    return this.freeAt;
  }

  /** A reset abandons what was under way. */
  reset(): void {
    this.freeAt = 0;
  }
}
