/**
 * The kernel's linear (direct) map: lowmem physical memory mapped at PAGE_OFFSET, so that
 * __va/__pa are an addition (arch/x86/include/asm/page_64.h; arch/arm64/include/asm/memory.h:
 * virt = (phys - PHYS_OFFSET) | PAGE_OFFSET; arch/arm/include/asm/memory.h; the PReP triple of the
 * seeds). On 64-bit profiles all RAM is lowmem; on 32-bit ones RAM above `lowmemBytes` is highmem
 * and has no linear address.
 */
import type { PhysAddr, VirtAddr } from '../../lib/addr.js';
import { hex } from '../../lib/addr.js';
import { SimulatorBug } from '../../lib/errors.js';
import type { ArchProfile } from '../../machine/profile.js';

export class LinearMap {
  /** VirtAddr of physOffset. */
  private readonly base: number;
  /** First physical address past lowmem. */
  readonly lowmemEnd: number;

  /**
   * @param physOffset the physical address PAGE_OFFSET maps (PHYS_OFFSET: the start of RAM on
   *   Arm, 0 on x86)
   * @param ramEnd first physical address past the kernel's RAM
   */
  constructor(
    readonly profile: ArchProfile,
    readonly physOffset: number,
    ramEnd: number,
  ) {
    this.base = Number(profile.pageOffset - profile.vaBase);
    this.lowmemEnd =
      profile.lowmemBytes === null ? ramEnd : Math.min(ramEnd, physOffset + profile.lowmemBytes);
  }

  /** True if `phys` has a linear-map address (lowmem). */
  isLowmem(phys: number): boolean {
    return phys >= this.physOffset && phys < this.lowmemEnd;
  }

  /** True if `va` lies in the linear map (virt_addr_valid without the pfn_valid part). */
  contains(va: VirtAddr): boolean {
    return va >= this.base && va < this.base + (this.lowmemEnd - this.physOffset);
  }

  /** __va / phys_to_virt. Only lowmem has one: anything else is a bug in the caller. */
  physToVirt(phys: PhysAddr | number): VirtAddr {
    if (!this.isLowmem(phys)) throw new SimulatorBug(`__va(${hex(phys)}): not lowmem`);
    return (this.base + (phys - this.physOffset)) as VirtAddr;
  }

  /** __pa / virt_to_phys of a linear-map address. */
  virtToPhys(va: VirtAddr): PhysAddr {
    if (!this.contains(va)) throw new SimulatorBug(`__pa(va+${hex(va)}): not a linear-map address`);
    return (va - this.base + this.physOffset) as PhysAddr;
  }
}
