/**
 * dma_pgprot (kernel/dma/mapping.c, Linux 6.12): the memory type of the CPU's alias of a coherent
 * allocation. A coherent device's memory stays normal cacheable; for a non-coherent one
 * DMA_ATTR_WRITE_COMBINE asks for write-combining, and otherwise pgprot_dmacoherent applies, which
 * on arm64 is Normal non-cacheable (stores gather like write-combining and need a barrier) and on
 * arm32 strongly ordered.
 * MODEL: arm32 as with CONFIG_ARM_DMA_MEM_BUFFERABLE=n, the classic behaviour the seed documents
 * contrast with dma_alloc_writecombine; v7 kernels usually make it bufferable.
 */
import { MemAttr } from '../../machine/memory/attr.js';
import type { ArchName } from '../../machine/profile.js';
import { DMA_ATTR_WRITE_COMBINE } from './attrs.js';

export function dmaPgprot(arch: ArchName, coherent: boolean, attrs: number): MemAttr {
  if (coherent) return MemAttr.CACHEABLE;
  const wc = (attrs & DMA_ATTR_WRITE_COMBINE) !== 0 || arch === 'arm64';
  return wc ? MemAttr.WC : MemAttr.UNCACHED;
}
