/**
 * What the e1000 puts on the wire, judged by Wireshark's own dissectors (issue 6, "The wire and
 * the peer"): ping, UDP echo, a TCP segment with checksum offload and a TSO send cut into MSS
 * segments by the device model all decode with no malformed frame and correct IP/ICMP/UDP/TCP
 * checksums; the peer receives the TSO stream whole and in order. A capture fed back in as
 * received traffic is answered by the host.
 */
import { describe, expect, it } from 'vitest';
import { PcapCollector } from '../../../src/lib/net/pcap.js';
import { buildArp, buildIcmpEcho } from '../../../src/lib/net/frame-build.js';
import { ARPOP_REQUEST, parseIp, parseMac } from '../../../src/lib/net/frame-defs.js';
import { replayPcap } from '../../../src/devices/net/pcap-replay.js';
import { MIB } from '../../../src/lib/units.js';
import { e1000Net, HOST_IP, HOST_MAC, PEER_IP } from '../../../src/scenarios/e1000-net.js';
import { tsharkDecode, tsharkProblems, tsharkSkipped } from '../../devices/net/tshark.js';

const PEER = parseIp(PEER_IP);
const MSS = 1448;

function capture(arch: 'x86_64' | 'arm64'): {
  pcap: PcapCollector;
  n: ReturnType<typeof e1000Net>;
} {
  const n = e1000Net({ machine: { arch, ramSize: 256 * MIB }, peerKeepsTcpData: true });
  const pcap = new PcapCollector();
  n.link.capture((t, frame) => {
    pcap.write(t, frame);
  });
  n.k.machine.clock.run(n.k.machine.clock.now + 5e6);
  return { pcap, n };
}

function stream(len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (i * 7 + (i >> 8)) & 0xff;
  return out;
}

describe.skipIf(tsharkSkipped())('the e1000 on the wire, decoded by tshark', () => {
  it.each(['x86_64', 'arm64'] as const)(
    'ping, UDP echo, checksum offload and TSO are well formed (%s)',
    (arch) => {
      const { pcap, n } = capture(arch);
      const run = (): void => {
        n.k.machine.clock.run(n.k.machine.clock.now + 10e6);
      };
      n.host.ping(PEER, 56, 1, 1);
      run();
      n.host.ping(PEER, 1400, 1, 2);
      run();
      n.host.sendUdp(PEER, 40000, 7, stream(512));
      run();
      // One segment with the checksum left to the NIC, then 20000 bytes as one TSO send whose
      // payload sits mostly in page fragments (mapped with dma_map_page).
      n.host.sendTcp(PEER, { srcPort: 40001, dstPort: 9, seq: 1000, payload: stream(300) });
      run();
      const big = stream(20000);
      n.host.sendTcp(PEER, {
        srcPort: 40002,
        dstPort: 9,
        seq: 5000,
        payload: big,
        mss: MSS,
        linear: 54 + 1000,
      });
      run();
      expect(n.host.counters.echoReplies).toBe(2);
      expect(n.host.counters.udp).toBe(1);
      const flow = n.peer.tcpFlow(parseIp(HOST_IP), 40002);
      expect(flow).toMatchObject({
        bytes: 20000,
        segments: Math.ceil(20000 / MSS),
        gaps: 0,
        duplicates: 0,
      });
      expect(flow?.data()).toEqual(big);

      const frames = tsharkDecode(pcap.bytes(), { fields: ['tcp.len', 'tcp.srcport'] });
      expect(frames.flatMap(tsharkProblems)).toEqual([]);
      const tso = frames.filter((f) => f.fields['tcp.srcport']?.[0] === '40002');
      expect(tso.map((f) => Number(f.fields['tcp.len']?.[0]))).toEqual([
        ...new Array<number>(13).fill(MSS),
        20000 - 13 * MSS,
      ]);
      for (const f of tso) expect(f.checksums).toMatchObject({ ip: 'good', tcp: 'good' });
      expect(frames.filter((f) => f.protocols.includes('icmp'))).toHaveLength(4);
      expect(frames.filter((f) => f.protocols.includes('udp'))).toHaveLength(2);
      expect(frames.filter((f) => f.protocols.includes('arp'))).toHaveLength(2);
    },
  );

  it('a capture fed in as received traffic is answered', () => {
    const { pcap, n } = capture('x86_64');
    const src = parseMac('02:00:00:00:00:09');
    const srcIp = parseIp('10.0.2.9');
    const host = parseIp(HOST_IP);
    const input = new PcapCollector();
    input.write(
      0,
      buildArp({ op: ARPOP_REQUEST, senderMac: src, senderIp: srcIp, targetIp: host }),
    );
    for (let seq = 1; seq <= 5; seq++)
      input.write(
        seq * 1e6,
        buildIcmpEcho({
          dst: parseMac(HOST_MAC),
          src,
          srcIp,
          dstIp: host,
          echoId: 9,
          echoSeq: seq,
          payload: stream(64),
        }),
      );
    expect(
      replayPcap(input.bytes(), 'input.pcap', n.k.machine.clock, (f) => n.peer.sendFrame(f)),
    ).toBe(6);
    n.k.machine.clock.run(n.k.machine.clock.now + 20e6);
    expect(n.host.counters).toMatchObject({ arpRequests: 1, echoRequests: 5 });
    // The host's ARP reply and five echo replies went back out, well formed.
    const frames = tsharkDecode(pcap.bytes());
    expect(frames.flatMap(tsharkProblems)).toEqual([]);
    expect(frames).toHaveLength(12);
    expect(() =>
      replayPcap(new Uint8Array(10), 'bad.pcap', n.k.machine.clock, () => undefined),
    ).toThrow(/^bad\.pcap: /);
  });
});
