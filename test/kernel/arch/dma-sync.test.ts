import { describe, expect, it } from 'vitest';
import { archDmaSync } from '../../../src/kernel/arch/dma-sync.js';
import { DmaDataDirection } from '../../../src/kernel/dma/direction.js';
import { Machine } from '../../../src/machine/machine.js';
import type { ArchName } from '../../../src/machine/profile.js';

const TO_DEVICE = DmaDataDirection.TO_DEVICE;
const FROM_DEVICE = DmaDataDirection.FROM_DEVICE;
const BIDIRECTIONAL = DmaDataDirection.BIDIRECTIONAL;

/** A machine with a non-coherent device and a line the CPU has dirtied. */
function dirtyLine(arch: ArchName): { m: Machine; read: () => number; buf: number } {
  const m = new Machine({ arch });
  const buf = (m.physmap.ramBanks[0]?.base ?? 0) + 0x20_0000;
  const port = m.bus.attach({ name: 'dev', coherent: false });
  m.cpu.writeU32(buf, 0xc0ffee);
  m.cpu.wmb();
  return { m, buf, read: () => port.readU32(port.physToBus(buf)) };
}

describe('arch_sync_dma_for_device', () => {
  it.each<[ArchName, DmaDataDirection, number]>([
    ['arm64', TO_DEVICE, 0xc0ffee],
    ['arm64', FROM_DEVICE, 0xc0ffee], // arm64 cleans in every direction
    ['arm64', BIDIRECTIONAL, 0xc0ffee],
    ['arm32', TO_DEVICE, 0xc0ffee],
    ['arm32', FROM_DEVICE, 0], // arm32 invalidates for FROM_DEVICE: the CPU's bytes are dropped
  ])('on %s for direction %i lets the device read %i', (arch, dir, seen) => {
    const { m, buf, read } = dirtyLine(arch);
    expect(read()).toBe(0); // before the sync the device sees stale RAM
    archDmaSync(arch, m).syncForDevice(buf, 4, dir);
    expect(read()).toBe(seen);
    expect(m.cache.state(buf).present).toBe(dir !== FROM_DEVICE || arch !== 'arm32');
  });

  it('is a no-op on coherent profiles', () => {
    const { m, buf } = dirtyLine('x86_64');
    archDmaSync('x86_64', m).syncForDevice(buf, 4, TO_DEVICE);
    expect(m.cache.state(buf)).toEqual({ present: true, dirty: true });
  });
});

describe('arch_sync_dma_for_cpu', () => {
  it.each<[ArchName, DmaDataDirection, boolean]>([
    ['arm64', FROM_DEVICE, true],
    ['arm64', BIDIRECTIONAL, true],
    ['arm64', TO_DEVICE, false],
    ['arm32', FROM_DEVICE, true],
    ['arm32', TO_DEVICE, false],
  ])('on %s for direction %i invalidates: %s', (arch, dir, invalidates) => {
    const m = new Machine({ arch });
    const buf = (m.physmap.ramBanks[0]?.base ?? 0) + 0x20_0000;
    const port = m.bus.attach({ name: 'dev', coherent: false });
    expect(m.cpu.readU32(buf)).toBe(0); // the CPU caches the line
    port.writeU32(port.physToBus(buf), 0xabcd); // the device writes RAM behind it
    archDmaSync(arch, m).syncForCpu(buf, 4, dir);
    expect(m.cpu.readU32(buf)).toBe(invalidates ? 0xabcd : 0);
  });
});

describe('arch_dma_prep_coherent', () => {
  it('writes back and drops the lines before an uncached alias is used', () => {
    const { m, buf, read } = dirtyLine('arm64');
    archDmaSync('arm64', m).prepCoherent(buf, 64);
    expect(read()).toBe(0xc0ffee);
    expect(m.cache.state(buf).present).toBe(false);
  });
});
