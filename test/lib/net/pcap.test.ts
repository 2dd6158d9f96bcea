import { describe, expect, it } from 'vitest';
import {
  PCAP_MAGIC_NSEC,
  PCAP_MAGIC_USEC,
  PcapCollector,
  PcapWriter,
  readPcap,
  readPcapHeader,
  toPcap,
} from '../../../src/lib/net/pcap.js';
import { ConfigError } from '../../../src/lib/errors.js';

const frame = (n: number, v = 1): Uint8Array => new Uint8Array(n).fill(v);

/** A hand-made file: header fields and records, in either byte order. */
function file(opts: {
  le?: boolean;
  magic?: number;
  snaplen?: number;
  linktype?: number;
  records?: { sec: number; frac: number; caplen: number; origLen: number; data: number }[];
}): Uint8Array {
  const le = opts.le ?? true;
  const recs = opts.records ?? [];
  const size = 24 + recs.reduce((n, r) => n + 16 + r.data, 0);
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint32(0, opts.magic ?? PCAP_MAGIC_USEC, le);
  v.setUint16(4, 2, le);
  v.setUint16(6, 4, le);
  v.setUint32(16, opts.snaplen ?? 65535, le);
  v.setUint32(20, opts.linktype ?? 1, le);
  let off = 24;
  for (const r of recs) {
    v.setUint32(off, r.sec, le);
    v.setUint32(off + 4, r.frac, le);
    v.setUint32(off + 8, r.caplen, le);
    v.setUint32(off + 12, r.origLen, le);
    b.fill(0xab, off + 16, off + 16 + r.data);
    off += 16 + r.data;
  }
  return b;
}

describe('PcapWriter', () => {
  it('writes the nanosecond little-endian header and records, byte for byte', () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter((c) => chunks.push(c));
    w.writeHeader();
    w.writeHeader(); // idempotent
    w.write(1_500_000_123, Uint8Array.of(1, 2, 3));
    expect(chunks.length).toBe(2);
    expect(Array.from(chunks[0]!)).toEqual([
      0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ]);
    // sec 1, nsec 500000123 = 0x1dcd657b, caplen 3, origlen 3, data.
    expect(Array.from(chunks[1]!)).toEqual([
      1, 0, 0, 0, 0x7b, 0x65, 0xcd, 0x1d, 3, 0, 0, 0, 3, 0, 0, 0, 1, 2, 3,
    ]);
    expect(w.records).toBe(1);
  });

  it('writes the header on first write and cuts frames to the snaplen', () => {
    const c = new PcapCollector(100);
    c.write(0, frame(300));
    const recs = [...readPcap(c.bytes(), 'cut.pcap')];
    expect(recs.map((r) => [r.frame.length, r.origLen])).toEqual([[100, 300]]);
    const chunks: Uint8Array[] = [];
    new PcapWriter((x) => chunks.push(x)).write(5, frame(1));
    expect(chunks.map((x) => x.length)).toEqual([24, 17]);
  });

  it('rejects timestamps that are not non-negative integers and bad snaplens', () => {
    const c = new PcapCollector();
    expect(() => {
      c.write(-1, frame(1));
    }).toThrow(/timestamp -1 ns/);
    expect(() => {
      c.write(1.5, frame(1));
    }).toThrow(ConfigError);
    expect(() => new PcapCollector(0)).toThrow(/snaplen 0/);
  });
});

describe('readPcap', () => {
  it('round-trips what the writer wrote', () => {
    const frames = [frame(60, 1), frame(1514, 2), frame(14, 3)];
    const times = [0, 12_304, 4_000_000_000_007];
    const bytes = toPcap(frames.map((f, i) => ({ timeNs: times[i]!, frame: f })));
    const recs = [...readPcap(bytes, 'rt.pcap')];
    expect(recs.map((r) => r.index)).toEqual([0, 1, 2]);
    expect(recs.map((r) => r.timeNs)).toEqual(times);
    expect(recs.map((r) => [r.tsSec, r.tsNsec])).toEqual([
      [0, 0],
      [0, 12_304],
      [4000, 7],
    ]);
    expect(recs.map((r) => r.frame)).toEqual(frames);
    expect(readPcapHeader(bytes, 'rt.pcap')).toEqual({
      littleEndian: true,
      nanosecond: true,
      versionMajor: 2,
      versionMinor: 4,
      snaplen: 65535,
      linktype: 1,
    });
  });

  it('reads microsecond and nanosecond files in both byte orders', () => {
    for (const le of [true, false]) {
      for (const magic of [PCAP_MAGIC_USEC, PCAP_MAGIC_NSEC]) {
        const b = file({
          le,
          magic,
          records: [{ sec: 2, frac: 3, caplen: 4, origLen: 9, data: 4 }],
        });
        const [r, ...rest] = [...readPcap(b, 'x.pcap')];
        expect(rest).toEqual([]);
        expect(r?.timeNs).toBe(2e9 + (magic === PCAP_MAGIC_USEC ? 3000 : 3));
        expect([r?.frame.length, r?.origLen, r?.frame[0]]).toEqual([4, 9, 0xab]);
        expect(readPcapHeader(b, 'x.pcap').littleEndian).toBe(le);
      }
    }
  });

  it('reads a file with only a header as no records', () => {
    expect([...readPcap(new PcapCollector().bytes(), 'empty.pcap')]).toEqual([]);
  });

  const ok = { sec: 0, frac: 0, caplen: 60, origLen: 60, data: 60 };
  const cases: [string, Uint8Array, string][] = [
    [
      'empty file',
      new Uint8Array(0),
      'a.pcap: file header at byte offset 0: empty file, not a pcap capture',
    ],
    [
      '3 bytes',
      Uint8Array.of(0xd4, 0xc3, 0xb2),
      'a.pcap: file header at byte offset 0: only 3 bytes, not a pcap capture',
    ],
    [
      'pcapng',
      Uint8Array.of(0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a),
      'a.pcap: file header at byte offset 0: pcapng is not supported, convert with `editcap -F pcap`',
    ],
    [
      'wrong magic',
      file({ magic: 0x12345678 }),
      "a.pcap: file header at byte offset 0: magic 0x12345678 is not a pcap file's",
    ],
    [
      'short header',
      file({}).subarray(0, 20),
      'a.pcap: file header at byte offset 0: truncated file header (20 of 24 bytes)',
    ],
    [
      'non-Ethernet',
      file({ linktype: 105 }),
      'a.pcap: file header at byte offset 0: link type 105, need LINKTYPE_ETHERNET (1) without FCS',
    ],
    [
      'Ethernet with FCS',
      file({ linktype: 0x1400_0001 }),
      'a.pcap: file header at byte offset 0: link type 335544321, need LINKTYPE_ETHERNET (1) without FCS',
    ],
    [
      'truncated record',
      file({ records: [ok, ok] }).subarray(0, 24 + 76 + 16 + 59),
      'a.pcap: record 2 at byte offset 100: truncated record (59 of 60 captured bytes present)',
    ],
    [
      'record header cut',
      file({ records: [ok, ok] }).subarray(0, 24 + 76 + 10),
      'a.pcap: record 2 at byte offset 100: truncated record header (10 of 16 bytes)',
    ],
    [
      'caplen > snaplen',
      file({ snaplen: 59, records: [ok] }),
      'a.pcap: record 1 at byte offset 24: captured length 60 exceeds the snaplen 59',
    ],
    [
      'caplen > origLen',
      file({ records: [{ ...ok, origLen: 59 }] }),
      'a.pcap: record 1 at byte offset 24: captured length 60 exceeds the original length 59',
    ],
    [
      'microseconds out of range',
      file({ records: [{ ...ok, frac: 1_000_000 }] }),
      'a.pcap: record 1 at byte offset 24: timestamp fraction 1000000 >= 1000000',
    ],
  ];
  it.each(cases)('rejects %s, naming file, record and offset', (_, bytes, msg) => {
    let err: unknown;
    try {
      for (const r of readPcap(bytes, 'a.pcap')) expect(r.index).toBe(0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe(msg);
  });

  it('rejects a version other than 2.x', () => {
    const b = file({});
    b[4] = 1;
    expect(() => readPcapHeader(b, 'v.pcap')).toThrow(
      'v.pcap: file header at byte offset 0: pcap version 1.4, need 2.x',
    );
  });

  it('checks the header when called, the records when reached', () => {
    expect(() => readPcap(new Uint8Array(0), 'now.pcap')).toThrow(/now.pcap/);
    const it = readPcap(
      file({ records: [ok, { ...ok, caplen: 70000, origLen: 70000 }] }),
      'late.pcap',
    );
    expect(it.next().value?.index).toBe(0);
    expect(() => it.next()).toThrow(/record 2 at byte offset 100: captured length 70000/);
  });
});
