import { describe, expect, it } from 'vitest';
import {
  ARPOP_REPLY,
  ARPOP_REQUEST,
  ICMP_ECHO,
  ICMP_ECHOREPLY,
  TCPHDR_ACK,
  TCPHDR_FIN,
  TCPHDR_SYN,
  broadcastMac,
  buildArp,
  buildIcmpEcho,
  buildTcp,
  buildUdp,
  formatIp,
  parseFrame,
  parseIp,
  parseMac,
} from '../../../src/lib/net/frame.js';
import type { ParsedFrame } from '../../../src/lib/net/frame.js';
import { Link } from '../../../src/devices/net/link.js';
import type { NetAttachment } from '../../../src/devices/net/port.js';
import { NetResponder } from '../../../src/devices/net/responder.js';
import type { NetResponderOptions } from '../../../src/devices/net/responder.js';
import { Clock } from '../../../src/machine/clock/clock.js';

const HOST_MAC = parseMac('52:54:00:12:34:56');
const HOST_IP = parseIp('10.0.2.15');
const PEER_MAC = parseMac('52:55:0a:00:02:02');
const PEER_IP = parseIp('10.0.2.2');
const toPeer = { dst: PEER_MAC, src: HOST_MAC, srcIp: HOST_IP, dstIp: PEER_IP };

interface Rig {
  clock: Clock;
  link: Link;
  peer: NetResponder;
  host: NetAttachment;
  /** What the host side received, parsed, with arrival times. */
  got: { t: number; p: ParsedFrame; frame: Uint8Array }[];
  /** Sends from the host and runs the clock until everything settled. */
  send(frame: Uint8Array): void;
}

function rig(opts: Partial<NetResponderOptions> = {}): Rig {
  const clock = new Clock();
  const link = new Link(clock);
  const got: Rig['got'] = [];
  const host = link.attach({
    receive: (frame) => got.push({ t: clock.now, p: parseFrame(frame), frame }),
  });
  const peer = new NetResponder({ mac: PEER_MAC, ip: PEER_IP, ...opts });
  peer.connect(link);
  return {
    clock,
    link,
    peer,
    host,
    got,
    send(frame) {
      host.transmit(frame);
      clock.run();
    },
  };
}

const payloadOf = (g: { p: ParsedFrame; frame: Uint8Array }): Uint8Array =>
  g.frame.subarray(g.p.payloadOffset, g.p.payloadOffset + g.p.payloadLength);

describe('NetResponder', () => {
  it('answers an ARP request for its address and only that', () => {
    const r = rig();
    r.send(
      buildArp({ op: ARPOP_REQUEST, senderMac: HOST_MAC, senderIp: HOST_IP, targetIp: PEER_IP }),
    );
    r.send(
      buildArp({
        op: ARPOP_REQUEST,
        senderMac: HOST_MAC,
        senderIp: HOST_IP,
        targetIp: PEER_IP + 1,
      }),
    );
    expect(r.got.length).toBe(1);
    const reply = r.got[0]!.p;
    expect(reply.dst).toEqual(HOST_MAC);
    expect(reply.src).toEqual(PEER_MAC);
    expect(reply.arp).toEqual({
      op: ARPOP_REPLY,
      senderMac: PEER_MAC,
      senderIp: PEER_IP,
      targetMac: HOST_MAC,
      targetIp: HOST_IP,
    });
    expect(reply.length).toBe(60);
    expect(r.peer.counters).toMatchObject({ frames: 2, arpRequests: 2, sent: 1 });
  });

  it('answers ping with the same id, sequence and data, right after the request arrives', () => {
    const r = rig();
    const data = Uint8Array.from({ length: 56 }, (_, i) => i);
    r.send(buildIcmpEcho({ ...toPeer, echoId: 0x4242, echoSeq: 7, payload: data }));
    expect(r.got.length).toBe(1);
    const g = r.got[0]!;
    expect(g.p.icmp).toMatchObject({
      type: ICMP_ECHOREPLY,
      code: 0,
      echoId: 0x4242,
      echoSeq: 7,
      checksumStatus: 'good',
    });
    expect(g.p.ip).toMatchObject({
      srcIp: PEER_IP,
      dstIp: HOST_IP,
      ttl: 64,
      checksumStatus: 'good',
    });
    expect(g.p.dst).toEqual(HOST_MAC);
    expect(payloadOf(g)).toEqual(data);
    // 98-byte frames: (8 + 98 + 4) * 8 = 880 ns each way, the reply sent on arrival.
    expect(g.t).toBe(2 * 880);
    expect(r.peer.counters.echoRequests).toBe(1);
  });

  it('echoes UDP on port 7 to the source port, and ignores other ports', () => {
    const r = rig();
    const data = new TextEncoder().encode('RFC 862');
    r.send(buildUdp({ ...toPeer, srcPort: 40001, dstPort: 7, payload: data }));
    r.send(buildUdp({ ...toPeer, srcPort: 40001, dstPort: 8, payload: data }));
    r.send(buildUdp({ ...toPeer, srcPort: 40001, dstPort: 7, payload: data, l4Checksum: 'zero' }));
    expect(r.got.map((g) => [g.p.udp?.srcPort, g.p.udp?.dstPort, g.p.udp?.checksumStatus])).toEqual(
      [
        [7, 40001, 'good'],
        [7, 40001, 'good'],
      ],
    );
    expect(payloadOf(r.got[0]!)).toEqual(data);
    expect(r.peer.counters).toMatchObject({ udp: 3, udpEchoed: 2, unhandled: 1 });
  });

  it('drops and counts frames with a bad IP, ICMP, UDP or TCP checksum', () => {
    const r = rig();
    const frames = [
      buildIcmpEcho({ ...toPeer, echoId: 1, echoSeq: 1, ipChecksum: false }),
      buildIcmpEcho({ ...toPeer, echoId: 1, echoSeq: 1, icmpChecksum: false }),
      buildUdp({
        ...toPeer,
        srcPort: 1,
        dstPort: 7,
        payload: new Uint8Array(4),
        l4Checksum: 'pseudo',
      }),
      buildTcp({
        ...toPeer,
        srcPort: 1,
        dstPort: 9,
        seq: 1,
        flags: TCPHDR_SYN,
        l4Checksum: 'zero',
      }),
    ];
    for (const f of frames) r.send(f);
    expect(r.got).toEqual([]);
    expect(r.peer.counters).toMatchObject({
      frames: 4,
      badChecksum: 4,
      echoRequests: 0,
      udp: 0,
      tcp: 0,
    });
    expect(r.peer.tcpFlows).toEqual([]);
  });

  it('ignores frames for other MACs, IPs or VLANs, and counts malformed ones', () => {
    const r = rig();
    r.send(buildIcmpEcho({ ...toPeer, dst: HOST_MAC, echoId: 1, echoSeq: 1 }));
    r.send(buildIcmpEcho({ ...toPeer, dstIp: PEER_IP + 1, echoId: 1, echoSeq: 1 }));
    r.send(buildIcmpEcho({ ...toPeer, vlan: { vid: 5 }, echoId: 1, echoSeq: 1 }));
    r.send(
      buildUdp({ ...toPeer, srcPort: 1, dstPort: 7, payload: new Uint8Array(40) }).slice(0, 50),
    );
    r.send(new Uint8Array(8));
    expect(r.got).toEqual([]);
    expect(r.peer.counters).toMatchObject({ frames: 5, notForUs: 3, malformed: 2 });
  });

  it('on a VLAN, answers tagged frames with the same tag', () => {
    const r = rig({ vlan: 100 });
    r.send(buildIcmpEcho({ ...toPeer, vlan: { vid: 100 }, echoId: 1, echoSeq: 1 }));
    r.send(buildIcmpEcho({ ...toPeer, echoId: 1, echoSeq: 2 }));
    r.send(
      buildArp({
        op: ARPOP_REQUEST,
        senderMac: HOST_MAC,
        senderIp: HOST_IP,
        targetIp: PEER_IP,
        vlan: { vid: 100 },
      }),
    );
    expect(r.got.map((g) => [g.p.vlan?.vid, g.p.icmp?.echoSeq ?? g.p.arp?.op])).toEqual([
      [100, 1],
      [100, ARPOP_REPLY],
    ]);
    expect(r.peer.counters.notForUs).toBe(1);
  });

  it('sinks TCP on port 9 and checks the stream is in sequence, across the 2^32 wrap', () => {
    const r = rig({ keepTcpData: true });
    const seg = (seq: number, data: number[], flags = TCPHDR_ACK): Uint8Array =>
      buildTcp({
        ...toPeer,
        srcPort: 33000,
        dstPort: 9,
        seq: seq >>> 0,
        flags,
        payload: Uint8Array.from(data),
      });
    const isn = 0xfffffffc;
    r.send(seg(isn, [], TCPHDR_SYN));
    r.send(seg(isn + 1, [1, 2, 3]));
    r.send(seg(isn + 4, [4, 5, 6, 7]));
    r.send(seg(isn + 8, [8], TCPHDR_ACK | TCPHDR_FIN));
    expect(r.got).toEqual([]); // silent by default
    const flow = r.peer.tcpFlow(HOST_IP, 33000)!;
    expect(flow).toMatchObject({
      startSeq: 0xfffffffd,
      nextSeq: 6,
      bytes: 8,
      segments: 4,
      gaps: 0,
      duplicates: 0,
      finSeen: true,
    });
    expect(flow.data()).toEqual(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    expect(formatIp(flow.srcIp)).toBe('10.0.2.15');
  });

  it('counts gaps and duplicates, and starts a flow first seen mid-stream where it is found', () => {
    const r = rig({ keepTcpData: true });
    const seg = (seq: number, n: number, v: number): Uint8Array =>
      buildTcp({
        ...toPeer,
        srcPort: 5000,
        dstPort: 9,
        seq,
        flags: TCPHDR_ACK,
        payload: new Uint8Array(n).fill(v),
      });
    r.send(seg(1000, 10, 1));
    r.send(seg(1020, 10, 3)); // 1010..1020 lost
    r.send(seg(1025, 10, 4)); // overlaps 5 bytes: 5 new
    r.send(seg(1000, 10, 1)); // a retransmission: nothing new
    const flow = r.peer.tcpFlow(HOST_IP, 5000)!;
    expect(flow).toMatchObject({
      startSeq: 1000,
      nextSeq: 1035,
      bytes: 25,
      segments: 4,
      gaps: 1,
      duplicates: 2,
    });
    expect(flow.data()).toEqual(
      Uint8Array.of(...Array<number>(10).fill(1), ...Array<number>(10).fill(3), 4, 4, 4, 4, 4),
    );
    expect(r.peer.counters.tcp).toBe(4);
  });

  it('with tcpAck, answers a SYN with SYN-ACK and data with ACKs of nextSeq', () => {
    const r = rig({ tcpAck: true });
    r.send(buildTcp({ ...toPeer, srcPort: 2000, dstPort: 9, seq: 99, flags: TCPHDR_SYN }));
    r.send(
      buildTcp({
        ...toPeer,
        srcPort: 2000,
        dstPort: 9,
        seq: 100,
        flags: TCPHDR_ACK,
        payload: new Uint8Array(1000),
      }),
    );
    r.send(buildTcp({ ...toPeer, srcPort: 2000, dstPort: 80, seq: 1, flags: TCPHDR_SYN }));
    expect(
      r.got.map((g) => [
        g.p.tcp?.flags,
        g.p.tcp?.ack,
        g.p.tcp?.srcPort,
        g.p.tcp?.dstPort,
        g.p.tcp?.checksumStatus,
      ]),
    ).toEqual([
      [TCPHDR_SYN | TCPHDR_ACK, 100, 9, 2000, 'good'],
      [TCPHDR_ACK, 1100, 9, 2000, 'good'],
    ]);
    expect(r.peer.counters).toMatchObject({ tcp: 3, unhandled: 1 });
  });

  it('originates pings, UDP datagrams and ARP requests for the receive path', () => {
    const r = rig();
    const t = r.peer.ping(HOST_MAC, HOST_IP, 9, 1, Uint8Array.of(1, 2));
    expect(t).toBe((8 + 60 + 4) * 8);
    r.peer.sendUdp(HOST_MAC, HOST_IP, 1234, 5678, new Uint8Array(100).fill(0x5a));
    r.peer.arpRequest(HOST_IP);
    r.clock.run();
    const [ping, udp, arp] = r.got;
    expect(ping?.p.icmp).toMatchObject({
      type: ICMP_ECHO,
      echoId: 9,
      echoSeq: 1,
      checksumStatus: 'good',
    });
    expect(ping?.p.ip?.id).toBe(1);
    expect(udp?.p.udp).toMatchObject({ srcPort: 1234, dstPort: 5678, checksumStatus: 'good' });
    expect(udp?.p.ip?.id).toBe(2);
    expect(payloadOf(udp!)).toEqual(new Uint8Array(100).fill(0x5a));
    expect(arp?.p.dst).toEqual(broadcastMac());
    expect(arp?.p.arp).toMatchObject({ op: ARPOP_REQUEST, senderIp: PEER_IP, targetIp: HOST_IP });
    // The host's answer to the ping is counted.
    r.send(
      buildIcmpEcho({
        ...toPeer,
        type: ICMP_ECHOREPLY,
        echoId: 9,
        echoSeq: 1,
        payload: Uint8Array.of(1, 2),
      }),
    );
    expect(r.peer.counters).toMatchObject({ echoReplies: 1, sent: 3 });
  });

  it('shows accepted frames to onFrame listeners', () => {
    const r = rig();
    const seen: string[] = [];
    r.peer.onFrame((p) =>
      seen.push(p.udp !== undefined ? 'udp' : p.arp !== undefined ? 'arp' : '?'),
    );
    r.send(buildUdp({ ...toPeer, srcPort: 1, dstPort: 4, payload: new Uint8Array(1) }));
    r.send(
      buildUdp({
        ...toPeer,
        srcPort: 1,
        dstPort: 4,
        payload: new Uint8Array(1),
        ipChecksum: false,
      }),
    );
    expect(seen).toEqual(['udp']);
  });

  it('must be connected once before it can send', () => {
    const p = new NetResponder({ mac: PEER_MAC, ip: PEER_IP });
    expect(() => p.arpRequest(HOST_IP)).toThrow('responder: not connected to a link');
    const link = new Link(new Clock());
    p.connect(link);
    expect(() => {
      p.connect(link);
    }).toThrow('responder: already connected');
    expect(() => new NetResponder({ mac: PEER_MAC, ip: PEER_IP }).tcpFlows).not.toThrow();
  });
});
