/**
 * The arch hooks of non-coherent DMA (include/linux/dma-map-ops.h arch_sync_dma_for_device,
 * arch_sync_dma_for_cpu, arch_dma_prep_coherent), carried out on the machine's data cache by the
 * current CPU. Coherent architectures get a null object: the DMA layer calls the hooks the same
 * way everywhere and never asks which arch it runs on (aesthetics L4).
 */
import type { Machine } from '../../machine/machine.js';
import type { ArchName } from '../../machine/profile.js';
import { DmaDataDirection } from '../dma/direction.js';

export interface ArchDmaSync {
  /** Before the device touches [phys, phys+size): make it see what the CPU wrote. */
  syncForDevice(phys: number, size: number, dir: DmaDataDirection): void;
  /** After the device is done: make the CPU see what the device wrote. */
  syncForCpu(phys: number, size: number, dir: DmaDataDirection): void;
  /** Before memory is used through an uncached alias: nothing of it may stay in the cache. */
  prepCoherent(phys: number, size: number): void;
}

/** x86 and the PReP profile: every device snoops, so there is nothing to do. */
export class CoherentArch implements ArchDmaSync {
  syncForDevice(): void {
    // DMA-coherent: nothing to do.
  }
  syncForCpu(): void {
    // DMA-coherent: nothing to do.
  }
  prepCoherent(): void {
    // DMA-coherent: nothing to do.
  }
}

/**
 * arm64 (arch/arm64/mm/dma-mapping.c): clean to the point of coherency for the device in every
 * direction (since 5.x the FROM_DEVICE invalidate was dropped: a clean is enough and safe),
 * invalidate for the CPU unless the data only went to the device; prep = clean+invalidate.
 */
export class Arm64DmaSync implements ArchDmaSync {
  constructor(private readonly machine: Machine) {}

  syncForDevice(phys: number, size: number): void {
    this.machine.cpu.dcacheClean(phys, size);
  }

  syncForCpu(phys: number, size: number, dir: DmaDataDirection): void {
    if (dir !== DmaDataDirection.TO_DEVICE) this.machine.cpu.dcacheInval(phys, size);
  }

  prepCoherent(phys: number, size: number): void {
    this.machine.cpu.dcacheCleanInval(phys, size);
  }
}

/**
 * arm32 ARMv7 (arch/arm/mm/dma-mapping.c __dma_page_cpu_to_dev / __dma_page_dev_to_cpu and
 * cache-v7.S v7_dma_map_area / v7_dma_unmap_area): for the device, FROM_DEVICE invalidates and the
 * other directions clean; for the CPU, everything but TO_DEVICE invalidates.
 */
export class Arm32DmaSync implements ArchDmaSync {
  constructor(private readonly machine: Machine) {}

  syncForDevice(phys: number, size: number, dir: DmaDataDirection): void {
    if (dir === DmaDataDirection.FROM_DEVICE) this.machine.cpu.dcacheInval(phys, size);
    else this.machine.cpu.dcacheClean(phys, size);
  }

  syncForCpu(phys: number, size: number, dir: DmaDataDirection): void {
    if (dir !== DmaDataDirection.TO_DEVICE) this.machine.cpu.dcacheInval(phys, size);
  }

  prepCoherent(phys: number, size: number): void {
    this.machine.cpu.dcacheCleanInval(phys, size);
  }
}

/** The hooks of a profile. */
export function archDmaSync(arch: ArchName, machine: Machine): ArchDmaSync {
  if (arch === 'arm64') return new Arm64DmaSync(machine);
  if (arch === 'arm32') return new Arm32DmaSync(machine);
  return new CoherentArch();
}
