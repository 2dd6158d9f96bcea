/** Shared fixtures for machine tests: a machine, a device port on it, and cache-set arithmetic. */
import type { DmaPort } from '../../src/machine/bus/dma-port.js';
import { Machine } from '../../src/machine/machine.js';
import type { MachineConfig } from '../../src/machine/machine.js';
import type { ArchName } from '../../src/machine/profile.js';

export function machineWithDevice(
  arch: ArchName,
  dev: { coherent?: boolean; behindIommu?: boolean } = {},
  cfg: MachineConfig = {},
): { m: Machine; port: DmaPort; ram0: number } {
  const m = new Machine({ arch, ...cfg });
  const port = m.bus.attach({ name: '0000:00:02.0', ...dev });
  const ram0 = (m.physmap.ramBanks[0]?.base ?? 0) + 0x10_0000;
  return { m, port, ram0 };
}

/** Physical addresses of `n` further lines that fall in the same cache set as `phys`. */
export function sameSetLines(m: Machine, phys: number, n: number): number[] {
  const stride = m.cache.nSets * m.cache.lineSize;
  return Array.from({ length: n }, (_, i) => phys + (i + 1) * stride);
}

export function bytes(...v: number[]): Uint8Array {
  return Uint8Array.from(v);
}

export function deviceRead(port: DmaPort, bus: number, len: number): number[] {
  const b = new Uint8Array(len);
  port.read(bus, b, 0, len);
  return [...b];
}
