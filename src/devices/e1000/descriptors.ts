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

/**
 * DataViews of the last few buffers asked about: the device and the driver each reuse a couple
 * of scratch buffers, and a DataView per call was a noticeable share of a frame's cost.
 */
const VIEWS: { buf: Uint8Array | null; view: DataView | null }[] = Array.from(
  { length: 4 },
  () => ({
    buf: null,
    view: null,
  }),
);
let nextView = 0;

function view(b: Uint8Array): DataView {
  for (const v of VIEWS) if (v.buf === b && v.view !== null) return v.view;
  const slot = VIEWS[nextView] as { buf: Uint8Array | null; view: DataView | null };
  nextView = (nextView + 1) % VIEWS.length;
  slot.buf = b;
  slot.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return slot.view;
}

/** Reads a little-endian 64-bit address; NaN when it does not fit a safe integer. */
export function readAddr(b: Uint8Array, off: number): number {
  const v = view(b);
  const hi = v.getUint32(off + 4, true);
  const a = hi * TWO32 + v.getUint32(off, true);
  return Number.isSafeInteger(a) ? a : NaN;
}

export function writeAddr(b: Uint8Array, off: number, addr: number): void {
  const v = view(b);
  v.setUint32(off, addr % TWO32, true);
  v.setUint32(off + 4, Math.floor(addr / TWO32), true);
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
  const v = view(b);
  return {
    bufferAddr: readAddr(b, off),
    lower: v.getUint32(off + 8, true),
    upper: v.getUint32(off + 12, true),
  };
}

export function writeTxDesc(b: Uint8Array, off: number, d: TxDesc): void {
  const v = view(b);
  writeAddr(b, off, d.bufferAddr);
  v.setUint32(off + 8, d.lower >>> 0, true);
  v.setUint32(off + 12, d.upper >>> 0, true);
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
  const v = view(b);
  return {
    ipcss: v.getUint8(off),
    ipcso: v.getUint8(off + 1),
    ipcse: v.getUint16(off + 2, true),
    tucss: v.getUint8(off + 4),
    tucso: v.getUint8(off + 5),
    tucse: v.getUint16(off + 6, true),
    cmdAndLength: v.getUint32(off + 8, true),
    status: v.getUint8(off + 12),
    hdrLen: v.getUint8(off + 13),
    mss: v.getUint16(off + 14, true),
  };
}

export function writeContextDesc(b: Uint8Array, off: number, d: ContextDesc): void {
  const v = view(b);
  v.setUint8(off, d.ipcss);
  v.setUint8(off + 1, d.ipcso);
  v.setUint16(off + 2, d.ipcse, true);
  v.setUint8(off + 4, d.tucss);
  v.setUint8(off + 5, d.tucso);
  v.setUint16(off + 6, d.tucse, true);
  v.setUint32(off + 8, d.cmdAndLength >>> 0, true);
  v.setUint8(off + 12, d.status);
  v.setUint8(off + 13, d.hdrLen);
  v.setUint16(off + 14, d.mss, true);
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
  const v = view(b);
  return {
    bufferAddr: readAddr(b, off),
    length: v.getUint16(off + 8, true),
    csum: v.getUint16(off + 10, true),
    status: v.getUint8(off + 12),
    errors: v.getUint8(off + 13),
    special: v.getUint16(off + 14, true),
  };
}

export function writeRxDesc(b: Uint8Array, off: number, d: RxDesc): void {
  writeAddr(b, off, d.bufferAddr);
  writeRxWriteBack(b, off + 8, d);
}

/** The 8 bytes the hardware writes back (bytes 8-15): length, csum, status, errors, special. */
export function writeRxWriteBack(b: Uint8Array, off: number, d: Omit<RxDesc, 'bufferAddr'>): void {
  const v = view(b);
  v.setUint16(off, d.length, true);
  v.setUint16(off + 2, d.csum, true);
  v.setUint8(off + 4, d.status);
  v.setUint8(off + 5, d.errors);
  v.setUint16(off + 6, d.special, true);
}
