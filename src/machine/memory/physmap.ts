/**
 * The physical address map: RAM banks, reserved ranges inside RAM (firmware, carve-outs) and MMIO
 * windows (device BARs). Like /proc/iomem. Checked when built: regions may not overlap.
 */
import { hex, isValidAddr } from '../../lib/addr.js';
import type { PhysAddr } from '../../lib/addr.js';
import { ConfigError } from '../../lib/errors.js';

/** A device's register window: what a CPU access to a BAR reaches. */
export interface MmioHandler {
  /** Reads a register; `width` in bytes. Unknown offsets should read 0 and log a guest error. */
  read(offset: number, width: 1 | 2 | 4): number;
  /** Writes a register; `value` holds `width` bytes. */
  write(offset: number, width: 1 | 2 | 4, value: number): void;
}

export type RegionKind = 'ram' | 'reserved' | 'mmio';

export interface Region {
  readonly kind: RegionKind;
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly handler?: MmioHandler;
}

export class PhysMap {
  private ram: Region[] = [];
  private reserved: Region[] = [];
  private mmio: Region[] = [];
  private lastRam: Region | undefined;

  constructor(private readonly physAddrBits: number) {}

  addRam(base: number, size: number, name = 'System RAM'): void {
    this.check(base, size, name);
    this.noOverlap(base, size, name, [...this.ram, ...this.mmio]);
    this.ram = insertSorted(this.ram, { kind: 'ram', name, base, size });
  }

  /** Marks part of a RAM bank as reserved (still RAM, but not the kernel's to allocate). */
  addReserved(base: number, size: number, name: string): void {
    this.check(base, size, name);
    if (this.ramExtent(base) < size) {
      throw new ConfigError(
        `reserved range ${name} [${hex(base)}, +${hex(size)}) must lie inside one RAM bank`,
      );
    }
    this.reserved = insertSorted(this.reserved, { kind: 'reserved', name, base, size });
  }

  addMmio(base: number, size: number, name: string, handler: MmioHandler): void {
    this.check(base, size, name);
    this.noOverlap(base, size, name, [...this.ram, ...this.mmio]);
    this.mmio = insertSorted(this.mmio, { kind: 'mmio', name, base, size, handler });
  }

  /** RAM banks, lowest first. */
  get ramBanks(): readonly Region[] {
    return this.ram;
  }

  get reservedRanges(): readonly Region[] {
    return this.reserved;
  }

  get mmioWindows(): readonly Region[] {
    return this.mmio;
  }

  /** Bytes of RAM from `phys` to the end of its bank; 0 when `phys` is not RAM. Hot path. */
  ramExtent(phys: number): number {
    const last = this.lastRam;
    if (last !== undefined && phys >= last.base && phys < last.base + last.size) {
      return last.base + last.size - phys;
    }
    for (const r of this.ram) {
      if (phys >= r.base && phys < r.base + r.size) {
        this.lastRam = r;
        return r.base + r.size - phys;
      }
    }
    return 0;
  }

  /** The MMIO window containing `phys`, if any. */
  mmioAt(phys: PhysAddr): Region | undefined {
    return this.mmio.find((r) => phys >= r.base && phys < r.base + r.size);
  }

  /** Total bytes of RAM. */
  get ramSize(): number {
    return this.ram.reduce((s, r) => s + r.size, 0);
  }

  /** /proc/iomem-style listing. */
  describe(): string {
    const all = [...this.ram, ...this.reserved, ...this.mmio].sort((a, b) => a.base - b.base);
    const w = Math.ceil(this.physAddrBits / 4);
    const h = (n: number): string => n.toString(16).padStart(w, '0');
    return all.map((r) => `${h(r.base)}-${h(r.base + r.size - 1)} : ${r.name}`).join('\n');
  }

  private check(base: number, size: number, name: string): void {
    const limit = 2 ** this.physAddrBits;
    if (!isValidAddr(base) || !Number.isSafeInteger(size) || size <= 0 || base + size > limit) {
      throw new ConfigError(
        `${name}: [${String(base)}, +${String(size)}) is not a valid range of ${this.physAddrBits}-bit physical addresses (base and size must be integers, size > 0, end <= ${hex(limit)})`,
      );
    }
  }

  private noOverlap(base: number, size: number, name: string, others: Region[]): void {
    const o = others.find((r) => base < r.base + r.size && r.base < base + size);
    if (o !== undefined) {
      throw new ConfigError(
        `${name} [${hex(base)}-${hex(base + size - 1)}] overlaps ${o.name} [${hex(o.base)}-${hex(o.base + o.size - 1)}]`,
      );
    }
  }
}

function insertSorted(list: Region[], r: Region): Region[] {
  return [...list, r].sort((a, b) => a.base - b.base);
}
