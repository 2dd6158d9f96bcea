/**
 * The printf pieces of the dma, iommu and swiotlb events read back: %llx and %016llx values,
 * %zu and %d numbers, __print_array lists, and the direction, attrs and gfp decoders
 * (include/trace/events/dma.h, include/trace/events/mmflags.h, kernel/trace/trace_output.c).
 * Everything here is pure: a FieldCursor walks one line's fields text and throws FieldError;
 * the reader adds the file, the line number and the line.
 */
import type { TraceU64 } from '../kernel/dma/trace-format.js';
import { DMA_ATTR_TRACE_NAMES } from '../kernel/dma/trace-format.js';
import { DmaDataDirection } from '../kernel/dma/direction.js';
import type { Gfp } from '../kernel/mm/gfp.js';
import { GFP_NAMES } from '../kernel/mm/gfp.js';

/** A field that does not parse; the message names the field and quotes the bad text. */
export class FieldError extends Error {
  override readonly name = 'FieldError';
}

/** Longest bad value quoted in full in a message. */
const QUOTE_MAX = 40;

/** The text quoted in a message, cut when long. */
export function quote(s: string): string {
  return JSON.stringify(s.length > QUOTE_MAX ? s.slice(0, QUOTE_MAX) + '...' : s);
}

/**
 * Attribute names newer than the model's table (DMA_ATTR_TRACE_NAMES, 6.12): MMIO is printed from
 * 6.18; the two 7.x names follow it in the decoder (facts §1.10, §8.2).
 */
export const NEWER_DMA_ATTR_NAMES: readonly (readonly [bit: number, name: string])[] = [
  [1 << 10, 'MMIO'],
  [1 << 11, 'CACHELINES_OVERLAP'],
  [1 << 12, 'REQUIRE_COHERENT'],
];

const ATTR_BITS = new Map<string, number>(
  [...DMA_ATTR_TRACE_NAMES, ...NEWER_DMA_ATTR_NAMES].map(([bit, name]) => [name, bit]),
);
const GFP_BITS = new Map<string, number>(GFP_NAMES.map(([mask, name]) => [name, mask]));
const DIRS = new Map<string, DmaDataDirection>([
  ['BIDIRECTIONAL', DmaDataDirection.BIDIRECTIONAL],
  ['TO_DEVICE', DmaDataDirection.TO_DEVICE],
  ['FROM_DEVICE', DmaDataDirection.FROM_DEVICE],
  ['NONE', DmaDataDirection.NONE],
]);
/** Decoded attrs and flags strings: a trace repeats a handful of them thousands of times. */
const attrCache = new Map<string, number>();
const gfpCache = new Map<string, Gfp>();

/** Value of each ASCII hex digit, -1 for any other character. */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX[i.toString(16).charCodeAt(0)] = i;
  HEX[i.toString(16).toUpperCase().charCodeAt(0)] = i;
}

function hexDigit(c: number): number {
  return c < 128 ? (HEX[c] ?? -1) : -1;
}

/**
 * Hex digits (no prefix) as a TraceU64: a number while it is a safe integer, else a bigint.
 * @returns null when the text is empty, holds a non-hex character or is wider than 64 bits
 */
export function hexU64(s: string, start = 0, end = s.length): TraceU64 | null {
  const n = end - start;
  if (n === 0 || n > 16) return null;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = hexDigit(s.charCodeAt(i));
    if (d < 0) return null;
    v = v * 16 + d;
  }
  // Exact while every partial sum stays below 2^53; rounding is monotone, so a result below
  // 2^53 means the exact value is below it too.
  if (v <= Number.MAX_SAFE_INTEGER) return v;
  return BigInt('0x' + s.slice(start, end));
}

/** Decimal digits as a safe integer, or null. */
export function decimal(s: string, start = 0, end = s.length): number | null {
  if (end <= start || end - start > 16) return null;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return null;
    v = v * 10 + c;
  }
  return Number.isSafeInteger(v) ? v : null;
}

/**
 * decode_dma_attrs read back: names joined by "|", then any bits no name covers as "0x<hex>".
 * MODEL: attrs is an unsigned long, but no DMA_ATTR_* bit is above bit 12; bits above 31 are
 * refused as unknown.
 * @returns the bits, or null for an unknown name
 */
export function parseDmaAttrs(s: string): number | null {
  const hit = attrCache.get(s);
  if (hit !== undefined) return hit;
  let bits = 0;
  if (s !== '') {
    for (const part of s.split('|')) {
      const bit = part.startsWith('0x') ? hexU64(part, 2) : (ATTR_BITS.get(part) ?? null);
      if (typeof bit !== 'number' || bit > 0xffff_ffff) return null;
      bits = (bits | bit) >>> 0;
    }
  }
  attrCache.set(s, bits);
  return bits;
}

/**
 * show_gfp_flags read back: "none", or names joined by "|" with a trailing "0x<hex>" for bits no
 * name covers. Composite names (GFP_KERNEL) and single bits (__GFP_ZERO) both map to their mask.
 * @returns the flags, or null for an unknown name
 */
export function parseGfpFlags(s: string): Gfp | null {
  const hit = gfpCache.get(s);
  if (hit !== undefined) return hit;
  let flags = 0;
  if (s !== 'none') {
    for (const part of s.split('|')) {
      const mask = part.startsWith('0x') ? hexU64(part, 2) : (GFP_BITS.get(part) ?? null);
      if (typeof mask !== 'number' || mask > 0xffff_ffff) return null;
      flags = (flags | mask) >>> 0;
    }
  }
  gfpCache.set(s, flags);
  return flags;
}

/** decode_dma_data_direction read back; null for anything but the four names. */
export function parseDirection(s: string): DmaDataDirection | null {
  return DIRS.get(s) ?? null;
}

/** Whether "0x" is at `i`. */
function is0x(text: string, i: number): boolean {
  return text.charCodeAt(i) === 48 && text.charCodeAt(i + 1) === 120;
}

/**
 * Walks the fields text of one event, text[pos, end): literal labels, then values up to the next
 * space. The text is usually a whole chunk of the input (the line is never cut out of it), so
 * every search stops at `end`. Reused for every line (reset()), so reading allocates only the
 * values it returns.
 */
export class FieldCursor {
  text = '';
  pos = 0;
  end = 0;

  /** Starts on text[pos, end) (the fields of an ftrace line begin after its columns). */
  reset(text: string, pos = 0, end = text.length): this {
    this.text = text;
    this.pos = pos;
    this.end = end;
    return this;
  }

  /** Consumes `label` at the cursor. */
  lit(label: string): void {
    if (this.pos + label.length > this.end || !this.text.startsWith(label, this.pos)) {
      throw this.missing(label);
    }
    this.pos += label.length;
  }

  /** Where `s` next occurs in the fields, or -1. */
  find(s: string): number {
    const at = this.text.indexOf(s, this.pos);
    return at < 0 || at + s.length > this.end ? -1 : at;
  }

  /** The text from the cursor to the next occurrence of `stop` (not consumed). */
  until(stop: string): string {
    const end = this.find(stop);
    if (end < 0) throw this.missing(stop.trimStart());
    const s = this.text.slice(this.pos, end);
    this.pos = end;
    return s;
  }

  /** The rest of the fields. */
  rest(): string {
    const s = this.text.slice(this.pos, this.end);
    this.pos = this.end;
    return s;
  }

  /** The text from the cursor to the next space or the end. */
  token(): string {
    const end = this.valueEnd();
    const s = this.text.slice(this.pos, end);
    this.pos = end;
    return s;
  }

  /** End of the value at the cursor: the next space or the end of the fields. */
  private valueEnd(): number {
    const sp = this.text.indexOf(' ', this.pos);
    return sp < 0 || sp > this.end ? this.end : sp;
  }

  /** `label` then a %llx value. */
  hex(label: string): TraceU64 {
    this.lit(label);
    const start = this.pos;
    const end = this.valueEnd();
    const v = hexU64(this.text, start, end);
    if (v === null) throw this.bad(label, this.text.slice(start, end));
    this.pos = end;
    return v;
  }

  /** `label` then "0x" and a %016llx value (the iommu events). */
  hex0x(label: string): TraceU64 {
    this.lit(label);
    const start = this.pos;
    const end = this.valueEnd();
    const ok = is0x(this.text, start);
    const v = ok ? hexU64(this.text, start + 2, end) : null;
    if (v === null) throw this.bad(label, this.text.slice(start, end));
    this.pos = end;
    return v;
  }

  /** `label` then a %zu / %u value. MODEL: refused above 2^53 - 1 (no size or count is). */
  dec(label: string): number {
    this.lit(label);
    const start = this.pos;
    const end = this.valueEnd();
    const v = decimal(this.text, start, end);
    if (v === null) throw this.bad(label, this.text.slice(start, end));
    this.pos = end;
    return v;
  }

  /** `label` then a %d value (may be negative). */
  int(label: string): number {
    this.lit(label);
    const tok = this.token();
    const neg = tok.startsWith('-');
    const v = decimal(tok, neg ? 1 : 0);
    if (v === null) throw this.bad(label, tok);
    return neg ? -v : v;
  }

  /** `label` then a direction name. */
  dir(label: string): DmaDataDirection {
    this.lit(label);
    const tok = this.token();
    const d = parseDirection(tok);
    if (d === null) throw new FieldError(`unknown direction ${quote(tok)}`);
    return d;
  }

  /** `label` then attrs names. */
  attrs(label: string): number {
    this.lit(label);
    const tok = this.token();
    const a = parseDmaAttrs(tok);
    if (a === null) throw new FieldError(`unknown attrs ${quote(tok)}`);
    return a;
  }

  /** `label` then gfp flag names. */
  gfp(label: string): Gfp {
    this.lit(label);
    const tok = this.token();
    const f = parseGfpFlags(tok);
    if (f === null) throw new FieldError(`unknown gfp flags ${quote(tok)}`);
    return f;
  }

  /** `label` then a __print_array list of u64 values: `{0x1000,0x2000}`, read in place. */
  u64Array(label: string): TraceU64[] {
    this.lit(label);
    const t = this.text;
    const start = this.pos;
    const end = this.valueEnd();
    const out: TraceU64[] = [];
    const close = end - 1;
    if (end - start < 2 || t.charCodeAt(start) !== 123 || t.charCodeAt(close) !== 125) {
      throw this.bad(label, t.slice(start, end));
    }
    let i = start + 1;
    while (i < close) {
      let stop = t.indexOf(',', i);
      if (stop < 0 || stop > close) stop = close;
      const v = is0x(t, i) ? hexU64(t, i + 2, stop) : null;
      // A trailing comma ("{0x1,}") leaves an empty element before the brace.
      if (v === null || (stop === close && t.charCodeAt(stop - 1) === 44)) {
        throw this.bad(label, t.slice(start, end));
      }
      out.push(v);
      i = stop + 1;
    }
    this.pos = end;
    return out;
  }

  /** `label` then a __print_array list of unsigned ints (sg_dma_len values). */
  u32Array(label: string): number[] {
    const values = this.u64Array(label);
    const out: number[] = [];
    for (const v of values) {
      if (typeof v !== 'number' || v > 0xffff_ffff) throw this.bad(label, String(v));
      out.push(v);
    }
    return out;
  }

  /** Whether `s` follows at the cursor. */
  at(s: string): boolean {
    return this.pos + s.length <= this.end && this.text.startsWith(s, this.pos);
  }

  /** Whether `s` follows at the cursor (consumed if so). */
  maybe(s: string): boolean {
    if (!this.at(s)) return false;
    this.pos += s.length;
    return true;
  }

  /** The fields must end here. */
  done(): void {
    if (this.pos === this.end) return;
    const extra = this.text.slice(this.pos, this.end);
    throw new FieldError(`unexpected text after the fields: ${quote(extra)}`);
  }

  private bad(label: string, tok: string): FieldError {
    return new FieldError(`bad ${label.trim().replace(/=$/, '')} ${quote(tok)}`);
  }

  private missing(label: string): FieldError {
    const l = JSON.stringify(label.trim());
    if (this.pos >= this.end) return new FieldError(`truncated: ends before ${l}`);
    return new FieldError(`expected ${l} at ${quote(this.text.slice(this.pos, this.end))}`);
  }
}
