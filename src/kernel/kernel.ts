/**
 * DOC: the kernel's composition root. Boots the memory side of a Linux kernel on a Machine in the
 * order setup_arch/mm_core_init do: parse the command line, build memblock (RAM, mem=, the kernel
 * image, firmware and reserved-memory regions), set up the linear map and the vmalloc area, hand
 * the free memory to the page allocator, allocate a kernel stack per CPU, and open the device
 * core. Everything hangs off this object: two kernels (two machines) can live in one page.
 */
import type { DmaAddr, PhysAddr, VirtAddr } from '../lib/addr.js';
import { ConfigError } from '../lib/errors.js';
import type { Machine } from '../machine/machine.js';
import { CpuMemOps } from './arch/mem.js';
import { vaLayout } from './arch/layout.js';
import type { VaLayout } from './arch/layout.js';
import { parseCmdline } from './cmdline.js';
import type { BootParams, SwiotlbParam } from './cmdline.js';
import type { Device } from './device/device.js';
import { DeviceRegistry } from './device/registry.js';
import { archDmaSync } from './arch/dma-sync.js';
import { DmaDirect } from './dma/direct.js';
import { DmaDirectAlloc } from './dma/direct-alloc.js';
import { DmaContiguous } from './dma/contiguous.js';
import { DevCoherent } from './dma/coherent.js';
import { AtomicPools, dmaCoherentPool } from './dma/pool.js';
import { DmaTraceBus, NO_DMA_DEBUG } from './dma/hooks.js';
import type { DmaDebugHooks } from './dma/hooks.js';
import { DmaApi } from './dma/mapping.js';
import type { DmaHandle } from './dma/mapping.js';
import { DmaPools } from './mm/dmapool.js';
import { IommuDma } from './dma/iommu.js';
import type { MaskEnv } from './dma/masks.js';
import { IommuCore } from './iommu/iommu.js';
import { MemAttr } from '../machine/memory/attr.js';
import { IO_TLB_DEFAULT_SIZE, IO_TLB_SEGSIZE, IO_TLB_SIZE, swiotlbInit } from './dma/swiotlb.js';
import type { IoTlbMem } from './dma/swiotlb.js';
import { GFP_ATOMIC, GFP_KERNEL, __GFP_HIGHMEM, __GFP_ZERO } from './mm/gfp.js';
import type { Gfp } from './mm/gfp.js';
import { procIomem } from './mm/iomem.js';
import { Kmalloc } from './mm/kmalloc.js';
import { KernelVm } from './mm/kmem.js';
import { LinearMap } from './mm/linear-map.js';
import { Memblock } from './mm/memblock.js';
import type { ReservedMemoryNode } from './mm/memblock.js';
import { PageAllocator } from './mm/page-alloc.js';
import type { Pfn } from './mm/page.js';
import { KernelStacks } from './mm/stack.js';
import { vaFromBigint } from './mm/va.js';
import { VmallocSpace } from './mm/vmalloc.js';
import { Vmap } from './mm/vmap.js';
import type { PageSource } from './mm/vmap.js';
import { KernelLog } from './printk.js';
import { KernelIo } from './io.js';
import { IrqCore } from './irq.js';
import { dmarFaultHandler } from './iommu/dmar-fault.js';
import { SkbAlloc } from './net/skb-alloc.js';

export interface KernelConfig {
  /** The kernel command line, e.g. "mem=62M swiotlb=force". */
  readonly cmdline?: string;
  /** Device-tree /reserved-memory nodes (per-device coherent pools, CMA). */
  readonly reservedMemory?: readonly ReservedMemoryNode[];
  /** dma-debug hooks (the checkers); none by default. */
  readonly dmaDebug?: DmaDebugHooks;
  /** DMAPOOL_DEBUG (CONFIG_SLUB_DEBUG_ON): dma_pool poisoning and free checks; default off. */
  readonly dmapoolDebug?: boolean;
}

export class Kernel {
  readonly log: KernelLog;
  readonly params: BootParams;
  readonly memblock: Memblock;
  readonly linear: LinearMap;
  readonly layout: VaLayout;
  readonly vm: KernelVm;
  readonly vmap: Vmap;
  readonly pages: PageAllocator;
  /** The default SWIOTLB pool, or null when this boot has none (io_tlb_default_mem). */
  readonly swiotlb: IoTlbMem | null;
  readonly kmalloc: Kmalloc;
  readonly stacks: KernelStacks;
  readonly devices: DeviceRegistry;
  /** The CMA areas and the default one (kernel/dma/contiguous.c). */
  readonly cma: DmaContiguous;
  /** The atomic DMA pools (kernel/dma/pool.c), or null where CONFIG_DMA_COHERENT_POOL is off. */
  readonly atomicPools: AtomicPools | null;
  /** Per-device coherent pools (kernel/dma/coherent.c). */
  readonly devCoherent: DevCoherent;
  /** The DMA API (kernel/dma/mapping.c): what drivers call. */
  readonly dma: DmaApi;
  /** The dma_pool allocator (mm/dmapool.c) over this kernel's dma_alloc_coherent. */
  readonly dmaPools: DmaPools;
  /** The dma:*, iommu:* and swiotlb:* tracepoints, in the order they fire; subscribe to record. */
  readonly dmaTrace = new DmaTraceBus();
  /** The IOMMU core: groups and default domains of devices behind the machine's IOMMU. */
  readonly iommu: IommuCore;
  /** IOMMU DMA, when an IOMMU driver runs; null otherwise. */
  readonly iommuDma: IommuDma | null;
  /** readl/writel on ioremap()ed registers. */
  readonly io: KernelIo;
  /** request_irq/free_irq and delivery of level-triggered lines. */
  readonly irq: IrqCore;
  /** Socket buffers and the page-fragment cache network drivers receive into. */
  readonly skbs: SkbAlloc;

  constructor(
    readonly machine: Machine,
    cfg: KernelConfig = {},
  ) {
    const profile = machine.profile;
    this.log = new KernelLog(machine.clock);
    this.params = parseCmdline(cfg.cmdline ?? '');
    const ram0 = machine.physmap.ramBanks[0]?.base ?? 0;
    const image = vaLayout(profile.name);
    const imagePhys = ram0 + image.imagePhysOffset;
    this.memblock = Memblock.boot({
      profile,
      physmap: machine.physmap,
      params: this.params,
      kernelImage: { base: imagePhys, code: image.imageSize, data: 0 },
      reservedMemory: cfg.reservedMemory ?? [],
      log: this.log,
    });
    this.linear = new LinearMap(profile, this.physOffset(ram0), this.ramEnd());
    const lowmemEndVa = profile.pageOffset + BigInt(this.linear.lowmemEnd - this.linear.physOffset);
    this.layout = vaLayout(profile.name, lowmemEndVa);
    const va = (full: bigint): ReturnType<typeof vaFromBigint> =>
      vaFromBigint(profile, full, 'vmalloc area');
    const space = new VmallocSpace(
      va(this.layout.vmallocStart),
      va(this.layout.vmallocEnd - 1n),
      profile.pageSize,
    );
    const mem = new CpuMemOps(machine);
    this.vm = new KernelVm(profile, this.linear, space, this.layout, imagePhys as PhysAddr, mem);
    this.swiotlb = swiotlbInit(
      this.memblock,
      this.swiotlbParam(),
      {
        addressingLimit: this.addressingLimited() || this.bounceUnalignedKmalloc(),
        flags: 0,
        nPossibleCpus: machine.cpus.length,
      },
      { mem, log: this.log, cpu: () => machine.currentCpu, pageSize: profile.pageSize },
    );
    this.pages = new PageAllocator({
      profile,
      free: this.memblock.freeAll(),
      memory: this.memblock.memory,
      linearMap: this.linear,
      mem,
      log: this.log,
      cpu: () => machine.currentCpu,
      nCpus: machine.cpus.length,
    });
    this.kmalloc = new Kmalloc({
      pages: this.pages,
      mem,
      log: this.log,
      cpu: () => machine.currentCpu,
      nCpus: machine.cpus.length,
    });
    this.vmap = new Vmap({
      space,
      vm: this.vm,
      pages: this.pageSource(),
      log: this.log,
      pageSize: profile.pageSize,
      isKernelRam: (p, s) => this.memblock.overlapsMemory(p, s),
    });
    this.stacks = new KernelStacks(machine.cpus.length, {
      layout: this.layout,
      vmap: this.vmap,
      linear: this.linear,
      allocContiguous: (bytes) => this.allocContiguous(bytes),
    });
    this.devices = new DeviceRegistry({ machine, log: this.log });
    this.cma = new DmaContiguous(this.memblock.reservedMem, {
      pages: this.pages,
      log: this.log,
      pageSize: profile.pageSize,
    });
    this.atomicPools = dmaCoherentPool(profile)
      ? AtomicPools.init(
          {
            profile,
            pages: this.pages,
            vm: this.vm,
            vmap: this.vmap,
            arch: archDmaSync(profile.name, machine),
            cma: this.cma,
            log: this.log,
            clock: machine.clock,
            cpu: () => machine.currentCpu,
          },
          this.params.coherentPool,
        )
      : null;
    this.devCoherent = new DevCoherent({
      profile,
      vm: this.vm,
      vmap: this.vmap,
      log: this.log,
      isSystemRam: (p, s) =>
        this.memblock.memory.some((r) => r.flags === 0 && p < r.base + r.size && r.base < p + s),
      isMachineRam: (p, s) => machine.physmap.ramExtent(p) >= s,
      reservedMem: this.memblock.reservedMem,
      cpu: () => machine.currentCpu,
    });
    const masks: MaskEnv = { profile, ramEnd: this.ramEnd(), swiotlb: this.swiotlb };
    const arch = archDmaSync(profile.name, machine);
    const kmallocBounce = this.bounceUnalignedKmalloc()
      ? {
          dmaMinAlign: profile.dmaMinAlign,
          sizeRoundup: (n: number) => this.kmalloc.kmallocSizeRoundup(n),
        }
      : null;
    const pageToPhys = (pfn: Pfn): PhysAddr => this.pages.pageToPhys(pfn);
    const direct = new DmaDirect({
      arch,
      swiotlb: this.swiotlb,
      log: this.log,
      trace: this.dmaTrace.emit,
      dmaAddrBytes: profile.physAddrBits > 32 ? 8 : 4,
      cpu: () => machine.currentCpu,
      kmallocBounce,
      masks,
      pageToPhys,
      alloc: new DmaDirectAlloc({
        profile,
        pages: this.pages,
        vm: this.vm,
        vmap: this.vmap,
        arch: archDmaSync(profile.name, machine),
        cma: this.cma,
        pools: this.atomicPools,
      }),
    });
    this.iommu = new IommuCore({
      hw: machine.iommu,
      params: this.params.iommu,
      tableMem: mem.port(MemAttr.CACHEABLE),
      allocTable: () => {
        const table = this.allocContiguous(profile.pageSize, GFP_ATOMIC | __GFP_ZERO);
        // MODEL: the kernel fails the iommu_map with -ENOMEM; tables are tiny next to RAM.
        if (table === null)
          throw new ConfigError('out of memory for IOMMU page tables; give the machine more RAM');
        return table;
      },
      trace: this.dmaTrace,
      wmb: () => {
        machine.cpu.wmb();
      },
    });
    this.iommuDma = this.iommu.enabled
      ? new IommuDma({
          core: this.iommu,
          profile,
          arch,
          swiotlb: this.swiotlb,
          kmallocBounce,
          pages: this.pages,
          vm: this.vm,
          vmap: this.vmap,
          log: this.log,
          trace: this.dmaTrace.emit,
          clock: machine.clock,
          nCpus: machine.cpus.length,
          cpu: () => machine.currentCpu,
          forcedac: this.params.iommu.forcedac === true,
          pools: this.atomicPools,
        })
      : null;
    this.devices.busRegisterNotifier((event, dev) => {
      if (event !== 'add-device') return;
      this.iommu.probeDevice(dev);
      this.iommuDma?.iommuSetupDmaOps(dev);
    });
    this.dma = new DmaApi({
      direct,
      iommu: this.iommuDma,
      masks,
      vm: this.vm,
      pageToPhys,
      debug: cfg.dmaDebug ?? NO_DMA_DEBUG,
      trace: this.dmaTrace,
      log: this.log,
      cpu: () => machine.currentCpu,
    });
    this.dmaPools = this.bootDmaPools(cfg.dmapoolDebug === true);
    if (machine.iommu !== null) machine.iommu.onFault = dmarFaultHandler(this.log, machine.clock);
    this.io = new KernelIo(machine, this.vm);
    this.irq = new IrqCore(machine, this.log);
    this.skbs = new SkbAlloc({
      kmalloc: this.kmalloc,
      vm: this.vm,
      pages: this.pages,
      pageSize: profile.pageSize,
      lineSize: profile.lineSize,
      pageAddress: (p) => this.pageAddress(p),
      virtToPage: (va) => this.virtToPage(va),
    });
  }

  /** virt_to_phys / __pa: linear-map addresses only (the kernel's CONFIG_DEBUG_VIRTUAL rule). */
  virtToPhys(va: VirtAddr): PhysAddr {
    return this.linear.virtToPhys(va);
  }

  /** phys_to_virt / __va: lowmem only. */
  physToVirt(phys: PhysAddr | number): VirtAddr {
    return this.linear.physToVirt(phys);
  }

  /** virt_to_page. */
  virtToPage(va: VirtAddr): Pfn {
    return this.pages.virtToPage(va);
  }

  /** page_address: null for a highmem page, which has no linear address. */
  pageAddress(page: Pfn): VirtAddr | null {
    return this.pages.pageAddress(page);
  }

  /** offset_in_page. */
  offsetInPage(va: VirtAddr): number {
    return va % this.machine.profile.pageSize;
  }

  /** is_vmalloc_addr. */
  isVmallocAddr(va: VirtAddr): boolean {
    return this.vm.isVmallocAddr(va);
  }

  /**
   * dma_declare_coherent_memory: gives `dev` its own coherent pool (see DevCoherent).
   * @returns 0, -EINVAL or -EBUSY
   */
  dmaDeclareCoherentMemory(dev: Device, phys: number, devAddr: number, size: number): number {
    return this.devCoherent.dmaDeclareCoherentMemory(dev, phys, devAddr, size);
  }

  /** /proc/iomem. */
  procIomem(): string {
    return procIomem(this.memblock, this.machine.physmap);
  }

  /**
   * Whether some RAM lies beyond what a 32-bit device reaches, so the arch asks for a bounce
   * pool (x86 pci_swiotlb_detect: max_pfn above 4 GiB; arm64 mem_init: RAM above the DMA zone).
   * MODEL: arm64's extra 1 MiB pool for bouncing unaligned kmalloc buffers (6.5+) is not set up.
   */
  private addressingLimited(): boolean {
    const limit = this.machine.profile.zoneDma32Limit ?? this.machine.profile.zoneDmaLimit;
    if (limit === null || this.machine.profile.physAddrBits <= 32) return false;
    return this.ramEnd() > limit;
  }

  /**
   * CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC (arm64): kmalloc aligns below ARCH_DMA_MINALIGN, so small
   * buffers of non-coherent devices are bounced (dma_kmalloc_needs_bounce).
   */
  private bounceUnalignedKmalloc(): boolean {
    return this.machine.profile.name === 'arm64';
  }

  /**
   * swiotlb= as given; on arm64 without one and without addressing limits, the small pool
   * mem_init sets up for kmalloc bouncing: 1 KiB per MiB of RAM, at most the default 64 MiB
   * (arch/arm64/mm/init.c, swiotlb_adjust_size).
   */
  private swiotlbParam(): SwiotlbParam | null {
    const p = this.params.swiotlb;
    if (
      (p !== null && p.nslabs !== null) ||
      !this.bounceUnalignedKmalloc() ||
      this.addressingLimited()
    )
      return p;
    const bytes = Math.min(Math.ceil(this.memblock.memorySize / 1024), IO_TLB_DEFAULT_SIZE);
    const nslabs = Math.ceil(bytes / IO_TLB_SIZE / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE;
    return { nslabs, nareas: p?.nareas ?? null, mode: p?.mode ?? null };
  }

  /** dma_pool's chunks come from dma_alloc_coherent of the pool's device, as in mm/dmapool.c. */
  private bootDmaPools(debug: boolean): DmaPools {
    const handle: DmaHandle = { dma: 0 as DmaAddr };
    return new DmaPools({
      ops: {
        allocCoherent: (dev, size, gfp) => {
          const vaddr = this.dma.dmaAllocCoherent(dev, size, handle, gfp);
          return vaddr === null ? null : { vaddr, dma: handle.dma };
        },
        freeCoherent: (dev, size, vaddr, dma) => {
          this.dma.dmaFreeCoherent(dev, size, vaddr, dma);
        },
        memset: (va, value, len) => {
          this.vm.memset(va, value, len);
        },
        read: (va, dst, off, len) => {
          this.vm.read(va, dst, off, len);
        },
        formatPtr: (va) => this.vm.format(va),
      },
      log: this.log,
      pageSize: this.machine.profile.pageSize,
      dmaBlockSize: this.machine.profile.physAddrBits > 32 ? 16 : 8,
      dmaAddrBytes: this.machine.profile.physAddrBits > 32 ? 8 : 4,
      debug,
    });
  }

  /** PHYS_OFFSET: what PAGE_OFFSET maps. x86 maps physical 0; Arm and PReP the start of RAM. */
  private physOffset(ram0: number): number {
    return this.machine.profile.name === 'x86_64' ? 0 : ram0;
  }

  private ramEnd(): number {
    return this.memblock.memory.reduce((end, r) => Math.max(end, r.base + r.size), 0);
  }

  /** vmalloc's pages: order-0, highmem allowed (GFP_KERNEL | __GFP_HIGHMEM). */
  private pageSource(): PageSource {
    return {
      allocPage: (zero) => {
        const pfn = this.pages.allocPages(GFP_KERNEL | __GFP_HIGHMEM | (zero ? __GFP_ZERO : 0), 0);
        return pfn === null ? null : this.pages.pageToPhys(pfn);
      },
      freePage: (phys) => {
        this.pages.freePagesPage(this.pages.physToPage(phys), 0);
      },
    };
  }

  private allocContiguous(bytes: number, gfp: Gfp = GFP_KERNEL | __GFP_ZERO): PhysAddr | null {
    const order = this.pages.getOrder(bytes);
    const pfn = this.pages.allocPages(gfp, order);
    return pfn === null ? null : this.pages.pageToPhys(pfn);
  }
}
