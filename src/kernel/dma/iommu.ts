/**
 * DOC: IOMMU DMA (drivers/iommu/dma-iommu.c, Linux 6.12; facts §5)
 *
 * A device in a DMA or DMA-FQ domain gets bus addresses from the domain's IOVA allocator
 * (iova.ts): top-down below the device's mask, naturally aligned, small sizes rounded to a power
 * of two, and for PCI devices first below 4 GiB until that fails once ("Using %d-bit DMA
 * addresses"). A streaming map allocates an IOVA range covering the buffer's granules and writes
 * page-table entries; the DMA address keeps the buffer's offset in its first granule. An unmap
 * clears the entries and then either invalidates the IOTLB at once (strict) or parks the IOVA in
 * the flush queue (lazy, iommu-fq.ts). Scatter-gather merging is in iommu-sg.ts, coherent
 * allocations in iommu-alloc.ts.
 *
 * MODEL: no untrusted (external-facing) devices, so SWIOTLB is used only for the arm64 kmalloc
 * bounce rule; no MSI cookies, no P2PDMA, no deferred attach (kdump), no reserved PCI windows.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../../lib/addr.js';
import { SimulatorBug } from '../../lib/errors.js';
import type { Clock } from '../../machine/clock/clock.js';
import type { ArchProfile } from '../../machine/profile.js';
import type { ArchDmaSync } from '../arch/dma-sync.js';
import type { Device } from '../device/device.js';
import { DMA_MAPPING_ERROR } from '../device/dma-range.js';
import type { IommuCore, KernelIommuDomain } from '../iommu/iommu.js';
import { IOMMU_CACHE, IOMMU_MMIO, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from '../iommu/iommu.js';
import type { Scatterlist } from '../lib/scatterlist.js';
import type { Gfp } from '../mm/gfp.js';
import type { KernelVm } from '../mm/kmem.js';
import type { PageAllocator } from '../mm/page-alloc.js';
import type { Vmap } from '../mm/vmap.js';
import type { KernelLog } from '../printk.js';
import { DMA_ATTR_PRIVILEGED, DMA_ATTR_SKIP_CPU_SYNC } from './attrs.js';
import { DmaDataDirection } from './direction.js';
import { dmaKmallocNeedsBounce } from './direct.js';
import type { KmallocBounce } from './direct.js';
import type { DmaTraceSink } from './hooks.js';
import { IovaFlushQueue } from './iommu-fq.js';
import type { AtomicPools } from './pool.js';
import { IommuDmaAlloc } from './iommu-alloc.js';
import * as iommuSg from './iommu-sg.js';
import { initIovaDomain } from './iova.js';
import type { IovaDomain } from './iova.js';
import { IOVA_RANGE_CACHE_MAX_SIZE } from './iova-rcache.js';
import type { CoherentBuffer, DmaMapOps } from './map-ops.js';
import { SIZE_MAX } from './masks.js';
import {
  SWIOTLB_MAP_ERROR,
  isSwiotlbActive,
  isSwiotlbBuffer,
  swiotlbSyncSingleForCpu,
  swiotlbSyncSingleForDevice,
  swiotlbTblMapSingle,
  swiotlbTblUnmapSingle,
  traceSwiotlbBounced,
} from './swiotlb.js';
import type { IoTlbMem } from './swiotlb.js';
import { DevWarnOnce } from './warn.js';

/** IOVA granule: the smallest IOMMU page (4 KiB on VT-d). */
export const IOVA_GRANULE = 4096;
const PFN_4G_LIMIT = 0xfffff;
/** The x86 interrupt (MSI) window, IOMMU_RESV_MSI on VT-d: never handed out as IOVA. */
const X86_MSI_PFNS = [0xfee00, 0xfeeff] as const;

/** struct iommu_dma_cookie: the domain's IOVA space and, for DMA-FQ, its flush queue. */
export interface IommuDmaCookie {
  readonly iovad: IovaDomain;
  readonly fq: IovaFlushQueue | null;
}

/** A device's domain and its cookie (domainAndCookie). */
export interface DomainAndCookie {
  readonly domain: KernelIommuDomain;
  readonly cookie: IommuDmaCookie;
}

export interface IommuDmaDeps {
  readonly core: IommuCore;
  readonly profile: ArchProfile;
  readonly arch: ArchDmaSync;
  readonly swiotlb: IoTlbMem | null;
  readonly kmallocBounce: KmallocBounce | null;
  readonly pages: PageAllocator;
  readonly vm: KernelVm;
  readonly vmap: Vmap;
  readonly log: KernelLog;
  readonly trace: DmaTraceSink;
  readonly clock: Clock;
  readonly nCpus: number;
  readonly cpu: () => number;
  /** iommu.forcedac=1: no 32-bit-first IOVA allocation for PCI devices. */
  readonly forcedac: boolean;
  /** The atomic pools, for non-blocking allocations of non-coherent devices. */
  readonly pools: AtomicPools | null;
}

/**
 * dma_info_to_prot: IOMMU_* rights for a direction.
 * @linux drivers/iommu/dma-iommu.c dma_info_to_prot
 */
export function dmaInfoToProt(dir: DmaDataDirection, coherent: boolean, attrs: number): number {
  let prot = coherent ? IOMMU_CACHE : 0;
  if ((attrs & DMA_ATTR_PRIVILEGED) !== 0) prot |= IOMMU_PRIV;
  switch (dir) {
    case DmaDataDirection.BIDIRECTIONAL:
      return prot | IOMMU_READ | IOMMU_WRITE;
    case DmaDataDirection.TO_DEVICE:
      return prot | IOMMU_READ;
    case DmaDataDirection.FROM_DEVICE:
      return prot | IOMMU_WRITE;
    default:
      return 0;
  }
}

/** bits_per: the bits needed to write `n` (1 for 0). */
function bitsPer(n: number): number {
  return n === 0 ? 1 : Math.floor(Math.log2(n)) + 1;
}

/**
 * `a % IOVA_GRANULE`; with `&` for safe non-negative integers (the same value, without the
 * floating-point fmod `%` takes for numbers above 2^31).
 */
function granuleOffset(a: number): number {
  return Number.isSafeInteger(a) && a >= 0 ? a & (IOVA_GRANULE - 1) : a % IOVA_GRANULE;
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export class IommuDma implements DmaMapOps {
  readonly name = 'iommu';
  private readonly cookies = new WeakMap<KernelIommuDomain, IommuDmaCookie>();
  /** domainAndCookie's answers by device, and the last one asked for. */
  private readonly dcOf = new WeakMap<Device, DomainAndCookie>();
  private lastDev: Device | null = null;
  private lastDc: DomainAndCookie | null = null;
  private readonly warned: DevWarnOnce;
  /** Coherent and non-coherent allocations (iommu-alloc.ts); the mapping layer calls it. */
  readonly allocator: IommuDmaAlloc;
  private readonly sgDeps: iommuSg.IommuSgDeps;

  constructor(private readonly d: IommuDmaDeps) {
    this.warned = new DevWarnOnce(d.log, d.cpu);
    this.allocator = new IommuDmaAlloc(this, d);
    this.sgDeps = { dma: this, core: d.core, pageToPhys: (p) => d.pages.pageToPhys(p) };
    if (d.forcedac) d.log.info('iommu: Forcing DAC for PCI devices');
  }

  /**
   * iommu_setup_dma_ops: a device whose default domain is a DMA domain is served by IOMMU DMA
   * from now on; its domain gets its IOVA space on first use.
   * @linux drivers/iommu/dma-iommu.c iommu_setup_dma_ops
   */
  iommuSetupDmaOps(dev: Device): void {
    const domain = this.d.core.domainOf(dev);
    dev.dmaIommu = domain?.isDma ?? false;
    if (domain === null || !domain.isDma) return;
    dev.iommuPci32bitWorkaround = dev.bus === 'pci' && !this.d.forcedac;
    if (!this.cookies.has(domain)) this.cookies.set(domain, this.initDomain(domain));
  }

  /**
   * The device's domain and cookie; only devices set up by iommuSetupDmaOps get here. The result
   * is the same object for every call with the same device: a device's group and domain are set
   * once, at probe time, and a domain's cookie once, at setup.
   */
  domainAndCookie(dev: Device): DomainAndCookie {
    if (dev === this.lastDev) return this.lastDc as DomainAndCookie;
    let dc = this.dcOf.get(dev);
    if (dc === undefined) {
      const domain = this.d.core.domainOf(dev);
      const cookie = domain === null ? undefined : this.cookies.get(domain);
      if (domain === null || cookie === undefined) {
        throw new SimulatorBug(`${dev.name}: IOMMU DMA call for a device without a DMA domain`);
      }
      dc = { domain, cookie };
      this.dcOf.set(dev, dc);
    }
    this.lastDev = dev;
    this.lastDc = dc;
    return dc;
  }

  /** The cookie of `dev`'s domain, for reports and tests (null when it has none). */
  cookieOf(dev: Device): IommuDmaCookie | null {
    const domain = this.d.core.domainOf(dev);
    return domain === null ? null : (this.cookies.get(domain) ?? null);
  }

  /**
   * iommu_dma_alloc_iova: `size` bytes (granule multiple) of IOVA below the device's limit.
   * @returns the IOVA, or 0 when the space is exhausted
   * @linux drivers/iommu/dma-iommu.c iommu_dma_alloc_iova
   */
  allocIova(dev: Device, size: number, maskLimit: number): number {
    const { domain, cookie } = this.domainAndCookie(dev);
    const pages = size / IOVA_GRANULE;
    let limit = dev.busDmaLimit === 0 ? maskLimit : Math.min(maskLimit, dev.busDmaLimit);
    limit = Math.min(limit, domain.apertureEnd);
    if (limit > 0xffff_ffff && dev.iommuPci32bitWorkaround) {
      const pfn = cookie.iovad.allocIovaFast(pages, PFN_4G_LIMIT, false);
      if (pfn !== 0) return pfn * IOVA_GRANULE;
      dev.iommuPci32bitWorkaround = false;
      this.d.log.print('notice', `${dev.logPrefix}: Using ${bitsPer(limit)}-bit DMA addresses`);
    }
    return cookie.iovad.allocIovaFast(pages, Math.floor(limit / IOVA_GRANULE), true) * IOVA_GRANULE;
  }

  /**
   * __iommu_dma_map: an IOVA range for the granules of [phys, phys+size), mapped with `prot`.
   * @returns the DMA address (IOVA plus phys's offset in its granule), or DMA_MAPPING_ERROR
   * @linux drivers/iommu/dma-iommu.c __iommu_dma_map
   */
  iommuDmaMap(dev: Device, phys: number, size: number, prot: number, maskLimit: number): DmaAddr {
    const { domain, cookie } = this.domainAndCookie(dev);
    if (dev.dmaParms.minAlignMask > IOVA_GRANULE - 1) {
      this.warned.warn(dev, 'Unsupported alignment constraint', 'dma-iommu.c __iommu_dma_map');
    }
    const off = granuleOffset(phys);
    const len = alignUp(size + off, IOVA_GRANULE);
    if (len === 0) {
      // MODEL: the kernel rounds a zero-page IOVA request with roundup_pow_of_two(0), which is
      // undefined; here the map fails with a warning.
      this.warned.warn(dev, 'zero-size IOVA allocation', 'dma-iommu.c iommu_dma_alloc_iova');
      return DMA_MAPPING_ERROR;
    }
    const iova = this.allocIova(dev, len, maskLimit);
    if (iova === 0) return DMA_MAPPING_ERROR;
    if (this.d.core.map(domain, iova, phys - off, len, prot) !== 0) {
      cookie.iovad.freeIovaFast(iova / IOVA_GRANULE, len / IOVA_GRANULE);
      return DMA_MAPPING_ERROR;
    }
    return (iova + off) as DmaAddr;
  }

  /**
   * __iommu_dma_unmap: clears the entries of the granules of [dma, dma+size), then invalidates
   * the IOTLB (strict) or queues the IOVA for the next flush (lazy).
   * @linux drivers/iommu/dma-iommu.c __iommu_dma_unmap
   */
  iommuDmaUnmap(dev: Device, dma: number, size: number): void {
    const { domain, cookie } = this.domainAndCookie(dev);
    const off = granuleOffset(dma);
    const iova = dma - off;
    const len = alignUp(size + off, IOVA_GRANULE);
    const unmapped = this.d.core.unmapFast(domain, iova, len);
    if (unmapped !== len) {
      this.warned.warn(
        dev,
        `unmapped ${unmapped} of ${len} bytes`,
        'dma-iommu.c __iommu_dma_unmap',
      );
    }
    if (cookie.fq === null) {
      this.d.core.iotlbSync(domain, iova, len);
      cookie.iovad.freeIovaFast(iova / IOVA_GRANULE, len / IOVA_GRANULE);
    } else {
      cookie.fq.queueIova(iova / IOVA_GRANULE, len / IOVA_GRANULE);
    }
  }

  /**
   * iommu_dma_map_page: bounce if the arm64 kmalloc rule asks for it and the buffer does not fill
   * whole granules, clean the cache for a non-coherent device, then map.
   * @linux drivers/iommu/dma-iommu.c iommu_dma_map_page
   */
  mapPhys(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): DmaAddr {
    const coherent = dev.dmaCoherent;
    let addr: number = phys;
    if (this.devUseSwiotlb(dev, size, dir) && (phys % IOVA_GRANULE !== 0 || size % IOVA_GRANULE)) {
      addr = this.bounce(dev, phys, size, dir, attrs);
      if (addr === SWIOTLB_MAP_ERROR) return DMA_MAPPING_ERROR;
    }
    if (!coherent && (attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0)
      this.d.arch.syncForDevice(addr, size, dir);
    const prot = dmaInfoToProt(dir, coherent, attrs);
    const iova = this.iommuDmaMap(dev, addr, size, prot, dev.dmaMaskLimit);
    if (iova === DMA_MAPPING_ERROR && isSwiotlbBuffer(this.d.swiotlb, addr)) {
      swiotlbTblUnmapSingle(this.d.swiotlb, dev, addr, size, dir, attrs | DMA_ATTR_SKIP_CPU_SYNC);
    }
    return iova;
  }

  /**
   * iommu_dma_unmap_page: sync for the CPU, unmap, then release a bounce slot (copying back).
   * @linux drivers/iommu/dma-iommu.c iommu_dma_unmap_page
   */
  unmapPhys(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection, attrs: number): void {
    const { domain } = this.domainAndCookie(dev);
    const phys = this.d.core.iovaToPhys(domain, addr);
    if (phys === 0) {
      this.warned.warn(dev, `unmap of unmapped IOVA ${addr.toString(16)}`, 'iommu_dma_unmap_page');
      return;
    }
    if ((attrs & DMA_ATTR_SKIP_CPU_SYNC) === 0 && !dev.dmaCoherent)
      this.d.arch.syncForCpu(phys, size, dir);
    this.iommuDmaUnmap(dev, addr, size);
    if (isSwiotlbBuffer(this.d.swiotlb, phys))
      swiotlbTblUnmapSingle(this.d.swiotlb, dev, phys, size, dir, attrs);
  }

  /** iommu_dma_map_resource: MMIO, mapped uncached, never synced. */
  mapResource(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): DmaAddr {
    const prot = dmaInfoToProt(dir, false, attrs) | IOMMU_MMIO;
    return this.iommuDmaMap(dev, phys, size, prot, dev.dmaMaskLimit);
  }

  /** iommu_dma_unmap_resource. */
  unmapResource(dev: Device, addr: DmaAddr, size: number): void {
    this.iommuDmaUnmap(dev, addr, size);
  }

  /** iommu_dma_sync_single_for_cpu: the cache, then the bounce slot. */
  syncSingleForCpu(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void {
    if (dev.dmaCoherent && !this.devUseSwiotlb(dev, size, dir)) return;
    const phys = this.d.core.iovaToPhys(this.domainAndCookie(dev).domain, addr);
    if (!dev.dmaCoherent) this.d.arch.syncForCpu(phys, size, dir);
    const mem = this.d.swiotlb;
    if (mem !== null && isSwiotlbBuffer(mem, phys))
      swiotlbSyncSingleForCpu(mem, dev, phys, size, dir);
  }

  /** iommu_dma_sync_single_for_device: the bounce slot, then the cache. */
  syncSingleForDevice(dev: Device, addr: DmaAddr, size: number, dir: DmaDataDirection): void {
    if (dev.dmaCoherent && !this.devUseSwiotlb(dev, size, dir)) return;
    const phys = this.d.core.iovaToPhys(this.domainAndCookie(dev).domain, addr);
    const mem = this.d.swiotlb;
    if (mem !== null && isSwiotlbBuffer(mem, phys))
      swiotlbSyncSingleForDevice(mem, dev, phys, size, dir);
    if (!dev.dmaCoherent) this.d.arch.syncForDevice(phys, size, dir);
  }

  mapSg(
    dev: Device,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    return iommuSg.iommuDmaMapSg(this.sgDeps, dev, sgl, nents, dir, attrs);
  }

  unmapSg(
    dev: Device,
    sgl: Scatterlist,
    nents: number,
    dir: DmaDataDirection,
    attrs: number,
  ): void {
    iommuSg.iommuDmaUnmapSg(this.sgDeps, dev, sgl, nents, dir, attrs);
  }

  syncSgForCpu(dev: Device, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void {
    iommuSg.iommuDmaSyncSg(this.sgDeps, dev, sgl, nents, dir, true);
  }

  syncSgForDevice(dev: Device, sgl: Scatterlist, nents: number, dir: DmaDataDirection): void {
    iommuSg.iommuDmaSyncSg(this.sgDeps, dev, sgl, nents, dir, false);
  }

  /** iommu_dma_alloc (iommu-alloc.ts). */
  alloc(dev: Device, size: number, gfp: Gfp, attrs: number): CoherentBuffer | null {
    return this.allocator.alloc(dev, size, gfp, attrs);
  }

  /** iommu_dma_free. */
  free(dev: Device, size: number, vaddr: VirtAddr, dma: DmaAddr, _attrs: number): void {
    this.allocator.free(dev, size, vaddr, dma);
  }

  /** Syncs matter for a non-coherent device or a bounced buffer. */
  needSync(dev: Device, addr: DmaAddr): boolean {
    if (!dev.dmaCoherent) return true;
    if (this.d.swiotlb === null) return false;
    const phys = this.d.core.iovaToPhys(this.domainAndCookie(dev).domain, addr);
    return isSwiotlbBuffer(this.d.swiotlb, phys);
  }

  /** No untrusted devices, so no SWIOTLB limit. */
  maxMappingSize(): number {
    return SIZE_MAX;
  }

  /** iommu_dma_opt_mapping_size = iova_rcache_range(): the largest size the range caches keep. */
  optMappingSize(): number {
    return IOVA_GRANULE << (IOVA_RANGE_CACHE_MAX_SIZE - 1);
  }

  /** iommu_dma_get_merge_boundary: the smallest IOMMU page minus one. */
  getMergeBoundary(): number {
    return IOVA_GRANULE - 1;
  }

  /** arch_sync_dma_for_cpu / arch_sync_dma_for_device on a physical range. */
  archSync(phys: number, size: number, dir: DmaDataDirection, forCpu: boolean): void {
    if (forCpu) this.d.arch.syncForCpu(phys, size, dir);
    else this.d.arch.syncForDevice(phys, size, dir);
  }

  /** dev_use_swiotlb: SWIOTLB built in and the kmalloc bounce rule applies. */
  devUseSwiotlb(dev: Device, size: number, dir: DmaDataDirection): boolean {
    return this.d.swiotlb !== null && dmaKmallocNeedsBounce(this.d.kmallocBounce, dev, size, dir);
  }

  /** iommu_dma_map_swiotlb's slot: aligned to the granule so no other data shares its pages. */
  private bounce(
    dev: Device,
    phys: PhysAddr,
    size: number,
    dir: DmaDataDirection,
    attrs: number,
  ): number {
    if (!isSwiotlbActive(this.d.swiotlb)) {
      this.warned.warn(
        dev,
        'DMA bounce buffers are inactive, unable to map unaligned transaction.',
        'dma-iommu.c iommu_dma_map_page',
      );
      return SWIOTLB_MAP_ERROR;
    }
    const rec = traceSwiotlbBounced(this.d.swiotlb, dev, phys, size);
    this.d.trace({
      event: 'swiotlb_bounced',
      device: rec.devName,
      dmaMask: rec.dmaMask,
      devAddr: rec.devAddr,
      size,
      force: rec.force,
    });
    return swiotlbTblMapSingle(this.d.swiotlb, dev, phys, size, IOVA_GRANULE - 1, dir, attrs);
  }

  /**
   * iommu_dma_init_domain: the IOVA space from pfn 1 (IOVA 0 is never handed out), the x86 MSI
   * window reserved, per-CPU range caches, and a flush queue for DMA-FQ domains.
   */
  private initDomain(domain: KernelIommuDomain): IommuDmaCookie {
    const iovad = initIovaDomain(IOVA_GRANULE, 1);
    const { clock, nCpus, cpu } = this.d;
    iovad.iovaDomainInitRcaches({ nCpus, cpu, clock });
    if (this.d.profile.name === 'x86_64') iovad.reserveIova(X86_MSI_PFNS[0], X86_MSI_PFNS[1]);
    const fq =
      domain.type === 'DMA-FQ'
        ? new IovaFlushQueue({
            clock,
            nCpus,
            cpu,
            flushIotlbAll: () => {
              this.d.core.flushIotlbAll(domain);
            },
            freeIova: (pfn, pages) => {
              iovad.freeIovaFast(pfn, pages);
            },
          })
        : null;
    return { iovad, fq };
  }
}
