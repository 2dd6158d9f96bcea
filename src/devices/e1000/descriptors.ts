/**
 * Byte layouts of the 8254x descriptors (16 bytes, little-endian; SDM §3.2.3, §3.3.3-3.3.7):
 * legacy and data TX descriptors (address + two dwords), the TCP/IP context descriptor, and the
 * legacy RX descriptor. Helpers read and write them in a byte buffer, for the device model (which
 * fetches the 16 bytes by DMA) and for a driver (which builds them before storing to its ring).
 */
import { TXD_CMD, TXD_DTYP_D, TXD_EXT_LEN_MASK, TXD_LEGACY_LEN_MASK } from './regs.js';

export const DESC_SIZE = 16;

/** 64-bit buffer addresses are kept as numbers; an address above 2^53 cannot be one. */
const TWO32 = 0x1_0000_0000;

/** Little-endian loads and stores, byte by byte: cheaper here than a DataView per buffer. */
function le16(b: Uint8Array, off: number): number {
  return (b[off] as number) | ((b[off + 1] as number) << 8);
}

function le32(b: Uint8Array, off: number): number {
  return (le16(b, off) | (le16(b, off + 2) << 16)) >>> 0;
}

function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = v;
  b[off + 1] = v >>> 8;
}

function put32(b: Uint8Array, off: number, v: number): void {
  put16(b, off, v);
  put16(b, off + 2, v >>> 16);
}

/** Reads a little-endian 64-bit address; NaN when it does not fit a safe integer. */
export function readAddr(b: Uint8Array, off: number): number {
  const a = le32(b, off + 4) * TWO32 + le32(b, off);
  return Number.isSafeInteger(a) ? a : NaN;
}

export function writeAddr(b: Uint8Array, off: number, addr: number): void {
  put32(b, off, addr % TWO32);
  put32(b, off + 4, Math.floor(addr / TWO32));
}

/**
 * A legacy or data TX descriptor as e1000_hw.h's `struct e1000_tx_desc` unions: the buffer
 * address, the lower dword (length, CSO, command; or DTALEN, DTYP, DCMD) and the upper dword
 * (status, CSS or POPTS, special).
 */
export interface TxDesc {
  bufferAddr: number;
  lower: number;
  upper: number;
}

export function readTxDesc(b: Uint8Array, off: number): TxDesc {
  return {
    bufferAddr: readAddr(b, off),
    lower: le32(b, off + 8),
    upper: le32(b, off + 12),
  };
}

export function writeTxDesc(b: Uint8Array, off: number, d: TxDesc): void {
  writeAddr(b, off, d.bufferAddr);
  put32(b, off + 8, d.lower);
  put32(b, off + 12, d.upper);
}

/** The three kinds of TX descriptor, told apart by DEXT and DTYP (SDM §3.3.4). */
export type TxKind = 'legacy' | 'context' | 'data';

export function txKind(lower: number): TxKind {
  if ((lower & TXD_CMD.DEXT) === 0) return 'legacy';
  return (lower & 0x00f00000) === TXD_DTYP_D ? 'data' : 'context';
}

/** Fields of the lower and upper dwords, by descriptor kind. */
export const txd = {
  legacyLength: (lower: number): number => lower & TXD_LEGACY_LEN_MASK,
  dataLength: (lower: number): number => lower & TXD_EXT_LEN_MASK,
  cso: (lower: number): number => (lower >>> 16) & 0xff,
  status: (upper: number): number => upper & 0xff,
  /** Legacy CSS or data-descriptor POPTS. */
  cssOrPopts: (upper: number): number => (upper >>> 8) & 0xff,
  special: (upper: number): number => upper >>> 16,
} as const;

/** The TCP/IP context descriptor (e1000_hw.h `struct e1000_context_desc`). */
export interface ContextDesc {
  ipcss: number;
  ipcso: number;
  /** Inclusive end of the IP checksum; 0 = to the end of the packet. */
  ipcse: number;
  tucss: number;
  tucso: number;
  /** Inclusive end of the TCP/UDP checksum; 0 = to the end of the packet. */
  tucse: number;
  /** PAYLEN (bits 19:0), DTYP (23:20) and TUCMD (31:24). */
  cmdAndLength: number;
  status: number;
  hdrLen: number;
  mss: number;
}

export function readContextDesc(b: Uint8Array, off: number): ContextDesc {
  return {
    ipcss: b[off] as number,
    ipcso: b[off + 1] as number,
    ipcse: le16(b, off + 2),
    tucss: b[off + 4] as number,
    tucso: b[off + 5] as number,
    tucse: le16(b, off + 6),
    cmdAndLength: le32(b, off + 8),
    status: b[off + 12] as number,
    hdrLen: b[off + 13] as number,
    mss: le16(b, off + 14),
  };
}

export function writeContextDesc(b: Uint8Array, off: number, d: ContextDesc): void {
  b[off] = d.ipcss;
  b[off + 1] = d.ipcso;
  put16(b, off + 2, d.ipcse);
  b[off + 4] = d.tucss;
  b[off + 5] = d.tucso;
  put16(b, off + 6, d.tucse);
  put32(b, off + 8, d.cmdAndLength);
  b[off + 12] = d.status;
  b[off + 13] = d.hdrLen;
  put16(b, off + 14, d.mss);
}

/** The legacy RX descriptor (e1000_hw.h `struct e1000_rx_desc`). */
export interface RxDesc {
  bufferAddr: number;
  length: number;
  csum: number;
  status: number;
  errors: number;
  special: number;
}

export function readRxDesc(b: Uint8Array, off: number): RxDesc {
  return {
    bufferAddr: readAddr(b, off),
    length: le16(b, off + 8),
    csum: le16(b, off + 10),
    status: b[off + 12] as number,
    errors: b[off + 13] as number,
    special: le16(b, off + 14),
  };
}

export function writeRxDesc(b: Uint8Array, off: number, d: RxDesc): void {
  writeAddr(b, off, d.bufferAddr);
  writeRxWriteBack(b, off + 8, d);
}

/** The 8 bytes the hardware writes back (bytes 8-15): length, csum, status, errors, special. */
export function writeRxWriteBack(b: Uint8Array, off: number, d: Omit<RxDesc, 'bufferAddr'>): void {
  put16(b, off, d.length);
  put16(b, off + 2, d.csum);
  b[off + 4] = d.status;
  b[off + 5] = d.errors;
  put16(b, off + 6, d.special);
}
