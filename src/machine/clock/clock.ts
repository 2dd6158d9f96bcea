/**
 * The discrete-event clock: simulated nanoseconds and a queue of scheduled callbacks, ordered by
 * time and then by the order they were scheduled, so runs are deterministic.
 */
import { ConfigError } from '../../lib/errors.js';

/** Something that must act when simulated time passes (e.g. a store buffer draining). */
export interface TimeListener {
  /** Called before events at `now` run, after time moved forward. */
  onAdvance(now: number): void;
}

interface Pending {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

export class Clock {
  /** Current simulated time in ns; moves only forward. */
  private nowNs = 0;
  private seq = 0;
  private readonly heap: Pending[] = [];
  private readonly listeners: TimeListener[] = [];

  get now(): number {
    return this.nowNs;
  }

  get pending(): number {
    return this.heap.length;
  }

  addTimeListener(l: TimeListener): void {
    this.listeners.push(l);
  }

  /** Schedules `fn` to run `delayNs` from now (0 = after the current event, same time). */
  schedule(delayNs: number, fn: () => void): void {
    if (!(delayNs >= 0) || !Number.isFinite(delayNs)) {
      throw new ConfigError(`clock: cannot schedule ${String(delayNs)} ns ahead (need >= 0)`);
    }
    this.push({ at: this.nowNs + delayNs, seq: this.seq++, fn });
  }

  /** Moves time forward without running events (CPU work that takes time). */
  advance(ns: number): void {
    this.setNow(this.nowNs + ns);
  }

  /** Runs the earliest event; false when the queue is empty. */
  step(): boolean {
    const e = this.pop();
    if (e === undefined) return false;
    this.setNow(e.at);
    e.fn();
    return true;
  }

  /** Runs events until the queue is empty or the next one lies beyond `limitNs` (absolute). */
  run(limitNs = Infinity): number {
    let n = 0;
    for (let top = this.heap[0]; top !== undefined && top.at <= limitNs; top = this.heap[0]) {
      this.step();
      n++;
    }
    if (limitNs !== Infinity && limitNs > this.nowNs) this.setNow(limitNs);
    return n;
  }

  private setNow(t: number): void {
    if (t > this.nowNs) {
      this.nowNs = t;
      for (const l of this.listeners) l.onAdvance(t);
    }
  }

  private push(p: Pending): void {
    const h = this.heap;
    h.push(p);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const hp = h[parent] as Pending;
      if (!before(p, hp)) break;
      h[i] = hp;
      i = parent;
    }
    h[i] = p;
  }

  private pop(): Pending | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && before(h[r] as Pending, h[l] as Pending) ? r : l;
      const hc = h[c] as Pending;
      if (!before(hc, last)) break;
      h[i] = hc;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

function before(a: Pending, b: Pending): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
