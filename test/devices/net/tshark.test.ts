import { describe, expect, it } from 'vitest';
import {
  ARPOP_REPLY,
  ARPOP_REQUEST,
  ICMP_ECHOREPLY,
  TCPHDR_ACK,
  TCPHDR_PSH,
  TCPHDR_SYN,
  buildArp,
  buildIcmpEcho,
  buildTcp,
  buildUdp,
  parseIp,
  parseMac,
} from '../../../src/lib/net/frame.js';
import { Link } from '../../../src/devices/net/link.js';
import { PcapCollector, toPcap } from '../../../src/lib/net/pcap.js';
import { NetResponder } from '../../../src/devices/net/responder.js';
import { Clock } from '../../../src/machine/clock/clock.js';
import {
  TSHARK_NOT_FOUND,
  requireTshark,
  tsharkDecode,
  tsharkProblems,
  tsharkSkipped,
} from './tshark.js';

const A = parseMac('52:54:00:12:34:56');
const B = parseMac('52:54:00:ab:cd:ef');
const base = { dst: B, src: A, srcIp: parseIp('10.0.2.15'), dstIp: parseIp('10.0.2.2') };
const bytes = (n: number, seed = 1): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => i * seed);

function capture(frames: Uint8Array[]): Uint8Array {
  return toPcap(frames.map((frame, i) => ({ timeNs: 1000 * i, frame })));
}

const TIMEOUT = 30_000;

describe('tshark harness', () => {
  it('fails, not skips, when tshark is missing', () => {
    const saved = process.env['TSHARK'];
    process.env['TSHARK'] = '/nonexistent/tshark';
    try {
      expect(() => requireTshark()).toThrow(TSHARK_NOT_FOUND);
      expect(TSHARK_NOT_FOUND).toMatch(/^tshark not found: install Debian's tshark/);
    } finally {
      if (saved === undefined) delete process.env['TSHARK'];
      else process.env['TSHARK'] = saved;
    }
  });
});

describe.skipIf(tsharkSkipped())('frames built by frame.ts, decoded by tshark', () => {
  it('tshark is installed', () => {
    expect(requireTshark()).toBeTruthy();
  });

  it(
    'decodes every protocol with good checksums and nothing malformed',
    () => {
      const frames = [
        buildArp({ op: ARPOP_REQUEST, senderMac: A, senderIp: base.srcIp, targetIp: base.dstIp }),
        buildArp({
          op: ARPOP_REPLY,
          senderMac: B,
          senderIp: base.dstIp,
          targetMac: A,
          targetIp: base.srcIp,
        }),
        buildIcmpEcho({ ...base, echoId: 0x1234, echoSeq: 1, payload: bytes(56) }),
        buildIcmpEcho({ ...base, type: ICMP_ECHOREPLY, echoId: 7, echoSeq: 9, df: true }),
        buildUdp({ ...base, srcPort: 40000, dstPort: 7, payload: bytes(1472, 3) }),
        buildUdp({ ...base, srcPort: 5, dstPort: 6, payload: bytes(1), vlan: { vid: 42, pcp: 5 } }),
        buildTcp({ ...base, srcPort: 33000, dstPort: 9, seq: 0xfffffff0, flags: TCPHDR_SYN }),
        buildTcp({
          ...base,
          srcPort: 33000,
          dstPort: 9,
          seq: 0xfffffff1,
          ack: 1,
          flags: TCPHDR_ACK | TCPHDR_PSH,
          // NOP, NOP, timestamps (RFC 7323 section 3).
          tcpOptions: Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2),
          payload: bytes(1448, 5),
        }),
        buildTcp({ ...base, srcPort: 1, dstPort: 2, seq: 3, flags: TCPHDR_ACK, payload: bytes(3) }),
        buildUdp({
          ...base,
          ipOptions: Uint8Array.of(1, 1, 1, 0),
          srcPort: 9,
          dstPort: 9,
          payload: bytes(9),
        }),
      ];
      const decoded = tsharkDecode(capture(frames), {
        fields: ['ip.src', 'udp.dstport', 'tcp.seq_raw', 'vlan.id', 'arp.opcode', 'icmp.seq'],
      });
      expect(decoded.map((f) => f.number)).toEqual(frames.map((_, i) => i + 1));
      expect(decoded.flatMap(tsharkProblems)).toEqual([]);
      const top = decoded.map((f) => f.protocols.filter((p) => p !== 'ethertype').slice(1, 3));
      expect(top).toEqual([
        ['arp'],
        ['arp'],
        ['ip', 'icmp'],
        ['ip', 'icmp'],
        ['ip', 'udp'],
        ['vlan', 'ip'],
        ['ip', 'tcp'],
        ['ip', 'tcp'],
        ['ip', 'tcp'],
        ['ip', 'udp'],
      ]);
      expect(decoded[0]?.fields['arp.opcode']).toEqual(['1']);
      expect(decoded[2]?.checksums).toEqual({ ip: 'good', icmp: 'good' });
      expect(decoded[4]?.checksums).toEqual({ ip: 'good', udp: 'good' });
      expect(decoded[5]?.fields['vlan.id']).toEqual(['42']);
      expect(decoded[7]?.fields['tcp.seq_raw']).toEqual([String(0xfffffff1)]);
      expect(decoded[7]?.checksums).toEqual({ ip: 'good', tcp: 'good' });
    },
    TIMEOUT,
  );

  it(
    'reports corrupted checksums and malformed frames, so the harness can fail',
    () => {
      const udp = buildUdp({ ...base, srcPort: 1, dstPort: 2, payload: bytes(20) });
      udp[udp.length - 1]! ^= 0x40; // a payload bit: only the UDP checksum breaks
      const ip = buildTcp({ ...base, srcPort: 1, dstPort: 2, seq: 1, flags: TCPHDR_ACK });
      ip[14 + 8]! -= 1; // the TTL: only the IP header checksum breaks
      const icmp = buildIcmpEcho({ ...base, echoId: 1, echoSeq: 1, icmpChecksum: false });
      const tcp = buildTcp({
        ...base,
        srcPort: 1,
        dstPort: 2,
        seq: 1,
        flags: 0,
        l4Checksum: 'pseudo',
      });
      const short = buildUdp({ ...base, srcPort: 1, dstPort: 2, payload: bytes(40) }).slice(0, 50);
      const decoded = tsharkDecode(capture([udp, ip, icmp, tcp, short]));
      expect(decoded.map((f) => f.checksums)).toEqual([
        { ip: 'good', udp: 'bad' },
        { ip: 'bad', tcp: 'good' },
        { ip: 'good', icmp: 'bad' },
        { ip: 'good', tcp: 'bad' },
        { ip: 'good', udp: 'unverified' },
      ]);
      expect(decoded.map((f) => f.malformed)).toEqual([false, false, false, false, true]);
      expect(tsharkProblems(decoded[0]!)).toContain('frame 1: udp checksum bad');
      expect(decoded[0]?.expert.map((e) => [e.severity, e.group])).toContainEqual([
        'error',
        'checksum',
      ]);
    },
    TIMEOUT,
  );

  it(
    'a responder conversation captured from the link decodes cleanly, with link timestamps',
    () => {
      const clock = new Clock();
      const link = new Link(clock);
      const pcap = new PcapCollector();
      link.capture((t, f) => {
        pcap.write(t, f);
      });
      const host = link.attach({ receive: () => undefined });
      const peer = new NetResponder({ mac: B, ip: base.dstIp, tcpAck: true });
      peer.connect(link);
      host.transmit(
        buildArp({ op: ARPOP_REQUEST, senderMac: A, senderIp: base.srcIp, targetIp: base.dstIp }),
      );
      host.transmit(buildIcmpEcho({ ...base, echoId: 1, echoSeq: 1, payload: bytes(56) }));
      host.transmit(buildUdp({ ...base, srcPort: 50000, dstPort: 7, payload: bytes(100) }));
      host.transmit(buildTcp({ ...base, srcPort: 50001, dstPort: 9, seq: 10, flags: TCPHDR_SYN }));
      clock.run();
      const decoded = tsharkDecode(pcap.bytes(), { fields: ['frame.time_epoch'] });
      expect(decoded.length).toBe(8);
      expect(decoded.flatMap(tsharkProblems)).toEqual([]);
      // The ARP request's last bit leaves at (8 + 60 + 4) * 8 = 576 ns.
      expect(decoded[0]?.fields['frame.time_epoch']).toEqual(['0.000000576']);
    },
    TIMEOUT,
  );
});
