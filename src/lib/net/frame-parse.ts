/**
 * parseFrame: a typed description of an Ethernet frame as a receiving stack would see it.
 * It never throws on wire data: a frame it cannot follow gets `malformed` saying why, with the
 * layers parsed up to that point.
 */
import {
  ARPHRD_ETHER,
  ARP_LEN,
  ETH_ALEN,
  ETH_HLEN,
  ETH_P_8021AD,
  ETH_P_8021Q,
  ETH_P_ARP,
  ETH_P_IP,
  ICMP_ECHO_HLEN,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_HLEN,
  IP_DF,
  IP_MF,
  IP_OFFMASK,
  TCP_HLEN,
  UDP_HLEN,
  VLAN_HLEN,
  getU16,
  getU32,
} from './frame-defs.js';
import { ipHeaderStatus, l4Status } from './frame-csum.js';
import type { ChecksumStatus, L4Span } from './frame-csum.js';

export interface VlanTag {
  readonly tpid: number;
  readonly pcp: number;
  readonly dei: boolean;
  readonly vid: number;
}

export interface ArpInfo {
  readonly op: number;
  readonly senderMac: Uint8Array;
  readonly senderIp: number;
  readonly targetMac: Uint8Array;
  readonly targetIp: number;
}

export interface Ipv4Info {
  readonly offset: number;
  readonly headerLength: number;
  readonly tos: number;
  readonly totalLength: number;
  readonly id: number;
  readonly df: boolean;
  readonly mf: boolean;
  /** In bytes (the field counts 8-byte units). */
  readonly fragmentOffset: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly checksum: number;
  readonly checksumStatus: ChecksumStatus;
  readonly srcIp: number;
  readonly dstIp: number;
}

export interface IcmpInfo {
  readonly offset: number;
  readonly type: number;
  readonly code: number;
  readonly checksum: number;
  readonly checksumStatus: ChecksumStatus;
  /** Bytes 4..8 of the header: identifier and sequence number for echo (RFC 792). */
  readonly echoId: number;
  readonly echoSeq: number;
}

export interface UdpInfo {
  readonly offset: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly length: number;
  readonly checksum: number;
  readonly checksumStatus: ChecksumStatus;
}

export interface TcpInfo {
  readonly offset: number;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  readonly headerLength: number;
  readonly optionsLength: number;
  readonly flags: number;
  readonly window: number;
  readonly urgent: number;
  readonly checksum: number;
  readonly checksumStatus: ChecksumStatus;
}

export type ChecksumLayer = 'ip' | 'icmp' | 'udp' | 'tcp';

export interface ParsedFrame {
  readonly length: number;
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  vlan?: VlanTag;
  /** The ethertype after any VLAN tag (< 0x600 is an 802.3 length field). */
  ethertype: number;
  /** Offset of the network-layer header. */
  l3Offset: number;
  arp?: ArpInfo;
  ip?: Ipv4Info;
  icmp?: IcmpInfo;
  udp?: UdpInfo;
  tcp?: TcpInfo;
  /** The innermost payload: L4 data, IP payload of other protocols, or what follows Ethernet. */
  payloadOffset: number;
  payloadLength: number;
  /** Bytes after the ARP packet or IP datagram (Ethernet padding). */
  trailer: number;
  /** Layers whose checksum is wrong; a stack would drop the frame. */
  readonly badChecksums: ChecksumLayer[];
  /** Why parsing stopped early (truncated or inconsistent header). */
  malformed?: string;
}

/** Parses an Ethernet frame (no FCS) down to ARP or IPv4 and ICMP / UDP / TCP. */
export function parseFrame(frame: Uint8Array): ParsedFrame {
  const len = frame.length;
  const p: ParsedFrame = {
    length: len,
    dst: frame.slice(0, ETH_ALEN),
    src: frame.slice(ETH_ALEN, 2 * ETH_ALEN),
    ethertype: 0,
    l3Offset: ETH_HLEN,
    payloadOffset: Math.min(len, ETH_HLEN),
    payloadLength: Math.max(0, len - ETH_HLEN),
    trailer: 0,
    badChecksums: [],
  };
  const why = parseEthernet(frame, p);
  if (why !== undefined) p.malformed = why;
  return p;
}

/** Each parser fills its layer into `p` and returns why it stopped, if the frame is malformed. */
type Malformed = string | undefined;

function parseEthernet(f: Uint8Array, p: ParsedFrame): Malformed {
  const len = f.length;
  if (len < ETH_HLEN) return `frame of ${len} bytes is shorter than an Ethernet header`;
  p.ethertype = getU16(f, 12);
  if (p.ethertype === ETH_P_8021Q || p.ethertype === ETH_P_8021AD) {
    if (len < ETH_HLEN + VLAN_HLEN) return 'truncated 802.1Q tag';
    const tci = getU16(f, 14);
    p.vlan = { tpid: p.ethertype, pcp: tci >> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0xfff };
    p.ethertype = getU16(f, 16);
    p.l3Offset = ETH_HLEN + VLAN_HLEN;
  }
  setPayload(p, p.l3Offset, len - p.l3Offset);
  if (p.ethertype === ETH_P_ARP) return parseArp(f, p);
  if (p.ethertype === ETH_P_IP) return parseIpv4(f, p);
  return undefined;
}

function setPayload(p: ParsedFrame, off: number, len: number): void {
  p.payloadOffset = off;
  p.payloadLength = len;
}

/** RFC 826; only Ethernet hardware and IPv4 protocol addresses are understood. */
function parseArp(f: Uint8Array, p: ParsedFrame): Malformed {
  const o = p.l3Offset;
  if (f.length < o + ARP_LEN) return `truncated ARP packet (${f.length - o} of ${ARP_LEN} bytes)`;
  const ethIp =
    getU16(f, o) === ARPHRD_ETHER &&
    getU16(f, o + 2) === ETH_P_IP &&
    f[o + 4] === ETH_ALEN &&
    f[o + 5] === 4;
  if (!ethIp) return 'ARP is not for IPv4 over Ethernet';
  p.arp = {
    op: getU16(f, o + 6),
    senderMac: f.slice(o + 8, o + 14),
    senderIp: getU32(f, o + 14),
    targetMac: f.slice(o + 18, o + 24),
    targetIp: getU32(f, o + 24),
  };
  setPayload(p, o + ARP_LEN, 0);
  p.trailer = f.length - (o + ARP_LEN);
  return undefined;
}

/** RFC 791 section 3.1. Of a fragmented datagram only the first fragment's L4 header is parsed. */
function parseIpv4(f: Uint8Array, p: ParsedFrame): Malformed {
  const o = p.l3Offset;
  const avail = f.length - o;
  if (avail < IPV4_HLEN) return `truncated IPv4 header (${avail} bytes)`;
  const version = (f[o] as number) >> 4;
  const hlen = ((f[o] as number) & 0xf) * 4;
  if (version !== 4) return `IP version ${version}, not 4`;
  if (hlen < IPV4_HLEN) return `IPv4 header length ${hlen} < 20`;
  if (hlen > avail) return `truncated IPv4 header (${avail} of ${hlen} bytes)`;
  const total = getU16(f, o + 2);
  const frag = getU16(f, o + 6);
  const ip: Ipv4Info = {
    offset: o,
    headerLength: hlen,
    tos: f[o + 1] as number,
    totalLength: total,
    id: getU16(f, o + 4),
    df: (frag & IP_DF) !== 0,
    mf: (frag & IP_MF) !== 0,
    fragmentOffset: (frag & IP_OFFMASK) * 8,
    ttl: f[o + 8] as number,
    protocol: f[o + 9] as number,
    checksum: getU16(f, o + 10),
    checksumStatus: ipHeaderStatus(f, o, hlen),
    srcIp: getU32(f, o + 12),
    dstIp: getU32(f, o + 16),
  };
  p.ip = ip;
  if (ip.checksumStatus === 'bad') p.badChecksums.push('ip');
  if (total < hlen) return `IPv4 total length ${total} < header length ${hlen}`;
  if (total > avail) return `truncated IPv4 datagram (${avail} of ${total} bytes)`;
  setPayload(p, o + hlen, total - hlen);
  p.trailer = avail - total;
  if (ip.fragmentOffset !== 0) return undefined;
  const s: L4Span = {
    srcIp: ip.srcIp,
    dstIp: ip.dstIp,
    protocol: ip.protocol,
    l4Off: o + hlen,
    l4Len: total - hlen,
  };
  if (s.protocol === IPPROTO_ICMP) return parseIcmp(f, p, s, ip.mf);
  if (s.protocol === IPPROTO_UDP) return parseUdp(f, p, s, ip.mf);
  if (s.protocol === IPPROTO_TCP) return parseTcp(f, p, s, ip.mf);
  return undefined;
}

/** The L4 checksum covers the whole datagram: a first fragment alone cannot be verified. */
function l4Check(f: Uint8Array, p: ParsedFrame, s: L4Span, fragment: boolean): ChecksumStatus {
  const st = fragment ? 'unverified' : l4Status(f, s);
  if (st === 'bad')
    p.badChecksums.push(
      s.protocol === IPPROTO_ICMP ? 'icmp' : s.protocol === IPPROTO_UDP ? 'udp' : 'tcp',
    );
  return st;
}

function parseIcmp(f: Uint8Array, p: ParsedFrame, s: L4Span, fragment: boolean): Malformed {
  const o = s.l4Off;
  if (s.l4Len < ICMP_ECHO_HLEN) return `truncated ICMP header (${s.l4Len} bytes)`;
  p.icmp = {
    offset: o,
    type: f[o] as number,
    code: f[o + 1] as number,
    checksum: getU16(f, o + 2),
    checksumStatus: l4Check(f, p, s, fragment),
    echoId: getU16(f, o + 4),
    echoSeq: getU16(f, o + 6),
  };
  setPayload(p, o + ICMP_ECHO_HLEN, s.l4Len - ICMP_ECHO_HLEN);
  return undefined;
}

function parseUdp(f: Uint8Array, p: ParsedFrame, s: L4Span, fragment: boolean): Malformed {
  const o = s.l4Off;
  if (s.l4Len < UDP_HLEN) return `truncated UDP header (${s.l4Len} bytes)`;
  // RFC 768: the length covers header and data, and the checksum (with the pseudo-header) that.
  const ulen = getU16(f, o + 4);
  const bad = ulen < UDP_HLEN || (!fragment && ulen > s.l4Len);
  p.udp = {
    offset: o,
    srcPort: getU16(f, o),
    dstPort: getU16(f, o + 2),
    length: ulen,
    checksum: getU16(f, o + 6),
    checksumStatus: bad ? 'unverified' : l4Check(f, p, { ...s, l4Len: ulen }, fragment),
  };
  if (bad) return `UDP length ${ulen} does not fit the IP payload of ${s.l4Len} bytes`;
  setPayload(p, o + UDP_HLEN, (fragment ? s.l4Len : ulen) - UDP_HLEN);
  return undefined;
}

function parseTcp(f: Uint8Array, p: ParsedFrame, s: L4Span, fragment: boolean): Malformed {
  const o = s.l4Off;
  if (s.l4Len < TCP_HLEN) return `truncated TCP header (${s.l4Len} bytes)`;
  const hlen = ((f[o + 12] as number) >> 4) * 4;
  const bad = hlen < TCP_HLEN || hlen > s.l4Len;
  p.tcp = {
    offset: o,
    srcPort: getU16(f, o),
    dstPort: getU16(f, o + 2),
    seq: getU32(f, o + 4),
    ack: getU32(f, o + 8),
    headerLength: hlen,
    optionsLength: Math.max(0, hlen - TCP_HLEN),
    flags: f[o + 13] as number,
    window: getU16(f, o + 14),
    urgent: getU16(f, o + 18),
    checksum: getU16(f, o + 16),
    checksumStatus: bad ? 'unverified' : l4Check(f, p, s, fragment),
  };
  if (bad) return `TCP header length ${hlen} does not fit the IP payload of ${s.l4Len} bytes`;
  setPayload(p, o + hlen, s.l4Len - hlen);
  return undefined;
}
