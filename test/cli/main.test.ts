import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { processIo } from '../../src/cli/io.js';
import { runCli } from './helpers.js';
import { parseTrace } from '../../src/trace/index.js';
import { SCENARIOS } from '../../src/scenarios/registry.js';
import { schemaErrors } from '../scenarios/schema.js';

const run = runCli;

describe('dmasim run', () => {
  it('prints a report with the header, what happened, findings and statistics', () => {
    const r = run(['run', 'e1000', '--count', '3']);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^dmasim \S+: e1000 \(--workload ping --count 3 /);
    expect(r.out).toContain('machine   x86_64, 1 GiB RAM, IOMMU off');
    expect(r.out).toMatch(/pings answered\s+3/);
    expect(r.out).toContain('Findings: none');
    expect(r.out).toMatch(/cache hits \/ misses\s+\d+ \/ \d+/);
  });

  it('--json prints one document that the schema accepts, and nothing else', () => {
    const r = run(['run', 'e1000', '--count', '2', '--iommu', 'strict', '--json']);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.out) as { config: { cmdline: string }; stats: unknown[] };
    expect(schemaErrors(doc)).toBe('');
    expect(doc.config.cmdline).toBe('intel_iommu=on iommu.strict=1');
  });

  it('--iotlb-inv-ns sets what each invalidation request costs in the statistics', () => {
    const args = ['run', 'e1000', '--count', '2', '--iommu', 'strict', '--json'];
    type Doc = { stats: { stats: { iotlb: Record<string, number> } }[] };
    const iotlb = (extra: string[]) =>
      (JSON.parse(run([...args, ...extra]).out) as Doc).stats[0]!.stats.iotlb;
    const dflt = iotlb([]);
    const slow = iotlb(['--iotlb-inv-ns', '2000']);
    expect(dflt['invalidationRequests']).toBeGreaterThan(0);
    expect(slow['invalidationRequests']).toBe(dflt['invalidationRequests']);
    expect(dflt['invalidationWaitNs']).toBe(dflt['invalidationRequests']! * 500);
    expect(slow['invalidationWaitNs']).toBe(slow['invalidationRequests']! * 2000);
    expect(slow['invalidationNs']).toBe(2000);
  });

  it('--fail-on exits 1 only when a finding of those kinds occurs', () => {
    const bad = ['run', 'e1000', '--arch', 'arm64', '--mistake', 'skip-rx-sync', '--count', '3'];
    const found = JSON.parse(run([...bad, '--json']).out) as { findings: { kind: string }[] };
    const kind = found.findings[0]?.kind ?? 'none-found';
    expect(found.findings.length).toBeGreaterThan(0);
    expect(run([...bad, '--fail-on', kind]).status).toBe(1);
    expect(run([...bad, '--fail-on', 'error']).status).toBe(1);
    expect(run([...bad, '--fail-on', 'unmap-wrong-size']).status).toBe(0);
    expect(run(['run', 'e1000', '--count', '2', '--fail-on', 'any']).status).toBe(0);
  });

  it('writes the trace as ftrace text the reader parses, and the pcap', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dmasim-cli-'));
    const trace = join(dir, 'run.trace');
    const pcap = join(dir, 'run.pcap');
    const r = run(['run', 'e1000', '--count', '2', '--trace', trace, '--pcap', pcap, '--json']);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.out) as { outputs: Record<string, { file: string; bytes: number }> };
    const text = readFileSync(trace, 'utf8');
    expect(doc.outputs['trace']).toEqual({ file: trace, bytes: Buffer.byteLength(text) });
    const parsed = parseTrace(text);
    expect(parsed.records.some((r) => r.ev.event === 'dma_map_page')).toBe(true);
    expect(parsed.summary.events).toBe(parsed.records.length);
    const bytes = readFileSync(pcap);
    expect(bytes.readUInt32LE(0)).toBe(0xa1b23c4d); // pcap with nanosecond timestamps
    expect(doc.outputs['pcap']?.bytes).toBe(bytes.length);
  });

  it('two runs with the same seed print the same bytes', () => {
    const args = ['run', 'e1000', '--count', '2', '--seed', '7', '--iommu', 'lazy', '--json'];
    expect(run(args).out).toBe(run(args).out);
  });

  it('leaves an existing file as it was when writing the new one fails', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dmasim-cli-'));
    const target = join(dir, 'keep.trace');
    writeFileSync(target, 'old');
    // The temporary file the write goes through cannot be created: a directory is in the way.
    mkdirSync(`${target}.${process.pid}.tmp`);
    const r = run(['run', 'coherence', '--trace', target]);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/^dmasim: cannot write .*keep\.trace: EEXIST; check the directory/);
    expect(readFileSync(target, 'utf8')).toBe('old');
    const missing = run(['run', 'coherence', '--trace', join(dir, 'missing', 'x.trace')]);
    expect(missing.status).toBe(2);
    expect(missing.err).toMatch(/cannot write .*x\.trace: ENOENT/);
  });
});

describe('bad usage exits 2 with a message naming the value and what is accepted', () => {
  const cases: [string[], RegExp][] = [
    [
      ['run', 'e1000', '--arch', 'sparc'],
      /argument 'sparc' is invalid\. Allowed choices are x86_64, arm64, arm32, prep/,
    ],
    [['run', 'e1000', '--iommu', 'on'], /Allowed choices are off, strict, lazy, passthrough/],
    [['run', 'e1000', '--swiotlb', 'yes'], /Allowed choices are off, auto, force/],
    [
      ['run', 'e1000', '--ram', 'lots'],
      /--ram: "lots" is not a size; give a positive number of bytes/,
    ],
    [['run', 'e1000', '--swiotlb-size', '0'], /--swiotlb-size: "0" is not a size/],
    [
      ['replay', 't.trace', '--iotlb-inv-ns', '0.5us'],
      /--iotlb-inv-ns: "0.5us" is not a time; give a whole number of ns, e.g. 500/,
    ],
    [['run', 'e1000', '--seed', '-1'], /"-1" is not a seed; give an integer from 0 to 4294967295/],
    [
      ['run', 'e1000', '--checkers', 'kasan'],
      /"kasan" is not one of dma-debug, coherence, iommu, none, all/,
    ],
    [['run', 'e1000', '--fail-on', 'Bad Kind'], /is not a list of finding kinds/],
    [['run', 'e1000', '--count', 'x'], /e1000: --count: "x" is not a whole number/],
    [['run', 'e1000', '--count', '0'], /e1000: --count: 0 is out of range; give 1 to 100000/],
    [
      ['run', 'e1000', '--workload', 'ftp'],
      /e1000: --workload: "ftp" is not one of ping, udp, tso/,
    ],
    [['run', 'e1000', '--mistake', 'all'], /is not one of none, skip-rx-sync/],
    [['run', 'e1000', '--bogus', '1'], /unknown option '--bogus'/],
    [['run', 'nope'], /the scenarios are: coherence, .*e1000/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['run', 'coherence', '--pcap', 'x.pcap'], /unknown option '--pcap'/],
  ];
  it.each(cases)('%j', (args, message) => {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });
});

describe('dmasim scenarios, --help, --version', () => {
  it('lists every scenario with its line, as text and JSON', () => {
    const text = run(['scenarios']).out;
    expect(text).toMatch(/^coherence\s+CPU cache versus DMA/m);
    expect(text).toMatch(/^e1000\s+an Intel e1000 NIC/m);
    const list = JSON.parse(run(['scenarios', '--json']).out) as { name: string }[];
    expect(list.map((s) => s.name)).toContain('e1000');
  });

  it('has help with examples everywhere and a version', () => {
    for (const args of [
      ['--help'],
      ['run', '--help'],
      ['run', 'e1000', '--help'],
      ['bench', '--help'],
    ]) {
      const r = run(args);
      expect(r.status).toBe(0);
      expect(r.out).toContain('Examples:');
    }
    expect(run(['run', 'e1000', '--help']).out).toContain('--mistake <value>');
    expect(run(['--version']).out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('bench rejects an unknown benchmark with status 2', () => {
    let err = '';
    const status = main(['bench', 'no/such'], {
      ...processIo,
      stderr: (s) => (err += s),
      stdout: () => undefined,
    });
    expect(status).toBe(2);
    expect(err).toMatch(/unknown benchmark no\/such; known: /);
  });
});

describe("every scenario's own options reject bad values with status 2", () => {
  const bad = { choice: 'no-such-value', int: 'x', size: 'lots' } as const;
  const cases = SCENARIOS.flatMap((s) =>
    s.params.map((p) => [`${s.name} --${p.name}`, s.name, p.name, bad[p.kind]] as const),
  );
  it.each(cases)('%s', (_label, scenario, name, value) => {
    const r = run(['run', scenario, `--${name}`, value]);
    expect(r.status).toBe(2);
    expect(r.err).toContain(`${scenario}: --${name}: "${value}"`);
    expect(r.out).toBe('');
  });
});
