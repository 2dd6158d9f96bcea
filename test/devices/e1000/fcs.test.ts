import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32, crc32Tables } from '../../../src/devices/e1000/fcs.js';
import { hostCrc32 } from '../../../src/lib/host.js';

/** CRC-32 one bit at a time, straight from the polynomial. */
function reference(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('the FCS CRC-32', () => {
  it('has the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('slicing by 8 equals the bitwise definition at any length and offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(16), (b, skip) => {
        const off = Math.min(skip, b.length);
        expect(crc32Tables(b, off)).toBe(reference(b.subarray(off)));
        expect(crc32(b, off)).toBe(reference(b.subarray(off)));
      }),
      { numRuns: 300, seed: 3 },
    );
  });
});

describe("the host's native CRC-32", () => {
  it('gives the portable tables result on any bytes (when the host has one)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(16), (b, skip) => {
        const off = Math.min(skip, b.length);
        expect(crc32(b, off)).toBe(crc32Tables(b, off));
      }),
      { numRuns: 200, seed: 5 },
    );
  });

  it('is found on Node 20.15+ (the speed the e1000 benchmark counts on)', () => {
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    expect(hostCrc32() !== null).toBe(major > 20 || (major === 20 && minor >= 15));
  });
});
