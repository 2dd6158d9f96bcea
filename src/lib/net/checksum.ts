/**
 * The Internet checksum (RFC 1071): the ones'-complement sum of 16-bit big-endian words, used by
 * IPv4, ICMP, UDP and TCP, and computed by NICs for checksum offload.
 */

/** Typed arrays use the host's byte order; the word path below needs to know it. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Adds buf[off..off+len) as big-endian 16-bit words to `sum` (an odd last byte is padded with 0). */
export function onesSum(buf: Uint8Array, off: number, len: number, sum = 0): number {
  if (LITTLE_ENDIAN && len >= 64 && ((buf.byteOffset + off) & 1) === 0)
    return wordSum(buf, off, len, sum);
  let s = sum;
  const end = off + len - 1;
  let i = off;
  // Eight bytes a step: a NIC model sums every received frame. Four words add up to < 2^18.
  for (; i + 8 <= end + 1; i += 8)
    s +=
      (((buf[i] as number) +
        (buf[i + 2] as number) +
        (buf[i + 4] as number) +
        (buf[i + 6] as number)) <<
        8) +
      (buf[i + 1] as number) +
      (buf[i + 3] as number) +
      (buf[i + 5] as number) +
      (buf[i + 7] as number);
  for (; i < end; i += 2) s += ((buf[i] as number) << 8) | (buf[i + 1] as number);
  if (i === end) s += (buf[i] as number) << 8;
  // Fold often enough that the sum stays an exact integer far below 2^53.
  return s > 0xffff_ffff ? (s % 0xffff) + 0xffff : s;
}

/**
 * onesSum over host-order 16-bit words: the ones'-complement sum does not depend on byte order
 * (RFC 1071 §2(B)), so the little-endian sum, folded and byte-swapped, is the big-endian one.
 */
function wordSum(buf: Uint8Array, off: number, len: number, sum: number): number {
  const n = len >>> 1;
  let le = 0;
  let k = 0;
  if (((buf.byteOffset + off) & 3) === 0) {
    const all = new Int32Array(buf.buffer, buf.byteOffset + off, n >>> 1);
    for (let d = 0; d < all.length; d += DWORD_CHUNK)
      le += dwordSum(d === 0 && all.length <= DWORD_CHUNK ? all : all.subarray(d, d + DWORD_CHUNK));
    k = all.length * 2;
  }
  if (k < n) {
    const words = new Uint16Array(buf.buffer, buf.byteOffset + off + k * 2, n - k);
    for (let w = 0; w < words.length; w++) le += words[w] as number;
  }
  const f = foldSum(le);
  let s = sum + (((f & 0xff) << 8) | (f >>> 8));
  if ((len & 1) !== 0) s += (buf[off + len - 1] as number) << 8;
  return s > 0xffff_ffff ? (s % 0xffff) + 0xffff : s;
}

/** Dwords per dwordSum call: 2^14 halves of at most 0xffff each stay below 2^31. */
const DWORD_CHUNK = 1 << 14;

/**
 * Sum of the 16-bit halves of 32-bit words: a word is high * 2^16 + low and 2^16 is 1 in
 * ones'-complement arithmetic, so folding sums both. Halves are summed apart in int32 (at most
 * DWORD_CHUNK words), four words a step: loop overhead, not the adds, was most of the cost.
 */
function dwordSum(d: Int32Array): number {
  let lo = 0;
  let hi = 0;
  const n = d.length;
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const a = d[i] as number;
    const b = d[i + 1] as number;
    const c = d[i + 2] as number;
    const e = d[i + 3] as number;
    lo = (lo + (a & 0xffff) + (b & 0xffff) + (c & 0xffff) + (e & 0xffff)) | 0;
    hi = (hi + (a >>> 16) + (b >>> 16) + (c >>> 16) + (e >>> 16)) | 0;
  }
  for (; i < n; i++) {
    const a = d[i] as number;
    lo = (lo + (a & 0xffff)) | 0;
    hi = (hi + (a >>> 16)) | 0;
  }
  return (lo >>> 0) + (hi >>> 0);
}

/** Folds a sum to 16 bits with end-around carry, without complementing. */
export function foldSum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value: the complement of the folded sum. */
export function internetChecksum(buf: Uint8Array, off: number, len: number, sum = 0): number {
  return ~foldSum(onesSum(buf, off, len, sum)) & 0xffff;
}
