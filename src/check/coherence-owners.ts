/**
 * The coherence checker's record of live DMA buffers (Documentation/core-api/dma-api-howto.rst,
 * "DMA Direction" and "Streaming DMA mappings"): one Tracked per streaming mapping, sg segment or
 * coherent allocation, who owns each of its cache lines, and two indexes to find it from an event:
 * by device and bus address (device accesses) and by CPU memory (CPU accesses).
 *
 * Performance (DESIGN "Performance"): a map and an unmap cost a few operations whatever the
 * buffer's size. The CPU-side index is by 4 KiB chunk of physical memory, not by cache line: a
 * chunk lists the buffers with bytes in it, and the lines a buffer covers are computed at lookup.
 * A buffer's owners are one value until a sync hands over part of it; only then does it get an
 * array of one owner per line. Its call text ("origin") is formatted when a report first needs it.
 */
import type { Device } from '../kernel/device/device.js';
import type { DmaDataDirection } from '../kernel/dma/direction.js';
import { hex } from './coherence-report.js';
import { dirName } from './dma-debug-format.js';
import { EmptiedKeys, SeqList } from './lists.js';

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

/** The DMA API call that made a Tracked, for its origin text. */
export const enum MapCall {
  /** dma_map_single(dev, ptr, size, dir): `arg` is ptr. */
  SINGLE = 0,
  /** dma_map_page(dev, phys, size, dir): `arg` is phys. */
  PAGE = 1,
  /** dma_map_resource(dev, phys, size, dir): `arg` is phys. */
  RESOURCE = 2,
  /** dma_map_sg(dev, sgl, nents, dir) segment i: `arg` is nents, `seg` is i. */
  SG = 3,
  /** dma_alloc_coherent(dev, size, dma) = vaddr. */
  COHERENT = 4,
}

/** Formats a kernel virtual address as the kernel prints it (KernelVm.format). */
export interface VaFormat {
  format(va: number): string;
}

/** What a Tracked is filled with (see Tracked.fill). */
export interface TrackedInit {
  dev: Device;
  type: TrackedType;
  dir: DmaDataDirection;
  dmaAddr: number;
  size: number;
  /** The CPU ranges, or null for one: `size` bytes at `phys`, offset 0. */
  cpu: readonly CpuRange[] | null;
  phys: number;
  vaddr: number;
  /** Where a device without an IOMMU reaches dmaAddr, or -1 (IOMMU). */
  slot: number;
  call: MapCall;
  arg: number;
  seg: number;
  at: number;
  caller: string;
  va: VaFormat;
}

/**
 * One live buffer the device may reach. The records are reused (OwnerTable.fresh) once they have
 * left the table's memory of unmapped buffers, so that maps and unmaps allocate nothing.
 */
export class Tracked {
  dev!: Device;
  type!: TrackedType;
  dir!: DmaDataDirection;
  /** Bus address the mapping call returned. */
  dmaAddr!: number;
  /** Bytes mapped. */
  size!: number;
  /** Where the CPU sees the buffer (one range, or a list for an sg segment or a remapped buffer). */
  cpu!: readonly CpuRange[];
  /** Kernel virtual address of the first byte, or -1 when the buffer has none (highmem, sg). */
  vaddr!: number;
  /** True when the device reaches a bounce slot, not the CPU's buffer (SWIOTLB). */
  bounced!: boolean;
  /** Owner of every line while `lines` is null (a map hands the whole buffer to the device). */
  ownerAll!: Owner;
  /** Per cache line of the bus range, from the line holding dmaAddr, once a sync split it. */
  lines!: Uint8Array | null;
  /** Kinds already reported since the last ownership change (bits of coherence-report KIND_BIT). */
  reported!: number;
  /** Simulated time of the unmap or free, in ns; -1 while live. */
  unmappedAt!: number;
  private call!: MapCall;
  private arg!: number;
  private seg!: number;
  /** Simulated time of the call, in ns. */
  private at!: number;
  /** " (caller)" or ''. */
  private caller!: string;
  private va!: VaFormat;
  private text!: string | null;
  /** The range of a one-range buffer, and the list holding it (reused with the record). */
  private readonly one = { phys: 0, len: 0, dmaOff: 0 };
  private readonly oneList: readonly CpuRange[] = [this.one];

  constructor(i: TrackedInit) {
    this.fill(i);
  }

  /** Makes this the record of the buffer `i` describes, owned by the device. */
  fill(i: TrackedInit): this {
    this.dev = i.dev;
    this.type = i.type;
    this.dir = i.dir;
    this.dmaAddr = i.dmaAddr;
    this.size = i.size;
    if (i.cpu === null) {
      this.one.phys = i.phys;
      this.one.len = i.size;
      this.cpu = this.oneList;
    } else this.cpu = i.cpu;
    const first = this.cpu[0];
    this.vaddr = i.vaddr;
    this.bounced =
      i.slot >= 0 && this.cpu.length === 1 && first !== undefined && i.slot !== first.phys;
    this.ownerAll = Owner.DEVICE;
    this.lines = null;
    this.reported = 0;
    this.unmappedAt = -1;
    this.call = i.call;
    this.arg = i.arg;
    this.seg = i.seg;
    this.at = i.at;
    this.caller = i.caller;
    this.va = i.va;
    this.text = null;
    return this;
  }

  /** The call that made it, e.g. "dma_map_single(0000:00:01.0, ffff..., 64, DMA_TO_DEVICE) at t=5ns". */
  get origin(): string {
    this.text ??= `${this.callText()} at t=${this.at}ns${this.caller}`;
    return this.text;
  }

  private callText(): string {
    const dev = this.dev.name;
    switch (this.call) {
      case MapCall.SINGLE:
        return `dma_map_single(${dev}, ${this.va.format(this.arg)}, ${this.size}, ${dirName(this.dir)})`;
      case MapCall.PAGE:
        return `dma_map_page(${dev}, phys ${hex(this.arg)}, ${this.size}, ${dirName(this.dir)})`;
      case MapCall.RESOURCE:
        return `dma_map_resource(${dev}, ${hex(this.arg)}, ${this.size}, ${dirName(this.dir)})`;
      case MapCall.SG:
        return `dma_map_sg(${dev}, sgl, ${this.arg}, ${dirName(this.dir)}) segment ${this.seg}`;
      case MapCall.COHERENT:
        return `dma_alloc_coherent(${dev}, ${this.size}, ${hex(this.dmaAddr)}) = ${this.va.format(this.vaddr)}`;
    }
  }
}

/** How many unmapped buffers are remembered for reports. */
const GONE_MAX = 64;
/** Bytes of physical memory per entry of the CPU-side index. */
const CHUNK_BYTES = 4096;
/** 1 / CHUNK_BYTES: multiplying by a power of two's inverse is exact, and cheaper than dividing. */
const PER_CHUNK = 1 / CHUNK_BYTES;

export class OwnerTable {
  /** Live buffers by device name, in map order (lists stay when they empty). */
  private readonly byDev = new Map<string, SeqList<Tracked>>();
  /** Live buffers with bytes in a chunk of CHUNK_BYTES, by chunk number, in map order. */
  private readonly byChunk = new Map<number, SeqList<Tracked>>();
  /** Chunks whose list emptied stay (see EmptiedKeys). */
  private readonly emptyChunks = new EmptiedKeys(this.byChunk, (l) => l.n === 0);
  /** The last device and chunk looked up, and their lists (most runs use one of each). */
  private lastDev = '';
  private lastDevList: SeqList<Tracked> | undefined = undefined;
  private lastChunk = -1;
  private lastChunkList: SeqList<Tracked> | undefined = undefined;
  /** Bounce slots' cache lines of bounced mappings (the CPU touches them only to bounce). */
  private readonly slots = new Map<number, Tracked>();
  /** Records that left `gone`, for fresh(). */
  private readonly free = new SeqList<Tracked>();
  /** The last GONE_MAX unmapped buffers, a ring; goneNext is where the next one goes. */
  private readonly gone: (Tracked | undefined)[] = new Array<Tracked | undefined>(GONE_MAX);
  private goneNext = 0;
  /** What onLine() returns (valid until the next call). */
  private readonly scratch: Tracked[] = [];
  /** 1 / lineSize and lineSize / CHUNK_BYTES (powers of two: exact, see PER_CHUNK). */
  private readonly perLine: number;
  private readonly lineToChunk: number;

  constructor(lineSize: number) {
    this.perLine = 1 / lineSize;
    this.lineToChunk = lineSize * PER_CHUNK;
  }

  /** Lines of the owner array a mapping of `size` bytes at bus `dmaAddr` needs. */
  nLines(dmaAddr: number, size: number): number {
    return Math.max(1, this.lineOf(dmaAddr + size - 1) - this.lineOf(dmaAddr) + 1);
  }

  /**
   * A record for the buffer `i` describes, reused if one left the memory of unmapped buffers;
   * callers drop their own references to unmapped buffers before they can be reused.
   */
  fresh(i: TrackedInit): Tracked {
    return this.free.pop()?.fill(i) ?? new Tracked(i);
  }

  add(t: Tracked, slotPhys: number): void {
    const list = this.devList(t.dev.name);
    if (list === undefined) this.byDev.set(t.dev.name, listOf(t));
    else list.push(t);
    for (const r of t.cpu) {
      const last = lastChunk(r.phys, r.len);
      for (let c = Math.floor(r.phys * PER_CHUNK); c <= last; c++) this.push(c, t);
    }
    if (t.bounced) {
      const last = this.lastLine(slotPhys, t.size);
      for (let l = this.lineOf(slotPhys); l <= last; l++) this.slots.set(l, t);
    }
  }

  remove(t: Tracked, now: number, slotPhys: number): void {
    const list = this.devList(t.dev.name);
    if (list !== undefined) list.remove(t);
    for (const r of t.cpu) {
      const last = lastChunk(r.phys, r.len);
      for (let c = Math.floor(r.phys * PER_CHUNK); c <= last; c++) this.pull(c, t);
    }
    if (t.bounced) {
      const last = this.lastLine(slotPhys, t.size);
      for (let l = this.lineOf(slotPhys); l <= last; l++) this.slots.delete(l);
    }
    t.unmappedAt = now;
    const old = this.gone[this.goneNext];
    if (old !== undefined && this.free.n < GONE_MAX) this.free.push(old);
    this.gone[this.goneNext] = t;
    this.goneNext = (this.goneNext + 1) % GONE_MAX;
  }

  /** The live buffer of device `devName` that holds bus address `bus`, or undefined. */
  atBus(devName: string, bus: number): Tracked | undefined {
    const list = this.devList(devName);
    if (list === undefined) return undefined;
    for (let i = list.n - 1; i >= 0; i--) {
      const t = list.at(i);
      if (bus >= t.dmaAddr && bus < t.dmaAddr + t.size) return t;
    }
    return undefined;
  }

  /** The live buffer of `dev` that starts at bus address `dmaAddr` with type `type`. */
  exact(devName: string, dmaAddr: number, type: TrackedType): Tracked | undefined {
    const list = this.devList(devName);
    if (list === undefined) return undefined;
    for (let i = 0; i < list.n; i++) {
      const t = list.at(i);
      if (t.dmaAddr === dmaAddr && t.type === type) return t;
    }
    return undefined;
  }

  /** The most recently unmapped buffer of `devName` that held `bus`, if remembered. */
  goneAt(devName: string, bus: number): Tracked | undefined {
    for (let k = 1; k <= GONE_MAX; k++) {
      const t = this.gone[(this.goneNext - k + GONE_MAX) % GONE_MAX];
      if (t === undefined) return undefined;
      if (t.dev.name === devName && bus >= t.dmaAddr && bus < t.dmaAddr + t.size) return t;
    }
    return undefined;
  }

  /**
   * Live buffers with bytes in the CPU cache line `line`, in map order, or undefined when none.
   * The array is reused: it is valid until the next call.
   */
  onLine(line: number): readonly Tracked[] | undefined {
    const list = this.chunkList(this.chunkOf(line));
    if (list === undefined) return undefined;
    const out = this.scratch;
    out.length = 0;
    for (let i = 0; i < list.n; i++) if (this.covers(list.at(i), line)) out.push(list.at(i));
    return out.length > 0 ? out : undefined;
  }

  /** The bounced mapping whose slot holds cache line `line`, if any. */
  slotOn(line: number): Tracked | undefined {
    return this.slots.get(line);
  }

  /** Whether any live buffer has bytes in CPU cache line `line`. */
  tracksLine(line: number): boolean {
    const list = this.chunkList(this.chunkOf(line));
    if (list === undefined) return false;
    for (let i = 0; i < list.n; i++) if (this.covers(list.at(i), line)) return true;
    return false;
  }

  /** Sets the owner of the lines of `t` that [dmaAddr, dmaAddr + size) touches. */
  setOwner(t: Tracked, dmaAddr: number, size: number, owner: Owner): void {
    const first = this.lineOf(t.dmaAddr);
    const n = this.nLines(t.dmaAddr, t.size);
    const a = Math.max(0, this.lineOf(dmaAddr) - first);
    const b = Math.min(n, this.lineOf(dmaAddr + Math.max(size, 1) - 1) - first + 1);
    t.reported = 0;
    if (a === 0 && b >= n) {
      t.lines = null;
      t.ownerAll = owner;
    } else if (a < b && (t.lines !== null || t.ownerAll !== owner)) {
      t.lines ??= new Uint8Array(n).fill(t.ownerAll);
      t.lines.fill(owner, a, b);
    }
  }

  /** Whether the device owns any line of [off, off + len) of `t` (offsets in the bus range). */
  deviceOwns(t: Tracked, off: number, len: number): boolean {
    return this.any(t, off, len, Owner.DEVICE);
  }

  /** Whether the CPU owns any line of [off, off + len) of `t`. */
  cpuOwns(t: Tracked, off: number, len: number): boolean {
    return this.any(t, off, len, Owner.CPU);
  }

  /** The last cache line of [phys, phys + len) (of its first byte when len is 0). */
  lastLine(phys: number, len: number): number {
    return Math.floor((phys + Math.max(len, 1) - 1) * this.perLine);
  }

  /** The cache line holding byte `addr` (physical or bus). */
  lineOf(addr: number): number {
    return Math.floor(addr * this.perLine);
  }

  private any(t: Tracked, off: number, len: number, owner: Owner): boolean {
    const first = this.lineOf(t.dmaAddr);
    const a = Math.max(0, this.lineOf(t.dmaAddr + off) - first);
    const b = Math.min(
      this.nLines(t.dmaAddr, t.size),
      this.lineOf(t.dmaAddr + off + Math.max(len, 1) - 1) - first + 1,
    );
    const lines = t.lines;
    if (lines === null) return a < b && t.ownerAll === owner;
    for (let i = a; i < b; i++) if (lines[i] === owner) return true;
    return false;
  }

  /** Whether a CPU range of `t` has bytes in `line`. */
  private covers(t: Tracked, line: number): boolean {
    for (const r of t.cpu)
      if (line >= this.lineOf(r.phys) && line <= this.lastLine(r.phys, r.len)) return true;
    return false;
  }

  /** byDev.get(name), through the one-entry cache. */
  private devList(name: string): SeqList<Tracked> | undefined {
    if (name === this.lastDev && this.lastDevList !== undefined) return this.lastDevList;
    const list = this.byDev.get(name);
    if (list !== undefined) {
      this.lastDev = name;
      this.lastDevList = list;
    }
    return list;
  }

  /** byChunk.get(c), through the one-entry cache. */
  private chunkList(c: number): SeqList<Tracked> | undefined {
    if (c === this.lastChunk) return this.lastChunkList;
    const list = this.byChunk.get(c);
    if (list !== undefined) {
      this.lastChunk = c;
      this.lastChunkList = list;
    }
    return list;
  }

  private chunkOf(line: number): number {
    return Math.floor(line * this.lineToChunk);
  }

  /** Lists `t` in chunk `c` once (a buffer's ranges are added together, so a repeat is last). */
  private push(c: number, t: Tracked): void {
    const list = this.chunkList(c);
    if (list === undefined) this.byChunk.set(c, listOf(t));
    else if (list.n === 0) {
      list.push(t);
      this.emptyChunks.refilled();
    } else if (list.at(list.n - 1) !== t) list.push(t);
  }

  private pull(c: number, t: Tracked): void {
    const list = this.chunkList(c);
    if (list === undefined || !list.remove(t) || list.n > 0) return;
    if (this.emptyChunks.emptied()) {
      this.lastChunk = -1;
      this.lastChunkList = undefined;
    }
  }
}

function listOf(t: Tracked): SeqList<Tracked> {
  const l = new SeqList<Tracked>();
  l.push(t);
  return l;
}

/** The last CHUNK_BYTES chunk that [phys, phys + len) touches (len 0 counts as 1). */
function lastChunk(phys: number, len: number): number {
  return Math.floor((phys + Math.max(len, 1) - 1) * PER_CHUNK);
}
