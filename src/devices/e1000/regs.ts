/**
 * Intel 82540EM (8254x family) register offsets and bit fields, named as in the SDM and Linux's
 * e1000_hw.h without the E1000_ prefix. Offsets are byte offsets into BAR0 (SDM §13, Table 13-2).
 * Bit masks are 32-bit register values; descriptor masks are given at the position they take in
 * the descriptor dword the Linux driver builds (txd_lower / txd_upper), as e1000_hw.h does.
 */

/** PCI identity of the 82540EM (QEMU's `e1000`; e1000_hw.h E1000_DEV_ID_82540EM). */
export const PCI_ID = {
  VENDOR: 0x8086,
  DEVICE: 0x100e,
  REVISION: 3,
  /** Network controller, Ethernet. */
  CLASS: 0x020000,
  /** BAR0: 128 KiB memory window (MAC_DECODE_SIZE). */
  BAR0_SIZE: 0x20000,
} as const;

/** Register offsets (82543 and later layout; SDM §13.4). */
export const REG = {
  CTRL: 0x00000,
  STATUS: 0x00008,
  EECD: 0x00010,
  EERD: 0x00014,
  CTRL_EXT: 0x00018,
  MDIC: 0x00020,
  FCAL: 0x00028,
  FCAH: 0x0002c,
  FCT: 0x00030,
  VET: 0x00038,
  ICR: 0x000c0,
  ITR: 0x000c4,
  ICS: 0x000c8,
  IMS: 0x000d0,
  IMC: 0x000d8,
  RCTL: 0x00100,
  FCTTV: 0x00170,
  TXCW: 0x00178,
  RXCW: 0x00180,
  TCTL: 0x00400,
  TIPG: 0x00410,
  LEDCTL: 0x00e00,
  PBA: 0x01000,
  FCRTL: 0x02160,
  FCRTH: 0x02168,
  RDBAL: 0x02800,
  RDBAH: 0x02804,
  RDLEN: 0x02808,
  RDH: 0x02810,
  RDT: 0x02818,
  RDTR: 0x02820,
  RXDCTL: 0x02828,
  RADV: 0x0282c,
  RSRPD: 0x02c00,
  TDBAL: 0x03800,
  TDBAH: 0x03804,
  TDLEN: 0x03808,
  TDH: 0x03810,
  TDT: 0x03818,
  TIDV: 0x03820,
  TXDCTL: 0x03828,
  TADV: 0x0382c,
  TSPMT: 0x03830,
  RXCSUM: 0x05000,
  MTA: 0x05200,
  RA: 0x05400,
  VFTA: 0x05600,
  WUC: 0x05800,
  WUFC: 0x05808,
  MANC: 0x05820,
} as const;

/** MTA[n], n = 0..127: the 4096-bit multicast hash table. */
export const MTA = (n: number): number => REG.MTA + 4 * n;
/** RAL[n] / RAH[n], n = 0..15: receive address pairs. */
export const RAL = (n: number): number => REG.RA + 8 * n;
export const RAH = (n: number): number => REG.RA + 8 * n + 4;
/** VFTA[n], n = 0..127: the VLAN filter bitmap. */
export const VFTA = (n: number): number => REG.VFTA + 4 * n;
export const MTA_ENTRIES = 128;
export const RAR_ENTRIES = 16;
export const VFTA_ENTRIES = 128;

/** Statistics counters, clear-on-read (SDM §13.7). */
export const STAT = {
  CRCERRS: 0x04000,
  ALGNERRC: 0x04004,
  SYMERRS: 0x04008,
  RXERRC: 0x0400c,
  MPC: 0x04010,
  SCC: 0x04014,
  ECOL: 0x04018,
  MCC: 0x0401c,
  LATECOL: 0x04020,
  COLC: 0x04028,
  DC: 0x04030,
  TNCRS: 0x04034,
  SEC: 0x04038,
  CEXTERR: 0x0403c,
  RLEC: 0x04040,
  XONRXC: 0x04048,
  XONTXC: 0x0404c,
  XOFFRXC: 0x04050,
  XOFFTXC: 0x04054,
  FCRUC: 0x04058,
  PRC64: 0x0405c,
  PRC127: 0x04060,
  PRC255: 0x04064,
  PRC511: 0x04068,
  PRC1023: 0x0406c,
  PRC1522: 0x04070,
  GPRC: 0x04074,
  BPRC: 0x04078,
  MPRC: 0x0407c,
  GPTC: 0x04080,
  GORCL: 0x04088,
  GORCH: 0x0408c,
  GOTCL: 0x04090,
  GOTCH: 0x04094,
  RNBC: 0x040a0,
  RUC: 0x040a4,
  RFC: 0x040a8,
  ROC: 0x040ac,
  RJC: 0x040b0,
  MGTPRC: 0x040b4,
  MGTPDC: 0x040b8,
  MGTPTC: 0x040bc,
  TORL: 0x040c0,
  TORH: 0x040c4,
  TOTL: 0x040c8,
  TOTH: 0x040cc,
  TPR: 0x040d0,
  TPT: 0x040d4,
  PTC64: 0x040d8,
  PTC127: 0x040dc,
  PTC255: 0x040e0,
  PTC511: 0x040e4,
  PTC1023: 0x040e8,
  PTC1522: 0x040ec,
  MPTC: 0x040f0,
  BPTC: 0x040f4,
  TSCTC: 0x040f8,
  TSCTFC: 0x040fc,
} as const;
/** The statistics block: every register in [STATS_BASE, STATS_END) is clear-on-read. */
export const STATS_BASE = 0x04000;
export const STATS_END = 0x04100;

/** CTRL (SDM §13.4.1). */
export const CTRL = {
  FD: 0x1,
  LRST: 0x8,
  ASDE: 0x20,
  SLU: 0x40,
  ILOS: 0x80,
  SPD_SEL: 0x300,
  SPD_10: 0x000,
  SPD_100: 0x100,
  SPD_1000: 0x200,
  FRCSPD: 0x800,
  FRCDPX: 0x1000,
  SWDPIN0: 0x40000,
  SWDPIN1: 0x80000,
  SWDPIN2: 0x100000,
  SWDPIN3: 0x200000,
  SWDPIO0: 0x400000,
  SWDPIO1: 0x800000,
  SWDPIO2: 0x1000000,
  SWDPIO3: 0x2000000,
  RST: 0x04000000,
  RFCE: 0x08000000,
  TFCE: 0x10000000,
  VME: 0x40000000,
  PHY_RST: 0x80000000,
} as const;

/** STATUS (SDM §13.4.2). */
export const STATUS = {
  FD: 0x1,
  LU: 0x2,
  FUNC_MASK: 0xc,
  TXOFF: 0x10,
  TBIMODE: 0x20,
  SPEED_MASK: 0xc0,
  SPEED_10: 0x00,
  SPEED_100: 0x40,
  SPEED_1000: 0x80,
  ASDV: 0x300,
  PCI66: 0x800,
  BUS64: 0x1000,
  PCIX_MODE: 0x2000,
  PCIX_SPEED: 0xc000,
} as const;

/** EECD: the bit-banged Microwire EEPROM interface (SDM §13.4.3). */
export const EECD = {
  SK: 0x1,
  CS: 0x2,
  DI: 0x4,
  DO: 0x8,
  FWE_MASK: 0x30,
  REQ: 0x40,
  GNT: 0x80,
  PRES: 0x100,
  SIZE: 0x200,
  TYPE: 0x2000,
} as const;

/** EERD, 8254x layout (SDM §13.4.4): START, DONE, word address 15:8, data 31:16. */
export const EERD = {
  START: 0x1,
  DONE: 0x10,
  ADDR_SHIFT: 8,
  ADDR_MASK: 0xff00,
  DATA_SHIFT: 16,
} as const;

/** EEPROM word layout (SDM §5.6): MAC words 0-2; the words 0x00..0x3F sum to 0xBABA. */
export const EEPROM = {
  WORDS: 64,
  MAC_WORDS: 3,
  DEVICE_ID_WORD: 0x0d,
  CHECKSUM_WORD: 0x3f,
  SUM: 0xbaba,
  /** Microwire READ opcode (110b, start bit included). */
  READ_OPCODE: 0x6,
} as const;

/** MDIC: PHY management (SDM §13.4.9). */
export const MDIC = {
  DATA_MASK: 0xffff,
  REG_SHIFT: 16,
  REG_MASK: 0x1f0000,
  PHY_SHIFT: 21,
  PHY_MASK: 0x3e00000,
  OP_WRITE: 0x4000000,
  OP_READ: 0x8000000,
  READY: 0x10000000,
  INT_EN: 0x20000000,
  ERROR: 0x40000000,
} as const;

/** Interrupt causes: the shared bit layout of ICR, ICS, IMS and IMC (SDM §13.4.17-21). */
export const ICR = {
  TXDW: 0x1,
  TXQE: 0x2,
  LSC: 0x4,
  RXSEQ: 0x8,
  RXDMT0: 0x10,
  RXO: 0x40,
  RXT0: 0x80,
  MDAC: 0x200,
  RXCFG: 0x400,
  GPI_EN0: 0x800,
  GPI_EN1: 0x1000,
  GPI_EN2: 0x2000,
  GPI_EN3: 0x4000,
  TXD_LOW: 0x8000,
  SRPD: 0x10000,
} as const;
/** What Linux e1000 writes to IMS (IMS_ENABLE_MASK). */
export const IMS_ENABLE_MASK = ICR.RXT0 | ICR.TXDW | ICR.RXDMT0 | ICR.RXSEQ | ICR.LSC;

/** RCTL (SDM §13.4.22). */
export const RCTL = {
  RST: 0x1,
  EN: 0x2,
  SBP: 0x4,
  UPE: 0x8,
  MPE: 0x10,
  LPE: 0x20,
  LBM_MASK: 0xc0,
  RDMTS_MASK: 0x300,
  RDMTS_SHIFT: 8,
  RDMTS_HALF: 0x000,
  RDMTS_QUARTER: 0x100,
  RDMTS_EIGHTH: 0x200,
  MO_MASK: 0x3000,
  MO_SHIFT: 12,
  BAM: 0x8000,
  BSIZE_MASK: 0x30000,
  SZ_2048: 0x00000,
  SZ_1024: 0x10000,
  SZ_512: 0x20000,
  SZ_256: 0x30000,
  /** With BSEX. */
  SZ_16384: 0x10000,
  SZ_8192: 0x20000,
  SZ_4096: 0x30000,
  VFE: 0x40000,
  CFIEN: 0x80000,
  CFI: 0x100000,
  DPF: 0x400000,
  PMCF: 0x800000,
  BSEX: 0x02000000,
  SECRC: 0x04000000,
} as const;

/** TCTL (SDM §13.4.33). */
export const TCTL = {
  RST: 0x1,
  EN: 0x2,
  BCE: 0x4,
  PSP: 0x8,
  CT_MASK: 0xff0,
  CT_SHIFT: 4,
  COLD_MASK: 0x3ff000,
  COLD_SHIFT: 12,
  SWXOFF: 0x400000,
  PBE: 0x800000,
  RTLC: 0x01000000,
  NRTU: 0x02000000,
  MULR: 0x10000000,
} as const;

/** TIPG fields (SDM §13.4.34). */
export const TIPG = {
  IPGT_MASK: 0x3ff,
  IPGR1_SHIFT: 10,
  IPGR2_SHIFT: 20,
} as const;

/** RDTR bit 31: flush partial descriptor block (fire a pending RX timer now). */
export const RDTR_FPD = 0x80000000;
/** RDLEN/TDLEN keep bits 19:7 (ring length a multiple of 128 bytes). */
export const DLEN_MASK = 0x000fff80;
/** RDH/RDT/TDH/TDT are 16-bit indexes. */
export const HEAD_TAIL_MASK = 0xffff;

/** RXCSUM (SDM §13.4.x): packet checksum start and the two offload enables. */
export const RXCSUM = {
  PCSS_MASK: 0xff,
  IPOFL: 0x100,
  TUOFL: 0x200,
} as const;

/** RAH bit 31: address valid. */
export const RAH_AV = 0x80000000;

/** Legacy and data TX descriptor command bits in the lower dword (bits 31:24; SDM §3.3.3). */
export const TXD_CMD = {
  EOP: 0x01000000,
  IFCS: 0x02000000,
  /** Legacy: insert checksum at CSO from CSS. */
  IC: 0x04000000,
  /** Data descriptor: TCP segmentation (same bit as IC). */
  TSE: 0x04000000,
  RS: 0x08000000,
  RPS: 0x10000000,
  DEXT: 0x20000000,
  VLE: 0x40000000,
  IDE: 0x80000000,
  /** Context descriptor TUCMD: TCP (else UDP), IPv4 (else IPv6). */
  TCP: 0x01000000,
  IP: 0x02000000,
} as const;
/** Descriptor type in bits 23:20 of the lower dword of an extended descriptor. */
export const TXD_DTYP_C = 0x00000000;
export const TXD_DTYP_D = 0x00100000;
/** Length fields: legacy 15:0, extended (DTALEN / PAYLEN) 19:0. */
export const TXD_LEGACY_LEN_MASK = 0xffff;
export const TXD_EXT_LEN_MASK = 0xfffff;

/** TX status (low nibble of the upper dword). */
export const TXD_STAT = {
  DD: 0x1,
  EC: 0x2,
  LC: 0x4,
  TU: 0x8,
} as const;
/** POPTS (upper dword bits 15:8 of a data descriptor, as a byte). */
export const TXD_POPTS = {
  IXSM: 0x01,
  TXSM: 0x02,
} as const;

/** RX descriptor status byte (SDM §3.2.3.1). */
export const RXD_STAT = {
  DD: 0x01,
  EOP: 0x02,
  IXSM: 0x04,
  VP: 0x08,
  UDPCS: 0x10,
  TCPCS: 0x20,
  IPCS: 0x40,
  PIF: 0x80,
} as const;
/** RX descriptor errors byte (SDM §3.2.3.2). */
export const RXD_ERR = {
  CE: 0x01,
  SE: 0x02,
  SEQ: 0x04,
  CXE: 0x10,
  TCPE: 0x20,
  IPE: 0x40,
  RXE: 0x80,
} as const;
export const RXD_ERR_FRAME_ERR_MASK =
  RXD_ERR.CE | RXD_ERR.SE | RXD_ERR.SEQ | RXD_ERR.CXE | RXD_ERR.RXE;

/** Time units of the delay registers. */
export const UNIT = {
  /** RDTR, RADV, TIDV, TADV count 1.024 µs. */
  DELAY_NS: 1024,
  /** ITR counts 256 ns. */
  ITR_NS: 256,
} as const;

/** RX buffer size from RCTL.BSIZE/BSEX (SDM §13.4.22); BSEX with BSIZE 00 is reserved. */
export function rxBufferSize(rctl: number): number {
  const bsize = (rctl & RCTL.BSIZE_MASK) >>> 16;
  if ((rctl & RCTL.BSEX) === 0) return 2048 >>> bsize;
  // MODEL: the reserved BSEX=1/BSIZE=00 combination falls back to 2048, as QEMU does.
  return bsize === 0 ? 2048 : 32768 >>> bsize;
}
