/**
 * Scatterlists and sg_tables: building entries from buffers and pages, iteration and chaining,
 * merging pages into segments, copying through the CPU.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { VirtAddr } from '../../../src/lib/addr.js';
import { dmaAddr } from '../../../src/lib/addr.js';
import { EINVAL } from '../../../src/kernel/errno.js';
import { Kernel } from '../../../src/kernel/kernel.js';
import {
  forEachSg,
  forEachSgtableDmaSg,
  forEachSgtableSg,
  Scatterlist,
  sgAllocTable,
  sgAllocTableFromPages,
  sgAllocTableFromPagesSegment,
  sgChain,
  sgCopyFromBuffer,
  sgCopyToBuffer,
  sgDmaAddress,
  sgDmaIsBusAddress,
  sgDmaIsSwiotlb,
  sgDmaLen,
  sgDmaMarkBusAddress,
  sgDmaMarkSwiotlb,
  sgDmaUnmarkBusAddress,
  sgFreeTable,
  sgInitOne,
  sgInitTable,
  sgIsLast,
  sgMarkEnd,
  sgNents,
  sgNentsForLen,
  sgPcopyToBuffer,
  sgPhys,
  sgSetBuf,
  sgSetPage,
  SgTable,
  sgVirt,
} from '../../../src/kernel/lib/scatterlist.js';
import { KernelOops } from '../../../src/kernel/mm/kmem.js';
import { GFP_KERNEL } from '../../../src/kernel/mm/gfp.js';
import { pfn } from '../../../src/kernel/mm/page.js';
import type { Pfn } from '../../../src/kernel/mm/page.js';
import { Machine } from '../../../src/machine/machine.js';

const PAGE = 4096;
const k = new Kernel(new Machine({ ramSize: 256 * 2 ** 20 }));

const pfns = (...n: number[]): Pfn[] => n.map(pfn);
const range = (first: number, count: number): Pfn[] =>
  Array.from({ length: count }, (_, i) => pfn(first + i));
const entries = (sgt: SgTable): [number, number, number][] =>
  [...forEachSgtableSg(sgt)].map((sg) => [sg.page, sg.offset, sg.length]);
const kmalloc = (size: number): VirtAddr => {
  const va = k.kmalloc.kmalloc(size, GFP_KERNEL);
  if (va === null) throw new Error('kmalloc failed');
  return va;
};
const list = (n: number): Scatterlist[] => {
  const sg: Scatterlist[] = [];
  sgInitTable(sg, n);
  return sg;
};

describe('entries from buffers and pages', () => {
  test('sg_set_buf on a kmalloc buffer names its page and offset; DMA fields start at 0', () => {
    const buf = kmalloc(100);
    const phys = k.virtToPhys(buf);
    const sg = new Scatterlist();
    sgInitOne(k, sg, buf, 100);
    expect(sg.page).toBe(Math.floor(phys / PAGE));
    expect(sg.offset).toBe(phys % PAGE);
    expect(sg.length).toBe(100);
    expect(sgPhys(k, sg)).toBe(phys);
    expect(sgVirt(k, sg)).toBe(buf);
    expect(sgIsLast(sg)).toBe(true);
    expect(sgDmaAddress(sg)).toBe(0);
    expect(sgDmaLen(sg)).toBe(0);
    expect(sg.dmaFlags).toBe(0);
  });

  test('sg_set_buf on a vmalloc address is a BUG', () => {
    const sg = list(1)[0]!;
    const vmallocVa = k.vm.vmalloc.start;
    expect(() => {
      sgSetBuf(k, sg, vmallocVa, 8);
    }).toThrow(KernelOops);
  });

  test('sg_set_page and the DMA fields', () => {
    const sg = list(2)[0]!;
    sgSetPage(sg, pfn(0x1234), 300, 0x80);
    expect(sgPhys(k, sg)).toBe(0x1234 * PAGE + 0x80);
    sg.dmaAddress = dmaAddr(0xfee0_0000);
    sg.dmaLength = 300;
    expect(sgDmaAddress(sg)).toBe(0xfee0_0000);
    expect(sgDmaLen(sg)).toBe(300);
    sgDmaMarkBusAddress(sg);
    sgDmaMarkSwiotlb(sg);
    expect([sgDmaIsBusAddress(sg), sgDmaIsSwiotlb(sg)]).toEqual([true, true]);
    sgDmaUnmarkBusAddress(sg);
    expect([sgDmaIsBusAddress(sg), sgDmaIsSwiotlb(sg)]).toEqual([false, true]);
  });
});

describe('iteration and chaining', () => {
  test('for_each_sg visits nents entries in order; the last carries the end mark', () => {
    const sg = list(4);
    expect([...forEachSg(sg[0]!, 4)]).toEqual(sg);
    expect([...forEachSg(sg[0]!, 2)]).toEqual(sg.slice(0, 2));
    expect(sg.map(sgIsLast)).toEqual([false, false, false, true]);
    expect(sgNents(sg[0]!)).toBe(4);
    expect(() => [...forEachSg(sg[0]!, 5)]).toThrow(KernelOops);
  });

  test('sg_mark_end shortens the list', () => {
    const sg = list(4);
    sgMarkEnd(sg[1]!);
    expect(sgNents(sg[0]!)).toBe(2);
  });

  test('sg_chain links two arrays; the chain entry is skipped', () => {
    const a = list(3);
    const b = list(2);
    sgChain(a, 3, b[0]!);
    expect([...forEachSg(a[0]!, 4)]).toEqual([a[0], a[1], b[0], b[1]]);
    expect(sgNents(a[0]!)).toBe(4);
  });

  test('sg_nents_for_len', () => {
    const sg = list(3);
    [100, 200, 300].forEach((len, i) => {
      sgSetPage(sg[i]!, pfn(0x100 + i), len, 0);
    });
    const counts = [0, 100, 101, 300, 600, 601].map((len) => sgNentsForLen(sg[0]!, len));
    expect(counts).toEqual([0, 1, 2, 2, 3, -EINVAL]);
  });
});

describe('sg_table', () => {
  test('sg_alloc_table: nents = orig_nents, zeroed entries; sg_free_table empties it', () => {
    const t = new SgTable();
    expect(sgAllocTable(t, 3)).toBe(0);
    expect([t.nents, t.origNents, sgNents(t.sgl)]).toEqual([3, 3, 3]);
    expect(entries(t)).toEqual([
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
    t.nents = 1;
    expect([...forEachSgtableDmaSg(t)]).toHaveLength(1);
    sgFreeTable(t);
    expect([t.sgl, t.nents, t.origNents]).toEqual([null, 0, 0]);
    expect(sgAllocTable(t, 0)).toBe(-EINVAL);
  });

  test('from pages: contiguous runs merge, gaps split, offset and size trim the ends', () => {
    const t = new SgTable();
    const pages = pfns(100, 101, 102, 200, 201, 300);
    expect(sgAllocTableFromPagesSegment(k, t, pages, 512, 22064, 65536)).toBe(0);
    expect(entries(t)).toEqual([
      [100, 512, 11776],
      [200, 0, 8192],
      [300, 0, 2096],
    ]);
    expect([t.nents, t.origNents]).toEqual([3, 3]);
  });

  test('from pages: a run longer than max_segment is split into max_segment pieces', () => {
    const t = new SgTable();
    expect(sgAllocTableFromPagesSegment(k, t, range(10, 5), 100, 5 * PAGE - 100, 8192)).toBe(0);
    expect(entries(t)).toEqual([
      [10, 100, 8092],
      [12, 0, 8192],
      [14, 0, 4096],
    ]);
    expect(sgAllocTableFromPagesSegment(k, t, range(0x800, 20), 0, 20 * PAGE, 65536)).toBe(0);
    expect(entries(t)).toEqual([
      [0x800, 0, 65536],
      [0x810, 0, 16384],
    ]);
    // max_segment is rounded down to a page.
    expect(sgAllocTableFromPagesSegment(k, t, range(10, 5), 0, 5 * PAGE, 3 * PAGE - 1)).toBe(0);
    expect(entries(t).map((e) => e[2])).toEqual([8192, 8192, 4096]);
    expect(sgAllocTableFromPages(k, t, range(0x800, 20), 0, 20 * PAGE)).toBe(0);
    expect(entries(t)).toEqual([[0x800, 0, 20 * PAGE]]);
  });

  test('from pages: bad arguments give -EINVAL', () => {
    const t = new SgTable();
    expect(sgAllocTableFromPagesSegment(k, t, range(10, 2), 0, 2 * PAGE, PAGE - 1)).toBe(-EINVAL);
    expect(sgAllocTableFromPages(k, t, range(10, 2), 0, PAGE)).toBe(-EINVAL);
    expect(sgAllocTableFromPages(k, t, range(10, 1), PAGE, 1)).toBe(-EINVAL);
    expect(sgAllocTableFromPages(k, t, [], 0, 0)).toBe(-EINVAL);
  });
});

describe('copying', () => {
  const pattern = (n: number): Uint8Array =>
    Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
  const readVa = (va: VirtAddr, n: number): Uint8Array => {
    const out = new Uint8Array(n);
    k.vm.read(va, out, 0, n);
    return out;
  };

  test('sg_copy_from_buffer / sg_copy_to_buffer move exact bytes across entries and pages', () => {
    const a = kmalloc(1000);
    const b = kmalloc(3000);
    const pages = k.pages.allocPages(GFP_KERNEL, 1);
    if (pages === null) throw new Error('alloc_pages failed');
    const pagesVa = k.pageAddress(pages)!;
    const sg = list(3);
    sgSetBuf(k, sg[0]!, a, 1000);
    sgSetPage(sg[1]!, pages, 200, 4000); // crosses into the second page
    sgSetBuf(k, sg[2]!, b, 3000);
    const src = pattern(4200);

    expect(sgCopyFromBuffer(k, sg[0]!, 3, src, src.length)).toBe(4200);
    expect(readVa(a, 1000)).toEqual(src.subarray(0, 1000));
    expect(readVa((pagesVa + 4000) as VirtAddr, 200)).toEqual(src.subarray(1000, 1200));
    expect(readVa(b, 3000)).toEqual(src.subarray(1200, 4200));

    const dst = new Uint8Array(5000);
    expect(sgCopyToBuffer(k, sg[0]!, 3, dst, dst.length)).toBe(4200);
    expect(dst.subarray(0, 4200)).toEqual(src);
    expect(dst.subarray(4200).every((x) => x === 0)).toBe(true);

    const part = new Uint8Array(200);
    expect(sgPcopyToBuffer(k, sg[0]!, 3, part, 200, 900)).toBe(200);
    expect(part).toEqual(src.subarray(900, 1100));
    expect(sgCopyToBuffer(k, sg[0]!, 1, dst, dst.length)).toBe(1000);
  });
});

describe('property: sg_alloc_table_from_pages_segment', () => {
  const runs = fc.array(
    fc.record({ gap: fc.integer({ min: 1, max: 3 }), len: fc.integer({ min: 1, max: 10 }) }),
    {
      minLength: 1,
      maxLength: 6,
    },
  );
  const toPages = (rs: { gap: number; len: number }[]): Pfn[] => {
    const out: Pfn[] = [];
    let next = 0x1000;
    for (const r of rs) {
      next += r.gap - 1;
      for (let i = 0; i < r.len; i++) out.push(pfn(next++));
    }
    return out;
  };

  test('covers exactly the requested bytes, in order, no entry over max_segment', () => {
    const arb = fc.record({
      rs: runs,
      offset: fc.integer({ min: 0, max: PAGE - 1 }),
      tail: fc.integer({ min: 0, max: PAGE - 1 }),
      maxPages: fc.integer({ min: 1, max: 8 }),
      maxExtra: fc.integer({ min: 0, max: PAGE - 1 }),
    });
    fc.assert(
      fc.property(arb, ({ rs, offset, tail, maxPages, maxExtra }) => {
        const pages = toPages(rs);
        const size = Math.max(1, pages.length * PAGE - offset - tail);
        const trimmed = pages.slice(0, Math.ceil((offset + size) / PAGE));
        const t = new SgTable();
        const maxSeg = maxPages * PAGE + maxExtra;
        expect(sgAllocTableFromPagesSegment(k, t, trimmed, offset, size, maxSeg)).toBe(0);
        expect(t.nents).toBe(t.origNents);
        expect(sgNents(t.sgl)).toBe(t.origNents);
        let cursor = 0; // bytes of the request covered so far
        for (const sg of forEachSgtableSg(t)) {
          expect(sg.length).toBeGreaterThan(0);
          expect(sg.length).toBeLessThanOrEqual(maxPages * PAGE);
          for (let done = 0; done < sg.length;) {
            const want = offset + cursor + done;
            const have = sg.offset + done;
            expect(sg.page + Math.floor(have / PAGE)).toBe(trimmed[Math.floor(want / PAGE)]);
            expect(have % PAGE).toBe(want % PAGE);
            done += Math.min(sg.length - done, PAGE - (have % PAGE));
          }
          cursor += sg.length;
        }
        expect(cursor).toBe(size);
      }),
    );
  });
});
