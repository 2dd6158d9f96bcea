/**
 * Native helpers the host JavaScript engine may offer, found without importing anything, so the
 * core still loads unchanged in a browser (where none is found and the portable code runs).
 * Whatever is found must give exactly the portable code's results: runs stay deterministic.
 */

type Crc32 = (data: Uint8Array) => number;

interface NodeProcess {
  getBuiltinModule?: (id: string) => unknown;
}

/** Node's zlib.crc32 (v20.15+, IEEE 802.3 polynomial), or null. */
export function hostCrc32(): Crc32 | null {
  // Reading `process` off globalThis is the one sanctioned look at the host: no Node import.
  const proc = (globalThis as { process?: NodeProcess }).process;
  const zlib = proc?.getBuiltinModule?.('node:zlib') as { crc32?: unknown } | undefined;
  const fn = zlib?.crc32;
  if (typeof fn !== 'function') return null;
  const crc = fn as (data: Uint8Array, value?: number) => number;
  // Trust it only if it agrees with the standard check value.
  const check = Uint8Array.of(0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39); // "123456789"
  return crc(check) === 0xcbf43926 ? (d) => crc(d) : null;
}
