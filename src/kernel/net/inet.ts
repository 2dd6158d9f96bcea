/**
 * A small IPv4 host on one net_device, enough for the workloads a NIC driver is exercised with:
 * ARP (RFC 826: resolve, answer, cache), ICMP echo (RFC 792: ping and answer), UDP datagrams, and
 * TCP segments sent with checksum offload and TSO the way the kernel's TCP hands them to a
 * driver (CHECKSUM_PARTIAL with the pseudo-header sum in the checksum field, gso_size = MSS).
 * Frames the host sends are built in kernel memory (skbs) and queued to the device; frames it
 * receives are parsed from the skb's bytes, so the data is what the DMA left in memory.
 * MODEL: no routing, fragmentation, sockets or TCP state; ARP requests are answered at once.
 */
import { buildArp, buildIcmpEcho, buildTcp, buildUdp } from '../../lib/net/frame-build.js';
import type { Ipv4Params } from '../../lib/net/frame-build.js';
import {
  ARPOP_REPLY,
  ARPOP_REQUEST,
  ETH_HLEN,
  ETH_P_IP,
  ICMP_ECHO,
  ICMP_ECHOREPLY,
  TCPHDR_ACK,
  TCPHDR_PSH,
} from '../../lib/net/frame-defs.js';
import { parseFrame } from '../../lib/net/frame-parse.js';
import type { Ipv4Info, ParsedFrame } from '../../lib/net/frame-parse.js';
import type { NetDevice } from './netdevice.js';
import type { SkbAlloc } from './skb-alloc.js';
import { IpSummed } from './skbuff.js';

/** What the host received, by kind. */
export interface InetCounters {
  arpRequests: number;
  arpReplies: number;
  echoRequests: number;
  echoReplies: number;
  udp: number;
  tcp: number;
  /** Frames with a bad IP/L4 checksum or that do not parse (dropped). */
  bad: number;
  /** Frames for another host or protocol (dropped). */
  other: number;
}

/** An echo reply or UDP datagram the host got, for the workload to check. */
export interface InetReceived {
  readonly kind: 'echo-reply' | 'udp' | 'tcp';
  readonly srcIp: number;
  readonly id: number;
  readonly seq: number;
  readonly payload: Uint8Array;
}

export interface TcpSend {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly payload: Uint8Array;
  /** TSO: segment payload size (0 or absent: one segment, no GSO). */
  readonly mss?: number;
  /** Bytes of the frame in the skb's linear part; the rest go in page fragments. */
  readonly linear?: number;
}

/** Checksum offload and TSO of a TCP send (CHECKSUM_PARTIAL). */
interface Offload {
  readonly csumOffset: number;
  readonly mss: number;
  readonly linear: number | undefined;
}

export class InetHost {
  readonly counters: InetCounters = {
    arpRequests: 0,
    arpReplies: 0,
    echoRequests: 0,
    echoReplies: 0,
    udp: 0,
    tcp: 0,
    bad: 0,
    other: 0,
  };
  readonly received: InetReceived[] = [];
  private readonly arp = new Map<number, Uint8Array>();
  /** Sends waiting for an ARP reply, by next-hop IP. */
  private readonly waiting = new Map<number, ((mac: Uint8Array) => void)[]>();
  private ipId = 0;

  constructor(
    readonly dev: NetDevice,
    private readonly skbs: SkbAlloc,
    readonly ip: number,
  ) {
    dev.rx = (skb) => {
      const bytes = skbs.read(skb);
      skbs.kfreeSkb(skb);
      this.input(bytes);
    };
    dev.free = (skb) => {
      skbs.kfreeSkb(skb);
    };
  }

  /** Sends an ICMP echo request with `size` bytes of payload. */
  ping(dstIp: number, size: number, id: number, seq: number): void {
    const payload = pattern(size, seq);
    this.send(dstIp, (mac) =>
      buildIcmpEcho({ ...this.ipParams(mac, dstIp), echoId: id, echoSeq: seq, payload }),
    );
  }

  sendUdp(dstIp: number, srcPort: number, dstPort: number, payload: Uint8Array): void {
    this.send(dstIp, (mac) =>
      buildUdp({ ...this.ipParams(mac, dstIp), srcPort, dstPort, payload }),
    );
  }

  /** A TCP segment (or, with `mss`, a TSO super-segment) with the checksum left to the NIC. */
  sendTcp(dstIp: number, t: TcpSend): void {
    this.send(
      dstIp,
      (mac) =>
        buildTcp({
          ...this.ipParams(mac, dstIp),
          df: true,
          srcPort: t.srcPort,
          dstPort: t.dstPort,
          seq: t.seq,
          ack: 1,
          flags: TCPHDR_ACK | TCPHDR_PSH,
          payload: t.payload,
          l4Checksum: 'pseudo',
        }),
      { csumOffset: 16, mss: t.mss ?? 0, linear: t.linear },
    );
  }

  /** The ARP cache entry of `ip`, if resolved. */
  neighbour(ip: number): Uint8Array | undefined {
    return this.arp.get(ip);
  }

  private ipParams(dst: Uint8Array, dstIp: number): Ipv4Params {
    return {
      dst,
      src: this.dev.devAddr,
      srcIp: this.ip,
      dstIp,
      id: this.ipId++ & 0xffff,
      pad: false,
    };
  }

  /** Builds the frame once the next hop's MAC is known (ARP first if it is not). */
  private send(dstIp: number, build: (mac: Uint8Array) => Uint8Array, offload?: Offload): void {
    const xmit = (mac: Uint8Array): void => {
      this.xmit(build(mac), offload);
    };
    const mac = this.arp.get(dstIp);
    if (mac !== undefined) {
      xmit(mac);
      return;
    }
    const q = this.waiting.get(dstIp);
    if (q !== undefined) {
      q.push(xmit);
      return;
    }
    this.waiting.set(dstIp, [xmit]);
    const { devAddr } = this.dev;
    this.xmit(
      buildArp({
        op: ARPOP_REQUEST,
        senderMac: devAddr,
        senderIp: this.ip,
        targetIp: dstIp,
        pad: false,
      }),
    );
  }

  private xmit(frame: Uint8Array, offload?: Offload): void {
    const skb = this.skbs.fromBytes(frame, offload?.linear ?? frame.length);
    if (skb === null) {
      this.dev.stats.txDropped++;
      return;
    }
    if (offload !== undefined) {
      const ihl = ((frame[ETH_HLEN] ?? 0x45) & 0xf) * 4;
      skb.ipSummed = IpSummed.CHECKSUM_PARTIAL;
      skb.csumStart = ETH_HLEN + ihl;
      skb.csumOffset = offload.csumOffset;
      if (offload.mss > 0) {
        const hdr = ETH_HLEN + ihl + (((frame[ETH_HLEN + ihl + 12] ?? 0x50) >> 4) & 0xf) * 4;
        skb.gsoSize = offload.mss;
        skb.gsoSegs = Math.max(1, Math.ceil((frame.length - hdr) / offload.mss));
      }
    }
    skb.protocol = ETH_P_IP;
    this.dev.queueXmit(skb);
  }

  private input(bytes: Uint8Array): void {
    const f = parseFrame(bytes);
    if (f.malformed !== undefined || f.badChecksums.length > 0) {
      this.counters.bad++;
      return;
    }
    if (f.arp !== undefined) this.inputArp(f);
    else if (f.ip !== undefined && f.ip.dstIp === this.ip) this.inputIp(f, f.ip, bytes);
    else this.counters.other++;
  }

  private inputArp(f: ParsedFrame): void {
    const a = f.arp;
    if (a === undefined) return;
    if (a.targetIp !== this.ip) {
      this.counters.other++;
      return;
    }
    this.arp.set(a.senderIp, a.senderMac);
    for (const fn of this.waiting.get(a.senderIp) ?? []) fn(a.senderMac);
    this.waiting.delete(a.senderIp);
    if (a.op === ARPOP_REPLY) {
      this.counters.arpReplies++;
      return;
    }
    this.counters.arpRequests++;
    this.xmit(
      buildArp({
        op: ARPOP_REPLY,
        senderMac: this.dev.devAddr,
        senderIp: this.ip,
        targetMac: a.senderMac,
        targetIp: a.senderIp,
        pad: false,
      }),
    );
  }

  private inputIp(f: ParsedFrame, ip: Ipv4Info, bytes: Uint8Array): void {
    const payload = bytes.slice(f.payloadOffset, f.payloadOffset + f.payloadLength);
    const icmp = f.icmp;
    if (icmp?.type === ICMP_ECHO) {
      this.counters.echoRequests++;
      this.send(ip.srcIp, (mac) =>
        buildIcmpEcho({
          ...this.ipParams(mac, ip.srcIp),
          type: ICMP_ECHOREPLY,
          echoId: icmp.echoId,
          echoSeq: icmp.echoSeq,
          payload,
        }),
      );
    } else if (f.icmp?.type === ICMP_ECHOREPLY) {
      this.counters.echoReplies++;
      this.received.push({
        kind: 'echo-reply',
        srcIp: ip.srcIp,
        id: f.icmp.echoId,
        seq: f.icmp.echoSeq,
        payload,
      });
    } else if (f.udp !== undefined) {
      this.counters.udp++;
      this.received.push({
        kind: 'udp',
        srcIp: ip.srcIp,
        id: f.udp.srcPort,
        seq: f.udp.dstPort,
        payload,
      });
    } else if (f.tcp !== undefined) {
      this.counters.tcp++;
      this.received.push({
        kind: 'tcp',
        srcIp: ip.srcIp,
        id: f.tcp.srcPort,
        seq: f.tcp.seq,
        payload,
      });
    } else this.counters.other++;
  }
}

/** Echo payload bytes as ping(8) fills them: a counting pattern, here offset by the sequence. */
export function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i + seed) & 0xff;
  return out;
}
