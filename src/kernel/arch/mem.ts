/**
 * The kernel's memset/memcpy by physical address, carried out by the machine's current CPU: the
 * one door from kernel code to memory (DESIGN.md "Layers": the kernel reaches hardware through
 * kernel/arch).
 */
import type { Machine } from '../../machine/machine.js';
import type { MemAttr } from '../../machine/memory/attr.js';
import type { MemPort } from '../../machine/memory/port.js';
import type { KernelMemOps } from '../mm/types.js';

const FILL_CHUNK = 4096;

export class CpuMemOps implements KernelMemOps {
  private readonly zeros = new Uint8Array(FILL_CHUNK);
  private readonly fillBuf = new Uint8Array(FILL_CHUNK);

  constructor(private readonly machine: Machine) {}

  memset(phys: number, value: number, len: number, attr: MemAttr): void {
    const src = value === 0 ? this.zeros : this.fillBuf.fill(value);
    for (let done = 0; done < len; done += FILL_CHUNK) {
      this.machine.cpu.write(phys + done, src, 0, Math.min(FILL_CHUNK, len - done), attr);
    }
  }

  read(phys: number, dst: Uint8Array, off: number, len: number, attr: MemAttr): void {
    this.machine.cpu.read(phys, dst, off, len, attr);
  }

  write(phys: number, src: Uint8Array, off: number, len: number, attr: MemAttr): void {
    this.machine.cpu.write(phys, src, off, len, attr);
  }

  /**
   * A MemPort doing this object's read and write with attribute `attr`, plus the 8-byte
   * little-endian entry accessors (Cpu.readLe64/writeLe64): the kernel's path to IOMMU page
   * tables. Each access is made by the machine's current CPU at that time.
   */
  port(attr: MemAttr): MemPort {
    return new CpuPort(this.machine, attr);
  }
}

/** See CpuMemOps.port. */
class CpuPort implements Required<MemPort> {
  constructor(
    private readonly machine: Machine,
    private readonly attr: MemAttr,
  ) {}

  read(phys: number, dst: Uint8Array, off: number, len: number): void {
    this.machine.cpu.read(phys, dst, off, len, this.attr);
  }

  write(phys: number, src: Uint8Array, off: number, len: number): void {
    this.machine.cpu.write(phys, src, off, len, this.attr);
  }

  readLe64(phys: number, out: Uint32Array): void {
    this.machine.cpu.readLe64(phys, out, this.attr);
  }

  writeLe64(phys: number, lo: number, hi: number): void {
    this.machine.cpu.writeLe64(phys, lo, hi, this.attr);
  }
}
