/**
 * A write-back, write-allocate, set-associative data cache whose lines hold the bytes, shared by
 * all CPUs (one level, so CPU-to-CPU coherence is trivially kept). Devices that snoop see dirty
 * lines; devices that do not see only RAM, which is how stale data becomes real.
 *
 * MODEL: one cache level (real CPUs have two or three, with the same visible effect on DMA:
 * dirty data sits above RAM until written back); exact LRU replacement; no prefetching.
 *
 * State lives in flat typed arrays indexed by slot = set * ways + way (DESIGN.md "Performance").
 * The bytes are laid out way-major instead (`data` offset (way * nSets + set) * lineSize), so
 * consecutive lines held in one way are consecutive in `data` and a CPU copy of a run of them is
 * one block copy. A bit per line of memory says which lines are resident (a snoop filter, see
 * presence.ts), so device snoops and cache maintenance search the sets only for resident lines.
 */
import type { PhysAddr } from '../../lib/addr.js';
import { ConfigError } from '../../lib/errors.js';
import type { Clock } from '../clock/clock.js';
import type { EventBus } from '../events.js';
import type { SparseRam } from '../memory/ram.js';
import { LinePresence } from './presence.js';

export interface CacheGeometry {
  /** Total bytes of data. */
  readonly size: number;
  readonly ways: number;
  readonly lineSize: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  /** Dirty lines written to RAM, for any cause. */
  writebacks: number;
  evictions: number;
  linesCleaned: number;
  linesInvalidated: number;
}

/** Largest line size modelled. */
const MAX_LINE = 4096;
const EMPTY = -1;
/** Copies of up to this many bytes go element by element: cheaper than a subarray view. */
const SMALL_COPY = 16;

export class DataCache {
  readonly lineSize: number;
  readonly ways: number;
  readonly nSets: number;
  readonly stats: CacheStats = {
    hits: 0,
    misses: 0,
    writebacks: 0,
    evictions: 0,
    linesCleaned: 0,
    linesInvalidated: 0,
  };
  /** Line data, `lineSize` bytes per slot, at `at[slot]` (way-major). */
  readonly data: Uint8Array;
  readonly view: DataView;
  /** Line number (phys / lineSize) held by each slot, or EMPTY. */
  private readonly tags: Float64Array;
  /** Offset in `data` of each slot's bytes. */
  private readonly at: Int32Array;
  private readonly dirty: Uint8Array;
  /** Last-use stamp per slot, for LRU replacement: from 1 up, 0 for an empty slot. */
  private readonly stamp: Float64Array;
  private tick = 0;
  /** The line of the most recent CPU access and its slot: a hit on it needs no tag search. */
  private mruLine = EMPTY;
  private mruSlot = 0;
  private readonly setMask: number;
  private readonly lineShift: number;
  private readonly present: LinePresence;
  /** Write-backs waiting for the end of a cpuCopy run: data[wbAt, +wbLen) -> RAM at wbPhys. */
  private wbAt = 0;
  private wbPhys = 0;
  private wbLen = 0;
  /** Line fills waiting for the end of a cpuCopy run: RAM at fillPhys -> data[fillAt, +fillLen). */
  private fillAt = 0;
  private fillPhys = 0;
  private fillLen = 0;

  constructor(
    geo: CacheGeometry,
    private readonly ram: SparseRam,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {
    const nLines = geo.size / geo.lineSize;
    const nSets = nLines / geo.ways;
    if (!isPow2(geo.lineSize) || !isPow2(geo.ways) || !Number.isInteger(nSets) || !isPow2(nSets)) {
      throw new ConfigError(
        `cache: size ${geo.size} / ways ${geo.ways} / line ${geo.lineSize} must give a power-of-two number of sets (each a power of two)`,
      );
    }
    if (geo.lineSize > MAX_LINE)
      throw new ConfigError(`cache: line size ${geo.lineSize} above ${MAX_LINE}`);
    this.lineSize = geo.lineSize;
    this.ways = geo.ways;
    this.nSets = nSets;
    this.setMask = nSets - 1;
    this.lineShift = Math.log2(geo.lineSize);
    this.present = new LinePresence(this.lineShift);
    this.tags = new Float64Array(nLines).fill(EMPTY);
    this.dirty = new Uint8Array(nLines);
    this.stamp = new Float64Array(nLines);
    this.data = new Uint8Array(nLines * geo.lineSize);
    this.at = new Int32Array(nLines);
    for (let s = 0; s < nLines; s++)
      this.at[s] = ((s % geo.ways) * nSets + Math.floor(s / geo.ways)) * geo.lineSize;
    this.view = new DataView(this.data.buffer);
  }

  /** Slot holding `line`, or -1. Does not count as a use. */
  find(line: number): number {
    const tags = this.tags;
    const base = (line & this.setMask) * this.ways;
    for (let s = base, end = base + this.ways; s < end; s++) if (tags[s] === line) return s;
    return -1;
  }

  /**
   * Offset in `data` of `line` if it is resident, counted as a hit and a use; -1 on a miss
   * (nothing counted: the caller takes the slow path). The CPU's fast path.
   */
  hit(line: number, write: boolean): number {
    if (line === this.mruLine) {
      // The previous access was this line, so it is already the most recently used of its set.
      this.stats.hits++;
      if (write) this.dirty[this.mruSlot] = 1;
      return this.at[this.mruSlot] as number;
    }
    const tags = this.tags;
    const base = (line & this.setMask) * this.ways;
    for (let s = base, end = base + this.ways; s < end; s++) {
      if (tags[s] === line) {
        this.stats.hits++;
        this.stamp[s] = ++this.tick;
        if (write) this.dirty[s] = 1;
        this.mruLine = line;
        this.mruSlot = s;
        return this.at[s] as number;
      }
    }
    return -1;
  }

  /** Slot holding the line of `phys` for a CPU access, filling it on a miss. */
  access(line: number, write: boolean): number {
    let s = this.find(line);
    if (s >= 0) this.stats.hits++;
    else {
      this.stats.misses++;
      s = this.fill(line, false);
    }
    this.stamp[s] = ++this.tick;
    if (write) this.dirty[s] = 1;
    this.mruLine = line;
    this.mruSlot = s;
    return s;
  }

  /**
   * A cacheable CPU load of [phys, phys+len) into dst[off..]: line by line, each counted as
   * access() counts it (a hit, or a miss that fills), with the bytes of consecutive lines that sit
   * in consecutive slots (a "run") copied as one block. See cpuCopy.
   */
  cpuRead(phys: number, dst: Uint8Array, off: number, len: number): void {
    this.cpuCopy(phys, dst, off, len, false);
  }

  /**
   * A cacheable CPU store of src[off..off+len) at `phys`, counted as access() counts it. A store
   * that covers a whole line that misses does not read the line from RAM first: every byte of
   * it is overwritten, so the resulting state is the same (the miss and any eviction are counted
   * and reported as before).
   */
  cpuWrite(phys: number, src: Uint8Array, off: number, len: number): void {
    this.cpuCopy(phys, src, off, len, true);
  }

  /**
   * The line loop of cpuRead / cpuWrite. Without an observer, the byte copies of a run wait until
   * the run ends, and so do the misses' RAM traffic: the writes of dirty victims, then the reads
   * filling their slots (each as one block where lines and slots follow on), so a victim's bytes
   * leave before its slot is refilled. This is safe because a run never wraps past set 0, so its
   * lines are in distinct sets: nothing later in the run evicts, refills or reads from RAM a line
   * or slot whose copy is still pending. With an observer listening every copy, write-back and
   * fill happens at once, in line order, as it would line by line.
   */
  private cpuCopy(phys: number, buf: Uint8Array, off: number, len: number, write: boolean): void {
    if (len <= 0) return;
    const ls = this.lineSize;
    const tags = this.tags;
    const stamp = this.stamp;
    const dirty = this.dirty;
    const slotAt = this.at;
    const setMask = this.setMask;
    const ways = this.ways;
    const stats = this.stats;
    const present = this.present;
    const defer = !this.events.on;
    let line = phys < 0x8000_0000 ? phys >>> this.lineShift : Math.floor(phys / ls);
    let inLine = phys - line * ls;
    // The pending run: data[runAt, runAt + runLen) <-> buf[runOff, runOff + runLen), its last line
    // in slot `last`.
    let runAt = 0;
    let runOff = off;
    let runLen = 0;
    let last = -1;
    while (len > 0) {
      const n = len < ls - inLine ? len : ls - inLine;
      const set = line & setMask;
      if (set === 0 && runLen > 0) {
        this.endRun(buf, runOff, runAt, runLen, write);
        runLen = 0;
      }
      let s = -1;
      if (line === this.mruLine) {
        s = this.mruSlot;
        stats.hits++;
      } else {
        // Inside a run the line is most likely in the same way as the previous line.
        // Otherwise the presence bit tells a miss without searching the set.
        if (runLen > 0 && tags[last + ways] === line) s = last + ways;
        else if (present.has(line)) {
          for (let t = set * ways, e = t + ways; t < e; t++) {
            if (tags[t] === line) {
              s = t;
              break;
            }
          }
        }
        if (s >= 0) stats.hits++;
        else {
          stats.misses++;
          s = this.fill(line, write && n === ls, defer);
        }
        stamp[s] = ++this.tick;
        this.mruLine = line;
        this.mruSlot = s;
      }
      if (write) dirty[s] = 1;
      const at = (slotAt[s] as number) + inLine;
      if (runLen > 0 && at === runAt + runLen) runLen += n;
      else {
        if (runLen > 0) this.endRun(buf, runOff, runAt, runLen, write);
        runAt = at;
        runOff = off;
        runLen = n;
      }
      last = s;
      if (!defer) {
        this.endRun(buf, runOff, runAt, runLen, write);
        runLen = 0;
      }
      off += n;
      len -= n;
      line++;
      inLine = 0;
      // Whole lines hitting one set on in the same way extend the run without a search (the
      // slot after the last set is past the arrays, so this stops where a run must).
      if (defer && len >= ls && tags[s + ways] === line) {
        let tick = this.tick;
        let k = s;
        do {
          k += ways;
          stamp[k] = ++tick;
          if (write) dirty[k] = 1;
          line++;
          len -= ls;
        } while (len >= ls && tags[k + ways] === line);
        const lines = (k - s) / ways;
        const bytes = lines * ls;
        stats.hits += lines;
        runLen += bytes;
        off += bytes;
        this.tick = tick;
        this.mruLine = line - 1;
        this.mruSlot = k;
        last = k;
      }
    }
    if (runLen > 0 || this.wbLen > 0 || this.fillLen > 0)
      this.endRun(buf, runOff, runAt, runLen, write);
  }

  /**
   * Ends a run: the pending write-backs go to RAM and the pending fills come in, then
   * buf[off, off+n) is copied into data[at..] (write) or data[at, at+n) into buf[off..].
   */
  private endRun(buf: Uint8Array, off: number, at: number, n: number, write: boolean): void {
    this.flushFills();
    const data = this.data;
    if (n <= SMALL_COPY) {
      if (write) for (let i = 0; i < n; i++) data[at + i] = buf[off + i] as number;
      else for (let i = 0; i < n; i++) buf[off + i] = data[at + i] as number;
    } else if (write) data.set(buf.subarray(off, off + n), at);
    else buf.set(data.subarray(at, at + n), off);
  }

  /** True if the line holding `phys` is resident; `dirty` says whether it is dirty. */
  state(phys: number): { present: boolean; dirty: boolean } {
    const s = this.find(Math.floor(phys / this.lineSize));
    return { present: s >= 0, dirty: s >= 0 && this.dirty[s] === 1 };
  }

  /**
   * Offset in `data` of resident `line`, or -1. A look only: no LRU stamp, statistic, MRU line,
   * fill or event changes, so checkers can compare a line's bytes without disturbing the cache.
   */
  peekLine(line: number): number {
    const s = this.find(line);
    return s < 0 ? -1 : (this.at[s] as number);
  }

  /**
   * The bytes a cacheable CPU load of [phys, phys+len) would get from this cache level — each
   * line's cached bytes if resident, else RAM's — into dst[off..], changing nothing (see
   * peekLine). Stores still posted in a CPU's store or write-combining buffer are not included.
   */
  peek(phys: number, dst: Uint8Array, off: number, len: number): void {
    const ls = this.lineSize;
    while (len > 0) {
      const line = Math.floor(phys / ls);
      const inLine = phys - line * ls;
      const n = Math.min(len, ls - inLine);
      const at = this.peekLine(line);
      if (at < 0) this.ram.read(phys, dst, off, n);
      else dst.set(this.data.subarray(at + inLine, at + inLine + n), off);
      phys += n;
      off += n;
      len -= n;
    }
  }

  /** Writes dirty lines of [phys, phys+len) back to RAM; they stay resident. Returns lines cleaned. */
  clean(phys: number, len: number): number {
    return this.forEachResident(
      phys,
      len,
      (s, line) => {
        if (this.dirty[s] === 0) return false;
        this.writeBack(s, line, 'clean');
        return true;
      },
      'linesCleaned',
    );
  }

  /** Discards the lines of [phys, phys+len) without writing them back. Returns lines dropped. */
  invalidate(phys: number, len: number): number {
    return this.forEachResident(
      phys,
      len,
      (s, line) => {
        this.drop(s, line);
        return true;
      },
      'linesInvalidated',
    );
  }

  /** Writes back dirty lines of the range, then discards all of its lines. */
  cleanInvalidate(phys: number, len: number): number {
    return this.forEachResident(
      phys,
      len,
      (s, line) => {
        if (this.dirty[s] === 1) this.writeBack(s, line, 'clean');
        this.drop(s, line);
        return true;
      },
      'linesInvalidated',
    );
  }

  /**
   * A coherent device reads [phys, phys+len) into dst: RAM, overlaid by dirty cached lines
   * (the dirty data are supplied by the cache, as a snoop hit in Modified state does). RAM is
   * read only between the dirty lines, so a buffer the CPU has just written is copied once.
   * Resident lines come in runs, one set on in the same way (as cpuCopy fills them), whose bytes
   * are consecutive in `data`: each run of dirty lines is one block copy.
   */
  snoopRead(phys: number, dst: Uint8Array, off: number, len: number): void {
    const present = this.present;
    if (present.lines === 0 || len <= 0) {
      this.ram.read(phys, dst, off, len);
      return;
    }
    const ls = this.lineSize;
    const tags = this.tags;
    const dirty = this.dirty;
    const ways = this.ways;
    const last = phys + len;
    const end = Math.floor((last - 1) / ls) + 1;
    /** dst holds the bytes of [phys, ramFrom). */
    let ramFrom = phys;
    let line = present.next(Math.floor(phys / ls), end);
    let s = line < end ? this.find(line) : -1;
    while (line < end) {
      // Lines line..l, in slots s, s + ways, ..., k, all dirty or all clean.
      const d = dirty[s] === 1;
      let l = line;
      let k = s;
      while (l + 1 < end && tags[k + ways] === l + 1 && (dirty[k + ways] === 1) === d) {
        k += ways;
        l++;
      }
      if (d) {
        const a = phys > line * ls ? phys : line * ls;
        const b = last < (l + 1) * ls ? last : (l + 1) * ls;
        if (a > ramFrom) this.ram.read(ramFrom, dst, off + (ramFrom - phys), a - ramFrom);
        this.copyOut((this.at[s] as number) + (a - line * ls), dst, off + (a - phys), b - a);
        ramFrom = b;
      }
      // The next resident line: one set on in the same way, else from the presence bits.
      if (l + 1 < end && tags[k + ways] === l + 1) {
        line = l + 1;
        s = k + ways;
      } else {
        line = present.next(l + 1, end);
        if (line < end) s = this.find(line);
      }
    }
    if (last > ramFrom) this.ram.read(ramFrom, dst, off + (ramFrom - phys), last - ramFrom);
  }

  /** data[at, at + n) into dst[to..]. */
  private copyOut(at: number, dst: Uint8Array, to: number, n: number): void {
    const data = this.data;
    if (n <= SMALL_COPY) for (let i = 0; i < n; i++) dst[to + i] = data[at + i] as number;
    else dst.set(data.subarray(at, at + n), to);
  }

  /**
   * A coherent device is about to write [phys, phys+len): dirty lines are written back first (so
   * the bytes the device does not overwrite survive), then every copy is invalidated.
   */
  snoopWrite(phys: number, len: number): void {
    const present = this.present;
    if (present.lines === 0 || len <= 0) return;
    const ls = this.lineSize;
    const end = Math.floor((phys + len - 1) / ls) + 1;
    for (let line = present.next(Math.floor(phys / ls), end); line < end;) {
      const s = this.find(line);
      if (this.dirty[s] === 1) this.writeBack(s, line, 'snoop');
      this.drop(s, line);
      line = present.next(line + 1, end);
    }
  }

  /** Number of resident lines (for reports and tests). */
  get residentLines(): number {
    return this.present.lines;
  }

  /**
   * Puts `line` in the free or least recently used way of its set, evicting (and writing back)
   * the old line. `whole`: the caller overwrites all of the line's bytes at once, so its old
   * bytes are not read from RAM (the same state results). `defer` (from cpuCopy): a dirty victim's
   * bytes go to RAM, and the line's bytes come in, when cpuCopy's run ends (see cpuCopy).
   */
  private fill(line: number, whole: boolean, defer = false): number {
    const tags = this.tags;
    const stamp = this.stamp;
    const base = (line & this.setMask) * this.ways;
    // An empty slot's stamp is 0, below every resident line's: the first one is the victim.
    let victim = base;
    for (let s = base + 1, end = base + this.ways; s < end; s++)
      if ((stamp[s] as number) < (stamp[victim] as number)) victim = s;
    const old = this.tags[victim] as number;
    if (old !== EMPTY) {
      this.stats.evictions++;
      if (this.dirty[victim] === 1) {
        if (defer) this.deferWriteBack(victim, old);
        else this.writeBack(victim, old, 'evict');
      }
      this.drop(victim, old);
    }
    const phys = line * this.lineSize;
    if (!whole) {
      if (defer) this.deferFill(victim, phys);
      else this.ram.read(phys, this.data, this.at[victim] as number, this.lineSize);
    }
    tags[victim] = line;
    this.dirty[victim] = 0;
    this.present.add(line);
    return victim;
  }

  /**
   * writeBack(s, line, 'evict') with no observer, whose RAM write waits in the pending block
   * (cpuCopy's endRun), merged with it where slot and line both follow on.
   */
  private deferWriteBack(s: number, line: number): void {
    const ls = this.lineSize;
    const at = this.at[s] as number;
    const phys = line * ls;
    if (this.wbLen > 0 && (at !== this.wbAt + this.wbLen || phys !== this.wbPhys + this.wbLen))
      this.flushWriteBacks();
    if (this.wbLen === 0) {
      this.wbAt = at;
      this.wbPhys = phys;
    }
    this.wbLen += ls;
    this.dirty[s] = 0;
    this.stats.writebacks++;
  }

  /**
   * fill's RAM read with no observer, waiting in the pending block (cpuCopy's endRun), merged
   * with it where the slot follows on. The pending fills are of lines one cpuCopy met since its
   * last flush: consecutive lines in distinct sets (it flushes at set 0). So a slot one set on in
   * the same way holds the next line, and the RAM bytes follow on too.
   */
  private deferFill(s: number, phys: number): void {
    const at = this.at[s] as number;
    if (this.fillLen > 0 && at !== this.fillAt + this.fillLen) this.flushFills();
    if (this.fillLen === 0) {
      this.fillAt = at;
      this.fillPhys = phys;
    }
    this.fillLen += this.lineSize;
  }

  private flushWriteBacks(): void {
    if (this.wbLen === 0) return;
    this.ram.write(this.wbPhys, this.data, this.wbAt, this.wbLen);
    this.wbLen = 0;
  }

  /** The pending fills, after the pending write-backs (whose bytes may sit in the slots filled). */
  private flushFills(): void {
    this.flushWriteBacks();
    if (this.fillLen === 0) return;
    this.ram.read(this.fillPhys, this.data, this.fillAt, this.fillLen);
    this.fillLen = 0;
  }

  private writeBack(s: number, line: number, cause: 'evict' | 'clean' | 'snoop'): void {
    const phys = line * this.lineSize;
    this.ram.write(phys, this.data, this.at[s] as number, this.lineSize);
    this.dirty[s] = 0;
    this.stats.writebacks++;
    if (this.events.on) {
      this.events.emit({
        kind: 'writeback',
        t: this.clock.now,
        phys: phys as PhysAddr,
        len: this.lineSize,
        cause,
      });
    }
  }

  private drop(s: number, line: number): void {
    if (s === this.mruSlot) this.mruLine = EMPTY;
    this.tags[s] = EMPTY;
    this.stamp[s] = 0;
    this.dirty[s] = 0;
    this.present.remove(line);
  }

  /**
   * Calls fn(slot, line) for each resident line overlapping [phys, phys+len). fn returns true to
   * count the line in `stat`.
   */
  private forEachResident(
    phys: number,
    len: number,
    fn: (slot: number, line: number) => boolean,
    stat?: 'linesCleaned' | 'linesInvalidated',
  ): number {
    if (len <= 0) return 0;
    let count = 0;
    const present = this.present;
    const end = Math.floor((phys + len - 1) / this.lineSize) + 1;
    for (let line = present.next(Math.floor(phys / this.lineSize), end); line < end;) {
      if (fn(this.find(line), line)) count++;
      line = present.next(line + 1, end);
    }
    if (stat !== undefined) this.stats[stat] += count;
    return count;
  }
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}
