/**
 * A write-back, write-allocate, set-associative data cache whose lines hold the bytes, shared by
 * all CPUs (one level, so CPU-to-CPU coherence is trivially kept). Devices that snoop see dirty
 * lines; devices that do not see only RAM, which is how stale data becomes real.
 *
 * MODEL: one cache level (real CPUs have two or three, with the same visible effect on DMA:
 * dirty data sits above RAM until written back); exact LRU replacement; no prefetching.
 *
 * State lives in flat typed arrays indexed by slot = set * ways + way (DESIGN.md "Performance").
 * A per-page count of resident lines acts as a snoop filter, so a device access to memory the
 * cache does not hold costs one map lookup per page, not one tag search per line.
 */
import type { PhysAddr } from '../../lib/addr.js';
import { ConfigError, SimulatorBug } from '../../lib/errors.js';
import type { Clock } from '../clock/clock.js';
import type { EventBus } from '../events.js';
import type { SparseRam } from '../memory/ram.js';

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

/** Snoop-filter granule (bytes); independent of the profile's page size. */
const FILTER_SHIFT = 12;
const FILTER_SIZE = 1 << FILTER_SHIFT;
const EMPTY = -1;

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
  /** Line data, `lineSize` bytes per slot. */
  readonly data: Uint8Array;
  readonly view: DataView;
  /** Line number (phys / lineSize) held by each slot, or EMPTY. */
  private readonly tags: Float64Array;
  private readonly dirty: Uint8Array;
  /** Last-use stamp per slot, for LRU replacement. */
  private readonly stamp: Float64Array;
  private tick = 0;
  /** The line of the most recent CPU access and its slot: a hit on it needs no tag search. */
  private mruLine = EMPTY;
  private mruSlot = 0;
  private readonly setMask: number;
  private readonly filter = new Map<number, number>();

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
    if (geo.lineSize > FILTER_SIZE)
      throw new ConfigError(`cache: line size ${geo.lineSize} above ${FILTER_SIZE}`);
    this.lineSize = geo.lineSize;
    this.ways = geo.ways;
    this.nSets = nSets;
    this.setMask = nSets - 1;
    this.tags = new Float64Array(nLines).fill(EMPTY);
    this.dirty = new Uint8Array(nLines);
    this.stamp = new Float64Array(nLines);
    this.data = new Uint8Array(nLines * geo.lineSize);
    this.view = new DataView(this.data.buffer);
  }

  /** Slot holding `line`, or -1. Does not count as a use. */
  find(line: number): number {
    const base = (line & this.setMask) * this.ways;
    const tags = this.tags;
    for (let s = base, end = base + this.ways; s < end; s++) if (tags[s] === line) return s;
    return -1;
  }

  /**
   * Slot holding `line` if it is resident, counted as a hit and a use; -1 on a miss (nothing
   * counted: the caller takes the slow path, which calls access()). The CPU's fast path.
   */
  hit(line: number, write: boolean): number {
    if (line === this.mruLine) {
      // The previous access was this line, so it is already the most recently used of its set.
      this.stats.hits++;
      if (write) this.dirty[this.mruSlot] = 1;
      return this.mruSlot;
    }
    const base = (line & this.setMask) * this.ways;
    const tags = this.tags;
    for (let s = base, end = base + this.ways; s < end; s++) {
      if (tags[s] === line) {
        this.stats.hits++;
        this.stamp[s] = ++this.tick;
        if (write) this.dirty[s] = 1;
        this.mruLine = line;
        this.mruSlot = s;
        return s;
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
      s = this.fill(line);
    }
    this.stamp[s] = ++this.tick;
    if (write) this.dirty[s] = 1;
    this.mruLine = line;
    this.mruSlot = s;
    return s;
  }

  /** True if the line holding `phys` is resident; `dirty` says whether it is dirty. */
  state(phys: number): { present: boolean; dirty: boolean } {
    const s = this.find(Math.floor(phys / this.lineSize));
    return { present: s >= 0, dirty: s >= 0 && this.dirty[s] === 1 };
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
   * (the dirty data are supplied by the cache, as a snoop hit in Modified state does).
   */
  snoopRead(phys: number, dst: Uint8Array, off: number, len: number): void {
    this.ram.read(phys, dst, off, len);
    if (this.filter.size === 0) return;
    this.forEachResident(phys, len, (s, line) => {
      if (this.dirty[s] === 0) return false;
      const lineAddr = line * this.lineSize;
      const a = Math.max(phys, lineAddr);
      const b = Math.min(phys + len, lineAddr + this.lineSize);
      const src = s * this.lineSize + (a - lineAddr);
      dst.set(this.data.subarray(src, src + (b - a)), off + (a - phys));
      return false;
    });
  }

  /**
   * A coherent device is about to write [phys, phys+len): dirty lines are written back first (so
   * the bytes the device does not overwrite survive), then every copy is invalidated.
   */
  snoopWrite(phys: number, len: number): void {
    if (this.filter.size === 0) return;
    this.forEachResident(phys, len, (s, line) => {
      if (this.dirty[s] === 1) this.writeBack(s, line, 'snoop');
      this.drop(s, line);
      return false;
    });
  }

  /** Number of resident lines (for reports and tests). */
  get residentLines(): number {
    let n = 0;
    for (const v of this.filter.values()) n += v;
    return n;
  }

  private fill(line: number): number {
    const base = (line & this.setMask) * this.ways;
    let victim = base;
    for (let s = base, end = base + this.ways; s < end; s++) {
      if (this.tags[s] === EMPTY) {
        victim = s;
        break;
      }
      if ((this.stamp[s] as number) < (this.stamp[victim] as number)) victim = s;
    }
    const old = this.tags[victim] as number;
    if (old !== EMPTY) {
      this.stats.evictions++;
      if (this.dirty[victim] === 1) this.writeBack(victim, old, 'evict');
      this.drop(victim, old);
    }
    const phys = line * this.lineSize;
    this.ram.read(phys, this.data, victim * this.lineSize, this.lineSize);
    this.tags[victim] = line;
    this.dirty[victim] = 0;
    const page = Math.floor(phys / FILTER_SIZE);
    this.filter.set(page, (this.filter.get(page) ?? 0) + 1);
    return victim;
  }

  private writeBack(s: number, line: number, cause: 'evict' | 'clean' | 'snoop'): void {
    const phys = line * this.lineSize;
    this.ram.write(phys, this.data, s * this.lineSize, this.lineSize);
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
    this.dirty[s] = 0;
    const page = Math.floor((line * this.lineSize) / FILTER_SIZE);
    const n = this.filter.get(page);
    if (n === undefined) throw new SimulatorBug(`cache snoop filter lost page ${page}`);
    if (n === 1) this.filter.delete(page);
    else this.filter.set(page, n - 1);
  }

  /**
   * Calls fn(slot, line) for each resident line overlapping [phys, phys+len), visiting only pages
   * the snoop filter says hold lines. fn returns true to count the line in `stat`.
   */
  private forEachResident(
    phys: number,
    len: number,
    fn: (slot: number, line: number) => boolean,
    stat?: 'linesCleaned' | 'linesInvalidated',
  ): number {
    if (len <= 0) return 0;
    let count = 0;
    const firstLine = Math.floor(phys / this.lineSize);
    const endLine = Math.floor((phys + len - 1) / this.lineSize) + 1;
    const perPage = FILTER_SIZE / this.lineSize;
    for (let line = firstLine; line < endLine;) {
      const page = Math.floor(line / perPage);
      const pageEnd = Math.min(endLine, (page + 1) * perPage);
      if (this.filter.has(page)) {
        for (; line < pageEnd; line++) {
          const s = this.find(line);
          if (s >= 0 && fn(s, line)) count++;
        }
      }
      line = pageEnd;
    }
    if (stat !== undefined) this.stats[stat] += count;
    return count;
  }
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}
