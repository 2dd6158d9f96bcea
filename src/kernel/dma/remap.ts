/**
 * The uncached alias of coherent memory for non-coherent devices (kernel/dma/remap.c
 * dma_common_contiguous_remap, kernel/dma/mapping.c dma_pgprot, Linux 6.12): which profiles remap
 * at all (CONFIG_DMA_DIRECT_REMAP), the attribute the alias gets, and the vmap that makes it.
 */
import type { PhysAddr, VirtAddr } from '../../lib/addr.js';
import { MemAttr } from '../../machine/memory/attr.js';
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
 * pgprot_dmacoherent, or pgprot_writecombine for DMA_ATTR_WRITE_COMBINE: on arm64 Normal
 * non-cacheable (stores gather like write-combining and need a barrier), on arm32 strongly
 * ordered.
 * MODEL: arm32 as with CONFIG_ARM_DMA_MEM_BUFFERABLE=n, the classic behaviour the seed documents
 * contrast with dma_alloc_writecombine; v7 kernels usually make it bufferable.
 * @linux kernel/dma/mapping.c dma_pgprot
 */
export function dmaPgprot(profile: ArchProfile, writeCombine: boolean): MemAttr {
  return writeCombine || profile.name === 'arm64' ? MemAttr.WC : MemAttr.UNCACHED;
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
