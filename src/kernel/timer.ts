/**
 * Kernel timers on the machine clock (kernel/time/timer.c mod_timer, del_timer_sync): one
 * callback, re-armable; a re-arm or delete makes the earlier expiry do nothing.
 * MODEL: expiries are exact simulated nanoseconds, not jiffies.
 */
import type { Clock } from '../machine/clock/clock.js';

export class KernelTimer {
  /** Bumped by every mod/del, so a stale expiry can tell it was superseded. */
  private generation = 0;
  private armed = false;

  constructor(
    private readonly clock: Clock,
    private readonly fn: () => void,
  ) {}

  /** timer_pending. */
  get pending(): boolean {
    return this.armed;
  }

  /** mod_timer(timer, now + delayNs). */
  mod(delayNs: number): void {
    const gen = ++this.generation;
    this.armed = true;
    this.clock.schedule(delayNs, () => {
      if (gen !== this.generation) return;
      this.armed = false;
      this.fn();
    });
  }

  /** del_timer_sync. */
  del(): void {
    this.generation++;
    this.armed = false;
  }
}
