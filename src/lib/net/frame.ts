/**
 * Ethernet frames on the simulated wire: builders (frame-build.ts), the parser (frame-parse.ts),
 * checksums at offsets (frame-csum.ts), constants and addresses (frame-defs.ts), and here the
 * in-place checksum helpers a test or a NIC model applies to a whole frame.
 */
import { ConfigError } from '../errors.js';
import { putU16 } from './frame-defs.js';
import { IP_CSUM_OFF, ipHeaderChecksum, l4Status, putL4Checksum } from './frame-csum.js';
import type { ChecksumStatus, L4Span } from './frame-csum.js';
import { parseFrame } from './frame-parse.js';

export * from './frame-defs.js';
export * from './frame-csum.js';
export * from './frame-build.js';
export * from './frame-parse.js';

/** The ICMP / UDP / TCP segment of an unfragmented IPv4 frame; throws if there is none. */
function l4SpanOf(frame: Uint8Array, what: string): L4Span {
  const p = parseFrame(frame);
  const ip = p.ip;
  const l4 = p.icmp ?? p.udp ?? p.tcp;
  if (ip === undefined || l4 === undefined || p.malformed !== undefined || ip.mf) {
    const why = p.malformed ?? (ip?.mf === true ? 'a fragment' : 'no ICMP, UDP or TCP header');
    throw new ConfigError(`${what}: not an unfragmented IPv4 ICMP/UDP/TCP frame (${why})`);
  }
  const end = ip.offset + (p.udp === undefined ? ip.totalLength : ip.headerLength + p.udp.length);
  return {
    srcIp: ip.srcIp,
    dstIp: ip.dstIp,
    protocol: ip.protocol,
    l4Off: l4.offset,
    l4Len: end - l4.offset,
  };
}

/** Computes and stores the ICMP, UDP or TCP checksum of an IPv4 frame; returns the value. */
export function fillL4Checksum(frame: Uint8Array): number {
  return putL4Checksum(frame, l4SpanOf(frame, 'fillL4Checksum'));
}

/** Whether the ICMP, UDP or TCP checksum of an unfragmented IPv4 frame is right. */
export function verifyL4Checksum(frame: Uint8Array): ChecksumStatus {
  return l4Status(frame, l4SpanOf(frame, 'verifyL4Checksum'));
}

/** Computes and stores the IPv4 header checksum of a frame; returns the value. */
export function fillIpChecksum(frame: Uint8Array): number {
  const ip = parseFrame(frame).ip;
  if (ip === undefined) throw new ConfigError('fillIpChecksum: not an IPv4 frame');
  const c = ipHeaderChecksum(frame, ip.offset, ip.headerLength);
  putU16(frame, ip.offset + IP_CSUM_OFF, c);
  return c;
}
