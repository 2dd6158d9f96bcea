/**
 * What each side really wrote, per cache line of tracked buffers only: the last bytes a device
 * wrote to RAM (to tell a stale CPU read and a write-back that destroys them), which bytes the CPU
 * has stored since the line was last written back, and the CPU stores still posted in
 * write-combining or store buffers. Lines of untracked memory cost nothing.
 */
import type { DataCache } from '../machine/cache/cache.js';
import type { Cpu } from '../machine/cpu/cpu.js';
import type { SparseRam } from '../machine/memory/ram.js';

/** The shadow of one cache line. */
interface LineShadow {
  /** Bytes the device last wrote, where devMask is 1. */
  readonly dev: Uint8Array;
  readonly devMask: Uint8Array;
  /** Bytes the CPU stored since the line last reached RAM or was discarded. */
  readonly cpuMask: Uint8Array;
}

/** The part of a line a check found wrong: [phys, phys + len). */
export interface Span {
  readonly phys: number;
  readonly len: number;
}

/** A write-back that overwrote device data: the lost bytes and the CPU stores that did it. */
export interface Loss {
  readonly lost: Span;
  /** The CPU's dirty bytes in the line, or null when none were seen (stored before tracking). */
  readonly by: Span | null;
}

export interface ShadowDeps {
  readonly cache: DataCache;
  readonly ram: SparseRam;
  readonly cpus: readonly Cpu[];
}

/** Emptied line shadows kept for reuse at most (the lines of 1 MiB of buffers at 64 bytes). */
const MAX_SPARE = 16384;

export class ShadowTable {
  private readonly lines = new Map<number, LineShadow>();
  /** Posted write-combining stores per line. */
  private readonly wc = new Map<number, number>();
  /** Posted cacheable stores (weakly ordered store buffer) per line. */
  private readonly sb = new Map<number, number>();
  private readonly ls: number;
  private readonly ramBuf: Uint8Array;
  /** Emptied shadows to reuse (devMask and cpuMask all 0). */
  private readonly spare: LineShadow[] = [];

  constructor(private readonly d: ShadowDeps) {
    this.ls = d.cache.lineSize;
    this.ramBuf = new Uint8Array(this.ls);
  }

  /** A device wrote [phys, phys + len) of tracked memory: remember the bytes now in RAM. */
  deviceWrote(phys: number, len: number): void {
    this.eachPiece(phys, len, (line, a, n) => {
      const s = this.shadow(line);
      this.d.ram.read(line * this.ls + a, s.dev, a, n);
      s.devMask.fill(1, a, a + n);
    });
  }

  /** The CPU stores to [phys, phys + len): its bytes supersede the device's. */
  cpuStored(phys: number, len: number): void {
    this.eachPiece(phys, len, (line, a, n) => {
      const s = this.shadow(line);
      s.devMask.fill(0, a, a + n);
      s.cpuMask.fill(1, a, a + n);
    });
  }

  /** Posted stores of the CPU to [phys, phys + len) of tracked memory. */
  posted(buffer: 'wc' | 'store', phys: number, len: number): void {
    const m = buffer === 'wc' ? this.wc : this.sb;
    this.eachPiece(phys, len, (line) => m.set(line, (m.get(line) ?? 0) + 1));
  }

  /** Posted stores reached memory (a 'drain' event): a WC entry drains whole, a store one piece. */
  drained(buffer: 'wc' | 'store', phys: number, len: number): void {
    const m = buffer === 'wc' ? this.wc : this.sb;
    this.eachPiece(phys, len, (line) => {
      const n = buffer === 'wc' ? 0 : (m.get(line) ?? 0) - 1;
      if (n > 0) m.set(line, n);
      else m.delete(line);
    });
  }

  /**
   * Which posted stores a device read of [phys, phys + len) missed: 'wc', 'store' or null. The
   * counts are checked against the CPUs' buffers, which on a profile without them stay empty.
   */
  pendingFor(phys: number, len: number): 'wc' | 'store' | null {
    if (this.wc.size > 0 && !this.d.cpus.some((c) => c.postedStores.wc)) this.wc.clear();
    if (this.sb.size > 0 && !this.d.cpus.some((c) => c.postedStores.stores > 0)) this.sb.clear();
    if (this.wc.size === 0 && this.sb.size === 0) return null;
    let found: 'wc' | 'store' | null = null;
    this.eachPiece(phys, len, (line) => {
      if (this.wc.has(line)) found = 'wc';
      else if (found === null && this.sb.has(line)) found = 'store';
    });
    return found;
  }

  /**
   * A cacheable CPU load of [phys, phys + len) about to be served: the first bytes of it that the
   * cache holds with a value other than what the device last wrote to RAM, or null.
   */
  staleCpuRead(phys: number, len: number): Span | null {
    let bad: Span | null = null;
    this.eachPiece(phys, len, (line, a, n) => {
      const s = this.lines.get(line);
      const at = s === undefined ? -1 : this.d.cache.peekLine(line);
      if (bad !== null || s === undefined || at < 0) return;
      const data = this.d.cache.data;
      for (let i = a; i < a + n; i++) {
        if (s.devMask[i] === 1 && data[at + i] !== s.dev[i]) {
          bad = { phys: line * this.ls + i, len: a + n - i };
          return;
        }
      }
    });
    return bad;
  }

  /**
   * A non-snooping device read [phys, phys + len) from RAM: the first bytes of it that a dirty
   * cache line holds newer, or null.
   */
  staleDeviceRead(phys: number, len: number): Span | null {
    let bad: Span | null = null;
    this.eachPiece(phys, len, (line, a, n) => {
      if (bad !== null || !this.d.cache.state(line * this.ls).dirty) return;
      const at = this.d.cache.peekLine(line);
      this.d.ram.read(line * this.ls, this.ramBuf, 0, this.ls);
      const data = this.d.cache.data;
      for (let i = a; i < a + n; i++) {
        if (data[at + i] !== this.ramBuf[i]) {
          bad = { phys: line * this.ls + i, len: a + n - i };
          return;
        }
      }
    });
    return bad;
  }

  /**
   * A dirty line reached RAM (a 'writeback' event, after the write): device bytes it destroyed,
   * or null. The line's shadow then describes RAM again.
   */
  wroteBack(phys: number): Loss | null {
    const line = Math.floor(phys / this.ls);
    const s = this.lines.get(line);
    if (s === undefined) return null;
    this.d.ram.read(line * this.ls, this.ramBuf, 0, this.ls);
    const lost = span(
      line * this.ls,
      this.ls,
      (i) => s.devMask[i] === 1 && this.ramBuf[i] !== s.dev[i],
    );
    const by = span(line * this.ls, this.ls, (i) => s.cpuMask[i] === 1);
    s.cpuMask.fill(0);
    if (lost === null) return null;
    s.devMask.fill(0);
    return { lost, by };
  }

  /** The CPU discarded [phys, phys + len) from its cache: its unwritten stores are gone. */
  discarded(phys: number, len: number): void {
    this.eachPiece(phys, len, (line) => this.lines.get(line)?.cpuMask.fill(0));
  }

  /** Whether no line has a shadow or posted stores (nothing to forget). */
  get empty(): boolean {
    return this.lines.size === 0 && this.wc.size === 0 && this.sb.size === 0;
  }

  /** Forgets a line no tracked buffer uses any more. */
  forget(line: number): void {
    const s = this.lines.get(line);
    if (s !== undefined) {
      this.lines.delete(line);
      this.recycle(s);
    }
    this.wc.delete(line);
    this.sb.delete(line);
  }

  private shadow(line: number): LineShadow {
    let s = this.lines.get(line);
    if (s === undefined) {
      const ls = this.ls;
      s = this.spare.pop() ?? {
        dev: new Uint8Array(ls),
        devMask: new Uint8Array(ls),
        cpuMask: new Uint8Array(ls),
      };
      this.lines.set(line, s);
    }
    return s;
  }

  /** Keeps a forgotten shadow, emptied, for the next line (a buffer's lines come and go per I/O). */
  private recycle(s: LineShadow): void {
    if (this.spare.length >= MAX_SPARE) return;
    s.devMask.fill(0);
    s.cpuMask.fill(0);
    this.spare.push(s);
  }

  /** fn(line, offset in line, bytes) for each line piece of [phys, phys + len). */
  private eachPiece(
    phys: number,
    len: number,
    fn: (line: number, a: number, n: number) => void,
  ): void {
    const ls = this.ls;
    while (len > 0) {
      const line = Math.floor(phys / ls);
      const a = phys - line * ls;
      const n = Math.min(len, ls - a);
      fn(line, a, n);
      phys += n;
      len -= n;
    }
  }
}

/** The bytes [base + i) where pred(i) holds, first to last, or null. */
function span(base: number, n: number, pred: (i: number) => boolean): Span | null {
  let first = -1;
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (!pred(i)) continue;
    if (first < 0) first = i;
    last = i;
  }
  return first < 0 ? null : { phys: base + first, len: last - first + 1 };
}
