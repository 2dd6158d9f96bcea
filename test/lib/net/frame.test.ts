import { describe, expect, it } from 'vitest';
import { foldSum } from '../../../src/lib/net/checksum.js';
import {
  ARPOP_REPLY,
  ARPOP_REQUEST,
  ETH_P_8021AD,
  ETH_P_IP,
  ETH_P_IPV6,
  ETH_ZLEN,
  ICMP_ECHO,
  ICMP_ECHOREPLY,
  IPPROTO_TCP,
  IPPROTO_UDP,
  TCPHDR_ACK,
  TCPHDR_FIN,
  TCPHDR_PSH,
  broadcastMac,
  buildArp,
  buildEthernet,
  buildIcmpEcho,
  buildIpv4,
  buildTcp,
  buildUdp,
  fillIpChecksum,
  fillL4Checksum,
  formatIp,
  formatMac,
  parseFrame,
  parseIp,
  parseMac,
  pseudoHeaderSum,
  verifyL4Checksum,
} from '../../../src/lib/net/frame.js';
import { ConfigError } from '../../../src/lib/errors.js';

const A = parseMac('52:54:00:12:34:56');
const B = parseMac('52:54:00:ab:cd:ef');
const IP_A = parseIp('10.0.0.1');
const IP_B = parseIp('10.0.0.2');
const base = { dst: B, src: A, srcIp: IP_A, dstIp: IP_B };

const hex = (s: string): Uint8Array =>
  Uint8Array.from(s.replace(/\s+/g, '').match(/../g) ?? [], (h) => parseInt(h, 16));
const u16 = (f: Uint8Array, o: number): number => (f[o]! << 8) | f[o + 1]!;

describe('addresses', () => {
  it('formats and parses MAC and IPv4 addresses', () => {
    expect(formatMac(A)).toBe('52:54:00:12:34:56');
    expect(formatMac(parseMac('AA-bb-0c-0D-e-F0'))).toBe('aa:bb:0c:0d:0e:f0');
    expect(parseIp('192.168.0.199')).toBe(0xc0a800c7);
    expect(formatIp(0xffffffff)).toBe('255.255.255.255');
    expect(formatIp(parseIp(' 10.0.2.15 '))).toBe('10.0.2.15');
  });

  it('rejects bad addresses with the text in the message', () => {
    expect(() => parseMac('52:54:00:12:34')).toThrow(/bad MAC address '52:54:00:12:34'/);
    expect(() => parseMac('52:54:00:12:34:5g')).toThrow(ConfigError);
    expect(() => parseIp('10.0.256.1')).toThrow(/bad IPv4 address '10.0.256.1'/);
    expect(() => parseIp('10.1')).toThrow(ConfigError);
    expect(() => formatIp(-1)).toThrow(ConfigError);
    expect(() => formatMac(new Uint8Array(5))).toThrow(/6 bytes/);
  });
});

describe('builders: exact bytes', () => {
  it('ARP request: broadcast, zero target MAC, padded to 60 (RFC 826)', () => {
    const f = buildArp({ op: ARPOP_REQUEST, senderMac: A, senderIp: IP_A, targetIp: IP_B });
    const want = hex(`
      ffffffffffff 525400123456 0806
      0001 0800 06 04 0001 525400123456 0a000001 000000000000 0a000002`);
    expect(f.length).toBe(ETH_ZLEN);
    expect(f.subarray(0, want.length)).toEqual(want);
    expect(f.subarray(want.length).every((b) => b === 0)).toBe(true);
  });

  it('IPv4 header checksum of the classic example is 0xb861', () => {
    // 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7 (Wikipedia, "Internet checksum").
    const f = buildIpv4({
      dst: B,
      src: A,
      srcIp: parseIp('192.168.0.1'),
      dstIp: parseIp('192.168.0.199'),
      df: true,
      protocol: IPPROTO_UDP,
      payload: new Uint8Array(0x73 - 20),
    });
    expect(f.subarray(14, 34)).toEqual(hex('4500 0073 0000 4000 4011 b861 c0a80001 c0a800c7'));
    expect(f.length).toBe(14 + 0x73);
  });

  it('ICMP echo checksums computed by hand', () => {
    // 0x0800 + 0x0001 + 0x0001 = 0x0802 -> ~ = 0xf7fd
    const a = buildIcmpEcho({ ...base, echoId: 1, echoSeq: 1 });
    expect(a.subarray(34, 42)).toEqual(hex('0800 f7fd 0001 0001'));
    // 0x0800 + 0x1234 + 0x0001 + 'ab' 0x6162 + 'cd' 0x6364 = 0xdefb -> 0x2104
    const payload = new TextEncoder().encode('abcd');
    const b = buildIcmpEcho({ ...base, echoId: 0x1234, echoSeq: 1, payload, pad: false });
    expect(b.subarray(34)).toEqual(hex('0800 2104 1234 0001 61626364'));
    expect(b.length).toBe(46);
  });

  it('UDP checksum with the pseudo-header computed by hand', () => {
    // pseudo 0a00+0001+0a00+0002+0011+000a, header 0001+0002+000a, data 0102 = 0x152d -> 0xead2
    const f = buildUdp({
      ...base,
      srcPort: 1,
      dstPort: 2,
      payload: Uint8Array.of(1, 2),
      pad: false,
    });
    expect(f.subarray(34)).toEqual(hex('0001 0002 000a ead2 0102'));
    expect(f.length).toBe(44);
  });

  it('a UDP checksum that computes to 0 is sent as 0xffff (RFC 768)', () => {
    const probe = buildUdp({ ...base, srcPort: 1, dstPort: 2, payload: new Uint8Array(2) });
    const c = u16(probe, 40);
    const f = buildUdp({
      ...base,
      srcPort: 1,
      dstPort: 2,
      payload: Uint8Array.of(c >> 8, c & 0xff),
    });
    expect(u16(f, 40)).toBe(0xffff);
    expect(parseFrame(f).udp?.checksumStatus).toBe('good');
  });

  it('pads to 60 bytes unless pad is false; VLAN tag inserted after the source MAC', () => {
    const e = buildEthernet({ dst: B, src: A, ethertype: 0x88b5, payload: Uint8Array.of(9) });
    expect(e.length).toBe(60);
    const raw = buildEthernet({
      dst: B,
      src: A,
      ethertype: 0x88b5,
      payload: Uint8Array.of(9),
      pad: false,
    });
    expect(raw).toEqual(hex('525400abcdef 525400123456 88b5 09'));
    const v = buildEthernet({
      dst: B,
      src: A,
      ethertype: 0x88b5,
      payload: new Uint8Array(0),
      vlan: { vid: 0x123, pcp: 5, dei: true },
      pad: false,
    });
    expect(v).toEqual(hex('525400abcdef 525400123456 8100 b123 88b5'));
  });

  it('checksum-offload modes: pseudo-header sum and zero', () => {
    const p = buildTcp({
      ...base,
      srcPort: 1,
      dstPort: 2,
      seq: 5,
      flags: TCPHDR_ACK,
      payload: new Uint8Array(10),
      l4Checksum: 'pseudo',
      ipChecksum: false,
    });
    expect(u16(p, 50)).toBe(foldSum(pseudoHeaderSum(IP_A, IP_B, IPPROTO_TCP, 30)));
    expect(u16(p, 24)).toBe(0);
    const parsed = parseFrame(p);
    expect(parsed.badChecksums).toEqual(['ip', 'tcp']);
    fillIpChecksum(p);
    fillL4Checksum(p);
    expect(parseFrame(p).badChecksums).toEqual([]);
    expect(verifyL4Checksum(p)).toBe('good');
    const z = buildUdp({
      ...base,
      srcPort: 1,
      dstPort: 2,
      payload: new Uint8Array(3),
      l4Checksum: 'zero',
    });
    expect(parseFrame(z).udp?.checksumStatus).toBe('none');
    expect(parseFrame(z).badChecksums).toEqual([]);
  });

  it('rejects out-of-range fields with ConfigError', () => {
    expect(() =>
      buildUdp({ ...base, srcPort: 65536, dstPort: 1, payload: new Uint8Array(0) }),
    ).toThrow(/UDP source port 65536 out of range 0..65535/);
    expect(() =>
      buildTcp({
        ...base,
        srcPort: 1,
        dstPort: 1,
        seq: 0,
        flags: 0,
        tcpOptions: new Uint8Array(3),
      }),
    ).toThrow(/TCP options of 3 bytes/);
    expect(() => buildIcmpEcho({ ...base, echoId: 1, echoSeq: 1, ttl: 256 })).toThrow(/IP TTL/);
    expect(() =>
      buildUdp({
        ...base,
        src: new Uint8Array(4),
        srcPort: 1,
        dstPort: 1,
        payload: new Uint8Array(0),
      }),
    ).toThrow(/source MAC has 4 bytes/);
    expect(() =>
      buildEthernet({
        dst: B,
        src: A,
        ethertype: 1,
        payload: new Uint8Array(0),
        vlan: { vid: 4096 },
      }),
    ).toThrow(/VLAN id 4096/);
  });
});

describe('parseFrame', () => {
  it('round-trips a TCP segment with options, VLAN tag and padding', () => {
    const f = buildTcp({
      ...base,
      vlan: { vid: 7, pcp: 3, tpid: ETH_P_8021AD },
      ttl: 17,
      id: 0xbeef,
      df: true,
      tos: 0x10,
      srcPort: 40000,
      dstPort: 9,
      seq: 0xfffffffe,
      ack: 0x12345678,
      flags: TCPHDR_ACK | TCPHDR_PSH | TCPHDR_FIN,
      window: 512,
      urgent: 3,
      tcpOptions: Uint8Array.of(1, 1, 1, 0),
      payload: Uint8Array.of(0xde, 0xad),
    });
    const p = parseFrame(f);
    expect(p.malformed).toBeUndefined();
    expect(p.vlan).toEqual({ tpid: ETH_P_8021AD, pcp: 3, dei: false, vid: 7 });
    expect([p.ethertype, p.l3Offset, formatMac(p.dst), formatMac(p.src)]).toEqual([
      ETH_P_IP,
      18,
      '52:54:00:ab:cd:ef',
      '52:54:00:12:34:56',
    ]);
    expect(p.ip).toMatchObject({
      offset: 18,
      headerLength: 20,
      totalLength: 46,
      id: 0xbeef,
      df: true,
      mf: false,
      ttl: 17,
      tos: 0x10,
      protocol: IPPROTO_TCP,
      srcIp: IP_A,
      dstIp: IP_B,
      checksumStatus: 'good',
    });
    expect(p.tcp).toMatchObject({
      offset: 38,
      srcPort: 40000,
      dstPort: 9,
      seq: 0xfffffffe,
      ack: 0x12345678,
      headerLength: 24,
      optionsLength: 4,
      flags: TCPHDR_ACK | TCPHDR_PSH | TCPHDR_FIN,
      window: 512,
      urgent: 3,
      checksumStatus: 'good',
    });
    expect([p.payloadOffset, p.payloadLength, p.trailer, p.length]).toEqual([62, 2, 0, 64]);
    expect(f.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength)).toEqual(
      Uint8Array.of(0xde, 0xad),
    );
  });

  it('round-trips ARP, ICMP echo and UDP; padding counts as trailer', () => {
    const arp = parseFrame(
      buildArp({ op: ARPOP_REPLY, senderMac: B, senderIp: IP_B, targetMac: A, targetIp: IP_A }),
    );
    expect(arp.dst).toEqual(A);
    expect(arp.arp).toEqual({
      op: ARPOP_REPLY,
      senderMac: B,
      senderIp: IP_B,
      targetMac: A,
      targetIp: IP_A,
    });
    expect(arp.trailer).toBe(60 - 42);
    const icmp = parseFrame(
      buildIcmpEcho({
        ...base,
        type: ICMP_ECHOREPLY,
        echoId: 3,
        echoSeq: 4,
        payload: Uint8Array.of(1),
      }),
    );
    expect(icmp.icmp).toMatchObject({
      type: ICMP_ECHOREPLY,
      code: 0,
      echoId: 3,
      echoSeq: 4,
      checksumStatus: 'good',
    });
    expect([icmp.payloadOffset, icmp.payloadLength, icmp.trailer]).toEqual([42, 1, 60 - 43]);
    const udp = parseFrame(
      buildUdp({ ...base, srcPort: 7, dstPort: 8, payload: new Uint8Array(1000) }),
    );
    expect(udp.udp).toMatchObject({ srcPort: 7, dstPort: 8, length: 1008, checksumStatus: 'good' });
    expect([udp.payloadOffset, udp.payloadLength, udp.trailer, udp.length]).toEqual([
      42, 1000, 0, 1042,
    ]);
  });

  it('reports a corrupted byte as a bad checksum of the layer that covers it', () => {
    const f = buildIcmpEcho({ ...base, echoId: 1, echoSeq: 2, payload: new Uint8Array(8) });
    f[45]! ^= 1;
    expect(parseFrame(f).badChecksums).toEqual(['icmp']);
    const g = buildUdp({ ...base, srcPort: 1, dstPort: 2, payload: new Uint8Array(8) });
    g[29]! ^= 1; // source IP: breaks the IP header and, via the pseudo-header, UDP
    expect(parseFrame(g).badChecksums).toEqual(['ip', 'udp']);
  });

  it('marks truncated and inconsistent frames malformed, keeping the layers it parsed', () => {
    expect(parseFrame(new Uint8Array(10)).malformed).toMatch(/shorter than an Ethernet header/);
    const udp = buildUdp({
      ...base,
      srcPort: 1,
      dstPort: 2,
      payload: new Uint8Array(40),
      pad: false,
    });
    const cut = parseFrame(udp.slice(0, 50));
    expect(cut.malformed).toBe('truncated IPv4 datagram (36 of 68 bytes)');
    expect(cut.ip?.checksumStatus).toBe('good');
    expect(parseFrame(udp.slice(0, 20)).malformed).toMatch(/truncated IPv4 header/);
    const v6 = udp.slice();
    v6[14] = 0x65;
    expect(parseFrame(v6).malformed).toBe('IP version 6, not 4');
    const ulen = udp.slice();
    ulen[38] = 0x01; // UDP length 0x0130 > 48
    expect(parseFrame(ulen).malformed).toMatch(/UDP length 304 does not fit/);
    const tcp = buildTcp({ ...base, srcPort: 1, dstPort: 2, seq: 0, flags: 0 });
    tcp[46] = 0x40; // data offset 4 words
    expect(parseFrame(tcp).malformed).toMatch(/TCP header length 16/);
    const arp = buildArp({ op: ARPOP_REQUEST, senderMac: A, senderIp: IP_A, targetIp: IP_B });
    arp[15] = 6; // hardware type 6 (IEEE 802)
    expect(parseFrame(arp).malformed).toBe('ARP is not for IPv4 over Ethernet');
    expect(parseFrame(arp.slice(0, 30)).malformed).toMatch(/truncated ARP packet/);
  });

  it('leaves other ethertypes and IP protocols at their payload', () => {
    const e = parseFrame(
      buildEthernet({
        dst: B,
        src: A,
        ethertype: ETH_P_IPV6,
        payload: new Uint8Array(50),
        pad: false,
      }),
    );
    expect([e.ethertype, e.payloadOffset, e.payloadLength, e.malformed]).toEqual([
      ETH_P_IPV6,
      14,
      50,
      undefined,
    ]);
    const gre = parseFrame(buildIpv4({ ...base, protocol: 47, payload: new Uint8Array(4) }));
    expect([gre.ip?.protocol, gre.payloadOffset, gre.payloadLength, gre.tcp, gre.udp]).toEqual([
      47,
      34,
      4,
      undefined,
      undefined,
    ]);
  });

  it('does not verify L4 checksums of fragments', () => {
    const f = buildUdp({ ...base, srcPort: 1, dstPort: 2, payload: new Uint8Array(16) });
    f[20] = 0x20; // MF: the first fragment
    fillIpChecksum(f);
    const first = parseFrame(f);
    expect([first.ip?.mf, first.udp?.checksumStatus, first.badChecksums]).toEqual([
      true,
      'unverified',
      [],
    ]);
    expect(() => fillL4Checksum(f)).toThrow(/a fragment/);
    f[20] = 0;
    f[21] = 2; // offset 16 bytes, no MF: the last fragment
    fillIpChecksum(f);
    const last = parseFrame(f);
    expect([last.ip?.fragmentOffset, last.udp, last.payloadOffset]).toEqual([16, undefined, 34]);
  });

  it('in-place helpers refuse frames without the layer they need', () => {
    const arp = buildArp({ op: ARPOP_REQUEST, senderMac: A, senderIp: IP_A, targetIp: IP_B });
    expect(() => fillL4Checksum(arp)).toThrow(/not an unfragmented IPv4 ICMP\/UDP\/TCP frame/);
    expect(() => fillIpChecksum(arp)).toThrow(/not an IPv4 frame/);
  });

  it('builds the broadcast MAC fresh each time', () => {
    const b = broadcastMac();
    b[0] = 0;
    expect(broadcastMac()).toEqual(new Uint8Array(6).fill(0xff));
    expect(buildIcmpEcho({ ...base, echoId: 0, echoSeq: 0 })[34]).toBe(ICMP_ECHO);
  });
});
