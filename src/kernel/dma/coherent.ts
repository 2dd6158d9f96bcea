/**
 * Per-device coherent memory (kernel/dma/coherent.c, Linux 6.12; facts §1.14, §10.2): a region
 * declared for one device (dma_declare_coherent_memory, or a device-tree shared-dma-pool without
 * `reusable` assigned through memory-region) is mapped write-combining and handed out by
 * dma_alloc_coherent in naturally aligned blocks of 2^order pages. A device with such a pool never
 * falls back to normal memory. Left out: dma_mmap_from_dev_coherent (no user mappings in the
 * model) and CONFIG_DMA_GLOBAL_POOL.
 */
import type { DmaAddr, VirtAddr } from '../../lib/addr.js';
import { hex } from '../../lib/addr.js';
import { ConfigError } from '../../lib/errors.js';
import type { Device } from '../device/device.js';
import { physToDma } from '../device/dma-range.js';
import { PlatformDevice } from '../device/platform.js';
import { EBUSY, EINVAL, ENODEV } from '../errno.js';
import type { Bitmap } from '../lib/bitmap.js';
import { bitmapFindFreeRegion, bitmapReleaseRegion, bitmapZalloc } from '../lib/bitmap.js';
import type { KernelVm } from '../mm/kmem.js';
import { getOrder } from '../mm/page-frames.js';
import { pa } from '../mm/ranges.js';
import { SWAPPER, warnHeader } from '../mm/report.js';
import type { ReservedMem } from '../mm/reserved-mem.js';
import type { Vmap } from '../mm/vmap.js';
import { MEMREMAP_WC } from '../mm/vmap.js';
import type { KernelLog } from '../printk.js';
import type { ArchProfile } from '../../machine/profile.js';

/** struct dma_coherent_mem: one device's pool. */
export class DmaCoherentMem {
  /** One bit per page, set while handed out. */
  readonly bitmap: Bitmap;

  constructor(
    /** virt_base: the write-combining mapping of the region. */
    readonly virtBase: VirtAddr,
    /** device_base: the bus address of the first page, as declared. */
    readonly deviceBase: number,
    /** pfn_base: the first page frame. */
    readonly pfnBase: number,
    /** size: pages. */
    readonly size: number,
    /** use_dev_dma_pfn_offset: bus addresses come from the device's dma-ranges (DT pools). */
    readonly useDevDmaPfnOffset: boolean,
    readonly pageSize: number,
    /** For zeroing what is handed out. */
    private readonly vm: KernelVm,
  ) {
    this.bitmap = bitmapZalloc(size);
  }

  /** memset through the pool's mapping. */
  zero(vaddr: VirtAddr, bytes: number): void {
    this.vm.memset(vaddr, 0, bytes);
  }
}

function devGetCoherentMemory(dev: Device): DmaCoherentMem | null {
  return dev.dmaMem instanceof DmaCoherentMem ? dev.dmaMem : null;
}

/**
 * dma_alloc_from_dev_coherent - a zeroed block from `dev`'s pool: the first free naturally
 * aligned run of 2^get_order(size) pages.
 * @param handle receives the bus address on success
 * @param ret receives the CPU address, or null when the pool is full or too small
 * @returns true when `dev` has a pool: the caller returns `ret.vaddr` (even null) and does NOT
 *   fall back; false when it has none and the caller allocates normally
 * @linux kernel/dma/coherent.c dma_alloc_from_dev_coherent
 */
export function dmaAllocFromDevCoherent(
  dev: Device,
  size: number,
  handle: { dma: DmaAddr },
  ret: { vaddr: VirtAddr | null },
): boolean {
  const mem = devGetCoherentMemory(dev);
  if (mem === null) return false;
  ret.vaddr = null;
  if (size > mem.size * mem.pageSize) return true;
  const pageno = bitmapFindFreeRegion(mem.bitmap, mem.size, getOrder(size, mem.pageSize));
  if (pageno < 0) return true;
  const base = mem.useDevDmaPfnOffset ? physToDma(dev, mem.pfnBase * mem.pageSize) : mem.deviceBase;
  handle.dma = (base + pageno * mem.pageSize) as DmaAddr;
  ret.vaddr = (mem.virtBase + pageno * mem.pageSize) as VirtAddr;
  mem.zero(ret.vaddr, size);
  return true;
}

/**
 * dma_release_from_dev_coherent - frees a block dma_alloc_from_dev_coherent handed out.
 * @param order get_order of the allocation's size
 * @returns true when `vaddr` lies in `dev`'s pool and was released; false when the caller must
 *   free it to the generic allocators
 * @linux kernel/dma/coherent.c dma_release_from_dev_coherent
 */
export function dmaReleaseFromDevCoherent(dev: Device, order: number, vaddr: VirtAddr): boolean {
  const mem = devGetCoherentMemory(dev);
  if (mem === null || vaddr < mem.virtBase || vaddr >= mem.virtBase + mem.size * mem.pageSize)
    return false;
  bitmapReleaseRegion(mem.bitmap, Math.floor((vaddr - mem.virtBase) / mem.pageSize), order);
  return true;
}

export interface DevCoherentDeps {
  readonly profile: ArchProfile;
  readonly vm: KernelVm;
  readonly vmap: Vmap;
  readonly log: KernelLog;
  /** region_intersects(System RAM): memory the kernel maps and manages (memblock, not no-map). */
  readonly isSystemRam: (phys: number, size: number) => boolean;
  /** The whole range is RAM of the machine (managed by the kernel or not). */
  readonly isMachineRam: (phys: number, size: number) => boolean;
  /** The reserved-memory regions of this boot (memblock.reservedMem). */
  readonly reservedMem: readonly ReservedMem[];
  /** smp_processor_id(), for WARN lines. */
  readonly cpu: () => number;
}

/** Declaring and assigning per-device pools. */
export class DevCoherent {
  /** rmem->priv: the pool of each device-tree region, shared by the devices that use it. */
  private readonly rmemPools = new Map<string, DmaCoherentMem>();
  private warnedRam = false;

  constructor(private readonly d: DevCoherentDeps) {}

  /**
   * dma_declare_coherent_memory - gives `dev` a pool of `size` bytes at `physAddr`, which the
   * device reaches at `deviceAddr`.
   * @returns 0; -EINVAL for size 0 or a range memremap refuses (RAM the kernel manages, with
   *   its WARN); -EBUSY when `dev` already has a pool
   * @throws ConfigError when the range is not RAM of the machine (the model has nothing to back
   *   it with)
   * @linux kernel/dma/coherent.c dma_declare_coherent_memory
   */
  dmaDeclareCoherentMemory(
    dev: Device,
    physAddr: number,
    deviceAddr: number,
    size: number,
  ): number {
    const mem = this.initCoherentMemory(physAddr, deviceAddr, size, false);
    if (typeof mem === 'number') return mem;
    const ret = this.assign(dev, mem);
    if (ret !== 0) this.d.vmap.memunmap(mem.virtBase);
    return ret;
  }

  /**
   * dma_release_coherent_memory - drops `dev`'s pool and its mapping.
   * @linux kernel/dma/coherent.c dma_release_coherent_memory
   */
  dmaReleaseCoherentMemory(dev: Device): void {
    const mem = devGetCoherentMemory(dev);
    if (mem !== null) this.d.vmap.memunmap(mem.virtBase);
    dev.dmaMem = null;
  }

  /**
   * of_reserved_mem_device_init_by_idx for a shared-dma-pool region: assigns the region named
   * by the device's memory-region entry `idx` as its pool (rmem_dma_device_init).
   * @returns 0; -ENODEV when the device has no such entry; -EINVAL when the region is unknown
   *   or not a per-device pool, or cannot be mapped; -EBUSY when the device has a pool
   * @linux drivers/of/of_reserved_mem.c of_reserved_mem_device_init_by_idx
   */
  ofReservedMemDeviceInit(dev: Device, idx = 0): number {
    const name = dev instanceof PlatformDevice ? dev.memoryRegion[idx] : undefined;
    if (name === undefined) return -ENODEV;
    const rmem = this.d.reservedMem.find((r) => r.name === name);
    // MODEL: reusable (CMA) regions would become dev->cma_area; per-device CMA is left out.
    if (rmem?.kind !== 'dma-pool') return -EINVAL;
    let mem = this.rmemPools.get(name) ?? null;
    if (mem === null) {
      const made = this.initCoherentMemory(rmem.base, rmem.base, rmem.size, true);
      if (typeof made === 'number') return made;
      mem = made;
      this.rmemPools.set(name, mem);
    }
    const limit =
      dev.busDmaLimit === 0
        ? dev.coherentDmaMaskLimit
        : Math.min(dev.coherentDmaMaskLimit, dev.busDmaLimit);
    if (mem.deviceBase + rmem.size - 1 > limit)
      this.d.log.warn(`${dev.logPrefix}: reserved memory is beyond device's set DMA address range`);
    const ret = this.assign(dev, mem);
    if (ret === 0) this.d.log.info(`${dev.logPrefix}: assigned reserved memory node ${name}`);
    return ret;
  }

  /** dma_init_coherent_memory. @returns the pool, or a negative errno */
  private initCoherentMemory(
    phys: number,
    deviceAddr: number,
    size: number,
    useDmaPfnOffset: boolean,
  ): DmaCoherentMem | number {
    if (size === 0) return -EINVAL;
    if (
      !Number.isSafeInteger(phys) ||
      !Number.isSafeInteger(size) ||
      size < 0 ||
      !this.d.isMachineRam(phys, size)
    ) {
      throw new ConfigError(
        `dma_declare_coherent_memory: [${hex(phys)}+${hex(size)}] is not RAM of the machine; declare a range inside a RAM bank (e.g. above mem=)`,
      );
    }
    const vaddr = this.memremapWc(phys, size);
    if (vaddr === null) return -EINVAL;
    const { pageSize } = this.d.profile;
    const pages = Math.floor(size / pageSize);
    const pfnBase = Math.floor(phys / pageSize);
    return new DmaCoherentMem(
      vaddr,
      deviceAddr,
      pfnBase,
      pages,
      useDmaPfnOffset,
      pageSize,
      this.d.vm,
    );
  }

  /**
   * memremap(MEMREMAP_WC), with the refusal of kernel/iomem.c memremap for RAM the kernel
   * manages, which the model's memremap does not check.
   */
  private memremapWc(phys: number, size: number): VirtAddr | null {
    if (this.d.isSystemRam(phys, size)) {
      if (!this.warnedRam) {
        this.warnedRam = true;
        this.d.log.warn(`memremap attempted on ram ${pa(this.d.profile, phys)} size: ${hex(size)}`);
        warnHeader(this.d.log, this.d.cpu(), SWAPPER, 'kernel/iomem.c memremap');
      }
      return null;
    }
    return this.d.vmap.memremap(phys, size, MEMREMAP_WC);
  }

  /** dma_assign_coherent_memory: one pool per device. */
  private assign(dev: Device, mem: DmaCoherentMem): number {
    if (dev.dmaMem !== null) return -EBUSY;
    dev.dmaMem = mem;
    return 0;
  }
}
