/**
 * The IOTLB: a set-associative cache of leaf translations, tagged by domain id, IOVA page number
 * and page size, as the VT-d IOTLB is tagged by DID and address (VT-d spec ch. 6, caching
 * translations). An entry keeps translating until software invalidates it, even after the page
 * table entry behind it was cleared: that is the window Linux's lazy (flush-queue) mode leaves open.
 *
 * State is flat typed arrays indexed by slot = set * ways + way; the set is the low bits of the
 * page number. Lookups allocate nothing and return results in fields.
 * MODEL: one array holds all page sizes (4 KiB, 2 MiB, 1 GiB), probed smallest first; real
 * IOTLBs often keep separate arrays per size. Directory entries are cached apart, by the walker
 * (pagetable.ts, paging-structure cache).
 */
import { ConfigError, assert } from '../../lib/errors.js';
import type { Rng } from '../../lib/rng.js';

export type Replacement = 'lru' | 'fifo' | 'random';
export const REPLACEMENTS: readonly Replacement[] = ['lru', 'fifo', 'random'];

export interface IotlbStats {
  /** Lookups that found an entry (with or without the rights asked for). */
  readonly hits: number;
  /** Lookups that found none (each is followed by a page walk). */
  readonly misses: number;
  /** Entries dropped by invalidation requests. */
  readonly invalidations: number;
  /** Valid entries replaced to make room for a fill. */
  readonly evictions: number;
}

/** One valid entry, as `entries()` lists it. */
export interface IotlbEntry {
  readonly slot: number;
  readonly domainId: number;
  /** IOVA of the start of the page or block. */
  readonly iova: number;
  readonly pageSize: number;
  /** Physical address of the start of the page or block. */
  readonly phys: number;
  /** PTE_R | PTE_W. */
  readonly perm: number;
}

/** `lookup` found no entry. */
export const IOTLB_MISS = -1;
/** `lookup` found an entry without the rights asked for. */
export const IOTLB_DENIED = -2;

/** Page sizes by size code, the low 2 bits of a tag's high word. */
const SIZES: readonly number[] = [0x1000, 0x20_0000, 0x4000_0000];
const PAGE_SIZE = 0x1000;
const TWO_32 = 2 ** 32;
/** 4 KiB page number bits 32 and up are the IOVA's bits 44 and up. */
const TWO_44 = 2 ** 44;
/** Rights live in the low bits of the stored page address, which is 4 KiB-aligned. */
const PERM_MASK = 3;
/** Fewest way-prediction hints (a power of two). */
const HINTS_MIN = 1024;
/** Largest domain id a tag holds: VT-d domain ids are 16 bits. */
export const MAX_DOMAIN_ID = 0xffff;

function isPow2(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * High tag word: domain id (bits 16..31), page number bits 32 and up (bits 2..15), size code
 * (bits 0..1). Zero marks an empty slot, as domain ids start at 1. `<<` truncates to 32 bits,
 * which is what makes the divisions exact page numbers.
 */
function tagHigh(domainId: number, iova: number, code: number): number {
  return (domainId << 16) | ((iova / (SIZES[code] as number) / TWO_32) << 2) | code;
}

export class Iotlb {
  readonly nEntries: number;
  readonly ways: number;
  readonly nSets: number;
  /** Of the last successful lookup: bytes from the IOVA to the end of its page or block. */
  span = 0;
  /** Per slot: [2s] bits 0..31 of the page number (IOVA / page size), [2s+1] tagHigh. */
  private readonly tags: Int32Array;
  /** Per slot: physical address of the page or block. */
  private readonly pageBase: Float64Array;
  /** Per slot: PTE_R | PTE_W. */
  private readonly perms: Uint8Array;
  /** Per slot: last use (lru) or fill (fifo) tick. */
  private readonly stamps: Float64Array;
  private tick = 0;
  /** Valid entries larger than 4 KiB; while 0 a lookup probes one size. */
  private nLarge = 0;
  private readonly setMask: number;
  private readonly lru: boolean;
  /**
   * Way prediction, a host-side shortcut with no effect on results: for the low bits of a 4 KiB
   * page number, the tag last found there and its slot. The tag is compared here, before the slot
   * is read, which saves a dependent load on a hit; drop() clears the hint of the slot it empties.
   */
  private readonly hintLo: Int32Array;
  private readonly hintHi: Int32Array;
  private readonly hintSlot: Int32Array;
  private readonly hintMask: number;
  private nHits = 0;
  private nMisses = 0;
  private nInvalidated = 0;
  private nEvicted = 0;

  constructor(
    nEntries: number,
    ways: number,
    private readonly policy: Replacement,
    private readonly rng: Rng,
  ) {
    if (!isPow2(nEntries) || !isPow2(ways) || ways > nEntries) {
      throw new ConfigError(
        `iommu: IOTLB of ${String(nEntries)} entries, ${String(ways)} ways: both must be powers of two, ways <= entries (e.g. 64 entries, 8 ways)`,
      );
    }
    this.nEntries = nEntries;
    this.ways = ways;
    this.nSets = nEntries / ways;
    this.setMask = this.nSets - 1;
    this.lru = policy === 'lru';
    this.tags = new Int32Array(2 * nEntries);
    this.pageBase = new Float64Array(nEntries);
    this.perms = new Uint8Array(nEntries);
    this.stamps = new Float64Array(nEntries);
    const nHints = Math.max(HINTS_MIN, nEntries * 4);
    this.hintLo = new Int32Array(nHints);
    this.hintHi = new Int32Array(nHints); // 0 never matches: domain ids start at 1
    this.hintSlot = new Int32Array(nHints);
    this.hintMask = nHints - 1;
  }

  get stats(): IotlbStats {
    return {
      hits: this.nHits,
      misses: this.nMisses,
      invalidations: this.nInvalidated,
      evictions: this.nEvicted,
    };
  }

  /** Number of valid entries. */
  get size(): number {
    let n = 0;
    for (let s = 0; s < this.nEntries; s++) if (this.tags[2 * s + 1] !== 0) n++;
    return n;
  }

  /**
   * Looks `iova` up for domain `domainId`, counting a hit or a miss.
   * @param need rights the access needs (PTE_R or PTE_W; 0 for none)
   * @returns the physical address (and sets `span`); IOTLB_MISS; or IOTLB_DENIED when the entry
   *   lacks `need`, which hardware reports as a fault without walking again.
   */
  lookup(domainId: number, iova: number, need: number): number {
    // The 4 KiB probe, written out. `|` and `<<` truncate to 32 bits: `lo` is page number bits
    // 0..31, and `iova / 2^44` supplies its bits 32 and up.
    const lo = (iova / PAGE_SIZE) | 0;
    const hi = iova < TWO_44 ? domainId << 16 : (domainId << 16) | ((iova / TWO_44) << 2);
    const h = lo & this.hintMask;
    let s: number;
    if (this.hintLo[h] === lo && this.hintHi[h] === hi) s = this.hintSlot[h] as number;
    else {
      s = this.scan(lo, hi);
      if (s < 0) return this.nLarge > 0 ? this.lookupLarge(domainId, iova, need) : this.miss();
      this.hintLo[h] = lo;
      this.hintHi[h] = hi;
      this.hintSlot[h] = s;
    }
    this.nHits++;
    if (this.lru) this.stamps[s] = ++this.tick;
    if (((this.perms[s] as number) & need) !== need) return IOTLB_DENIED;
    const off = iova & (PAGE_SIZE - 1); // exact: `&` keeps the low 32 bits of any safe integer
    this.span = PAGE_SIZE - off;
    return (this.pageBase[s] as number) + off;
  }

  /** True if an entry covers `iova`; no stats, no replacement update (for tests and views). */
  contains(domainId: number, iova: number): boolean {
    for (let code = 0; code < SIZES.length; code++) {
      if (this.find(domainId, iova, code) >= 0) return true;
    }
    return false;
  }

  /** The valid entries, in slot order (for tests and the visualizer). */
  entries(): IotlbEntry[] {
    const out: IotlbEntry[] = [];
    for (let s = 0; s < this.nEntries; s++) {
      const hi = this.tags[2 * s + 1] as number;
      if (hi === 0) continue;
      const perm = this.perms[s] as number;
      const pageSize = SIZES[hi & 3] as number;
      out.push({
        slot: s,
        domainId: hi >>> 16,
        iova: this.slotIova(s),
        pageSize,
        phys: this.pageBase[s] as number,
        perm,
      });
    }
    return out;
  }

  /** Caches the walk result for `iova`: the page or block at `pageBase` of `pageSize` bytes. */
  fill(domainId: number, iova: number, pageBase: number, pageSize: number, perm: number): void {
    const code = SIZES.indexOf(pageSize);
    assert(
      code >= 0 && domainId >= 1 && domainId <= MAX_DOMAIN_ID && pageBase % PAGE_SIZE === 0,
      () => `iotlb: fill of ${pageSize} bytes at ${pageBase} for domain ${domainId}`,
    );
    const lo = (iova / pageSize) | 0;
    let s = this.find(domainId, iova, code);
    if (s < 0) s = this.victim(lo);
    if (this.tags[2 * s + 1] !== 0) this.drop(s);
    this.tags[2 * s] = lo;
    this.tags[2 * s + 1] = tagHigh(domainId, iova, code);
    this.pageBase[s] = pageBase;
    this.perms[s] = perm & PERM_MASK;
    this.stamps[s] = ++this.tick;
    if (code > 0) this.nLarge++;
  }

  /** Drops the entries of `domainId` that overlap [iova, iova + len); returns how many. */
  invalidateRange(domainId: number, iova: number, len: number): number {
    const end = iova + len;
    if (this.nLarge === 0 && len > 0 && len <= this.nSets * PAGE_SIZE) {
      return this.invalidateSmallRange(domainId, iova, end);
    }
    let n = 0;
    for (let s = 0; s < this.nEntries; s++) {
      const hi = this.tags[2 * s + 1] as number;
      if (hi === 0 || hi >>> 16 !== domainId) continue;
      const base = this.slotIova(s);
      if (base < end && base + (SIZES[hi & 3] as number) > iova) n += this.drop(s);
    }
    this.nInvalidated += n;
    return n;
  }

  /**
   * invalidateRange while every entry is a 4 KiB one and the range spans at most one page per
   * set: an entry overlapping the range is the one of a page in it, in that page's set, so only
   * those sets are scanned. Drops exactly the entries the full scan would.
   */
  private invalidateSmallRange(domainId: number, iova: number, end: number): number {
    const tags = this.tags;
    const ways = this.ways;
    let n = 0;
    for (let page = Math.floor(iova / PAGE_SIZE); page * PAGE_SIZE < end; page++) {
      const lo = page | 0;
      const hi = tagHigh(domainId, page * PAGE_SIZE, 0);
      const first = (lo & this.setMask) * ways;
      for (let s = first, last = first + ways; s < last; s++) {
        if (tags[2 * s] === lo && tags[2 * s + 1] === hi) n += this.drop(s);
      }
    }
    this.nInvalidated += n;
    return n;
  }

  /** Drops the entry covering the 4 KiB page of `iova` (a page-selective invalidation). */
  invalidatePage(domainId: number, iova: number): number {
    return this.invalidateRange(domainId, Math.floor(iova / PAGE_SIZE) * PAGE_SIZE, PAGE_SIZE);
  }

  /** Drops every entry of one domain (a domain-selective invalidation). */
  invalidateDomain(domainId: number): number {
    let n = 0;
    for (let s = 0; s < this.nEntries; s++) {
      const hi = this.tags[2 * s + 1] as number;
      if (hi !== 0 && hi >>> 16 === domainId) n += this.drop(s);
    }
    this.nInvalidated += n;
    return n;
  }

  /** Drops every entry (a global invalidation). */
  invalidateAll(): number {
    let n = 0;
    for (let s = 0; s < this.nEntries; s++) if (this.tags[2 * s + 1] !== 0) n += this.drop(s);
    this.nInvalidated += n;
    return n;
  }

  private lookupLarge(domainId: number, iova: number, need: number): number {
    for (let code = 1; code < SIZES.length; code++) {
      const s = this.find(domainId, iova, code);
      if (s >= 0) return this.hit(s, iova, SIZES[code] as number, need);
    }
    return this.miss();
  }

  private miss(): number {
    this.nMisses++;
    return IOTLB_MISS;
  }

  /** The slot holding `iova` for `domainId` with size `code`, or -1. */
  private find(domainId: number, iova: number, code: number): number {
    return this.scan((iova / (SIZES[code] as number)) | 0, tagHigh(domainId, iova, code));
  }

  /** The slot of the set of `lo` whose tag is (lo, hi), or -1. */
  private scan(lo: number, hi: number): number {
    const tags = this.tags;
    const first = (lo & this.setMask) * this.ways;
    const end = first + this.ways;
    for (let s = first; s < end; s++) {
      if (tags[2 * s] === lo && tags[2 * s + 1] === hi) return s;
    }
    return -1;
  }

  private hit(s: number, iova: number, size: number, need: number): number {
    this.nHits++;
    if (this.lru) this.stamps[s] = ++this.tick;
    if (((this.perms[s] as number) & need) !== need) return IOTLB_DENIED;
    // `&` keeps the low 32 bits, which (sizes are <= 2^30) hold the offset.
    const off = iova & (size - 1);
    this.span = size - off;
    return (this.pageBase[s] as number) + off;
  }

  /** The slot to fill in the set of page number `lo`: an empty way, else the policy's choice. */
  private victim(lo: number): number {
    const first = (lo & this.setMask) * this.ways;
    const end = first + this.ways;
    for (let s = first; s < end; s++) if (this.tags[2 * s + 1] === 0) return s;
    this.nEvicted++;
    if (this.policy === 'random') return first + this.rng.below(this.ways);
    // lru and fifo both evict the oldest tick; they differ in whether a hit renews it.
    let oldest = first;
    for (let s = first + 1; s < end; s++) {
      if ((this.stamps[s] as number) < (this.stamps[oldest] as number)) oldest = s;
    }
    return oldest;
  }

  /** IOVA of the start of the page or block in (valid) slot `s`. */
  private slotIova(s: number): number {
    const hi = this.tags[2 * s + 1] as number;
    const pageNo = ((hi >> 2) & 0x3fff) * TWO_32 + ((this.tags[2 * s] as number) >>> 0);
    return pageNo * (SIZES[hi & 3] as number);
  }

  /** Empties slot `s`; returns 1 for counting. */
  private drop(s: number): number {
    const h = (this.tags[2 * s] as number) & this.hintMask;
    if (this.hintSlot[h] === s) this.hintHi[h] = 0;
    if (((this.tags[2 * s + 1] as number) & 3) !== 0) this.nLarge--;
    this.tags[2 * s + 1] = 0;
    return 1;
  }
}
