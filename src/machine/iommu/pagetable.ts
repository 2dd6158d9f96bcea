/**
 * DOC: I/O page tables in the Intel VT-d second-level format (VT-d spec §3.6, §9.8), stored in
 * simulated RAM. Each table is one 4 KiB page of 512 little-endian 8-byte entries; a 39/48/57-bit
 * address width uses 3/4/5 levels. Entry bits: 0 = Read, 1 = Write, 7 = PS (leaf block at level
 * 2 or 3), 12..51 = address of the next table or of the page. An entry is present when R or W is
 * set: VT-d has no separate present bit. Directory entries carry R|W as Linux sets them, and the
 * rights of a translation are the AND over the levels walked.
 *
 * Two sides use the format: {@link IoPageTable}, the writer, does what the intel-iommu driver does
 * (map/unmap through the CPU's port, table pages from a callback), and {@link PageWalker} does what
 * the remapping hardware does on an IOTLB miss (read entries through its own port).
 * MODEL: entries hold only R, W, PS and the address; SNP, EMT, IPAT, TM and the reserved-bit checks
 * of §7 are not modelled, except that PS above level 3 is reported as a reserved field.
 */
import { hex } from '../../lib/addr.js';
import { ConfigError, assert } from '../../lib/errors.js';
import type { MemPort } from '../memory/port.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
/** 2 MiB: the leaf block of a level-2 entry with PS set. */
export const BLOCK_2M = 1 << 21;
/** Entries per table: 4 KiB / 8 bytes. */
const ENTRIES = 512;
const PTE_SIZE = 8;
export const PTE_R = 1 << 0;
export const PTE_W = 1 << 1;
export const PTE_PS = 1 << 7;
/** Bits 12..31 of the address, in the low half of an entry. */
const ADDR_LO_MASK = 0xfffff000;
/** Bits 32..51 of the address, in the high half of an entry. */
const ADDR_HI_MASK = 0x000fffff;
const TWO_32 = 2 ** 32;
const ADDR_LIMIT = 2 ** 52;

/** Bytes covered by one entry of each level, index = level (1 = 4 KiB, 2 = 2 MiB, ...). */
const LEVEL_SIZES: readonly number[] = [0, 1, 2, 3, 4, 5].map(
  (l) => 2 ** (PAGE_SHIFT + 9 * (l - 1)),
);

/** 1 / LEVEL_SIZES[level]: exact powers of two, so a product by one is an exact quotient. */
const LEVEL_SCALES = Float64Array.from(LEVEL_SIZES, (size) => (size === 0 ? 0 : 1 / size));

/** Bytes covered by one entry of a level (1 = 4 KiB page, 2 = 2 MiB, 3 = 1 GiB, ...). */
export function levelSize(level: number): number {
  return LEVEL_SIZES[level] as number;
}

/** Table levels for an address width (AGAW): 39 → 3, 48 → 4, 57 → 5. */
export function levelsFor(addressWidth: number): number {
  return (addressWidth - PAGE_SHIFT) / 9;
}

/** Access rights of a mapping (IOMMU_READ / IOMMU_WRITE of `iommu_map`). */
export interface MapProt {
  readonly read: boolean;
  readonly write: boolean;
  /** Use 2 MiB blocks where IOVA, phys and the remaining size allow it (Linux's superpages). */
  readonly superpage?: boolean;
}

/** A software lookup result, for tests and the visualizer. */
export interface Translation {
  /** Physical address of the looked-up IOVA, page offset included. */
  readonly phys: number;
  /** Bytes of the page or block that holds it (4096, 2 MiB or 1 GiB). */
  readonly pageSize: number;
  readonly read: boolean;
  readonly write: boolean;
}

/** A port with the optional 64-bit entry accessors. */
type Le64Port = Required<MemPort>;

/**
 * Reads and writes one 64-bit entry as two 32-bit halves, so no bigint is needed. A port with
 * readLe64/writeLe64 takes them (the same access without the byte copy); others get 8 bytes.
 */
class PteIo {
  /** Low and high 32 bits of the entry last read. */
  lo = 0;
  hi = 0;
  private readonly buf = new Uint8Array(PTE_SIZE);
  private readonly view = new DataView(this.buf.buffer);
  private readonly halves = new Uint32Array(2);
  /** The port again when it has readLe64 and writeLe64, else null. */
  private readonly le64: Le64Port | null;

  constructor(private readonly mem: MemPort) {
    this.le64 =
      mem.readLe64 !== undefined && mem.writeLe64 !== undefined ? (mem as Le64Port) : null;
  }

  read(entryAddr: number): void {
    if (this.le64 !== null) {
      const h = this.halves;
      this.le64.readLe64(entryAddr, h);
      this.lo = h[0] as number;
      this.hi = h[1] as number;
      return;
    }
    this.mem.read(entryAddr, this.buf, 0, PTE_SIZE);
    this.lo = this.view.getUint32(0, true);
    this.hi = this.view.getUint32(4, true);
  }

  write(entryAddr: number, addr: number, bits: number): void {
    // `>>> 0` is `addr % 2^32` for a safe non-negative integer, without a floating-point fmod.
    this.put(entryAddr, ((addr >>> 0) | bits) >>> 0, Math.floor(addr / TWO_32));
  }

  clear(entryAddr: number): void {
    this.put(entryAddr, 0, 0);
  }

  private put(entryAddr: number, lo: number, hi: number): void {
    if (this.le64 !== null) {
      this.le64.writeLe64(entryAddr, lo, hi);
      return;
    }
    this.view.setUint32(0, lo, true);
    this.view.setUint32(4, hi, true);
    this.mem.write(entryAddr, this.buf, 0, PTE_SIZE);
  }

  /** Address field (bits 12..51) of the entry last read. */
  get addr(): number {
    return ((this.lo & ADDR_LO_MASK) >>> 0) + (this.hi & ADDR_HI_MASK) * TWO_32;
  }
}

/** Address of the entry for `iova` in the table at `table`, at `level`. */
function entryAt(table: number, iova: number, level: number): number {
  // iova * 2^-k is the exact quotient, and `&` truncates it as Math.floor would (iova >= 0).
  return table + ((iova * (LEVEL_SCALES[level] as number)) & (ENTRIES - 1)) * PTE_SIZE;
}

/** Entries of the walker's paging-structure cache (a power of two). */
const PSC_ENTRIES = 64;

/** A walk's verdict besides the rights: an entry had PS set where VT-d reserves it. */
export const WALK_RESERVED = -1;

/**
 * The hardware side: walks a domain's tables through a port, as the remapping unit does on an
 * IOTLB miss. Results land in fields, so a walk allocates nothing.
 */
export class PageWalker {
  /** Physical address of the page or block found by the last walk. */
  pageBase = 0;
  /** Size of that page or block in bytes. */
  pageSize = PAGE_SIZE;
  /** Walks that started at the root, and walks that resumed from the paging-structure cache. */
  fullWalks = 0;
  cachedWalks = 0;
  private readonly pte: PteIo;
  /**
   * Paging-structure cache (VT-d ch. 6 caches directory entries as well as leaves): for a 2 MiB
   * region of one table tree, the level-1 table found last time and the rights of the directory
   * entries above it, so a walk of a neighbouring page reads one entry instead of `levels`.
   * Direct-mapped by region; cleared by every invalidation request, as VT-d's page- and
   * domain-selective invalidations without IH clear it.
   */
  private readonly pscRoot = new Float64Array(PSC_ENTRIES);
  /** Per entry: the generation it was filled in; it is valid only while that is `pscGen`. */
  private readonly pscFilled = new Float64Array(PSC_ENTRIES);
  /** Bumped by every invalidation, so emptying the cache takes no loop. Starts above 0. */
  private pscGen = 1;
  private readonly pscRegion = new Float64Array(PSC_ENTRIES);
  private readonly pscTable = new Float64Array(PSC_ENTRIES);
  private readonly pscRights = new Uint8Array(PSC_ENTRIES);

  constructor(mem: MemPort) {
    this.pte = new PteIo(mem);
  }

  /**
   * Walks from `root` (a table of level `levels`) to the leaf for `iova`.
   * @returns the rights of the translation (PTE_R | PTE_W, ANDed over the levels), 0 when an
   *   entry on the way is not present, or WALK_RESERVED when PS is set above level 3.
   */
  walk(root: number, levels: number, iova: number): number {
    const region = Math.floor(iova / BLOCK_2M);
    const i = region & (PSC_ENTRIES - 1);
    if (
      this.pscFilled[i] === this.pscGen &&
      this.pscRoot[i] === root &&
      this.pscRegion[i] === region
    ) {
      this.cachedWalks++;
      return this.descend(this.pscTable[i] as number, 1, iova, this.pscRights[i] as number, root);
    }
    this.fullWalks++;
    return this.descend(root, levels, iova, PTE_R | PTE_W, root);
  }

  /** Empties the paging-structure cache. */
  invalidateCache(): void {
    this.pscGen++;
  }

  private descend(table: number, from: number, iova: number, rights: number, root: number): number {
    const pte = this.pte;
    for (let level = from; level >= 1; level--) {
      pte.read(entryAt(table, iova, level));
      rights &= pte.lo;
      if (rights === 0) return 0;
      if (level === 1 || (pte.lo & PTE_PS) !== 0) {
        // PS is a leaf at level 2 (2 MiB) or 3 (1 GiB, SLLPS); above that it is reserved (§9.8).
        if (level > 3) return WALK_RESERVED;
        this.pageSize = levelSize(level);
        this.pageBase = pte.addr;
        return rights;
      }
      table = pte.addr;
      if (level === 2) this.remember(root, iova, table, rights);
    }
    assert(false, `iommu walk of ${hex(iova)} ran past level 1`);
  }

  private remember(root: number, iova: number, table: number, rights: number): void {
    const region = Math.floor(iova / BLOCK_2M);
    const i = region & (PSC_ENTRIES - 1);
    this.pscFilled[i] = this.pscGen;
    this.pscRoot[i] = root;
    this.pscRegion[i] = region;
    this.pscTable[i] = table;
    this.pscRights[i] = rights;
  }
}

// Outcomes of placing one leaf: done; something is already mapped there; a 2 MiB block was
// asked for but a level-1 table already hangs there.
const PLACED = 0;
const BUSY = 1;
const HAS_TABLE = 2;

/** What the writer needs from its owner. */
export interface IoPageTableOptions {
  /** 3, 4 or 5 (see levelsFor). */
  readonly levels: number;
  /** The CPU's path to the tables (the kernel writes them with ordinary stores). */
  readonly mem: MemPort;
  /** Returns the physical address of a zeroed, 4 KiB-aligned page for a new table. */
  readonly allocTable: () => number;
}

/**
 * The software side: one domain's tables, written as the intel-iommu driver does.
 * MODEL: table pages emptied by unmap are kept (Linux frees them on a covering range unmap); an
 * existing level-1 table is never replaced by a 2 MiB block: the range is mapped in 4 KiB pages.
 */
export class IoPageTable {
  /** Physical address of the top-level table (what the context entry's SLPTPTR would hold). */
  readonly root: number;
  readonly levels: number;
  private readonly allocTable: () => number;
  private readonly pte: PteIo;
  private readonly walker: PageWalker;
  /** Address of the entry `descend` stopped at. */
  private lastEntry = 0;
  /** `span`, computed once. */
  private readonly spanBytes: number;
  /** Where the tables' reach ends: min(span, 2^52). */
  private readonly limit: number;
  /** Table pages taken from allocTable so far (they are never given back; see MODEL above). */
  tablePages = 0;
  /**
   * The 2 MiB region (iova / 2 MiB) whose level-1 table was reached last, and that table, or -1:
   * maps and unmaps of neighbouring IOVAs (handed out top-down, mostly in one region) read one
   * entry instead of `levels`. Directory entries are never cleared, so the table stays valid.
   */
  private leafRegion = -1;
  private leafTable = 0;

  constructor(opts: IoPageTableOptions) {
    this.levels = opts.levels;
    this.allocTable = opts.allocTable;
    this.pte = new PteIo(opts.mem);
    this.walker = new PageWalker(opts.mem);
    this.spanBytes = levelSize(this.levels + 1);
    this.limit = Math.min(this.spanBytes, ADDR_LIMIT);
    this.root = this.newTable();
  }

  /** Bytes of IOVA space the tables cover. */
  get span(): number {
    return levelSize(this.levels + 1);
  }

  /**
   * Maps `size` bytes at `iova` to `phys` (cf. `intel_iommu_map_pages`).
   * Throws ConfigError on a misaligned or out-of-range argument, no rights, or a range that is
   * already partly mapped; in that case nothing stays mapped.
   */
  map(iova: number, phys: number, size: number, prot: MapProt): void {
    this.checkRange('map', iova, size);
    if (!isPageAligned(phys) || phys + size > ADDR_LIMIT || (!prot.read && !prot.write)) {
      mapArgError(iova, phys, size);
    }
    const bits = (prot.read ? PTE_R : 0) | (prot.write ? PTE_W : 0);
    let done = 0;
    while (done < size) {
      const va = iova + done;
      const pa = phys + done;
      const block =
        prot.superpage === true &&
        (va & (BLOCK_2M - 1)) === 0 &&
        (pa & (BLOCK_2M - 1)) === 0 &&
        size - done >= BLOCK_2M;
      let r = block ? this.place(va, pa, 2, bits | PTE_PS) : HAS_TABLE;
      if (r === PLACED) {
        done += BLOCK_2M;
        continue;
      }
      r = this.place(va, pa, 1, bits);
      if (r !== PLACED) {
        if (done > 0) this.unmap(iova, done);
        throw new ConfigError(
          `iommu map: IOVA ${hex(va)} is already mapped; unmap ${hex(iova)}+${hex(size)} first`,
        );
      }
      done += PAGE_SIZE;
    }
  }

  /**
   * Unmaps the leaves in [iova, iova + size) (cf. `intel_iommu_unmap_pages`). A 2 MiB block that
   * the range only partly covers is unmapped whole, as Linux does. Holes are skipped.
   * @returns bytes unmapped (whole pages and blocks); 0 if nothing was mapped.
   */
  unmap(iova: number, size: number): number {
    this.checkRange('unmap', iova, size);
    const end = iova + size;
    let unmapped = 0;
    let va = iova;
    while (va < end) {
      const level = this.descend(va);
      const step = levelSize(level);
      if ((this.pte.lo & (PTE_R | PTE_W)) !== 0) {
        this.pte.clear(this.lastEntry);
        unmapped += step;
      }
      va = Math.floor(va / step) * step + step;
    }
    return unmapped;
  }

  /** Software walk (cf. `intel_iommu_iova_to_phys`); undefined when not mapped. */
  lookup(iova: number): Translation | undefined {
    if (!Number.isSafeInteger(iova) || iova < 0 || iova >= this.span) return undefined;
    const rights = this.walker.walk(this.root, this.levels, iova);
    if (rights <= 0) return undefined;
    const { pageBase, pageSize } = this.walker;
    return {
      phys: pageBase + (iova % pageSize),
      pageSize,
      read: (rights & PTE_R) !== 0,
      write: (rights & PTE_W) !== 0,
    };
  }

  /**
   * The physical address of `iova` by the same software walk as `lookup`, or -1 when it is not
   * mapped; allocates nothing.
   */
  physOf(iova: number): number {
    if (!Number.isSafeInteger(iova) || iova < 0 || iova >= this.spanBytes) return -1;
    const w = this.walker;
    if (w.walk(this.root, this.levels, iova) <= 0) return -1;
    return w.pageBase + (iova & (w.pageSize - 1)); // `&`: exact, and no fmod above 2^31
  }

  /** Goes down towards `iova` until a leaf or a non-present entry; returns that level. */
  private descend(iova: number): number {
    const region = Math.floor(iova / BLOCK_2M);
    let table = region === this.leafRegion ? this.leafTable : this.root;
    for (let level = table === this.root ? this.levels : 1; ; level--) {
      this.lastEntry = entryAt(table, iova, level);
      this.pte.read(this.lastEntry);
      const lo = this.pte.lo;
      if (level === 1) this.rememberLeafTable(region, table);
      if (level === 1 || (lo & (PTE_R | PTE_W)) === 0 || (lo & PTE_PS) !== 0) return level;
      table = this.pte.addr;
    }
  }

  private rememberLeafTable(region: number, table: number): void {
    this.leafRegion = region;
    this.leafTable = table;
  }

  /** Writes one leaf at `leafLevel`, creating directory tables on the way. */
  private place(iova: number, phys: number, leafLevel: number, bits: number): number {
    const pte = this.pte;
    const region = Math.floor(iova / BLOCK_2M);
    const known = leafLevel === 1 && region === this.leafRegion;
    let table = known ? this.leafTable : this.root;
    for (let level = known ? 1 : this.levels; level > leafLevel; level--) {
      const entry = entryAt(table, iova, level);
      pte.read(entry);
      if ((pte.lo & (PTE_R | PTE_W)) === 0) {
        table = this.newTable();
        pte.write(entry, table, PTE_R | PTE_W);
      } else if ((pte.lo & PTE_PS) !== 0) {
        return BUSY;
      } else {
        table = pte.addr;
      }
    }
    if (leafLevel === 1) this.rememberLeafTable(region, table);
    const entry = entryAt(table, iova, leafLevel);
    pte.read(entry);
    if ((pte.lo & (PTE_R | PTE_W)) !== 0) {
      return leafLevel > 1 && (pte.lo & PTE_PS) === 0 ? HAS_TABLE : BUSY;
    }
    pte.write(entry, phys, bits);
    return PLACED;
  }

  private newTable(): number {
    const table = this.allocTable();
    this.tablePages++;
    assert(
      Number.isSafeInteger(table) && table >= 0 && table % PAGE_SIZE === 0 && table < ADDR_LIMIT,
      `iommu: allocTable returned ${String(table)}, not a 4 KiB-aligned physical address`,
    );
    return table;
  }

  /** Throws unless [iova, iova + size) is a non-empty page-aligned range the tables reach. */
  private checkRange(op: string, iova: number, size: number): void {
    if (isPageAligned(iova) && isPageAligned(size) && size !== 0 && iova + size <= this.limit) {
      return;
    }
    this.rangeError(op, iova, size);
  }

  /** The error checkRange reports (kept out of it so the hot check stays small). */
  private rangeError(op: string, iova: number, size: number): never {
    checkAligned(op, 'IOVA', iova);
    checkAligned(op, 'size', size);
    if (size === 0) throw new ConfigError(`iommu ${op}: size 0 at IOVA ${hex(iova)}; give >= 4096`);
    throw new ConfigError(
      `iommu ${op}: IOVA ${hex(iova)} + size ${hex(size)} passes ${hex(this.limit)}, the end of the ${this.levels}-level tables' reach`,
    );
  }
}

/** The error of a map whose phys or rights are bad (the range passed checkRange). */
function mapArgError(iova: number, phys: number, size: number): never {
  checkAligned('map', 'phys', phys);
  if (phys + size > ADDR_LIMIT) {
    throw new ConfigError(`iommu map: phys ${hex(phys)} + size ${hex(size)} passes 2^52`);
  }
  throw new ConfigError(`iommu map: IOVA ${hex(iova)} with neither read nor write; give one`);
}

/** A safe non-negative integer multiple of 4096. */
function isPageAligned(v: number): boolean {
  // `&` keeps the low 32 bits of a safe integer exactly, and needs no fmod above 2^31.
  return Number.isSafeInteger(v) && v >= 0 && (v & (PAGE_SIZE - 1)) === 0;
}

function checkAligned(op: string, what: string, v: number): void {
  if (!isPageAligned(v)) alignError(op, what, v);
}

function alignError(op: string, what: string, v: number): never {
  throw new ConfigError(
    `iommu ${op}: ${what} ${Number.isInteger(v) ? hex(v) : String(v)} must be a non-negative multiple of 4096 below 2^52; align it to the page`,
  );
}
