/**
 * The uncached alias of coherent memory for non-coherent devices (kernel/dma/remap.c
 * dma_common_contiguous_remap, kernel/dma/mapping.c dma_pgprot, Linux 6.12): which profiles remap
 * at all (CONFIG_DMA_DIRECT_REMAP) and the vmap that makes it; the attribute is dma_pgprot's
 * (pgprot.ts).
 */
import type { PhysAddr, VirtAddr } from '../../lib/addr.js';
import type { MemAttr } from '../../machine/memory/attr.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { Vmap } from '../mm/vmap.js';

/**
 * CONFIG_DMA_DIRECT_REMAP: arm64 selects it; arm32 is modelled as if it did.
 * MODEL: 6.12 arm32 keeps its own allocator and atomic pool in arch/arm/mm/dma-mapping.c
 * (unverified); the model runs it through dma-direct like arm64.
 */
export function dmaDirectRemap(profile: ArchProfile): boolean {
  return profile.name === 'arm64' || profile.name === 'arm32';
}

/**
 * dma_common_contiguous_remap - maps the physically contiguous [phys, phys + bytes) in the
 * vmalloc area with `attr`.
 * @returns the alias, or null when the vmalloc area is full
 * @linux kernel/dma/remap.c dma_common_contiguous_remap
 */
export function dmaCommonContiguousRemap(
  vmap: Vmap,
  pageSize: number,
  phys: PhysAddr,
  bytes: number,
  attr: MemAttr,
  caller: string,
): VirtAddr | null {
  const pages = Array.from(
    { length: bytes / pageSize },
    (_, i) => (phys + i * pageSize) as PhysAddr,
  );
  return vmap.vmap(pages, attr, caller);
}
