/**
 * The posted-store buffer of a weakly ordered CPU (Arm, PowerPC): cacheable stores wait here for a
 * seeded time and reach the cache in no particular order, unless a barrier drains them in program
 * order. A device may therefore see a doorbell before the descriptor stores that preceded it.
 * Stores to the same line keep their order (per-location coherence holds on every architecture).
 * MODEL: each store's delay is drawn uniformly from [0, maxDrainNs] of the profile; real store
 * buffers drain in an order set by cache misses and interconnect traffic.
 */
import type { Rng } from '../../lib/rng.js';

export type Commit = (phys: number, src: Uint8Array, off: number, len: number) => void;

export class StoreBuffer {
  private readonly phys: Float64Array;
  private readonly lens: Uint16Array;
  private readonly data: Uint8Array;
  /** Simulated time (ns) at which each entry becomes visible on its own. */
  private readonly deadline: Float64Array;
  /** Program order of each entry; 0 = free. */
  private readonly seq: Float64Array;
  private nextSeq = 1;
  private used = 0;

  constructor(
    readonly entries: number,
    private readonly lineSize: number,
    private readonly maxDrainNs: number,
    private readonly rng: Rng,
    private readonly commit: Commit,
  ) {
    this.phys = new Float64Array(entries);
    this.lens = new Uint16Array(entries);
    this.data = new Uint8Array(entries * lineSize);
    this.deadline = new Float64Array(entries);
    this.seq = new Float64Array(entries);
  }

  get isEmpty(): boolean {
    return this.used === 0;
  }

  get pending(): number {
    return this.used;
  }

  /** Posts a store; splits it at line boundaries. `now` is the current simulated time. */
  store(phys: number, src: Uint8Array, off: number, len: number, now: number): void {
    while (len > 0) {
      const inLine = phys & (this.lineSize - 1);
      const n = Math.min(len, this.lineSize - inLine);
      this.post(phys, src, off, n, now);
      phys += n;
      off += n;
      len -= n;
    }
  }

  /** Overlays pending stores onto a load of the same CPU, oldest first so the newest wins. */
  forward(phys: number, dst: Uint8Array, off: number, len: number): void {
    if (this.used === 0) return;
    for (const e of this.inOrder((e) => this.seq[e] as number)) {
      const p = this.phys[e] as number;
      const a = Math.max(phys, p);
      const b = Math.min(phys + len, p + (this.lens[e] as number));
      if (a >= b) continue;
      const src = e * this.lineSize + (a - p);
      dst.set(this.data.subarray(src, src + (b - a)), off + (a - phys));
    }
  }

  /** Commits entries whose time has come, earliest deadline first. */
  drainDue(now: number): void {
    if (this.used === 0) return;
    for (const e of this.inOrder((e) => this.deadline[e] as number)) {
      if ((this.deadline[e] as number) <= now) this.drain(e);
    }
  }

  /**
   * An unordered device-register write races the posted stores on its way to the device: the
   * stores due before it arrives (a seeded transit time) land first, the others after.
   */
  drainBeforeDeviceWrite(now: number): void {
    if (this.used > 0) this.drainDue(now + this.rng.int(0, this.maxDrainNs));
  }

  /** A barrier: commits everything in program order. */
  drainAll(): void {
    if (this.used === 0) return;
    for (const e of this.inOrder((e) => this.seq[e] as number)) this.drain(e);
  }

  private post(phys: number, src: Uint8Array, off: number, n: number, now: number): void {
    if (this.used === this.entries)
      this.drain(this.inOrder((e) => this.deadline[e] as number)[0] as number);
    let due = now + this.rng.int(0, this.maxDrainNs);
    const line = Math.floor(phys / this.lineSize);
    for (let e = 0; e < this.entries; e++) {
      if (this.seq[e] !== 0 && Math.floor((this.phys[e] as number) / this.lineSize) === line) {
        due = Math.max(due, this.deadline[e] as number);
      }
    }
    const e = this.seq.indexOf(0);
    this.phys[e] = phys;
    this.lens[e] = n;
    this.data.set(src.subarray(off, off + n), e * this.lineSize);
    this.deadline[e] = due;
    this.seq[e] = this.nextSeq++;
    this.used++;
  }

  private drain(e: number): void {
    this.seq[e] = 0;
    this.used--;
    this.commit(this.phys[e] as number, this.data, e * this.lineSize, this.lens[e] as number);
  }

  /** Occupied entries sorted by key, ties broken by program order. */
  private inOrder(key: (e: number) => number): number[] {
    const list: number[] = [];
    for (let e = 0; e < this.entries; e++) if (this.seq[e] !== 0) list.push(e);
    return list.sort(
      (a, b) => key(a) - key(b) || (this.seq[a] as number) - (this.seq[b] as number),
    );
  }
}
