/**
 * Read-only views of a DMA domain's I/O page tables (VT-d second level, machine/iommu/pagetable.ts)
 * for the IOMMU exposure report: one translation by the remapping unit's own walk, and every
 * present leaf of a domain, each table read once. Both read through the walker's side of memory
 * (RAM with the CPU cache snooped, as VT-d with ECAP.C does) and change nothing: no byte, no cache
 * line state, no IOTLB entry, so a report never perturbs the run it reports on.
 */
import { SimulatorBug } from '../lib/errors.js';
import type { IommuDomain } from '../machine/iommu/domain.js';
import {
  PAGE_SIZE,
  PTE_PS,
  PTE_R,
  PTE_W,
  PageWalker,
  levelSize,
} from '../machine/iommu/pagetable.js';
import type { Machine } from '../machine/machine.js';

/** One present leaf: a 4 KiB page or a 2 MiB / 1 GiB block. */
export interface Leaf {
  /** IOVA of the leaf's first byte. */
  readonly iova: number;
  /** Physical address of its first byte. */
  readonly phys: number;
  /** Bytes it maps. */
  readonly size: number;
  /** PTE_R | PTE_W, ANDed over the levels walked (what the hardware grants). */
  readonly rights: number;
}

const ENTRIES = PAGE_SIZE / 8;
const RW = PTE_R | PTE_W;
const TWO_32 = 2 ** 32;

/** 'r', 'w' or 'rw' for PTE rights. */
export function rightsName(rights: number): string {
  return ((rights & PTE_R) !== 0 ? 'r' : '') + ((rights & PTE_W) !== 0 ? 'w' : '');
}

export class TableReader {
  private readonly walker: PageWalker;

  constructor(private readonly m: Machine) {
    this.walker = new PageWalker({
      read: (phys, dst, off, len) => {
        m.cache.snoopRead(phys, dst, off, len);
      },
      write: () => {
        throw new SimulatorBug('the exposure report wrote to an I/O page table');
      },
    });
  }

  /** The leaf holding `iova` in `domain`'s tables, or null when nothing is mapped there. */
  lookup(domain: IommuDomain, iova: number): Leaf | null {
    const t = domain.pageTable;
    if (t === undefined || !Number.isSafeInteger(iova) || iova < 0 || iova >= t.span) return null;
    // The walker's paging-structure cache may predate an edit of the tables; start afresh.
    this.walker.invalidateCache();
    const rights = this.walker.walk(t.root, t.levels, iova);
    if (rights <= 0) return null;
    const { pageBase, pageSize } = this.walker;
    return { iova: iova - (iova % pageSize), phys: pageBase, size: pageSize, rights };
  }

  /** Every present leaf of `domain`'s tables, in IOVA order (none for an untranslated domain). */
  leaves(domain: IommuDomain): Leaf[] {
    const t = domain.pageTable;
    const out: Leaf[] = [];
    if (t !== undefined) this.scan(t.root, t.levels, 0, RW, out);
    return out;
  }

  /** Depth-first over the present entries of the table at `table`, which maps from `base` on. */
  private scan(table: number, level: number, base: number, rights: number, out: Leaf[]): void {
    const bytes = new Uint8Array(PAGE_SIZE);
    this.m.cache.snoopRead(table, bytes, 0, PAGE_SIZE);
    const v = new DataView(bytes.buffer);
    const step = levelSize(level);
    for (let i = 0; i < ENTRIES; i++) {
      const lo = v.getUint32(i * 8, true);
      const r = rights & lo & RW;
      if (r === 0) continue;
      const addr = ((lo & 0xfffff000) >>> 0) + (v.getUint32(i * 8 + 4, true) & 0xfffff) * TWO_32;
      const iova = base + i * step;
      // PS above level 3 is reserved: the hardware faults there, so nothing is reachable.
      if (level === 1 || (lo & PTE_PS) !== 0) {
        if (level <= 3) out.push({ iova, phys: addr, size: step, rights: r });
      } else this.scan(addr, level - 1, iova, r, out);
    }
  }
}
