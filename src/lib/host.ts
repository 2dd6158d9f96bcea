/**
 * Native helpers the host JavaScript engine may offer, found without importing anything, so the
 * core still loads unchanged in a browser (where none is found and the portable code runs).
 * Whatever is found must give exactly the portable code's results: runs stay deterministic.
 */

type Crc32 = (data: Uint8Array) => number;

interface NodeProcess {
  getBuiltinModule?: (id: string) => unknown;
}

/** Node's built-in module `id`, or undefined elsewhere. */
function nodeModule(id: string): unknown {
  // Reading `process` off globalThis is the one sanctioned look at the host: no Node import.
  const proc = (globalThis as { process?: NodeProcess }).process;
  return proc?.getBuiltinModule?.(id);
}

/** Node's zlib.crc32 (v20.15+, IEEE 802.3 polynomial), or null. */
export function hostCrc32(): Crc32 | null {
  const zlib = nodeModule('node:zlib') as { crc32?: unknown } | undefined;
  const fn = zlib?.crc32;
  if (typeof fn !== 'function') return null;
  const crc = fn as (data: Uint8Array, value?: number) => number;
  // Trust it only if it agrees with the standard check value.
  const check = Uint8Array.of(0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39); // "123456789"
  return crc(check) === 0xcbf43926 ? (d) => crc(d) : null;
}

/** Decodes bytes that are all ASCII; null when some byte is not (the caller decodes UTF-8). */
type AsciiDecode = (bytes: Uint8Array) => string | null;

interface NodeBuffer {
  isAscii?: unknown;
  Buffer?: {
    from(buf: ArrayBufferLike, offset: number, length: number): { toString(enc: 'latin1'): string };
  };
}

/**
 * Node's buffer.isAscii (v19.6+) and a latin1 slice: several times faster than TextDecoder on
 * trace text, which is ASCII; for ASCII bytes UTF-8 and latin1 decode alike. Null elsewhere.
 */
export function hostAsciiDecode(): AsciiDecode | null {
  const mod = nodeModule('node:buffer') as NodeBuffer | undefined;
  const isAscii = mod?.isAscii;
  const B = mod?.Buffer;
  if (typeof isAscii !== 'function' || B === undefined) return null;
  const ascii = isAscii as (b: Uint8Array) => boolean;
  const check = Uint8Array.of(0x61, 0x3d, 0x31, 0x0a); // "a=1\n"
  if (!ascii(check) || ascii(Uint8Array.of(0xc3, 0xa9))) return null;
  const decode: AsciiDecode = (b) =>
    ascii(b) ? B.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1') : null;
  return decode(check) === 'a=1\n' ? decode : null;
}
