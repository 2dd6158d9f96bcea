import { describe, expect, it } from 'vitest';
import {
  CTRL,
  EECD,
  EEPROM,
  EERD,
  ICR,
  IMS_ENABLE_MASK,
  MDIC,
  RAH,
  RAH_AV,
  RAL,
  RCTL,
  REG,
  STAT,
  STATUS,
  rxBufferSize,
} from '../../../src/devices/e1000/regs.js';
import { add64, inc } from '../../../src/devices/e1000/stats.js';
import { BAR0, MAC, rig } from './rig.js';

const at = (off: number): number => BAR0 + off;
/** The station address as the EEPROM stores it: three little-endian 16-bit words. */
const MAC_WORDS = [0, 1, 2].map((i) => MAC[2 * i]! | (MAC[2 * i + 1]! << 8));
const RAL0 = (MAC_WORDS[0]! | (MAC_WORDS[1]! << 16)) >>> 0;

describe('e1000 registers', () => {
  it('resets with the EEPROM MAC in RAL0/RAH0, link up, RX/TX disabled', () => {
    const t = rig();
    expect(t.r(RAL(0))).toBe(RAL0);
    expect(t.r(RAH(0))).toBe((MAC_WORDS[2]! | RAH_AV) >>> 0);
    expect(t.r(REG.STATUS) & STATUS.LU).toBe(STATUS.LU);
    expect(t.r(REG.STATUS) & STATUS.SPEED_MASK).toBe(STATUS.SPEED_1000);
    expect(t.r(REG.RCTL)).toBe(0);
    expect(t.r(REG.TCTL)).toBe(0);
    expect(t.r(REG.PBA) & 0xffff).toBe(48);
    t.nic.connectLink(null);
    expect(t.r(REG.STATUS) & STATUS.LU).toBe(0);
  });

  it('CTRL.RST restores defaults and self-clears', () => {
    const t = rig();
    t.w(REG.RCTL, RCTL.EN | RCTL.BAM);
    t.w(REG.IMS, ICR.TXDW);
    t.w(RAL(0), 0xdeadbeef);
    t.w(REG.CTRL, t.r(REG.CTRL) | CTRL.RST);
    expect(t.r(REG.RCTL)).toBe(0);
    expect(t.r(REG.IMS)).toBe(0);
    expect(t.r(RAL(0))).toBe(RAL0);
    expect(t.r(REG.CTRL) & CTRL.RST).toBe(0);
  });

  it('masks ring lengths and head/tail indexes', () => {
    const t = rig();
    t.w(REG.TDLEN, 0xffffffff);
    expect(t.r(REG.TDLEN)).toBe(0x000fff80);
    t.w(REG.RDT, 0x12345);
    expect(t.r(REG.RDT)).toBe(0x2345);
  });

  it('reads EEPROM words through EERD; words 0..0x3F sum to 0xBABA', () => {
    const t = rig();
    const words: number[] = [];
    for (let a = 0; a < EEPROM.WORDS; a++) {
      t.w(REG.EERD, EERD.START | (a << EERD.ADDR_SHIFT));
      const v = t.r(REG.EERD);
      expect(v & EERD.DONE).toBe(EERD.DONE);
      words.push(v >>> EERD.DATA_SHIFT);
    }
    expect(words.slice(0, 3)).toEqual(MAC_WORDS);
    expect(words.reduce((s, w) => s + w, 0) & 0xffff).toBe(0xbaba);
  });

  it('reads the EEPROM by bit-banging EECD the way Linux e1000 does (Microwire)', () => {
    const t = rig();
    let eecd: number = EECD.REQ;
    t.w(REG.EECD, eecd);
    expect(t.r(REG.EECD) & (EECD.GNT | EECD.PRES)).toBe(EECD.GNT | EECD.PRES);
    eecd |= EECD.CS;
    t.w(REG.EECD, eecd);
    const clock = (): void => {
      t.w(REG.EECD, eecd | EECD.SK);
    };
    const shiftOut = (v: number, bits: number): void => {
      for (let i = bits - 1; i >= 0; i--) {
        eecd = ((v >> i) & 1) !== 0 ? eecd | EECD.DI : eecd & ~EECD.DI;
        t.w(REG.EECD, eecd);
        clock();
        t.w(REG.EECD, eecd);
      }
    };
    shiftOut(EEPROM.READ_OPCODE, 3);
    shiftOut(2, 6);
    eecd &= ~EECD.DI;
    let word = 0;
    for (let i = 0; i < 16; i++) {
      clock();
      word = (word << 1) | ((t.r(REG.EECD) & EECD.DO) !== 0 ? 1 : 0);
      t.w(REG.EECD, eecd);
    }
    expect(word).toBe((MAC[5]! << 8) | MAC[4]!);
  });

  it('answers MDIC reads from the PHY at address 1 and flags other addresses', () => {
    const t = rig();
    t.w(REG.MDIC, MDIC.OP_READ | (1 << MDIC.PHY_SHIFT) | (2 << MDIC.REG_SHIFT));
    let v = t.r(REG.MDIC);
    expect(v & MDIC.READY).toBe(MDIC.READY);
    expect(v & MDIC.DATA_MASK).toBe(0x0141);
    t.w(REG.MDIC, MDIC.OP_READ | (1 << MDIC.PHY_SHIFT) | (1 << MDIC.REG_SHIFT));
    expect(t.r(REG.MDIC) & 0x4).toBe(0x4); // link status
    t.w(REG.MDIC, MDIC.OP_READ | (2 << MDIC.PHY_SHIFT));
    v = t.r(REG.MDIC);
    expect(v & MDIC.ERROR).toBe(MDIC.ERROR);
  });

  it('statistics are clear-on-read; 64-bit pairs clear when the high half is read', () => {
    const t = rig();
    inc(t.nic.regs, STAT.GPRC, 3);
    add64(t.nic.regs, STAT.GORCL, 2 ** 32 + 5);
    expect(t.r(STAT.GPRC)).toBe(3);
    expect(t.r(STAT.GPRC)).toBe(0);
    expect(t.r(STAT.GORCL)).toBe(5);
    expect(t.r(STAT.GORCL)).toBe(5);
    expect(t.r(STAT.GORCH)).toBe(1);
    expect(t.r(STAT.GORCL)).toBe(0);
    expect(t.r(STAT.GORCH)).toBe(0);
    inc(t.nic.regs, STAT.MPC, 2 ** 33);
    expect(t.r(STAT.MPC)).toBe(0xffffffff); // saturates
  });

  it('decodes the RX buffer size from BSIZE and BSEX', () => {
    expect(rxBufferSize(0)).toBe(2048);
    expect(rxBufferSize(RCTL.SZ_256)).toBe(256);
    expect(rxBufferSize(RCTL.BSEX | RCTL.SZ_16384)).toBe(16384);
    expect(rxBufferSize(RCTL.BSEX | RCTL.SZ_4096)).toBe(4096);
  });

  it('narrow accesses reach the containing 32-bit register', () => {
    const t = rig();
    t.m.cpu.writew(at(REG.RDTR), 0x1234);
    t.m.cpu.writeb(at(REG.RDTR + 2), 0x56);
    expect(t.r(REG.RDTR)).toBe(0x561234);
    expect(t.m.cpu.readb(at(REG.RDTR + 1))).toBe(0x12);
  });
});

describe('e1000 interrupts', () => {
  it('drives the line from ICR & IMS; ICR reads clear it', () => {
    const t = rig();
    t.r(REG.ICR); // the LSC from plugging the cable in
    t.w(REG.ICS, ICR.TXDW);
    expect(t.irq.asserted).toBe(false); // masked
    t.w(REG.IMS, IMS_ENABLE_MASK);
    expect(t.irq.asserted).toBe(true);
    expect(t.r(REG.IMS)).toBe(IMS_ENABLE_MASK);
    expect(t.r(REG.ICR)).toBe(ICR.TXDW);
    expect(t.irq.asserted).toBe(false);
    expect(t.r(REG.ICR)).toBe(0);
  });

  it('IMC masks, ICR writes clear only the written causes, ICS reads without clearing', () => {
    const t = rig();
    t.r(REG.ICR);
    t.w(REG.IMS, ICR.TXDW | ICR.RXT0);
    t.w(REG.ICS, ICR.TXDW | ICR.RXT0);
    t.w(REG.IMC, ICR.TXDW | ICR.RXT0);
    expect(t.irq.asserted).toBe(false);
    expect(t.r(REG.IMS)).toBe(0);
    t.w(REG.ICR, ICR.TXDW);
    expect(t.r(REG.ICS)).toBe(ICR.RXT0);
    expect(t.r(REG.ICS)).toBe(ICR.RXT0);
    t.w(REG.IMS, ICR.RXT0);
    expect(t.irq.asserted).toBe(true);
  });

  it('ITR keeps a minimum gap between assertions', () => {
    const t = rig();
    t.r(REG.ICR);
    t.w(REG.ITR, 1000); // 256 us
    t.w(REG.IMS, ICR.TXDW);
    const t0 = t.m.clock.now;
    t.w(REG.ICS, ICR.TXDW);
    expect(t.irq.asserted).toBe(true);
    t.r(REG.ICR);
    t.m.clock.advance(1000);
    t.w(REG.ICS, ICR.TXDW);
    expect(t.irq.asserted).toBe(false);
    t.m.clock.run(t0 + 256_000 - 1);
    expect(t.irq.asserted).toBe(false);
    t.m.clock.run(t0 + 256_000);
    expect(t.irq.asserted).toBe(true);
    expect(t.irq.raised).toBe(2);
  });

  it('plugging and unplugging the cable raises LSC', () => {
    const t = rig();
    expect(t.r(REG.ICR) & ICR.LSC).toBe(ICR.LSC);
    t.nic.connectLink(null);
    expect(t.r(REG.ICR) & ICR.LSC).toBe(ICR.LSC);
  });
});
