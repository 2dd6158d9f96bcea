/**
 * The 82540EM's 64-word Microwire EEPROM (SDM §5) and its two read paths: the EERD register
 * (SDM §13.4.4) and bit-banging EECD (SDM §13.4.3), which is how Linux e1000 reads it.
 */
import { EECD, EEPROM, EERD, PCI_ID } from './regs.js';

/** The image QEMU and the SDM describe: MAC in words 0-2, device id, and the 0xBABA sum. */
export function buildEeprom(mac: Uint8Array): Uint16Array {
  const w = new Uint16Array(EEPROM.WORDS);
  for (let i = 0; i < EEPROM.MAC_WORDS; i++) {
    w[i] = (mac[2 * i] ?? 0) | ((mac[2 * i + 1] ?? 0) << 8);
  }
  w[0x0b] = PCI_ID.DEVICE;
  w[EEPROM.DEVICE_ID_WORD] = PCI_ID.DEVICE;
  let sum = 0;
  for (let i = 0; i < EEPROM.CHECKSUM_WORD; i++) sum += w[i] ?? 0;
  w[EEPROM.CHECKSUM_WORD] = (EEPROM.SUM - sum) & 0xffff;
  return w;
}

/** Start bit + 2-bit opcode + 6 address bits are clocked in before data comes out. */
const COMMAND_BITS = 9;
const ADDR_BITS = 6;

export class Eeprom {
  /** EECD bits software drives (SK, CS, DI, FWE, REQ). */
  private eecd = 0;
  /** Rising SK edges since CS went high, and the bits clocked in. */
  private edges = 0;
  private shiftIn = 0;
  private word = -1;

  constructor(readonly words: Uint16Array) {}

  /** EERD write: with START, the read completes at once (MODEL: no EEPROM access time). */
  eerdWrite(v: number): number {
    if ((v & EERD.START) === 0) return v & ~EERD.DONE;
    const addr = (v & EERD.ADDR_MASK) >>> EERD.ADDR_SHIFT;
    const data = this.words[addr] ?? 0;
    return ((data << EERD.DATA_SHIFT) | (v & EERD.ADDR_MASK) | EERD.DONE) >>> 0;
  }

  /** EECD read: PRES always, GNT while software requests, DO while a word is shifted out. */
  eecdRead(): number {
    let v = this.eecd | EECD.PRES;
    if ((this.eecd & EECD.REQ) !== 0) v |= EECD.GNT;
    if (this.dataOut()) v |= EECD.DO;
    return v;
  }

  eecdWrite(v: number): void {
    const old = this.eecd;
    this.eecd = v & (EECD.SK | EECD.CS | EECD.DI | EECD.FWE_MASK | EECD.REQ);
    if ((this.eecd & EECD.CS) === 0) {
      this.edges = 0;
      this.shiftIn = 0;
      this.word = -1;
      return;
    }
    if ((old & EECD.SK) === 0 && (v & EECD.SK) !== 0) this.risingEdge();
  }

  reset(): void {
    this.eecdWrite(0);
  }

  private risingEdge(): void {
    this.edges++;
    if (this.edges <= COMMAND_BITS) {
      this.shiftIn = (this.shiftIn << 1) | ((this.eecd & EECD.DI) !== 0 ? 1 : 0);
      if (this.edges === COMMAND_BITS) this.decode();
    }
  }

  /** Only READ (110b + address) is modelled; writes and erases are ignored. */
  private decode(): void {
    const opcode = this.shiftIn >>> ADDR_BITS;
    const addr = this.shiftIn & ((1 << ADDR_BITS) - 1);
    this.word = opcode === EEPROM.READ_OPCODE ? (this.words[addr] ?? 0) : -1;
  }

  /** After the command, each rising edge presents the next data bit, MSB first. */
  private dataOut(): boolean {
    if (this.word < 0) return false;
    const bit = this.edges - COMMAND_BITS - 1;
    if (bit < 0 || bit > 15) return false;
    return ((this.word >>> (15 - bit)) & 1) !== 0;
  }
}
