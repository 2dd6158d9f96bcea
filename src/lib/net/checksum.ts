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
    // Two words at a time where 32-bit aligned: a 32-bit word's value is its high word * 2^16 +
    // its low word, and 2^16 is 1 in ones'-complement arithmetic, so folding sums both.
    const dwords = new Uint32Array(buf.buffer, buf.byteOffset + off, n >>> 1);
    for (let d = 0; d < dwords.length; d++) le += dwords[d] as number;
    k = dwords.length * 2;
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
