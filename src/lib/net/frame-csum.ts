/**
 * IPv4 header and ICMP / UDP / TCP checksums at given offsets of a frame (RFC 791 section 3.1,
 * RFC 792, RFC 768, RFC 9293 section 3.1). All checksum fields sit at an even offset of the
 * region they cover, so the region can be summed in two pieces around the field.
 */
import { foldSum, internetChecksum, onesSum } from './checksum.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, getU16, putU16 } from './frame-defs.js';

/** Whether a checksum matched: 'none' is a UDP checksum of 0 (RFC 768: not computed). */
export type ChecksumStatus = 'good' | 'bad' | 'none' | 'unverified';

/** Offset of the checksum field inside the IPv4 header and inside each L4 header. */
export const IP_CSUM_OFF = 10;
export const ICMP_CSUM_OFF = 2;
export const UDP_CSUM_OFF = 6;
export const TCP_CSUM_OFF = 16;

/** Where the checksum field of `protocol` sits in its header; undefined for other protocols. */
export function l4ChecksumOffset(protocol: number): number | undefined {
  switch (protocol) {
    case IPPROTO_ICMP:
      return ICMP_CSUM_OFF;
    case IPPROTO_UDP:
      return UDP_CSUM_OFF;
    case IPPROTO_TCP:
      return TCP_CSUM_OFF;
    default:
      return undefined;
  }
}

/**
 * The unfolded sum of the IPv4 pseudo-header (RFC 768, RFC 9293 section 3.1): source, destination,
 * zero + protocol, L4 length. What Linux's csum_tcpudp_nofold() adds.
 */
export function pseudoHeaderSum(
  srcIp: number,
  dstIp: number,
  protocol: number,
  l4Len: number,
): number {
  return (
    Math.floor(srcIp / 0x10000) +
    (srcIp & 0xffff) +
    Math.floor(dstIp / 0x10000) +
    (dstIp & 0xffff) +
    protocol +
    l4Len
  );
}

/** The checksum over buf[off..off+len) with the 16-bit field at `off + fieldOff` taken as 0. */
function checksumSkipping(
  buf: Uint8Array,
  off: number,
  len: number,
  fieldOff: number,
  sum = 0,
): number {
  const s = onesSum(buf, off, fieldOff, sum);
  return internetChecksum(buf, off + fieldOff + 2, len - fieldOff - 2, s);
}

/** The IPv4 header checksum for the header at `ipOff` of `hlen` bytes. */
export function ipHeaderChecksum(frame: Uint8Array, ipOff: number, hlen: number): number {
  return checksumSkipping(frame, ipOff, hlen, IP_CSUM_OFF);
}

/** The header sums to all ones (0xffff) when its checksum field is right (RFC 1071 section 1). */
export function ipHeaderStatus(frame: Uint8Array, ipOff: number, hlen: number): ChecksumStatus {
  return foldSum(onesSum(frame, ipOff, hlen)) === 0xffff ? 'good' : 'bad';
}

export interface L4Span {
  readonly srcIp: number;
  readonly dstIp: number;
  readonly protocol: number;
  /** Offset of the L4 header in the frame and bytes from there to the end of the datagram. */
  readonly l4Off: number;
  readonly l4Len: number;
}

/**
 * The ICMP, UDP or TCP checksum of the segment at `s` as the field should hold it: ICMP has no
 * pseudo-header; a UDP result of 0 is sent as 0xffff (RFC 768) since 0 means "no checksum".
 */
export function l4Checksum(frame: Uint8Array, s: L4Span): number {
  const fieldOff = l4ChecksumOffset(s.protocol) ?? 0;
  const pseudo =
    s.protocol === IPPROTO_ICMP ? 0 : pseudoHeaderSum(s.srcIp, s.dstIp, s.protocol, s.l4Len);
  const c = checksumSkipping(frame, s.l4Off, s.l4Len, fieldOff, pseudo);
  return s.protocol === IPPROTO_UDP && c === 0 ? 0xffff : c;
}

export function l4Status(frame: Uint8Array, s: L4Span): ChecksumStatus {
  const fieldOff = l4ChecksumOffset(s.protocol) ?? 0;
  if (s.protocol === IPPROTO_UDP && getU16(frame, s.l4Off + fieldOff) === 0) return 'none';
  const pseudo =
    s.protocol === IPPROTO_ICMP ? 0 : pseudoHeaderSum(s.srcIp, s.dstIp, s.protocol, s.l4Len);
  return foldSum(onesSum(frame, s.l4Off, s.l4Len, pseudo)) === 0xffff ? 'good' : 'bad';
}

/** Writes the L4 checksum field of the segment at `s`; returns the value written. */
export function putL4Checksum(frame: Uint8Array, s: L4Span): number {
  const c = l4Checksum(frame, s);
  putU16(frame, s.l4Off + (l4ChecksumOffset(s.protocol) ?? 0), c);
  return c;
}
