/**
 * A device's bus-master port (gem5's DmaPort, QEMU's pci_dma_read/write): the only way a device
 * model reaches memory. Every access goes bus address → dma-ranges offset → IOMMU (if the device
 * sits behind one) → RAM, snooping the CPU cache only for a coherent device. Failures come back as
 * a DmaStatus for the device to report; nothing outside the target range is touched.
 */
import type { DmaAddr, PhysAddr } from '../../lib/addr.js';
import type { DataCache } from '../cache/cache.js';
import type { Clock } from '../clock/clock.js';
import { DmaStatus } from '../events.js';
import type { EventBus } from '../events.js';
import type { IommuTranslator } from '../iommu/iommu.js';
import type { PhysMap } from '../memory/physmap.js';
import type { SparseRam } from '../memory/ram.js';

/** No carried translation (translations are >= 0, faults -1). */
const NONE = -2;

export interface DmaPortDeps {
  readonly ram: SparseRam;
  readonly physmap: PhysMap;
  readonly cache: DataCache;
  readonly events: EventBus;
  readonly clock: Clock;
  /** The IOMMU translating this device's accesses, or null when it bypasses translation. */
  readonly iommu: IommuTranslator | null;
}

export class DmaPort {
  /** Bytes moved by the last read or write before it completed or stopped. */
  done = 0;
  /** Bytes covered by the last translateRun. */
  private run = 0;
  /** A look-ahead translation not yet used (NONE if there is none), and its span. */
  private carried = NONE;
  private carriedSpan = 0;
  private readonly scratch = new Uint8Array(8);
  private readonly scratchView = new DataView(this.scratch.buffer);

  constructor(
    readonly name: string,
    /** PCI requester id (bus << 8 | devfn): how the IOMMU tells devices apart. */
    readonly requesterId: number,
    /** Whether this device's accesses snoop the CPU cache. */
    readonly coherent: boolean,
    /** dma-ranges offset: bus address = physical (or IOVA) address + busOffset. */
    readonly busOffset: number,
    private readonly deps: DmaPortDeps,
  ) {}

  /** True when the device's accesses go through the IOMMU. */
  get translated(): boolean {
    return this.deps.iommu !== null;
  }

  /** Reads len bytes at bus address `bus` into dst[off..]. On failure the rest of dst reads all-ones. */
  read(bus: DmaAddr | number, dst: Uint8Array, off: number, len: number): DmaStatus {
    const st = this.transfer(false, bus, dst, off, len);
    if (st !== DmaStatus.OK) dst.fill(0xff, off + this.done, off + len);
    return st;
  }

  /** Writes src[off..off+len) at bus address `bus`. On failure, bytes before `done` have landed. */
  write(bus: DmaAddr | number, src: Uint8Array, off: number, len: number): DmaStatus {
    return this.transfer(true, bus, src, off, len);
  }

  /** Little-endian 32-bit read (PCI byte order); all-ones on failure, as a master abort gives. */
  readU32(bus: DmaAddr | number): number {
    this.read(bus, this.scratch, 0, 4);
    return this.scratchView.getUint32(0, true);
  }

  writeU32(bus: DmaAddr | number, v: number): DmaStatus {
    this.scratchView.setUint32(0, v, true);
    return this.write(bus, this.scratch, 0, 4);
  }

  /** The physical address a bus address names when no IOMMU is involved (dma_to_phys). */
  busToPhys(bus: DmaAddr | number): PhysAddr {
    return (bus - this.busOffset) as PhysAddr;
  }

  /** The bus address of a physical address when no IOMMU is involved (phys_to_dma). */
  physToBus(phys: PhysAddr | number): DmaAddr {
    return (phys + this.busOffset) as DmaAddr;
  }

  private transfer(
    write: boolean,
    bus: number,
    buf: Uint8Array,
    off: number,
    len: number,
  ): DmaStatus {
    const { ram, physmap, cache } = this.deps;
    this.done = 0;
    this.carried = NONE;
    while (len > 0) {
      const input = bus - this.busOffset;
      if (input < 0) return this.fail(write, bus, len, DmaStatus.DECODE_ERROR);
      const phys = this.deps.iommu === null ? input : this.translateRun(input, len, write);
      if (phys < 0) return this.fail(write, bus, len, DmaStatus.IOMMU_FAULT);
      // MODEL: peer-to-peer DMA into another device's MMIO window is not modelled; it decodes
      // to nothing, as it would behind a host bridge without P2P support.
      const n = Math.min(this.deps.iommu === null ? len : this.run, physmap.ramExtent(phys));
      if (n === 0) return this.fail(write, bus, len, DmaStatus.DECODE_ERROR);
      if (write) {
        if (this.coherent) cache.snoopWrite(phys, n);
        ram.write(phys, buf, off, n);
      } else if (this.coherent) cache.snoopRead(phys, buf, off, n);
      else ram.read(phys, buf, off, n);
      if (this.deps.events.on) this.emit(write, bus, phys, n, DmaStatus.OK);
      bus += n;
      off += n;
      len -= n;
      this.done += n;
    }
    return DmaStatus.OK;
  }

  /**
   * Translates `input` and the pages after it while they stay physically contiguous, so one
   * block copy serves them all; sets `run` to the bytes covered. A translation made while looking
   * ahead is carried to the next call rather than repeated, so the IOMMU sees each page once.
   */
  private translateRun(input: number, len: number, write: boolean): number {
    const iommu = this.deps.iommu as IommuTranslator;
    const phys =
      this.carried !== NONE ? this.carried : iommu.translate(this.requesterId, input, write);
    let run = this.carried !== NONE ? this.carriedSpan : iommu.span;
    this.carried = NONE;
    if (phys < 0) return phys;
    while (run < len) {
      const next = iommu.translate(this.requesterId, input + run, write);
      if (next !== phys + run) {
        this.carried = next;
        this.carriedSpan = iommu.span;
        break;
      }
      run += iommu.span;
    }
    this.run = Math.min(run, len);
    return phys;
  }

  private fail(write: boolean, bus: number, len: number, status: DmaStatus): DmaStatus {
    if (this.deps.events.on) this.emit(write, bus, -1, len, status);
    return status;
  }

  private emit(write: boolean, bus: number, phys: number, len: number, status: DmaStatus): void {
    this.deps.events.emit({
      kind: 'dma',
      t: this.deps.clock.now,
      device: this.name,
      op: write ? 'write' : 'read',
      bus: bus as DmaAddr,
      phys: phys as PhysAddr,
      len,
      coherent: this.coherent,
      status,
    });
  }
}
