/** A machine with an e1000 on BAR0, its DMA port, a fake wire, and ring helpers for tests. */
import { IrqLine } from '../../../src/machine/bus/irq.js';
import type { DmaPort } from '../../../src/machine/bus/dma-port.js';
import { Machine } from '../../../src/machine/machine.js';
import type { MachineConfig } from '../../../src/machine/machine.js';
import { MemAttr } from '../../../src/machine/memory/attr.js';
import type { NetAttachment } from '../../../src/devices/net/port.js';
import { E1000 } from '../../../src/devices/e1000/e1000.js';
import { PCI_ID, REG } from '../../../src/devices/e1000/regs.js';

export const BAR0 = 0xfebc_0000;
export const MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);

/** A wire at 1 Gb/s: 8 ns per byte plus preamble/SFD (8 bytes), FCS (4) and the gap (12). */
export class FakeWire implements NetAttachment {
  readonly frames: Uint8Array[] = [];
  readonly doneAt: number[] = [];
  /** When each frame's first bit left. */
  readonly startAt: number[] = [];
  private busyUntil = 0;
  constructor(private readonly m: Machine) {}
  transmit(frame: Uint8Array, notBefore = 0): number {
    this.frames.push(frame.slice());
    const start = Math.max(this.m.clock.now, this.busyUntil, notBefore);
    this.startAt.push(start);
    const end = start + (frame.length + 8 + 4) * 8;
    this.busyUntil = end + 12 * 8;
    this.doneAt.push(end);
    return end;
  }
}

export interface Rig {
  m: Machine;
  nic: E1000;
  port: DmaPort;
  irq: IrqLine;
  wire: FakeWire;
  ram: number;
  w(reg: number, v: number): void;
  r(reg: number): number;
}

export function rig(
  cfg: MachineConfig = {},
  dev: { coherent?: boolean; behindIommu?: boolean } = {},
): Rig {
  const m = new Machine(cfg);
  const irq = new IrqLine('e1000');
  const nic = new E1000({ clock: m.clock, irq, mac: MAC });
  const port = m.bus.attach({ name: '0000:00:02.0', ...dev });
  nic.attachPort(port);
  m.addMmio(BAR0, PCI_ID.BAR0_SIZE, 'e1000', nic.mmio);
  const wire = new FakeWire(m);
  nic.connectLink(wire);
  const ram = (m.physmap.ramBanks[0]?.base ?? 0) + 0x100_0000;
  return {
    m,
    nic,
    port,
    irq,
    wire,
    ram,
    w: (reg, v) => {
      m.cpu.writel(BAR0 + reg, v);
    },
    r: (reg) => m.cpu.readl(BAR0 + reg),
  };
}

/** Writes bytes straight to RAM (what a coherent ring or a cleaned buffer holds). */
export function poke(t: Rig, phys: number, b: Uint8Array): void {
  t.m.ram.write(phys, b, 0, b.length);
}

export function peek(t: Rig, phys: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  t.m.ram.read(phys, b, 0, len);
  return b;
}

/** Stores through the CPU cache (the line stays dirty). */
export function cpuStore(t: Rig, phys: number, b: Uint8Array): void {
  t.m.cpu.write(phys, b, 0, b.length, MemAttr.CACHEABLE);
}

export function setupTxRing(t: Rig, base: number, count: number): void {
  t.w(REG.TDBAL, base % 2 ** 32);
  t.w(REG.TDBAH, Math.floor(base / 2 ** 32));
  t.w(REG.TDLEN, count * 16);
  t.w(REG.TDH, 0);
  t.w(REG.TDT, 0);
}

export function setupRxRing(t: Rig, base: number, count: number): void {
  t.w(REG.RDBAL, base % 2 ** 32);
  t.w(REG.RDBAH, Math.floor(base / 2 ** 32));
  t.w(REG.RDLEN, count * 16);
  t.w(REG.RDH, 0);
  t.w(REG.RDT, 0);
}

export function pattern(len: number, seed = 1): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}
