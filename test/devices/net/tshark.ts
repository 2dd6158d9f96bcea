/**
 * A tshark harness: decode pcap bytes with Wireshark's dissectors, checksum validation switched
 * on, and return per frame the protocol stack, checksum verdicts and expert entries. Tests use it
 * as an independent oracle for frames dmasim builds or a NIC model sends.
 *
 * tshark must be installed (Debian: apt-get install tshark); without it a test calling
 * requireTshark() fails, unless DMASIM_NO_TSHARK=1 says to skip (see tsharkSkipped()).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type TsharkChecksum = 'bad' | 'good' | 'unverified' | 'not-present' | 'illegal';
export type TsharkLayer = 'ip' | 'icmp' | 'udp' | 'tcp';

export interface TsharkExpert {
  /** 'chat' | 'note' | 'warn' | 'error' (epan/proto.h PI_*), or the raw number if unknown. */
  readonly severity: string;
  /** 'checksum' | 'sequence' | 'malformed' | 'protocol' | ..., or the raw number if unknown. */
  readonly group: string;
  readonly message: string;
}

export interface TsharkFrame {
  /** Wireshark's frame number, from 1. */
  readonly number: number;
  /** frame.protocols split: e.g. ['eth', 'ethertype', 'ip', 'udp', 'data']. */
  readonly protocols: readonly string[];
  /** Checksum verdicts of the layers present. */
  readonly checksums: Partial<Record<TsharkLayer, TsharkChecksum>>;
  readonly expert: readonly TsharkExpert[];
  /** A dissector hit an exception or flagged the packet malformed. */
  readonly malformed: boolean;
  /** The values of the extra fields asked for, by field name (absent when not in the frame). */
  readonly fields: Readonly<Record<string, readonly string[]>>;
}

export const TSHARK_NOT_FOUND =
  "tshark not found: install Debian's tshark (apt-get install tshark), or set DMASIM_NO_TSHARK=1 to skip these tests";

/** Whether the environment asked to skip tshark tests. */
export function tsharkSkipped(): boolean {
  return process.env['DMASIM_NO_TSHARK'] === '1';
}

/** The tshark executable (TSHARK overrides); throws TSHARK_NOT_FOUND if it does not run. */
export function requireTshark(): string {
  const exe = process.env['TSHARK'] ?? 'tshark';
  const r = spawnSync(exe, ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) throw new Error(TSHARK_NOT_FOUND);
  return exe;
}

// epan/proto.h: expert severities and groups.
const SEVERITY: Record<number, string> = {
  0x0010_0000: 'comment',
  0x0020_0000: 'chat',
  0x0040_0000: 'note',
  0x0060_0000: 'warn',
  0x0080_0000: 'error',
};
const GROUP: Record<number, string> = {
  0x0100_0000: 'checksum',
  0x0200_0000: 'sequence',
  0x0300_0000: 'response-code',
  0x0400_0000: 'request-code',
  0x0500_0000: 'undecoded',
  0x0600_0000: 'reassemble',
  0x0700_0000: 'malformed',
  0x0800_0000: 'debug',
  0x0900_0000: 'protocol',
  0x0a00_0000: 'security',
  0x0b00_0000: 'comments',
  0x0c00_0000: 'decryption',
  0x0d00_0000: 'assumption',
  0x0e00_0000: 'deprecated',
};
// epan/proto.h PROTO_CHECKSUM_E_*.
const CHECKSUM: readonly TsharkChecksum[] = ['bad', 'good', 'unverified', 'not-present', 'illegal'];
const LAYERS: readonly TsharkLayer[] = ['ip', 'icmp', 'udp', 'tcp'];

const BASE_FIELDS = [
  'frame.number',
  'frame.protocols',
  ...LAYERS.map((l) => `${l}.checksum.status`),
  '_ws.expert.severity',
  '_ws.expert.group',
  '_ws.expert.message',
  '_ws.malformed',
];

export interface TsharkOptions {
  /** More fields to report in TsharkFrame.fields, e.g. 'ip.src', 'tcp.seq_raw'. */
  readonly fields?: readonly string[];
  /** Extra tshark arguments, e.g. ['-o', 'tcp.analyze_sequence_numbers:FALSE']. */
  readonly args?: readonly string[];
}

/** Decodes a pcap file image with tshark; one TsharkFrame per packet. */
export function tsharkDecode(pcap: Uint8Array, opts: TsharkOptions = {}): TsharkFrame[] {
  const exe = requireTshark();
  const dir = mkdtempSync(join(tmpdir(), 'dmasim-tshark-'));
  try {
    const file = join(dir, 'capture.pcap');
    writeFileSync(file, pcap);
    const extra = opts.fields ?? [];
    const args = [
      ...['-r', file, '-n', '-T', 'json'],
      // Wireshark leaves IP/UDP/TCP checksums unchecked by default (offload makes them wrong in
      // local captures); ICMP's is always checked.
      ...['-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'],
      ...['-o', 'tcp.check_checksum:TRUE'],
      ...(opts.args ?? []),
      ...[...BASE_FIELDS, ...extra].flatMap((f) => ['-e', f]),
    ];
    const r = spawnSync(exe, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (r.error !== undefined) throw r.error;
    if (r.status !== 0) {
      throw new Error(`tshark exited with ${String(r.status)}: ${r.stderr.trim()}`);
    }
    return parseJson(r.stdout, extra);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface JsonPacket {
  _source: { layers: Record<string, string[] | undefined> };
}

function parseJson(stdout: string, extra: readonly string[]): TsharkFrame[] {
  const text = stdout.trim();
  if (text === '') return [];
  const packets = JSON.parse(text) as JsonPacket[];
  return packets.map((p) => toFrame(p._source.layers, extra));
}

function toFrame(l: Record<string, string[] | undefined>, extra: readonly string[]): TsharkFrame {
  const sev = l['_ws.expert.severity'] ?? [];
  const grp = l['_ws.expert.group'] ?? [];
  const msg = l['_ws.expert.message'] ?? [];
  const expert = msg.map((message, i) => ({
    severity: name(SEVERITY, sev[i]),
    group: name(GROUP, grp[i]),
    message,
  }));
  const checksums: Partial<Record<TsharkLayer, TsharkChecksum>> = {};
  for (const layer of LAYERS) {
    const v = l[`${layer}.checksum.status`]?.[0];
    if (v !== undefined) checksums[layer] = CHECKSUM[Number(v)] ?? 'illegal';
  }
  const fields: Record<string, readonly string[]> = {};
  for (const f of extra) {
    const v = l[f];
    if (v !== undefined) fields[f] = v;
  }
  return {
    number: Number(l['frame.number']?.[0]),
    protocols: (l['frame.protocols']?.[0] ?? '').split(':'),
    checksums,
    expert,
    malformed: l['_ws.malformed'] !== undefined || expert.some((e) => e.group === 'malformed'),
    fields,
  };
}

function name(table: Record<number, string>, v: string | undefined): string {
  return v === undefined ? '?' : (table[Number(v)] ?? v);
}

/** Problems tshark saw in a frame, for expect(...).toEqual([]): malformed, bad checksums, errors. */
export function tsharkProblems(f: TsharkFrame): string[] {
  const out: string[] = [];
  if (f.malformed) out.push(`frame ${f.number}: malformed`);
  for (const [layer, st] of Object.entries(f.checksums)) {
    if (st !== 'good') out.push(`frame ${f.number}: ${layer} checksum ${st}`);
  }
  for (const e of f.expert) {
    if (e.severity === 'error') out.push(`frame ${f.number}: ${e.group}: ${e.message}`);
  }
  return out;
}
