/**
 * The bitmap area searches the DMA allocators share (lib/bitmap.c, Linux 6.12): the first free
 * run with an alignment (bitmap_find_next_zero_area_off, used by CMA and gen_pool) and the first
 * free naturally aligned power-of-two region (bitmap_find_free_region, used by per-device
 * coherent pools). MODEL: one byte per bit, so a search reads bytes instead of words; the
 * positions found are the kernel's.
 */

/** A bitmap of `nbits` bits, one byte each (0 free, 1 set). */
export type Bitmap = Uint8Array;

/** bitmap_zalloc. */
export function bitmapZalloc(nbits: number): Bitmap {
  return new Uint8Array(nbits);
}

/** bitmap_set: sets bits [start, start + nr). */
export function bitmapSet(map: Bitmap, start: number, nr: number): void {
  map.fill(1, start, start + nr);
}

/** bitmap_clear: clears bits [start, start + nr). */
export function bitmapClear(map: Bitmap, start: number, nr: number): void {
  map.fill(0, start, start + nr);
}

/**
 * bitmap_find_next_zero_area_off - the first run of `nr` clear bits from `start` whose index
 * plus `alignOffset` is a multiple of alignMask + 1 (alignMask is 2^k - 1).
 * @returns the first bit of the run, or -1 when none fits (the kernel returns a value past the
 *   end, which its callers test the same way)
 * @linux lib/bitmap.c bitmap_find_next_zero_area_off
 */
export function bitmapFindNextZeroAreaOff(
  map: Bitmap,
  size: number,
  start: number,
  nr: number,
  alignMask: number,
  alignOffset = 0,
): number {
  for (;;) {
    let index = map.indexOf(0, start);
    if (index < 0 || index >= size) return -1;
    index = alignUpMask(index + alignOffset, alignMask) - alignOffset;
    const end = index + nr;
    if (end > size) return -1;
    const busy = map.subarray(index, end).indexOf(1);
    if (busy < 0) return index;
    start = index + busy + 1;
  }
}

/**
 * bitmap_find_free_region - claims the first free block of 2^order bits at a multiple of its
 * own size.
 * @returns the first bit of the block, or -1 (-ENOMEM) when none is free
 * @linux lib/bitmap.c bitmap_find_free_region
 */
export function bitmapFindFreeRegion(map: Bitmap, bits: number, order: number): number {
  const n = 2 ** order;
  for (let pos = 0; pos + n <= bits; pos += n) {
    if (map.subarray(pos, pos + n).indexOf(1) >= 0) continue;
    bitmapSet(map, pos, n);
    return pos;
  }
  return -1;
}

/**
 * bitmap_release_region - frees the 2^order-bit block at `pos`.
 * @linux lib/bitmap.c bitmap_release_region
 */
export function bitmapReleaseRegion(map: Bitmap, pos: number, order: number): void {
  bitmapClear(map, pos, 2 ** order);
}

/** __ALIGN_MASK: rounds up to the next multiple of mask + 1. */
function alignUpMask(x: number, mask: number): number {
  return Math.ceil(x / (mask + 1)) * (mask + 1);
}
