/**
 * Ethernet, ARP, IPv4, ICMP, UDP and TCP constants with the kernel's names (include/uapi/linux/
 * if_ether.h, in.h, icmp.h, include/net/tcp.h), and MAC / IPv4 address helpers. Frames are
 * Uint8Arrays from the destination MAC to the end of the payload, no preamble and no FCS.
 */
import { ConfigError } from '../errors.js';

export const ETH_ALEN = 6;
/** Destination, source, ethertype. */
export const ETH_HLEN = 14;
/** Shortest frame without FCS: 802.3 clause 4.4.2 minFrameSize 64 bytes minus the 4-byte FCS. */
export const ETH_ZLEN = 60;
export const ETH_DATA_LEN = 1500;
export const ETH_FRAME_LEN = 1514;
export const ETH_FCS_LEN = 4;
/** An 802.1Q tag: TPID + TCI. */
export const VLAN_HLEN = 4;

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;
export const ETH_P_IPV6 = 0x86dd;

export const ARPHRD_ETHER = 1;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;
/** ARP for IPv4 over Ethernet (RFC 826): 8-byte header, two MACs, two IPv4 addresses. */
export const ARP_LEN = 28;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
/** IPv4 header without options (RFC 791 section 3.1). */
export const IPV4_HLEN = 20;
export const IP_DF = 0x4000;
export const IP_MF = 0x2000;
export const IP_OFFMASK = 0x1fff;

export const ICMP_ECHOREPLY = 0;
export const ICMP_ECHO = 8;
/** Type, code, checksum, id, sequence (RFC 792 "Echo or Echo Reply Message"). */
export const ICMP_ECHO_HLEN = 8;

export const UDP_HLEN = 8;
/** TCP header without options (RFC 9293 section 3.1). */
export const TCP_HLEN = 20;

export const TCPHDR_FIN = 0x01;
export const TCPHDR_SYN = 0x02;
export const TCPHDR_RST = 0x04;
export const TCPHDR_PSH = 0x08;
export const TCPHDR_ACK = 0x10;
export const TCPHDR_URG = 0x20;
export const TCPHDR_ECE = 0x40;
export const TCPHDR_CWR = 0x80;

/** ff:ff:ff:ff:ff:ff. Returns a fresh array each time so callers cannot corrupt a shared one. */
export function broadcastMac(): Uint8Array {
  return new Uint8Array(ETH_ALEN).fill(0xff);
}

export function isBroadcastMac(mac: Uint8Array): boolean {
  return mac.length === ETH_ALEN && mac.every((b) => b === 0xff);
}

export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** "52:54:00:12:34:56" (lower case, as `ip link` prints it). */
export function formatMac(mac: Uint8Array): string {
  if (mac.length !== ETH_ALEN) {
    throw new ConfigError(`MAC address must be ${ETH_ALEN} bytes, got ${mac.length}`);
  }
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Parses six hex bytes separated by ':' or '-'. */
export function parseMac(text: string): Uint8Array {
  const parts = text.trim().split(/[:-]/);
  if (parts.length !== ETH_ALEN || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new ConfigError(
      `bad MAC address '${text}': expected six hex bytes like 52:54:00:12:34:56`,
    );
  }
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

/** An IPv4 address (uint32, network order as a number) as dotted quad. */
export function formatIp(ip: number): string {
  if (!Number.isInteger(ip) || ip < 0 || ip > 0xffff_ffff) {
    throw new ConfigError(`bad IPv4 address ${ip}: need an integer in 0..0xffffffff`);
  }
  return [ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff].join('.');
}

/** Parses a dotted quad ("10.0.2.15") to a uint32; no shorthand forms such as "10.1". */
export function parseIp(text: string): number {
  const parts = text.trim().split('.');
  const ok = parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
  if (!ok)
    throw new ConfigError(`bad IPv4 address '${text}': expected a dotted quad like 10.0.2.15`);
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function getU16(b: Uint8Array, off: number): number {
  return ((b[off] as number) << 8) | (b[off + 1] as number);
}

export function getU32(b: Uint8Array, off: number): number {
  return getU16(b, off) * 0x10000 + getU16(b, off + 2);
}

export function putU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

export function putU32(b: Uint8Array, off: number, v: number): void {
  putU16(b, off, Math.floor(v / 0x10000) & 0xffff);
  putU16(b, off + 2, v & 0xffff);
}
