/**
 * The internal PHY behind MDIC (SDM §13.4.9): a Marvell 88E1011-compatible register set at PHY
 * address 1, enough for a driver to identify it and read the link state.
 * MODEL: MDI transactions complete instantly (READY at once); registers are plain storage apart
 * from the link bits, the self-clearing reset, and the read-only identifier.
 */
import { MDIC } from './regs.js';

export const PHY_ADDR = 1;
export const PHY_REG = {
  CTRL: 0,
  STATUS: 1,
  ID1: 2,
  ID2: 3,
  AUTONEG_ADV: 4,
  LP_ABILITY: 5,
  GIG_CTRL: 9,
  GIG_STATUS: 10,
  M88_SPEC_STATUS: 17,
} as const;
/** M88E1011_I_PHY_ID as the two ID registers. */
const PHY_ID1 = 0x0141;
const PHY_ID2 = 0x0c20;
const CTRL_RESET = 0x8000;
const STATUS_LINK = 0x0004;
const STATUS_AN_DONE = 0x0020;
/** M88 specific status: 1000 Mb/s, full duplex, resolved, link. */
const M88_1000_FD_LINK = 0xac00;

function defaults(): Uint16Array {
  const r = new Uint16Array(32);
  r[PHY_REG.CTRL] = 0x1140;
  r[PHY_REG.STATUS] = 0x7949;
  r[PHY_REG.ID1] = PHY_ID1;
  r[PHY_REG.ID2] = PHY_ID2;
  r[PHY_REG.AUTONEG_ADV] = 0x01e1;
  r[PHY_REG.LP_ABILITY] = 0x41e1;
  r[PHY_REG.GIG_CTRL] = 0x0300;
  r[PHY_REG.GIG_STATUS] = 0x3c00;
  return r;
}

export class Phy {
  private regs = defaults();
  private link = false;

  setLink(up: boolean): void {
    this.link = up;
  }

  reset(): void {
    this.regs = defaults();
  }

  /** Performs an MDIC command; returns the value MDIC reads back afterwards. */
  mdic(v: number): number {
    const reg = (v & MDIC.REG_MASK) >>> MDIC.REG_SHIFT;
    const phy = (v & MDIC.PHY_MASK) >>> MDIC.PHY_SHIFT;
    const done = (v & ~MDIC.ERROR) | MDIC.READY;
    if (phy !== PHY_ADDR) return (done | MDIC.ERROR) >>> 0;
    if ((v & MDIC.OP_READ) !== 0) {
      return ((done & ~MDIC.DATA_MASK) | this.read(reg)) >>> 0;
    }
    if ((v & MDIC.OP_WRITE) !== 0) this.write(reg, v & MDIC.DATA_MASK);
    return done >>> 0;
  }

  private read(reg: number): number {
    if (reg === PHY_REG.STATUS) {
      const base = (this.regs[reg] ?? 0) & ~(STATUS_LINK | STATUS_AN_DONE);
      return this.link ? base | STATUS_LINK | STATUS_AN_DONE : base;
    }
    if (reg === PHY_REG.M88_SPEC_STATUS) return this.link ? M88_1000_FD_LINK : 0;
    return this.regs[reg] ?? 0;
  }

  private write(reg: number, v: number): void {
    if (reg === PHY_REG.ID1 || reg === PHY_REG.ID2 || reg === PHY_REG.STATUS) return;
    // The reset bit self-clears (IEEE 802.3 clause 22).
    this.regs[reg] = reg === PHY_REG.CTRL ? v & ~CTRL_RESET : v;
  }
}
