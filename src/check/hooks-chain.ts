/**
 * More than one checker on the mapping layer's debug hooks: the kernel takes one DmaDebugHooks
 * (kernel/dma/hooks.ts), so dma-debug and the coherence checker are handed over together.
 */
import type { DmaDebugHooks } from '../kernel/dma/hooks.js';

/**
 * chainDmaDebugHooks - one DmaDebugHooks that calls each of `hooks`, in order, for every hook.
 * @returns the chain, e.g. `new Kernel(m, { dmaDebug: chainDmaDebugHooks(dbg, coherence) })`
 */
export function chainDmaDebugHooks(...hooks: DmaDebugHooks[]): DmaDebugHooks {
  return {
    mapPhys: (...a) => {
      for (const h of hooks) h.mapPhys(...a);
    },
    mapSingle: (...a) => {
      for (const h of hooks) h.mapSingle(...a);
    },
    unmapPhys: (...a) => {
      for (const h of hooks) h.unmapPhys(...a);
    },
    mapResource: (...a) => {
      for (const h of hooks) h.mapResource(...a);
    },
    unmapResource: (...a) => {
      for (const h of hooks) h.unmapResource(...a);
    },
    mappingError: (...a) => {
      for (const h of hooks) h.mappingError(...a);
    },
    syncSingleForCpu: (...a) => {
      for (const h of hooks) h.syncSingleForCpu(...a);
    },
    syncSingleForDevice: (...a) => {
      for (const h of hooks) h.syncSingleForDevice(...a);
    },
    syncSgForCpu: (...a) => {
      for (const h of hooks) h.syncSgForCpu(...a);
    },
    syncSgForDevice: (...a) => {
      for (const h of hooks) h.syncSgForDevice(...a);
    },
    mapSg: (...a) => {
      for (const h of hooks) h.mapSg(...a);
    },
    unmapSg: (...a) => {
      for (const h of hooks) h.unmapSg(...a);
    },
    allocCoherent: (...a) => {
      for (const h of hooks) h.allocCoherent(...a);
    },
    freeCoherent: (...a) => {
      for (const h of hooks) h.freeCoherent(...a);
    },
  };
}
