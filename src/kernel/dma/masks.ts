/**
 * Addressing limits of the DMA API (kernel/dma/mapping.c, kernel/dma/direct.c; facts §1.5, §3.4):
 * setting masks, whether the platform can honour one, the mask the machine's RAM needs, and the
 * largest mapping. Masks are 64-bit and exact (bigint), set rarely; hot paths use the numeric
 * limits the Device derives from them.
 */
import type { ArchProfile } from '../../machine/profile.js';
import type { Device } from '../device/device.js';
import { EIO } from '../errno.js';
import { isSwiotlbActive, isSwiotlbForceBounce, swiotlbMaxMappingSize } from './swiotlb.js';
import type { IoTlbMem } from './swiotlb.js';

/** SIZE_MAX of a 64-bit kernel, as the model's largest size. */
export const SIZE_MAX = Number.MAX_SAFE_INTEGER;
const U64 = (1n << 64n) - 1n;
const MASK32 = 0xffff_ffffn;

export interface MaskEnv {
  readonly profile: ArchProfile;
  /** First physical address past the kernel's RAM ((max_pfn) << PAGE_SHIFT). */
  readonly ramEnd: number;
  readonly swiotlb: IoTlbMem | null;
}

/** (dma_addr_t)mask: the width of dma_addr_t on this profile. */
function truncate(env: MaskEnv, mask: bigint): bigint {
  return env.profile.physAddrBits > 32 ? mask & U64 : mask & MASK32;
}

/**
 * dma_direct_supported - whether dma-direct can give `mask` memory: 32-bit masks always (ZONE_DMA32
 * or no RAM above), smaller ones if they reach all RAM or ZONE_DMA.
 * @linux kernel/dma/direct.c dma_direct_supported
 */
export function dmaSupported(env: MaskEnv, mask: bigint): boolean {
  if (mask >= MASK32) return true;
  let minMask = BigInt(env.ramEnd - env.profile.pageSize);
  if (env.profile.zoneDmaLimit !== null) {
    const zoneMax = BigInt(env.profile.zoneDmaLimit - 1);
    if (zoneMax < minMask) minMask = zoneMax;
  }
  return mask >= minMask;
}

/**
 * dma_set_mask - the streaming mask.
 * @returns 0, or -EIO when the platform cannot honour it (the driver may try a smaller one)
 * @linux kernel/dma/mapping.c dma_set_mask
 */
export function dmaSetMask(env: MaskEnv, dev: Device, mask: bigint): number {
  const m = truncate(env, mask);
  if (!dmaSupported(env, m)) return -EIO;
  dev.dmaMask = m;
  return 0;
}

/** dma_set_coherent_mask. @returns 0 or -EIO. @linux kernel/dma/mapping.c dma_set_coherent_mask */
export function dmaSetCoherentMask(env: MaskEnv, dev: Device, mask: bigint): number {
  const m = truncate(env, mask);
  if (!dmaSupported(env, m)) return -EIO;
  dev.coherentDmaMask = m;
  return 0;
}

/** dma_set_mask_and_coherent: both, the coherent one only if the streaming one took. */
export function dmaSetMaskAndCoherent(env: MaskEnv, dev: Device, mask: bigint): number {
  const rc = dmaSetMask(env, dev, mask);
  if (rc === 0) dmaSetCoherentMask(env, dev, mask);
  return rc;
}

/**
 * dma_direct_get_required_mask - the smallest all-ones mask that reaches every byte of RAM.
 * @linux kernel/dma/direct.c dma_direct_get_required_mask
 */
export function dmaGetRequiredMask(env: MaskEnv): bigint {
  const maxDma = BigInt(env.ramEnd - env.profile.pageSize);
  const bits = maxDma.toString(2).length;
  return (1n << BigInt(bits)) - 1n;
}

/**
 * dma_addressing_limited - the device cannot reach all RAM, so some buffers will bounce (or
 * need an IOMMU).
 * @linux include/linux/dma-mapping.h dma_addressing_limited
 */
export function dmaAddressingLimited(env: MaskEnv, dev: Device): boolean {
  const limit = dev.busDmaLimit === 0 ? dev.dmaMask : minBig(dev.dmaMask, BigInt(dev.busDmaLimit));
  return limit < dmaGetRequiredMask(env);
}

/**
 * dma_max_mapping_size - the largest streaming mapping: SWIOTLB's limit when buffers may bounce,
 * else SIZE_MAX.
 * @linux kernel/dma/direct.c dma_direct_max_mapping_size
 */
export function dmaMaxMappingSize(env: MaskEnv, dev: Device): number {
  const bounces = isSwiotlbForceBounce(env.swiotlb) || dmaAddressingLimited(env, dev);
  return isSwiotlbActive(env.swiotlb) && bounces ? swiotlbMaxMappingSize(dev) : SIZE_MAX;
}

/** dma_get_cache_alignment: ARCH_DMA_MINALIGN (1 where the arch is coherent). */
export function dmaGetCacheAlignment(env: MaskEnv): number {
  return env.profile.dmaMinAlign;
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
