import { describe, expect, it } from 'vitest';
import { readRxDesc, writeRxDesc } from '../../../src/devices/e1000/descriptors.js';
import {
  ICR,
  RCTL,
  REG,
  RXCSUM,
  RXD_ERR,
  RXD_STAT,
  STAT,
} from '../../../src/devices/e1000/regs.js';
import type { Rig } from './rig.js';
import { MAC, pattern, peek, poke, rig, setupRxRing } from './rig.js';

const RING = 0x30000;
const BUFS = 0x40000;

/** Bitwise CRC-32 (IEEE), independent of the device's table version. */
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

function frameTo(dst: Uint8Array, len: number, seed = 1): Uint8Array {
  const f = pattern(len, seed);
  f.set(dst, 0);
  f.set([0x02, 0, 0, 0, 0, 9, 0x08, 0x00], 6);
  return f;
}

function ring(t: Rig, count: number, rctl = 0): void {
  for (let i = 0; i < count; i++) {
    const b = new Uint8Array(16);
    writeRxDesc(b, 0, {
      bufferAddr: t.port.physToBus(t.ram + BUFS + i * 0x1000),
      length: 0,
      csum: 0,
      status: 0,
      errors: 0,
      special: 0,
    });
    poke(t, t.ram + RING + i * 16, b);
  }
  setupRxRing(t, t.port.physToBus(t.ram + RING), count);
  t.w(REG.RCTL, RCTL.EN | RCTL.BAM | rctl);
  t.w(REG.RDT, count - 1); // as Linux: one slot left empty
  t.w(REG.IMS, ICR.RXT0 | ICR.RXDMT0 | ICR.RXO);
  t.r(REG.ICR);
}

const desc = (t: Rig, i: number) => readRxDesc(peek(t, t.ram + RING + i * 16, 16), 0);

/** A frame arriving, stored once the bus is free (descriptor traffic takes bus time). */
function arrive(t: Rig, frame: Uint8Array): void {
  t.nic.receive(frame);
  t.m.clock.run(t.m.clock.now + 2000);
}

describe('e1000 receive', () => {
  it('stores a frame, its FCS and the descriptor status, advances RDH, raises RXT0', () => {
    const t = rig();
    ring(t, 8);
    const f = frameTo(MAC, 100);
    t.nic.receive(f);
    const d = desc(t, 0);
    expect(d.length).toBe(104);
    expect(d.status).toBe(RXD_STAT.DD | RXD_STAT.EOP | RXD_STAT.IXSM);
    expect(peek(t, t.ram + BUFS, 100)).toEqual(f);
    const fcs = new DataView(peek(t, t.ram + BUFS + 100, 4).buffer).getUint32(0, true);
    expect(fcs).toBe(crc32(f));
    expect(t.r(REG.RDH)).toBe(1);
    expect(t.irq.asserted).toBe(true);
    expect(t.r(REG.ICR) & ICR.RXT0).toBe(ICR.RXT0);
    expect(t.r(STAT.GPRC)).toBe(1);
    expect(t.r(STAT.GORCL)).toBe(104);
  });

  it('with SECRC the FCS is neither stored nor counted in the length', () => {
    const t = rig();
    ring(t, 8, RCTL.SECRC);
    t.nic.receive(frameTo(MAC, 100));
    expect(desc(t, 0).length).toBe(100);
  });

  it('spreads a frame larger than the buffer over several descriptors, EOP on the last', () => {
    const t = rig();
    ring(t, 8, RCTL.SZ_256);
    const f = frameTo(MAC, 600);
    t.nic.receive(f);
    const ds = [0, 1, 2].map((i) => desc(t, i));
    expect(ds.map((d) => d.length)).toEqual([256, 256, 92]);
    expect(ds.map((d) => d.status & (RXD_STAT.DD | RXD_STAT.EOP))).toEqual([
      RXD_STAT.DD,
      RXD_STAT.DD,
      RXD_STAT.DD | RXD_STAT.EOP,
    ]);
    const got = Uint8Array.from(
      [0, 1, 2].flatMap((i) => [...peek(t, t.ram + BUFS + i * 0x1000, 256)]),
    );
    expect(got.subarray(0, 600)).toEqual(f);
    expect(t.r(REG.RDH)).toBe(3);
  });

  it('splits the FCS across two buffers when the frame ends two bytes before a buffer does', () => {
    const t = rig();
    ring(t, 8, RCTL.SZ_256);
    const f = frameTo(MAC, 254);
    t.nic.receive(f);
    expect([0, 1].map((i) => desc(t, i).length)).toEqual([256, 2]);
    const got = Uint8Array.of(...peek(t, t.ram + BUFS, 256), ...peek(t, t.ram + BUFS + 0x1000, 2));
    expect(got.subarray(0, 254)).toEqual(f);
    const fcs = crc32(f);
    expect([...got.subarray(254)]).toEqual([
      fcs & 0xff,
      (fcs >>> 8) & 0xff,
      (fcs >>> 16) & 0xff,
      fcs >>> 24,
    ]);
  });

  it('filters by address: other unicast dropped, broadcast needs BAM, UPE accepts all', () => {
    const t = rig();
    ring(t, 8);
    arrive(t, frameTo(Uint8Array.of(0x02, 1, 2, 3, 4, 5), 80));
    expect(t.r(REG.RDH)).toBe(0);
    arrive(t, frameTo(new Uint8Array(6).fill(0xff), 80));
    expect(t.r(REG.RDH)).toBe(1);
    t.w(REG.RCTL, RCTL.EN | RCTL.UPE);
    arrive(t, frameTo(Uint8Array.of(0x02, 1, 2, 3, 4, 5), 80));
    expect(t.r(REG.RDH)).toBe(2);
    arrive(t, frameTo(new Uint8Array(6).fill(0xff), 80));
    expect(t.r(REG.RDH)).toBe(2);
  });

  it('holds frames while the ring is full (RNBC), drops on FIFO overflow (MPC, RXO)', () => {
    const t = rig();
    ring(t, 8);
    t.w(REG.RDT, 0); // nothing for the hardware
    t.nic.receive(frameTo(MAC, 1000, 1));
    expect(t.r(REG.RDH)).toBe(0);
    expect(t.r(STAT.RNBC)).toBe(1);
    expect(t.nic.rxQueued).toBe(1);
    for (let i = 0; i < 60; i++) t.nic.receive(frameTo(MAC, 1514, 2));
    const missed = t.r(STAT.MPC);
    expect(missed).toBeGreaterThan(0);
    expect(t.nic.rxQueued).toBe(61 - missed);
    expect(t.r(REG.ICR) & ICR.RXO).toBe(ICR.RXO);
    // New buffers: the held frames flow in, first the oldest.
    t.w(REG.RDT, 4);
    t.m.clock.run();
    expect(t.r(REG.RDH)).toBe(4);
    expect(desc(t, 0).length).toBe(1004);
    expect(peek(t, t.ram + BUFS, 1000)).toEqual(frameTo(MAC, 1000, 1));
  });

  it('raises RXDMT0 when the free descriptors fall to the RDMTS threshold', () => {
    const t = rig();
    ring(t, 8); // 7 free, threshold 8/2 = 4
    t.w(REG.IMC, ICR.RXT0);
    for (let i = 0; i < 2; i++) arrive(t, frameTo(MAC, 64));
    expect(t.r(REG.ICR) & ICR.RXDMT0).toBe(0);
    arrive(t, frameTo(MAC, 64));
    expect(t.r(REG.ICR) & ICR.RXDMT0).toBe(ICR.RXDMT0);
  });

  it('delays RXT0 by RDTR, capped by RADV', () => {
    const t = rig();
    ring(t, 8);
    t.w(REG.RDTR, 50);
    t.w(REG.RADV, 80);
    const t0 = t.m.clock.now;
    t.nic.receive(frameTo(MAC, 64));
    t.m.clock.run(t0 + 40 * 1024);
    t.nic.receive(frameTo(MAC, 64)); // restarts the packet timer to t0 + 90 us; RADV caps at 80
    t.m.clock.run(t0 + 80 * 1024 - 1);
    expect(t.irq.asserted).toBe(false);
    t.m.clock.run(t0 + 80 * 1024);
    expect(t.irq.asserted).toBe(true);
  });

  it('reports IP and TCP checksum status and errors with RXCSUM offload', () => {
    const t = rig();
    ring(t, 8);
    t.w(REG.RXCSUM, RXCSUM.IPOFL | RXCSUM.TUOFL);
    const f = new Uint8Array(74);
    f.set(MAC);
    f.set([0x02, 0, 0, 0, 0, 9, 0x08, 0x00], 6);
    f.set([0x45, 0, 0, 60, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1], 14);
    f.set([0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff], 34);
    f.set(pattern(20), 54);
    const sum = (b: Uint8Array, o: number, n: number, s0 = 0): number => {
      let s = s0;
      for (let i = 0; i < n; i += 2) s += (b[o + i]! << 8) | (b[o + i + 1] ?? 0);
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      return ~s & 0xffff;
    };
    const ipc = sum(f, 14, 20);
    f.set([ipc >> 8, ipc & 0xff], 24);
    const tc = sum(f, 34, 40, 0x0a00 + 2 + 0x0a00 + 1 + 6 + 40);
    f.set([tc >> 8, tc & 0xff], 50);
    arrive(t, f);
    let d = desc(t, 0);
    expect(d.status & (RXD_STAT.IPCS | RXD_STAT.TCPCS | RXD_STAT.IXSM)).toBe(
      RXD_STAT.IPCS | RXD_STAT.TCPCS,
    );
    expect(d.errors).toBe(0);
    f[60] = (f[60]! + 1) & 0xff; // corrupt the payload
    arrive(t, f);
    d = desc(t, 1);
    expect(d.errors).toBe(RXD_ERR.TCPE);
  });
});
