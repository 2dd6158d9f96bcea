/**
 * More than one checker on the mapping layer's debug hooks: the kernel takes one DmaDebugHooks
 * (kernel/dma/hooks.ts), so dma-debug and the coherence checker are handed over together.
 */
import type { DmaDebugHooks } from '../kernel/dma/hooks.js';
import { NO_DMA_DEBUG } from '../kernel/dma/hooks.js';

/**
 * chainDmaDebugHooks - one DmaDebugHooks that calls each of `hooks`, in order, for every hook.
 * The hooks run on every map and unmap, so the chain is a nest of pairs, not a loop: with two
 * checkers each call site sees one of them, and arguments are passed on as they are (no rest
 * arrays).
 * @returns the chain, e.g. `new Kernel(m, { dmaDebug: chainDmaDebugHooks(dbg, coherence) })`
 */
export function chainDmaDebugHooks(...hooks: DmaDebugHooks[]): DmaDebugHooks {
  const n = hooks.length;
  let chain = hooks[n - 1] ?? NO_DMA_DEBUG;
  if (n <= 1) return pair(chain, NO_DMA_DEBUG);
  for (let i = n - 2; i >= 0; i--) chain = pair(hooks[i] as DmaDebugHooks, chain);
  return chain;
}

/** `a`, then `b`, for every hook. */
function pair(a: DmaDebugHooks, b: DmaDebugHooks): DmaDebugHooks {
  return {
    mapPhys: (dev, phys, size, dir, dmaAddr, attrs) => {
      a.mapPhys(dev, phys, size, dir, dmaAddr, attrs);
      b.mapPhys(dev, phys, size, dir, dmaAddr, attrs);
    },
    mapSingle: (dev, ptr, size) => {
      a.mapSingle(dev, ptr, size);
      b.mapSingle(dev, ptr, size);
    },
    unmapPhys: (dev, dmaAddr, size, dir) => {
      a.unmapPhys(dev, dmaAddr, size, dir);
      b.unmapPhys(dev, dmaAddr, size, dir);
    },
    mapResource: (dev, phys, size, dir, dmaAddr, attrs) => {
      a.mapResource(dev, phys, size, dir, dmaAddr, attrs);
      b.mapResource(dev, phys, size, dir, dmaAddr, attrs);
    },
    unmapResource: (dev, dmaAddr, size, dir) => {
      a.unmapResource(dev, dmaAddr, size, dir);
      b.unmapResource(dev, dmaAddr, size, dir);
    },
    mappingError: (dev, dmaAddr) => {
      a.mappingError(dev, dmaAddr);
      b.mappingError(dev, dmaAddr);
    },
    syncSingleForCpu: (dev, dmaAddr, size, dir) => {
      a.syncSingleForCpu(dev, dmaAddr, size, dir);
      b.syncSingleForCpu(dev, dmaAddr, size, dir);
    },
    syncSingleForDevice: (dev, dmaAddr, size, dir) => {
      a.syncSingleForDevice(dev, dmaAddr, size, dir);
      b.syncSingleForDevice(dev, dmaAddr, size, dir);
    },
    syncSgForCpu: (dev, sgl, nelems, dir) => {
      a.syncSgForCpu(dev, sgl, nelems, dir);
      b.syncSgForCpu(dev, sgl, nelems, dir);
    },
    syncSgForDevice: (dev, sgl, nelems, dir) => {
      a.syncSgForDevice(dev, sgl, nelems, dir);
      b.syncSgForDevice(dev, sgl, nelems, dir);
    },
    mapSg: (dev, sgl, nents, ents, dir, attrs) => {
      a.mapSg(dev, sgl, nents, ents, dir, attrs);
      b.mapSg(dev, sgl, nents, ents, dir, attrs);
    },
    unmapSg: (dev, sgl, nents, dir) => {
      a.unmapSg(dev, sgl, nents, dir);
      b.unmapSg(dev, sgl, nents, dir);
    },
    allocCoherent: (dev, size, dmaAddr, vaddr, attrs) => {
      a.allocCoherent(dev, size, dmaAddr, vaddr, attrs);
      b.allocCoherent(dev, size, dmaAddr, vaddr, attrs);
    },
    freeCoherent: (dev, size, vaddr, dmaAddr) => {
      a.freeCoherent(dev, size, vaddr, dmaAddr);
      b.freeCoherent(dev, size, vaddr, dmaAddr);
    },
  };
}
