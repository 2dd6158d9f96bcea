/**
 * Kernel virtual addresses: numbers counted from the profile's `vaBase` (see lib/addr.ts), made
 * full 64-bit values (bigint) only to print or to read them back.
 */
import type { VirtAddr } from '../../lib/addr.js';
import { ConfigError } from '../../lib/errors.js';
import type { ArchProfile } from '../../machine/profile.js';

/** The full virtual address, as the kernel's %px prints it (lower-case hex, no 0x, padded). */
export function vaString(profile: ArchProfile, va: VirtAddr): string {
  const full = profile.vaBase + BigInt(va);
  return full.toString(16).padStart(profile.vaBits > 32 ? 16 : 8, '0');
}

/** Converts a full virtual address (from a trace or the user) to a VirtAddr, checking its range. */
export function vaFromBigint(profile: ArchProfile, full: bigint, where: string): VirtAddr {
  const off = full - profile.vaBase;
  if (off < 0n || off >= 1n << BigInt(profile.vaBits)) {
    throw new ConfigError(
      `${where}: 0x${full.toString(16)} is not a kernel virtual address of ${profile.name} (0x${profile.vaBase.toString(16)} and up)`,
    );
  }
  return Number(off) as VirtAddr;
}
