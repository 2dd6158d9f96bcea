/** The device's DMA goes through its port: IOMMU faults and cache (in)coherence apply. */
import { describe, expect, it } from 'vitest';
import { writeRxDesc, writeTxDesc } from '../../../src/devices/e1000/descriptors.js';
import { RCTL, REG, TCTL, TXD_CMD } from '../../../src/devices/e1000/regs.js';
import { DmaStatus } from '../../../src/machine/events.js';
import { MAC, cpuStore, pattern, peek, poke, rig, setupRxRing, setupTxRing } from './rig.js';

describe('e1000 DMA path', () => {
  it('behind an IOMMU with nothing mapped: TX descriptor fetch faults, nothing sent, no DD', () => {
    const t = rig({ iommu: true });
    const ring = t.ram;
    const d = new Uint8Array(16);
    writeTxDesc(d, 0, {
      bufferAddr: t.ram + 0x1000,
      lower: 60 | TXD_CMD.EOP | TXD_CMD.RS,
      upper: 0,
    });
    poke(t, ring, d);
    setupTxRing(t, ring, 8);
    t.w(REG.TCTL, TCTL.EN);
    t.w(REG.TDT, 1);
    t.m.clock.run();
    expect(t.wire.frames).toHaveLength(0);
    expect(peek(t, ring + 12, 1)[0]).toBe(0);
    expect(t.r(REG.TDH)).toBe(0);
    expect(t.nic.txStopped).toBe(true);
    expect(t.nic.faults[0]).toMatchObject({ engine: 'tx', status: DmaStatus.IOMMU_FAULT });
  });

  it('behind an IOMMU with nothing mapped: RX writes no byte and no status', () => {
    const t = rig({ iommu: true });
    const ring = t.ram;
    const buf = t.ram + 0x1000;
    const d = new Uint8Array(16);
    writeRxDesc(d, 0, { bufferAddr: buf, length: 0, csum: 0, status: 0, errors: 0, special: 0 });
    poke(t, ring, d);
    setupRxRing(t, ring, 8);
    t.w(REG.RCTL, RCTL.EN);
    t.w(REG.RDT, 7);
    const f = pattern(100);
    f.set(MAC);
    t.nic.receive(f);
    expect(peek(t, buf, 104)).toEqual(new Uint8Array(104));
    expect(peek(t, ring + 8, 8)).toEqual(new Uint8Array(8));
    expect(t.r(REG.RDH)).toBe(0);
    expect(t.nic.rxStopped).toBe(true);
    expect(t.nic.faults[0]).toMatchObject({ engine: 'rx', status: DmaStatus.IOMMU_FAULT });
  });

  it('a non-coherent device reads RAM, not the dirty descriptor in the CPU cache', () => {
    const t = rig({ arch: 'arm64' }, { coherent: false });
    const ring = t.ram;
    const oldBuf = t.ram + 0x1000;
    const newBuf = t.ram + 0x2000;
    poke(t, oldBuf, pattern(64, 1));
    poke(t, newBuf, pattern(64, 2));
    const bus = (p: number): number => t.port.physToBus(p);
    const d = new Uint8Array(16);
    writeTxDesc(d, 0, { bufferAddr: bus(oldBuf), lower: 64 | TXD_CMD.EOP, upper: 0 });
    poke(t, ring, d); // what RAM holds
    writeTxDesc(d, 0, { bufferAddr: bus(newBuf), lower: 64 | TXD_CMD.EOP, upper: 0 });
    cpuStore(t, ring, d); // what the CPU wrote, still dirty in its cache
    setupTxRing(t, bus(ring), 8);
    t.w(REG.TCTL, TCTL.EN);
    t.w(REG.TDT, 1);
    t.m.clock.run();
    expect(t.wire.frames).toEqual([pattern(64, 1)]);
    // After cleaning the line (dma_sync_*_for_device), the device sees the new descriptor.
    t.m.cpu.dcacheClean(ring, 16);
    writeTxDesc(d, 0, { bufferAddr: bus(newBuf), lower: 64 | TXD_CMD.EOP, upper: 0 });
    poke(t, ring + 16, d);
    t.w(REG.TDT, 2);
    t.m.clock.run();
    expect(t.wire.frames[1]).toEqual(pattern(64, 2));
  });

  it('a coherent device snoops the same dirty descriptor', () => {
    const t = rig({ arch: 'x86_64' });
    const ring = t.ram;
    poke(t, t.ram + 0x1000, pattern(64, 1));
    poke(t, t.ram + 0x2000, pattern(64, 2));
    const d = new Uint8Array(16);
    writeTxDesc(d, 0, { bufferAddr: t.ram + 0x1000, lower: 64 | TXD_CMD.EOP, upper: 0 });
    poke(t, ring, d);
    writeTxDesc(d, 0, { bufferAddr: t.ram + 0x2000, lower: 64 | TXD_CMD.EOP, upper: 0 });
    cpuStore(t, ring, d);
    setupTxRing(t, ring, 8);
    t.w(REG.TCTL, TCTL.EN);
    t.w(REG.TDT, 1);
    t.m.clock.run();
    expect(t.wire.frames).toEqual([pattern(64, 2)]);
  });
});
