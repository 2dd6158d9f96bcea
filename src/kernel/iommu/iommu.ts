/**
 * DOC: the IOMMU core (drivers/iommu/iommu.c with the intel-iommu driver under it, Linux 6.12).
 *
 * Every PCI device behind the machine's remapping unit gets a group of its own and the group a
 * default domain: DMA (strict), DMA-FQ (lazy, the Debian default) or identity (iommu.passthrough=1,
 * iommu=pt). DMA domains have page tables the kernel writes through the CPU; iommu_map,
 * iommu_unmap and iommu_map_sg edit them with the iommu:map/unmap tracepoints; iotlb_sync and
 * flush_iotlb_all invalidate the unit's IOTLB. dma-iommu (kernel/dma/iommu.ts) builds on this.
 *
 * MODEL: one group per device (no ACS or PCI bridge aliasing: the trace's ISA bridge functions
 * share a group on real hardware), no RMRR identity maps, no IOMMU_RESV_* regions other than the
 * x86 MSI window, no PASID, no nested or SVA domains. With the IOMMU switched off on the command
 * line the hardware's translation is off too: devices behind it get an identity binding.
 */
import type { PhysAddr } from '../../lib/addr.js';
import type { Iommu, IommuDomain } from '../../machine/iommu/iommu.js';
import type { MapProt } from '../../machine/iommu/pagetable.js';
import type { MemPort } from '../../machine/memory/port.js';
import type { IommuParams } from '../cmdline.js';
import type { Device } from '../device/device.js';
import { EINVAL } from '../errno.js';

/** IOMMU_* protection bits of iommu_map (include/linux/iommu.h). */
export const IOMMU_READ = 1 << 0;
export const IOMMU_WRITE = 1 << 1;
export const IOMMU_CACHE = 1 << 2;
export const IOMMU_NOEXEC = 1 << 3;
export const IOMMU_MMIO = 1 << 4;
export const IOMMU_PRIV = 1 << 5;

/** IOMMU page sizes of the VT-d second level: 4 KiB and 2 MiB (pgsize_bitmap). */
export const IOMMU_PGSIZE_BITMAP = 0x1000 | 0x20_0000;

/** The table rights of iommu_map by `prot & (IOMMU_READ | IOMMU_WRITE)`, superpages allowed. */
const MAP_PROTS: readonly (MapProt | null)[] = [
  null,
  { read: true, write: false, superpage: true },
  { read: false, write: true, superpage: true },
  { read: true, write: true, superpage: true },
];

/** The default domain types, as /sys/kernel/iommu_groups/N/type names them. */
export type IommuDomainType = 'DMA' | 'DMA-FQ' | 'identity';

/**
 * The tracepoints of include/trace/events/iommu.h this file fires; the same shapes as the records
 * of kernel/dma/trace.ts, so they go on the kernel's one DMA trace bus.
 */
export type IommuTraceEvent =
  | { readonly event: 'add_device_to_group'; readonly groupId: number; readonly device: string }
  | { readonly event: 'attach_device_to_domain'; readonly device: string }
  | { readonly event: 'map'; readonly iova: number; readonly paddr: number; readonly size: number }
  | {
      readonly event: 'unmap';
      readonly iova: number;
      readonly size: number;
      readonly unmappedSize: number;
    };

/** struct iommu_domain: the hardware domain and the type the core gave it. */
export class KernelIommuDomain {
  constructor(
    readonly hw: IommuDomain,
    readonly type: IommuDomainType,
    /** geometry.aperture_end: the last IOVA the tables can hold. */
    readonly apertureEnd: number,
  ) {}

  /** iommu_is_dma_domain: DMA or DMA-FQ, i.e. dma-iommu manages its IOVA space. */
  get isDma(): boolean {
    return this.type !== 'identity';
  }
}

/** struct iommu_group. */
export interface IommuGroup {
  readonly id: number;
  readonly devices: Device[];
  readonly domain: KernelIommuDomain;
}

export interface IommuCoreDeps {
  readonly hw: Iommu | null;
  readonly params: IommuParams;
  /** The CPU's path to RAM, through which page tables are written. */
  readonly tableMem: MemPort;
  /** A zeroed page for a page table (GFP_ATOMIC | __GFP_ZERO); its physical address. */
  readonly allocTable: () => number;
  /** The tracepoints' bus: `on` says whether anyone listens, so no record is built otherwise. */
  readonly trace: { readonly on: boolean; emit(ev: IommuTraceEvent): void };
  /**
   * wmb(): makes the table stores visible to the unit's walker. On weak profiles they could sit
   * in the CPU's store buffer; drivers order them before any use (qi_submit_sync, the SMMU's
   * command queue, a device doorbell).
   */
  readonly wmb: () => void;
}

/** One physically contiguous run for iommuMapSg. */
export interface IommuSgRun {
  readonly phys: number;
  readonly len: number;
}

export class IommuCore {
  private readonly groups = new Map<Device, IommuGroup>();
  private nextGroupId = 0;
  private identity: IommuDomain | null = null;

  constructor(private readonly d: IommuCoreDeps) {}

  /** Whether an IOMMU driver runs: the machine has a unit and the command line did not turn it off. */
  get enabled(): boolean {
    const p = this.d.params;
    return this.d.hw !== null && !p.off && p.intel !== false;
  }

  /** The type new default domains get (iommu_def_domain_type after the command line). */
  get defaultDomainType(): IommuDomainType {
    const p = this.d.params;
    if (p.passthrough === true) return 'identity';
    // Debian 6.12 builds CONFIG_IOMMU_DEFAULT_DMA_LAZY: lazy unless iommu.strict=1.
    return p.strict === true ? 'DMA' : 'DMA-FQ';
  }

  /**
   * iommu_probe_device + iommu_setup_default_domain: a group and a default domain for a device
   * that masters the bus through the unit. A device not behind it is left alone (dma-direct).
   * @returns the device's group, or null
   */
  probeDevice(dev: Device): IommuGroup | null {
    const port = dev.dmaPort;
    const hw = this.d.hw;
    if (port === null || !port.translated || hw === null) return null;
    if (!this.enabled) {
      this.identity ??= hw.createDomain({ type: 'identity' });
      hw.attach(port.requesterId, dev.name, this.identity);
      return null;
    }
    const domain = this.domainAlloc(hw, this.defaultDomainType);
    const group: IommuGroup = { id: this.nextGroupId++, devices: [dev], domain };
    this.groups.set(dev, group);
    dev.iommuGroup = group;
    if (this.d.trace.on)
      this.d.trace.emit({ event: 'add_device_to_group', groupId: group.id, device: dev.name });
    hw.attach(port.requesterId, dev.name, domain.hw);
    if (this.d.trace.on) this.d.trace.emit({ event: 'attach_device_to_domain', device: dev.name });
    return group;
  }

  /** iommu_get_domain_for_dev. */
  domainOf(dev: Device): KernelIommuDomain | null {
    return this.groups.get(dev)?.domain ?? null;
  }

  /** iommu_group_get. */
  groupOf(dev: Device): IommuGroup | null {
    return this.groups.get(dev) ?? null;
  }

  /**
   * iommu_map: writes [iova, iova+size) → paddr into the domain's tables, 2 MiB blocks where
   * aligned (intel_iommu superpages).
   * @returns 0, or -EINVAL for an unaligned range or no access rights (nothing mapped)
   * @linux drivers/iommu/iommu.c iommu_map
   */
  map(domain: KernelIommuDomain, iova: number, paddr: number, size: number, prot: number): number {
    if ((iova | paddr | size) % 0x1000 !== 0 || size === 0) return -EINVAL;
    if ((prot & (IOMMU_READ | IOMMU_WRITE)) === 0) return -EINVAL;
    domain.hw.map(iova, paddr, size, MAP_PROTS[prot & (IOMMU_READ | IOMMU_WRITE)] as MapProt);
    this.d.wmb();
    if (this.d.trace.on) this.d.trace.emit({ event: 'map', iova, paddr, size });
    return 0;
  }

  /**
   * iommu_unmap_fast: clears the entries but leaves the IOTLB alone; the caller syncs (strict)
   * or queues the IOVA for a later flush (lazy).
   * @returns bytes unmapped
   * @linux drivers/iommu/iommu.c iommu_unmap_fast
   */
  unmapFast(domain: KernelIommuDomain, iova: number, size: number): number {
    const unmapped = domain.hw.unmap(iova, size);
    this.d.wmb();
    if (this.d.trace.on) this.d.trace.emit({ event: 'unmap', iova, size, unmappedSize: unmapped });
    return unmapped;
  }

  /**
   * iommu_iotlb_sync over the gathered range: VT-d page-selective invalidation of it
   * (cache_tag_flush_range → qi_submit iotlb_inv in the trace).
   */
  iotlbSync(domain: KernelIommuDomain, iova: number, size: number): void {
    this.d.hw?.invalidateRange(domain.hw, iova, size);
  }

  /** iommu_flush_iotlb_all: domain-selective invalidation (what the flush queue does). */
  flushIotlbAll(domain: KernelIommuDomain): void {
    this.d.hw?.invalidateDomain(domain.hw);
  }

  /**
   * iommu_iova_to_phys: a software walk of the tables.
   * @returns the physical address, or 0 when nothing is mapped there (the kernel's convention)
   */
  iovaToPhys(domain: KernelIommuDomain, iova: number): PhysAddr {
    const phys = domain.hw.physOf(iova);
    return (phys < 0 ? 0 : phys) as PhysAddr;
  }

  /**
   * iommu_map_sg: maps runs back to back from `iova`, one iommu_map per physically contiguous
   * stretch; on a failure unmaps what it mapped.
   * @returns bytes mapped, or a negative errno
   * @linux drivers/iommu/iommu.c iommu_map_sg
   */
  mapSg(
    domain: KernelIommuDomain,
    iova: number,
    runs: readonly IommuSgRun[],
    prot: number,
  ): number {
    let mapped = 0;
    let start = 0;
    let len = 0;
    const flush = (): number => {
      if (len === 0) return 0;
      const rc = this.map(domain, iova + mapped, start, len, prot);
      if (rc !== 0) return rc;
      mapped += len;
      return 0;
    };
    for (const r of runs) {
      if (len !== 0 && r.phys === start + len) {
        len += r.len;
        continue;
      }
      const rc = flush();
      if (rc !== 0) return this.unwindSg(domain, iova, mapped, rc);
      start = r.phys;
      len = r.len;
    }
    const rc = flush();
    return rc !== 0 ? this.unwindSg(domain, iova, mapped, rc) : mapped;
  }

  /** A map_sg that failed part-way unmaps what it did (with the unmap tracepoint, as the kernel). */
  private unwindSg(domain: KernelIommuDomain, iova: number, mapped: number, rc: number): number {
    if (mapped > 0) this.unmapFast(domain, iova, mapped);
    return rc;
  }

  /** iommu_domain_alloc for a default domain; translated ones get page tables. */
  private domainAlloc(hw: Iommu, type: IommuDomainType): KernelIommuDomain {
    const spec =
      type === 'identity'
        ? { type: 'identity' as const }
        : { type: 'translated' as const, allocTable: this.d.allocTable, tableMem: this.d.tableMem };
    const apertureEnd = Math.min(2 ** hw.addressWidth, 2 ** 52) - 1;
    return new KernelIommuDomain(hw.createDomain(spec), type, apertureEnd);
  }
}
