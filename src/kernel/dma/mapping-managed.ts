/**
 * Managed coherent allocations (kernel/dma/mapping.c dmam_alloc_attrs, dmam_free_coherent,
 * dmam_release, dmam_match, Linux 6.12; facts §1.3): a coherent allocation recorded in the
 * device's devres list, freed when the driver unbinds or its probe fails.
 */
import type { DmaAddr, VirtAddr } from '../../lib/addr.js';
import type { Device } from '../device/device.js';
import { devmAdd } from '../device/devres.js';
import type { Gfp } from '../mm/gfp.js';
import { SWAPPER, warnHeader } from '../mm/report.js';
import type { KernelLog } from '../printk.js';

/** The devres entry name of a managed coherent allocation. */
export const DMAM_ALLOC_COHERENT = 'dmam_alloc_coherent';

export interface ManagedDeps {
  readonly log: KernelLog;
  /** smp_processor_id(), for WARNING lines. */
  readonly cpu: () => number;
  /** dma_alloc_attrs. */
  readonly alloc: (
    dev: Device,
    size: number,
    handle: { dma: DmaAddr },
    gfp: Gfp,
    attrs: number,
  ) => VirtAddr | null;
  /** dma_free_attrs. */
  readonly free: (dev: Device, size: number, vaddr: VirtAddr, dma: DmaAddr, attrs: number) => void;
}

/** struct dma_devres: what dmam_release frees and dmam_match compares. */
class DmaDevres {
  constructor(
    readonly size: number,
    readonly vaddr: VirtAddr,
    readonly dmaHandle: DmaAddr,
    readonly attrs: number,
  ) {}
}

/**
 * dmam_alloc_attrs - dma_alloc_attrs, freed with the same attrs when the driver detaches.
 * @returns the CPU address (bus address in `handle.dma`), or null (nothing is registered)
 * @linux kernel/dma/mapping.c dmam_alloc_attrs
 */
export function dmamAllocAttrs(
  d: ManagedDeps,
  dev: Device,
  size: number,
  handle: { dma: DmaAddr },
  gfp: Gfp,
  attrs: number,
): VirtAddr | null {
  const vaddr = d.alloc(dev, size, handle, gfp, attrs);
  if (vaddr === null) return null;
  const dr = new DmaDevres(size, vaddr, handle.dma, attrs);
  devmAdd(
    dev,
    DMAM_ALLOC_COHERENT,
    () => {
      d.free(dev, dr.size, dr.vaddr, dr.dmaHandle, dr.attrs);
    },
    dr,
  );
  return vaddr;
}

/**
 * dmam_free_coherent - frees a managed allocation now and drops its devres entry. The entry is
 * found by `vaddr`; a size or handle that differs from the allocation's WARNs (dmam_match), and
 * so does a `vaddr` with no entry (devres_destroy fails). The memory is freed in every case, with
 * attrs 0.
 * @linux kernel/dma/mapping.c dmam_free_coherent
 */
export function dmamFreeCoherent(
  d: ManagedDeps,
  dev: Device,
  size: number,
  vaddr: VirtAddr,
  dma: DmaAddr,
): void {
  const entry = dev.devres.find(
    (e) => e.name === DMAM_ALLOC_COHERENT && e.data instanceof DmaDevres && e.data.vaddr === vaddr,
  );
  const dr = entry?.data;
  if (entry === undefined || !(dr instanceof DmaDevres)) {
    warnHeader(d.log, d.cpu(), SWAPPER, 'kernel/dma/mapping.c dmam_free_coherent');
  } else {
    if (dr.size !== size || dr.dmaHandle !== dma)
      warnHeader(d.log, d.cpu(), SWAPPER, 'kernel/dma/mapping.c dmam_match');
    dev.devres.remove(entry);
  }
  d.free(dev, size, vaddr, dma, 0);
}
