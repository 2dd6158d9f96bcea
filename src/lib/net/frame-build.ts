/**
 * Frame builders: exact bytes of Ethernet II frames carrying ARP, IPv4 and ICMP echo, UDP or TCP,
 * with correct checksums unless told otherwise (for checksum-offload tests).
 */
import { ConfigError } from '../errors.js';
import { foldSum } from './checksum.js';
import {
  ARPHRD_ETHER,
  ARPOP_REPLY,
  ARP_LEN,
  ETH_ALEN,
  ETH_HLEN,
  ETH_P_8021Q,
  ETH_P_ARP,
  ETH_P_IP,
  ETH_ZLEN,
  ICMP_ECHO,
  ICMP_ECHO_HLEN,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_HLEN,
  IP_DF,
  TCP_HLEN,
  UDP_HLEN,
  VLAN_HLEN,
  broadcastMac,
  putU16,
  putU32,
} from './frame-defs.js';
import {
  IP_CSUM_OFF,
  ipHeaderChecksum,
  l4ChecksumOffset,
  pseudoHeaderSum,
  putL4Checksum,
} from './frame-csum.js';

export interface VlanParams {
  /** VLAN id, 0..4095. */
  readonly vid: number;
  /** Priority code point, 0..7 (default 0). */
  readonly pcp?: number;
  readonly dei?: boolean;
  /** Tag protocol id (default ETH_P_8021Q). */
  readonly tpid?: number;
}

export interface EthParams {
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  /** An 802.1Q tag between the source MAC and the ethertype. */
  readonly vlan?: VlanParams;
  /**
   * Pad with zeros to ETH_ZLEN (60) bytes, as a NIC does on send (e1000 TCTL.PSP) and the kernel
   * does for short skbs. Default true; false gives the unpadded frame a driver hands to a NIC.
   */
  readonly pad?: boolean;
}

export interface ArpParams extends Omit<EthParams, 'dst' | 'src'> {
  /** ARPOP_REQUEST or ARPOP_REPLY. */
  readonly op: number;
  readonly senderMac: Uint8Array;
  readonly senderIp: number;
  /** Default 00:00:00:00:00:00, as in a request (RFC 826). */
  readonly targetMac?: Uint8Array;
  readonly targetIp: number;
  /** Default: broadcast for a request, targetMac for a reply. The source MAC is senderMac. */
  readonly dst?: Uint8Array;
}

export interface Ipv4Params extends EthParams {
  readonly srcIp: number;
  readonly dstIp: number;
  /** Default 64 (Linux net.ipv4.ip_default_ttl). */
  readonly ttl?: number;
  /** Identification, default 0. */
  readonly id?: number;
  /** Don't Fragment, default false. */
  readonly df?: boolean;
  /** Type of service / DSCP+ECN byte, default 0. */
  readonly tos?: number;
  /** Raw IP options, a multiple of 4 bytes, at most 40. */
  readonly ipOptions?: Uint8Array;
  /** Fill the header checksum (default true); false leaves 0 for a NIC to insert (IXSM). */
  readonly ipChecksum?: boolean;
}

/**
 * How to fill an L4 checksum: 'full' computes it; 'pseudo' stores the folded pseudo-header sum
 * uncomplemented, as Linux does for CHECKSUM_PARTIAL (~csum_tcpudp_magic(..., 0)) so a NIC can
 * finish it; 'zero' leaves 0 (for UDP: no checksum).
 */
export type L4Checksum = 'full' | 'pseudo' | 'zero';

export interface IcmpEchoParams extends Ipv4Params {
  /** ICMP_ECHO (default) or ICMP_ECHOREPLY. */
  readonly type?: number;
  readonly echoId: number;
  readonly echoSeq: number;
  readonly payload?: Uint8Array;
  /** Default true. */
  readonly icmpChecksum?: boolean;
}

export interface UdpParams extends Ipv4Params {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Uint8Array;
  readonly l4Checksum?: L4Checksum;
}

export interface TcpParams extends Ipv4Params {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  /** Default 0. */
  readonly ack?: number;
  /** TCPHDR_* bits. */
  readonly flags: number;
  /** Default 65535. */
  readonly window?: number;
  readonly urgent?: number;
  /** Raw TCP options, a multiple of 4 bytes, at most 40. */
  readonly tcpOptions?: Uint8Array;
  /** Default empty (a pure SYN, ACK, FIN or RST). */
  readonly payload?: Uint8Array;
  readonly l4Checksum?: L4Checksum;
}

function checkRange(what: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new ConfigError(`frame: ${what} ${v} out of range 0..${max}`);
  }
  return v;
}

function checkMac(what: string, mac: Uint8Array): Uint8Array {
  if (mac.length !== ETH_ALEN) throw new ConfigError(`frame: ${what} MAC has ${mac.length} bytes`);
  return mac;
}

function checkOptions(what: string, opts: Uint8Array | undefined): Uint8Array {
  const o = opts ?? new Uint8Array(0);
  if (o.length % 4 !== 0 || o.length > 40) {
    throw new ConfigError(
      `frame: ${what} options of ${o.length} bytes (need a multiple of 4, <= 40)`,
    );
  }
  return o;
}

function ethHeaderLen(p: Pick<EthParams, 'vlan'>): number {
  return p.vlan === undefined ? ETH_HLEN : ETH_HLEN + VLAN_HLEN;
}

/** A zeroed frame for `l3Len` bytes after the Ethernet header, padded if asked; header written. */
function allocFrame(p: EthParams, ethertype: number, l3Len: number): Uint8Array {
  const len = ethHeaderLen(p) + l3Len;
  const f = new Uint8Array(p.pad === false ? len : Math.max(len, ETH_ZLEN));
  f.set(checkMac('destination', p.dst), 0);
  f.set(checkMac('source', p.src), ETH_ALEN);
  let off = 2 * ETH_ALEN;
  const v = p.vlan;
  if (v !== undefined) {
    // IEEE 802.1Q clause 9.6: TCI = PCP(3) DEI(1) VID(12).
    putU16(f, off, checkRange('VLAN TPID', v.tpid ?? ETH_P_8021Q, 0xffff));
    const pcp = checkRange('VLAN PCP', v.pcp ?? 0, 7);
    putU16(
      f,
      off + 2,
      (pcp << 13) | (v.dei === true ? 0x1000 : 0) | checkRange('VLAN id', v.vid, 4095),
    );
    off += VLAN_HLEN;
  }
  putU16(f, off, checkRange('ethertype', ethertype, 0xffff));
  return f;
}

/** An Ethernet II frame around `payload`. */
export function buildEthernet(
  p: EthParams & { ethertype: number; payload: Uint8Array },
): Uint8Array {
  const f = allocFrame(p, p.ethertype, p.payload.length);
  f.set(p.payload, ethHeaderLen(p));
  return f;
}

/** An ARP request or reply for IPv4 over Ethernet (RFC 826). */
export function buildArp(p: ArpParams): Uint8Array {
  const targetMac = p.targetMac ?? new Uint8Array(ETH_ALEN);
  const dst = p.dst ?? (p.op === ARPOP_REPLY ? targetMac : broadcastMac());
  const f = allocFrame({ ...p, dst, src: p.senderMac }, ETH_P_ARP, ARP_LEN);
  const o = ethHeaderLen(p);
  putU16(f, o, ARPHRD_ETHER);
  putU16(f, o + 2, ETH_P_IP);
  f[o + 4] = ETH_ALEN;
  f[o + 5] = 4;
  putU16(f, o + 6, checkRange('ARP op', p.op, 0xffff));
  f.set(checkMac('ARP sender', p.senderMac), o + 8);
  putU32(f, o + 14, checkRange('ARP sender IP', p.senderIp, 0xffff_ffff));
  f.set(checkMac('ARP target', targetMac), o + 18);
  putU32(f, o + 24, checkRange('ARP target IP', p.targetIp, 0xffff_ffff));
  return f;
}

/** Writes the IPv4 header (RFC 791 section 3.1) at `o`; returns its length. */
function putIpv4Header(
  f: Uint8Array,
  o: number,
  p: Ipv4Params,
  proto: number,
  l4Len: number,
): number {
  const opts = checkOptions('IP', p.ipOptions);
  const hlen = IPV4_HLEN + opts.length;
  f[o] = 0x40 | (hlen >> 2);
  f[o + 1] = checkRange('IP TOS', p.tos ?? 0, 0xff);
  putU16(f, o + 2, checkRange('IP total length', hlen + l4Len, 0xffff));
  putU16(f, o + 4, checkRange('IP id', p.id ?? 0, 0xffff));
  putU16(f, o + 6, p.df === true ? IP_DF : 0);
  f[o + 8] = checkRange('IP TTL', p.ttl ?? 64, 0xff);
  f[o + 9] = proto;
  putU32(f, o + 12, checkRange('source IP', p.srcIp, 0xffff_ffff));
  putU32(f, o + 16, checkRange('destination IP', p.dstIp, 0xffff_ffff));
  f.set(opts, o + IPV4_HLEN);
  if (p.ipChecksum !== false) putU16(f, o + IP_CSUM_OFF, ipHeaderChecksum(f, o, hlen));
  return hlen;
}

/**
 * An IPv4 datagram with `l4Len` bytes of L4 header + data, which `fill` writes at `l4Off`; the
 * L4 checksum is then filled per `mode`.
 */
function buildIp(
  p: Ipv4Params,
  proto: number,
  l4Len: number,
  fill: (f: Uint8Array, l4Off: number) => void,
  mode: L4Checksum,
): Uint8Array {
  const ipLen = IPV4_HLEN + checkOptions('IP', p.ipOptions).length;
  const f = allocFrame(p, ETH_P_IP, ipLen + l4Len);
  const ipOff = ethHeaderLen(p);
  putIpv4Header(f, ipOff, p, proto, l4Len);
  const l4Off = ipOff + ipLen;
  fill(f, l4Off);
  const span = { srcIp: p.srcIp, dstIp: p.dstIp, protocol: proto, l4Off, l4Len };
  const csumOff = l4ChecksumOffset(proto);
  if (csumOff === undefined || mode === 'zero') return f;
  if (mode === 'full') putL4Checksum(f, span);
  else putU16(f, l4Off + csumOff, foldSum(pseudoHeaderSum(p.srcIp, p.dstIp, proto, l4Len)));
  return f;
}

/** An IPv4 datagram carrying `payload` as protocol `protocol`, no L4 checksum work. */
export function buildIpv4(p: Ipv4Params & { protocol: number; payload: Uint8Array }): Uint8Array {
  const proto = checkRange('IP protocol', p.protocol, 0xff);
  return buildIp(
    p,
    proto,
    p.payload.length,
    (f, o) => {
      f.set(p.payload, o);
    },
    'zero',
  );
}

/** An ICMP echo request or reply (RFC 792). */
export function buildIcmpEcho(p: IcmpEchoParams): Uint8Array {
  const data = p.payload ?? new Uint8Array(0);
  const fill = (f: Uint8Array, o: number): void => {
    f[o] = checkRange('ICMP type', p.type ?? ICMP_ECHO, 0xff);
    putU16(f, o + 4, checkRange('echo id', p.echoId, 0xffff));
    putU16(f, o + 6, checkRange('echo sequence', p.echoSeq, 0xffff));
    f.set(data, o + ICMP_ECHO_HLEN);
  };
  const mode = p.icmpChecksum === false ? 'zero' : 'full';
  return buildIp(p, IPPROTO_ICMP, ICMP_ECHO_HLEN + data.length, fill, mode);
}

/** A UDP datagram (RFC 768). */
export function buildUdp(p: UdpParams): Uint8Array {
  const len = UDP_HLEN + p.payload.length;
  const fill = (f: Uint8Array, o: number): void => {
    putU16(f, o, checkRange('UDP source port', p.srcPort, 0xffff));
    putU16(f, o + 2, checkRange('UDP destination port', p.dstPort, 0xffff));
    putU16(f, o + 4, checkRange('UDP length', len, 0xffff));
    f.set(p.payload, o + UDP_HLEN);
  };
  return buildIp(p, IPPROTO_UDP, len, fill, p.l4Checksum ?? 'full');
}

/** A TCP segment (RFC 9293 section 3.1). */
export function buildTcp(p: TcpParams): Uint8Array {
  const opts = checkOptions('TCP', p.tcpOptions);
  const hlen = TCP_HLEN + opts.length;
  const data = p.payload ?? new Uint8Array(0);
  const fill = (f: Uint8Array, o: number): void => {
    putU16(f, o, checkRange('TCP source port', p.srcPort, 0xffff));
    putU16(f, o + 2, checkRange('TCP destination port', p.dstPort, 0xffff));
    putU32(f, o + 4, checkRange('TCP seq', p.seq, 0xffff_ffff));
    putU32(f, o + 8, checkRange('TCP ack', p.ack ?? 0, 0xffff_ffff));
    f[o + 12] = (hlen >> 2) << 4;
    f[o + 13] = checkRange('TCP flags', p.flags, 0xff);
    putU16(f, o + 14, checkRange('TCP window', p.window ?? 0xffff, 0xffff));
    putU16(f, o + 18, checkRange('TCP urgent pointer', p.urgent ?? 0, 0xffff));
    f.set(opts, o + TCP_HLEN);
    f.set(data, o + hlen);
  };
  return buildIp(p, IPPROTO_TCP, hlen + data.length, fill, p.l4Checksum ?? 'full');
}
