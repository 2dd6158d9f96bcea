/**
 * NetResponder: a tiny peer host at the far end of a link, so a simulated NIC has someone to
 * talk to. It answers ARP for its address (RFC 826), ICMP echo (RFC 792) and UDP echo on port 7
 * (RFC 862); it sinks TCP on the discard port 9 (RFC 863), checking that the byte stream arrives
 * in sequence so segmentation offload can be verified end to end; and it can originate pings and
 * UDP datagrams for the NIC's receive path. Like a real stack it drops frames with a bad IP, ICMP,
 * UDP or TCP checksum, and counts them.
 *
 * MODEL: replies leave at the instant the request arrives (no host processing time); frames for
 * closed ports and other protocols are dropped silently (no ICMP port unreachable, no TCP RST);
 * IP fragments are not reassembled; the discard port keeps no TCP state machine beyond sequence
 * tracking and by default sends no ACKs (see `tcpAck`).
 */
import { ConfigError } from '../../lib/errors.js';
import {
  ARPOP_REPLY,
  ARPOP_REQUEST,
  ICMP_ECHO,
  ICMP_ECHOREPLY,
  TCPHDR_ACK,
  TCPHDR_FIN,
  TCPHDR_SYN,
  ETH_HLEN,
  isBroadcastMac,
  macEqual,
} from '../../lib/net/frame-defs.js';
import { buildArp, buildIcmpEcho, buildTcp, buildUdp } from '../../lib/net/frame-build.js';
import type { Ipv4Params } from '../../lib/net/frame-build.js';
import { parseFrame } from '../../lib/net/frame-parse.js';
import type { ParsedFrame, TcpInfo } from '../../lib/net/frame-parse.js';
import type { NetAttachment, NetReceiver } from './port.js';

export const UDP_ECHO_PORT = 7;
export const TCP_DISCARD_PORT = 9;

export interface NetResponderOptions {
  readonly mac: Uint8Array;
  readonly ip: number;
  /** Accept only frames tagged with this VLAN id and tag replies; default: untagged only. */
  readonly vlan?: number;
  /** TTL of what it sends, default 64. */
  readonly ttl?: number;
  /** Answer each segment to the discard port with an ACK (a SYN with a SYN-ACK); default false. */
  readonly tcpAck?: boolean;
  /** Keep the bytes each discard flow received, for data(); default false (counts only). */
  readonly keepTcpData?: boolean;
}

export interface ResponderCounters {
  /** Every frame the link delivered. */
  frames: number;
  /** Another MAC, VLAN or IP address. */
  notForUs: number;
  malformed: number;
  /** Dropped for a wrong IP, ICMP, UDP or TCP checksum. */
  badChecksum: number;
  arpRequests: number;
  arpReplies: number;
  echoRequests: number;
  echoReplies: number;
  udp: number;
  udpEchoed: number;
  tcp: number;
  /** Other protocols, closed ports, fragments, ICMP other than echo. */
  unhandled: number;
  /** Frames it transmitted. */
  sent: number;
}

/**
 * One TCP sender's stream into the discard port. In-order bytes are accepted; a segment starting
 * beyond nextSeq is a gap (counted, then accepted and tracking resynchronises); one starting
 * before it is a duplicate (counted; any new tail accepted).
 */
export class TcpDiscardFlow {
  /** First sequence number of data (after the SYN, if one was seen). */
  readonly startSeq: number;
  nextSeq: number;
  /** Stream bytes accepted. */
  bytes = 0;
  segments = 0;
  gaps = 0;
  duplicates = 0;
  finSeen = false;
  private readonly chunks: Uint8Array[] | undefined;

  constructor(
    readonly srcIp: number,
    readonly srcPort: number,
    startSeq: number,
    keepData: boolean,
  ) {
    this.startSeq = startSeq;
    this.nextSeq = startSeq;
    this.chunks = keepData ? [] : undefined;
  }

  /** The stream received (requires keepTcpData). */
  data(): Uint8Array {
    if (this.chunks === undefined) throw new ConfigError('responder: keepTcpData is off');
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }

  /** Takes a segment with sequence number `seq`, payload `data`. */
  accept(seq: number, data: Uint8Array, fin: boolean): void {
    this.segments++;
    const behind = seqDiff(this.nextSeq, seq); // > 0: starts before nextSeq
    let fresh = data;
    if (behind < 0) this.gaps++;
    else if (behind > 0) {
      this.duplicates++;
      fresh = data.subarray(Math.min(behind, data.length));
    }
    if (behind <= 0 || fresh.length > 0) this.nextSeq = (seq + data.length) >>> 0;
    this.bytes += fresh.length;
    if (fresh.length > 0) this.chunks?.push(fresh.slice());
    if (fin && !this.finSeen) {
      this.finSeen = true;
      this.nextSeq = (this.nextSeq + 1) >>> 0; // FIN takes one sequence number (RFC 9293 3.4)
    }
  }
}

/** a - b in sequence space (RFC 9293 section 3.4: arithmetic modulo 2^32). */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export class NetResponder implements NetReceiver {
  readonly mac: Uint8Array;
  readonly ip: number;
  readonly counters: ResponderCounters = {
    frames: 0,
    notForUs: 0,
    malformed: 0,
    badChecksum: 0,
    arpRequests: 0,
    arpReplies: 0,
    echoRequests: 0,
    echoReplies: 0,
    udp: 0,
    udpEchoed: 0,
    tcp: 0,
    unhandled: 0,
    sent: 0,
  };
  private readonly flows = new Map<string, TcpDiscardFlow>();
  private readonly listeners: ((p: ParsedFrame, frame: Uint8Array) => void)[] = [];
  private port: NetAttachment | undefined;
  private nextIpId = 1;

  constructor(private readonly opts: NetResponderOptions) {
    this.mac = opts.mac.slice();
    this.ip = opts.ip;
  }

  /** Attaches to a link (or anything handing out NetAttachments). */
  connect(link: { attach(r: NetReceiver): NetAttachment }): void {
    if (this.port !== undefined) throw new ConfigError('responder: already connected');
    this.port = link.attach(this);
  }

  /** Calls `fn` for every frame addressed to it that passed the checks, before it answers. */
  onFrame(fn: (p: ParsedFrame, frame: Uint8Array) => void): void {
    this.listeners.push(fn);
  }

  /** The discard-port flow from srcIp:srcPort, if any segment arrived. */
  tcpFlow(srcIp: number, srcPort: number): TcpDiscardFlow | undefined {
    return this.flows.get(`${srcIp}:${srcPort}`);
  }

  get tcpFlows(): readonly TcpDiscardFlow[] {
    return [...this.flows.values()];
  }

  /** Sends a raw frame; returns when its last bit leaves. */
  sendFrame(frame: Uint8Array): number {
    if (this.port === undefined) throw new ConfigError('responder: not connected to a link');
    this.counters.sent++;
    return this.port.transmit(frame);
  }

  sendUdp(
    dstMac: Uint8Array,
    dstIp: number,
    srcPort: number,
    dstPort: number,
    payload: Uint8Array,
  ): number {
    return this.sendFrame(buildUdp({ ...this.ipParams(dstMac, dstIp), srcPort, dstPort, payload }));
  }

  /** An ICMP echo request; the reply is counted in counters.echoReplies. */
  ping(
    dstMac: Uint8Array,
    dstIp: number,
    echoId: number,
    echoSeq: number,
    payload?: Uint8Array,
  ): number {
    const p = { ...this.ipParams(dstMac, dstIp), type: ICMP_ECHO, echoId, echoSeq };
    return this.sendFrame(buildIcmpEcho(payload === undefined ? p : { ...p, payload }));
  }

  /** Broadcasts "who has targetIp". */
  arpRequest(targetIp: number): number {
    const vlan = this.vlanParams();
    const base = { op: ARPOP_REQUEST, senderMac: this.mac, senderIp: this.ip, targetIp };
    return this.sendFrame(buildArp(vlan === undefined ? base : { ...base, vlan }));
  }

  receive(frame: Uint8Array): void {
    this.counters.frames++;
    const p = parseFrame(frame);
    if (p.length < ETH_HLEN) {
      this.counters.malformed++;
      return;
    }
    if (!this.forUs(p)) {
      this.counters.notForUs++;
      return;
    }
    if (p.malformed !== undefined) {
      this.counters.malformed++;
      return;
    }
    // RFC 1122 3.2.1.2 and 4.1.3.4 / 4.2.2.7: a datagram with a bad checksum is silently dropped.
    if (p.badChecksums.length > 0) {
      this.counters.badChecksum++;
      return;
    }
    for (const fn of this.listeners) fn(p, frame);
    this.dispatch(p, frame);
  }

  private forUs(p: ParsedFrame): boolean {
    if (!macEqual(p.dst, this.mac) && !isBroadcastMac(p.dst)) return false;
    if (p.vlan?.vid !== this.opts.vlan) return false;
    if (p.arp !== undefined) return true;
    return p.ip === undefined || p.ip.dstIp === this.ip;
  }

  private dispatch(p: ParsedFrame, frame: Uint8Array): void {
    const payload = frame.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength);
    if (p.arp !== undefined) this.onArp(p);
    else if (p.ip === undefined || p.ip.mf || p.ip.fragmentOffset !== 0) this.counters.unhandled++;
    else if (p.icmp !== undefined) this.onIcmp(p, payload);
    else if (p.udp !== undefined) this.onUdp(p, payload);
    else if (p.tcp !== undefined) this.onTcp(p, p.tcp, payload);
    else this.counters.unhandled++;
  }

  private onArp(p: ParsedFrame): void {
    const a = p.arp;
    if (a === undefined) return;
    if (a.op === ARPOP_REPLY) this.counters.arpReplies++;
    if (a.op !== ARPOP_REQUEST) return;
    this.counters.arpRequests++;
    if (a.targetIp !== this.ip) return;
    const vlan = this.vlanParams();
    const reply = {
      op: ARPOP_REPLY,
      senderMac: this.mac,
      senderIp: this.ip,
      targetMac: a.senderMac,
      targetIp: a.senderIp,
      dst: p.src,
    };
    this.sendFrame(buildArp(vlan === undefined ? reply : { ...reply, vlan }));
  }

  private onIcmp(p: ParsedFrame, payload: Uint8Array): void {
    const icmp = p.icmp;
    const ip = p.ip;
    if (icmp === undefined || ip === undefined) return;
    if (icmp.type === ICMP_ECHOREPLY) {
      this.counters.echoReplies++;
      return;
    }
    if (icmp.type !== ICMP_ECHO || icmp.code !== 0) {
      this.counters.unhandled++;
      return;
    }
    this.counters.echoRequests++;
    // RFC 792: the reply returns identifier, sequence number and data unchanged.
    const r = { ...this.ipParams(p.src, ip.srcIp), type: ICMP_ECHOREPLY, payload };
    this.sendFrame(buildIcmpEcho({ ...r, echoId: icmp.echoId, echoSeq: icmp.echoSeq }));
  }

  private onUdp(p: ParsedFrame, payload: Uint8Array): void {
    const udp = p.udp;
    const ip = p.ip;
    if (udp === undefined || ip === undefined) return;
    this.counters.udp++;
    if (udp.dstPort !== UDP_ECHO_PORT) {
      this.counters.unhandled++;
      return;
    }
    this.counters.udpEchoed++;
    this.sendUdp(p.src, ip.srcIp, UDP_ECHO_PORT, udp.srcPort, payload);
  }

  private onTcp(p: ParsedFrame, tcp: TcpInfo, payload: Uint8Array): void {
    const ip = p.ip;
    if (ip === undefined) return;
    this.counters.tcp++;
    if (tcp.dstPort !== TCP_DISCARD_PORT) {
      this.counters.unhandled++;
      return;
    }
    const key = `${ip.srcIp}:${tcp.srcPort}`;
    const syn = (tcp.flags & TCPHDR_SYN) !== 0;
    let flow = this.flows.get(key);
    // A SYN starts a new connection; a flow first seen mid-stream starts where it was found.
    if (flow === undefined || syn) {
      const start = syn ? (tcp.seq + 1) >>> 0 : tcp.seq;
      flow = new TcpDiscardFlow(ip.srcIp, tcp.srcPort, start, this.opts.keepTcpData === true);
      this.flows.set(key, flow);
    }
    flow.accept(syn ? (tcp.seq + 1) >>> 0 : tcp.seq, payload, (tcp.flags & TCPHDR_FIN) !== 0);
    if (this.opts.tcpAck === true) this.ackTcp(p, tcp, flow, syn);
  }

  /** A pure ACK for everything received so far; our own sequence space starts at 0. */
  private ackTcp(p: ParsedFrame, tcp: TcpInfo, flow: TcpDiscardFlow, syn: boolean): void {
    const ip = p.ip;
    if (ip === undefined) return;
    const seg = {
      ...this.ipParams(p.src, ip.srcIp),
      srcPort: TCP_DISCARD_PORT,
      dstPort: tcp.srcPort,
      seq: syn ? 0 : 1,
      ack: flow.nextSeq,
      flags: syn ? TCPHDR_SYN | TCPHDR_ACK : TCPHDR_ACK,
      payload: new Uint8Array(0),
    };
    this.sendFrame(buildTcp(seg));
  }

  private vlanParams(): { vid: number } | undefined {
    return this.opts.vlan === undefined ? undefined : { vid: this.opts.vlan };
  }

  private ipParams(dstMac: Uint8Array, dstIp: number): Ipv4Params {
    const id = this.nextIpId;
    this.nextIpId = (id + 1) & 0xffff;
    const base = {
      dst: dstMac,
      src: this.mac,
      srcIp: this.ip,
      dstIp,
      id,
      ttl: this.opts.ttl ?? 64,
    };
    const vlan = this.vlanParams();
    return vlan === undefined ? base : { ...base, vlan };
  }
}
