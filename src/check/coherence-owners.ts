/**
 * The coherence checker's record of live DMA buffers (Documentation/core-api/dma-api-howto.rst,
 * "DMA Direction" and "Streaming DMA mappings"): one Tracked per streaming mapping, sg segment or
 * coherent allocation, who owns each of its cache lines, and two indexes to find it from an event:
 * by device and bus address (device accesses) and by CPU cache line (CPU accesses).
 */
import type { Device } from '../kernel/device/device.js';
import type { DmaDataDirection } from '../kernel/dma/direction.js';

export type TrackedType = 'single' | 'sg' | 'coherent' | 'resource';

/** Who may touch a line of a streaming mapping. */
export const enum Owner {
  CPU = 0,
  DEVICE = 1,
}

/** A CPU-side piece of a tracked buffer: `len` bytes at `phys`, `dmaOff` bytes into the mapping. */
export interface CpuRange {
  readonly phys: number;
  readonly len: number;
  readonly dmaOff: number;
}

/** One live buffer the device may reach. */
export interface Tracked {
  readonly dev: Device;
  readonly type: TrackedType;
  readonly dir: DmaDataDirection;
  /** Bus address the mapping call returned. */
  readonly dmaAddr: number;
  /** Bytes mapped. */
  readonly size: number;
  /** Where the CPU sees the buffer (one range, or a list for an sg segment or a remapped buffer). */
  readonly cpu: readonly CpuRange[];
  /** Kernel virtual address of the first byte, or -1 when the buffer has none (highmem, sg). */
  readonly vaddr: number;
  /** True when the device reaches a bounce slot, not the CPU's buffer (SWIOTLB). */
  readonly bounced: boolean;
  /** The call that made it, e.g. "dma_map_single(0000:00:01.0, ffff..., 64, DMA_TO_DEVICE)". */
  readonly origin: string;
  /** Per cache line of the bus range, from the line holding dmaAddr: Owner (streaming only). */
  readonly owner: Uint8Array;
  /** Kinds already reported since the last ownership change (one finding per mistake). */
  readonly reported: Set<string>;
}

/** A buffer that was unmapped or freed, kept a while to explain later device accesses. */
export interface Gone {
  readonly t: Tracked;
  /** Simulated time of the unmap, in ns. */
  readonly at: number;
}

/** How many unmapped buffers are remembered for reports. */
const GONE_MAX = 64;

export class OwnerTable {
  /** Live buffers by device name, in map order. */
  private readonly byDev = new Map<string, Tracked[]>();
  /** Live buffers by CPU cache line number. */
  private readonly byLine = new Map<number, Tracked[]>();
  /** Bounce slots' cache lines of bounced mappings (the CPU touches them only to bounce). */
  private readonly slots = new Map<number, Tracked>();
  private readonly gone: Gone[] = [];

  constructor(private readonly lineSize: number) {}

  /** Lines of the owner array a mapping of `size` bytes at bus `dmaAddr` needs. */
  nLines(dmaAddr: number, size: number): number {
    const ls = this.lineSize;
    return Math.max(1, Math.floor((dmaAddr + size - 1) / ls) - Math.floor(dmaAddr / ls) + 1);
  }

  add(t: Tracked, slotPhys: number): void {
    const list = this.byDev.get(t.dev.name);
    if (list === undefined) this.byDev.set(t.dev.name, [t]);
    else list.push(t);
    for (const r of t.cpu)
      this.forLines(r.phys, r.len, (l) => {
        push(this.byLine, l, t);
      });
    if (t.bounced) this.forLines(slotPhys, t.size, (l) => this.slots.set(l, t));
  }

  remove(t: Tracked, now: number, slotPhys: number): void {
    const list = this.byDev.get(t.dev.name);
    if (list !== undefined) {
      const i = list.indexOf(t);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byDev.delete(t.dev.name);
    }
    for (const r of t.cpu)
      this.forLines(r.phys, r.len, (l) => {
        pull(this.byLine, l, t);
      });
    if (t.bounced) this.forLines(slotPhys, t.size, (l) => this.slots.delete(l));
    this.gone.push({ t, at: now });
    if (this.gone.length > GONE_MAX) this.gone.shift();
  }

  /** The live buffer of device `devName` that holds bus address `bus`, or undefined. */
  atBus(devName: string, bus: number): Tracked | undefined {
    const list = this.byDev.get(devName);
    if (list === undefined) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const t = list[i] as Tracked;
      if (bus >= t.dmaAddr && bus < t.dmaAddr + t.size) return t;
    }
    return undefined;
  }

  /** The live buffer of `dev` that starts at bus address `dmaAddr` with type `type`. */
  exact(devName: string, dmaAddr: number, type: TrackedType): Tracked | undefined {
    return this.byDev.get(devName)?.find((t) => t.dmaAddr === dmaAddr && t.type === type);
  }

  /** The most recently unmapped buffer of `devName` that held `bus`, if remembered. */
  goneAt(devName: string, bus: number): Gone | undefined {
    for (let i = this.gone.length - 1; i >= 0; i--) {
      const g = this.gone[i] as Gone;
      if (g.t.dev.name === devName && bus >= g.t.dmaAddr && bus < g.t.dmaAddr + g.t.size) return g;
    }
    return undefined;
  }

  /** Live buffers with bytes in the CPU cache line `line`. */
  onLine(line: number): readonly Tracked[] | undefined {
    return this.byLine.get(line);
  }

  /** The bounced mapping whose slot holds cache line `line`, if any. */
  slotOn(line: number): Tracked | undefined {
    return this.slots.get(line);
  }

  /** Whether any live buffer has bytes in CPU cache line `line`. */
  tracksLine(line: number): boolean {
    return this.byLine.has(line);
  }

  /** Live buffers of every device. */
  *all(): Generator<Tracked> {
    for (const list of this.byDev.values()) yield* list;
  }

  /** Sets the owner of the lines of `t` that [dmaAddr, dmaAddr + size) touches. */
  setOwner(t: Tracked, dmaAddr: number, size: number, owner: Owner): void {
    const ls = this.lineSize;
    const first = Math.floor(t.dmaAddr / ls);
    const a = Math.max(0, Math.floor(dmaAddr / ls) - first);
    const b = Math.min(
      t.owner.length,
      Math.floor((dmaAddr + Math.max(size, 1) - 1) / ls) - first + 1,
    );
    t.owner.fill(owner, a, b);
    t.reported.clear();
  }

  /** Whether the device owns any line of [off, off + len) of `t` (offsets in the bus range). */
  deviceOwns(t: Tracked, off: number, len: number): boolean {
    return this.any(t, off, len, Owner.DEVICE);
  }

  /** Whether the CPU owns any line of [off, off + len) of `t`. */
  cpuOwns(t: Tracked, off: number, len: number): boolean {
    return this.any(t, off, len, Owner.CPU);
  }

  /** Calls fn for each cache line number of [phys, phys + len). */
  forLines(phys: number, len: number, fn: (line: number) => void): void {
    const ls = this.lineSize;
    const last = Math.floor((phys + Math.max(len, 1) - 1) / ls);
    for (let l = Math.floor(phys / ls); l <= last; l++) fn(l);
  }

  private any(t: Tracked, off: number, len: number, owner: Owner): boolean {
    const ls = this.lineSize;
    const first = Math.floor(t.dmaAddr / ls);
    const a = Math.max(0, Math.floor((t.dmaAddr + off) / ls) - first);
    const b = Math.min(
      t.owner.length,
      Math.floor((t.dmaAddr + off + Math.max(len, 1) - 1) / ls) - first + 1,
    );
    for (let i = a; i < b; i++) if (t.owner[i] === owner) return true;
    return false;
  }
}

function push(m: Map<number, Tracked[]>, line: number, t: Tracked): void {
  const list = m.get(line);
  if (list === undefined) m.set(line, [t]);
  else list.push(t);
}

function pull(m: Map<number, Tracked[]>, line: number, t: Tracked): void {
  const list = m.get(line);
  if (list === undefined) return;
  const i = list.indexOf(t);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) m.delete(line);
}
