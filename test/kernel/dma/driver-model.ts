/**
 * A model DMA driver for property tests: random legal sequences of streaming maps with ownership
 * round trips, scatter-gather maps and coherent allocations, each checked byte for byte from both
 * sides, with the device's turn through its bus-master port (after the CPU's wmb).
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { Device } from '../../../src/kernel/device/device.js';
import { DmaDataDirection } from '../../../src/kernel/dma/direction.js';
import type { DmaHandle } from '../../../src/kernel/dma/mapping.js';
import type { Kernel } from '../../../src/kernel/kernel.js';
import {
  Scatterlist,
  forEachSg,
  sgInitTable,
  sgSetBuf,
} from '../../../src/kernel/lib/scatterlist.js';
import { GFP_ATOMIC, GFP_KERNEL } from '../../../src/kernel/mm/gfp.js';
import type { DmaAddr, VirtAddr } from '../../../src/lib/addr.js';
import type { DmaPort } from '../../../src/machine/bus/dma-port.js';
import type { MachineConfig } from '../../../src/machine/machine.js';

const { TO_DEVICE, FROM_DEVICE, BIDIRECTIONAL } = {
  TO_DEVICE: DmaDataDirection.TO_DEVICE,
  FROM_DEVICE: DmaDataDirection.FROM_DEVICE,
  BIDIRECTIONAL: DmaDataDirection.BIDIRECTIONAL,
};

/** A machine, command line and device coherency to run the driver on. */
export interface Setup {
  readonly name: string;
  readonly machine: MachineConfig;
  readonly cmdline: string;
  readonly coherent?: boolean;
}

export type Op =
  | { kind: 'map'; size: number; dir: DmaDataDirection; seed: number }
  | { kind: 'cycle'; pick: number; seed: number }
  | { kind: 'unmap'; pick: number }
  | { kind: 'sg'; sizes: number[]; dir: DmaDataDirection; seed: number }
  | { kind: 'alloc'; size: number; atomic: boolean; seed: number }
  | { kind: 'free'; pick: number };

const dir = fc.constantFrom(TO_DEVICE, FROM_DEVICE, BIDIRECTIONAL);
const seed = fc.integer({ min: 0, max: 255 });
const pick = fc.nat();
/** Mostly small buffers (one kmalloc object), sometimes several pages. */
const bytes = (small: number, large: number): fc.Arbitrary<number> =>
  fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: small }), weight: 5 },
    { arbitrary: fc.integer({ min: 1, max: large }), weight: 1 },
  );
/** One step of the model driver. */
export const op: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('map' as const),
      size: bytes(600, 9000),
      dir,
      seed,
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ kind: fc.constant('cycle' as const), pick, seed }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('unmap' as const), pick }), weight: 3 },
  {
    arbitrary: fc.record({
      kind: fc.constant('sg' as const),
      sizes: fc.array(bytes(600, 6000), { minLength: 1, maxLength: 5 }),
      dir,
      seed,
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('alloc' as const),
      size: bytes(2000, 20000),
      atomic: fc.boolean(),
      seed,
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ kind: fc.constant('free' as const), pick }), weight: 1 },
);

/** Bytes that differ at every offset for two different seeds (0..255). */
export function pattern(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed * 31 + i * 7) & 0xff;
  return out;
}

export function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface Mapping {
  buf: VirtAddr;
  addr: DmaAddr;
  size: number;
  dir: DmaDataDirection;
  /** What the device last wrote (FROM_DEVICE / BIDIRECTIONAL), for the unmap check. */
  deviceBytes: Uint8Array | null;
}

export interface DriverOptions {
  /**
   * Streaming buffers are kmalloc'd at a power of two of at least a cache line and
   * dma_get_cache_alignment() (so naturally aligned: no two buffers share a cache line, which
   * dma-debug's cacheline tracking requires even on x86); only the requested size is mapped.
   */
  readonly cacheAligned?: boolean;
}

/** One kernel and device, the driver's live objects, and the checks of each step. */
export class Driver {
  readonly maps: Mapping[] = [];
  readonly coherent: { vaddr: VirtAddr; dma: DmaAddr; size: number }[] = [];
  ops = 0;

  constructor(
    readonly k: Kernel,
    readonly dev: Device,
    readonly port: DmaPort,
    private readonly opts: DriverOptions = {},
  ) {}

  run(o: Op): void {
    this.ops++;
    if (o.kind === 'map') this.map(o.size, o.dir, o.seed);
    else if (o.kind === 'cycle') this.cycle(o.pick, o.seed);
    else if (o.kind === 'unmap') this.unmap(o.pick);
    else if (o.kind === 'sg') this.sg(o.sizes, o.dir, o.seed);
    else if (o.kind === 'alloc') this.alloc(o.size, o.atomic, o.seed);
    else this.free(o.pick);
  }

  /** map, then the device does its part: reads the CPU's bytes, writes its own. */
  private map(size: number, d: DmaDataDirection, s: number): void {
    const { k, dev } = this;
    const buf = this.allocBuffer(size);
    k.vm.write(buf, pattern(s, size), 0, size);
    const addr = k.dma.dmaMapSingle(dev, buf, size, d);
    expect(k.dma.dmaMappingError(dev, addr)).toBe(false);
    const m: Mapping = { buf, addr, size, dir: d, deviceBytes: null };
    this.deviceTurn(m, pattern(s, size), s ^ 0x5a);
    this.maps.push(m);
  }

  /** A streaming buffer of at least `size` bytes (see DriverOptions.cacheAligned). */
  allocBuffer(size: number): VirtAddr {
    const align = Math.max(this.k.dma.dmaGetCacheAlignment(), this.k.machine.profile.lineSize);
    const n =
      this.opts.cacheAligned === true ? 2 ** Math.ceil(Math.log2(Math.max(size, align))) : size;
    return this.k.kmalloc.kmalloc(n, GFP_KERNEL)!;
  }

  /** The device's turn: check what it reads, write what it may (the doorbell's wmb first). */
  private deviceTurn(m: Mapping, cpuBytes: Uint8Array, s: number): void {
    this.k.machine.cpu.wmb();
    if (m.dir !== FROM_DEVICE) {
      const seen = new Uint8Array(m.size);
      this.port.read(m.addr, seen, 0, m.size);
      expect(eq(seen, cpuBytes)).toBe(true);
    }
    if (m.dir !== TO_DEVICE) {
      m.deviceBytes = pattern(s, m.size);
      this.port.write(m.addr, m.deviceBytes, 0, m.size);
    }
  }

  /** sync_for_cpu, check the device's bytes, the CPU writes anew, sync_for_device, device turn. */
  private cycle(p: number, s: number): void {
    const m = this.maps[p % Math.max(this.maps.length, 1)];
    if (m === undefined) return;
    const { k, dev } = this;
    k.dma.dmaSyncSingleForCpu(dev, m.addr, m.size, m.dir);
    this.checkCpuSees(m);
    const fresh = pattern(s, m.size);
    if (m.dir !== FROM_DEVICE) k.vm.write(m.buf, fresh, 0, m.size);
    k.dma.dmaSyncSingleForDevice(dev, m.addr, m.size, m.dir);
    this.deviceTurn(m, fresh, s ^ 0xa5);
  }

  private checkCpuSees(m: Mapping): void {
    if (m.deviceBytes === null) return;
    const back = new Uint8Array(m.size);
    this.k.vm.read(m.buf, back, 0, m.size);
    expect(eq(back, m.deviceBytes)).toBe(true);
  }

  private unmap(p: number): void {
    const i = p % Math.max(this.maps.length, 1);
    const m = this.maps[i];
    if (m === undefined) return;
    this.maps.splice(i, 1);
    this.k.dma.dmaUnmapSingle(this.dev, m.addr, m.size, m.dir);
    this.checkCpuSees(m);
    this.k.kmalloc.kfree(m.buf);
  }

  /** map_sg of kmalloc'd entries: the segments carry the entries' bytes back to back. */
  private sg(sizes: number[], d: DmaDataDirection, s: number): void {
    const { k, dev } = this;
    const sgl = sizes.map(() => new Scatterlist());
    sgInitTable(sgl, sizes.length);
    const bufs = sizes.map((n, i) => {
      const b = this.allocBuffer(n);
      k.vm.write(b, pattern(s + i, n), 0, n);
      sgSetBuf(k, sgl[i]!, b, n);
      return b;
    });
    const all = concat(sizes.map((n, i) => pattern(s + i, n)));
    const ents = k.dma.dmaMapSg(dev, sgl[0]!, sizes.length, d);
    expect(ents).toBeGreaterThan(0);
    k.machine.cpu.wmb();
    const segs = [...forEachSg(sgl[0]!, ents)];
    expect(segs.reduce((n, sg) => n + sg.dmaLength, 0)).toBe(all.length);
    if (d !== FROM_DEVICE) {
      const seen = concat(segs.map((sg) => this.devRead(sg.dmaAddress, sg.dmaLength)));
      expect(eq(seen, all)).toBe(true);
    }
    let at = 0;
    const wrote = all.map((b) => b ^ 0xff);
    if (d !== TO_DEVICE) {
      for (const sg of segs) {
        this.port.write(sg.dmaAddress, wrote, at, sg.dmaLength);
        at += sg.dmaLength;
      }
    }
    k.dma.dmaUnmapSg(dev, sgl[0]!, sizes.length, d);
    at = 0;
    sizes.forEach((n, i) => {
      if (d !== TO_DEVICE) {
        const back = new Uint8Array(n);
        k.vm.read(bufs[i]!, back, 0, n);
        expect(eq(back, wrote.subarray(at, at + n))).toBe(true);
      }
      at += n;
      k.kmalloc.kfree(bufs[i]!);
    });
  }

  private devRead(addr: number, n: number): Uint8Array {
    const b = new Uint8Array(n);
    this.port.read(addr, b, 0, n);
    return b;
  }

  /** Coherent memory: both sides see each other's writes with only a barrier between. */
  private alloc(size: number, atomic: boolean, s: number): void {
    const { k, dev } = this;
    const h: DmaHandle = { dma: 0 as DmaAddr };
    const vaddr = k.dma.dmaAllocCoherent(dev, size, h, atomic ? GFP_ATOMIC : GFP_KERNEL);
    // A non-blocking allocation for a non-coherent device comes from the atomic pool, which the
    // kernel does not grow on the spot: with enough live allocations it runs dry and fails.
    if (vaddr === null && atomic && !dev.dmaCoherent) return;
    expect(vaddr).not.toBeNull();
    if (vaddr === null) return;
    const zero = new Uint8Array(size);
    k.vm.read(vaddr, zero, 0, size);
    expect(zero.every((b) => b === 0)).toBe(true);
    k.vm.write(vaddr, pattern(s, size), 0, size);
    k.machine.cpu.wmb();
    expect(eq(this.devRead(h.dma, size), pattern(s, size))).toBe(true);
    this.port.write(h.dma, pattern(s ^ 0x33, size), 0, size);
    const back = new Uint8Array(size);
    k.vm.read(vaddr, back, 0, size);
    expect(eq(back, pattern(s ^ 0x33, size))).toBe(true);
    this.coherent.push({ vaddr, dma: h.dma, size });
  }

  private free(p: number): void {
    const i = p % Math.max(this.coherent.length, 1);
    const c = this.coherent[i];
    if (c === undefined) return;
    this.coherent.splice(i, 1);
    this.k.dma.dmaFreeCoherent(this.dev, c.size, c.vaddr, c.dma);
  }

  /** The driver's remove(): everything still live goes back. */
  teardown(): void {
    while (this.maps.length > 0) this.unmap(0);
    while (this.coherent.length > 0) this.free(0);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
