import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { foldSum, internetChecksum, onesSum } from '../../../src/lib/net/checksum.js';

/** RFC 1071 section 4.1, in BigInt so no carry is ever lost. */
function reference(buf: Uint8Array, off: number, len: number, init: number): number {
  let s = BigInt(init);
  for (let i = 0; i < len; i += 2) {
    const hi = buf[off + i]!;
    const lo = i + 1 < len ? buf[off + i + 1]! : 0;
    s += BigInt((hi << 8) | lo);
  }
  while (s > 0xffffn) s = (s & 0xffffn) + (s >> 16n);
  return Number(s);
}

describe('Internet checksum (RFC 1071)', () => {
  it('matches the worked example of RFC 1071 section 3', () => {
    const b = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    expect(foldSum(onesSum(b, 0, b.length))).toBe(0xddf2);
    expect(internetChecksum(b, 0, b.length)).toBe(0x220d);
  });

  it('pads an odd last byte with zero, at any offset', () => {
    const b = Uint8Array.of(0xaa, 0x12, 0x34, 0x56, 0xbb);
    expect(onesSum(b, 1, 3)).toBe(0x1234 + 0x5600);
    expect(onesSum(b, 0, 1)).toBe(0xaa00);
    expect(onesSum(b, 2, 0, 7)).toBe(7);
  });

  it('folds carries end-around, never to zero for a nonzero sum', () => {
    expect(foldSum(0x1_fffe)).toBe(0xffff);
    expect(foldSum(0xffff_ffff)).toBe(0xffff);
    expect(foldSum(0x2_0001)).toBe(0x0003);
    const ones = new Uint8Array(8).fill(0xff);
    expect(internetChecksum(ones, 0, 8)).toBe(0);
    // A huge starting sum takes the fold inside onesSum.
    expect(foldSum(onesSum(Uint8Array.of(0, 1), 0, 2, 2 ** 40))).toBe(
      reference(Uint8Array.of(0, 1), 0, 2, 2 ** 40),
    );
  });

  it('a buffer with its checksum appended sums to all ones', () => {
    const b = Uint8Array.of(0x45, 0x00, 0x12, 0x34, 0x56, 0x78, 0, 0);
    const c = internetChecksum(b, 0, 6);
    b[6] = c >> 8;
    b[7] = c & 0xff;
    expect(foldSum(onesSum(b, 0, 8))).toBe(0xffff);
  });

  it('onesSum agrees with a BigInt reference (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.nat(),
        fc.nat(),
        fc.oneof(fc.constant(0), fc.nat({ max: 0xffff }), fc.nat({ max: 2 ** 48 })),
        (buf, a, b, init) => {
          const off = buf.length === 0 ? 0 : a % buf.length;
          const len = buf.length - off === 0 ? 0 : b % (buf.length - off + 1);
          expect(foldSum(onesSum(buf, off, len, init))).toBe(reference(buf, off, len, init));
        },
      ),
    );
  });

  it('sums a long run of 0xffff words exactly (carry folding inside onesSum)', () => {
    const buf = new Uint8Array(1 << 20).fill(0xff);
    expect(foldSum(onesSum(buf, 0, buf.length, 0xffff_fff0))).toBe(
      reference(buf, 0, buf.length, 0xffff_fff0),
    );
  });
});
