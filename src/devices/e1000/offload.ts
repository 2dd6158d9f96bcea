/**
 * Checksum offload. TX (SDM §3.3.5-3.3.6): the hardware sums the bytes from a start offset to an
 * inclusive end (0 = end of packet) — including whatever software left in the checksum field, so
 * a pseudo-header seed there is folded in — and stores the complement at the given offset.
 * RX (SDM §3.2.9, RXCSUM): IPv4 header and TCP/UDP checksums are verified and reported in the
 * descriptor status and errors; the packet checksum is the raw ones'-complement sum from PCSS.
 */
import { foldSum, internetChecksum, onesSum } from '../../lib/net/checksum.js';
import { RXCSUM, RXD_ERR, RXD_STAT } from './regs.js';

/** Inserts a checksum; does nothing when the offsets do not fit the packet (SDM §3.3.6). */
export function insertChecksum(
  pkt: Uint8Array,
  start: number,
  offset: number,
  end: number,
  zeroAsOnes = false,
): void {
  const last = end === 0 ? pkt.length - 1 : Math.min(end, pkt.length - 1);
  if (start > last || offset + 2 > pkt.length) return;
  let c = internetChecksum(pkt, start, last - start + 1);
  // A UDP checksum of 0 means "none" on the wire, so 0 is sent as its other form, 0xFFFF.
  if (c === 0 && zeroAsOnes) c = 0xffff;
  pkt[offset] = c >>> 8;
  pkt[offset + 1] = c & 0xff;
}

/** Adds a 16-bit value into the big-endian checksum field at `offset` (ones' complement). */
export function addToField(pkt: Uint8Array, offset: number, v: number): void {
  const cur = ((pkt[offset] ?? 0) << 8) | (pkt[offset + 1] ?? 0);
  const s = foldSum(cur + v);
  pkt[offset] = s >>> 8;
  pkt[offset + 1] = s & 0xff;
}

export interface RxCsumResult {
  status: number;
  errors: number;
  /** The packet checksum field of the descriptor. */
  csum: number;
}

const ETH_HLEN = 14;
const ETH_P_IP = 0x0800;
const PROTO_TCP = 6;
const PROTO_UDP = 17;

/**
 * RX checksum verification of an Ethernet frame whose VLAN tag, if any, was already stripped.
 * `fcs` holds the FCS bytes the packet checksum covers (empty when SECRC strips them).
 * MODEL: IPv4 only (the 8254x offloads no IPv6 receive checksums); IP fragments and IPv4
 * options are handled, an unknown protocol only gets the IP check. IXSM is set when neither
 * offload is enabled, telling software to ignore the checksum bits.
 */
export function rxChecksum(frame: Uint8Array, fcs: Uint8Array, rxcsum: number): RxCsumResult {
  const pcss = rxcsum & RXCSUM.PCSS_MASK;
  const sum = onesSum(fcs, 0, fcs.length, onesSum(frame, pcss, Math.max(0, frame.length - pcss)));
  const r: RxCsumResult = { status: 0, errors: 0, csum: foldSum(sum) };
  const ip = (rxcsum & RXCSUM.IPOFL) !== 0;
  const tu = (rxcsum & RXCSUM.TUOFL) !== 0;
  if (!ip && !tu) {
    r.status |= RXD_STAT.IXSM;
    return r;
  }
  const type = ((frame[12] ?? 0) << 8) | (frame[13] ?? 0);
  if (type !== ETH_P_IP || frame.length < ETH_HLEN + 20) return r;
  const ihl = ((frame[ETH_HLEN] ?? 0) & 0xf) * 4;
  if ((frame[ETH_HLEN] ?? 0) >>> 4 !== 4 || ihl < 20 || frame.length < ETH_HLEN + ihl) return r;
  if (ip) {
    r.status |= RXD_STAT.IPCS;
    if (internetChecksum(frame, ETH_HLEN, ihl) !== 0) r.errors |= RXD_ERR.IPE;
  }
  if (tu) verifyL4(frame, ihl, r);
  return r;
}

function verifyL4(frame: Uint8Array, ihl: number, r: RxCsumResult): void {
  const ipOff = ETH_HLEN;
  const proto = frame[ipOff + 9] ?? 0;
  const fragment = ((((frame[ipOff + 6] ?? 0) << 8) | (frame[ipOff + 7] ?? 0)) & 0x3fff) !== 0;
  if ((proto !== PROTO_TCP && proto !== PROTO_UDP) || fragment) return;
  const totalLen = ((frame[ipOff + 2] ?? 0) << 8) | (frame[ipOff + 3] ?? 0);
  const l4Off = ipOff + ihl;
  const l4Len = Math.min(totalLen, frame.length - ipOff) - ihl;
  if (l4Len < (proto === PROTO_TCP ? 20 : 8)) return;
  r.status |= RXD_STAT.TCPCS;
  // A UDP datagram sent without a checksum (field 0) passes.
  if (proto === PROTO_UDP && frame[l4Off + 6] === 0 && frame[l4Off + 7] === 0) return;
  let s = onesSum(frame, ipOff + 12, 8); // source and destination addresses
  s += proto + l4Len;
  if (internetChecksum(frame, l4Off, l4Len, s) !== 0) r.errors |= RXD_ERR.TCPE;
}
