/**
 * dma_map_single tells dma-debug its CPU pointer (debug_dma_map_single) just before the map that
 * follows reaches debug_dma_map_phys with only the physical address. Checkers that want to name
 * the driver's pointer keep it here between the two hooks.
 */
import type { VirtAddr } from '../lib/addr.js';
import type { Device } from '../kernel/device/device.js';

export class SingleMapNote {
  private dev: Device | null = null;
  private ptr = 0 as VirtAddr;
  private size = 0;

  /** From the mapSingle hook. */
  note(dev: Device, ptr: VirtAddr, size: number): void {
    this.dev = dev;
    this.ptr = ptr;
    this.size = size;
  }

  /**
   * From the mapPhys hook: the driver's pointer when this map came from dma_map_single, else
   * null (dma_map_page). Either way the note is used up.
   */
  take(dev: Device, size: number): VirtAddr | null {
    const hit = this.dev === dev && this.size === size;
    this.dev = null;
    return hit ? this.ptr : null;
  }
}
