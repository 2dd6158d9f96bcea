/**
 * The IOTLB: a set-associative cache of leaf translations, tagged by domain id, IOVA page number
 * and page size, as the VT-d IOTLB is tagged by DID and address (VT-d spec ch. 6, caching translations).
 * An entry keeps translating until software invalidates it, even after the page table entry
 * behind it was cleared: that is the window Linux's lazy (flush-queue) mode leaves open.
 *
 * State is flat typed arrays indexed by slot = set * ways + way; the set is the low bits of the
 * page number. Lookups allocate nothing and return results in fields.
 * MODEL: one array holds all page sizes (4 KiB, 2 MiB, 1 GiB), probed smallest first; real
 * IOTLBs often keep separate arrays per size. There are no paging-structure caches.
 */
import { ConfigError, assert } from '../../lib/errors.js';
import type { Rng } from '../../lib/rng.js';

export type Replacement = 'lru' | 'fifo' | 'random';
export const REPLACEMENTS: readonly Replacement[] = ['lru', 'fifo', 'random'];

export interface IotlbStats {
  /** Lookups that found an entry. */
  hits: number;
  /** Lookups that found none (each is followed by a page walk). */
  misses: number;
  /** Entries dropped by invalidation requests. */
  invalidations: number;
  /** Valid entries replaced to make room for a fill. */
  evictions: number;
}

/** Page sizes by size code, the low 2 bits of a key. */
const SIZES = [2 ** 12, 2 ** 21, 2 ** 30] as const;
const PAGE_SIZE = SIZES[0];
/** Domain id of an empty slot; Iommu domain ids start at 1. */
const NO_DOMAIN = 0;

function isPow2(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

export class Iotlb {
  readonly nEntries: number;
  readonly ways: number;
  readonly nSets: number;
  readonly stats: IotlbStats = { hits: 0, misses: 0, invalidations: 0, evictions: 0 };
  /** Of the last hit: bytes from the IOVA to the end of its page or block. */
  span = 0;
  /** Of the last hit: rights, PTE_R | PTE_W. */
  perm = 0;
  /** Tag per slot: page number * 4 + size code. */
  private readonly keys: Float64Array;
  /** Domain id per slot; NO_DOMAIN when empty. */
  private readonly domains: Int32Array;
  /** Physical address of the page or block per slot. */
  private readonly pageBases: Float64Array;
  private readonly perms: Uint8Array;
  /** Last use (lru) or fill (fifo) per slot, from `tick`. */
  private readonly stamps: Float64Array;
  private tick = 0;
  /** Valid entries larger than 4 KiB; while 0 a lookup makes one probe. */
  private nLarge = 0;
  private readonly setMask: number;
  private readonly lru: boolean;

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
    this.keys = new Float64Array(nEntries);
    this.domains = new Int32Array(nEntries);
    this.pageBases = new Float64Array(nEntries);
    this.perms = new Uint8Array(nEntries);
    this.stamps = new Float64Array(nEntries);
  }

  /** Number of valid entries. */
  get size(): number {
    let n = 0;
    for (const d of this.domains) if (d !== NO_DOMAIN) n++;
    return n;
  }

  /**
   * Looks `iova` up for domain `domainId`, counting a hit or a miss.
   * @returns the physical address (and sets `span`, `perm`), or -1 on a miss.
   */
  lookup(domainId: number, iova: number): number {
    const vpn = Math.floor(iova / PAGE_SIZE);
    const s = this.find(domainId, vpn * 4, vpn);
    if (s >= 0) return this.hit(s, iova, vpn * PAGE_SIZE, PAGE_SIZE);
    if (this.nLarge > 0) {
      for (let code = 1; code < SIZES.length; code++) {
        const size = SIZES[code] as number;
        const n = Math.floor(iova / size);
        const t = this.find(domainId, n * 4 + code, n);
        if (t >= 0) return this.hit(t, iova, n * size, size);
      }
    }
    this.stats.misses++;
    return -1;
  }

  /** True if an entry covers `iova`; no stats, no replacement update (for tests and views). */
  contains(domainId: number, iova: number): boolean {
    for (let code = 0; code < SIZES.length; code++) {
      const n = Math.floor(iova / (SIZES[code] as number));
      if (this.find(domainId, n * 4 + code, n) >= 0) return true;
    }
    return false;
  }

  /** Caches the walk result for `iova`: the page or block at `pageBase` of `pageSize` bytes. */
  fill(domainId: number, iova: number, pageBase: number, pageSize: number, perm: number): void {
    const code = SIZES.indexOf(pageSize);
    assert(
      code >= 0 && domainId !== NO_DOMAIN,
      `iotlb: fill of size ${pageSize} for domain ${domainId}`,
    );
    const vpn = Math.floor(iova / pageSize);
    const key = vpn * 4 + code;
    let s = this.find(domainId, key, vpn);
    if (s < 0) s = this.victim(vpn);
    if (this.domains[s] !== NO_DOMAIN) this.drop(s);
    this.keys[s] = key;
    this.domains[s] = domainId;
    this.pageBases[s] = pageBase;
    this.perms[s] = perm;
    this.stamps[s] = ++this.tick;
    if (code > 0) this.nLarge++;
  }

  /** Drops the entries of `domainId` that overlap [iova, iova + len); returns how many. */
  invalidateRange(domainId: number, iova: number, len: number): number {
    const end = iova + len;
    let n = 0;
    for (let s = 0; s < this.nEntries; s++) {
      if (this.domains[s] !== domainId || domainId === NO_DOMAIN) continue;
      const key = this.keys[s] as number;
      const code = key & 3;
      const size = SIZES[code] as number;
      const base = ((key - code) / 4) * size;
      if (base < end && base + size > iova) n += this.drop(s);
    }
    this.stats.invalidations += n;
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
      if (this.domains[s] === domainId && domainId !== NO_DOMAIN) n += this.drop(s);
    }
    this.stats.invalidations += n;
    return n;
  }

  /** Drops every entry (a global invalidation). */
  invalidateAll(): number {
    let n = 0;
    for (let s = 0; s < this.nEntries; s++) if (this.domains[s] !== NO_DOMAIN) n += this.drop(s);
    this.stats.invalidations += n;
    return n;
  }

  private find(domainId: number, key: number, vpn: number): number {
    const first = (vpn & this.setMask) * this.ways;
    const end = first + this.ways;
    for (let s = first; s < end; s++) {
      if (this.keys[s] === key && this.domains[s] === domainId) return s;
    }
    return -1;
  }

  private hit(s: number, iova: number, base: number, size: number): number {
    this.stats.hits++;
    if (this.lru) this.stamps[s] = ++this.tick;
    const off = iova - base;
    this.span = size - off;
    this.perm = this.perms[s] as number;
    return (this.pageBases[s] as number) + off;
  }

  /** The slot to fill in the set of `vpn`: an empty way, else one chosen by the policy. */
  private victim(vpn: number): number {
    const first = (vpn & this.setMask) * this.ways;
    const end = first + this.ways;
    for (let s = first; s < end; s++) if (this.domains[s] === NO_DOMAIN) return s;
    this.stats.evictions++;
    if (this.policy === 'random') return first + this.rng.below(this.ways);
    // lru and fifo both evict the oldest stamp; they differ in whether a hit renews it.
    let oldest = first;
    for (let s = first + 1; s < end; s++) {
      if ((this.stamps[s] as number) < (this.stamps[oldest] as number)) oldest = s;
    }
    return oldest;
  }

  /** Empties slot `s`; returns 1 for counting. */
  private drop(s: number): number {
    if (((this.keys[s] as number) & 3) !== 0) this.nLarge--;
    this.domains[s] = NO_DOMAIN;
    return 1;
  }
}
