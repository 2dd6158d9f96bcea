/**
 * Architecture profiles: every number that differs between platforms, as data. Sources are cited
 * per value; facts = ../shared/reference/linux-dma-facts.md (§ numbers), seeds = the seed articles.
 * MODEL: cache size and ways, WC entries and store-buffer depth and drain time are model choices
 * of plausible size, not any one CPU's; values marked unverified are from memory.
 */
import { GIB, KIB, MIB } from '../lib/units.js';

export type ArchName = 'x86_64' | 'arm64' | 'arm32' | 'prep';
/** `tso`: stores become visible in program order (x86). `weak`: they may not (Arm, PowerPC). */
export type OrderingModel = 'tso' | 'weak';

/** What one barrier does to the posted stores of the CPU that issues it. */
export interface BarrierEffect {
  /** Drains the write-combining buffer. */
  readonly wc: boolean;
  /** Drains the weakly ordered store buffer. */
  readonly stores: boolean;
}

/** The arch's implementation of each barrier macro, and of the barriers inside readl/writel. */
export interface BarrierTable {
  readonly mb: BarrierEffect;
  readonly rmb: BarrierEffect;
  readonly wmb: BarrierEffect;
  readonly dma_wmb: BarrierEffect;
  readonly dma_rmb: BarrierEffect;
  /** Barrier writel() issues before its store (arm64 __iowmb), or null. */
  readonly beforeWritel: 'wmb' | 'dma_wmb' | null;
  /** Whether an uncached access drains the write-combining buffer (Intel SDM vol. 3 §12.3.1). */
  readonly uncachedDrainsWc: boolean;
}

const NONE: BarrierEffect = { wc: false, stores: false };
const ALL: BarrierEffect = { wc: true, stores: true };

/**
 * x86 (arch/x86/include/asm/barrier.h): mb/wmb are mfence/sfence and drain WC; rmb is lfence;
 * dma_wmb/dma_rmb are compiler barriers only (TSO orders cacheable stores already).
 */
const X86_BARRIERS: BarrierTable = {
  mb: ALL,
  rmb: NONE,
  wmb: ALL,
  dma_wmb: NONE,
  dma_rmb: NONE,
  beforeWritel: null,
  uncachedDrainsWc: true,
};

/**
 * Arm (arch/arm64/include/asm/barrier.h): mb/wmb are dsb sy/st, dma_wmb is dmb oshst, which
 * orders all earlier stores (Normal-NC included) before later ones; writel() starts with
 * __iowmb() = dma_wmb(). rmb/dma_rmb order loads only. PowerPC's sync/lwsync act alike here.
 */
const WEAK_BARRIERS: BarrierTable = {
  mb: ALL,
  rmb: NONE,
  wmb: ALL,
  dma_wmb: ALL,
  dma_rmb: NONE,
  beforeWritel: 'dma_wmb',
  uncachedDrainsWc: false,
};

export interface RamBank {
  /** First physical address of the bank. */
  readonly base: number;
  /** Size in bytes. */
  readonly size: number;
}

export interface ArchProfile {
  readonly name: ArchName;
  readonly description: string;
  /** CPU data cache line size in bytes (L1_CACHE_BYTES). */
  readonly lineSize: number;
  /** Byte order of CPU loads and stores (device registers stay little-endian, as on PCI). */
  readonly bigEndian: boolean;
  /** PAGE_SIZE in bytes. */
  readonly pageSize: number;
  /** Width of physical addresses the platform can generate. */
  readonly physAddrBits: number;
  /** Exclusive upper physical limit of ZONE_DMA, or null when the profile has no ZONE_DMA. */
  readonly zoneDmaLimit: number | null;
  /** Exclusive upper physical limit of ZONE_DMA32, or null when there is none. */
  readonly zoneDma32Limit: number | null;
  /** Bytes of RAM the kernel maps linearly (lowmem); above it is ZONE_HIGHMEM. null: no highmem. */
  readonly lowmemBytes: number | null;
  /** Whether devices snoop CPU caches unless a device says otherwise. */
  readonly defaultCoherent: boolean;
  /** ARCH_DMA_MINALIGN; 1 where the arch does not define it (dma_get_cache_alignment() == 1). */
  readonly dmaMinAlign: number;
  /** ARCH_KMALLOC_MINALIGN: the smallest alignment kmalloc guarantees. */
  readonly kmallocMinAlign: number;
  readonly ordering: OrderingModel;
  readonly barriers: BarrierTable;
  /** Kernel virtual address of the first RAM byte in the linear map (PAGE_OFFSET). */
  readonly pageOffset: bigint;
  /** Bottom of the kernel's virtual address window: VirtAddr values count from here. */
  readonly vaBase: bigint;
  /** Size of that window as a power of two (bits). */
  readonly vaBits: number;
  /** Added to a physical address to get the bus address devices use (the dma-ranges offset). */
  readonly busOffset: number;
  /** Default RAM layout for a given RAM size. */
  readonly ramBanks: (size: number) => RamBank[];
  /** Default one-level data cache geometry. */
  readonly cache: { readonly size: number; readonly ways: number };
  /** Write-combining buffer entries per CPU, each one line. */
  readonly wcEntries: number;
  /** Weakly ordered store buffer: entries per CPU and the longest time a store may stay posted. */
  readonly storeBuffer: { readonly entries: number; readonly maxDrainNs: number };
}

/** One bank at `base`, as on most Arm boards. */
function singleBank(base: number): (size: number) => RamBank[] {
  return (size) => [{ base, size }];
}

/**
 * PC layout: RAM below the 32-bit PCI hole up to 3 GiB, the rest from 4 GiB (QEMU's pc machine
 * with gigabyte-aligned low memory).
 */
function pcBanks(size: number): RamBank[] {
  const low = Math.min(size, 3 * GIB);
  return size > low
    ? [
        { base: 0, size: low },
        { base: 4 * GIB, size: size - low },
      ]
    : [{ base: 0, size }];
}

const profiles: Record<ArchName, ArchProfile> = {
  x86_64: {
    name: 'x86_64',
    description: 'PC: DMA-coherent devices, TSO ordering, ZONE_DMA < 16 MiB, ZONE_DMA32 < 4 GiB',
    lineSize: 64,
    bigEndian: false,
    pageSize: 4096,
    physAddrBits: 52,
    zoneDmaLimit: 16 * MIB, // facts §3.2, arch/x86/include/asm/dma.h MAX_DMA_PFN
    zoneDma32Limit: 4 * GIB, // facts §3.2 MAX_DMA32_PFN
    lowmemBytes: null,
    defaultCoherent: true,
    dmaMinAlign: 1, // facts §1.15: x86 does not define ARCH_DMA_MINALIGN
    kmallocMinAlign: 8,
    ordering: 'tso',
    barriers: X86_BARRIERS,
    pageOffset: 0xffff888000000000n, // Documentation/arch/x86/x86_64/mm.rst, 4-level, no KASLR
    vaBase: 0xffff800000000000n, // the canonical upper half of 4-level paging
    vaBits: 47,
    busOffset: 0,
    ramBanks: pcBanks,
    cache: { size: 256 * KIB, ways: 8 },
    wcEntries: 4,
    storeBuffer: { entries: 0, maxDrainNs: 0 },
  },
  arm64: {
    name: 'arm64',
    description: 'Arm64 board: non-coherent platform devices, weak ordering, ARCH_DMA_MINALIGN 128',
    lineSize: 64,
    bigEndian: false,
    pageSize: 4096,
    physAddrBits: 48,
    // facts §3.2: ZONE_DMA reaches the smallest dma-ranges limit, capped at 32 bits; with no
    // limiting dma-ranges it covers all RAM below 4 GiB and ZONE_DMA32 is empty.
    zoneDmaLimit: 4 * GIB,
    zoneDma32Limit: 4 * GIB,
    lowmemBytes: null,
    defaultCoherent: false, // facts §1.15; DT devices without `dma-coherent`
    dmaMinAlign: 128, // facts §1.15 arch/arm64/include/asm/cache.h
    kmallocMinAlign: 8, // facts §1.15 DMA_BOUNCE_UNALIGNED_KMALLOC (6.5+)
    ordering: 'weak',
    barriers: WEAK_BARRIERS,
    pageOffset: 0xffff000000000000n, // 48-bit VA: PAGE_OFFSET = -(1 << 48)
    vaBase: 0xffff000000000000n, // Documentation/arch/arm64/memory.rst, 48-bit VA, 4 KiB pages
    vaBits: 48,
    busOffset: 0,
    ramBanks: singleBank(0x4000_0000), // QEMU virt board: RAM at 1 GiB
    cache: { size: 256 * KIB, ways: 8 },
    wcEntries: 4,
    storeBuffer: { entries: 16, maxDrainNs: 200 },
  },
  arm32: {
    name: 'arm32',
    description: 'Armv7 board: 32-byte lines, 32-bit physical addresses, 3G/1G split, highmem',
    lineSize: 32,
    bigEndian: false,
    pageSize: 4096,
    physAddrBits: 32,
    zoneDmaLimit: null, // arm32 has ZONE_DMA only on boards that ask for it (arm_dma_limit)
    zoneDma32Limit: null,
    lowmemBytes: 760 * MIB, // 3G/1G split with the default 240 MiB vmalloc area
    defaultCoherent: false,
    dmaMinAlign: 32, // arch/arm: ARCH_DMA_MINALIGN = L1_CACHE_BYTES
    kmallocMinAlign: 32,
    ordering: 'weak',
    barriers: WEAK_BARRIERS,
    pageOffset: 0xc0000000n, // CONFIG_PAGE_OFFSET for VMSPLIT_3G
    vaBase: 0n,
    vaBits: 32,
    busOffset: 0,
    ramBanks: singleBank(0x6000_0000), // Versatile Express A9: RAM at 0x60000000
    cache: { size: 32 * KIB, ways: 4 },
    wcEntries: 4,
    storeBuffer: { entries: 8, maxDrainNs: 200 },
  },
  prep: {
    name: 'prep',
    description: 'PowerPC Reference Platform: physical 0 is bus 0x80000000 and virtual 0xC0000000',
    lineSize: 32,
    bigEndian: true, // PowerPC 60x in big-endian mode; PCI is little-endian
    pageSize: 4096,
    physAddrBits: 32,
    zoneDmaLimit: 16 * MIB, // ISA DMA reach (seeds: dma_mem_alloc); ppc32 value unverified
    zoneDma32Limit: null,
    lowmemBytes: 768 * MIB, // ppc32 CONFIG_LOWMEM_SIZE default (unverified)
    defaultCoherent: true, // 60x bus snooping
    dmaMinAlign: 1,
    kmallocMinAlign: 8,
    ordering: 'weak',
    barriers: WEAK_BARRIERS,
    pageOffset: 0xc0000000n, // seeds: physical 0 is virtual 0xC0000000
    vaBase: 0n,
    vaBits: 32,
    busOffset: 0x8000_0000, // seeds: physical 0 is bus 0x80000000
    ramBanks: singleBank(0),
    cache: { size: 32 * KIB, ways: 8 },
    wcEntries: 4,
    storeBuffer: { entries: 8, maxDrainNs: 200 },
  },
};

export const ARCH_NAMES = Object.keys(profiles) as ArchName[];

/** Returns the profile, or undefined for an unknown name (the caller reports the error). */
export function findProfile(name: string): ArchProfile | undefined {
  return (profiles as Partial<Record<string, ArchProfile>>)[name];
}
