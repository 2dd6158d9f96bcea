import { describe, expect, it } from 'vitest';
import { writeContextDesc, writeTxDesc } from '../../../src/devices/e1000/descriptors.js';
import {
  ICR,
  REG,
  STAT,
  TCTL,
  TXD_CMD,
  TXD_DTYP_D,
  TXD_POPTS,
  TXD_STAT,
} from '../../../src/devices/e1000/regs.js';
import { TX_FETCH_NS } from '../../../src/devices/e1000/tx.js';
import type { Rig } from './rig.js';
import { pattern, peek, poke, rig, setupTxRing } from './rig.js';

const RING = 0x10000;
const BUFS = 0x20000;

function txDesc(t: Rig, i: number, addr: number, lower: number, upper = 0): void {
  const b = new Uint8Array(16);
  writeTxDesc(b, 0, { bufferAddr: addr === 0 ? 0 : t.port.physToBus(addr), lower, upper });
  poke(t, t.ram + RING + i * 16, b);
}

function start(t: Rig, count = 8): void {
  setupTxRing(t, t.port.physToBus(t.ram + RING), count);
  t.w(REG.TCTL, TCTL.EN | TCTL.PSP);
  t.w(REG.IMS, ICR.TXDW | ICR.TXQE);
  t.r(REG.ICR);
}

function status(t: Rig, i: number): number {
  return peek(t, t.ram + RING + i * 16 + 12, 1)[0]!;
}

/** An independent Internet checksum (RFC 1071), by 16-bit words. */
function csum(b: Uint8Array, off: number, len: number, init = 0): number {
  let s = init;
  for (let i = 0; i < len; i += 2) s += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

const be16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const be32 = (b: Uint8Array, o: number): number => be16(b, o) * 0x10000 + be16(b, o + 2);

describe('e1000 transmit, legacy descriptors', () => {
  it('sends a single-descriptor packet, writes DD back, advances TDH, raises TXDW', () => {
    const t = rig();
    start(t);
    const pkt = pattern(100);
    poke(t, t.ram + BUFS, pkt);
    txDesc(t, 0, t.ram + BUFS, 100 | TXD_CMD.EOP | TXD_CMD.IFCS | TXD_CMD.RS);
    t.w(REG.TDT, 1);
    expect(t.wire.frames).toHaveLength(0); // asynchronous: nothing inside the MMIO write
    t.m.clock.run();
    expect(t.wire.frames).toEqual([pkt]);
    expect(status(t, 0) & TXD_STAT.DD).toBe(TXD_STAT.DD);
    expect(t.r(REG.TDH)).toBe(1);
    expect(t.irq.asserted).toBe(true);
    expect(t.r(REG.ICR) & (ICR.TXDW | ICR.TXQE)).toBe(ICR.TXDW | ICR.TXQE);
    expect(t.r(STAT.GPTC)).toBe(1);
    expect(t.r(STAT.TPT)).toBe(1);
    expect(t.r(STAT.GOTCL)).toBe(104);
  });

  it('gathers several descriptors up to EOP; only RS descriptors get DD', () => {
    const t = rig();
    start(t);
    const parts = [pattern(40, 1), pattern(700, 2), pattern(13, 3)];
    let at = t.ram + BUFS;
    parts.forEach((p, i) => {
      poke(t, at, p);
      const last = i === parts.length - 1;
      txDesc(t, i, at, p.length | (last ? TXD_CMD.EOP | TXD_CMD.RS : 0));
      at += 0x1000;
    });
    t.w(REG.TDT, 3);
    t.m.clock.run();
    expect(t.wire.frames).toHaveLength(1);
    expect(t.wire.frames[0]).toEqual(Uint8Array.from([...parts[0]!, ...parts[1]!, ...parts[2]!]));
    expect([status(t, 0), status(t, 1), status(t, 2)]).toEqual([0, 0, TXD_STAT.DD]);
    expect(t.r(REG.TDH)).toBe(3);
  });

  it('pads short frames when TCTL.PSP is set', () => {
    const t = rig();
    start(t);
    poke(t, t.ram + BUFS, pattern(42));
    txDesc(t, 0, t.ram + BUFS, 42 | TXD_CMD.EOP | TXD_CMD.RS);
    t.w(REG.TDT, 1);
    t.m.clock.run();
    expect(t.wire.frames[0]).toHaveLength(60);
    expect(t.wire.frames[0]!.subarray(42)).toEqual(new Uint8Array(18));
  });

  it('does nothing while TCTL.EN is clear, and sends once it is set', () => {
    const t = rig();
    start(t);
    t.w(REG.TCTL, 0);
    poke(t, t.ram + BUFS, pattern(64));
    txDesc(t, 0, t.ram + BUFS, 64 | TXD_CMD.EOP | TXD_CMD.RS);
    t.w(REG.TDT, 1);
    t.m.clock.run();
    expect(t.wire.frames).toHaveLength(0);
    t.w(REG.TCTL, TCTL.EN);
    t.m.clock.run();
    expect(t.wire.frames).toHaveLength(1);
  });

  it('completes a 1514-byte frame no earlier than its serialisation time', () => {
    const t = rig();
    start(t);
    poke(t, t.ram + BUFS, pattern(1514));
    txDesc(t, 0, t.ram + BUFS, 1514 | TXD_CMD.EOP | TXD_CMD.RS);
    const t0 = t.m.clock.now;
    t.w(REG.TDT, 1);
    const wireTime = (1514 + 12) * 8; // 1 Gb/s, preamble + FCS
    t.m.clock.run(t0 + TX_FETCH_NS + wireTime - 1);
    expect(t.wire.frames).toHaveLength(1);
    expect(status(t, 0)).toBe(0);
    expect(t.irq.asserted).toBe(false);
    t.m.clock.run();
    expect(t.m.clock.now).toBeGreaterThanOrEqual(t0 + wireTime);
    expect(t.m.clock.now).toBe(t.wire.doneAt[0]);
    expect(status(t, 0)).toBe(TXD_STAT.DD);
  });

  it('takes PCI bus time for the descriptor fetch before the frame leaves, and for the write-back', () => {
    const t = rig();
    start(t);
    poke(t, t.ram + BUFS, pattern(60));
    txDesc(t, 0, t.ram + BUFS, 60 | TXD_CMD.EOP | TXD_CMD.RS);
    const t0 = t.m.clock.now;
    t.w(REG.TDT, 1);
    t.m.clock.run();
    // 33 MHz, 32 bits: a 16-byte read is 8 clocks of set-up and 4 of data (30 ns each).
    const fetch = (8 + 4) * 30;
    expect(t.wire.startAt[0]).toBe(t0 + TX_FETCH_NS + fetch);
    // The DD write-back (the 4-byte upper dword, posted: 2 clocks of set-up, 1 of data) starts
    // when the last bit has left and holds the bus after it.
    expect(status(t, 0)).toBe(TXD_STAT.DD);
    expect(t.m.clock.now).toBe(t.wire.doneAt[0]);
    expect(t.nic.bus.idleAt).toBe(t.wire.doneAt[0]! + (2 + 1) * 30);
  });

  it('inserts a legacy checksum (IC) over CSS..end at CSO', () => {
    const t = rig();
    start(t);
    const pkt = pattern(80);
    pkt[40] = 0;
    pkt[41] = 0;
    poke(t, t.ram + BUFS, pkt);
    txDesc(t, 0, t.ram + BUFS, 80 | (40 << 16) | TXD_CMD.EOP | TXD_CMD.IC | TXD_CMD.RS, 20 << 8);
    t.w(REG.TDT, 1);
    t.m.clock.run();
    const f = t.wire.frames[0]!;
    expect(be16(f, 40)).toBe(csum(pkt, 20, 60));
    expect(csum(f, 20, 60)).toBe(0);
  });

  it('delays TXDW by TIDV for IDE descriptors', () => {
    const t = rig();
    start(t);
    t.w(REG.TIDV, 100);
    t.w(REG.IMS, ICR.TXDW);
    t.w(REG.IMC, ICR.TXQE);
    poke(t, t.ram + BUFS, pattern(60));
    txDesc(t, 0, t.ram + BUFS, 60 | TXD_CMD.EOP | TXD_CMD.RS | TXD_CMD.IDE);
    t.w(REG.TDT, 1);
    while (status(t, 0) === 0 && t.m.clock.step());
    const done = t.m.clock.now;
    expect(t.irq.asserted).toBe(false);
    t.m.clock.run(done + 100 * 1024 - 1);
    expect(t.irq.asserted).toBe(false);
    t.m.clock.run(done + 100 * 1024);
    expect(t.irq.asserted).toBe(true);
  });
});

/** Ethernet + IPv4 + TCP headers, with the fields as the Linux driver leaves them for offload. */
function tcpPacket(payload: Uint8Array, forTso: boolean): Uint8Array {
  const p = new Uint8Array(54 + payload.length);
  p.set([0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x00]);
  const ip = 14;
  p[ip] = 0x45;
  const total = forTso ? 0 : 40 + payload.length;
  p.set([total >> 8, total & 0xff, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0], ip + 2);
  p.set([10, 0, 0, 1, 10, 0, 0, 2], ip + 12);
  const tcp = 34;
  p.set([0x30, 0x39, 0x00, 0x50, 0xfe, 0xdc, 0xba, 0x98, 0, 0, 0, 0, 0x50, 0x19, 0xff, 0xff], tcp);
  p.set(payload, 54);
  // Pseudo-header sum without the length (TSO) or with it (checksum offload), not complemented.
  let s = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + (forTso ? 0 : 20 + payload.length);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  p[tcp + 16] = s >> 8;
  p[tcp + 17] = s & 0xff;
  return p;
}

function tcpValid(f: Uint8Array): boolean {
  const l4 = f.length - 34;
  const pseudo = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + l4;
  return csum(f, 34, l4, pseudo) === 0;
}

describe('e1000 transmit, context and data descriptors', () => {
  it('inserts IP and TCP checksums from a checksum context', () => {
    const t = rig();
    start(t);
    const pkt = tcpPacket(pattern(300), false);
    poke(t, t.ram + BUFS, pkt);
    const ctx = new Uint8Array(16);
    writeContextDesc(ctx, 0, {
      ipcss: 14,
      ipcso: 24,
      ipcse: 33,
      tucss: 34,
      tucso: 50,
      tucse: 0,
      cmdAndLength: TXD_CMD.DEXT | TXD_CMD.IP | TXD_CMD.TCP,
      status: 0,
      hdrLen: 0,
      mss: 0,
    });
    poke(t, t.ram + RING, ctx);
    const dcmd = TXD_CMD.DEXT | TXD_DTYP_D | TXD_CMD.EOP | TXD_CMD.RS;
    txDesc(t, 1, t.ram + BUFS, pkt.length | dcmd, (TXD_POPTS.IXSM | TXD_POPTS.TXSM) << 8);
    t.w(REG.TDT, 2);
    t.m.clock.run();
    const f = t.wire.frames[0]!;
    expect(csum(f, 14, 20)).toBe(0);
    expect(tcpValid(f)).toBe(true);
    expect(f.subarray(54)).toEqual(pkt.subarray(54));
    expect(status(t, 1)).toBe(TXD_STAT.DD);
  });

  it('segments a TSO packet into MSS frames with per-frame IP length, id, seq, flags, checksums', () => {
    const t = rig();
    start(t, 16);
    const payload = pattern(4000, 9);
    const pkt = tcpPacket(payload, true);
    const mss = 1448;
    // Header in one descriptor, payload in two more, as a driver mapping skb fragments would.
    poke(t, t.ram + BUFS, pkt.subarray(0, 54));
    poke(t, t.ram + BUFS + 0x1000, pkt.subarray(54, 2054));
    poke(t, t.ram + BUFS + 0x2000, pkt.subarray(2054));
    const ctx = new Uint8Array(16);
    writeContextDesc(ctx, 0, {
      ipcss: 14,
      ipcso: 24,
      ipcse: 33,
      tucss: 34,
      tucso: 50,
      tucse: 0,
      cmdAndLength: TXD_CMD.DEXT | TXD_CMD.TSE | TXD_CMD.IP | TXD_CMD.TCP | 4000,
      status: 0,
      hdrLen: 54,
      mss,
    });
    poke(t, t.ram + RING, ctx);
    const dcmd = TXD_CMD.DEXT | TXD_DTYP_D | TXD_CMD.TSE | TXD_CMD.IFCS;
    const popts = (TXD_POPTS.IXSM | TXD_POPTS.TXSM) << 8;
    txDesc(t, 1, t.ram + BUFS, 54 | dcmd, popts);
    txDesc(t, 2, t.ram + BUFS + 0x1000, 2000 | dcmd);
    txDesc(t, 3, t.ram + BUFS + 0x2000, 2000 | dcmd | TXD_CMD.EOP | TXD_CMD.RS);
    t.w(REG.TDT, 4);
    t.m.clock.run();

    const frames = t.wire.frames;
    expect(frames.map((f) => f.length)).toEqual([54 + mss, 54 + mss, 54 + 4000 - 2 * mss]);
    frames.forEach((f, i) => {
      const last = i === frames.length - 1;
      expect(be16(f, 16)).toBe(f.length - 14); // IP total length
      expect(be16(f, 18)).toBe(0x1234 + i); // IP identification
      expect(csum(f, 14, 20)).toBe(0);
      expect(be32(f, 38)).toBe((0xfedcba98 + i * mss) % 2 ** 32); // sequence number
      expect(f[47]).toBe(last ? 0x19 : 0x10); // FIN|PSH only on the last frame
      expect(tcpValid(f)).toBe(true);
      expect(f.subarray(0, 14)).toEqual(pkt.subarray(0, 14));
    });
    const joined = Uint8Array.from(frames.flatMap((f) => [...f.subarray(54)]));
    expect(joined).toEqual(payload);
    expect(status(t, 3)).toBe(TXD_STAT.DD);
    expect(t.r(STAT.TSCTC)).toBe(1);
    expect(t.r(STAT.GPTC)).toBe(3);
  });
});
