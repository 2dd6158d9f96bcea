/**
 * What the mapping layer tells observers, as calls it always makes: the dma-debug hooks
 * (kernel/dma/debug.h) and the tracepoints. With no checker the hooks are a null object, so the
 * mapping code never asks whether debugging is on (aesthetics L4).
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../lib/addr.js';
import { Observers } from '../../lib/observers.js';
import type { Device } from '../device/device.js';
import { DMA_MAPPING_ERROR } from '../device/dma-range.js';
import type { Scatterlist } from '../lib/scatterlist.js';
import type { DmaDataDirection } from './direction.js';
import type { DmaTraceEvent } from './trace.js';

/** The debug_dma_* calls of kernel/dma/mapping.c, in the positions the kernel makes them. */
export interface DmaDebugHooks {
  /** After a streaming map (debug_dma_map_phys / debug_dma_map_page). */
  mapPhys(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    dmaAddr: DmaAddr,
    attrs: number,
  ): void;
  /**
   * dma_map_single on a pointer that passed the vmalloc check, before it is mapped
   * (debug_dma_map_single: stack, kernel text/rodata and invalid-area checks).
   */
  mapSingle(dev: Device, ptr: VirtAddr, size: number): void;
  /** Before a streaming unmap. */
  unmapPhys(dev: Device, dmaAddr: DmaAddr, size: number, dir: DmaDataDirection): void;
  /** After dma_map_resource, also when it failed (debug_dma_map_resource). */
  mapResource(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    dmaAddr: DmaAddr,
    attrs: number,
  ): void;
  /** After dma_unmap_resource (debug_dma_unmap_resource). */
  unmapResource(dev: Device, dmaAddr: DmaAddr, size: number, dir: DmaDataDirection): void;
  /** dma_mapping_error was called on `dmaAddr` (debug_dma_mapping_error). */
  mappingError(dev: Device, dmaAddr: DmaAddr): void;
  syncSingleForCpu(dev: Device, dmaAddr: DmaAddr, size: number, dir: DmaDataDirection): void;
  syncSingleForDevice(dev: Device, dmaAddr: DmaAddr, size: number, dir: DmaDataDirection): void;
  /** After dma_sync_sg_for_cpu of `nelems` entries (debug_dma_sync_sg_for_cpu). */
  syncSgForCpu(dev: Device, sgl: Scatterlist, nelems: number, dir: DmaDataDirection): void;
  /** After dma_sync_sg_for_device (debug_dma_sync_sg_for_device). */
  syncSgForDevice(dev: Device, sgl: Scatterlist, nelems: number, dir: DmaDataDirection): void;
  /** After dma_map_sg returned `ents` segments for `nents` entries (debug_dma_map_sg). */
  mapSg(
    dev: Device,
    sgl: Scatterlist,
    nents: number,
    ents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void;
  /** Before dma_unmap_sg (debug_dma_unmap_sg). */
  unmapSg(dev: Device, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void;
  /** After a coherent allocation succeeded (debug_dma_alloc_coherent). */
  allocCoherent(dev: Device, size: number, dmaAddr: DmaAddr, vaddr: VirtAddr, attrs: number): void;
  /** Before a coherent free (debug_dma_free_coherent). */
  freeCoherent(dev: Device, size: number, vaddr: VirtAddr | null, dmaAddr: DmaAddr): void;
}

/** No checker: every hook does nothing. */
export const NO_DMA_DEBUG: DmaDebugHooks = {
  mapPhys: () => undefined,
  mapSingle: () => undefined,
  unmapPhys: () => undefined,
  mapResource: () => undefined,
  unmapResource: () => undefined,
  mappingError: () => undefined,
  syncSingleForCpu: () => undefined,
  syncSingleForDevice: () => undefined,
  syncSgForCpu: () => undefined,
  syncSgForDevice: () => undefined,
  mapSg: () => undefined,
  unmapSg: () => undefined,
  allocCoherent: () => undefined,
  freeCoherent: () => undefined,
};

/** Receives each DMA tracepoint as the kernel would record it. */
export type DmaTraceSink = (ev: DmaTraceEvent) => void;

/** The tracepoints' subscribers (a trace writer, the checkers); one branch when nobody listens. */
export class DmaTraceBus extends Observers<DmaTraceEvent> {}

/**
 * trace_dma_map_page / trace_dma_map_resource, after the backend returned: a failed map prints
 * DMA_MAPPING_ERROR (all ones).
 */
export function traceDmaMap(
  trace: DmaTraceBus,
  event: 'dma_map_page' | 'dma_map_resource',
  dev: Device,
  dir: DmaDataDirection,
  dmaAddr: DmaAddr,
  size: number,
  physAddr: PhysAddr,
  attrs: number,
): void {
  if (!trace.on) return;
  const addr = dmaAddr === DMA_MAPPING_ERROR ? -1n : dmaAddr;
  trace.emit({ event, device: dev.name, dir, dmaAddr: addr, size, physAddr, attrs });
}

/** trace_dma_unmap_page / trace_dma_unmap_resource. */
export function traceDmaUnmap(
  trace: DmaTraceBus,
  event: 'dma_unmap_page' | 'dma_unmap_resource',
  dev: Device,
  dir: DmaDataDirection,
  dmaAddr: DmaAddr,
  size: number,
  attrs: number,
): void {
  if (trace.on) trace.emit({ event, device: dev.name, dir, dmaAddr, size, attrs });
}
