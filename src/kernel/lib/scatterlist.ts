/**
 * DOC: scatterlists and sg_tables (include/linux/scatterlist.h, lib/scatterlist.c, Linux 6.12).
 *
 * A scatterlist entry names a CPU-side piece of a buffer (page, offset, length) and, once the DMA
 * layer has mapped it, a bus-side segment (dma_address, dma_length). Entries live in arrays; the
 * last entry of a list carries the end mark, and an array may end in a chain entry that points
 * to the next array (sg_chain). An sg_table holds the first entry, orig_nents (CPU entries) and
 * nents (DMA segments after mapping, which may be fewer when the mapping merged entries).
 *
 * The kernel's page_link packs the page pointer and the SG_CHAIN/SG_END bits into one word; here
 * they are separate fields. Functions that need PAGE_SIZE, the memory map or memory itself take
 * the Kernel first, the model's stand-in for the kernel's globals.
 * MODEL: highmem pages cannot be copied to or from (kmap_local_page is not modelled); tables are
 * one array, not chained SG_MAX_SINGLE_ALLOC chunks; no append tables (sg_alloc_append_table_*),
 * no sgl_alloc, no sg_split, no P2PDMA pages.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../lib/addr.js';
import { dmaAddr } from '../../lib/addr.js';
import { SimulatorBug } from '../../lib/errors.js';
import { EINVAL } from '../errno.js';
import type { Kernel } from '../kernel.js';
import { KernelOops } from '../mm/kmem.js';
import { pfn } from '../mm/page.js';
import type { Pfn } from '../mm/page.js';

/** page_link bit: this entry is a chain entry pointing to another array. */
const SG_CHAIN = 0x01;
/** page_link bit: this entry is the last of the list. */
const SG_END = 0x02;

/** dma_flags bit (CONFIG_NEED_SG_DMA_FLAGS): the segment is a PCI bus address (P2PDMA). */
export const SG_DMA_BUS_ADDRESS = 1 << 0;
/** dma_flags bit: the segment was bounced through SWIOTLB. */
export const SG_DMA_SWIOTLB = 1 << 1;

/** sg_alloc_table_from_pages' max_segment: UINT_MAX, rounded down to a page by the callee. */
const UINT_MAX = 2 ** 32 - 1;

/** struct scatterlist. Fields are public: the DMA layer writes dmaAddress/dmaLength/dmaFlags. */
export class Scatterlist {
  /**
   * sg_page: first page of the entry; set by sgSetPage/sgAssignPage. Meaningless in a chain entry.
   */
  page: Pfn = pfn(0);
  /**
   * Byte offset of the data in `page`; may exceed PAGE_SIZE (the data then starts in a later page).
   */
  offset = 0;
  /** Bytes of data, CPU side. */
  length = 0;
  /** sg_dma_address: bus address of the mapped segment; written by the DMA layer, 0 until then. */
  dmaAddress: DmaAddr = dmaAddr(0);
  /** sg_dma_len: bytes of the mapped segment; written by the DMA layer, 0 until then. */
  dmaLength = 0;
  /** SG_DMA_BUS_ADDRESS / SG_DMA_SWIOTLB; written by the DMA layer. */
  dmaFlags = 0;
  /** page_link's low bits, SG_CHAIN and SG_END; written by sgMarkEnd, sgChain, sgInitTable. */
  linkFlags = 0;
  /**
   * The entry after this one in its array (`sg + 1`), null after the array's last; set by
   * sgInitTable.
   */
  nextInArray: Scatterlist | null = null;
  /** For a chain entry: first entry of the next array (sg_chain_ptr); else null. */
  chainTo: Scatterlist | null = null;
}

/** struct sg_table. */
export class SgTable {
  /** First entry, or null when the table is empty or freed. */
  sgl: Scatterlist | null = null;
  /** Mapped DMA segments; equals origNents until dma_map_sgtable stores its count. */
  nents = 0;
  /** CPU entries in the list; what unmap and sync must be given. */
  origNents = 0;
}

function reset(sg: Scatterlist): void {
  sg.page = pfn(0);
  sg.offset = 0;
  sg.length = 0;
  sg.dmaAddress = dmaAddr(0);
  sg.dmaLength = 0;
  sg.dmaFlags = 0;
  sg.linkFlags = 0;
  sg.chainTo = null;
}

/**
 * sg_init_table - zero `nents` entries of an array, link them in order and mark the last as the
 * end.
 * @param sgl the array (the model's `struct scatterlist sg[n]`); missing entries are created
 * @param nents entries to initialise (at least 1)
 * @linux lib/scatterlist.c sg_init_table
 */
export function sgInitTable(sgl: Scatterlist[], nents: number): void {
  if (!Number.isSafeInteger(nents) || nents < 1) {
    throw new SimulatorBug(`sg_init_table: nents ${String(nents)} is not a positive count`);
  }
  let next = sgl[nents] ?? null;
  for (let i = nents - 1; i >= 0; i--) {
    const sg = sgl[i] ?? new Scatterlist();
    sgl[i] = sg;
    reset(sg);
    if (i === nents - 1) sgMarkEnd(sg);
    sg.nextInArray = next;
    next = sg;
  }
}

/**
 * sg_init_one - make `sg` a one-entry list describing the linear-map buffer `buf`.
 * @linux lib/scatterlist.c sg_init_one
 */
export function sgInitOne(k: Kernel, sg: Scatterlist, buf: VirtAddr, buflen: number): void {
  reset(sg);
  sg.nextInArray = null;
  sgMarkEnd(sg);
  sgSetBuf(k, sg, buf, buflen);
}

/**
 * sg_is_chain - true for a chain entry (it holds no data).
 * @linux include/linux/scatterlist.h sg_is_chain
 */
export function sgIsChain(sg: Scatterlist): boolean {
  return (sg.linkFlags & SG_CHAIN) !== 0;
}

/**
 * sg_is_last - true for the entry carrying the end mark.
 * @linux include/linux/scatterlist.h sg_is_last
 */
export function sgIsLast(sg: Scatterlist): boolean {
  return (sg.linkFlags & SG_END) !== 0;
}

/**
 * sg_mark_end - make `sg` the last entry (clears a chain mark).
 * @linux include/linux/scatterlist.h sg_mark_end
 */
export function sgMarkEnd(sg: Scatterlist): void {
  sg.linkFlags = (sg.linkFlags | SG_END) & ~SG_CHAIN;
}

/** sg_unmark_end - remove the end mark. @linux include/linux/scatterlist.h sg_unmark_end */
export function sgUnmarkEnd(sg: Scatterlist): void {
  sg.linkFlags &= ~SG_END;
}

/**
 * sg_chain - turn entry `prvNents - 1` of `prv` into a chain entry pointing to `sgl`; that entry
 * then holds no data, so `prv` carries `prvNents - 1` data entries.
 * @linux include/linux/scatterlist.h sg_chain
 */
export function sgChain(prv: Scatterlist[], prvNents: number, sgl: Scatterlist): void {
  const link = prv[prvNents - 1];
  if (link === undefined) throw new SimulatorBug(`sg_chain: no entry ${String(prvNents - 1)}`);
  link.offset = 0;
  link.length = 0;
  link.linkFlags = SG_CHAIN;
  link.chainTo = sgl;
}

/**
 * sg_next - the entry after `sg`, following a chain entry.
 * @returns the next entry, or null after the last
 * @linux lib/scatterlist.c sg_next
 */
export function sgNext(sg: Scatterlist): Scatterlist | null {
  if (sgIsLast(sg)) return null;
  const next = sg.nextInArray;
  if (next === null)
    throw new KernelOops('sg_next: walked past the end of an sg array with no end mark');
  return sgIsChain(next) ? next.chainTo : next;
}

/**
 * for_each_sg - the first `nents` entries from `sgl`, in order.
 * Throws KernelOops if the list ends first (the kernel would dereference NULL).
 * @linux include/linux/scatterlist.h for_each_sg
 */
export function* forEachSg(sgl: Scatterlist | null, nents: number): Generator<Scatterlist> {
  let sg = sgl;
  for (let i = 0; i < nents; i++) {
    if (sg === null)
      throw new KernelOops(
        `for_each_sg: list ended after ${String(i)} of ${String(nents)} entries`,
      );
    yield sg;
    sg = sgNext(sg);
  }
}

/**
 * for_each_sgtable_sg - the CPU entries (orig_nents).
 * @linux include/linux/scatterlist.h for_each_sgtable_sg
 */
export function forEachSgtableSg(sgt: SgTable): Generator<Scatterlist> {
  return forEachSg(sgt.sgl, sgt.origNents);
}

/**
 * for_each_sgtable_dma_sg - the mapped segments (nents).
 * @linux include/linux/scatterlist.h for_each_sgtable_dma_sg
 */
export function forEachSgtableDmaSg(sgt: SgTable): Generator<Scatterlist> {
  return forEachSg(sgt.sgl, sgt.nents);
}

/**
 * sg_nents - entries in the list up to and including the end mark (chain entries not counted).
 * @linux lib/scatterlist.c sg_nents
 */
export function sgNents(sgl: Scatterlist | null): number {
  let n = 0;
  for (let sg = sgl; sg !== null; sg = sgNext(sg)) n++;
  return n;
}

/**
 * sg_nents_for_len - entries needed to cover `len` bytes.
 * @returns the count (0 for len 0), or -EINVAL if the whole list is shorter than `len`
 * @linux lib/scatterlist.c sg_nents_for_len
 */
export function sgNentsForLen(sgl: Scatterlist | null, len: number): number {
  if (len === 0) return 0;
  let n = 0;
  let total = 0;
  for (let sg = sgl; sg !== null; sg = sgNext(sg)) {
    n++;
    total += sg.length;
    if (total >= len) return n;
  }
  return -EINVAL;
}

/**
 * sg_assign_page - set the page, keeping the end mark.
 * @linux include/linux/scatterlist.h sg_assign_page
 */
export function sgAssignPage(sg: Scatterlist, page: Pfn): void {
  if (sgIsChain(sg)) throw new KernelOops('sg_assign_page: a chain entry holds no page');
  sg.page = page;
}

/**
 * sg_set_page - point `sg` at `len` bytes from `offset` in `page`.
 * @linux include/linux/scatterlist.h sg_set_page
 */
export function sgSetPage(sg: Scatterlist, page: Pfn, len: number, offset: number): void {
  sgAssignPage(sg, page);
  sg.offset = offset;
  sg.length = len;
}

/** sg_page - the entry's page. @linux include/linux/scatterlist.h sg_page */
export function sgPage(sg: Scatterlist): Pfn {
  if (sgIsChain(sg)) throw new KernelOops('sg_page: a chain entry holds no page');
  return sg.page;
}

/**
 * sg_set_buf - point `sg` at a linear-map buffer: virt_to_page(buf), offset_in_page(buf).
 * Throws KernelOops for a vmalloc or otherwise non-linear address, as CONFIG_DEBUG_SG's
 * BUG_ON(!virt_addr_valid(buf)) does (without it the kernel would use a wrong page).
 * @linux include/linux/scatterlist.h sg_set_buf
 */
export function sgSetBuf(k: Kernel, sg: Scatterlist, buf: VirtAddr, buflen: number): void {
  if (!k.vm.virtAddrValid(buf)) {
    throw new KernelOops(`sg_set_buf: ${k.vm.format(buf)} is not a linear-map address`);
  }
  sgSetPage(sg, k.virtToPage(buf), buflen, k.offsetInPage(buf));
}

/**
 * sg_phys - physical address of the entry's first byte.
 * @linux include/linux/scatterlist.h sg_phys
 */
export function sgPhys(k: Kernel, sg: Scatterlist): PhysAddr {
  return (k.pages.pageToPhys(sgPage(sg)) + sg.offset) as PhysAddr;
}

/**
 * sg_virt - linear-map address of the entry's first byte.
 * @returns the address, or null for a highmem page (the kernel would return NULL + offset)
 * @linux include/linux/scatterlist.h sg_virt
 */
export function sgVirt(k: Kernel, sg: Scatterlist): VirtAddr | null {
  const va = k.pageAddress(sgPage(sg));
  return va === null ? null : ((va + sg.offset) as VirtAddr);
}

/**
 * sg_dma_address - bus address of the mapped segment (write `sg.dmaAddress` to set).
 * @linux include/linux/scatterlist.h sg_dma_address
 */
export function sgDmaAddress(sg: Scatterlist): DmaAddr {
  return sg.dmaAddress;
}

/**
 * sg_dma_len - length of the mapped segment (write `sg.dmaLength` to set).
 * @linux include/linux/scatterlist.h sg_dma_len
 */
export function sgDmaLen(sg: Scatterlist): number {
  return sg.dmaLength;
}

/** sg_dma_is_bus_address. @linux include/linux/scatterlist.h sg_dma_is_bus_address */
export function sgDmaIsBusAddress(sg: Scatterlist): boolean {
  return (sg.dmaFlags & SG_DMA_BUS_ADDRESS) !== 0;
}

/** sg_dma_mark_bus_address. @linux include/linux/scatterlist.h sg_dma_mark_bus_address */
export function sgDmaMarkBusAddress(sg: Scatterlist): void {
  sg.dmaFlags |= SG_DMA_BUS_ADDRESS;
}

/** sg_dma_unmark_bus_address. @linux include/linux/scatterlist.h sg_dma_unmark_bus_address */
export function sgDmaUnmarkBusAddress(sg: Scatterlist): void {
  sg.dmaFlags &= ~SG_DMA_BUS_ADDRESS;
}

/** sg_dma_is_swiotlb. @linux include/linux/scatterlist.h sg_dma_is_swiotlb */
export function sgDmaIsSwiotlb(sg: Scatterlist): boolean {
  return (sg.dmaFlags & SG_DMA_SWIOTLB) !== 0;
}

/** sg_dma_mark_swiotlb. @linux include/linux/scatterlist.h sg_dma_mark_swiotlb */
export function sgDmaMarkSwiotlb(sg: Scatterlist): void {
  sg.dmaFlags |= SG_DMA_SWIOTLB;
}

/**
 * sg_alloc_table - give `table` a fresh list of `nents` zeroed entries; nents = origNents.
 * @returns 0, or -EINVAL for nents 0 (the table is left empty)
 * MODEL: the kernel kmallocs the entries (chaining SG_MAX_SINGLE_ALLOC-entry chunks) and can fail
 * with -ENOMEM; here the list is one JavaScript array and never fails for memory.
 * @linux lib/scatterlist.c sg_alloc_table
 */
export function sgAllocTable(table: SgTable, nents: number): number {
  table.sgl = null;
  table.nents = 0;
  table.origNents = 0;
  if (!Number.isSafeInteger(nents) || nents < 1) return -EINVAL;
  const sgl: Scatterlist[] = [];
  sgInitTable(sgl, nents);
  table.sgl = sgl[0] ?? null;
  table.nents = nents;
  table.origNents = nents;
  return 0;
}

/**
 * sg_free_table - release the table's entries; the table reads as empty afterwards.
 * @linux lib/scatterlist.c sg_free_table
 */
export function sgFreeTable(table: SgTable): void {
  table.sgl = null;
  table.nents = 0;
  table.origNents = 0;
}

/**
 * End (exclusive) of the run of physically contiguous pages from `start`, at most `maxPages` long.
 */
function chunkEnd(pages: readonly Pfn[], start: number, maxPages: number): number {
  let j = start + 1;
  while (j < pages.length && j - start < maxPages && pages[j] === (pages[j - 1] ?? -1) + 1) j++;
  return j;
}

/**
 * sg_alloc_table_from_pages_segment - build a table over `size` bytes starting `offset` bytes into
 * pages[0], one entry per run of physically contiguous pages, a run holding at most
 * max_segment / PAGE_SIZE pages (max_segment rounded down to a page). The first entry is shortened
 * by `offset` and the last by what lies past `size`.
 * @param pages the pages, exactly DIV_ROUND_UP(offset + size, PAGE_SIZE) of them
 * @returns 0, or -EINVAL for a max_segment below a page or inconsistent arguments
 * MODEL: the kernel does not check offset, size and the page count against each other (a wrong
 * count gives a wrong table); the model returns -EINVAL.
 * @linux lib/scatterlist.c sg_alloc_table_from_pages_segment
 */
export function sgAllocTableFromPagesSegment(
  k: Kernel,
  sgt: SgTable,
  pages: readonly Pfn[],
  offset: number,
  size: number,
  maxSegment: number,
): number {
  return allocTableFromPages(k.machine.profile.pageSize, sgt, pages, offset, size, maxSegment);
}

/**
 * sg_alloc_table_from_pages_segment for callers that know the page size but hold no Kernel (the
 * DMA layer): the same table, the same return values.
 */
export function allocTableFromPages(
  pageSize: number,
  sgt: SgTable,
  pages: readonly Pfn[],
  offset: number,
  size: number,
  maxSegment = UINT_MAX,
): number {
  const maxPages = Math.floor(maxSegment / pageSize);
  const badArgs = offset < 0 || offset >= pageSize || size < 1;
  if (maxPages < 1 || badArgs || Math.ceil((offset + size) / pageSize) !== pages.length) {
    return -EINVAL;
  }
  let chunks = 0;
  for (let i = 0; i < pages.length; i = chunkEnd(pages, i, maxPages)) chunks++;
  const err = sgAllocTable(sgt, chunks);
  if (err !== 0) return err;
  let sg = sgt.sgl;
  let left = size;
  let off = offset;
  for (let i = 0; i < pages.length && sg !== null; sg = sgNext(sg)) {
    const end = chunkEnd(pages, i, maxPages);
    const chunk = (end - i) * pageSize - off;
    sgSetPage(sg, pages[i] ?? pfn(0), Math.min(left, chunk), off);
    left -= chunk;
    off = 0;
    i = end;
  }
  return 0;
}

/**
 * sg_alloc_table_from_pages - sgAllocTableFromPagesSegment with max_segment UINT_MAX.
 * @linux include/linux/scatterlist.h sg_alloc_table_from_pages
 */
export function sgAllocTableFromPages(
  k: Kernel,
  sgt: SgTable,
  pages: readonly Pfn[],
  offset: number,
  size: number,
): number {
  return sgAllocTableFromPagesSegment(k, sgt, pages, offset, size, UINT_MAX);
}

/** Copies n bytes between buf[at..] and the entry's data from byte `skip`, page by page. */
function copyEntry(
  k: Kernel,
  sg: Scatterlist,
  skip: number,
  buf: Uint8Array,
  at: number,
  n: number,
  toBuffer: boolean,
): void {
  const pageSize = k.machine.profile.pageSize;
  for (let done = 0; done < n;) {
    const pos = sg.offset + skip + done;
    const page = pfn(sgPage(sg) + Math.floor(pos / pageSize));
    const inPage = pos % pageSize;
    const piece = Math.min(n - done, pageSize - inPage);
    const va = k.pageAddress(page);
    if (va === null) {
      throw new SimulatorBug(
        `sg_copy_buffer: pfn ${String(page)} is highmem (kmap is not modelled)`,
      );
    }
    const at2 = at + done;
    if (toBuffer) k.vm.read((va + inPage) as VirtAddr, buf, at2, piece);
    else k.vm.write((va + inPage) as VirtAddr, buf, at2, piece);
    done += piece;
  }
}

/**
 * sg_copy_buffer - copy between a linear buffer and the first `nents` entries of a list, starting
 * `skip` bytes into the list, through the CPU (the copy goes through the CPU caches).
 * @param toBuffer true: list → buf (sg_copy_to_buffer); false: buf → list
 * @returns bytes copied: min(buflen, list bytes after skip)
 * @linux lib/scatterlist.c sg_copy_buffer
 */
export function sgCopyBuffer(
  k: Kernel,
  sgl: Scatterlist | null,
  nents: number,
  buf: Uint8Array,
  buflen: number,
  skip: number,
  toBuffer: boolean,
): number {
  let done = 0;
  let toSkip = skip;
  let sg = sgl;
  for (let i = 0; i < nents && sg !== null && done < buflen; i++, sg = sgNext(sg)) {
    if (toSkip >= sg.length) {
      toSkip -= sg.length;
      continue;
    }
    const n = Math.min(sg.length - toSkip, buflen - done);
    copyEntry(k, sg, toSkip, buf, done, n, toBuffer);
    done += n;
    toSkip = 0;
  }
  return done;
}

/**
 * sg_copy_from_buffer - buf → list.
 * @returns bytes copied.
 * @linux lib/scatterlist.c sg_copy_from_buffer
 */
export function sgCopyFromBuffer(
  k: Kernel,
  sgl: Scatterlist | null,
  nents: number,
  buf: Uint8Array,
  buflen: number,
): number {
  return sgCopyBuffer(k, sgl, nents, buf, buflen, 0, false);
}

/**
 * sg_copy_to_buffer - list → buf.
 * @returns bytes copied.
 * @linux lib/scatterlist.c sg_copy_to_buffer
 */
export function sgCopyToBuffer(
  k: Kernel,
  sgl: Scatterlist | null,
  nents: number,
  buf: Uint8Array,
  buflen: number,
): number {
  return sgCopyBuffer(k, sgl, nents, buf, buflen, 0, true);
}

/**
 * sg_pcopy_from_buffer - buf → list from byte `skip` of the list.
 * @linux lib/scatterlist.c sg_pcopy_from_buffer
 */
export function sgPcopyFromBuffer(
  k: Kernel,
  sgl: Scatterlist | null,
  nents: number,
  buf: Uint8Array,
  buflen: number,
  skip: number,
): number {
  return sgCopyBuffer(k, sgl, nents, buf, buflen, skip, false);
}

/**
 * sg_pcopy_to_buffer - list → buf from byte `skip` of the list.
 * @linux lib/scatterlist.c sg_pcopy_to_buffer
 */
export function sgPcopyToBuffer(
  k: Kernel,
  sgl: Scatterlist | null,
  nents: number,
  buf: Uint8Array,
  buflen: number,
  skip: number,
): number {
  return sgCopyBuffer(k, sgl, nents, buf, buflen, skip, true);
}
