/**
 * DMA masks (include/linux/dma-mapping.h DMA_BIT_MASK): 64-bit values kept exact as bigint, with a
 * numeric limit for hot comparisons. Addresses are below 2^52 (DESIGN.md "Addresses"), so for an
 * address `a`, `a <= mask` exactly when `a <= maskToLimit(mask)`.
 */
import { SimulatorBug } from '../../lib/errors.js';

/** The all-ones 64-bit value: DMA_BIT_MASK(64), U64_MAX. */
export const U64_MAX = (1n << 64n) - 1n;

/** The all-ones 32-bit value: DMA_BIT_MASK(32), the default mask when a driver sets none. */
export const DMA_MASK_32 = 0xffff_ffffn;

/** ISA's reach, 16 MiB: DMA_BIT_MASK(24). */
export const DMA_MASK_24 = 0xff_ffffn;

/**
 * DMA_BIT_MASK(n): the low `n` bits set, n from 0 to 64.
 * @throws SimulatorBug for any other n (a bug in the caller, not a user error)
 * @linux include/linux/dma-mapping.h DMA_BIT_MASK
 */
export function dmaBitMask(n: number): bigint {
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new SimulatorBug(`DMA_BIT_MASK(${n})`);
  return n === 64 ? U64_MAX : (1n << BigInt(n)) - 1n;
}

/** min(mask, 2^53 - 1) as a number: compares with any model address as the mask does. */
export function maskToLimit(mask: bigint): number {
  return mask > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(mask);
}

/** True if `mask` fits in a u64. */
export function isU64(mask: bigint): boolean {
  return mask >= 0n && mask <= U64_MAX;
}

/** ilog2 of a positive value: the index of its highest set bit. */
export function ilog2(v: number | bigint): number {
  const b = BigInt(v);
  if (b <= 0n) throw new SimulatorBug(`ilog2(${b})`);
  return b.toString(2).length - 1;
}

/** The mask as the kernel prints it with %llx (lower-case hex, no leading zeros), 0x prefixed. */
export function maskString(mask: bigint): string {
  return '0x' + mask.toString(16);
}
