/**
 * The 8254x interrupt logic (SDM §13.4.17-21, §3.2.7, §3.4.1): ICR collects causes, IMS masks
 * them, the INTx line is asserted while (ICR & IMS) != 0, reading ICR clears it. ITR enforces a
 * minimum gap between assertions; RDTR/RADV and TIDV/TADV delay the RX and TX causes.
 */
import type { IrqLine } from '../../machine/bus/irq.js';
import type { Clock } from '../../machine/clock/clock.js';
import { UNIT } from './regs.js';

export class InterruptUnit {
  /** Pending causes (ICR). */
  icr = 0;
  /** Enabled causes (IMS). */
  ims = 0;
  /** ITR interval in 256 ns units (bits 15:0). */
  itr = 0;
  private lastAssert = -Infinity;
  /** A throttled assertion is scheduled; the token voids it after a reset. */
  private held = false;
  private token = 0;

  constructor(
    private readonly clock: Clock,
    private readonly irq: IrqLine,
  ) {}

  /** Sets causes (hardware events and ICS writes). */
  raise(bits: number): void {
    if (bits === 0) return;
    this.icr = (this.icr | bits) >>> 0;
    this.update();
  }

  /** ICR read: returns the causes and clears them (SDM §13.4.17). */
  readClear(): number {
    const v = this.icr;
    this.icr = 0;
    this.update();
    return v;
  }

  /** ICR write: clears the written bits. */
  clear(bits: number): void {
    this.icr = (this.icr & ~bits) >>> 0;
    this.update();
  }

  setMask(bits: number): void {
    this.ims = (this.ims | bits) >>> 0;
    this.update();
  }

  clearMask(bits: number): void {
    this.ims = (this.ims & ~bits) >>> 0;
    this.update();
  }

  reset(): void {
    this.icr = 0;
    this.ims = 0;
    this.itr = 0;
    this.lastAssert = -Infinity;
    this.held = false;
    this.token++;
    this.irq.set(false);
  }

  /**
   * Drives the line. A new assertion waits until ITR * 256 ns have passed since the previous one
   * (SDM §13.4.18); deassertion is immediate.
   * MODEL: the gap is measured from the previous assertion of the line, not from the moment the
   * hardware's internal interval counter was last reloaded.
   */
  private update(): void {
    if ((this.icr & this.ims) === 0) {
      this.irq.set(false);
      return;
    }
    if (this.irq.asserted || this.held) return;
    const earliest = this.lastAssert + (this.itr & 0xffff) * UNIT.ITR_NS;
    const now = this.clock.now;
    if (now >= earliest) {
      this.lastAssert = now;
      this.irq.set(true);
      return;
    }
    this.held = true;
    const token = this.token;
    this.clock.schedule(earliest - now, () => {
      if (token !== this.token) return;
      this.held = false;
      this.update();
    });
  }
}

/**
 * A delayed interrupt cause with a relative timer (RDTR / TIDV: restarted by every event) and an
 * absolute timer (RADV / TADV: started by the first event, never restarted); whichever expires
 * first fires the cause and stops both (SDM §3.2.7.1, §3.4.1).
 * One wake-up is scheduled at a time, at the earliest deadline known when it was set: a restart
 * that moves the deadline later leaves it alone, and it sets the next one when it finds the
 * deadline not yet reached (a timer restarted for every packet costs one event, not two).
 */
export class DelayTimer {
  private relDue = Infinity;
  private absDue = Infinity;
  /** When the scheduled wake-up runs; Infinity when none is scheduled. */
  private wakeAt = Infinity;

  constructor(
    private readonly clock: Clock,
    private readonly fire: () => void,
  ) {}

  get pending(): boolean {
    return this.relDue !== Infinity;
  }

  /** An event happened; delays in 1.024 µs units (abs 0 = no absolute limit). */
  arm(rel: number, abs: number): void {
    const now = this.clock.now;
    this.relDue = now + rel * UNIT.DELAY_NS;
    if (abs !== 0 && this.absDue === Infinity) this.absDue = now + abs * UNIT.DELAY_NS;
    const due = Math.min(this.relDue, this.absDue);
    if (due < this.wakeAt) this.wake(due);
  }

  /** Fires now if armed (RDTR.FPD, or an undelayed event of the same kind). */
  flush(): void {
    if (!this.pending) return;
    this.cancel();
    this.fire();
  }

  /** Stops both timers; a scheduled wake-up finds nothing due and ends. */
  cancel(): void {
    this.relDue = Infinity;
    this.absDue = Infinity;
  }

  private wake(at: number): void {
    this.wakeAt = at;
    this.clock.schedule(at - this.clock.now, () => {
      // A wake-up replaced by an earlier one does nothing: that one took over.
      if (at !== this.wakeAt) return;
      this.wakeAt = Infinity;
      const due = Math.min(this.relDue, this.absDue);
      if (due === Infinity) return;
      if (this.clock.now >= due) this.flush();
      else this.wake(due);
    });
  }
}
