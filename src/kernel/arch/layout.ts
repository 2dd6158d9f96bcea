/**
 * The kernel's virtual address layout per profile: where vmalloc/ioremap space, the kernel image
 * and the kernel stacks live. Sources: Documentation/arch/x86/x86_64/mm.rst (4-level paging),
 * Documentation/arch/arm64/memory.rst (48-bit VA, 4 KiB pages), arch/arm/include/asm/pgtable.h
 * (VMALLOC_OFFSET 8 MiB, VMALLOC_END 0xff800000), arch/powerpc (ppc32: VMALLOC_OFFSET 16 MiB).
 *
 * MODEL: the kernel image has a fixed physical place and size (a real one depends on the build
 * and the boot loader), and KASLR is off.
 */
import type { ArchName } from '../../machine/profile.js';
import { MIB } from '../../lib/units.js';

export interface VaLayout {
  /** First and last+1 full virtual address of the vmalloc/vmap/ioremap area. */
  readonly vmallocStart: bigint;
  readonly vmallocEnd: bigint;
  /**
   * Where the kernel image sits: its physical start as an offset from the start of RAM, its size,
   * and its virtual address. On 32-bit profiles the image lies inside the linear map.
   */
  readonly imagePhysOffset: number;
  readonly imageSize: number;
  /** Virtual address of the image's first byte; null = its linear-map address. */
  readonly imageVaddr: bigint | null;
  /** THREAD_SIZE: bytes of one kernel stack. */
  readonly threadSize: number;
  /** CONFIG_VMAP_STACK: stacks live in the vmalloc area, not in the linear map. */
  readonly vmapStack: boolean;
}

const layouts: Record<ArchName, (lowmemEndVa: bigint) => VaLayout> = {
  x86_64: () => ({
    vmallocStart: 0xffffc90000000000n,
    vmallocEnd: 0xffffe90000000000n,
    imagePhysOffset: 16 * MIB, // CONFIG_PHYSICAL_START 0x1000000
    imageSize: 32 * MIB,
    imageVaddr: 0xffffffff81000000n, // __START_KERNEL_map + CONFIG_PHYSICAL_START
    threadSize: 16 * 1024,
    vmapStack: true,
  }),
  arm64: () => ({
    // The image sits at the start of the vmalloc area (KIMAGE_VADDR); vmalloc begins after it.
    vmallocStart: 0xffff800080000000n + BigInt(64 * MIB),
    vmallocEnd: 0xfffffbffc0000000n,
    imagePhysOffset: 2 * MIB, // (unverified) a 2 MiB-aligned load address above the start of RAM
    imageSize: 32 * MIB,
    imageVaddr: 0xffff800080000000n, // KIMAGE_VADDR = MODULES_END
    threadSize: 16 * 1024,
    vmapStack: true,
  }),
  arm32: (lowmemEnd) => ({
    vmallocStart: alignUp(lowmemEnd + BigInt(8 * MIB), BigInt(8 * MIB)),
    vmallocEnd: 0xff800000n,
    imagePhysOffset: 0x8000, // TEXT_OFFSET
    imageSize: 8 * MIB,
    imageVaddr: null,
    threadSize: 8 * 1024,
    vmapStack: false,
  }),
  prep: (lowmemEnd) => ({
    vmallocStart: alignUp(lowmemEnd + BigInt(16 * MIB), BigInt(16 * MIB)),
    vmallocEnd: 0xfe000000n, // (unverified) ppc32 ioremap_bot region below the fixmap
    imagePhysOffset: 0,
    imageSize: 8 * MIB,
    imageVaddr: null,
    threadSize: 8 * 1024,
    vmapStack: false,
  }),
};

function alignUp(v: bigint, a: bigint): bigint {
  return ((v + a - 1n) / a) * a;
}

/**
 * The layout of `arch`, given the full virtual address just past the linear map (only 32-bit
 * profiles use it: their vmalloc area starts above lowmem). The kernel image fields do not depend
 * on it, so boot may read them before lowmem is known.
 */
export function vaLayout(arch: ArchName, lowmemEndVa = 0n): VaLayout {
  return layouts[arch](lowmemEndVa);
}
