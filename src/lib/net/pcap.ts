/**
 * Classic libpcap files (pcap-savefile(5); draft-ietf-opsawg-pcap): a 24-byte file header, then
 * per packet a 16-byte record header and the captured bytes. Written little-endian with
 * nanosecond timestamps; read in either byte order with micro- or nanosecond timestamps.
 */
import { ConfigError } from '../errors.js';

/** Magic numbers as read in the file's own byte order. */
export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
/** The pcapng Section Header Block type: the same in both byte orders. */
export const PCAPNG_MAGIC = 0x0a0d0d0a;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_SNAPLEN = 65535;
export const LINKTYPE_ETHERNET = 1;
export const PCAP_FILE_HLEN = 24;
export const PCAP_RECORD_HLEN = 16;

const NS_PER_S = 1_000_000_000;

/**
 * Streams a pcap file into `sink`, one chunk per call: the file header, then one chunk per record
 * (header and data). Chunks are fresh arrays the sink may keep.
 */
export class PcapWriter {
  private headerDone = false;
  private count = 0;

  constructor(
    private readonly sink: (chunk: Uint8Array) => void,
    /** Frames longer than this are cut to it, keeping their original length in the record. */
    readonly snaplen: number = PCAP_SNAPLEN,
  ) {
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0xffff_ffff) {
      throw new ConfigError(`pcap: snaplen ${snaplen} must be an integer 1..4294967295`);
    }
  }

  /** Records written so far. */
  get records(): number {
    return this.count;
  }

  /** Writes the file header; idempotent, and done by the first write() if not called. */
  writeHeader(): void {
    if (this.headerDone) return;
    this.headerDone = true;
    const h = new Uint8Array(PCAP_FILE_HLEN);
    const v = new DataView(h.buffer);
    v.setUint32(0, PCAP_MAGIC_NSEC, true);
    v.setUint16(4, PCAP_VERSION_MAJOR, true);
    v.setUint16(6, PCAP_VERSION_MINOR, true);
    // thiszone and sigfigs (8..16) stay 0, as every writer does.
    v.setUint32(16, this.snaplen, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    this.sink(h);
  }

  /** Appends one frame captured at simulated time `timeNs` (a non-negative integer). */
  write(timeNs: number, frame: Uint8Array): void {
    if (!Number.isSafeInteger(timeNs) || timeNs < 0) {
      throw new ConfigError(`pcap: timestamp ${timeNs} ns must be a non-negative integer`);
    }
    this.writeHeader();
    const caplen = Math.min(frame.length, this.snaplen);
    const r = new Uint8Array(PCAP_RECORD_HLEN + caplen);
    const v = new DataView(r.buffer);
    v.setUint32(0, Math.floor(timeNs / NS_PER_S), true);
    v.setUint32(4, timeNs % NS_PER_S, true);
    v.setUint32(8, caplen, true);
    v.setUint32(12, frame.length, true);
    r.set(frame.subarray(0, caplen), PCAP_RECORD_HLEN);
    this.count++;
    this.sink(r);
  }
}

/** A PcapWriter that keeps the file in memory; bytes() returns it (header included). */
export class PcapCollector extends PcapWriter {
  private readonly chunks: Uint8Array[];

  constructor(snaplen: number = PCAP_SNAPLEN) {
    const chunks: Uint8Array[] = [];
    super((c) => chunks.push(c), snaplen);
    this.chunks = chunks;
    this.writeHeader();
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

/** A whole pcap file of `records`, for tests and small captures. */
export function toPcap(records: Iterable<{ timeNs: number; frame: Uint8Array }>): Uint8Array {
  const c = new PcapCollector();
  for (const r of records) c.write(r.timeNs, r.frame);
  return c.bytes();
}

export interface PcapHeader {
  readonly littleEndian: boolean;
  readonly nanosecond: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly snaplen: number;
  readonly linktype: number;
}

export interface PcapRecord {
  /** 0-based; error messages count records from 1, as Wireshark numbers frames. */
  readonly index: number;
  /**
   * The timestamp in ns. MODEL: a number is exact only below 2^53 ns (104 days), which simulated
   * time stays under; for wall-clock captures use tsSec and tsNsec.
   */
  readonly timeNs: number;
  readonly tsSec: number;
  readonly tsNsec: number;
  /** The captured bytes: a view into the file, not a copy. */
  readonly frame: Uint8Array;
  /** The frame's length on the wire (more than frame.length if the capture cut it). */
  readonly origLen: number;
}

function bad(name: string, where: string, what: string): ConfigError {
  return new ConfigError(`${name}: ${where}: ${what}`);
}

/** Reads and checks the file header; throws ConfigError naming the file if it is not usable. */
export function readPcapHeader(bytes: Uint8Array, name: string): PcapHeader {
  const at = 'file header at byte offset 0';
  if (bytes.length === 0) throw bad(name, at, 'empty file, not a pcap capture');
  if (bytes.length < 4) throw bad(name, at, `only ${bytes.length} bytes, not a pcap capture`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = v.getUint32(0, true);
  if (magic === PCAPNG_MAGIC) {
    throw bad(name, at, 'pcapng is not supported, convert with `editcap -F pcap`');
  }
  const order = magicOrder(magic);
  if (order === undefined) {
    throw bad(name, at, `magic 0x${magic.toString(16).padStart(8, '0')} is not a pcap file's`);
  }
  if (bytes.length < PCAP_FILE_HLEN) {
    throw bad(name, at, `truncated file header (${bytes.length} of ${PCAP_FILE_HLEN} bytes)`);
  }
  const le = order.littleEndian;
  const h: PcapHeader = {
    ...order,
    versionMajor: v.getUint16(4, le),
    versionMinor: v.getUint16(6, le),
    snaplen: v.getUint32(16, le),
    linktype: v.getUint32(20, le),
  };
  if (h.versionMajor !== PCAP_VERSION_MAJOR) {
    throw bad(name, at, `pcap version ${h.versionMajor}.${h.versionMinor}, need 2.x`);
  }
  // draft-ietf-opsawg-pcap section 4: the low 16 bits are the link type, bit 26 (F) says an FCS
  // length is given in bits 28-31; an Ethernet capture with FCS would not match our frames.
  if ((h.linktype & 0xffff) !== LINKTYPE_ETHERNET || (h.linktype & 0x0400_0000) !== 0) {
    throw bad(name, at, `link type ${h.linktype}, need LINKTYPE_ETHERNET (1) without FCS`);
  }
  return h;
}

function magicOrder(magic: number): { littleEndian: boolean; nanosecond: boolean } | undefined {
  const swapped = swap32(magic);
  if (magic === PCAP_MAGIC_USEC || magic === PCAP_MAGIC_NSEC) {
    return { littleEndian: true, nanosecond: magic === PCAP_MAGIC_NSEC };
  }
  if (swapped === PCAP_MAGIC_USEC || swapped === PCAP_MAGIC_NSEC) {
    return { littleEndian: false, nanosecond: swapped === PCAP_MAGIC_NSEC };
  }
  return undefined;
}

function swap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/**
 * The records of a pcap file. The header is checked at once; each record when reached, and a bad
 * one throws ConfigError naming the file, the record (from 1) and its byte offset.
 */
export function readPcap(bytes: Uint8Array, name: string): Generator<PcapRecord, void, undefined> {
  const h = readPcapHeader(bytes, name);
  return records(bytes, name, h);
}

function* records(
  bytes: Uint8Array,
  name: string,
  h: PcapHeader,
): Generator<PcapRecord, void, undefined> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = h.littleEndian;
  const fracMax = h.nanosecond ? NS_PER_S : 1_000_000;
  let off = PCAP_FILE_HLEN;
  for (let index = 0; off < bytes.length; index++) {
    const at = `record ${index + 1} at byte offset ${off}`;
    const left = bytes.length - off;
    if (left < PCAP_RECORD_HLEN) {
      throw bad(name, at, `truncated record header (${left} of ${PCAP_RECORD_HLEN} bytes)`);
    }
    const tsSec = v.getUint32(off, le);
    const frac = v.getUint32(off + 4, le);
    const caplen = v.getUint32(off + 8, le);
    const origLen = v.getUint32(off + 12, le);
    if (frac >= fracMax) throw bad(name, at, `timestamp fraction ${frac} >= ${fracMax}`);
    if (caplen > h.snaplen) {
      throw bad(name, at, `captured length ${caplen} exceeds the snaplen ${h.snaplen}`);
    }
    if (caplen > origLen) {
      throw bad(name, at, `captured length ${caplen} exceeds the original length ${origLen}`);
    }
    if (caplen > left - PCAP_RECORD_HLEN) {
      const got = left - PCAP_RECORD_HLEN;
      throw bad(name, at, `truncated record (${got} of ${caplen} captured bytes present)`);
    }
    const tsNsec = h.nanosecond ? frac : frac * 1000;
    const start = off + PCAP_RECORD_HLEN;
    const frame = bytes.subarray(start, start + caplen);
    off = start + caplen;
    yield { index, timeNs: tsSec * NS_PER_S + tsNsec, tsSec, tsNsec, frame, origLen };
  }
}
