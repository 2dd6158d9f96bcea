import fc from 'fast-check';
import { describe, it, expect } from 'vitest';
import { ConfigError } from '../../../src/lib/errors.js';
import {
  IoPageTable,
  type MapProt,
  PageWalker,
  PTE_R,
  PTE_W,
  WALK_RESERVED,
} from '../../../src/machine/iommu/pagetable.js';
import { SparseRam } from '../../../src/machine/memory/ram.js';
import { TABLE_POOL, readPte, tableAlloc, writePte } from './rig.js';

const MIB2 = 0x20_0000;
const RW = { read: true, write: true };

/** The message of the ConfigError `fn` throws. */
function thrown(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

function makeTable(levels = 4): { ram: SparseRam; pt: IoPageTable; pages: number[] } {
  const ram = new SparseRam();
  const t = tableAlloc();
  const pt = new IoPageTable({ levels, mem: ram, allocTable: t.allocTable });
  return { ram, pt, pages: t.pages };
}

describe('IoPageTable.map and lookup', () => {
  it('translates with the page offset kept and the rights given', () => {
    const { pt } = makeTable();
    pt.map(0xfffff000, 0x1234_5000, 0x1000, { read: true, write: false });
    expect(pt.lookup(0xfffff9c2)).toEqual({
      phys: 0x1234_59c2,
      pageSize: 0x1000,
      read: true,
      write: false,
    });
    expect(pt.lookup(0xffffe000)).toBeUndefined();
  });

  it('writes VT-d second-level entries into RAM, one table per level', () => {
    const { ram, pt, pages } = makeTable();
    pt.map(0xfffff000, 0x1_2345_6000, 0x1000, { read: true, write: true });
    // Root, level-3, level-2 and level-1 tables, allocated top-down.
    expect(pages).toEqual([0x10_0000, 0x10_1000, 0x10_2000, 0x10_3000]);
    expect(pt.root).toBe(TABLE_POOL);
    // IOVA 0xfffff000: level-4 index 0, level-3 index 3, level-2 index 511, level-1 index 511.
    expect(readPte(ram, 0x10_0000 + 0 * 8)).toEqual([0x10_1000 | 3, 0]);
    expect(readPte(ram, 0x10_1000 + 3 * 8)).toEqual([0x10_2000 | 3, 0]);
    expect(readPte(ram, 0x10_2000 + 511 * 8)).toEqual([0x10_3000 | 3, 0]);
    // Leaf: address bits 12..31 in the low half with R|W, bits 32..51 in the high half.
    expect(readPte(ram, 0x10_3000 + 511 * 8)).toEqual([0x2345_6003, 0x1]);
    // A read-only leaf has only bit 0.
    pt.map(0xffffe000, 0x5000, 0x1000, { read: true, write: false });
    expect(readPte(ram, 0x10_3000 + 510 * 8)).toEqual([0x5001, 0]);
  });

  it('uses 2 MiB blocks (PS at level 2) only when asked and aligned', () => {
    const { ram, pt, pages } = makeTable();
    pt.map(0x4000_0000, 0x8000_0000, 2 * MIB2, { read: true, write: true, superpage: true });
    expect(pages.length).toBe(3); // no level-1 table
    expect(readPte(ram, pages[2]! + 0 * 8)).toEqual([(0x8000_0000 | 0x83) >>> 0, 0]);
    expect(readPte(ram, pages[2]! + 1 * 8)).toEqual([(0x8020_0000 | 0x83) >>> 0, 0]);
    expect(pt.lookup(0x4032_3456)).toEqual({
      phys: 0x8032_3456,
      pageSize: MIB2,
      read: true,
      write: true,
    });
    // Not asked: 4 KiB pages.
    pt.map(0x4040_0000, 0x8040_0000, MIB2, { read: true, write: true });
    expect(pt.lookup(0x4040_0000)?.pageSize).toBe(0x1000);
    // Asked, but phys not 2 MiB-aligned: 4 KiB pages.
    pt.map(0x4060_0000, 0x8061_0000, MIB2, { read: true, write: true, superpage: true });
    expect(pt.lookup(0x407f_f000)).toMatchObject({ phys: 0x8080_f000, pageSize: 0x1000 });
  });

  it('falls back to 4 KiB pages where a level-1 table already hangs', () => {
    const { pt } = makeTable();
    pt.map(0x4000_0000, 0x1000, 0x1000, { read: true, write: true });
    pt.unmap(0x4000_0000, 0x1000);
    pt.map(0x4000_0000, 0x8000_0000, MIB2, { read: true, write: true, superpage: true });
    expect(pt.lookup(0x4000_1000)).toMatchObject({ phys: 0x8000_1000, pageSize: 0x1000 });
  });

  it('refuses to map over a mapping and leaves nothing of the new range mapped', () => {
    const { pt } = makeTable();
    pt.map(0x3000, 0x9000, 0x1000, { read: true, write: true });
    expect(() => {
      pt.map(0x1000, 0x20000, 0x4000, { read: true, write: true });
    }).toThrow(/IOVA 0x3000 is already mapped; unmap 0x1000\+0x4000 first/);
    expect(pt.lookup(0x1000)).toBeUndefined();
    expect(pt.lookup(0x2000)).toBeUndefined();
    expect(pt.lookup(0x3000)?.phys).toBe(0x9000);
  });

  it('rejects bad arguments with a ConfigError that says how to fix them', () => {
    const { pt } = makeTable();
    const mapError = (iova: number, phys: number, size: number, prot: MapProt = RW): string =>
      thrown(() => {
        pt.map(iova, phys, size, prot);
      });
    expect(mapError(0x1234, 0x1000, 0x1000)).toBe(
      'iommu map: IOVA 0x1234 must be a non-negative multiple of 4096 below 2^52; align it to the page',
    );
    expect(mapError(0x1000, 0x1001, 0x1000)).toMatch(/phys 0x1001 must be/);
    expect(mapError(0x1000, 0x1000, 0x800)).toMatch(/size 0x800 must be/);
    expect(mapError(0x1000, 0x1000, 0)).toMatch(/size 0 at IOVA 0x1000; give >= 4096/);
    expect(mapError(2 ** 60, 0x1000, 0x1000)).toMatch(/IOVA 0x1000000000000000 must be/);
    expect(mapError(0.5, 0x1000, 0x1000)).toMatch(/IOVA 0.5 must be/);
    expect(mapError(0x1000, 2 ** 52 - 0x1000, 0x2000)).toMatch(/passes 2\^52/);
    expect(mapError(0x1000, 0x1000, 0x1000, { read: false, write: false })).toMatch(
      /neither read nor write; give one/,
    );
    expect(mapError(2 ** 48 - 0x1000, 0x1000, 0x2000)).toMatch(
      /passes 0x1000000000000, the end of the 4-level tables' reach/,
    );
    expect(
      thrown(() => {
        pt.unmap(0x1800, 0x1000);
      }),
    ).toMatch(/iommu unmap: IOVA 0x1800 must be/);
  });

  it('covers 2^39 bytes with 3 levels', () => {
    const { pt, pages } = makeTable(3);
    pt.map(2 ** 39 - 0x1000, 0x7000, 0x1000, { read: false, write: true });
    expect(pages.length).toBe(3);
    expect(pt.lookup(2 ** 39 - 0x1000)).toEqual({
      phys: 0x7000,
      pageSize: 0x1000,
      read: false,
      write: true,
    });
    expect(() => {
      pt.map(2 ** 39, 0x7000, 0x1000, { read: true, write: true });
    }).toThrow(ConfigError);
  });
});

describe('IoPageTable.unmap', () => {
  it('returns the bytes unmapped, skipping holes', () => {
    const { pt } = makeTable();
    const rw = { read: true, write: true };
    pt.map(0x1000, 0x10000, 0x1000, rw);
    pt.map(0x3000, 0x30000, 0x2000, rw);
    expect(pt.unmap(0x1000, 0x4000)).toBe(0x3000);
    expect(pt.lookup(0x1000)).toBeUndefined();
    expect(pt.lookup(0x4000)).toBeUndefined();
    expect(pt.unmap(0x1000, 0x4000)).toBe(0);
    // A hole the size of a whole level-3 entry is skipped, not walked page by page.
    expect(pt.unmap(0, 2 ** 40)).toBe(0);
  });

  it('unmaps a partly covered 2 MiB block whole, as Linux does', () => {
    const { pt } = makeTable();
    pt.map(0x4000_0000, 0x8000_0000, MIB2, { read: true, write: true, superpage: true });
    expect(pt.unmap(0x4010_0000, 0x1000)).toBe(MIB2);
    expect(pt.lookup(0x4000_0000)).toBeUndefined();
  });

  it('clears the leaf in RAM', () => {
    const { ram, pt } = makeTable();
    pt.map(0xfffff000, 0x5000, 0x1000, { read: true, write: true });
    pt.unmap(0xfffff000, 0x1000);
    expect(readPte(ram, 0x10_3000 + 511 * 8)).toEqual([0, 0]);
  });
});

describe('PageWalker', () => {
  it('ANDs the rights of all levels', () => {
    const { ram, pt, pages } = makeTable();
    pt.map(0x1000, 0x5000, 0x1000, { read: true, write: true });
    const walker = new PageWalker(ram);
    expect(walker.walk(pt.root, 4, 0x1000)).toBe(PTE_R | PTE_W);
    // Make the level-3 directory entry read-only. A directory change needs an invalidation
    // before the walker sees it: it caches directory entries.
    writePte(ram, pages[1]!, pages[2]! | PTE_R, 0);
    expect(walker.walk(pt.root, 4, 0x1000)).toBe(PTE_R | PTE_W);
    walker.invalidateCache();
    expect(walker.walk(pt.root, 4, 0x1000)).toBe(PTE_R);
    expect(walker.pageBase).toBe(0x5000);
    // Neither R nor W: not present.
    writePte(ram, pages[1]!, pages[2]!, 0);
    walker.invalidateCache();
    expect(walker.walk(pt.root, 4, 0x1000)).toBe(0);
  });

  it('resumes walks of the same 2 MiB region from its paging-structure cache', () => {
    const { ram, pt } = makeTable();
    pt.map(0x20_0000, 0x80_0000, 0x4000, { read: true, write: true });
    const walker = new PageWalker(ram);
    for (let p = 0; p < 4; p++) {
      expect(walker.walk(pt.root, 4, 0x20_0000 + p * 0x1000)).toBe(PTE_R | PTE_W);
      expect(walker.pageBase).toBe(0x80_0000 + p * 0x1000);
    }
    expect([walker.fullWalks, walker.cachedWalks]).toEqual([1, 3]);
    pt.unmap(0x20_1000, 0x1000); // a leaf change is seen at once: leaves are never cached here
    expect(walker.walk(pt.root, 4, 0x20_1000)).toBe(0);
    walker.invalidateCache();
    walker.walk(pt.root, 4, 0x20_0000);
    expect(walker.fullWalks).toBe(2);
  });

  it('takes PS at level 3 as a 1 GiB page and reports PS at level 4 as reserved', () => {
    const ram = new SparseRam();
    const root = 0x10_0000;
    const l3 = 0x10_1000;
    writePte(ram, root, l3 | 3, 0);
    writePte(ram, l3 + 8, 0x4000_0000 | 0x83, 0x2); // IOVA 1 GiB → phys 0x2_4000_0000
    const walker = new PageWalker(ram);
    expect(walker.walk(root, 4, 0x4567_8000)).toBe(PTE_R | PTE_W);
    expect(walker.pageBase).toBe(0x2_4000_0000);
    expect(walker.pageSize).toBe(2 ** 30);
    writePte(ram, root, l3 | 0x83, 0);
    expect(walker.walk(root, 4, 0x4567_8000)).toBe(WALK_RESERVED);
  });
});

describe('IoPageTable against a reference model', () => {
  it('any sequence of page and block maps and unmaps over a few regions translates as a map of pages says', () => {
    // Regions 0..3 of 2 MiB; ops jump between them, so the table's remembered leaf table is used
    // and replaced all the time.
    const op = fc.record({
      map: fc.boolean(),
      region: fc.nat(3),
      page: fc.nat(511),
      pages: fc.integer({ min: 1, max: 8 }),
      block: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const { pt } = makeTable();
        const want = new Map<number, number>(); // page index -> phys
        let phys = 0x4000_0000;
        for (const o of ops) {
          const first = o.region * 512 + (o.block ? 0 : o.page);
          const n = o.block ? 512 : Math.min(o.pages, 512 - o.page);
          const iova = first * 4096;
          if (o.map) {
            const free = Array.from({ length: n }, (_, i) => !want.has(first + i)).every(Boolean);
            if (!free) continue;
            pt.map(iova, phys, n * 4096, { ...RW, superpage: o.block });
            for (let i = 0; i < n; i++) want.set(first + i, phys + i * 4096);
            phys += o.block ? MIB2 : n * 4096;
          } else {
            const blockHere = pt.lookup(iova)?.pageSize === MIB2;
            pt.unmap(iova, n * 4096);
            // A partly covered 2 MiB block goes whole.
            const from = blockHere ? o.region * 512 : first;
            const to = blockHere ? o.region * 512 + 512 : first + n;
            for (let p = from; p < to; p++) want.delete(p);
          }
          for (let p = 0; p < 4 * 512; p += 37) {
            expect(pt.lookup(p * 4096)?.phys).toBe(want.get(p));
          }
        }
      }),
    );
  });
});
