/**
 * MMIO accessors on ioremap()ed addresses (include/asm-generic/io.h, arch/arm64/include/asm/io.h):
 * readl/writel carry the arch's barriers, the _relaxed forms none. The kernel address is resolved
 * to the device's physical window and the access goes through the current CPU, so a driver's
 * doorbell is ordered (or not) against its earlier stores exactly as on the profile's CPU.
 */
import type { VirtAddr } from '../lib/addr.js';
import type { Machine } from '../machine/machine.js';
import type { KernelVm } from './mm/kmem.js';

export class KernelIo {
  constructor(
    private readonly machine: Machine,
    private readonly vm: KernelVm,
  ) {}

  readl(addr: VirtAddr): number {
    return this.machine.cpu.readl(this.vm.virtToPhys(addr));
  }

  /** writel: the arch's write barrier, then the store (a doorbell sees every earlier store). */
  writel(value: number, addr: VirtAddr): void {
    this.machine.cpu.writel(this.vm.virtToPhys(addr), value >>> 0);
  }

  /** writel_relaxed: no barrier (earlier stores may reach memory after the device sees this). */
  writelRelaxed(value: number, addr: VirtAddr): void {
    this.machine.cpu.writelRelaxed(this.vm.virtToPhys(addr), value >>> 0);
  }

  readlRelaxed(addr: VirtAddr): number {
    return this.machine.cpu.readlRelaxed(this.vm.virtToPhys(addr));
  }
}
